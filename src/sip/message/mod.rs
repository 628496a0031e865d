//! (module under construction: sip/message)
