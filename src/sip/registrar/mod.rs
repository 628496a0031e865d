//! (module under construction: sip/registrar)
