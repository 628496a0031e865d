//! (module under construction: sip/dialog)
