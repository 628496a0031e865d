//! Sans-IO reception of DTMF key presses sent as RFC 4733 telephone-events: [`TelephoneEvent`]
//! parses the 4-byte event payload (event code, E bit, volume, duration) and [`DtmfDetector`]
//! turns the stream of event packets of one RTP stream into exactly one [`DtmfDigit`] per key
//! press. Packets with the same RTP timestamp belong to the same press (RFC 4733 2.5.1), so
//! repeated updates and the redundant end packets (senders repeat the last packet three times)
//! collapse into one report.
//!
//! Reporting rule: a press is reported once, when it *ends*, so its duration is known: at the
//! first packet with the E bit; or, when every end packet was lost, at the first packet of the
//! next press (new timestamp or new SSRC); or, failing that, [`LOST_END_TIMEOUT`] after the last
//! packet of the press ([`DtmfDetector::poll_timeout`] / [`DtmfDetector::handle_timeout`]). A
//! press already reported stays remembered until a newer one starts, so its late updates or end
//! packets never report it again. Packets older than the newest press (reordered, arriving within
//! [`REORDER_WINDOW`] of its last packet) are ignored. A packet with the marker bit (RFC 4733
//! 2.5.1.3: the first packet of an event) always starts a new press once the current one was
//! reported, even with the same or an older timestamp: SIPp's `play_pcap_audio` replays captures
//! byte for byte, so pressing the same key twice repeats SSRC and timestamp, and its captures of
//! different keys have unordered timestamps.
//! Long presses split into segments (RFC 4733 2.5.1.3: a 0xFFFF duration followed by the same
//! event with the timestamp advanced by 0xFFFF) count as one press. Event codes that are not
//! DTMF digits (flash, fax tones, ...) and malformed payloads are ignored.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::rtp::RtpHeader;

/// Clock rate of telephone-event as negotiated next to G.711 (`telephone-event/8000`).
pub const TELEPHONE_EVENT_CLOCK_RATE: u32 = 8000;
/// A press whose end packets were all lost is reported this long after its last packet.
/// Senders update every 20..50 ms while a key is held (RFC 4733 2.5.1.2), so 200 ms of silence
/// means the end was lost.
pub const LOST_END_TIMEOUT: Duration = Duration::from_millis(200);
/// A packet with an older timestamp than the newest press is a reordered one if it arrives
/// within this time after the press's last packet; later, it is a new press (a sender that
/// restarted its timestamps).
pub const REORDER_WINDOW: Duration = Duration::from_millis(500);
/// Reports kept when the owner does not poll: older ones are dropped first.
const MAX_QUEUED_DIGITS: usize = 32;
/// The largest duration a telephone-event segment can carry (RFC 4733 2.5.1.3).
const MAX_SEGMENT_DURATION: u16 = u16::MAX;

/// Why a telephone-event payload was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// The datagram is not a valid RTP packet.
    #[error("not a valid RTP packet")]
    NotRtp,
    /// The payload is shorter than the 4-byte event block.
    #[error("telephone-event payload of {len} bytes is shorter than 4")]
    TooShort { len: usize },
}

impl DtmfError {
    /// Stable lower-case label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DtmfError::NotRtp => "not_rtp",
            DtmfError::TooShort { .. } => "too_short",
        }
    }
}

/// One RFC 4733 event block (section 2.3):
/// `event (8) | E (1) R (1) volume (6) | duration (16)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0-9 digits, 10 `*`, 11 `#`, 12-15 A-D, 16 flash, others tones.
    pub event: u8,
    /// End of the event (E bit).
    pub end: bool,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far, in timestamp units, counted from the event's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block of a telephone-event payload (trailing bytes are ignored;
    /// the reserved R bit is ignored as RFC 4733 asks).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        match payload {
            [event, flags, hi, lo, ..] => Ok(Self {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3F,
                duration: u16::from_be_bytes([*hi, *lo]),
            }),
            _ => Err(DtmfError::TooShort { len: payload.len() }),
        }
    }

    /// The DTMF key of this event code, if it is one.
    pub fn digit(&self) -> Option<char> {
        event_digit(self.event)
    }
}

/// The DTMF key for an RFC 4733 event code (0-9, `*`, `#`, A-D).
pub fn event_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// One detected key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// `'0'..='9'`, `'*'`, `'#'` or `'A'..='D'`.
    pub digit: char,
    /// How long the key was held, as the sender reported it (the last duration seen).
    pub duration_ms: u32,
}

/// The press the detector currently tracks (the newest one seen).
#[derive(Debug, Clone, Copy)]
struct Press {
    ssrc: u32,
    /// RTP timestamp of the press's first segment.
    timestamp: u32,
    /// RTP timestamp of the segment being received (differs for long, segmented presses).
    segment_timestamp: u32,
    event: u8,
    /// Timestamp units of the finished segments before the current one.
    earlier_segments: u32,
    segment_duration: u16,
    last_packet_at: Instant,
    reported: bool,
}

impl Press {
    fn total_duration(&self) -> u32 {
        self.earlier_segments.saturating_add(u32::from(self.segment_duration))
    }

    /// True when `(ssrc, timestamp, event)` starts the next segment of this long press.
    fn is_next_segment(&self, ssrc: u32, timestamp: u32, event: u8) -> bool {
        ssrc == self.ssrc
            && event == self.event
            && self.segment_duration == MAX_SEGMENT_DURATION
            && timestamp == self.segment_timestamp.wrapping_add(u32::from(MAX_SEGMENT_DURATION))
    }
}

/// Detects DTMF key presses in the telephone-event packets of one RTP stream (see the module
/// docs for the reporting rule). Feed it every packet whose payload type is the negotiated
/// telephone-event type with [`DtmfDetector::handle_rtp`] (or [`DtmfDetector::handle_event`]),
/// call [`DtmfDetector::handle_timeout`] when [`DtmfDetector::poll_timeout`] passes, and drain
/// [`DtmfDetector::poll_event`].
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    clock_rate: u32,
    press: Option<Press>,
    digits: VecDeque<DtmfDigit>,
    malformed: u64,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfDetector {
    /// A detector for `telephone-event/8000`.
    pub fn new() -> Self {
        Self::with_clock_rate(TELEPHONE_EVENT_CLOCK_RATE)
    }

    /// A detector for a telephone-event clock rate other than 8000 (a zero rate is taken as 8000).
    pub fn with_clock_rate(clock_rate: u32) -> Self {
        let clock_rate = if clock_rate == 0 { TELEPHONE_EVENT_CLOCK_RATE } else { clock_rate };
        Self { clock_rate, press: None, digits: VecDeque::with_capacity(4), malformed: 0 }
    }

    /// Handles a whole RTP packet (already known to carry telephone-event) received at `now`.
    pub fn handle_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), DtmfError> {
        let Ok(header) = RtpHeader::parse(packet) else {
            self.malformed += 1;
            return Err(DtmfError::NotRtp);
        };
        self.handle_event(now, header.ssrc(), header.timestamp(), header.marker(), header.payload())
    }

    /// Handles the telephone-event `payload` of a packet with this SSRC, RTP timestamp and
    /// marker bit.
    pub fn handle_event(
        &mut self,
        now: Instant,
        ssrc: u32,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), DtmfError> {
        let event = match TelephoneEvent::parse(payload) {
            Ok(event) => event,
            Err(error) => {
                self.malformed += 1;
                return Err(error);
            }
        };
        if let Some(press) = &mut self.press {
            let replayed_start = marker && press.reported;
            if press.ssrc == ssrc && press.segment_timestamp == timestamp && !replayed_start {
                // Same press: an update, a retransmission or a redundant end packet.
                press.last_packet_at = now;
                if event.duration > press.segment_duration {
                    press.segment_duration = event.duration;
                }
                if event.end {
                    self.report_current();
                }
                return Ok(());
            }
            if press.is_next_segment(ssrc, timestamp, event.event) {
                press.earlier_segments = press.earlier_segments.saturating_add(u32::from(MAX_SEGMENT_DURATION));
                press.segment_timestamp = timestamp;
                press.segment_duration = event.duration;
                press.last_packet_at = now;
                if event.end {
                    self.report_current();
                }
                return Ok(());
            }
            let older = press.ssrc == ssrc
                && !replayed_start
                && now.saturating_duration_since(press.last_packet_at) < REORDER_WINDOW
                && ((timestamp.wrapping_sub(press.timestamp) as i32) < 0
                    || (timestamp.wrapping_sub(press.segment_timestamp) as i32) < 0);
            if older {
                // A reordered packet of an earlier press: that press was already handled.
                return Ok(());
            }
            // A new press: the previous one ended even if its end packets were lost.
            self.report_current();
        }
        self.press = Some(Press {
            ssrc,
            timestamp,
            segment_timestamp: timestamp,
            event: event.event,
            earlier_segments: 0,
            segment_duration: event.duration,
            last_packet_at: now,
            reported: false,
        });
        if event.end {
            self.report_current();
        }
        Ok(())
    }

    /// When [`DtmfDetector::handle_timeout`] should next be called: [`LOST_END_TIMEOUT`] after
    /// the last packet of a press not reported yet.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let press = self.press.as_ref().filter(|press| !press.reported)?;
        press.last_packet_at.checked_add(LOST_END_TIMEOUT)
    }

    /// Reports a press whose end packets did not come within [`LOST_END_TIMEOUT`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|due| now >= due) {
            self.report_current();
        }
    }

    /// The next detected key press, oldest first.
    pub fn poll_event(&mut self) -> Option<DtmfDigit> {
        self.digits.pop_front()
    }

    /// Payloads rejected as malformed so far.
    pub fn malformed_packets(&self) -> u64 {
        self.malformed
    }

    /// Reports the current press unless it already was, or is not a DTMF digit.
    fn report_current(&mut self) {
        let Some(press) = &mut self.press else {
            return;
        };
        if press.reported {
            return;
        }
        press.reported = true;
        let Some(digit) = event_digit(press.event) else {
            return;
        };
        let duration_ms = (u64::from(press.total_duration()) * 1000 / u64::from(self.clock_rate)) as u32;
        if self.digits.len() >= MAX_QUEUED_DIGITS {
            self.digits.pop_front();
        }
        self.digits.push_back(DtmfDigit { digit, duration_ms });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::rtp::write_fixed_header;

    const MS: Duration = Duration::from_millis(1);

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let [hi, lo] = duration.to_be_bytes();
        [event, if end { 0x80 } else { 0 } | 10, hi, lo]
    }

    fn rtp(seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        write_fixed_header(&mut p, marker, 101, seq, ts, ssrc).unwrap();
        p.extend_from_slice(payload);
        p
    }

    fn drain(detector: &mut DtmfDetector) -> Vec<DtmfDigit> {
        std::iter::from_fn(|| detector.poll_event()).collect()
    }

    fn digit(digit: char, duration_ms: u32) -> DtmfDigit {
        DtmfDigit { digit, duration_ms }
    }

    /// RTP packets (with their capture time) of a classic little-endian pcap file of
    /// Ethernet/IPv4/UDP/RTP frames, like SIPp's `dtmf_2833_*.pcap`.
    pub(crate) fn pcap_rtp_packets(bytes: &[u8]) -> Vec<(Duration, Vec<u8>)> {
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap");
        let link_type = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!(link_type, 1, "Ethernet");
        let mut packets = Vec::new();
        let mut offset = 24;
        let mut first: Option<Duration> = None;
        while offset + 16 <= bytes.len() {
            let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let at = Duration::from_secs(word(offset).into()) + Duration::from_micros(word(offset + 4).into());
            let captured = word(offset + 8) as usize;
            let frame = &bytes[offset + 16..offset + 16 + captured];
            offset += 16 + captured;
            assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 ethertype");
            let ip = &frame[14..];
            assert_eq!(ip[0] >> 4, 4);
            assert_eq!(ip[9], 17, "UDP");
            let ip_header_len = usize::from(ip[0] & 0x0F) * 4;
            let ip_total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let udp = &ip[ip_header_len..ip_total_len];
            let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            let start = *first.get_or_insert(at);
            packets.push((at - start, udp[8..udp_len].to_vec()));
        }
        packets
    }

    #[test]
    fn parses_event_block() {
        let event = TelephoneEvent::parse(&[0x05, 0x8a, 0x08, 0xc0]).unwrap();
        assert_eq!(event, TelephoneEvent { event: 5, end: true, volume: 10, duration: 2240 });
        assert_eq!(event.digit(), Some('5'));
        // R bit set: ignored.
        let event = TelephoneEvent::parse(&[11, 0x40 | 7, 0, 160, 0xEE]).unwrap();
        assert_eq!((event.end, event.volume, event.digit()), (false, 7, Some('#')));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(DtmfError::TooShort { len: 3 }));
        let codes: String = (0..=16).filter_map(event_digit).collect();
        assert_eq!(codes, "0123456789*#ABCD");
    }

    #[test]
    fn sipp_pcaps_give_one_digit_each() {
        let dir = std::path::Path::new("/usr/share/sip-tester");
        let files = [
            ("0", '0'),
            ("1", '1'),
            ("2", '2'),
            ("3", '3'),
            ("4", '4'),
            ("5", '5'),
            ("6", '6'),
            ("7", '7'),
            ("8", '8'),
            ("9", '9'),
            ("star", '*'),
            ("pound", '#'),
        ];
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        let capture = |name: &str| {
            let path = dir.join(format!("dtmf_2833_{name}.pcap"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (install sip-tester)", path.display()));
            pcap_rtp_packets(&bytes)
        };
        // SIPp's play_pcap_audio replays them byte for byte: one SSRC for all, each key with its
        // own (unordered) timestamp, and the same timestamp again when a key is pressed twice.
        let mut at = t0;
        let mut play = |detector: &mut DtmfDetector, name: &str, gap: Duration| {
            let packets = capture(name);
            // Start (marker), 6 updates and the end packet 3 times with the same sequence number.
            assert_eq!(packets.len(), 10);
            at += gap;
            for (offset, packet) in &packets {
                detector.handle_rtp(at + *offset, packet).unwrap();
            }
            at += packets.last().unwrap().0;
        };
        for (name, expected) in files {
            play(&mut detector, name, Duration::from_secs(1));
            assert_eq!(drain(&mut detector), [digit(expected, 280)], "{name}");
            assert_eq!(detector.poll_timeout(), None);
        }
        // The same key twice, back to back; then '#' and '1' whose timestamp is older.
        play(&mut detector, "5", Duration::from_secs(1));
        play(&mut detector, "5", 20 * MS);
        play(&mut detector, "pound", 20 * MS);
        play(&mut detector, "1", 20 * MS);
        assert_eq!(drain(&mut detector), [digit('5', 280), digit('5', 280), digit('#', 280), digit('1', 280)]);
        assert_eq!(detector.malformed_packets(), 0);
    }

    #[test]
    fn baresip_style_press_with_three_end_packets_reports_once() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        let mut seq = 100u16;
        let mut send = |detector: &mut DtmfDetector, at: Duration, marker: bool, p: [u8; 4]| {
            seq += 1;
            detector.handle_rtp(t0 + at, &rtp(seq, 16_000, 0xB0B, marker, &p)).unwrap();
        };
        // Updates every 50 ms (400 units) while held, marker on the first.
        send(&mut detector, Duration::ZERO, true, payload(1, false, 0));
        for i in 1..=3u16 {
            send(&mut detector, 50 * MS * u32::from(i), false, payload(1, false, 400 * i));
            assert!(drain(&mut detector).is_empty());
        }
        assert_eq!(detector.poll_timeout(), Some(t0 + 150 * MS + LOST_END_TIMEOUT));
        // End packet three times with new sequence numbers.
        for _ in 0..3 {
            send(&mut detector, 200 * MS, false, payload(1, true, 1600));
        }
        assert_eq!(drain(&mut detector), [digit('1', 200)]);
        assert_eq!(detector.poll_timeout(), None);
        detector.handle_timeout(t0 + 10_000 * MS);
        assert!(drain(&mut detector).is_empty());
    }

    #[test]
    fn two_quick_presses_of_the_same_digit_are_two_digits() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        for (press, ts) in [(0u32, 8000u32), (1, 8960)] {
            let at = t0 + 120 * MS * press;
            detector.handle_event(at, 7, ts, false, &payload(9, false, 0)).unwrap();
            detector.handle_event(at + 20 * MS, 7, ts, false, &payload(9, false, 160)).unwrap();
            for _ in 0..3 {
                detector.handle_event(at + 40 * MS, 7, ts, false, &payload(9, true, 320)).unwrap();
            }
        }
        assert_eq!(drain(&mut detector), [digit('9', 40), digit('9', 40)]);
    }

    #[test]
    fn lost_end_packets_report_at_next_press_or_timeout_once() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        // '3' without end packets, then '4': '3' is reported when '4' starts.
        detector.handle_event(t0, 1, 1000, false, &payload(3, false, 0)).unwrap();
        detector.handle_event(t0 + 20 * MS, 1, 1000, false, &payload(3, false, 160)).unwrap();
        detector.handle_event(t0 + 100 * MS, 1, 2000, false, &payload(4, false, 0)).unwrap();
        assert_eq!(drain(&mut detector), [digit('3', 20)]);
        // '4' loses its end packets too: reported once the timeout passes, not before.
        detector.handle_event(t0 + 120 * MS, 1, 2000, false, &payload(4, false, 480)).unwrap();
        let due = detector.poll_timeout().unwrap();
        assert_eq!(due, t0 + 120 * MS + LOST_END_TIMEOUT);
        detector.handle_timeout(due - MS);
        assert!(drain(&mut detector).is_empty());
        detector.handle_timeout(due);
        assert_eq!(drain(&mut detector), [digit('4', 60)]);
        assert_eq!(detector.poll_timeout(), None);
        // Its late end packets (after a network stall) do not report it again.
        for _ in 0..3 {
            detector.handle_event(due + 50 * MS, 1, 2000, false, &payload(4, true, 800)).unwrap();
        }
        assert!(drain(&mut detector).is_empty());
        // A reordered update of the earlier '3' is ignored.
        detector.handle_event(due + 60 * MS, 1, 1000, false, &payload(3, false, 320)).unwrap();
        assert!(drain(&mut detector).is_empty());
        assert_eq!(detector.poll_timeout(), None);
    }

    #[test]
    fn restarted_timestamps_are_a_new_press_after_the_reorder_window() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        detector.handle_event(t0, 1, 90_000, false, &payload(6, true, 800)).unwrap();
        // Within the window and without marker: a reordered packet of an older press.
        detector.handle_event(t0 + 100 * MS, 1, 1_000, false, &payload(2, true, 800)).unwrap();
        assert_eq!(drain(&mut detector), [digit('6', 100)]);
        // Later, the sender's timestamps restarted (no marker): a new press all the same.
        detector.handle_event(t0 + 100 * MS + REORDER_WINDOW, 1, 1_000, false, &payload(2, true, 800)).unwrap();
        assert_eq!(drain(&mut detector), [digit('2', 100)]);
        // An update without marker after the end is not a replay.
        detector.handle_event(t0 + 2000 * MS, 1, 1_000, false, &payload(2, false, 400)).unwrap();
        assert!(drain(&mut detector).is_empty());
        assert_eq!(detector.poll_timeout(), None);
    }

    #[test]
    fn only_end_packets_still_report_once() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        for _ in 0..3 {
            detector.handle_event(t0, 1, 5000, false, &payload(10, true, 800)).unwrap();
        }
        assert_eq!(drain(&mut detector), [digit('*', 100)]);
    }

    #[test]
    fn new_ssrc_ends_the_previous_press() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        detector.handle_event(t0, 1, 5000, false, &payload(12, false, 160)).unwrap();
        // A re-INVITE changed the sender's SSRC, unrelated timestamp (even an "older" one).
        detector.handle_event(t0 + 40 * MS, 2, 10, false, &payload(13, true, 320)).unwrap();
        assert_eq!(drain(&mut detector), [digit('A', 20), digit('B', 40)]);
    }

    #[test]
    fn long_press_split_in_segments_is_one_digit() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        detector.handle_event(t0, 1, 100, false, &payload(0, false, 60_000)).unwrap();
        detector.handle_event(t0 + 8_000 * MS, 1, 100, false, &payload(0, false, u16::MAX)).unwrap();
        detector.handle_event(t0 + 8_200 * MS, 1, 100 + 65_535, false, &payload(0, false, 1600)).unwrap();
        detector.handle_event(t0 + 8_400 * MS, 1, 100 + 65_535, false, &payload(0, true, 3200)).unwrap();
        assert_eq!(drain(&mut detector), [digit('0', (65_535 + 3200) / 8)]);
    }

    #[test]
    fn garbage_and_non_digit_events_are_ignored() {
        let t0 = Instant::now();
        let mut detector = DtmfDetector::new();
        assert_eq!(detector.handle_rtp(t0, b"junk"), Err(DtmfError::NotRtp));
        assert_eq!(detector.handle_rtp(t0, &rtp(1, 0, 1, true, &[5, 0x80])), Err(DtmfError::TooShort { len: 2 }));
        assert_eq!(detector.handle_rtp(t0, &rtp(1, 0, 1, true, &[])), Err(DtmfError::TooShort { len: 0 }));
        // Flash (16) and a fax tone (32) are events, not digits.
        detector.handle_event(t0, 1, 100, false, &payload(16, true, 800)).unwrap();
        detector.handle_event(t0, 1, 900, false, &payload(32, false, 800)).unwrap();
        detector.handle_timeout(t0 + LOST_END_TIMEOUT);
        assert!(drain(&mut detector).is_empty());
        assert_eq!(detector.malformed_packets(), 3);
        assert_eq!(DtmfError::NotRtp.as_str(), "not_rtp");
        // A fuzz-ish sweep of short random payloads never panics.
        for len in 0..12usize {
            let p: Vec<u8> = (0..len).map(|i| (i * 37 + len * 11) as u8).collect();
            let _ = detector.handle_rtp(t0, &p);
            let _ = detector.handle_event(t0, 3, len as u32, len % 2 == 0, &p);
        }
    }

    /// One generated key press: event code, updates sent before the end, end packets sent (0 when
    /// all were lost), whether the start packet was lost, the pause before the next press.
    type GeneratedPress = (u8, usize, usize, bool, u64);

    proptest::proptest! {
        // Seeded: the same cases on every run.
        #![proptest_config(proptest::test_runner::Config {
            cases: 1000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(4733),
            ..proptest::test_runner::Config::default()
        })]
        #[test]
        fn every_press_is_reported_exactly_once(
            presses in proptest::collection::vec(
                (0u8..16, 0usize..6, 0usize..4, proptest::bool::ANY, 10u64..400),
                1..12,
            ),
        ) {
            let presses: Vec<GeneratedPress> = presses;
            let t0 = Instant::now();
            let mut detector = DtmfDetector::new();
            let mut now = t0;
            let mut ts = 1_000u32;
            let mut reported = Vec::new();
            let mut expected = Vec::new();
            let deliver = |detector: &mut DtmfDetector, at: Instant, marker: bool, p: [u8; 4], ts: u32| {
                // Like the shell: fire due timers before the packet arrives.
                while let Some(due) = detector.poll_timeout().filter(|due| *due <= at) {
                    detector.handle_timeout(due);
                }
                detector.handle_event(at, 9, ts, marker, &p).unwrap();
            };
            for &(event, updates, ends, start_lost, pause) in &presses {
                let mut sent = 0;
                for i in 0..=updates {
                    if i == 0 && start_lost {
                        continue;
                    }
                    deliver(&mut detector, now + 20 * MS * i as u32, i == 0, payload(event, false, 160 * i as u16), ts);
                    sent += 1;
                }
                let end_at = now + 20 * MS * (updates as u32 + 1);
                for _ in 0..ends {
                    deliver(&mut detector, end_at, false, payload(event, true, 160 * (updates as u16 + 1)), ts);
                    sent += 1;
                }
                if sent > 0 {
                    expected.push(event_digit(event).unwrap());
                }
                reported.extend(std::iter::from_fn(|| detector.poll_event()).map(|d| d.digit));
                now = end_at + MS * pause as u32;
                ts = ts.wrapping_add(160 * (updates as u32 + 1) + 8 * pause as u32);
            }
            detector.handle_timeout(now + LOST_END_TIMEOUT);
            reported.extend(std::iter::from_fn(|| detector.poll_event()).map(|d| d.digit));
            proptest::prop_assert_eq!(reported, expected);
            proptest::prop_assert_eq!(detector.poll_timeout(), None);
        }
    }
}
