//! The codec room: which audio codec a leg speaks ([`Codec`], mapped from SDP's rtpmap by the
//! lead) and the sample-level work on it, today G.711 only ([`g711`]: μ-law/A-law companding and
//! in-place PCMU<->PCMA transcoding). Sans-IO and allocation-free on the packet path; new codecs
//! (Opus next) land here.

pub mod g711;

/// The G.711 law used on a leg (the lead maps SDP's rtpmap to this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Maps an rtpmap encoding name ("PCMU", "PCMA", any case) to a codec.
    pub fn from_encoding_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}
