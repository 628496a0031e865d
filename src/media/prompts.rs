//! The prompts a switch plays, with their built-in defaults: the hold music and the four survey
//! announcements are compiled into the binary (from `config/prompts/`, made by
//! `scripts/make-prompts.sh`), so `meritline run` works from any folder, after `cargo install` and
//! in a container. A configured file (`media.hold_prompt`) or folder (`media.survey_prompts_dir`)
//! replaces them; this room decides which one is used and loads it.

use std::path::Path;

use super::wav::Prompt;
use super::MediaError;

/// The built-in hold audio (~16 s, 8 kHz μ-law).
const HOLD_WAV: &[u8] = include_bytes!("../../config/prompts/hold.wav");

/// The built-in survey announcements by file name (the names `media.survey_prompts_dir` holds).
const SURVEY_WAVS: [(&str, &[u8]); 4] = [
    ("survey_csat.wav", include_bytes!("../../config/prompts/survey_csat.wav")),
    ("survey_resolved.wav", include_bytes!("../../config/prompts/survey_resolved.wav")),
    ("survey_invalid.wav", include_bytes!("../../config/prompts/survey_invalid.wav")),
    ("survey_thanks.wav", include_bytes!("../../config/prompts/survey_thanks.wav")),
];

/// The hold prompt: the configured file, or the built-in one when none is configured.
pub fn hold(configured: Option<&Path>) -> Result<Prompt, MediaError> {
    match configured {
        Some(path) => Prompt::load(path),
        None => Prompt::from_wav_bytes("built-in hold.wav", HOLD_WAV),
    }
}

/// A survey prompt by its file name: read from the configured folder, or the built-in one.
pub fn survey(configured_dir: Option<&Path>, file_name: &str) -> Result<Prompt, MediaError> {
    if let Some(dir) = configured_dir {
        return Prompt::load(dir.join(file_name));
    }
    match SURVEY_WAVS.iter().find(|(name, _)| *name == file_name) {
        Some((name, bytes)) => Prompt::from_wav_bytes(format!("built-in {name}"), bytes),
        None => Err(MediaError::InvalidPrompt {
            file: file_name.to_string(),
            reason: "no built-in prompt has this name".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_prompts_parse_without_any_file() {
        let hold = hold(None).expect("built-in hold prompt");
        assert!(hold.len() > 8000 * 5, "hold audio is several seconds long");
        for (name, _) in SURVEY_WAVS {
            let p = survey(None, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!p.is_empty(), "{name}");
        }
        assert!(survey(None, "nope.wav").is_err());
    }

    #[test]
    fn a_configured_path_overrides_the_built_in() {
        let dir = std::env::temp_dir().join(format!("meritline-prompts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let samples = vec![0i16; 800];
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + 1600u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
        wav.extend_from_slice(&1u16.to_le_bytes()); // mono
        wav.extend_from_slice(&8000u32.to_le_bytes());
        wav.extend_from_slice(&16000u32.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&1600u32.to_le_bytes());
        for s in &samples {
            wav.extend_from_slice(&s.to_le_bytes());
        }
        let path = dir.join("survey_thanks.wav");
        std::fs::write(&path, &wav).unwrap();
        assert_eq!(hold(Some(&path)).unwrap().len(), 800);
        assert_eq!(survey(Some(&dir), "survey_thanks.wav").unwrap().len(), 800);
        assert!(survey(Some(&dir), "survey_csat.wav").is_err(), "a configured folder has no fallback");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
