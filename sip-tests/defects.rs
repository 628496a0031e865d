//! Real-peer tests for the defects an outside check found (issue #8): the switch started from an
//! empty folder on its embedded defaults, SIGTERM with nothing to drain, restart recovery and
//! agent-state events.

use std::time::{Duration, Instant};

use super::harness::rtp::RtpPeer;
use super::harness::*;
use super::{AGENT_TAG, CALLER_TAG};

/// `cd $(mktemp -d) && meritline run`: no config, no prompt files. A caller who waits in the
/// demo queue hears the built-in hold audio and abandons; the CDR says so.
#[test]
fn meritline_runs_on_embedded_defaults_from_an_empty_folder() {
    let sw = Switch::start_on_defaults_in_empty_folder();
    let dir = TempDir::new("defaults-caller");
    let mut caller_rtp = RtpPeer::start(CALLER_TAG, AGENT_TAG, Duration::from_secs(60));
    let rtp_port = caller_rtp.port.to_string();
    let args = ["-s", "5551000", "-key", "ani", "15550007777", "-key", "rtp_port", &rtp_port, "-m", "1", "-d", "3000"];
    let mut caller = sipp(&dir, "caller", "caller_hangs_up.xml", free_port(), &sw.sip_addr(), &args);
    let st = caller.wait(Duration::from_secs(60));
    let heard = caller_rtp.stop();
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 40));
    // 3 s of hold audio is ~150 packets of 20 ms.
    assert!(heard.received_other >= 100, "the caller heard too little hold audio: {heard:?}");
    sw.wait_for("the abandoned CDR", Duration::from_secs(20), |s| {
        s.calls(1).first().is_some_and(|c| c["abandoned"] == true)
    });
    // The working directory holds nothing but the store the defaults name.
    let cwd = sw.dir.path().join("cwd");
    let entries: Vec<String> =
        std::fs::read_dir(&cwd).expect("cwd").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(entries, vec!["data".to_string()], "files the switch made in its working directory");
}

/// SIGTERM with no live call: nothing to drain, so the switch exits at once (it used to wait out
/// a fixed 5 s).
#[test]
fn sigterm_with_nothing_to_drain_exits_promptly() {
    let dir = TempDir::new("quick-exit");
    let mut sw = Switch::start(&SwitchSpec::default());
    // One whole call first, as an operator's switch has had: registered phone, bridged, ended.
    let agents = SwitchSpec::default().agents;
    let _phones = super::ready_agents_hanging_up(&dir, &sw, &agents[..1], "40100", "1000");
    let mut caller = super::carrier_call(&dir, &sw, "caller_waits_for_bye.xml", "15550006666", "40102", &["-m", "1"]);
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 40));
    sw.wait_for("the CDR", Duration::from_secs(20), |s| s.calls(1).first().is_some_and(|c| !c["ended_at"].is_null()));
    let _live = SseReader::connect(&sw, "/api/events");
    std::thread::sleep(Duration::from_millis(300));
    let pid = sw.proc.child.id().to_string();
    let started = Instant::now();
    let st = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(st.success());
    let exit = sw.proc.wait(Duration::from_secs(30));
    let took = started.elapsed();
    assert!(exit.success(), "exit status {exit}\n{}", tail(&sw.log(), 40));
    // Generous for a loaded 2-core machine, yet far below the old fixed waits (5 s).
    assert!(took < Duration::from_millis(2500), "SIGTERM took {took:?} with no call to drain\n{}", tail(&sw.log(), 40));
}

/// `kill -9` during a bridged call, then a restart: the agent's registration (3600 s) and Ready
/// state come back without a new REGISTER, the call the log shows unfinished is closed with
/// cause `restart`, and both legs of its dialogs get a BYE from the new process.
#[test]
fn after_kill_9_registrations_come_back_and_the_live_call_is_closed() {
    let dir = TempDir::new("restart");
    let mut sw = Switch::start(&SwitchSpec::default());
    let mut agent =
        sipp_agent(&dir, &sw, "agent1", "secret1", "agent_answers.xml", &["-key", "rtp_port", "40120", "-m", "1"]);
    super::wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    let mut caller = super::carrier_call(&dir, &sw, "caller_waits_for_bye.xml", "15550004444", "40122", &["-m", "1"]);
    sw.wait_for("the call to be bridged", Duration::from_secs(30), |s| {
        s.calls(1).first().is_some_and(|c| !c["bridged_at"].is_null())
    });
    // Let the writer commit the dialogs (it batches within milliseconds).
    std::thread::sleep(Duration::from_millis(500));
    sw.kill_9();
    sw.restart();

    let a = sw.agent("agent1");
    assert_eq!(a["registered"], true, "registration lost across the restart: {a}");
    assert_eq!(a["state"], "ready", "{a}");
    // Both legs are hung up by the new process: each SIPp scenario ends after its BYE.
    let st = caller.wait(Duration::from_secs(30));
    assert!(st.success(), "caller got no BYE ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 40));
    let st = agent.uas.wait(Duration::from_secs(30));
    assert!(st.success(), "agent phone got no BYE ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 40));
    sw.wait_for("the CDR to close", Duration::from_secs(20), |s| {
        s.calls(1).first().is_some_and(|c| !c["ended_at"].is_null())
    });
    let cdr = sw.calls(1).remove(0);
    assert_eq!(cdr["cause"], "restart", "{cdr}");
    assert_eq!(cdr["hangup_side"], "system", "{cdr}");
    // The agent's own stream says it is ready again because of the restart.
    let events = sw.get("/api/calls/agent:agent1/events");
    let restored = events
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["type"] == "agent.state_changed" && e["state"] == "ready" && e["cause"] == "restart");
    assert!(restored, "{events}");
}
