//! (module under construction: store)
