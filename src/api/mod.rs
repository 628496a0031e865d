//! (module under construction: api)
