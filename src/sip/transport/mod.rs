//! (module under construction: sip/transport)
