//! The real-peer test harness: starts the `meritline` binary on its own ports with a config written
//! for the test, runs SIPp and baresip processes against it, and reads Meritline's HTTP API. Every
//! process is killed and every temp dir removed when its guard drops, so a failing test cleans up.
//! Ports come from a per-process counter offset by the PID, so tests run in parallel.

#![allow(dead_code)]

pub mod rtp;

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

static NEXT_SLOT: AtomicU16 = AtomicU16::new(0);

/// A UDP+TCP port that is free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// A range of 600 RTP ports private to this test (below the kernel's ephemeral range).
pub fn rtp_range() -> (u16, u16) {
    let slot = NEXT_SLOT.fetch_add(1, Ordering::SeqCst);
    let pid_slot = (std::process::id() % 7) as u16;
    let base = 10_000 + ((pid_slot * 3 + slot) % 36) * 600;
    (base, base + 598)
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let slot = NEXT_SLOT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("meritline-{tag}-{}-{slot}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("MERITLINE_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name: name.to_string(), child }
    }
    /// Waits for the process to exit by itself, at most `limit`; kills it past that.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let st = self.child.wait().expect("wait");
                panic!("{} did not finish within {limit:?} (killed, {st})", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct AgentSpec {
    pub id: &'static str,
    pub password: &'static str,
    pub wrapup_seconds: u32,
}

/// What a test's switch looks like.
pub struct SwitchSpec {
    pub trunk_allow: Vec<String>,
    pub agents: Vec<AgentSpec>,
    pub ring_timeout_seconds: u32,
    pub max_wait_seconds: u32,
    /// Run the post-call CSAT survey on the queue.
    pub survey: bool,
    /// `strategy = ...` line(s) for the queue (e.g. merit routing), empty for the default.
    pub queue_extra: String,
    /// TOML appended to the config (e.g. a `[scoring]` section).
    pub extra_toml: String,
}

impl Default for SwitchSpec {
    fn default() -> Self {
        SwitchSpec {
            trunk_allow: vec!["127.0.0.0/8".into()],
            agents: vec![
                AgentSpec { id: "agent1", password: "secret1", wrapup_seconds: 0 },
                AgentSpec { id: "agent2", password: "secret2", wrapup_seconds: 0 },
            ],
            ring_timeout_seconds: 15,
            max_wait_seconds: 600,
            survey: false,
            queue_extra: String::new(),
            extra_toml: String::new(),
        }
    }
}

pub const DID: &str = "5551000";

/// A running `meritline run` with its own ports, config and database.
pub struct Switch {
    pub sip_port: u16,
    pub http_port: u16,
    pub dir: TempDir,
    pub proc: Proc,
    http: reqwest::blocking::Client,
}

impl Switch {
    pub fn start(spec: &SwitchSpec) -> Switch {
        let dir = TempDir::new("switch");
        let sip_port = free_port();
        let http_port = free_port();
        let (rtp_min, rtp_max) = rtp_range();
        // No prompt paths: the switch plays the prompts built into its binary.
        let mut toml = String::new();
        toml.push_str(&format!(
            "[sip]\nlisten = \"127.0.0.1:{sip_port}\"\ntransports = [\"udp\", \"tcp\"]\n\n\
             [http]\nlisten = \"127.0.0.1:{http_port}\"\n\n\
             [media]\nip = \"127.0.0.1\"\nrtp_port_min = {rtp_min}\nrtp_port_max = {rtp_max}\n\n\
             [store]\npath = {db:?}\n\n",
            db = dir.path().join("meritline.db"),
        ));
        let allow: Vec<String> = spec.trunk_allow.iter().map(|c| format!("{c:?}")).collect();
        toml.push_str(&format!(
            "[[trunks]]\nname = \"carrier\"\nallow = [{}]\n\n[[routes]]\ndid = \"{DID}\"\nqueue = \"support\"\n\n",
            allow.join(", ")
        ));
        toml.push_str(&format!(
            "[[queues]]\nname = \"support\"\nskills = [\"support\"]\nring_timeout_seconds = {}\nmax_wait_seconds = {}\n\n",
            spec.ring_timeout_seconds, spec.max_wait_seconds
        ));
        toml.push_str(&spec.queue_extra);
        if spec.survey {
            toml.push_str("[queues.survey]\nquestions = [\"csat\"]\ndigit_timeout_seconds = 5\nmax_attempts = 3\n\n");
        }
        for a in &spec.agents {
            toml.push_str(&format!(
                "[[agents]]\nid = \"{}\"\nname = \"{}\"\npassword = \"{}\"\nskills = [\"support\"]\nwrapup_seconds = {}\n\n",
                a.id, a.id, a.password, a.wrapup_seconds
            ));
        }
        toml.push_str(&spec.extra_toml);
        let cfg = dir.path().join("meritline.toml");
        std::fs::File::create(&cfg).and_then(|mut f| f.write_all(toml.as_bytes())).expect("write config");
        let proc = spawn_meritline(&dir);
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        let mut sw = Switch { sip_port, http_port, dir, proc, http };
        sw.wait_healthy();
        sw
    }

    /// `meritline run` with no config at all, as a new user types it, with an empty folder as its
    /// working directory (`dir/cwd`; the log is kept beside it). It listens where the embedded
    /// defaults say: SIP on 127.0.0.1:5060, HTTP on 127.0.0.1:8080.
    pub fn start_on_defaults_in_empty_folder() -> Switch {
        let dir = TempDir::new("defaults");
        let cwd = dir.path().join("cwd");
        std::fs::create_dir_all(&cwd).expect("create cwd");
        let log = std::fs::File::create(dir.path().join("meritline.log")).expect("log file");
        let proc = Proc::spawn(
            "meritline",
            Command::new(env!("CARGO_BIN_EXE_meritline"))
                .arg("run")
                .current_dir(&cwd)
                .env("RUST_LOG", "meritline=debug,info")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log),
        );
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        let mut sw = Switch { sip_port: 5060, http_port: 8080, dir, proc, http };
        sw.wait_healthy();
        sw
    }

    /// Starts the process again on the same config, ports and database (after a kill or exit).
    pub fn restart(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        self.proc = spawn_meritline(&self.dir);
        self.wait_healthy();
    }

    /// SIGKILL: no drain, no flush.
    pub fn kill_9(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if !self.proc.is_running() {
                panic!("meritline exited at start-up:\n{}", self.log());
            }
            if self.http.get(self.url("/healthz")).send().map(|r| r.status().is_success()).unwrap_or(false) {
                return;
            }
            assert!(Instant::now() < deadline, "meritline did not come up:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http_port, path)
    }
    pub fn sip_addr(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("meritline.log")).unwrap_or_default()
    }
    pub fn get(&self, path: &str) -> Value {
        let resp = self.http.get(self.url(path)).send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().expect("json")
    }
    pub fn put_json(&self, path: &str, body: Value) -> reqwest::StatusCode {
        self.http.put(self.url(path)).json(&body).send().unwrap_or_else(|e| panic!("PUT {path}: {e}")).status()
    }
    pub fn set_ready(&self, agent: &str) {
        let st = self.put_json(&format!("/api/agents/{agent}/state"), serde_json::json!({"state": "ready"}));
        assert!(st.is_success(), "set {agent} ready: {st}");
    }
    pub fn agent(&self, id: &str) -> Value {
        let agents = self.get("/api/agents");
        agents.as_array().expect("array").iter().find(|a| a["id"] == id).cloned().unwrap_or(Value::Null)
    }
    pub fn calls(&self, limit: usize) -> Vec<Value> {
        self.get(&format!("/api/calls?limit={limit}")).as_array().cloned().unwrap_or_default()
    }
    pub fn metrics(&self) -> String {
        self.http.get(self.url("/metrics")).send().and_then(|r| r.text()).unwrap_or_default()
    }
    /// Polls `cond` until it holds, failing the test with `what` and the switch log after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, mut cond: impl FnMut(&Switch) -> bool) {
        let deadline = Instant::now() + limit;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n--- log tail ---\n{}",
                tail(&self.log(), 80)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `meritline run` on `dir/meritline.toml`, appending to `dir/meritline.log`.
fn spawn_meritline(dir: &TempDir) -> Proc {
    let log =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.path().join("meritline.log")).expect("log file");
    Proc::spawn(
        "meritline",
        Command::new(env!("CARGO_BIN_EXE_meritline"))
            .args(["run", "--config"])
            .arg(dir.path().join("meritline.toml"))
            .current_dir(dir.path())
            .env("RUST_LOG", "meritline=debug,info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log),
    )
}

/// A Server-Sent Events client on a thread: each event's JSON `data:` arrives on a channel.
pub struct SseReader {
    rx: std::sync::mpsc::Receiver<Value>,
}

impl SseReader {
    pub fn connect(sw: &Switch, path: &str) -> SseReader {
        let (tx, rx) = std::sync::mpsc::channel();
        let url = sw.url(path);
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder().timeout(None).build().expect("client");
            let Ok(resp) = client.get(&url).send() else { return };
            let reader = std::io::BufReader::new(resp);
            for line in std::io::BufRead::lines(reader) {
                let Ok(line) = line else { return };
                if let Some(data) = line.strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        SseReader { rx }
    }

    /// The next event, or None after `idle` without one (or when the stream ended).
    pub fn next(&self, idle: Duration) -> Option<Value> {
        self.rx.recv_timeout(idle).ok()
    }
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-tests/scenarios").join(name)
}

/// A SIPp process. `args` are appended after the common ones (`-nostdin`, a global timeout,
/// trace files in `dir`).
pub fn sipp(dir: &TempDir, name: &str, scenario_file: &str, local_port: u16, remote: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new("sipp");
    cmd.arg(remote)
        .arg("-sf")
        .arg(scenario(scenario_file))
        .args(["-i", "127.0.0.1", "-p", &local_port.to_string(), "-nostdin", "-trace_err", "-trace_msg"])
        .args(["-timeout", "180s", "-timeout_error"])
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn(&format!("sipp {name}"), &mut cmd)
}

/// SIPp's error and message traces of a test dir, for failure messages.
pub fn sipp_traces(dir: &TempDir) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir.path()) {
        for e in rd.flatten() {
            let p = e.path();
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if n.ends_with("_errors.log") || n.ends_with("_messages.log") {
                out.push_str(&format!("--- {n} ---\n{}\n", tail(&std::fs::read_to_string(&p).unwrap_or_default(), 60)));
            }
        }
    }
    out
}

/// An agent phone made of two SIPp processes: one registers the agent with digest auth and exits,
/// the other answers the calls the switch sends to the registered contact.
pub struct SippAgent {
    pub id: String,
    pub port: u16,
    pub uas: Proc,
}

pub fn sipp_agent(
    dir: &TempDir,
    sw: &Switch,
    id: &str,
    password: &str,
    uas_scenario: &str,
    uas_args: &[&str],
) -> SippAgent {
    sipp_agent_with(dir, sw, id, password, uas_scenario, uas_args, &[])
}

/// As [`sipp_agent`], with extra arguments for the registering SIPp (e.g. `-t t1` for TCP).
pub fn sipp_agent_with(
    dir: &TempDir,
    sw: &Switch,
    id: &str,
    password: &str,
    uas_scenario: &str,
    uas_args: &[&str],
    register_args: &[&str],
) -> SippAgent {
    let port = free_port();
    let mut uas_all: Vec<&str> = vec!["-s", id];
    uas_all.extend_from_slice(uas_args);
    let uas = sipp(dir, &format!("{id} uas"), uas_scenario, port, &sw.sip_addr(), &uas_all);
    let reg_port = free_port();
    let port_s = port.to_string();
    let mut reg = sipp(
        dir,
        &format!("{id} register"),
        "agent_register.xml",
        reg_port,
        &sw.sip_addr(),
        &[&["-s", id, "-au", id, "-ap", password, "-key", "contact_port", &port_s, "-m", "1"], register_args].concat(),
    );
    let st = reg.wait(Duration::from_secs(30));
    assert!(st.success(), "{id} failed to register ({st})\n{}\n{}", sipp_traces(dir), tail(&sw.log(), 40));
    SippAgent { id: id.to_string(), port, uas }
}

/// A baresip phone registered as an agent with digest auth, answering calls automatically and
/// sending an 8 kHz tone as its microphone.
pub struct Baresip {
    pub proc: Proc,
    pub sip_port: u16,
    pub ctrl_port: u16,
    pub dir: TempDir,
    ctrl: Option<std::net::TcpStream>,
}

pub fn baresip_agent(sw: &Switch, id: &str, password: &str) -> Baresip {
    let account = format!(
        "<sip:{id}@127.0.0.1:{switch};transport=udp>;auth_user={id};auth_pass={password};regint=60;answermode=auto;audio_codecs=PCMU,PCMA\n",
        switch = sw.sip_port
    );
    baresip_with_account(&account)
}

/// A baresip phone used as a caller: no registration; it dials with `Baresip::command("dial", ..)`.
pub fn baresip_caller(user: &str) -> Baresip {
    baresip_with_account(&format!("<sip:{user}@127.0.0.1>;regint=0;audio_codecs=PCMU,PCMA\n"))
}

fn baresip_with_account(account: &str) -> Baresip {
    let dir = TempDir::new("baresip");
    let sip_port = free_port();
    let ctrl_port = free_port();
    let tone = dir.path().join("tone.wav");
    let st = Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&tone)
        .args(["synth", "60", "sine", "440", "vol", "0.3"])
        .status()
        .expect("run sox");
    assert!(st.success(), "sox failed to make the tone");
    let config = format!(
        "sip_listen\t\t127.0.0.1:{sip_port}\n\
         audio_player\t\taufile,/dev/null\n\
         audio_source\t\taufile,{tone}\n\
         audio_alert\t\taufile,/dev/null\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module_tmp\t\taccount.so\n\
         module_app\t\tmenu.so\n\
         module_app\t\tctrl_tcp.so\n\
         ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n",
        tone = tone.display()
    );
    std::fs::write(dir.path().join("config"), config).expect("write baresip config");
    std::fs::write(dir.path().join("accounts"), account).expect("write accounts");
    std::fs::write(dir.path().join("contacts"), "").expect("write contacts");
    let log = std::fs::File::create(dir.path().join("baresip.log")).expect("log");
    let proc = Proc::spawn(
        "baresip",
        Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .args(["-n", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log),
    );
    Baresip { proc, sip_port, ctrl_port, dir, ctrl: None }
}

impl Baresip {
    /// Sends a ctrl_tcp command (netstring-framed JSON), connecting on first use.
    pub fn command(&mut self, command: &str, params: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.ctrl.is_none() {
            match std::net::TcpStream::connect(("127.0.0.1", self.ctrl_port)) {
                Ok(s) => {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                    self.ctrl = Some(s);
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("baresip control port: {e}\n{}", self.log()),
            }
        }
        let json = serde_json::json!({"command": command, "params": params, "token": command}).to_string();
        let frame = format!("{}:{},", json.len(), json);
        if let Some(s) = self.ctrl.as_mut() {
            s.write_all(frame.as_bytes()).expect("baresip command");
        }
    }

    /// Reads control events until one has `type` equal to `wanted` (e.g. "CALL_ESTABLISHED").
    pub fn wait_event(&mut self, wanted: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let Some(s) = self.ctrl.as_mut() else { return false };
            match std::io::Read::read(s, &mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if seen.contains(&format!("\"type\":\"{wanted}\"")) {
                        return true;
                    }
                }
                Err(_) => {}
            }
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }
}
