//! RFC 4475 torture tests (filled in below).
