//! RFC 3264 offer/answer for one G.711 audio stream plus RFC 4733 telephone-event: building our
//! offers, answering remote offers (first codec in the offerer's order that we support, direction
//! mirrored, unusable streams rejected with port 0) and accepting answers to our offers. The
//! result is a [`NegotiatedAudio`] the media layer can use directly.

use super::{Attribute, Connection, Direction, MediaDescription, Origin, SdpError, SessionDescription};
use std::net::{IpAddr, SocketAddr};

/// The G.711 codecs we carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioCodec {
    Pcmu,
    Pcma,
}

impl AudioCodec {
    /// RFC 3551 static payload type.
    pub fn static_payload_type(self) -> u8 {
        match self {
            Self::Pcmu => 0,
            Self::Pcma => 8,
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
        }
    }

    pub fn clock_rate(self) -> u32 {
        8000
    }

    fn from_encoding(name: &str, clock_rate: u32, channels: Option<u16>) -> Option<Self> {
        if clock_rate != 8000 || channels.is_some_and(|c| c != 1) {
            return None;
        }
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Self::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Self::Pcma)
        } else {
            None
        }
    }

    fn from_static(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Self::Pcmu),
            8 => Some(Self::Pcma),
            _ => None,
        }
    }
}

/// Telephone-event events we handle (DTMF 0-9, *, #, A-D, flash).
const TELEPHONE_EVENT_FMTP: &str = "0-16";
/// The packetization we send in our own SDP.
const OUR_PTIME_MS: u32 = 20;
const DEFAULT_PTIME_MS: u32 = 20;

/// The outcome of offer/answer for the audio stream, from our point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedAudio {
    pub codec: AudioCodec,
    /// Payload type to use for `codec` (the offerer's number).
    pub payload_type: u8,
    /// RFC 4733 payload type, when both sides do telephone-event at 8 kHz.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP (may be `0.0.0.0:port` for an old-style hold).
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP (`a=rtcp`, else RTP port + 1).
    pub remote_rtcp: SocketAddr,
    /// Our direction: `sends()` = we may send media, `receives()` = the peer will send to us.
    pub direction: Direction,
    /// Packetization the peer asked to receive (`a=ptime`, default 20 ms).
    pub ptime_ms: u32,
    /// The peer put the call on hold (c=0.0.0.0 / `::`, or it will not receive: sendonly/inactive).
    pub remote_hold: bool,
    /// Index of the audio `m=` line that was negotiated.
    pub media_index: usize,
}

impl NegotiatedAudio {
    /// True when we should actually transmit RTP to `remote_rtp`.
    pub fn should_send(&self) -> bool {
        self.direction.sends() && !self.remote_rtp.ip().is_unspecified() && self.remote_rtp.port() != 0
    }
}

fn codec_of(m: &MediaDescription, pt: u8) -> Option<AudioCodec> {
    match m.rtpmap(pt) {
        Some(map) => AudioCodec::from_encoding(&map.encoding, map.clock_rate, map.channels),
        None => AudioCodec::from_static(pt),
    }
}

fn telephone_event_of(m: &MediaDescription) -> Option<u8> {
    m.payload_types().find(|&pt| {
        m.rtpmap(pt).is_some_and(|map| map.encoding.eq_ignore_ascii_case("telephone-event") && map.clock_rate == 8000)
    })
}

fn is_plain_rtp(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

fn usable_audio(m: &MediaDescription) -> bool {
    m.media.eq_ignore_ascii_case("audio") && m.port != 0 && is_plain_rtp(&m.proto)
}

fn sane_ptime(p: Option<u32>) -> u32 {
    match p {
        Some(ms) if (10..=200).contains(&ms) => ms,
        _ => DEFAULT_PTIME_MS,
    }
}

fn remote_addresses(sdp: &SessionDescription, m: &MediaDescription) -> Result<(SocketAddr, SocketAddr), SdpError> {
    let ip = sdp.media_connection(m).and_then(Connection::ip).ok_or(SdpError::MissingConnection)?;
    let rtp = SocketAddr::new(ip, m.port);
    let rtcp = match m.rtcp() {
        Some((port, addr)) => SocketAddr::new(addr.unwrap_or(ip), port),
        None => SocketAddr::new(ip, m.port.checked_add(1).unwrap_or(m.port)),
    };
    Ok((rtp, rtcp))
}

fn our_origin(local_ip: IpAddr, session_id: u64, version: u64) -> Origin {
    let c = Connection::for_ip(local_ip);
    Origin {
        username: "meritline".into(),
        session_id,
        session_version: version,
        net_type: c.net_type,
        addr_type: c.addr_type,
        address: c.address,
    }
}

fn audio_media(
    port: u16,
    proto: &str,
    codecs: &[(AudioCodec, u8)],
    telephone_event: Option<(u8, &str)>,
    direction: Direction,
) -> MediaDescription {
    let mut formats = Vec::new();
    let mut attributes = Vec::new();
    for (codec, pt) in codecs {
        formats.push(pt.to_string());
        attributes.push(Attribute::value("rtpmap", format!("{pt} {}/{}", codec.encoding_name(), codec.clock_rate())));
    }
    if let Some((pt, events)) = telephone_event {
        formats.push(pt.to_string());
        attributes.push(Attribute::value("rtpmap", format!("{pt} telephone-event/8000")));
        attributes.push(Attribute::value("fmtp", format!("{pt} {events}")));
    }
    attributes.push(Attribute::value("ptime", OUR_PTIME_MS.to_string()));
    attributes.push(Attribute::flag(direction.as_attribute()));
    MediaDescription {
        media: "audio".into(),
        port,
        port_count: None,
        proto: proto.into(),
        formats,
        connection: None,
        bandwidths: Vec::new(),
        attributes,
    }
}

fn rejected(m: &MediaDescription) -> MediaDescription {
    let formats = if m.formats.is_empty() { vec!["0".to_string()] } else { m.formats.clone() };
    MediaDescription {
        media: m.media.clone(),
        port: 0,
        port_count: None,
        proto: m.proto.clone(),
        formats,
        connection: None,
        bandwidths: Vec::new(),
        attributes: Vec::new(),
    }
}

/// Our SDP offer: one audio stream with `codecs` (static payload types, duplicates dropped) and
/// optionally telephone-event on `telephone_event_pt` (events 0-16), ptime 20, sendrecv.
pub fn offer_audio(
    local_ip: IpAddr,
    local_port: u16,
    codecs: &[AudioCodec],
    telephone_event_pt: Option<u8>,
    session_id: u64,
    version: u64,
) -> SessionDescription {
    let mut list: Vec<(AudioCodec, u8)> = Vec::new();
    for &c in codecs {
        if !list.iter().any(|(x, _)| *x == c) {
            list.push((c, c.static_payload_type()));
        }
    }
    let te = telephone_event_pt.map(|pt| (pt, TELEPHONE_EVENT_FMTP));
    SessionDescription {
        version: 0,
        origin: our_origin(local_ip, session_id, version),
        session_name: "meritline".into(),
        connection: Some(Connection::for_ip(local_ip)),
        bandwidths: Vec::new(),
        timing: (0, 0),
        attributes: Vec::new(),
        media: vec![audio_media(local_port, "RTP/AVP", &list, te, Direction::SendRecv)],
    }
}

/// Answer a remote offer. The first usable audio stream (RTP/AVP(F), port ≠ 0, a codec we
/// `support`) is accepted with the first codec in the offerer's order; every other stream is
/// rejected with port 0. The answer's `o=` is `meritline <session_id> 1`; bump
/// `origin.session_version` yourself when re-answering in the same session with changes.
pub fn answer_audio(
    offer: &SessionDescription,
    local_ip: IpAddr,
    local_port: u16,
    supported: &[AudioCodec],
    session_id: u64,
) -> Result<(SessionDescription, NegotiatedAudio), SdpError> {
    let mut chosen: Option<NegotiatedAudio> = None;
    let mut media = Vec::with_capacity(offer.media.len());
    for (index, m) in offer.media.iter().enumerate() {
        if chosen.is_some() || !usable_audio(m) {
            media.push(rejected(m));
            continue;
        }
        let pick = m.payload_types().find_map(|pt| codec_of(m, pt).filter(|c| supported.contains(c)).map(|c| (c, pt)));
        let Some((codec, payload_type)) = pick else {
            media.push(rejected(m));
            continue;
        };
        let (remote_rtp, remote_rtcp) = remote_addresses(offer, m)?;
        let offered_dir = offer.media_direction(m);
        let our_dir = offered_dir.reversed();
        let telephone_event_pt = telephone_event_of(m);
        let te_events =
            telephone_event_pt.map(|pt| (pt, m.fmtp(pt).filter(|f| !f.is_empty()).unwrap_or(TELEPHONE_EVENT_FMTP)));
        media.push(audio_media(local_port, &m.proto, &[(codec, payload_type)], te_events, our_dir));
        chosen = Some(NegotiatedAudio {
            codec,
            payload_type,
            telephone_event_pt,
            remote_rtp,
            remote_rtcp,
            direction: our_dir,
            ptime_ms: sane_ptime(offer.media_ptime(m)),
            remote_hold: remote_rtp.ip().is_unspecified() || !offered_dir.receives(),
            media_index: index,
        });
    }
    let negotiated = chosen.ok_or(SdpError::NoCommonCodec)?;
    let answer = SessionDescription {
        version: 0,
        origin: our_origin(local_ip, session_id, 1),
        session_name: "meritline".into(),
        connection: Some(Connection::for_ip(local_ip)),
        bandwidths: Vec::new(),
        timing: (0, 0),
        attributes: Vec::new(),
        media,
    };
    Ok((answer, negotiated))
}

/// Check a remote answer against the offer we sent and extract the audio parameters.
pub fn accept_answer(offer: &SessionDescription, answer: &SessionDescription) -> Result<NegotiatedAudio, SdpError> {
    if offer.media.len() != answer.media.len() {
        return Err(SdpError::AnswerMismatch("number of m= lines differs from the offer"));
    }
    for (index, (om, am)) in offer.media.iter().zip(&answer.media).enumerate() {
        if !usable_audio(om) || !usable_audio(am) {
            continue;
        }
        let offered: Vec<u8> = om.payload_types().collect();
        let pick = am.payload_types().filter(|pt| offered.contains(pt)).find_map(|pt| {
            let codec = match am.rtpmap(pt) {
                Some(_) => codec_of(am, pt),
                None => codec_of(om, pt),
            }?;
            // the codec must also be what we offered on that payload type
            (codec_of(om, pt) == Some(codec)).then_some((codec, pt))
        });
        let Some((codec, payload_type)) = pick else {
            return Err(SdpError::NoCommonCodec);
        };
        let (remote_rtp, remote_rtcp) = remote_addresses(answer, am)?;
        let answered_dir = answer.media_direction(am);
        let direction = answered_dir.reversed().intersect(offer.media_direction(om));
        let telephone_event_pt = telephone_event_of(om).and(telephone_event_of(am));
        return Ok(NegotiatedAudio {
            codec,
            payload_type,
            telephone_event_pt,
            remote_rtp,
            remote_rtcp,
            direction,
            ptime_ms: sane_ptime(answer.media_ptime(am)),
            remote_hold: remote_rtp.ip().is_unspecified() || !answered_dir.receives(),
            media_index: index,
        });
    }
    Err(SdpError::NoCommonCodec)
}
