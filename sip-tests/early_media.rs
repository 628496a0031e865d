//! Real-peer tests of `answer = "early_media"` (issue #8 item 3): a SIPp carrier hears hold audio
//! as early media after a 183, abandons with CANCEL while queued or while an agent's phone rings,
//! or is answered with 200 when the agent answers. Assertions read the HTTP API and count RTP.

use std::time::Duration;

use serde_json::Value;

use super::harness::rtp::RtpPeer;
use super::harness::*;
use super::{carrier_call, event_types, newest_call, wait_agent_registered, AGENT_TAG, CALLER_TAG};

/// The demo switch with its queue answering in early media.
fn early_media_switch(ring_timeout_seconds: u32) -> Switch {
    Switch::start(&SwitchSpec {
        ring_timeout_seconds,
        queue_extra: "answer = \"early_media\"\n\n".into(),
        ..SwitchSpec::default()
    })
}

/// Every stored event, replayed from the start of the log.
fn all_events(sw: &Switch) -> Vec<Value> {
    let replay = SseReader::connect(sw, "/api/events?after=0");
    let mut stored = Vec::new();
    while let Some(ev) = replay.next(Duration::from_secs(2)) {
        stored.push(ev);
    }
    stored
}

/// The finished CDR of the newest call, once the abandoned call has been projected.
fn abandoned_cdr(sw: &Switch) -> Value {
    sw.wait_for("the abandoned CDR", Duration::from_secs(20), |s| {
        newest_call(s)["abandoned"] == true && !newest_call(s)["ended_at"].is_null()
    });
    newest_call(sw)
}

/// The `call.ended` event of `call_id`.
fn call_ended(sw: &Switch, call_id: &str) -> Value {
    let events = sw.get(&format!("/api/calls/{call_id}/events"));
    let ended = events.as_array().and_then(|evs| evs.iter().find(|e| e["type"] == "call.ended").cloned());
    ended.unwrap_or(Value::Null)
}

#[test]
fn early_media_caller_cancelling_in_queue_is_abandoned() {
    let dir = TempDir::new("em-cancel-queued");
    let sw = early_media_switch(15);
    // No agent: the call waits, hearing hold audio as early media, and the caller CANCELs after 4 s.
    let mut caller_rtp = RtpPeer::start(CALLER_TAG, AGENT_TAG, Duration::from_secs(30));
    let crtp = caller_rtp.port.to_string();
    let mut caller =
        carrier_call(&dir, &sw, "caller_early_media_cancels.xml", "15550005151", &crtp, &["-m", "1", "-d", "4000"]);
    let st = caller.wait(Duration::from_secs(60));
    let rtp = caller_rtp.stop();
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    assert!(rtp.received_other > 50, "the caller heard no hold audio before the CANCEL: {rtp:?}");

    let cdr = abandoned_cdr(&sw);
    assert_eq!(cdr["hangup_side"], "caller", "{cdr}");
    assert!(cdr["agent"].is_null(), "{cdr}");
    assert!(cdr["wait_seconds"].as_f64().unwrap_or(0.0) >= 3.0, "{cdr}");
    let id = cdr["call_id"].as_str().expect("call_id");
    let types = event_types(&sw, id);
    assert_eq!(types, ["call.offered", "call.queued", "call.abandoned", "call.ended"], "{types:?}");
    let ended = call_ended(&sw, id);
    assert_eq!((&ended["cause"], &ended["sip_status"]), (&Value::from("caller_cancel"), &Value::from(487)), "{ended}");
    assert_eq!(sw.get("/api/queues")[0]["waiting_calls"], 0);
}

#[test]
fn early_media_caller_cancelling_while_an_agent_rings_releases_the_agent_without_rona() {
    let dir = TempDir::new("em-cancel-ringing");
    let sw = early_media_switch(30);
    // agent1's phone rings (180) and never answers; the switch must CANCEL it when the caller does.
    let _a1 = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_no_answer.xml", &[]);
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");

    let mut caller =
        carrier_call(&dir, &sw, "caller_early_media_cancels.xml", "15550005252", "40060", &["-m", "1", "-d", "5000"]);
    sw.wait_for("agent1 ringing", Duration::from_secs(20), |s| s.agent("agent1")["state"] == "offered");
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));

    let cdr = abandoned_cdr(&sw);
    assert_eq!(cdr["hangup_side"], "caller", "{cdr}");
    assert!(cdr["agent"].is_null(), "the agent never answered: {cdr}");
    let id = cdr["call_id"].as_str().expect("call_id");
    let ended = call_ended(&sw, id);
    assert_eq!((&ended["cause"], &ended["sip_status"]), (&Value::from("caller_cancel"), &Value::from(487)), "{ended}");
    sw.wait_for("agent1 ready again", Duration::from_secs(10), |s| s.agent("agent1")["state"] == "ready");
    let a1 = sw.agent("agent1");
    assert!(a1["not_ready_reason"].is_null(), "{a1}");

    // The whole log: the offer rang, the call was abandoned and ended, and nobody got a RONA.
    let events = all_events(&sw);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for wanted in ["agent.offered", "agent.ringing", "call.abandoned", "call.ended"] {
        assert!(types.contains(&wanted), "no {wanted} in {types:?}");
    }
    assert!(!types.contains(&"agent.no_answer"), "the agent was blamed: {types:?}");
    // Past the ring timeout nothing rings out later either (the SIPp agent got its CANCEL).
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sw.agent("agent1")["state"], "ready");
}

#[test]
fn early_media_call_is_answered_with_200_when_the_agent_answers() {
    let dir = TempDir::new("em-answered");
    let sw = early_media_switch(15);
    let _agent = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_answers.xml", &["-key", "rtp_port", "40062"]);
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    // The scenario fails unless a 183 comes before the 200.
    let mut caller =
        carrier_call(&dir, &sw, "caller_early_media_answered.xml", "15550005353", "40064", &["-m", "1", "-d", "3000"]);
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    sw.wait_for("the CDR", Duration::from_secs(20), |s| !newest_call(s)["ended_at"].is_null());
    let cdr = newest_call(&sw);
    assert_eq!(cdr["agent"], "agent1", "{cdr}");
    assert_eq!(cdr["abandoned"], false, "{cdr}");
    assert_eq!(cdr["hangup_side"], "caller", "{cdr}");
}

#[test]
fn a_bad_answer_mode_stops_startup_naming_the_key() {
    let dir = TempDir::new("em-badcfg");
    let cases = [
        ("[[queues]]\nname = \"q\"\nskills = [\"s\"]\nanswer = \"later\"\n", "queues[0].answer"),
        ("[[trunks]]\nname = \"t\"\nallow = [\"127.0.0.1\"]\nanswer = \"ringing\"\n", "trunks[0].answer"),
    ];
    for (i, (toml, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, toml).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_meritline"))
            .args(["run", "--config"])
            .arg(&path)
            .output()
            .expect("run meritline");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(stderr.contains(key), "case {i}: the message should name {key}: {stderr}");
    }
}
