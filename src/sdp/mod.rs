//! (module under construction: sdp)
