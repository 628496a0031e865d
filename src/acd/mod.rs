//! (module under construction: acd)
