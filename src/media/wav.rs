//! Hold-audio prompts: loading a RIFF/WAVE file (format 7 μ-law, 6 A-law or 1 PCM16; mono,
//! 8000 Hz) into a [`Prompt`] that holds the same audio both as μ-law and as A-law 8 kHz samples,
//! so the hold player never converts per packet. Errors name the file and say what is wrong.

use std::path::Path;

use super::codec::{g711, Codec};
use super::MediaError;

/// The only sample rate a prompt may have.
pub const PROMPT_SAMPLE_RATE: u32 = 8000;

const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_ALAW: u16 = 6;
const WAVE_FORMAT_MULAW: u16 = 7;

/// Audio ready to be played on hold: 8 kHz mono samples in both G.711 laws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    name: String,
    ulaw: Vec<u8>,
    alaw: Vec<u8>,
}

impl Prompt {
    /// Builds a prompt from μ-law samples. `name` is used in logs and errors.
    pub fn from_ulaw(name: impl Into<String>, ulaw: Vec<u8>) -> Self {
        let alaw = ulaw.iter().map(|&b| g711::ULAW_TO_ALAW[usize::from(b)]).collect();
        Self { name: name.into(), ulaw, alaw }
    }

    /// Builds a prompt from A-law samples.
    pub fn from_alaw(name: impl Into<String>, alaw: Vec<u8>) -> Self {
        let ulaw = alaw.iter().map(|&b| g711::ALAW_TO_ULAW[usize::from(b)]).collect();
        Self { name: name.into(), ulaw, alaw }
    }

    /// Builds a prompt by encoding 16-bit linear samples to both laws.
    pub fn from_linear(name: impl Into<String>, samples: &[i16]) -> Self {
        Self {
            name: name.into(),
            ulaw: samples.iter().map(|&s| g711::ulaw_encode(s)).collect(),
            alaw: samples.iter().map(|&s| g711::alaw_encode(s)).collect(),
        }
    }

    /// Reads and parses a WAV file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| MediaError::PromptIo { file: name.clone(), source })?;
        Self::from_wav_bytes(name, &bytes)
    }

    /// Parses WAV file contents; `name` (usually the path) is used in errors.
    pub fn from_wav_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Self, MediaError> {
        let name = name.into();
        let invalid = |reason: String| MediaError::InvalidPrompt { file: name.clone(), reason };
        if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
            return Err(invalid("not a RIFF/WAVE file".into()));
        }
        let mut format: Option<(u16, u16, u32, u16)> = None;
        let mut data: Option<&[u8]> = None;
        let mut offset = 12usize;
        while offset < bytes.len() && data.is_none() {
            let (Some(id), Some(size)) = (bytes.get(offset..offset + 4), read_u32(bytes, offset + 4)) else {
                return Err(invalid(format!("truncated chunk header at byte {offset}")));
            };
            let start = offset + 8;
            let size = size as usize;
            let Some(body) = bytes.get(start..start.saturating_add(size)) else {
                return Err(invalid(format!(
                    "truncated: chunk {:?} declares {size} bytes but only {} remain",
                    String::from_utf8_lossy(id),
                    bytes.len() - start.min(bytes.len())
                )));
            };
            match id {
                b"fmt " => {
                    let (Some(tag), Some(channels), Some(rate), Some(bits)) =
                        (read_u16(body, 0), read_u16(body, 2), read_u32(body, 4), read_u16(body, 14))
                    else {
                        return Err(invalid(format!("fmt chunk of {size} bytes is too short")));
                    };
                    format = Some((tag, channels, rate, bits));
                }
                b"data" => {
                    if format.is_none() {
                        return Err(invalid("data chunk before fmt chunk".into()));
                    }
                    data = Some(body);
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            offset = start.saturating_add(size).saturating_add(size & 1);
        }
        let Some((tag, channels, rate, bits)) = format else {
            return Err(invalid("no fmt chunk".into()));
        };
        if channels != 1 {
            return Err(invalid(format!("{channels} channels; hold audio must be mono")));
        }
        if rate != PROMPT_SAMPLE_RATE {
            return Err(invalid(format!("sample rate {rate} Hz; hold audio must be {PROMPT_SAMPLE_RATE} Hz")));
        }
        let Some(data) = data else {
            return Err(invalid("truncated: no data chunk".into()));
        };
        let prompt = match (tag, bits) {
            (WAVE_FORMAT_MULAW, 8) => Self::from_ulaw(name.clone(), data.to_vec()),
            (WAVE_FORMAT_ALAW, 8) => Self::from_alaw(name.clone(), data.to_vec()),
            (WAVE_FORMAT_PCM, 16) => {
                let samples: Vec<i16> =
                    data.chunks_exact(2).map(|pair| i16::from_le_bytes([pair[0], pair[1]])).collect();
                Self::from_linear(name.clone(), &samples)
            }
            _ => {
                return Err(invalid(format!(
                    "unsupported format tag {tag} with {bits} bits per sample; \
                     use 7 (μ-law, 8 bit), 6 (A-law, 8 bit) or 1 (PCM, 16 bit)"
                )))
            }
        };
        if prompt.ulaw.is_empty() {
            return Err(invalid("data chunk holds no samples".into()));
        }
        Ok(prompt)
    }

    /// The name (usually the file path) the prompt was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of 8 kHz samples.
    pub fn len(&self) -> usize {
        self.ulaw.len()
    }

    /// True when the prompt holds no samples (never for a loaded WAV).
    pub fn is_empty(&self) -> bool {
        self.ulaw.is_empty()
    }

    /// The samples encoded for `codec`.
    pub fn samples(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.ulaw,
            Codec::Pcma => &self.alaw,
        }
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at.checked_add(2)?)? {
        &[a, b] => Some(u16::from_le_bytes([a, b])),
        _ => None,
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at.checked_add(4)?)? {
        &[a, b, c, d] => Some(u32::from_le_bytes([a, b, c, d])),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a WAV file in memory.
    pub(crate) fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        let block_align = channels * bits / 8;
        fmt.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        fmt.extend_from_slice(&block_align.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        if tag != WAVE_FORMAT_PCM {
            fmt.extend_from_slice(&0u16.to_le_bytes()); // cbSize
        }
        let mut body = b"WAVE".to_vec();
        body.extend_from_slice(b"fmt ");
        body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        body.extend_from_slice(&fmt);
        // An odd-sized chunk we must skip, including its pad byte.
        body.extend_from_slice(b"LIST");
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(&[1, 2, 3, 0]);
        body.extend_from_slice(b"data");
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    #[test]
    fn loads_ulaw() {
        let prompt = Prompt::from_wav_bytes("a.wav", &wav(7, 1, 8000, 8, &[0xFF, 0x80, 0x00])).unwrap();
        assert_eq!(prompt.samples(Codec::Pcmu), &[0xFF, 0x80, 0x00]);
        assert_eq!(prompt.samples(Codec::Pcma), &[0xD5, 0xAA, 0x2A]);
        assert_eq!(prompt.len(), 3);
        assert_eq!(prompt.name(), "a.wav");
    }

    #[test]
    fn loads_alaw() {
        let prompt = Prompt::from_wav_bytes("a.wav", &wav(6, 1, 8000, 8, &[0xD5, 0xAA])).unwrap();
        assert_eq!(prompt.samples(Codec::Pcma), &[0xD5, 0xAA]);
        assert_eq!(prompt.samples(Codec::Pcmu)[1], 0x80);
    }

    #[test]
    fn loads_pcm16_by_encoding() {
        let samples: [i16; 3] = [0, 32767, -32768];
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let prompt = Prompt::from_wav_bytes("p.wav", &wav(1, 1, 8000, 16, &data)).unwrap();
        assert_eq!(prompt.samples(Codec::Pcmu), &[0xFF, 0x80, 0x00]);
        assert_eq!(prompt.samples(Codec::Pcma), &[0xD5, 0xAA, 0x2A]);
    }

    fn error_text(bytes: &[u8]) -> String {
        Prompt::from_wav_bytes("hold.wav", bytes).unwrap_err().to_string()
    }

    #[test]
    fn rejects_wrong_rate_channels_format() {
        let e = error_text(&wav(7, 1, 16000, 8, &[0; 4]));
        assert!(e.contains("hold.wav") && e.contains("16000"), "{e}");
        let e = error_text(&wav(7, 2, 8000, 8, &[0; 4]));
        assert!(e.contains("hold.wav") && e.contains("mono"), "{e}");
        let e = error_text(&wav(3, 1, 8000, 32, &[0; 4]));
        assert!(e.contains("format tag 3"), "{e}");
        let e = error_text(&wav(1, 1, 8000, 8, &[0; 4]));
        assert!(e.contains("8 bits"), "{e}");
        let e = error_text(b"OggS not a wav file");
        assert!(e.contains("RIFF"), "{e}");
    }

    #[test]
    fn rejects_truncated_files() {
        let full = wav(7, 1, 8000, 8, &[0xFF; 100]);
        for cut in [12, 20, 30, full.len() - 50] {
            let e = error_text(&full[..cut]);
            assert!(e.contains("hold.wav"), "{e}");
        }
        assert!(error_text(&full[..full.len() - 50]).contains("truncated"));
        assert!(error_text(&wav(7, 1, 8000, 8, &[])).contains("no samples"));
    }

    #[test]
    fn load_names_missing_file() {
        let e = Prompt::load("/nonexistent/dir/hold.wav").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/dir/hold.wav"), "{e}");
    }

    #[test]
    fn default_hold_prompt_loads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/prompts/hold.wav");
        let prompt = Prompt::load(path).unwrap();
        let seconds = prompt.len() / 8000;
        assert!((10..=25).contains(&seconds), "{seconds} s");
    }

    #[test]
    fn survey_prompts_load_and_hold_speech() {
        for (name, min_s, max_s) in
            [("survey_csat", 5, 10), ("survey_resolved", 3, 7), ("survey_invalid", 1, 5), ("survey_thanks", 1, 5)]
        {
            let path = format!("{}/config/prompts/{name}.wav", env!("CARGO_MANIFEST_DIR"));
            let prompt = Prompt::load(&path).unwrap();
            let seconds = prompt.len() as f64 / 8000.0;
            assert!((min_s as f64..=max_s as f64).contains(&seconds), "{name}: {seconds} s");
            let loud = |samples: &[u8]| samples.iter().filter(|&&b| g711::ulaw_decode(b).unsigned_abs() > 1000).count();
            let ulaw = prompt.samples(Codec::Pcmu);
            // A quiet lead-in (no clipped first syllable), then speech for a good part of it.
            assert_eq!(loud(&ulaw[..1200]), 0, "{name}: lead-in");
            assert!(loud(ulaw) * 5 > ulaw.len(), "{name}: too little speech");
        }
    }
}
