//! (module under construction: call)
