//! Scoring tests: every KPI from hand-built event sequences, shrinkage, the two anti-gaming
//! rules, idempotency, windows, leaderboards, score-change emission, pruning, the repeat marking
//! against a brute-force reference and the bounds of the per-call state over long runs.

use super::*;
use crate::events::{CallEvent, EventKind, HangupSide, NoAnswerReason, StoredEvent, SCHEMA_VERSION};

/// Midnight UTC, 2024-10-04.
const T0: i64 = 20_000 * DAY_MS;
const S: i64 = 1000;

struct Feed {
    scoring: Scoring,
    offset: i64,
    calls: u64,
    log: Vec<StoredEvent>,
    /// Keep every pushed event in `log` (off for long runs).
    keep_log: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum End {
    Caller,
    Agent,
    Transfer,
    /// The survey started; the caller answered the CSAT question with this digit, if at all.
    Survey(Option<u8>),
}

#[derive(Clone)]
struct Call<'a> {
    queue: &'a str,
    agent: &'a str,
    ani: String,
    at: i64,
    talk_s: i64,
    hold_s: i64,
    wrapup_s: u32,
    end: End,
    disposition: Option<(&'a str, Option<f64>)>,
    /// Offers to other agents (or this one) that failed before the answered one.
    missed: Vec<(&'a str, NoAnswerReason)>,
}

fn call<'a>(queue: &'a str, agent: &'a str, ani: &str, at: i64) -> Call<'a> {
    Call {
        queue,
        agent,
        ani: ani.to_string(),
        at,
        talk_s: 300,
        hold_s: 0,
        wrapup_s: 0,
        end: End::Caller,
        disposition: None,
        missed: Vec::new(),
    }
}

impl Feed {
    fn new(config: ScoringConfig) -> Feed {
        Feed {
            scoring: Scoring::new(config).expect("valid config"),
            offset: 0,
            calls: 0,
            log: Vec::new(),
            keep_log: true,
        }
    }

    /// A feed that does not keep the events it pushed.
    fn unlogged(config: ScoringConfig) -> Feed {
        Feed { keep_log: false, ..Feed::new(config) }
    }

    fn push(&mut self, call_id: &str, at_ms: i64, agent: Option<&str>, kind: EventKind) -> bool {
        self.offset += 1;
        let event = CallEvent { call_id: call_id.into(), seq: 0, at_ms, agent: agent.map(String::from), kind };
        let stored = StoredEvent { offset: self.offset, schema: SCHEMA_VERSION, event };
        let applied = self.scoring.handle_event(&stored);
        if self.keep_log {
            self.log.push(stored);
        }
        applied
    }

    /// Emits the whole event sequence of one call, in time order.
    fn call(&mut self, c: &Call) -> String {
        self.calls += 1;
        let id = format!("call-{}", self.calls);
        let a = Some(c.agent);
        let mut evs: Vec<(i64, Option<&str>, EventKind)> = Vec::new();
        let mut t = c.at;
        evs.push((t, None, EventKind::CallOffered { ani: c.ani.clone(), did: "+1800".into(), trunk: "t".into() }));
        t += S;
        evs.push((t, None, EventKind::CallQueued { queue: c.queue.into() }));
        for (who, reason) in &c.missed {
            t += S;
            evs.push((t, Some(*who), EventKind::AgentOffered { agent: (*who).into(), attempt: 1, why: None }));
            t += S;
            evs.push((
                t,
                Some(*who),
                EventKind::AgentNoAnswer { agent: (*who).into(), reason: *reason, sip_status: None },
            ));
        }
        t += S;
        evs.push((t, a, EventKind::AgentOffered { agent: c.agent.into(), attempt: 1, why: None }));
        evs.push((t, a, EventKind::AgentRinging { agent: c.agent.into() }));
        t += 2 * S;
        evs.push((t, a, EventKind::AgentAnswered { agent: c.agent.into() }));
        evs.push((t, a, EventKind::CallBridged { agent: c.agent.into() }));
        let bridged = t;
        if c.hold_s > 0 {
            evs.push((bridged + 10 * S, a, EventKind::CallHold {}));
            evs.push((bridged + 10 * S + c.hold_s * S, a, EventKind::CallUnhold {}));
        }
        let end = bridged + c.talk_s * S;
        let wrapup_end = end + i64::from(c.wrapup_s) * S;
        let call_end = match c.end {
            End::Caller | End::Agent => end,
            End::Transfer => {
                evs.push((end, a, EventKind::CallTransferred { to: "billing".into() }));
                end + 60 * S
            }
            End::Survey(digit) => {
                evs.push((end, None, EventKind::SurveyStarted { questions: vec!["csat".into()] }));
                if let Some(digit) = digit {
                    evs.push((end + 10 * S, None, EventKind::SurveyAnswered { question: "csat".into(), digit }));
                }
                end + 20 * S
            }
        };
        if c.wrapup_s > 0 {
            evs.push((end, a, EventKind::WrapUpStarted { agent: c.agent.into(), seconds: c.wrapup_s }));
        }
        let side = match c.end {
            End::Agent => HangupSide::Agent,
            End::Survey(_) => HangupSide::System,
            _ => HangupSide::Caller,
        };
        evs.push((call_end, None, EventKind::CallEnded { side, cause: "normal".into(), sip_status: None }));
        if c.wrapup_s > 0 {
            evs.push((wrapup_end.max(call_end), a, EventKind::WrapUpEnded { agent: c.agent.into() }));
        }
        if let Some((outcome, revenue)) = c.disposition {
            evs.push((end + S, a, EventKind::DispositionRecorded { outcome: outcome.into(), revenue }));
        }
        evs.sort_by_key(|e| e.0);
        for (at, agent, kind) in evs {
            self.push(&id, at, agent, kind);
        }
        id
    }

    fn window(&self, agent: &str, queue: &str, now: i64, window: Window) -> WindowKpis {
        let kpis = self.scoring.kpis(agent, now);
        let q = kpis.queues.into_iter().find(|q| q.queue == queue).expect("agent active in queue");
        q.windows.into_iter().find(|w| w.window == window).expect("window")
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn survey_config() -> ScoringConfig {
    let mut config = ScoringConfig::default();
    config.default.survey_enabled = true;
    config
}

const NOW: i64 = T0 + 40 * DAY_MS + 12 * 3_600_000;

#[test]
fn answer_rate_ignores_unreachable_phones_and_abandoned_rings() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - DAY_MS;
    let mut c = call("sales", "ann", "+1", at);
    c.missed = vec![("ann", NoAnswerReason::NoAnswer), ("ann", NoAnswerReason::Rejected)];
    f.call(&c);
    let mut c = call("sales", "ann", "+2", at + 3_600_000);
    c.missed = vec![("ann", NoAnswerReason::Unreachable)];
    f.call(&c);
    f.call(&call("sales", "ann", "+3", at + 7_200_000));
    // An offer cut short by the caller hanging up while it rang is not the agent's.
    f.push(
        "rung",
        at + 9_000_000,
        None,
        EventKind::CallOffered { ani: "+4".into(), did: "d".into(), trunk: "t".into() },
    );
    f.push("rung", at + 9_001_000, None, EventKind::CallQueued { queue: "sales".into() });
    f.push("rung", at + 9_002_000, Some("ann"), EventKind::AgentOffered { agent: "ann".into(), attempt: 1, why: None });
    f.push("rung", at + 9_003_000, None, EventKind::CallAbandoned { queue: "sales".into(), wait_ms: 2000 });
    let kind = EventKind::CallEnded { side: HangupSide::Caller, cause: "abandoned".into(), sip_status: None };
    f.push("rung", at + 9_003_000, None, kind);
    let w = f.window("ann", "sales", NOW, Window::Last7Days);
    assert_eq!(w.agent.offers, 5);
    assert!(close(w.agent.answer_rate, 3.0 / 5.0), "{:?}", w.agent.answer_rate);
}

#[test]
fn an_overflowed_call_counts_in_the_queue_it_moved_to() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - DAY_MS;
    let offered = EventKind::CallOffered { ani: "+1".into(), did: "d".into(), trunk: "t".into() };
    f.push("moved", at, None, offered);
    f.push("moved", at + S, None, EventKind::CallQueued { queue: "sales".into() });
    let overflowed =
        EventKind::CallOverflowed { from_queue: "sales".into(), to_queue: "backup".into(), waited_ms: 30_000 };
    f.push("moved", at + 31 * S, None, overflowed);
    f.push("moved", at + 31 * S, Some("bo"), EventKind::AgentOffered { agent: "bo".into(), attempt: 1, why: None });
    f.push("moved", at + 33 * S, Some("bo"), EventKind::AgentAnswered { agent: "bo".into() });
    f.push("moved", at + 33 * S, Some("bo"), EventKind::CallBridged { agent: "bo".into() });
    let ended = EventKind::CallEnded { side: HangupSide::Caller, cause: "normal".into(), sip_status: None };
    f.push("moved", at + 133 * S, None, ended);
    let w = f.window("bo", "backup", NOW, Window::Last7Days);
    assert_eq!((w.agent.offers, w.agent.handled), (1, 1));
    assert!(close(w.agent.aht_s, 100.0), "{:?}", w.agent.aht_s);
    assert!(f.scoring.kpis("bo", NOW).queues.iter().all(|q| q.queue != "sales"), "nothing left in sales");
}

#[test]
fn handle_time_is_talk_plus_hold_plus_wrapup_and_ends_at_transfer() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - 2 * DAY_MS;
    let mut c = call("care", "bo", "+1", at);
    c.talk_s = 300;
    c.hold_s = 60;
    c.wrapup_s = 30;
    f.call(&c);
    let mut c = call("care", "bo", "+2", at + 3_600_000);
    c.talk_s = 100;
    f.call(&c);
    let mut c = call("care", "bo", "+3", at + 7_200_000);
    c.talk_s = 120;
    c.end = End::Transfer;
    f.call(&c);
    let w = f.window("bo", "care", NOW, Window::Last7Days);
    assert_eq!(w.agent.handled, 3);
    assert!(close(w.agent.aht_s, (330.0 + 100.0 + 120.0) / 3.0), "{:?}", w.agent.aht_s);
    assert!(close(w.agent.hold_s, 60.0 / 3.0), "{:?}", w.agent.hold_s);
}

#[test]
fn wrapup_counts_the_announced_seconds_until_it_ends() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - DAY_MS;
    let c = call("care", "bo", "+1", at);
    let id = f.call(&c);
    let end = at + 4 * S + 300 * S;
    f.push(&id, end, Some("bo"), EventKind::WrapUpStarted { agent: "bo".into(), seconds: 45 });
    assert!(close(f.window("bo", "care", NOW, Window::Last7Days).agent.aht_s, 345.0));
    f.push(&id, end + 20 * S, Some("bo"), EventKind::WrapUpEnded { agent: "bo".into() });
    assert!(close(f.window("bo", "care", NOW, Window::Last7Days).agent.aht_s, 320.0));
}

#[test]
fn conversion_and_revenue_per_call_come_from_dispositions() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - DAY_MS;
    let outcomes = [Some(("SALE", Some(100.0))), Some(("no_sale", None)), Some(("sale", Some(20.0))), None];
    for (i, d) in outcomes.into_iter().enumerate() {
        let mut c = call("sales", "cy", &format!("+{i}"), at + i as i64 * 3_600_000);
        c.disposition = d;
        c.wrapup_s = 10;
        f.call(&c);
    }
    let w = f.window("cy", "sales", NOW, Window::Last7Days);
    assert!(close(w.agent.conversion, 0.5));
    assert!(close(w.agent.revenue_per_call, 30.0));
}

#[test]
fn csat_mean_and_top_two_box_from_survey_answers() {
    let mut f = Feed::new(survey_config());
    let at = NOW - DAY_MS;
    for (i, d) in [Some(5), Some(4), Some(2), None, Some(9)].into_iter().enumerate() {
        let mut c = call("care", "di", &format!("+{i}"), at + i as i64 * 3_600_000);
        c.end = End::Survey(d);
        f.call(&c);
    }
    let w = f.window("di", "care", NOW, Window::Last7Days);
    // The unanswered survey and the out-of-range digit are not observations.
    assert_eq!(w.agent.csat_observations, 3);
    assert!(close(w.agent.csat_mean, 11.0 / 3.0));
    assert!(close(w.agent.csat_top2, 2.0 / 3.0));
    assert_eq!(w.agent.survey_penalties, 0);
    assert!(close(w.agent.survey_avoidance_rate, 0.0));
}

#[test]
fn first_call_resolution_looks_for_repeats_from_the_same_ani_to_the_same_queue() {
    let mut f = Feed::new(ScoringConfig::default());
    let t = NOW - 20 * DAY_MS;
    f.call(&call("care", "ed", "+A", t));
    f.call(&call("care", "ed", "+A", t + 48 * 3_600_000)); // repeats the first
    f.call(&call("care", "ed", "+B", t));
    f.call(&call("care", "ed", "+B", t + 80 * 3_600_000)); // after the horizon: not a repeat
    f.call(&call("care", "ed", "+C", t));
    f.call(&call("other", "ed", "+C", t + 3_600_000)); // another queue: not a repeat
    f.call(&call("care", "ed", "+D", NOW - 3_600_000)); // horizon still open: not in the sample
    let w = f.window("ed", "care", NOW, Window::Last30Days);
    assert_eq!(w.agent.handled, 6);
    assert_eq!(w.agent.fcr_sample, 5);
    assert!(close(w.agent.fcr, 4.0 / 5.0), "{:?}", w.agent.fcr);
    let today = f.window("ed", "care", NOW, Window::Today);
    assert_eq!(today.agent.fcr_sample, 0);
    assert_eq!(today.agent.fcr, None);
}

#[test]
fn transfers_and_agent_hangups_are_survey_avoidance_and_penalty_answers() {
    let mut f = Feed::new(survey_config());
    let at = NOW - DAY_MS;
    for (i, end) in [End::Transfer, End::Agent, End::Survey(Some(5)), End::Caller].into_iter().enumerate() {
        let mut c = call("care", "fay", &format!("+{i}"), at + i as i64 * 3_600_000);
        c.end = end;
        f.call(&c);
    }
    let w = f.window("fay", "care", NOW, Window::Last7Days);
    assert!(close(w.agent.transfer_rate, 0.25));
    assert!(close(w.agent.survey_avoidance_rate, 0.5));
    assert_eq!(w.agent.survey_penalties, 2);
    assert_eq!(w.agent.csat_observations, 3);
    assert!(close(w.agent.csat_mean, 7.0 / 3.0), "{:?}", w.agent.csat_mean);
    assert!(close(w.agent.csat_top2, 1.0 / 3.0));
}

#[test]
fn skipping_the_survey_lowers_the_survey_score() {
    let run = |survey_enabled: bool| {
        let mut config = ScoringConfig::default();
        config.default.survey_enabled = survey_enabled;
        let mut f = Feed::new(config);
        let at = NOW - 2 * DAY_MS;
        for i in 0..20 {
            let t = at + i * 600_000;
            let mut honest = call("care", "gus", &format!("+g{i}"), t);
            honest.end = End::Survey(Some(4));
            f.call(&honest);
            let mut dodger = call("care", "hal", &format!("+h{i}"), t);
            dodger.end = if i % 2 == 0 {
                End::Survey(Some(4))
            } else if i % 4 == 1 {
                End::Agent
            } else {
                End::Transfer
            };
            f.call(&dodger);
        }
        (f.window("gus", "care", NOW, Window::Last7Days), f.window("hal", "care", NOW, Window::Last7Days))
    };
    let (gus, hal) = run(true);
    assert!(close(hal.agent.csat_mean, (10.0 * 4.0 + 10.0) / 20.0), "{:?}", hal.agent.csat_mean);
    assert!(hal.kpi_scores.csat_mean < gus.kpi_scores.csat_mean);
    assert!(hal.score < gus.score);
    // Without a survey in the queue the same calls are not CSAT observations.
    let (_, hal) = run(false);
    assert!(close(hal.agent.csat_mean, 4.0));
    assert_eq!(hal.agent.survey_penalties, 0);
}

#[test]
fn short_calls_with_many_repeat_callers_earn_no_aht_credit() {
    let mut f = Feed::new(ScoringConfig { prior_strength: 5.0, ..ScoringConfig::default() });
    let at = NOW - 6 * DAY_MS;
    for i in 0..30 {
        let t = at + i * 3_600_000;
        for agent in ["ivy", "jon", "kim", "lee"] {
            f.call(&call("care", agent, &format!("+{agent}{i}"), t));
        }
        // Gamer: one-minute calls, every caller calls back an hour later (handled by ivy).
        let mut short = call("care", "max", &format!("+max{i}"), t);
        short.talk_s = 60;
        f.call(&short);
        f.call(&call("care", "ivy", &format!("+max{i}"), t + 3_600_000));
        // Efficient: one-minute calls that resolve the issue.
        let mut quick = call("care", "ned", &format!("+ned{i}"), t);
        quick.talk_s = 60;
        f.call(&quick);
    }
    let max = f.window("max", "care", NOW, Window::Last30Days);
    let ned = f.window("ned", "care", NOW, Window::Last30Days);
    assert!(close(max.agent.fcr, 0.0));
    assert!(max.kpi_scores.aht.is_some_and(|s| s > 0.6), "{:?}", max.kpi_scores.aht);
    assert!(max.aht_credit_capped);
    assert!(!ned.aht_credit_capped);
    assert!(ned.score > max.score);
    // Capped at neutral: the AHT contributes exactly 0.5 to max's score.
    let w = ScoringConfig::default().default;
    let k = &max.kpi_scores;
    let expected = (w.answer_rate * k.answer_rate.unwrap_or(0.0)
        + w.aht * 0.5
        + w.fcr * k.fcr.unwrap_or(0.0)
        + w.transfer_rate * k.transfer_rate.unwrap_or(0.0))
        / (w.answer_rate + w.aht + w.fcr + w.transfer_rate);
    assert!((max.score - expected).abs() < 1e-9, "{} vs {expected}", max.score);
    // The same gate applies in the 7-day window (it looks at 30-day quality).
    assert!(f.window("max", "care", NOW, Window::Last7Days).aht_credit_capped);
}

fn csat_only_config() -> ScoringConfig {
    let weights = QueueWeights {
        answer_rate: 0.0,
        aht: 0.0,
        conversion: 0.0,
        revenue_per_call: 0.0,
        csat_mean: 1.0,
        csat_top2: 0.0,
        fcr: 0.0,
        transfer_rate: 0.0,
        survey_avoidance: 0.0,
        survey_enabled: true,
    };
    ScoringConfig { default: weights, ..ScoringConfig::default() }
}

#[test]
fn three_perfect_calls_do_not_outrank_two_hundred_very_good_ones() {
    let mut f = Feed::new(csat_only_config());
    let at = NOW - 6 * DAY_MS;
    let mut n = 0;
    let mut survey = |f: &mut Feed, agent: &str, digit: u8| {
        n += 1;
        let mut c = call("care", agent, &format!("+{n}"), at + n * 500 * S);
        c.end = End::Survey(Some(digit));
        c.talk_s = 100;
        f.call(&c);
    };
    for agent in ["m1", "m2", "m3", "m4", "m5"] {
        for i in 0..100 {
            survey(&mut f, agent, if i % 2 == 0 { 3 } else { 4 });
        }
    }
    for i in 0..200 {
        survey(&mut f, "pro", if i % 5 == 0 { 4 } else { 5 });
    }
    for _ in 0..3 {
        survey(&mut f, "lucky", 5);
    }
    let board = f.scoring.leaderboard("care", NOW, Window::Last7Days);
    let order: Vec<&str> = board.iter().map(|r| r.agent.as_str()).collect();
    assert_eq!(order.first(), Some(&"pro"), "{order:?}");
    assert_eq!(order.get(1), Some(&"lucky"), "{order:?}");
    assert!(board.iter().any(|r| r.agent == "lucky" && close(r.csat_mean, 5.0)));
}

#[test]
fn an_agent_without_calls_scores_the_queue_mean() {
    let mut f = Feed::new(survey_config());
    let at = NOW - DAY_MS;
    for i in 0..10 {
        let mut c = call("care", "oz", &format!("+{i}"), at + i * 600 * S);
        c.end = if i % 3 == 0 { End::Transfer } else { End::Survey(Some(3 + (i % 3) as u8)) };
        c.talk_s = 100 + i * 20;
        f.call(&c);
    }
    f.call(&call("care", "pia", "+x", at));
    let ledger = f.scoring.ledger.queues.get("care").expect("queue");
    let config = f.scoring.config().clone();
    let board = kpi::Board::build("care", ledger, Window::Last7Days, NOW, &config);
    let scored = kpi::Scored::new(&board, &board, config.weights("care"), &config);
    let nobody = scored.result("nobody", &config);
    assert_eq!(nobody.values.handled, 0);
    assert!((nobody.score - 0.5).abs() < 1e-12, "{}", nobody.score);
    for s in nobody.kpi_scores.fields().into_iter().flatten() {
        assert!((s - 0.5).abs() < 1e-12);
    }
}

#[test]
fn replayed_offsets_are_ignored() {
    let mut f = Feed::new(survey_config());
    let mut c = call("care", "quin", "+1", NOW - DAY_MS);
    c.end = End::Survey(Some(5));
    c.disposition = Some(("sale", Some(10.0)));
    f.call(&c);
    let before = f.scoring.kpis("quin", NOW);
    let last = f.scoring.last_offset();
    let log = f.log.clone();
    for stored in &log {
        assert!(!f.scoring.handle_event(stored), "offset {} applied twice", stored.offset);
    }
    assert_eq!(f.scoring.kpis("quin", NOW), before);
    assert_eq!(f.scoring.last_offset(), last);
    assert_eq!(last, log.last().map(|e| e.offset));
}

#[test]
fn windows_cover_today_seven_and_thirty_days() {
    let mut f = Feed::new(ScoringConfig::default());
    f.call(&call("care", "rex", "+1", NOW - 8 * DAY_MS));
    f.call(&call("care", "rex", "+2", NOW - 2 * 3_600_000));
    f.call(&call("care", "rex", "+3", NOW - 31 * DAY_MS));
    let handled = |w: Window| f.window("rex", "care", NOW, w).agent.handled;
    assert_eq!(handled(Window::Today), 1);
    assert_eq!(handled(Window::Last7Days), 1);
    assert_eq!(handled(Window::Last30Days), 2);
    assert_eq!(Window::Today.bounds(NOW).0, T0 + 40 * DAY_MS);
    let json = serde_json::to_string(&Window::ALL).expect("json");
    assert_eq!(json, r#"["today","7d","30d"]"#);
}

#[test]
fn leaderboard_is_force_ranked_by_score_then_calls_then_name() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - 3 * DAY_MS;
    let mut n = 0;
    let mut take = |f: &mut Feed, agent: &str, calls: usize, missed: bool| {
        for _ in 0..calls {
            n += 1;
            let mut c = call("care", agent, &format!("+{n}"), at + n * 600 * S);
            if missed {
                c.missed = vec![(agent, NoAnswerReason::NoAnswer)];
            }
            f.call(&c);
        }
    };
    take(&mut f, "bob", 10, false);
    take(&mut f, "amy", 10, false);
    take(&mut f, "cat", 20, false);
    take(&mut f, "dan", 10, true);
    let board = f.scoring.leaderboard("care", NOW, Window::Last7Days);
    let order: Vec<(u32, &str)> = board.iter().map(|r| (r.rank, r.agent.as_str())).collect();
    assert_eq!(order, [(1, "cat"), (2, "amy"), (3, "bob"), (4, "dan")]);
    assert!(board.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(board.first().map(|r| r.calls), Some(20));
    assert!(board.last().is_some_and(|r| close(r.answer_rate, 0.5)));
    assert!(f.scoring.leaderboard("nope", NOW, Window::Today).is_empty());
}

#[test]
fn score_changes_are_emitted_only_when_they_move() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - 3 * DAY_MS;
    for i in 0..50 {
        f.call(&call("care", "sam", &format!("+s{i}"), at + i * 600 * S));
        f.call(&call("care", "tia", &format!("+t{i}"), at + i * 600 * S));
    }
    let mut first = Vec::new();
    while let Some(change) = f.scoring.poll_score_change() {
        first.push(change);
    }
    let agents: Vec<&str> = first.iter().map(|c| c.agent.as_str()).collect();
    assert_eq!(agents, ["sam", "tia"]);
    assert!(first.iter().all(|c| c.queue == "care" && (c.score - 0.5).abs() < 1e-9));
    assert_eq!(f.scoring.poll_score_change(), None);
    // One more ordinary call moves nothing.
    f.call(&call("care", "sam", "+s50", at + 60 * 600 * S));
    assert_eq!(f.scoring.poll_score_change(), None);
    // Tia transfers twenty calls away: her score drops, sam's rises relative to the new mean.
    for i in 0..20 {
        let mut c = call("care", "tia", &format!("+x{i}"), at + (70 + i) * 600 * S);
        c.end = End::Transfer;
        f.call(&c);
    }
    let mut changes = Vec::new();
    while let Some(change) = f.scoring.poll_score_change() {
        changes.push(change);
    }
    let tia = changes.iter().find(|c| c.agent == "tia").expect("tia changed");
    let sam = changes.iter().find(|c| c.agent == "sam").expect("sam changed");
    assert!(tia.score < 0.5 && sam.score > 0.5, "{changes:?}");
    let scores = f.scoring.scores(f.scoring.clock_ms());
    assert!(scores.iter().any(|s| s.agent == "tia" && (s.score - tia.score).abs() < 1e-12));
    // Eight quiet days later both left the 7-day window: they fall back to the queue mean once.
    f.scoring.handle_tick(f.scoring.clock_ms() + 8 * DAY_MS);
    let mut back = Vec::new();
    while let Some(change) = f.scoring.poll_score_change() {
        back.push(change);
    }
    assert_eq!(back.len(), 2, "{back:?}");
    assert!(back.iter().all(|c| c.score == 0.5));
    f.scoring.handle_tick(f.scoring.clock_ms() + DAY_MS);
    assert_eq!(f.scoring.poll_score_change(), None);
}

#[test]
fn distributions_summarise_each_queue_without_agent_labels() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - 3 * DAY_MS;
    let mut n = 0;
    for (agent, talk) in [("u1", 100), ("u2", 200), ("u3", 300), ("u4", 400), ("u5", 500)] {
        for _ in 0..10 {
            n += 1;
            let mut c = call("care", agent, &format!("+{n}"), at + n * 600 * S);
            c.talk_s = talk;
            f.call(&c);
        }
    }
    let dist = f.scoring.score_distributions(NOW, Window::Last7Days);
    assert_eq!(dist.len(), 1);
    let d = &dist[0];
    assert_eq!((d.queue.as_str(), d.agents), ("care", 5));
    assert!(d.min <= d.p25 && d.p25 <= d.median && d.median <= d.p75 && d.p75 <= d.max);
    let board = f.scoring.leaderboard("care", NOW, Window::Last7Days);
    assert_eq!(board.first().map(|r| r.agent.as_str()), Some("u1"));
    assert!(board.first().is_some_and(|r| (r.score - d.max).abs() < 1e-12));
    assert!(board.get(2).is_some_and(|r| (r.score - d.median).abs() < 1e-12));
    assert!(f.scoring.score_distributions(NOW, Window::Today).is_empty());
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.25), 2.0);
    assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
    assert_eq!(d.quantiles()[2], ("0.5", d.median));
}

#[test]
fn observations_older_than_the_horizon_are_pruned() {
    let mut f = Feed::new(ScoringConfig::default());
    for i in 0..5 {
        f.call(&call("care", "vic", &format!("+{i}"), T0 + i * DAY_MS));
    }
    // Per-call state lasts two days, observations 30 days + 72 h.
    assert_eq!(f.scoring.ledger.retained(), (5, 5, 2));
    // 40 days on, only the new call remains.
    f.call(&call("care", "vic", "+9", T0 + 40 * DAY_MS));
    assert_eq!(f.scoring.ledger.retained(), (1, 1, 1));
    assert!(f.scoring.ledger.repeat_index_len() <= 1);
}

#[test]
fn outputs_serialize_to_json() {
    let mut f = Feed::new(survey_config());
    let mut c = call("care", "wes", "+1", NOW - DAY_MS);
    c.end = End::Survey(Some(5));
    f.call(&c);
    let kpis = serde_json::to_value(f.scoring.kpis("wes", NOW)).expect("json");
    assert_eq!(kpis["queues"][0]["windows"][1]["window"], "7d");
    assert!(kpis["queues"][0]["windows"][1]["percentiles"]["csat_mean"].is_number());
    let board = serde_json::to_value(f.scoring.leaderboard("care", NOW, Window::Last7Days)).expect("json");
    assert_eq!(board[0]["rank"], 1);
}

#[test]
fn config_loads_from_toml_and_rejects_bad_values() {
    let text = r#"
        prior_strength = 10.0
        push_window = "30d"
        [default]
        csat_mean = 2.0
        [queues.sales]
        conversion = 3.0
        revenue_per_call = 1.0
        survey_enabled = true
    "#;
    let config: ScoringConfig = toml::from_str(text).expect("toml");
    assert!(config.validate().is_ok());
    assert_eq!(config.push_window, Window::Last30Days);
    assert_eq!(config.weights("sales").conversion, 3.0);
    assert!(config.weights("sales").survey_enabled);
    assert_eq!(config.weights("other").csat_mean, 2.0);
    let mut bad = config.clone();
    bad.queues.entry("sales".into()).or_default().aht = -1.0;
    let err = Scoring::new(bad).expect_err("negative weight");
    assert_eq!(err.status_code(), 422);
    let bad = ScoringConfig { survey_penalty: 0.0, ..config };
    assert!(matches!(bad.validate(), Err(ScoringError::OutOfRange { field: "survey_penalty", .. })));
}

#[test]
fn percentiles_rank_agents_within_their_queue() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - 3 * DAY_MS;
    let mut n = 0;
    for (agent, talk) in [("y1", 100), ("y2", 200), ("y3", 300)] {
        for _ in 0..10 {
            n += 1;
            let mut c = call("care", agent, &format!("+{n}"), at + n * 600 * S);
            c.talk_s = talk;
            f.call(&c);
        }
    }
    let pct = |agent: &str| f.window(agent, "care", NOW, Window::Last7Days).percentiles.aht;
    assert_eq!(pct("y1"), Some(100.0));
    assert_eq!(pct("y2"), Some(50.0));
    assert_eq!(pct("y3"), Some(0.0));
    // Everyone answered everything: all tie at the middle.
    assert_eq!(f.window("y1", "care", NOW, Window::Last7Days).percentiles.answer_rate, Some(50.0));
}

fn arbitrary_kind(kind: u8, agent: &str, n: u8) -> EventKind {
    let agent = agent.to_string();
    let queue = if n.is_multiple_of(2) { "care" } else { "sales" }.to_string();
    match kind % 19 {
        0 => EventKind::CallOffered { ani: format!("+{}", n % 4), did: "d".into(), trunk: "t".into() },
        1 => EventKind::CallQueued { queue },
        2 => EventKind::AgentOffered { agent, attempt: 1, why: None },
        3 => EventKind::AgentRinging { agent },
        4 => {
            let reason = [NoAnswerReason::NoAnswer, NoAnswerReason::Rejected, NoAnswerReason::Unreachable];
            EventKind::AgentNoAnswer { agent, reason: reason[usize::from(n % 3)], sip_status: None }
        }
        5 => EventKind::AgentAnswered { agent },
        6 => EventKind::CallBridged { agent },
        7 => EventKind::CallAbandoned { queue, wait_ms: 5 },
        8 => EventKind::WrapUpStarted { agent, seconds: u32::from(n) },
        9 => EventKind::WrapUpEnded { agent },
        10 => {
            let side = [HangupSide::Caller, HangupSide::Agent, HangupSide::System];
            EventKind::CallEnded { side: side[usize::from(n % 3)], cause: "x".into(), sip_status: None }
        }
        11 => EventKind::DispositionRecorded {
            outcome: if n.is_multiple_of(2) { "sale" } else { "other" }.into(),
            revenue: [None, Some(f64::NAN), Some(-5.0), Some(1e12)][usize::from(n % 4)],
        },
        12 => EventKind::CallTransferred { to: "x".into() },
        13 => EventKind::CallHold {},
        14 => EventKind::CallUnhold {},
        15 => EventKind::SurveyStarted { questions: vec!["csat".into()] },
        16 => EventKind::SurveyAnswered { question: "csat".into(), digit: n % 10 },
        17 => EventKind::SurveyAbandoned { question: None },
        _ => EventKind::SurveyAnswered { question: "other".into(), digit: n },
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any event soup (out-of-order kinds, unknown calls, huge or negative revenue, time jumps)
    /// leaves every output finite and in range.
    #[test]
    fn arbitrary_streams_keep_outputs_in_range(
        events in proptest::collection::vec((0u8..12, 0u8..19, 0u8..4, proptest::prelude::any::<u8>(), 0i64..2_000_000_000), 0..300),
    ) {
        let mut config = survey_config();
        config.queues.insert("sales".into(), QueueWeights { conversion: 1.0, revenue_per_call: 1.0, ..QueueWeights::default() });
        let mut f = Feed::new(config);
        let mut at = T0;
        for (call_no, kind, agent, n, dt) in events {
            at += if dt > 1_900_000_000 { 40 * DAY_MS } else { dt };
            let agent = format!("a{agent}");
            f.push(&format!("c{call_no}"), at, Some(&agent), arbitrary_kind(kind, &agent, n));
        }
        let now = f.scoring.clock_ms();
        let in_unit = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        for queue in f.scoring.queues() {
            for window in Window::ALL {
                let board = f.scoring.leaderboard(&queue, now, window);
                for (i, row) in board.iter().enumerate() {
                    proptest::prop_assert!(in_unit(row.score), "{row:?}");
                    proptest::prop_assert_eq!(row.rank as usize, i + 1);
                }
            }
        }
        for agent in ["a0", "a1", "a2", "a3"] {
            let kpis = f.scoring.kpis(agent, now);
            for w in kpis.queues.iter().flat_map(|q| q.windows.iter()) {
                proptest::prop_assert!(in_unit(w.score), "{w:?}");
                for s in w.kpi_scores.fields().into_iter().flatten() {
                    proptest::prop_assert!(in_unit(s), "{w:?}");
                }
                for p in w.percentiles.fields().into_iter().flatten() {
                    proptest::prop_assert!((0.0..=100.0).contains(&p), "{w:?}");
                }
            }
            proptest::prop_assert!(serde_json::to_string(&kpis).is_ok());
        }
        for d in f.scoring.score_distributions(now, Window::Last30Days) {
            proptest::prop_assert!(d.min <= d.p25 && d.p25 <= d.median && d.median <= d.p75 && d.p75 <= d.max);
        }
        let mut polls = 0;
        while let Some(change) = f.scoring.poll_score_change() {
            proptest::prop_assert!(in_unit(change.score));
            polls += 1;
            proptest::prop_assert!(polls < 1000);
        }
    }
}

#[test]
fn score_pushes_are_throttled_to_the_push_interval() {
    const INTERVAL: i64 = 600 * S;
    let mut f = Feed::new(ScoringConfig { push_interval_ms: INTERVAL, ..ScoringConfig::default() });
    let at = NOW - DAY_MS;
    for i in 0..10 {
        f.call(&call("care", "ula", &format!("+u{i}"), at + i * 600 * S));
        f.call(&call("care", "val", &format!("+v{i}"), at + i * 600 * S));
    }
    assert!(f.scoring.poll_score_change().is_some(), "a never-scored queue is due at once");
    while f.scoring.poll_score_change().is_some() {}
    let scored_at = f.scoring.clock_ms();
    assert_eq!(f.scoring.poll_timeout(), None);
    // Val transfers a burst of calls within the next ten minutes: dirty, but not due yet.
    for i in 0..10 {
        let mut c = call("care", "val", &format!("+w{i}"), scored_at + S);
        c.end = End::Transfer;
        f.call(&c);
    }
    assert!(f.scoring.clock_ms() < scored_at + INTERVAL);
    assert_eq!(f.scoring.poll_score_change(), None);
    assert_eq!(f.scoring.poll_timeout(), Some(scored_at + INTERVAL));
    f.scoring.handle_tick(scored_at + INTERVAL);
    let mut changes = Vec::new();
    while let Some(change) = f.scoring.poll_score_change() {
        changes.push(change);
    }
    assert!(changes.iter().any(|c| c.agent == "val" && c.score < 0.5), "{changes:?}");
    assert!(changes.iter().any(|c| c.agent == "ula" && c.score > 0.5), "{changes:?}");
    assert_eq!(f.scoring.poll_timeout(), None);
}

#[test]
fn short_calls_with_poor_csat_earn_no_aht_credit() {
    let mut f = Feed::new(survey_config());
    let at = NOW - 3 * DAY_MS;
    for i in 0..40 {
        let t = at + i * 600 * S;
        for agent in ["xia", "yan", "zoe"] {
            let mut c = call("care", agent, &format!("+{agent}{i}"), t);
            c.end = End::Survey(Some(if i % 2 == 0 { 5 } else { 4 }));
            f.call(&c);
        }
        // Rushes callers and they say so.
        let mut rushed = call("care", "rush", &format!("+r{i}"), t);
        rushed.talk_s = 60;
        rushed.end = End::Survey(Some(2));
        f.call(&rushed);
        // Just as quick and as well liked as the rest: keeps the credit.
        let mut brisk = call("care", "brisk", &format!("+b{i}"), t);
        brisk.talk_s = 60;
        brisk.end = End::Survey(Some(if i % 2 == 0 { 5 } else { 4 }));
        f.call(&brisk);
    }
    let rush = f.window("rush", "care", NOW, Window::Last7Days);
    let brisk = f.window("brisk", "care", NOW, Window::Last7Days);
    assert!(rush.kpi_scores.aht.is_some_and(|s| s > 0.5));
    assert!(rush.aht_credit_capped);
    assert!(!brisk.aht_credit_capped);
    assert!(brisk.score > rush.score);
    let queue = f.scoring.queue_kpis("care", NOW, Window::Last7Days).expect("queue");
    assert_eq!(queue.handled, 200);
    assert_eq!(f.scoring.queue_kpis("nope", NOW, Window::Last7Days), None);
}

/// Handled calls marked repeated in a queue.
fn repeated_count(f: &Feed, queue: &str) -> usize {
    f.scoring.ledger.queues.get(queue).map_or(0, |q| q.handled.values().filter(|c| c.repeated).count())
}

#[test]
fn the_repeat_check_keeps_only_calls_not_yet_marked() {
    // A withheld number calls every 15 s for 20 hours: each call marks the one before it. The
    // calls already marked need no second visit, so the number's window holds at most the last
    // call; a window of every earlier call makes each check O(calls in 72 h).
    let mut f = Feed::unlogged(ScoringConfig::default());
    let mut widest = 0;
    for i in 0..5_000 {
        let mut c = call("care", "ann", "anonymous", T0 + i * 15 * S);
        c.talk_s = 5;
        f.call(&c);
        widest = widest.max(f.scoring.ledger.repeat_window_len("care", "anonymous"));
    }
    assert!(widest <= 1, "the window of one number held {widest} calls");
    assert_eq!(repeated_count(&f, "care"), 4_999);
    let fcr = f.window("ann", "care", T0 + 5 * DAY_MS, Window::Last30Days).agent.fcr;
    assert_eq!(fcr, Some(1.0 / 5_000.0));
}

#[test]
fn per_call_state_stays_bounded_over_fifty_thousand_calls() {
    // 50,000 calls over ten simulated days in two queues: a tenth from a withheld number, a tenth
    // from 500 regulars, the rest from distinct numbers; some abandon, transfer, answer a survey,
    // and one in a hundred has its number known only after it was bridged.
    const CALLS: i64 = 50_000;
    const GAP: i64 = 10 * DAY_MS / CALLS;
    let horizon = ScoringConfig::default().repeat_horizon_ms();
    let mut f = Feed::unlogged(survey_config());
    let agents = ["a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"];
    let started = |clock: i64, within: i64, upto: i64| (0..=upto).filter(|j| T0 + j * GAP >= clock - within).count();
    let mut peak = (0, 0);
    for i in 0..CALLS {
        let at = T0 + i * GAP;
        let ani = match i % 10 {
            0 => "anonymous".to_string(),
            1 => format!("+regular{}", i % 500),
            _ => format!("+1555{i:07}"),
        };
        let queue = if i % 3 == 0 { "sales" } else { "care" };
        let agent = agents[(i % 10) as usize];
        if i % 100 == 7 {
            let id = format!("late-ani-{i}");
            f.push(&id, at, None, EventKind::CallQueued { queue: queue.into() });
            f.push(&id, at + S, Some(agent), EventKind::CallBridged { agent: agent.into() });
            f.push(&id, at + 2 * S, None, EventKind::CallOffered { ani, did: "d".into(), trunk: "t".into() });
            let ended = EventKind::CallEnded { side: HangupSide::Caller, cause: "normal".into(), sip_status: None };
            f.push(&id, at + 60 * S, None, ended);
        } else if i % 50 == 3 {
            let id = format!("abandoned-{i}");
            f.push(&id, at, None, EventKind::CallOffered { ani, did: "d".into(), trunk: "t".into() });
            f.push(&id, at + S, None, EventKind::CallQueued { queue: queue.into() });
            f.push(&id, at + 9 * S, None, EventKind::CallAbandoned { queue: queue.into(), wait_ms: 8000 });
            let ended = EventKind::CallEnded { side: HangupSide::Caller, cause: "abandoned".into(), sip_status: None };
            f.push(&id, at + 9 * S, None, ended);
        } else {
            let mut c = call(queue, agent, &ani, at);
            c.talk_s = 5 + i % 13;
            c.wrapup_s = if i % 3 == 0 { 2 } else { 0 };
            c.end = [End::Caller, End::Transfer, End::Survey(Some(4)), End::Agent][(i % 4) as usize];
            if i % 9 == 0 {
                c.missed = vec![(agents[((i + 1) % 10) as usize], NoAnswerReason::NoAnswer)];
            }
            f.call(&c);
        }
        if i % 1_000 == 999 {
            let clock = f.scoring.clock_ms();
            let (handled, offers, live) = f.scoring.ledger.retained();
            let index = f.scoring.ledger.repeat_index_entries();
            peak = (peak.0.max(live), peak.1.max(index));
            let live_bound = started(clock, ledger::CALL_STATE_RETENTION_MS, i);
            assert!(live <= live_bound, "call {i}: {live} call states, {live_bound} calls in two days");
            // Every call's agent part ends within minutes of its start; allow two hours.
            let index_bound = started(clock, horizon + 2 * HOUR_MS, i);
            assert!(index <= index_bound, "call {i}: {index} calls in the ANI index, {index_bound} within the horizon");
            assert!(handled as i64 <= i + 1 && offers as i64 <= 2 * (i + 1));
            let (expiry, names) = f.scoring.ledger.bookkeeping();
            assert!(expiry <= index_bound, "call {i}: {expiry} index expiry entries");
            // Names in use: the ANIs of live calls and index windows, ten agents, two queues.
            let names_bound = 2 * (live_bound + index_bound + 12) + 1024;
            assert!(names <= names_bound, "call {i}: {names} interned names, bound {names_bound}");
        }
    }
    println!("peak retained: {} call states, {} ANI index entries", peak.0, peak.1);
    // Forty quiet days later nothing is left.
    f.scoring.handle_tick(f.scoring.clock_ms() + 40 * DAY_MS);
    assert_eq!(f.scoring.ledger.retained(), (0, 0, 0));
    assert_eq!(f.scoring.ledger.repeat_index_entries(), 0);
    assert_eq!(f.scoring.ledger.repeat_index_len(), 0);
    // Only the two queue names are still interned: queues stay listed.
    assert_eq!(f.scoring.ledger.bookkeeping(), (0, 2));
}

/// The repeat marking computed by brute force: every finished handled call is remembered with its
/// queue, ANI and anchor, and every arrival in a queue scans all of them (the original
/// algorithm: drop those whose horizon passed at the arrival's time, mark the rest that ended by
/// then, except the arriving call's own).
#[derive(Default)]
struct RepeatReference {
    calls: std::collections::HashMap<String, RefCall>,
    /// (queue, ANI, anchor, key, call id, dropped)
    finished: Vec<(String, String, i64, ledger::Key, String, bool)>,
    marked: std::collections::BTreeSet<ledger::Key>,
}

#[derive(Default)]
struct RefCall {
    ani: Option<String>,
    queue: Option<String>,
    /// Key, queue and bridge time of the handled call.
    handled: Option<(ledger::Key, String, i64)>,
    segment_end: Option<i64>,
    transferred: bool,
    ended: bool,
    indexed: bool,
}

impl RepeatReference {
    fn apply(&mut self, stored: &StoredEvent, horizon: i64) {
        let ev = &stored.event;
        let at = ev.at_ms;
        let id = ev.call_id.clone();
        let call = self.calls.entry(id.clone()).or_default();
        // The handled call is reachable while the call is in the queue it was bridged in.
        let reachable = |c: &RefCall| c.handled.as_ref().is_some_and(|h| Some(&h.1) == c.queue.as_ref());
        let close = |c: &mut RefCall| {
            if let (None, Some(h)) = (c.segment_end, &c.handled) {
                c.segment_end = Some(at.max(h.2));
            }
        };
        let mut arrival = None;
        match &ev.kind {
            EventKind::CallOffered { ani, .. } => call.ani = Some(ani.clone()),
            EventKind::CallQueued { queue } | EventKind::CallOverflowed { to_queue: queue, .. } => {
                call.queue = Some(queue.clone());
                arrival = call.ani.clone().map(|ani| (queue.clone(), ani));
            }
            EventKind::CallBridged { .. } => {
                if let (None, Some(queue)) = (&call.handled, &call.queue) {
                    call.handled = Some(((at, stored.offset), queue.clone(), at));
                }
            }
            EventKind::CallEnded { .. } if reachable(call) && !call.ended => {
                call.ended = true;
                close(call);
            }
            EventKind::CallTransferred { .. } if reachable(call) && !(call.ended || call.transferred) => {
                call.transferred = true;
                close(call);
            }
            EventKind::SurveyStarted { .. } | EventKind::AgentLeft { .. } if reachable(call) => close(call),
            _ => {}
        }
        let finishing = matches!(ev.kind, EventKind::CallEnded { .. } | EventKind::CallTransferred { .. });
        if finishing && !call.indexed && reachable(call) && (call.ended || call.transferred) {
            if let (Some(ani), Some((key, queue, bridged))) = (&call.ani, &call.handled) {
                call.indexed = true;
                let anchor = call.segment_end.unwrap_or(*bridged);
                self.finished.push((queue.clone(), ani.clone(), anchor, *key, id.clone(), false));
            }
        }
        if let Some((queue, ani)) = arrival {
            for (q, a, anchor, key, owner, dropped) in self.finished.iter_mut() {
                if *dropped || *q != queue || *a != ani {
                    continue;
                }
                if at.saturating_sub(*anchor) > horizon {
                    *dropped = true;
                } else if *anchor <= at && *owner != id {
                    self.marked.insert(*key);
                }
            }
        }
    }
}

/// One call of a random stream: start minute, ANI, queue, how it goes, talk minutes, and how far
/// (minutes) its events are delivered late relative to other calls'.
type CallSpec = (i64, u8, u8, u8, i64, i64);

/// The events of one call (times in whole minutes so horizons end exactly on arrivals).
fn spec_events(n: usize, spec: CallSpec) -> Vec<(i64, String, Option<String>, EventKind)> {
    const M: i64 = 60 * S;
    let (start, ani, queue, outcome, talk, _) = spec;
    let id = format!("c{n}");
    let queues = ["care", "sales"];
    let q = queues[usize::from(queue % 2)].to_string();
    let other = queues[usize::from((queue + 1) % 2)].to_string();
    let agent = format!("a{}", n % 3);
    let t = T0 + start * M;
    let ended = || EventKind::CallEnded { side: HangupSide::Caller, cause: "x".into(), sip_status: None };
    let mut evs =
        vec![(t, EventKind::CallOffered { ani: format!("+{}", ani % 3), did: "d".into(), trunk: "t".into() })];
    evs.push((t + M, EventKind::CallQueued { queue: q.clone() }));
    let bridged = t + 2 * M;
    let end = bridged + talk * M;
    let bridge = |evs: &mut Vec<(i64, EventKind)>, at: i64| {
        evs.push((at, EventKind::AgentOffered { agent: agent.clone(), attempt: 1, why: None }));
        evs.push((at, EventKind::AgentAnswered { agent: agent.clone() }));
        evs.push((at, EventKind::CallBridged { agent: agent.clone() }));
    };
    match outcome % 7 {
        0 => {
            evs.push((t + 2 * M, EventKind::CallAbandoned { queue: q.clone(), wait_ms: 60_000 }));
            evs.push((t + 2 * M, ended()));
        }
        1 => {
            bridge(&mut evs, bridged);
            evs.push((end, ended()));
        }
        2 => {
            bridge(&mut evs, bridged);
            evs.push((end, EventKind::CallTransferred { to: "x".into() }));
            evs.push((end + M, ended()));
        }
        3 => {
            // Transferred back into its own queue, answered again.
            bridge(&mut evs, bridged);
            evs.push((end, EventKind::CallTransferred { to: q.clone() }));
            evs.push((end, EventKind::CallQueued { queue: q.clone() }));
            bridge(&mut evs, end + M);
            evs.push((end + 2 * M, ended()));
        }
        4 => {
            bridge(&mut evs, bridged);
            evs.push((end, EventKind::SurveyStarted { questions: vec!["csat".into()] }));
            evs.push((end + 2 * M, ended()));
        }
        5 => {
            evs.push((t + 2 * M, EventKind::CallOverflowed { from_queue: q, to_queue: other, waited_ms: 60_000 }));
            bridge(&mut evs, bridged + M);
            evs.push((end + M, ended()));
        }
        _ => {
            bridge(&mut evs, bridged);
            evs.push((end, EventKind::AgentLeft { agent: agent.clone() }));
            evs.push((end + 3 * M, ended()));
        }
    }
    evs.into_iter().map(|(at, kind)| (at, id.clone(), Some(agent.clone()), kind)).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Random interleaved streams (three numbers, two queues, a one-hour horizon so that many
    /// horizons end exactly on an arrival, transfers back into the queue, overflows, surveys,
    /// deliveries up to ten minutes late, clock ticks): the ledger marks exactly the calls the
    /// brute-force reference marks.
    #[test]
    fn repeat_marking_matches_a_brute_force_reference(
        specs in proptest::collection::vec((0i64..600, 0u8..3, 0u8..2, 0u8..7, 0i64..90, 0i64..10), 1..80),
        ticks in proptest::collection::vec(0usize..400, 0..8),
    ) {
        let config = ScoringConfig { repeat_horizon_hours: 1, ..ScoringConfig::default() };
        let horizon = config.repeat_horizon_ms();
        let mut events = Vec::new();
        for (n, spec) in specs.iter().enumerate() {
            let late = spec.5 * 60 * S;
            for (i, (at, id, agent, kind)) in spec_events(n, *spec).into_iter().enumerate() {
                events.push((at + late, n, i, at, id, agent, kind));
            }
        }
        events.sort_by_key(|e| (e.0, e.1, e.2));
        let mut f = Feed::unlogged(config);
        let mut reference = RepeatReference::default();
        for (i, (_, _, _, at, id, agent, kind)) in events.into_iter().enumerate() {
            if ticks.contains(&i) {
                // The shell's clock may run a little ahead of the events.
                f.scoring.handle_tick(f.scoring.clock_ms() + 2 * 60 * S);
            }
            f.offset += 1;
            let event = CallEvent { call_id: id, seq: 0, at_ms: at, agent, kind };
            let stored = StoredEvent { offset: f.offset, schema: SCHEMA_VERSION, event };
            proptest::prop_assert!(f.scoring.handle_event(&stored));
            reference.apply(&stored, horizon);
        }
        let mut handled = 0;
        for ledger in f.scoring.ledger.queues.values() {
            for (key, record) in &ledger.handled {
                handled += 1;
                proptest::prop_assert_eq!(record.repeated, reference.marked.contains(key), "call at {:?}", key);
            }
        }
        proptest::prop_assert!(reference.marked.len() <= handled);
    }
}

/// A call the switch closes at start-up (cause `restart`: the process died during it) is held
/// neither for nor against its agent: it is no handled call and adds no handle time.
#[test]
fn a_call_cut_by_a_restart_does_not_count_for_its_agent() {
    let mut f = Feed::new(ScoringConfig::default());
    let at = NOW - 2 * DAY_MS;
    let mut c = call("care", "bo", "+1", at);
    c.talk_s = 100;
    f.call(&c);
    // A second call: bridged, then the switch died; hours later the restart closes it.
    let id = "cut-1";
    let q = |queue: &str| EventKind::CallQueued { queue: queue.into() };
    f.push(id, at + 10 * S, None, EventKind::CallOffered { ani: "+2".into(), did: "1".into(), trunk: "t".into() });
    f.push(id, at + 10 * S, None, q("care"));
    f.push(id, at + 11 * S, Some("bo"), EventKind::AgentOffered { agent: "bo".into(), attempt: 1, why: None });
    f.push(id, at + 12 * S, Some("bo"), EventKind::AgentAnswered { agent: "bo".into() });
    f.push(id, at + 12 * S, Some("bo"), EventKind::CallBridged { agent: "bo".into() });
    let ended = EventKind::CallEnded { side: HangupSide::System, cause: "restart".into(), sip_status: None };
    f.push(id, at + 5 * 3_600 * S, None, ended);
    let w = f.window("bo", "care", NOW, Window::Last7Days);
    assert_eq!(w.agent.handled, 1, "only the call that ended normally");
    assert!(close(w.agent.aht_s, 100.0), "{:?}", w.agent.aht_s);
}
