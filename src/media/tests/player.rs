//! The player room: pacing, looping, catch-up and play-once of [`PromptPlayer`].

use std::time::Instant;

use super::*;
use crate::media::codec::g711;
use crate::media::player::{HoldPlayer, Playback, PromptPlayer, MAX_CATCH_UP_FRAMES};

#[test]
fn hold_player_paces_in_virtual_time_without_drift() {
    let t0 = Instant::now();
    let mut player = HoldPlayer::new(prompt(1000), Codec::Pcmu, 0, t0);
    let mut buf = [0u8; 512];
    let mut sent = Vec::new();
    let mut now = t0;
    // Wake up exactly at each timeout for 1 s.
    for _ in 0..50 {
        now = player.poll_timeout();
        while let Some(len) = player.poll_transmit(now, &mut buf) {
            assert_eq!(len, 172);
            sent.push((now, fields(&buf[..len])));
        }
    }
    assert_eq!(sent.len(), 50);
    assert_eq!(player.poll_timeout(), t0 + 1000 * MS);
    assert!(now < t0 + 1000 * MS);
    for (i, (at, f)) in sent.iter().enumerate() {
        assert_eq!(*at, t0 + 20 * MS * i as u32);
        assert_eq!(f.1, i as u16);
        assert_eq!(f.2, 160 * i as u32);
    }
    assert_eq!(player.poll_transmit(t0 + 999 * MS, &mut buf), None);
}

#[test]
fn hold_player_loops_the_prompt() {
    let t0 = Instant::now();
    let mut player = HoldPlayer::new(prompt(200), Codec::Pcmu, 0, t0);
    let mut buf = [0u8; 512];
    player.poll_transmit(t0, &mut buf).unwrap();
    assert_eq!(buf[12], 0);
    player.poll_transmit(t0 + 20 * MS, &mut buf).unwrap();
    // Samples 160..200 then 0..120.
    assert_eq!(buf[12], 160);
    assert_eq!(buf[12 + 39], 199);
    assert_eq!(buf[12 + 40], 0);
    player.poll_transmit(t0 + 40 * MS, &mut buf).unwrap();
    assert_eq!(buf[12], 120);
}

#[test]
fn hold_player_catches_up_a_few_frames_then_skips() {
    let t0 = Instant::now();
    let mut player = HoldPlayer::new(prompt(8000), Codec::Pcma, 8, t0);
    let mut buf = [0u8; 512];
    // 2 frames late: all 3 overdue frames come out back-to-back.
    let now = t0 + 45 * MS;
    let mut seqs = Vec::new();
    while let Some(len) = player.poll_transmit(now, &mut buf) {
        seqs.push(fields(&buf[..len]).1);
    }
    assert_eq!(seqs, [0, 1, 2]);
    // Suspended for a second: only MAX_CATCH_UP_FRAMES + 1 frames, the rest skipped.
    let now = t0 + 1045 * MS;
    seqs.clear();
    for _ in 0..100 {
        match player.poll_transmit(now, &mut buf) {
            Some(len) => seqs.push(fields(&buf[..len]).1),
            None => break,
        }
    }
    assert_eq!(seqs.len() as u64, MAX_CATCH_UP_FRAMES + 1);
    assert_eq!(*seqs.last().unwrap(), 52);
    assert_eq!(player.frames_skipped(), 52 - 3 - 3);
    assert_eq!(fields(&buf[..172]).4, 8);
    assert_eq!(player.poll_timeout(), t0 + 53 * 20 * MS);
}

#[test]
fn empty_prompt_plays_silence() {
    let t0 = Instant::now();
    let mut player = HoldPlayer::new(Arc::new(Prompt::from_ulaw("e", vec![])), Codec::Pcma, 8, t0);
    let mut buf = [0u8; 512];
    let len = player.poll_transmit(t0, &mut buf).unwrap();
    assert!(buf[12..len].iter().all(|&b| b == g711::ALAW_SILENCE));
    let mut small = [0u8; 20];
    assert_eq!(player.poll_transmit(t0 + 20 * MS, &mut small), None);
    assert_eq!(player.poll_timeout(), t0 + 40 * MS);
}

#[test]
fn prompt_player_plays_once_then_silence() {
    let t0 = Instant::now();
    // 400 samples: two full frames and half a frame.
    let mut player = PromptPlayer::with_playback(prompt(400), Playback::Once, Codec::Pcmu, 0, t0);
    assert_eq!(player.finishes_at(), Some(t0 + 60 * MS));
    assert_eq!(HoldPlayer::new(prompt(400), Codec::Pcmu, 0, t0).finishes_at(), None);
    let mut buf = [0u8; 512];
    let mut frames = Vec::new();
    for i in 0..5u32 {
        let len = player.poll_transmit(t0 + 20 * MS * i, &mut buf).unwrap();
        assert_eq!(len, 172);
        frames.push(buf[12..len].to_vec());
    }
    let expected = |i: usize| (i % 251) as u8;
    assert!(frames[0].iter().enumerate().all(|(i, &b)| b == expected(i)));
    assert!(frames[1].iter().enumerate().all(|(i, &b)| b == expected(160 + i)));
    assert!(frames[2][..80].iter().enumerate().all(|(i, &b)| b == expected(320 + i)));
    assert!(frames[2][80..].iter().all(|&b| b == g711::ULAW_SILENCE));
    assert!(frames[3..].iter().all(|f| f.iter().all(|&b| b == g711::ULAW_SILENCE)));
    // Skipping past the end (a late wake-up) keeps giving silence at the same pace.
    let len = player.poll_transmit(t0 + 2000 * MS, &mut buf).unwrap();
    assert!(buf[12..len].iter().all(|&b| b == g711::ULAW_SILENCE));
    assert_eq!(player.playback(), Playback::Once);
}
