//! G.711 companding (ITU-T G.711): μ-law (PCMU) and A-law (PCMA) encode/decode of 16-bit linear
//! samples, and direct table-driven PCMU<->PCMA transcoding in place. All tables are 256-entry
//! arrays computed at compile time from the reference segment algorithm, so the per-packet path
//! is one table lookup per byte and allocates nothing.

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 8159;
const ULAW_SEGMENT_ENDS: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
const ALAW_SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

const fn segment(value: i32, ends: &[i32; 8]) -> usize {
    let mut i = 0;
    while i < 8 {
        if value <= ends[i] {
            return i;
        }
        i += 1;
    }
    8
}

const fn ulaw_decode_const(code: u8) -> i16 {
    let u = !code;
    let mut t = (((u & 0x0F) as i32) << 3) + ULAW_BIAS;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 { ULAW_BIAS - t } else { t - ULAW_BIAS }) as i16
}

const fn alaw_decode_const(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

const fn ulaw_encode_const(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 2;
    let mask: u8 = if pcm < 0 {
        pcm = -pcm;
        0x7F
    } else {
        0xFF
    };
    if pcm > ULAW_CLIP {
        pcm = ULAW_CLIP;
    }
    pcm += ULAW_BIAS >> 2;
    let seg = segment(pcm, &ULAW_SEGMENT_ENDS);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let code = ((seg as u8) << 4) | (((pcm >> (seg + 1)) & 0x0F) as u8);
    code ^ mask
}

const fn alaw_encode_const(sample: i16) -> u8 {
    let mut pcm = (sample as i32) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = segment(pcm, &ALAW_SEGMENT_ENDS);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut code = (seg as u8) << 4;
    if seg < 2 {
        code |= ((pcm >> 1) & 0x0F) as u8;
    } else {
        code |= ((pcm >> seg) & 0x0F) as u8;
    }
    code ^ mask
}

const fn build_decode_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw { alaw_decode_const(i as u8) } else { ulaw_decode_const(i as u8) };
        i += 1;
    }
    table
}

const fn build_transcode_table(from_ulaw: bool) -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if from_ulaw {
            alaw_encode_const(ulaw_decode_const(i as u8))
        } else {
            ulaw_encode_const(alaw_decode_const(i as u8))
        };
        i += 1;
    }
    table
}

/// μ-law code -> 16-bit linear sample.
pub static ULAW_TO_LINEAR: [i16; 256] = build_decode_table(false);
/// A-law code -> 16-bit linear sample.
pub static ALAW_TO_LINEAR: [i16; 256] = build_decode_table(true);
/// μ-law code -> A-law code of the same (nearest-below) level.
pub static ULAW_TO_ALAW: [u8; 256] = build_transcode_table(true);
/// A-law code -> μ-law code of the same (nearest-below) level.
pub static ALAW_TO_ULAW: [u8; 256] = build_transcode_table(false);

/// Decodes one μ-law byte to a 16-bit linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Encodes one 16-bit linear sample to μ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    ulaw_encode_const(sample)
}

/// Encodes one 16-bit linear sample to A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    alaw_encode_const(sample)
}

/// Rewrites a μ-law payload as A-law, in place.
pub fn ulaw_to_alaw_in_place(payload: &mut [u8]) {
    for byte in payload {
        *byte = ULAW_TO_ALAW[usize::from(*byte)];
    }
}

/// Rewrites an A-law payload as μ-law, in place.
pub fn alaw_to_ulaw_in_place(payload: &mut [u8]) {
    for byte in payload {
        *byte = ALAW_TO_ULAW[usize::from(*byte)];
    }
}

/// The byte that encodes digital silence (linear 0) in μ-law.
pub const ULAW_SILENCE: u8 = 0xFF;
/// The byte that encodes digital silence (linear 0, decoded as +8) in A-law.
pub const ALAW_SILENCE: u8 = 0xD5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ulaw_values() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xF0), 120); // segment 0, quantization step 8
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(-1), 0x7E); // the reference floors negatives: magnitude 1, not 0
        assert_eq!(ULAW_SILENCE, ulaw_encode(0));
    }

    #[test]
    fn known_alaw_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
        assert_eq!(ALAW_SILENCE, alaw_encode(0));
    }

    #[test]
    fn encode_of_decode_is_identity_except_negative_zero() {
        for code in 0..=255u8 {
            let back = ulaw_encode(ulaw_decode(code));
            if code == 0x7F {
                assert_eq!(back, 0xFF, "μ-law negative zero maps to positive zero");
            } else {
                assert_eq!(back, code, "μ-law {code:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn linear_round_trip_error_is_within_the_step_size() {
        let mut sample = i16::MIN as i32;
        while sample <= i16::MAX as i32 {
            let s = sample as i16;
            let u = i32::from(ulaw_decode(ulaw_encode(s)));
            let a = i32::from(alaw_decode(alaw_encode(s)));
            let magnitude = sample.abs();
            // Quantization step is about 1/16 of the magnitude in the upper segments.
            let tolerance = (magnitude / 16).max(16) + 8;
            if magnitude < 32124 {
                assert!((u - sample).abs() <= tolerance, "μ-law {sample} -> {u}");
            }
            assert!((a - sample).abs() <= tolerance, "A-law {sample} -> {a}");
            sample += 7;
        }
    }

    #[test]
    fn transcoding_preserves_level_and_sign() {
        for code in 0..=255u8 {
            let linear = i32::from(ulaw_decode(code));
            let via_alaw = i32::from(alaw_decode(ULAW_TO_ALAW[usize::from(code)]));
            let tolerance = (linear.abs() / 16).max(16) + 8;
            assert!((via_alaw - linear).abs() <= tolerance, "{code:#04x}: {linear} vs {via_alaw}");
            let linear = i32::from(alaw_decode(code));
            let via_ulaw = i32::from(ulaw_decode(ALAW_TO_ULAW[usize::from(code)]));
            let tolerance = (linear.abs() / 16).max(16) + 8;
            if linear.abs() < 32124 {
                assert!((via_ulaw - linear).abs() <= tolerance, "{code:#04x}: {linear} vs {via_ulaw}");
            }
        }
        assert_eq!(ULAW_TO_ALAW[usize::from(ULAW_SILENCE)], ALAW_SILENCE);
        assert_eq!(ALAW_TO_ULAW[usize::from(ALAW_SILENCE)], ulaw_encode(8));
    }

    #[test]
    fn transcodes_payload_in_place() {
        let mut payload = [0xFFu8, 0x80, 0x00, 0x7F];
        ulaw_to_alaw_in_place(&mut payload);
        assert_eq!(payload, [0xD5, 0xAA, 0x2A, 0xD5]);
        alaw_to_ulaw_in_place(&mut payload);
        assert_eq!(payload[1], 0x80);
        assert_eq!(payload[2], 0x00);
    }
}
