//! (module under construction: media)
