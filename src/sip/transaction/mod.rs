//! (module under construction: sip/transaction)
