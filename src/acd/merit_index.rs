//! The indexes that make a merit-weighted pick cost O(log n) in the available agents instead of a
//! scan, one [`MeritPool`] per (queue, bullseye ring). Three orders over the same available agents:
//! - the weighted draw is an *exponential race*: an agent of weight `w` that enters holds the key
//!   `clock + E / w` with `E ~ Exp(1)`; the smallest key wins, and the clock moves to the winner's
//!   key. By memorylessness every other agent's remaining `key - clock` is again `Exp(w)`, so each
//!   draw picks an agent with probability `w / (sum of w)` exactly as a scan would, and agents can
//!   join and leave between draws. Agents above the occupancy cap run in a second race of their
//!   own (drawn from only when every available agent is over the cap) and wait in `capped`,
//!   ordered by the time their decaying occupancy falls back under the cap, to join the first;
//! - the floor order: largest `floor_share * (fair - mark) - offers` first (see `FloorLedger` in
//!   `merit.rs`), constant while the agent is available, so the agent furthest below its floor is
//!   the first entry once the ring's credit is added;
//! - a score order plus a `Fenwick` tree of score buckets, so the rank that every offer reports
//!   (agents with a higher score) is a logarithmic count.
//!
//! The merit draw in `merit.rs` owns the keys (in the queue's per-agent stats) and calls these
//! helpers; nothing here knows time except as ordered keys.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeSet;
use std::time::Instant;

/// An `f64` with the total order of `f64::total_cmp`, for use in ordered sets.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key(pub f64);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Number of score buckets of the rank counter; scores are expected in 0..=1 (those outside
/// share the end buckets, where ranks are still exact but counted by walking the bucket).
const SCORE_BUCKETS: usize = 1024;

/// The bucket of a score.
fn bucket(score: f64) -> usize {
    ((score.clamp(0.0, 1.0) * (SCORE_BUCKETS - 1) as f64) as usize).min(SCORE_BUCKETS - 1)
}

/// Counts per bucket with prefix sums in O(log buckets) (a binary indexed tree).
#[derive(Debug, Clone)]
pub(super) struct Fenwick {
    tree: Vec<u32>,
}

impl Fenwick {
    fn new(len: usize) -> Self {
        Fenwick { tree: vec![0; len + 1] }
    }

    fn add(&mut self, index: usize, delta: i32) {
        let mut i = index + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Sum of buckets `0..end`.
    fn prefix(&self, end: usize) -> u32 {
        let mut i = end.min(self.tree.len() - 1);
        let mut sum = 0u32;
        while i > 0 {
            sum = sum.wrapping_add(self.tree[i]);
            i -= i & i.wrapping_neg();
        }
        sum
    }
}

/// Where one available agent sits in a merit pool; kept by the engine while the agent is there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct MeritSlot {
    /// The agent's ring in the queue.
    pub ring: u8,
    /// Ramped score when it entered (reindexed when the score changes).
    pub score: f64,
    /// Idle order, the floor's tie-break.
    pub idle: (Instant, u64),
    /// `floor_share * (fair - mark) - offers`, in ledger units.
    pub floor: f64,
    /// Key in the pool's race (the capped race while `uncap_at` is set).
    pub race: f64,
    /// While over the cap: when the agent falls back under it.
    pub uncap_at: Option<Instant>,
}

/// An exponential race: keys `clock + E / w`; the smallest key wins and moves the clock.
#[derive(Debug, Clone, Default)]
pub(super) struct Race {
    keys: BTreeSet<(Key, usize)>,
    /// The race's current time: the key of the last winner.
    clock: f64,
}

impl Race {
    /// The key of an agent entering now with remaining time `residual = E / w`.
    pub fn key(&self, residual: f64) -> f64 {
        self.clock + residual
    }

    fn insert(&mut self, a: usize, key: f64) {
        self.keys.insert((Key(key), a));
    }

    fn remove(&mut self, a: usize, key: f64) {
        self.keys.remove(&(Key(key), a));
        if self.keys.is_empty() {
            // Nothing is racing: restart the clock so keys stay small and precise.
            self.clock = 0.0;
        }
    }

    /// The leader: its remaining time `key - clock` and the agent.
    pub fn leader(&self) -> Option<(f64, usize)> {
        self.keys.first().map(|&(Key(key), a)| (key - self.clock, a))
    }

    /// Advances the clock by `elapsed` (the winning remaining time of a draw this race was part of).
    pub fn advance(&mut self, elapsed: f64) {
        self.clock += elapsed;
    }
}

/// The merit indexes of one (queue, ring).
#[derive(Debug, Clone)]
pub(super) struct MeritPool {
    /// Agents under the occupancy cap.
    pub race: Race,
    /// Agents over the cap.
    pub capped_race: Race,
    capped: BTreeSet<(Instant, usize)>,
    floor: BTreeSet<(Reverse<Key>, Instant, u64, usize)>,
    scores: BTreeSet<(Reverse<Key>, usize)>,
    buckets: Fenwick,
}

impl Default for MeritPool {
    fn default() -> Self {
        MeritPool {
            race: Race::default(),
            capped_race: Race::default(),
            capped: BTreeSet::new(),
            floor: BTreeSet::new(),
            scores: BTreeSet::new(),
            buckets: Fenwick::new(SCORE_BUCKETS),
        }
    }
}

impl MeritPool {
    pub fn insert(&mut self, a: usize, slot: &MeritSlot) {
        match slot.uncap_at {
            None => self.race.insert(a, slot.race),
            Some(at) => {
                self.capped_race.insert(a, slot.race);
                self.capped.insert((at, a));
            }
        }
        self.floor.insert((Reverse(Key(slot.floor)), slot.idle.0, slot.idle.1, a));
        self.scores.insert((Reverse(Key(slot.score)), a));
        self.buckets.add(bucket(slot.score), 1);
    }

    pub fn remove(&mut self, a: usize, slot: &MeritSlot) {
        match slot.uncap_at {
            None => self.race.remove(a, slot.race),
            Some(at) => {
                self.capped_race.remove(a, slot.race);
                self.capped.remove(&(at, a));
            }
        }
        self.floor.remove(&(Reverse(Key(slot.floor)), slot.idle.0, slot.idle.1, a));
        if self.scores.remove(&(Reverse(Key(slot.score)), a)) {
            self.buckets.add(bucket(slot.score), -1);
        }
    }

    /// The capped agent that falls under the cap first, if its time has come.
    pub fn next_uncapped(&self, now: Instant) -> Option<(Instant, usize)> {
        self.capped.first().copied().filter(|&(at, _)| at <= now)
    }

    /// Moves a capped agent (`slot` as stored) into the race with `key`; updates the slot.
    pub fn uncap(&mut self, a: usize, slot: &mut MeritSlot, key: f64) {
        if let Some(at) = slot.uncap_at.take() {
            self.capped.remove(&(at, a));
            self.capped_race.remove(a, slot.race);
        }
        self.race.insert(a, key);
        slot.race = key;
    }

    /// Re-files a capped agent still over the cap at its computed time (rounding) to `later`.
    pub fn recap(&mut self, a: usize, slot: &mut MeritSlot, later: Instant) {
        if let Some(at) = slot.uncap_at.replace(later) {
            self.capped.remove(&(at, a));
        }
        self.capped.insert((later, a));
    }

    /// The agent furthest below its floor before the ring's credit: (floor key, idle, agent).
    pub fn floor_leader(&self) -> Option<(f64, (Instant, u64), usize)> {
        self.floor.first().map(|&(Reverse(Key(f)), since, seq, a)| (f, (since, seq), a))
    }

    /// Number of available agents with a score strictly above `score`.
    pub fn count_above(&self, score: f64) -> usize {
        let b = bucket(score);
        let total = self.scores.len();
        let at_or_below_bucket = self.buckets.prefix(b + 1) as usize;
        let above_bucket = total.saturating_sub(at_or_below_bucket);
        // Within the bucket: walk from the score upwards while still in the bucket.
        let same_bucket_above = self
            .scores
            .range(..(Reverse(Key(score)), 0))
            .rev()
            .take_while(|(Reverse(Key(s)), _)| bucket(*s) == b)
            .filter(|(Reverse(Key(s)), _)| *s > score)
            .count();
        above_bucket + same_bucket_above
    }

    /// Re-keys every floor entry after the ledger divided its amounts by `k`.
    pub fn rescale_floor(&mut self, k: f64) {
        let entries: Vec<_> = std::mem::take(&mut self.floor).into_iter().collect();
        self.floor =
            entries.into_iter().map(|(Reverse(Key(f)), since, seq, a)| (Reverse(Key(f / k)), since, seq, a)).collect();
    }

    /// Number of agents indexed (racing or capped).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.scores.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenwick_prefix_sums() {
        let mut f = Fenwick::new(16);
        for (i, d) in [(0, 1), (3, 2), (15, 5), (3, -1)] {
            f.add(i, d);
        }
        assert_eq!(f.prefix(0), 0);
        assert_eq!(f.prefix(1), 1);
        assert_eq!(f.prefix(4), 2);
        assert_eq!(f.prefix(16), 7);
    }

    #[test]
    fn ranks_count_strictly_higher_scores() {
        let t = Instant::now();
        let mut pool = MeritPool::default();
        let scores = [0.9, 0.5, 0.5, 0.1, 0.9001, 1.7, -3.0, 0.50001];
        for (a, &score) in scores.iter().enumerate() {
            let slot = MeritSlot { ring: 0, score, idle: (t, a as u64), floor: 0.0, race: a as f64, uncap_at: None };
            pool.insert(a, &slot);
        }
        for &s in &scores {
            let brute = scores.iter().filter(|&&x| x > s).count();
            assert_eq!(pool.count_above(s), brute, "score {s}");
        }
        let slot = MeritSlot { ring: 0, score: 0.9, idle: (t, 0), floor: 0.0, race: 0.0, uncap_at: None };
        pool.remove(0, &slot);
        assert_eq!(pool.count_above(0.5), 3);
        assert_eq!(pool.len(), 7);
    }

    #[test]
    fn race_leader_and_clock() {
        let t = Instant::now();
        let mut pool = MeritPool::default();
        let slot = |a: usize, race: f64, uncap_at| MeritSlot {
            ring: 0,
            score: 0.5,
            idle: (t, a as u64),
            floor: 0.0,
            race,
            uncap_at,
        };
        for (a, residual) in [(0usize, 3.0), (1, 1.0), (2, 2.0)] {
            let key = pool.race.key(residual);
            pool.insert(a, &slot(a, key, None));
        }
        assert_eq!(pool.race.leader(), Some((1.0, 1)));
        pool.race.advance(1.0);
        pool.remove(1, &slot(1, 1.0, None));
        assert_eq!(pool.race.leader(), Some((1.0, 2)), "remaining time is measured from the clock");
        // A capped agent races separately until its time comes, then joins with a fresh key.
        let later = t + std::time::Duration::from_secs(60);
        let mut capped = slot(3, pool.capped_race.key(0.5), Some(later));
        pool.insert(3, &capped);
        assert_eq!(pool.capped_race.leader(), Some((0.5, 3)));
        assert_eq!(pool.next_uncapped(t), None);
        assert_eq!(pool.next_uncapped(later), Some((later, 3)));
        let key = pool.race.key(0.25);
        pool.uncap(3, &mut capped, key);
        assert_eq!((capped.uncap_at, pool.capped_race.leader()), (None, None));
        assert_eq!(pool.race.leader(), Some((0.25, 3)));
        assert_eq!(pool.len(), 3);
    }
}
