//! (module under construction: events)
