//! RFC 3261 section 17 timers as plain data: the `Timer` names, the `TimerConfig` holding the
//! base values T1/T2/T4 (injectable so tests can shorten them), and the table that turns a timer
//! plus a transport into its initial duration and its next retransmission interval. Timers L and M
//! come from RFC 6026 (the Accepted state). Timer C is a proxy timer and is not used here.

use std::time::Duration;

use super::Transport;

/// The transaction timers of RFC 3261 table 4 (plus L and M from RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmission interval (client, unreliable transport only).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Wait time for response retransmissions (client INVITE, Completed state).
    D,
    /// Non-INVITE request retransmission interval (client, unreliable transport only).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmission interval (server, unreliable transport only).
    G,
    /// Wait time for ACK receipt (server INVITE, Completed state).
    H,
    /// Wait time for ACK retransmissions (server INVITE, Confirmed state).
    I,
    /// Wait time for non-INVITE request retransmissions (server, Completed state).
    J,
    /// Wait time for response retransmissions (client non-INVITE, Completed state).
    K,
    /// RFC 6026: wait time for accepted INVITE request retransmissions (server, Accepted state).
    L,
    /// RFC 6026: wait time for retransmitted 2xx responses (client, Accepted state).
    M,
}

/// The base timer values; everything else is derived from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Maximum duration a message remains in the network, default 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

impl TimerConfig {
    /// Timer D on unreliable transports: "at least 32 seconds"; we use the larger of 32 s and 64*T1
    /// so that shortened test configs shorten it as well.
    fn timer_d_unreliable(&self) -> Duration {
        if self.t1 < Duration::from_millis(500) {
            self.t1 * 64
        } else {
            (self.t1 * 64).max(Duration::from_secs(32))
        }
    }

    /// Initial duration of `timer` on `transport`. `None` means the timer is not used at all on
    /// that transport (A, E and G on reliable transports). `Some(Duration::ZERO)` means the state
    /// it guards is left immediately (D, I, J, K on reliable transports).
    pub fn initial(&self, timer: Timer, transport: Transport) -> Option<Duration> {
        let reliable = transport.is_reliable();
        let sixty_four_t1 = self.t1 * 64;
        match timer {
            Timer::A | Timer::E | Timer::G => (!reliable).then_some(self.t1),
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => Some(sixty_four_t1),
            Timer::D => Some(if reliable { Duration::ZERO } else { self.timer_d_unreliable() }),
            Timer::I | Timer::K => Some(if reliable { Duration::ZERO } else { self.t4 }),
            Timer::J => Some(if reliable { Duration::ZERO } else { sixty_four_t1 }),
        }
    }

    /// The interval after a retransmission timer that last ran for `previous` fires.
    /// Timer A doubles without bound (Timer B ends it); E and G double up to T2.
    /// `proceeding` is true for a non-INVITE client transaction in the Proceeding state, where
    /// Timer E is reset to T2 (RFC 3261 17.1.2.2).
    pub fn next_interval(&self, timer: Timer, previous: Duration, proceeding: bool) -> Duration {
        match timer {
            Timer::A => previous * 2,
            Timer::E if proceeding => self.t2,
            Timer::E | Timer::G => (previous * 2).min(self.t2),
            // Not a retransmission timer: keep the interval (never used by the layer).
            _ => previous,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn default_table_udp() {
        let c = TimerConfig::default();
        let u = Transport::Udp;
        assert_eq!(c.initial(Timer::A, u), Some(ms(500)));
        assert_eq!(c.initial(Timer::B, u), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::D, u), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::E, u), Some(ms(500)));
        assert_eq!(c.initial(Timer::F, u), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::G, u), Some(ms(500)));
        assert_eq!(c.initial(Timer::H, u), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::I, u), Some(ms(5_000)));
        assert_eq!(c.initial(Timer::J, u), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::K, u), Some(ms(5_000)));
        assert_eq!(c.initial(Timer::L, u), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::M, u), Some(ms(32_000)));
    }

    #[test]
    fn default_table_tcp() {
        let c = TimerConfig::default();
        let t = Transport::Tcp;
        assert_eq!(c.initial(Timer::A, t), None);
        assert_eq!(c.initial(Timer::E, t), None);
        assert_eq!(c.initial(Timer::G, t), None);
        assert_eq!(c.initial(Timer::B, t), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::F, t), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::H, t), Some(ms(32_000)));
        assert_eq!(c.initial(Timer::D, t), Some(Duration::ZERO));
        assert_eq!(c.initial(Timer::I, t), Some(Duration::ZERO));
        assert_eq!(c.initial(Timer::J, t), Some(Duration::ZERO));
        assert_eq!(c.initial(Timer::K, t), Some(Duration::ZERO));
    }

    #[test]
    fn retransmission_intervals() {
        let c = TimerConfig::default();
        let mut a = vec![ms(500)];
        let mut e = vec![ms(500)];
        for _ in 0..6 {
            a.push(c.next_interval(Timer::A, *a.last().unwrap(), false));
            e.push(c.next_interval(Timer::E, *e.last().unwrap(), false));
        }
        assert_eq!(a, [500, 1000, 2000, 4000, 8000, 16000, 32000].map(ms).to_vec());
        assert_eq!(e, [500, 1000, 2000, 4000, 4000, 4000, 4000].map(ms).to_vec());
        assert_eq!(c.next_interval(Timer::E, ms(500), true), ms(4000));
        assert_eq!(c.next_interval(Timer::G, ms(2000), false), ms(4000));
        assert_eq!(c.next_interval(Timer::G, ms(4000), false), ms(4000));
    }

    #[test]
    fn shortened_config_scales() {
        let c = TimerConfig { t1: ms(10), t2: ms(80), t4: ms(100) };
        assert_eq!(c.initial(Timer::B, Transport::Udp), Some(ms(640)));
        assert_eq!(c.initial(Timer::D, Transport::Udp), Some(ms(640)));
        assert_eq!(c.initial(Timer::K, Transport::Udp), Some(ms(100)));
    }
}
