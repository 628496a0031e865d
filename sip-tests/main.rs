//! Real-peer tests: the `meritline` binary against SIPp and baresip processes on 127.0.0.1.
//! Assertions read Meritline's HTTP API and count RTP packets at both ends of the relay.
//! Liveness waits are generous (a busy 2-core machine); nothing here asserts speed.

mod defects;
mod early_media;
mod harness;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use harness::rtp::RtpPeer;
use harness::*;
use serde_json::Value;

const CALLER_TAG: u32 = 0xCA11_E700;
const AGENT_TAG: u32 = 0xA6E7_0000;

/// Registers every agent of `agents` as a SIPp phone that answers and hangs up after `talk_ms`,
/// and makes each ready.
fn ready_agents_hanging_up(
    dir: &TempDir,
    sw: &Switch,
    agents: &[AgentSpec],
    rtp_port: &str,
    talk_ms: &str,
) -> Vec<SippAgent> {
    let mut phones = Vec::new();
    for a in agents {
        let args = ["-key", "rtp_port", rtp_port, "-d", talk_ms];
        phones.push(sipp_agent(dir, sw, a.id, a.password, "agent_answers_hangs_up.xml", &args));
        wait_agent_registered(sw, a.id);
        sw.set_ready(a.id);
    }
    phones
}

/// A SIPp carrier placing calls from `ani` to the demo DID with media at `rtp_port`.
fn carrier_call(dir: &TempDir, sw: &Switch, scenario: &str, ani: &str, rtp_port: &str, extra: &[&str]) -> Proc {
    let args = [&["-s", DID, "-key", "ani", ani, "-key", "rtp_port", rtp_port][..], extra].concat();
    sipp(dir, "caller", scenario, free_port(), &sw.sip_addr(), &args)
}

fn wait_agent_registered(sw: &Switch, id: &str) {
    sw.wait_for(&format!("{id} registered"), Duration::from_secs(20), |s| s.agent(id)["registered"] == true);
}

fn newest_call(sw: &Switch) -> Value {
    sw.calls(1).into_iter().next().unwrap_or(Value::Null)
}

fn ended_calls(sw: &Switch) -> Vec<Value> {
    sw.calls(1000).into_iter().filter(|c| !c["ended_at"].is_null()).collect()
}

#[test]
fn carrier_call_is_bridged_to_agent_with_rtp_both_ways() {
    let dir = TempDir::new("bridge");
    let sw = Switch::start(&SwitchSpec::default());
    let mut agent_rtp = RtpPeer::start(AGENT_TAG, CALLER_TAG, Duration::from_secs(60));
    let rtp_port = agent_rtp.port.to_string();
    let _agent = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_answers.xml", &["-key", "rtp_port", &rtp_port]);
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");

    let mut caller_rtp = RtpPeer::start(CALLER_TAG, AGENT_TAG, Duration::from_secs(60));
    let crtp = caller_rtp.port.to_string();
    let mut caller = carrier_call(&dir, &sw, "caller_hangs_up.xml", "15550001111", &crtp, &["-m", "1", "-d", "13000"]);
    let st = caller.wait(Duration::from_secs(90));
    let c = caller_rtp.stop();
    let a = agent_rtp.stop();
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));

    // Both directions: at least 10 s of tagged audio arrived, with under 1% loss.
    for (what, sent_by, got) in [("caller->agent", &c, &a), ("agent->caller", &a, &c)] {
        let (first, last) = (got.first_counter.expect(what), got.last_counter.expect(what));
        let span = last - first + 1;
        assert!(span >= 500, "{what}: only {span} packets (20 ms each) crossed the relay: {got:?}");
        let loss = 1.0 - f64::from(got.received_tagged) / f64::from(span);
        assert!(
            loss < 0.01,
            "{what}: loss {loss:.4} (sent {}, span {span}, got {})",
            sent_by.sent,
            got.received_tagged
        );
    }
    // The caller heard hold audio first, then the agent, as one continuous stream.
    assert!(c.received_other > 0, "caller heard no hold audio: {c:?}");
    assert_eq!(c.ssrcs_seen.len(), 1, "caller saw the SSRC change: {c:?}");
    assert_eq!(c.seq_discontinuities, 0, "caller saw a sequence-number jump: {c:?}");

    sw.wait_for("the CDR", Duration::from_secs(20), |s| !newest_call(s)["ended_at"].is_null());
    let cdr = newest_call(&sw);
    assert_eq!(cdr["ani"], "15550001111");
    assert_eq!(cdr["did"], DID);
    assert_eq!(cdr["queue"], "support");
    assert_eq!(cdr["agent"], "agent1");
    assert_eq!(cdr["hangup_side"], "caller");
    assert!(cdr["talk_seconds"].as_f64().unwrap_or(0.0) >= 10.0, "{cdr}");
    let one = sw.get(&format!("/api/calls/{}", cdr["call_id"].as_str().expect("call_id")));
    assert_eq!(one["call_id"], cdr["call_id"]);
}

#[test]
fn caller_abandoning_in_queue_is_recorded() {
    let dir = TempDir::new("abandon");
    let sw = Switch::start(&SwitchSpec::default());
    let mut caller = carrier_call(&dir, &sw, "caller_hangs_up.xml", "15550002222", "40000", &["-m", "1", "-d", "3000"]);
    sw.wait_for("a waiting call", Duration::from_secs(20), |s| {
        s.get("/api/queues").as_array().map(|q| q.iter().any(|q| q["waiting_calls"] == 1)).unwrap_or(false)
    });
    // Its place in the queue is in the API.
    let waiting = &sw.get("/api/queues")[0]["calls"][0];
    assert_eq!(waiting["position"], 1, "{waiting}");
    assert!(waiting["call_id"].as_str().is_some_and(|id| !id.is_empty()), "{waiting}");
    assert!(waiting["waited_seconds"].as_f64().is_some(), "{waiting}");
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "caller SIPp failed ({st})\n{}", sipp_traces(&dir));
    sw.wait_for("the abandoned CDR", Duration::from_secs(20), |s| newest_call(s)["abandoned"] == true);
    let cdr = newest_call(&sw);
    assert_eq!(cdr["hangup_side"], "caller");
    assert!(cdr["agent"].is_null(), "{cdr}");
    assert!(cdr["wait_seconds"].as_f64().unwrap_or(0.0) >= 2.0, "{cdr}");
    let q = sw.get("/api/queues");
    assert_eq!(q[0]["waiting_calls"], 0);
}

#[test]
fn rona_moves_the_call_to_the_next_agent() {
    let dir = TempDir::new("rona");
    let spec = SwitchSpec { ring_timeout_seconds: 3, ..SwitchSpec::default() };
    let sw = Switch::start(&spec);
    let _a1 = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_no_answer.xml", &[]);
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    // agent1 has been idle longest, so it is offered first; agent2 becomes ready after.
    std::thread::sleep(Duration::from_millis(300));
    let _a2 = sipp_agent(&dir, &sw, "agent2", "secret2", "agent_answers.xml", &["-key", "rtp_port", "40002"]);
    wait_agent_registered(&sw, "agent2");
    sw.set_ready("agent2");

    let mut caller = carrier_call(&dir, &sw, "caller_hangs_up.xml", "15550003333", "40004", &["-m", "1", "-d", "8000"]);
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    sw.wait_for("the CDR", Duration::from_secs(20), |s| !newest_call(s)["ended_at"].is_null());
    let cdr = newest_call(&sw);
    assert_eq!(cdr["agent"], "agent2", "{cdr}");
    assert_eq!(cdr["attempts"], 2, "{cdr}");
    let a1 = sw.agent("agent1");
    assert_eq!(a1["state"], "not_ready", "{a1}");
    assert_eq!(a1["not_ready_reason"], "rona", "{a1}");
    let events = sw.get(&format!("/api/calls/{}/events", cdr["call_id"].as_str().expect("id")));
    let types: Vec<&str> = events.as_array().expect("events").iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"agent.no_answer"), "{types:?}");
}

#[test]
fn invite_from_unauthorised_source_gets_403() {
    let dir = TempDir::new("acl");
    let spec = SwitchSpec { trunk_allow: vec!["127.0.0.1/32".into()], ..SwitchSpec::default() };
    let sw = Switch::start(&spec);
    let port = free_port();
    let mut caller = Proc::spawn(
        "sipp caller from 127.0.0.5",
        std::process::Command::new("sipp")
            .arg(sw.sip_addr())
            .arg("-sf")
            .arg(scenario("caller_refused_403.xml"))
            .args([
                "-i",
                "127.0.0.5",
                "-p",
                &port.to_string(),
                "-nostdin",
                "-m",
                "1",
                "-timeout",
                "60s",
                "-timeout_error",
            ])
            .args(["-s", DID, "-key", "ani", "15550004444", "-key", "rtp_port", "40006"])
            .args(["-trace_err", "-trace_msg"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "expected a 403 ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 40));
    assert!(sw.calls(10).is_empty(), "a refused INVITE made a call record");
}

#[test]
fn unknown_did_gets_404() {
    let dir = TempDir::new("did");
    let sw = Switch::start(&SwitchSpec::default());
    let port = free_port();
    let mut caller = sipp(
        &dir,
        "caller",
        "caller_refused_404.xml",
        port,
        &sw.sip_addr(),
        &["-s", "5559999", "-key", "ani", "15550004444", "-key", "rtp_port", "40006", "-m", "1"],
    );
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "expected a 404 ({st})\n{}", sipp_traces(&dir));
}

#[test]
fn register_with_wrong_password_is_refused() {
    let dir = TempDir::new("regauth");
    let sw = Switch::start(&SwitchSpec::default());
    let port = free_port();
    let mut reg = sipp(
        &dir,
        "register",
        "agent_register_refused.xml",
        port,
        &sw.sip_addr(),
        &["-s", "agent1", "-au", "agent1", "-ap", "wrong-password", "-key", "contact_port", "40008", "-m", "1"],
    );
    let st = reg.wait(Duration::from_secs(30));
    assert!(st.success(), "expected 401/403 ({st})\n{}", sipp_traces(&dir));
    assert_eq!(sw.agent("agent1")["registered"], false);
    // The right password still works afterwards.
    let _ok = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_answers.xml", &["-key", "rtp_port", "40010"]);
    wait_agent_registered(&sw, "agent1");
}

#[test]
fn malformed_sip_is_refused_while_a_good_call_completes() {
    let dir = TempDir::new("malformed");
    let sw = Switch::start(&SwitchSpec::default());
    let _agent = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_answers.xml", &["-key", "rtp_port", "40012"]);
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    let mut caller = carrier_call(&dir, &sw, "caller_hangs_up.xml", "15550005555", "40014", &["-m", "1", "-d", "4000"]);

    // Garbage over UDP: one with a readable Via (expects a 400), others with nothing readable.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    udp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let me = udp.local_addr().expect("addr");
    let bad_cseq = format!(
        "INVITE sip:{DID}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad1\r\nFrom: <sip:x@y>;tag=1\r\n\
         To: <sip:{DID}@127.0.0.1>\r\nCall-ID: bad1\r\nCSeq: banana INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    udp.send_to(bad_cseq.as_bytes(), sw.sip_addr()).expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = udp.recv_from(&mut buf).expect("a 400 reply over UDP");
    let reply = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(reply.starts_with("SIP/2.0 400"), "{reply}");
    for junk in
        [&b"\x00\x01\x02 not sip at all"[..], b"INVITE\r\n\r\n", b"SIP/2.0 200\r\nVia: \r\n\r\n", &[0xffu8; 1500][..]]
    {
        udp.send_to(junk, sw.sip_addr()).expect("send");
    }
    let truncated = format!(
        "OPTIONS sip:{DID}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbad2\r\nFrom: <sip:x@y>;tag=1\r\n\
         To: <sip:{DID}@127.0.0.1>\r\nCall-ID: bad2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 500\r\n\r\nshort"
    );
    udp.send_to(truncated.as_bytes(), sw.sip_addr()).expect("send");
    let (n, _) = udp.recv_from(&mut buf).expect("a 400 for the truncated message");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 400"));

    // Garbage over TCP: a 400 for a broken message with a Via, then the connection is closed
    // or stays usable; either way the switch carries on.
    let mut tcp = TcpStream::connect(sw.sip_addr()).expect("connect tcp");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let tcp_me = tcp.local_addr().expect("addr");
    let bad_tcp = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {tcp_me};branch=z9hG4bKbad3\r\nFrom: <sip:agent1@127.0.0.1>;tag=1\r\n\
         To: <sip:agent1@127.0.0.1>\r\nCall-ID: bad3\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    tcp.write_all(bad_tcp.as_bytes()).expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 2048];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match std::io::Read::read(&mut tcp, &mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    assert!(String::from_utf8_lossy(&got).starts_with("SIP/2.0 400"), "{}", String::from_utf8_lossy(&got));
    let mut tcp2 = TcpStream::connect(sw.sip_addr()).expect("connect tcp");
    let _ = tcp2.write_all(b"\x16\x03\x01\x02\x00 definitely not SIP\r\n\r\n");
    let _ = tcp2.write_all(&[b'A'; 70_000]);

    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "the good call failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    sw.wait_for("the good CDR", Duration::from_secs(20), |s| {
        newest_call(s)["agent"] == "agent1" && !newest_call(s)["ended_at"].is_null()
    });
    let metrics = sw.metrics();
    assert!(metrics.contains("meritline_sip_parse_errors_total"), "{metrics}");
}

#[test]
fn two_hundred_calls_at_20_cps_against_10_agents() {
    let dir = TempDir::new("load");
    let agents: Vec<AgentSpec> = [
        ("agent1", "p1"),
        ("agent2", "p2"),
        ("agent3", "p3"),
        ("agent4", "p4"),
        ("agent5", "p5"),
        ("agent6", "p6"),
        ("agent7", "p7"),
        ("agent8", "p8"),
        ("agent9", "p9"),
        ("agent10", "p10"),
    ]
    .into_iter()
    .map(|(id, password)| AgentSpec { id, password, wrapup_seconds: 0 })
    .collect();
    let spec = SwitchSpec { agents, ..SwitchSpec::default() };
    let sw = Switch::start(&spec);
    let _phones = ready_agents_hanging_up(&dir, &sw, &spec.agents, "40016", "1000");
    let mut caller = carrier_call(
        &dir,
        &sw,
        "caller_waits_for_bye.xml",
        "15550006666",
        "40018",
        &["-r", "20", "-m", "200", "-l", "250"],
    );
    let st = caller.wait(Duration::from_secs(300));
    assert!(st.success(), "load caller failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    sw.wait_for("200 ended CDRs", Duration::from_secs(60), |s| ended_calls(s).len() >= 200);
    let calls = ended_calls(&sw);
    assert_eq!(calls.len(), 200);
    let answered = calls.iter().filter(|c| !c["agent"].is_null() && c["hangup_side"] == "agent").count();
    assert_eq!(answered, 200, "every call should be answered by an agent who hung up");
}

#[test]
fn baresip_agent_answers_a_carrier_call() {
    let dir = TempDir::new("baresip-call");
    let sw = Switch::start(&SwitchSpec::default());
    let phone = baresip_agent(&sw, "agent1", "secret1");
    sw.wait_for("baresip to register", Duration::from_secs(30), |s| s.agent("agent1")["registered"] == true);
    sw.set_ready("agent1");

    let mut caller_rtp = RtpPeer::start(CALLER_TAG, AGENT_TAG, Duration::from_secs(60));
    let crtp = caller_rtp.port.to_string();
    let mut caller = carrier_call(&dir, &sw, "caller_hangs_up.xml", "15550007777", &crtp, &["-m", "1", "-d", "6000"]);
    let st = caller.wait(Duration::from_secs(60));
    let c = caller_rtp.stop();
    assert!(
        st.success(),
        "caller SIPp failed ({st})\n{}\n{}\n{}",
        sipp_traces(&dir),
        tail(&sw.log(), 60),
        tail(&phone.log(), 40)
    );
    sw.wait_for("the CDR", Duration::from_secs(20), |s| !newest_call(s)["ended_at"].is_null());
    let cdr = newest_call(&sw);
    assert_eq!(cdr["agent"], "agent1", "{cdr}\n{}", tail(&phone.log(), 40));
    assert!(!cdr["bridged_at"].is_null(), "{cdr}");
    // baresip's tone came back through the relay: well over the hold audio of a second or so.
    assert!(c.received_other > 150, "caller got too little audio: {c:?}");
    assert_eq!(c.ssrcs_seen.len(), 1, "{c:?}");
}

#[test]
fn sigterm_drains_live_calls_and_flushes_the_store() {
    let dir = TempDir::new("drain");
    let mut sw = Switch::start(&SwitchSpec::default());
    let _agent = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_answers.xml", &["-key", "rtp_port", "40020"]);
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    let mut caller = carrier_call(&dir, &sw, "caller_waits_for_bye.xml", "15550008888", "40022", &["-m", "1"]);
    sw.wait_for("the call to be bridged", Duration::from_secs(30), |s| !newest_call(s)["bridged_at"].is_null());
    // An open event stream must not hold the shutdown up.
    let _live = SseReader::connect(&sw, "/api/events");
    std::thread::sleep(Duration::from_millis(300));
    let pid = sw.proc.child.id().to_string();
    let st = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(st.success());
    // The caller gets a BYE from the switch and answers it: its scenario ends successfully.
    let st = caller.wait(Duration::from_secs(30));
    assert!(st.success(), "caller was not hung up cleanly ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 40));
    let exit = sw.proc.wait(Duration::from_secs(30));
    assert!(exit.success(), "meritline exited with {exit}\n{}", tail(&sw.log(), 40));
    // Every event reached the database before the process exited.
    let db = sw.dir.path().join("meritline.db");
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT hangup_side || '|' || cause FROM calls")
        .output()
        .expect("sqlite3");
    let rows = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(rows.trim(), "system|shutdown", "calls table: {rows}");
}

#[test]
fn a_bad_config_stops_startup_with_the_key_and_exit_code_2() {
    let dir = TempDir::new("badcfg");
    let cases = [
        ("[sip]\nlisten = \"127.0.0.1:5060\"\nlisen = 1\n", "sip.lisen"),
        ("[http]\nlisten = 8080\n", "http.listen"),
        ("[[trunks]]\nname = \"t\"\nallow = [\"10.0.0.0/33\"]\n", "trunks[0].allow[0]"),
        ("[sip]\nlisten = \"127.0.0.1:7000\"\n[http]\nlisten = \"127.0.0.1:7000\"\n", "http.listen"),
        ("[media]\nhold_prompt = \"/nonexistent/hold.wav\"\n", "media.hold_prompt"),
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

#[test]
fn carrier_and_agent_over_tcp() {
    let dir = TempDir::new("tcp");
    let sw = Switch::start(&SwitchSpec::default());
    // The agent registers over TCP and answers on its own TCP listener: the switch must open a
    // connection to the registered contact to ring it.
    let _agent = sipp_agent_with(
        &dir,
        &sw,
        "agent1",
        "secret1",
        "agent_answers.xml",
        &["-t", "t1", "-key", "rtp_port", "40030"],
        &["-t", "t1"],
    );
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    let caller_port = free_port();
    let mut caller = sipp(
        &dir,
        "tcp caller",
        "caller_hangs_up.xml",
        caller_port,
        &sw.sip_addr(),
        &["-t", "t1", "-s", DID, "-key", "ani", "15550009999", "-key", "rtp_port", "40032", "-m", "1", "-d", "2000"],
    );
    let st = caller.wait(Duration::from_secs(60));
    assert!(st.success(), "TCP caller failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    sw.wait_for("the CDR", Duration::from_secs(20), |s| !newest_call(s)["ended_at"].is_null());
    let cdr = newest_call(&sw);
    assert_eq!(cdr["agent"], "agent1", "{cdr}");
    assert_eq!(cdr["hangup_side"], "caller", "{cdr}");
}

#[test]
fn pcma_caller_and_pcmu_agent_are_transcoded_by_the_relay() {
    let dir = TempDir::new("transcode");
    let sw = Switch::start(&SwitchSpec::default());
    let mut agent_rtp = RtpPeer::start(AGENT_TAG, CALLER_TAG, Duration::from_secs(60));
    let rtp_port = agent_rtp.port.to_string();
    let _agent = sipp_agent(&dir, &sw, "agent1", "secret1", "agent_answers.xml", &["-key", "rtp_port", &rtp_port]);
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    let mut caller_rtp = RtpPeer::start_with_payload_type(CALLER_TAG, AGENT_TAG, Duration::from_secs(60), 8);
    let crtp = caller_rtp.port.to_string();
    let mut caller =
        carrier_call(&dir, &sw, "caller_pcma_hangs_up.xml", "15550001212", &crtp, &["-m", "1", "-d", "6000"]);
    let st = caller.wait(Duration::from_secs(60));
    let c = caller_rtp.stop();
    let a = agent_rtp.stop();
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    // The agent leg negotiated PCMU and hears only PCMU; the caller leg hears only PCMA.
    assert_eq!(a.payload_types_seen, vec![0], "agent side: {a:?}");
    assert_eq!(c.payload_types_seen, vec![8], "caller side: {c:?}");
    // Transcoded payloads no longer carry the test's byte tags, so count packets: several
    // seconds at 50 packets/s each way.
    assert!(a.received_tagged + a.received_other > 150, "agent got too little audio: {a:?}");
    assert!(c.received_tagged + c.received_other > 150, "caller got too little audio: {c:?}");
    assert_eq!(a.received_tagged, 0, "PCMA payload reached the PCMU agent untranscoded: {a:?}");
}

#[test]
fn events_acknowledged_before_kill_9_replay_in_order_after_restart() {
    let dir = TempDir::new("replay");
    let agents: Vec<AgentSpec> =
        [("agent1", "p1"), ("agent2", "p2"), ("agent3", "p3"), ("agent4", "p4"), ("agent5", "p5")]
            .into_iter()
            .map(|(id, password)| AgentSpec { id, password, wrapup_seconds: 0 })
            .collect();
    let spec = SwitchSpec { agents, ..SwitchSpec::default() };
    let mut sw = Switch::start(&spec);
    let phones = ready_agents_hanging_up(&dir, &sw, &spec.agents, "40040", "1000");
    // A consumer reads the live stream: what it has seen is what was acknowledged.
    let live = SseReader::connect(&sw, "/api/events");
    let mut caller = carrier_call(
        &dir,
        &sw,
        "caller_waits_for_bye.xml",
        "15550004242",
        "40042",
        &["-r", "10", "-m", "50", "-l", "50"],
    );
    let mut seen = Vec::new();
    while seen.len() < 120 {
        match live.next(Duration::from_secs(30)) {
            Some(ev) => seen.push(ev),
            None => panic!("the live stream stalled after {} events\n{}", seen.len(), tail(&sw.log(), 40)),
        }
    }
    sw.kill_9();
    let _ = caller.child.kill();
    drop(phones);

    sw.restart();
    let replay = SseReader::connect(&sw, "/api/events?after=0");
    let mut stored = Vec::new();
    while let Some(ev) = replay.next(Duration::from_secs(3)) {
        stored.push(ev);
    }
    // Offsets are gap-free from 1, and every acknowledged event is there, unchanged.
    let offsets: Vec<i64> = stored.iter().filter_map(|e| e["offset"].as_i64()).collect();
    assert_eq!(offsets, (1..=offsets.len() as i64).collect::<Vec<_>>(), "offsets must run 1..n without gaps");
    for ev in &seen {
        let off = ev["offset"].as_i64().expect("offset");
        assert_eq!(stored.get(off as usize - 1), Some(ev), "acknowledged event {off} differs after the restart");
    }
    // Within every call, sequence numbers run 1..k without gaps.
    let mut per_call: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for ev in &stored {
        per_call
            .entry(ev["call_id"].as_str().unwrap_or("").to_string())
            .or_default()
            .push(ev["seq"].as_u64().unwrap_or(0));
    }
    assert!(per_call.len() >= 10, "expected events of many calls, got {}", per_call.len());
    for (call, seqs) in per_call {
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "call {call} has a gap");
    }
}

/// A survey call: a SIPp agent answers and hangs up after 2 s; `caller_scenario` plays the
/// caller's part. Returns the finished CDR.
fn survey_call(tag: &str, caller_scenario: &str, caller_args: &[&str]) -> (Switch, Value) {
    let dir = TempDir::new(tag);
    let sw = Switch::start(&SwitchSpec { survey: true, ..SwitchSpec::default() });
    let _agent = sipp_agent(
        &dir,
        &sw,
        "agent1",
        "secret1",
        "agent_answers_hangs_up.xml",
        &["-key", "rtp_port", "40050", "-d", "2000"],
    );
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    let mp = free_port().to_string();
    let args = [&["-mp", mp.as_str()][..], caller_args].concat();
    let mut caller = carrier_call(&dir, &sw, caller_scenario, "15550005151", "40052", &args);
    let st = caller.wait(Duration::from_secs(90));
    assert!(st.success(), "caller SIPp failed ({st})\n{}\n{}", sipp_traces(&dir), tail(&sw.log(), 60));
    sw.wait_for("the CDR", Duration::from_secs(20), |s| !newest_call(s)["ended_at"].is_null());
    let cdr = newest_call(&sw);
    (sw, cdr)
}

fn event_types(sw: &Switch, call_id: &str) -> Vec<String> {
    let events = sw.get(&format!("/api/calls/{call_id}/events"));
    events.as_array().expect("events").iter().filter_map(|e| e["type"].as_str().map(str::to_string)).collect()
}

#[test]
fn survey_records_csat_from_rfc4733_dtmf() {
    let (sw, cdr) = survey_call("survey", "caller_survey_answers.xml", &["-m", "1"]);
    assert_eq!(cdr["csat"], 4, "{cdr}");
    assert_eq!(cdr["survey"], "answered", "{cdr}");
    assert_eq!(cdr["hangup_side"], "agent", "{cdr}");
    let types = event_types(&sw, cdr["call_id"].as_str().expect("id"));
    let pos = |t: &str| types.iter().position(|x| x == t).unwrap_or_else(|| panic!("no {t} in {types:?}"));
    assert!(pos("agent.left") < pos("survey.started"));
    assert!(pos("survey.started") < pos("survey.answered"));
    assert!(pos("survey.answered") < pos("call.ended"));
    // The scoring consumer picked the answer up from the event stream.
    sw.wait_for("CSAT 4 in agent1's KPIs", Duration::from_secs(20), |s| {
        let kpis = s.get("/api/agents/agent1/kpis");
        kpis["queues"][0]["windows"][0]["agent"]["csat_mean"].as_f64() == Some(4.0)
    });
}

#[test]
fn survey_reprompts_after_an_invalid_digit() {
    let (sw, cdr) = survey_call("survey-reprompt", "caller_survey_reprompt.xml", &["-m", "1"]);
    assert_eq!(cdr["csat"], 3, "{cdr}");
    let types = event_types(&sw, cdr["call_id"].as_str().expect("id"));
    assert!(types.contains(&"survey.invalid".to_string()), "{types:?}");
}

#[test]
fn caller_hanging_up_during_the_survey_is_recorded() {
    let (sw, cdr) = survey_call("survey-hangup", "caller_hangs_up.xml", &["-m", "1", "-d", "4000"]);
    assert_eq!(cdr["survey"], "abandoned", "{cdr}");
    assert!(cdr["csat"].is_null(), "{cdr}");
    let types = event_types(&sw, cdr["call_id"].as_str().expect("id"));
    assert!(types.contains(&"survey.abandoned".to_string()), "{types:?}");
}

#[test]
fn baresip_caller_answers_the_survey_with_sndcode() {
    let dir = TempDir::new("baresip-survey");
    let sw = Switch::start(&SwitchSpec { survey: true, ..SwitchSpec::default() });
    let _agent = sipp_agent(
        &dir,
        &sw,
        "agent1",
        "secret1",
        "agent_answers_hangs_up.xml",
        &["-key", "rtp_port", "40060", "-d", "2000"],
    );
    wait_agent_registered(&sw, "agent1");
    sw.set_ready("agent1");
    let mut phone = baresip_caller("15550006161");
    phone.command("dial", &format!("sip:{DID}@127.0.0.1:{}", sw.sip_port));
    assert!(
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(20)),
        "baresip call not established\n{}",
        phone.log()
    );
    sw.wait_for("the survey to start", Duration::from_secs(20), |s| newest_call(s)["survey"] == "started");
    std::thread::sleep(Duration::from_millis(500));
    phone.command("sndcode", "4");
    assert!(phone.wait_event("CALL_CLOSED", Duration::from_secs(40)), "the switch did not hang up\n{}", phone.log());
    sw.wait_for("the CDR", Duration::from_secs(20), |s| !newest_call(s)["ended_at"].is_null());
    let cdr = newest_call(&sw);
    assert_eq!(cdr["csat"], 4, "{cdr}\n{}", tail(&sw.log(), 40));
    assert_eq!(cdr["ani"], "15550006161");
    sw.wait_for("CSAT 4 in agent1's KPIs", Duration::from_secs(20), |s| {
        let kpis = s.get("/api/agents/agent1/kpis");
        kpis["queues"][0]["windows"][0]["agent"]["csat_mean"].as_f64() == Some(4.0)
    });
}

/// Calls (ended, answered) per agent among `calls`.
fn share(calls: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    for c in calls {
        if let Some(a) = c["agent"].as_str() {
            *m.entry(a.to_string()).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn an_agent_who_sells_scores_higher_and_gets_more_calls() {
    let dir = TempDir::new("merit");
    let spec = SwitchSpec {
        agents: vec![
            AgentSpec { id: "agent1", password: "secret1", wrapup_seconds: 0 },
            AgentSpec { id: "agent2", password: "secret2", wrapup_seconds: 0 },
        ],
        queue_extra: "strategy = \"merit_weighted\"\n[queues.merit]\ntemperature = 0.05\nramp_calls = 5\n\n".into(),
        // The program scores conversion only, and pushes score changes every second.
        extra_toml: "[scoring]\npush_interval_ms = 1000\n[scoring.queues.support]\nanswer_rate = 0.0\naht = 0.0\n\
                     conversion = 1.0\ncsat_mean = 0.0\nfcr = 0.0\ntransfer_rate = 0.0\n\n"
            .into(),
        ..SwitchSpec::default()
    };
    let sw = Switch::start(&spec);
    let _phones = ready_agents_hanging_up(&dir, &sw, &spec.agents, "40070", "300");
    // Round 1: agent1 sells on every call, agent2 on none.
    let mut caller = carrier_call(
        &dir,
        &sw,
        "caller_waits_for_bye.xml",
        "15550007070",
        "40072",
        &["-r", "1", "-m", "20", "-l", "2"],
    );
    let st = caller.wait(Duration::from_secs(120));
    assert!(st.success(), "round 1 failed ({st})\n{}", sipp_traces(&dir));
    sw.wait_for("20 ended calls", Duration::from_secs(30), |s| ended_calls(s).len() >= 20);
    let round1 = ended_calls(&sw);
    for c in &round1 {
        let outcome = if c["agent"] == "agent1" { "sale" } else { "no_sale" };
        let url = sw.url(&format!("/api/calls/{}/disposition", c["call_id"].as_str().expect("id")));
        let resp = reqwest::blocking::Client::new()
            .post(url)
            .json(&serde_json::json!({"outcome": outcome, "revenue": if outcome == "sale" { 49.9 } else { 0.0 }}))
            .send()
            .expect("post disposition");
        assert_eq!(resp.status().as_u16(), 202);
    }
    sw.wait_for("agent1 to lead the leaderboard", Duration::from_secs(30), |s| {
        let board = s.get("/api/leaderboard?queue=support&window=today");
        board[0]["agent"] == "agent1" && board[0]["score"].as_f64() > board[1]["score"].as_f64()
    });
    // Let the scoring consumer push the new scores to the ACD (it re-scores every second).
    std::thread::sleep(Duration::from_secs(3));

    // Round 2: 100 calls; merit-weighted routing favours the seller.
    let mut caller = carrier_call(
        &dir,
        &sw,
        "caller_waits_for_bye.xml",
        "15550007071",
        "40074",
        &["-r", "2", "-m", "100", "-l", "2"],
    );
    let st = caller.wait(Duration::from_secs(180));
    assert!(st.success(), "round 2 failed ({st})\n{}", sipp_traces(&dir));
    sw.wait_for("120 ended calls", Duration::from_secs(60), |s| ended_calls(s).len() >= 120);
    let all = ended_calls(&sw);
    let round2: Vec<Value> = all.iter().filter(|c| c["ani"] == "15550007071").cloned().collect();
    let counts = share(&round2);
    let (a1, a2) = (counts.get("agent1").copied().unwrap_or(0), counts.get("agent2").copied().unwrap_or(0));
    eprintln!("round 1 {:?}, round 2 agent1 {a1} agent2 {a2}", share(&round1));
    assert!(a1 > a2, "agent1 (sells) got {a1} of round 2's calls, agent2 got {a2}; round 1: {:?}", share(&round1));
    let kpis = sw.get("/api/agents/agent1/kpis");
    assert!(kpis["queues"][0]["windows"].as_array().is_some_and(|w| !w.is_empty()), "{kpis}");
}
