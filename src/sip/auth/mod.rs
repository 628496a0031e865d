//! (module under construction: sip/auth)
