//! Tests of the simulator: a small day compares the strategies (merit must win on outcomes without
//! losing service level or starving anyone below the floor), determinism, config handling.

use super::*;

/// The built-in day (200 agents, 8 hours, three queues of different priorities, so multi-skilled
/// agents are pulled between queues): the figures reported for the routing issue.
fn default_day() -> SimConfig {
    SimConfig::default()
}

/// Single-queue variant for the tests that need only traffic.
fn one_queue_config() -> SimConfig {
    let mut config = SimConfig { agents: 50, hours: 3.0, ..SimConfig::default() };
    config.queues.truncate(1);
    config.queues[0].calls_per_hour = 420.0;
    config
}

#[test]
fn merit_beats_longest_idle_at_equal_staffing() {
    let config = default_day();
    let report = run(&config).unwrap();
    println!("{}", report.table());
    let li = report.strategy("longest_idle").unwrap();
    let merit = report.strategy("merit_weighted").unwrap();
    assert!(li.offered > 1000, "the day must carry real traffic");
    assert!(merit.conversion_rate > li.conversion_rate, "conversion");
    assert!(merit.csat > li.csat, "CSAT");
    assert!(merit.service_level >= li.service_level - 0.01, "SL within 1 point");
    assert!(merit.min_share_vs_ready >= config.merit.floor_share, "floor share");
    assert_eq!(merit.pairs_under_floor, 0);
    assert!(merit.offers_holdout > 0 && li.offers_holdout == 0);
}

#[test]
fn same_seed_same_report() {
    let config = SimConfig { agents: 30, hours: 1.0, ..one_queue_config() };
    let first = run(&config).unwrap().to_json();
    assert_eq!(first, run(&config).unwrap().to_json());
    let other = run(&SimConfig { seed: 99, ..config }).unwrap().to_json();
    assert_ne!(first, other);
}

#[test]
fn example_config_parses_and_unknown_fields_are_refused() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/simulate.toml");
    let config = SimConfig::load(Some(&path)).unwrap();
    assert_eq!(config.queues.len(), 3);
    assert!(toml::from_str::<SimConfig>("agentz = 3").is_err());
    let bad = SimConfig { queues: Vec::new(), ..SimConfig::default() };
    assert!(matches!(bad.validate(), Err(SimError::Invalid(_))));
    let mut overflow_to_nowhere = SimConfig::default();
    overflow_to_nowhere.queues[0].overflow = Some("nowhere".into());
    assert!(overflow_to_nowhere.validate().is_err());
}

#[test]
fn gini_of_even_and_concentrated_shares() {
    assert_eq!(report::gini(&[5.0, 5.0, 5.0]), 0.0);
    assert!((report::gini(&[0.0, 0.0, 0.0, 12.0]) - 0.75).abs() < 1e-9);
    assert_eq!(report::gini(&[]), 0.0);
}

#[test]
fn overflow_moves_calls_and_keeps_them_answerable() {
    let mut config = SimConfig { agents: 20, hours: 1.0, ..SimConfig::default() };
    config.queues.truncate(2);
    config.queues[0].calls_per_hour = 400.0;
    config.queues[0].max_wait_seconds = 10.0;
    config.queues[0].overflow = Some(config.queues[1].name.clone());
    let report = run(&config).unwrap();
    for s in &report.strategies {
        assert_eq!(s.answered + s.abandoned + s.timed_out, s.offered, "{} accounts for every call", s.strategy);
        assert!(s.overflowed > 0, "{} overflows calls at the 10 s max wait", s.strategy);
    }
    assert!(report.table().contains("overflowed (max wait)"));
}

#[test]
fn ring_outs_return_agents_and_calls() {
    // Phones ring longer than the ACD's 30 s ring timeout: every offer rings out, so no call is
    // ever answered, and every call still ends abandoned or timed out.
    let config = SimConfig { agents: 10, hours: 0.5, ring_seconds: 40.0, ..one_queue_config() };
    let report = run(&config).unwrap();
    for s in &report.strategies {
        assert_eq!(s.answered, 0);
        assert_eq!(s.abandoned + s.timed_out, s.offered, "{}", s.strategy);
    }
}

#[test]
fn holdout_uplift_is_reported_for_the_merit_run_only() {
    let config = SimConfig { agents: 30, hours: 2.0, holdout: 0.2, ..one_queue_config() };
    let report = run(&config).unwrap();
    for s in &report.strategies {
        let Some(uplift) = &s.holdout_uplift else {
            assert_ne!(s.strategy, "merit_weighted", "the merit run has holdout calls");
            continue;
        };
        assert_eq!(s.strategy, "merit_weighted");
        let (m, h) = (&uplift.merit, &uplift.holdout);
        assert!(h.calls > 10 && m.calls > h.calls, "{} vs {}", m.calls, h.calls);
        assert_eq!(m.calls + h.calls, s.answered, "every answered call in one group");
        let conversions = (s.conversion_rate * s.answered as f64).round() as u64;
        assert_eq!(m.conversions + h.conversions, conversions, "the same outcomes as the table");
        assert_eq!((m.csat_calls, h.handle_calls), (m.calls, h.calls), "every simulated call has both");
        for d in [uplift.conversion, uplift.csat, uplift.handle_seconds] {
            let ci = d.unwrap().ci95.unwrap();
            assert!(ci.low < d.unwrap().estimate && d.unwrap().estimate < ci.high);
        }
    }
    let table = report.table();
    assert!(table.contains("holdout uplift: conversion"), "{table}");
    assert!(table.contains("holdout uplift: handle time"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert!(json["strategies"][2]["holdout_uplift"]["conversion"]["ci95"]["low"].is_f64());
    assert!(json["strategies"][0]["holdout_uplift"].is_null());
}
