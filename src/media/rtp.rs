//! Zero-copy RTP header view (RFC 3550) and RTCP/RTP demultiplexing (RFC 5761). Owns parsing and
//! validating the fixed header, CSRC list, header extension and padding over a borrowed `&[u8]`,
//! the in-place rewrite of SSRC, sequence number, timestamp, payload type and marker over a
//! `&mut [u8]`, and the "is this RTCP?" test. Nothing here allocates or panics on any input.

/// The only RTP version in use.
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed RTP header (no CSRCs, no extension).
pub const RTP_FIXED_HEADER_LEN: usize = 12;
/// RTCP packet types (SR, RR, SDES, BYE, APP) that RFC 5761 demultiplexing looks for.
pub const RTCP_PACKET_TYPES: std::ops::RangeInclusive<u8> = 200..=204;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("packet of {len} bytes is shorter than the 12-byte RTP header")]
    TooShort { len: usize },
    #[error("RTP version {0} is not 2")]
    BadVersion(u8),
    #[error("CSRC list or header extension runs past the end of the packet")]
    HeaderOverrun,
    #[error("padding length {padding} does not fit the {available} bytes after the header")]
    BadPadding { padding: usize, available: usize },
}

/// True when `packet` looks like RTCP rather than RTP: version 2 and a second byte (RTCP packet
/// type) in 200..=204, the RFC 5761 section 4 rule for RTP/RTCP on one port.
pub fn is_rtcp(packet: &[u8]) -> bool {
    match packet {
        [first, second, ..] => first >> 6 == RTP_VERSION && RTCP_PACKET_TYPES.contains(second),
        _ => false,
    }
}

/// Where the payload of a validated RTP packet lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    payload_offset: usize,
    payload_end: usize,
}

fn read_u16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at + 2) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    match buf.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn validate(buf: &[u8]) -> Result<Layout, RtpError> {
    if buf.len() < RTP_FIXED_HEADER_LEN {
        return Err(RtpError::TooShort { len: buf.len() });
    }
    let first = buf.first().copied().unwrap_or(0);
    let version = first >> 6;
    if version != RTP_VERSION {
        return Err(RtpError::BadVersion(version));
    }
    let csrc_count = usize::from(first & 0x0F);
    let mut offset = RTP_FIXED_HEADER_LEN + 4 * csrc_count;
    if offset > buf.len() {
        return Err(RtpError::HeaderOverrun);
    }
    if first & 0x10 != 0 {
        // Extension header: 16-bit profile, 16-bit length in 32-bit words.
        if offset + 4 > buf.len() {
            return Err(RtpError::HeaderOverrun);
        }
        let words = usize::from(read_u16(buf, offset + 2));
        offset += 4 + 4 * words;
        if offset > buf.len() {
            return Err(RtpError::HeaderOverrun);
        }
    }
    let mut payload_end = buf.len();
    if first & 0x20 != 0 {
        let padding = usize::from(buf.last().copied().unwrap_or(0));
        let available = buf.len() - offset;
        if padding == 0 || padding > available {
            return Err(RtpError::BadPadding { padding, available });
        }
        payload_end -= padding;
    }
    Ok(Layout { payload_offset: offset, payload_end })
}

macro_rules! header_getters {
    () => {
        /// Padding flag (P).
        pub fn has_padding(&self) -> bool {
            self.first_byte() & 0x20 != 0
        }
        /// Extension flag (X).
        pub fn has_extension(&self) -> bool {
            self.first_byte() & 0x10 != 0
        }
        /// Number of CSRC identifiers (CC).
        pub fn csrc_count(&self) -> u8 {
            self.first_byte() & 0x0F
        }
        /// Marker bit (M).
        pub fn marker(&self) -> bool {
            self.second_byte() & 0x80 != 0
        }
        /// Payload type (PT), 0..=127.
        pub fn payload_type(&self) -> u8 {
            self.second_byte() & 0x7F
        }
        /// Sequence number.
        pub fn sequence_number(&self) -> u16 {
            read_u16(&self.buf, 2)
        }
        /// RTP timestamp.
        pub fn timestamp(&self) -> u32 {
            read_u32(&self.buf, 4)
        }
        /// Synchronization source.
        pub fn ssrc(&self) -> u32 {
            read_u32(&self.buf, 8)
        }
        /// The `index`-th contributing source, if present.
        pub fn csrc(&self, index: usize) -> Option<u32> {
            (index < usize::from(self.csrc_count())).then(|| read_u32(&self.buf, RTP_FIXED_HEADER_LEN + 4 * index))
        }
        /// Byte offset where the payload starts (after CSRCs and extension).
        pub fn payload_offset(&self) -> usize {
            self.layout.payload_offset
        }
        /// Number of padding bytes at the end of the packet.
        pub fn padding_len(&self) -> usize {
            self.buf.len() - self.layout.payload_end
        }
        /// The payload, without header and padding.
        pub fn payload(&self) -> &[u8] {
            self.buf.get(self.layout.payload_offset..self.layout.payload_end).unwrap_or(&[])
        }
        fn first_byte(&self) -> u8 {
            self.buf.first().copied().unwrap_or(0)
        }
        fn second_byte(&self) -> u8 {
            self.buf.get(1).copied().unwrap_or(0)
        }
    };
}

/// Read-only view of a validated RTP packet.
#[derive(Debug, Clone, Copy)]
pub struct RtpHeader<'a> {
    buf: &'a [u8],
    layout: Layout,
}

impl<'a> RtpHeader<'a> {
    /// Validates `buf` as an RTP packet (version, CSRC list, extension, padding).
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        let layout = validate(buf)?;
        Ok(Self { buf, layout })
    }

    header_getters!();
}

/// Mutable view of a validated RTP packet for in-place header rewriting.
#[derive(Debug)]
pub struct RtpHeaderMut<'a> {
    buf: &'a mut [u8],
    layout: Layout,
}

impl<'a> RtpHeaderMut<'a> {
    /// Validates `buf` as an RTP packet (version, CSRC list, extension, padding).
    pub fn parse(buf: &'a mut [u8]) -> Result<Self, RtpError> {
        let layout = validate(buf)?;
        Ok(Self { buf, layout })
    }

    header_getters!();

    /// Sets or clears the marker bit.
    pub fn set_marker(&mut self, marker: bool) {
        if let Some(byte) = self.buf.get_mut(1) {
            *byte = (*byte & 0x7F) | if marker { 0x80 } else { 0 };
        }
    }
    /// Sets the payload type (only the low 7 bits are used).
    pub fn set_payload_type(&mut self, payload_type: u8) {
        if let Some(byte) = self.buf.get_mut(1) {
            *byte = (*byte & 0x80) | (payload_type & 0x7F);
        }
    }
    /// Sets the sequence number.
    pub fn set_sequence_number(&mut self, seq: u16) {
        self.write(2, &seq.to_be_bytes());
    }
    /// Sets the timestamp.
    pub fn set_timestamp(&mut self, timestamp: u32) {
        self.write(4, &timestamp.to_be_bytes());
    }
    /// Sets the SSRC.
    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.write(8, &ssrc.to_be_bytes());
    }
    /// The payload, mutable (for in-place transcoding).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.layout.payload_offset..self.layout.payload_end).unwrap_or(&mut [])
    }
    fn write(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
}

/// Writes a fixed 12-byte RTP header (no CSRC, no extension, no padding) at the start of `buf`
/// and returns the header length, or `None` when `buf` is too small.
pub fn write_fixed_header(
    buf: &mut [u8],
    marker: bool,
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
) -> Option<usize> {
    let header = buf.get_mut(..RTP_FIXED_HEADER_LEN)?;
    header[0] = RTP_VERSION << 6;
    header[1] = (payload_type & 0x7F) | if marker { 0x80 } else { 0 };
    header[2..4].copy_from_slice(&seq.to_be_bytes());
    header[4..8].copy_from_slice(&timestamp.to_be_bytes());
    header[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Some(RTP_FIXED_HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let mut p = vec![0u8; 12 + 160];
        write_fixed_header(&mut p, true, 0, 1000, 123_456, 0xDEAD_BEEF).unwrap();
        p[12..].fill(0xFF);
        p
    }

    #[test]
    fn parses_fixed_header() {
        let p = sample();
        let h = RtpHeader::parse(&p).unwrap();
        assert!(h.marker());
        assert_eq!(h.payload_type(), 0);
        assert_eq!(h.sequence_number(), 1000);
        assert_eq!(h.timestamp(), 123_456);
        assert_eq!(h.ssrc(), 0xDEAD_BEEF);
        assert_eq!(h.payload_offset(), 12);
        assert_eq!(h.payload().len(), 160);
        assert_eq!(h.csrc(0), None);
        assert!(!h.has_padding() && !h.has_extension());
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        // V=2 P=1 X=1 CC=2
        let mut p = vec![0xB2, 0x08];
        p.extend_from_slice(&7u16.to_be_bytes());
        p.extend_from_slice(&99u32.to_be_bytes());
        p.extend_from_slice(&5u32.to_be_bytes());
        p.extend_from_slice(&0x1111_1111u32.to_be_bytes());
        p.extend_from_slice(&0x2222_2222u32.to_be_bytes());
        p.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x01, 1, 2, 3, 4]); // one-word extension
        p.extend_from_slice(&[9, 9, 9, 9, 9]); // payload
        p.extend_from_slice(&[0, 0, 3]); // 3 bytes padding
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!(h.csrc_count(), 2);
        assert_eq!(h.csrc(1), Some(0x2222_2222));
        assert_eq!(h.payload_offset(), 12 + 8 + 8);
        assert_eq!(h.payload(), &[9, 9, 9, 9, 9]);
        assert_eq!(h.padding_len(), 3);
        assert_eq!(h.payload_type(), 8);
    }

    #[test]
    fn rejects_bad_packets() {
        assert_eq!(RtpHeader::parse(&[0x80; 5]).unwrap_err(), RtpError::TooShort { len: 5 });
        let mut p = sample();
        p[0] = 0x40;
        assert_eq!(RtpHeader::parse(&p).unwrap_err(), RtpError::BadVersion(1));
        let mut p = sample();
        p.truncate(20);
        p[0] = 0x85; // 5 CSRCs need 32 bytes
        assert_eq!(RtpHeader::parse(&p).unwrap_err(), RtpError::HeaderOverrun);
        let mut p = sample();
        p[0] = 0x90; // extension claims a huge length
        p[12..16].copy_from_slice(&[0xBE, 0xDE, 0xFF, 0xFF]);
        assert_eq!(RtpHeader::parse(&p).unwrap_err(), RtpError::HeaderOverrun);
        let mut p = sample();
        p[0] = 0xA0;
        *p.last_mut().unwrap() = 0;
        assert!(matches!(RtpHeader::parse(&p).unwrap_err(), RtpError::BadPadding { .. }));
    }

    #[test]
    fn rewrites_in_place() {
        let mut p = sample();
        let mut h = RtpHeaderMut::parse(&mut p).unwrap();
        h.set_ssrc(42);
        h.set_sequence_number(65535);
        h.set_timestamp(u32::MAX);
        h.set_payload_type(8);
        h.set_marker(false);
        h.payload_mut()[0] = 0xD5;
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!((h.ssrc(), h.sequence_number(), h.timestamp()), (42, 65535, u32::MAX));
        assert_eq!(h.payload_type(), 8);
        assert!(!h.marker());
        assert_eq!(h.payload()[0], 0xD5);
        let mut q = p.clone();
        let mut h = RtpHeaderMut::parse(&mut q).unwrap();
        h.set_marker(true);
        h.set_payload_type(0xFF);
        assert!(h.marker());
        assert_eq!(h.payload_type(), 0x7F);
    }

    #[test]
    fn detects_rtcp() {
        // RTCP receiver report header: V=2, RC=0, PT=201, length=1
        assert!(is_rtcp(&[0x80, 201, 0, 1, 0, 0, 0, 1]));
        assert!(is_rtcp(&[0x81, 200, 0, 6]));
        assert!(!is_rtcp(&sample()));
        assert!(!is_rtcp(&[0x80, 0x80 | 8])); // PCMA with marker
        assert!(!is_rtcp(&[0x40, 200]));
        assert!(!is_rtcp(&[0x80]));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = is_rtcp(&bytes);
            if let Ok(h) = RtpHeader::parse(&bytes) {
                prop_assert!(h.payload_offset() <= bytes.len());
                prop_assert!(h.payload().len() + h.payload_offset() + h.padding_len() == bytes.len());
                let _ = (h.csrc(3), h.timestamp(), h.ssrc());
            }
            let mut copy = bytes.clone();
            if let Ok(mut h) = RtpHeaderMut::parse(&mut copy) {
                h.set_ssrc(1);
                h.set_sequence_number(2);
                h.set_timestamp(3);
                h.set_payload_type(4);
                h.set_marker(true);
                h.payload_mut().fill(0);
            }
        }
    }
}
