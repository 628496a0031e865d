//! Tests for loading, defaults and every class of configuration error.

use std::net::IpAddr;
use std::path::PathBuf;

use super::validate;
use super::*;

const DOCKER_TOML: &str = include_str!("../../docker/meritline.toml");

/// A minimal valid configuration file body (sections take defaults).
const MINIMAL: &str = r#"
[[trunks]]
name = "carrier"
allow = ["192.0.2.0/24"]
[[routes]]
did = "100"
queue = "sales"

[[queues]]
name = "sales"
skills = ["sales"]

[[agents]]
id = "alice"
password = "secret"
skills = ["sales"]
"#;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Writes `bytes` to a per-test file in the temp directory and returns its path.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meritline-config-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A 44-byte PCM WAV header with no samples.
fn wav_bytes() -> Vec<u8> {
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&36u32.to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&0u32.to_le_bytes());
    wav
}

fn parse(text: &str) -> Config {
    match Config::parse_toml(text, "test.toml") {
        Ok(config) => config,
        Err(err) => panic!("unexpected parse error: {err}"),
    }
}

fn parse_error(text: &str) -> ConfigError {
    match Config::parse_toml(text, "test.toml") {
        Ok(config) => panic!("expected a parse error, got {config:?}"),
        Err(err) => err,
    }
}

/// The value issues of the reference configuration after `edit`.
fn issues_after(edit: impl FnOnce(&mut Config)) -> Vec<ConfigIssue> {
    let mut config = Config::default();
    edit(&mut config);
    validate::value_issues(&config)
}

fn keys(issues: &[ConfigIssue]) -> Vec<&str> {
    issues.iter().map(|issue| issue.key.as_str()).collect()
}

fn warning_keys(config: &Config) -> Vec<String> {
    config.warnings().into_iter().map(|warning| warning.key).collect()
}

// ----- defaults -------------------------------------------------------------------------------

#[test]
fn reference_file_describes_the_defaults() {
    assert_eq!(parse(REFERENCE_TOML), Config::default());
}

#[test]
fn defaults_match_the_documented_setup() {
    let config = Config::default();
    assert_eq!(config.sip.listen, "127.0.0.1:5060".parse().unwrap());
    assert_eq!(config.sip.transports, vec![SipTransport::Udp, SipTransport::Tcp]);
    assert_eq!(config.sip.realm, "meritline");
    assert_eq!(config.sip.nonce_ttl(), Duration::from_secs(300));
    assert_eq!(
        (
            config.sip.register_min_expires_seconds,
            config.sip.register_max_expires_seconds,
            config.sip.register_default_expires_seconds
        ),
        (60, 3600, 3600)
    );
    assert_eq!(config.sip.t1(), Duration::from_millis(500));
    assert_eq!(config.sip.public_address, None);
    assert_eq!(config.http.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(config.media.ip, ip("127.0.0.1"));
    assert_eq!((config.media.rtp_port_min, config.media.rtp_port_max), (20000, 20999));
    assert_eq!(config.media.rtp_port_pairs(), 500);
    assert_eq!(config.media.hold_prompt, None, "the built-in hold audio plays");
    assert_eq!(config.media.survey_prompts_dir, None, "the built-in survey prompts play");
    assert_eq!(config.store.path, PathBuf::from("data/meritline.db"));

    let trunk = config.trunk_for_source(ip("127.0.0.1")).unwrap();
    assert_eq!(trunk.name, "demo");
    assert_eq!(config.route("5551000").map(|route| route.queue.as_str()), Some("support"));
    assert!(config.route("5551001").is_none());
    assert!(config.trunk_for_source(ip("192.0.2.1")).is_none());

    let queue = config.queue("support").unwrap();
    assert_eq!(queue.ring_timeout(), Duration::from_secs(15));
    assert_eq!(queue.max_wait(), Duration::from_secs(600));

    assert_eq!(config.agents.len(), 3);
    let agent = config.agent("agent2").unwrap();
    assert_eq!(agent.password, "agent2pass");
    assert_eq!(agent.display_name(), "Demo Agent 2");
    assert_eq!(agent.wrapup(), Duration::from_secs(5));
    assert_eq!(config.sip_advertised_ip(), ip("127.0.0.1"));
    assert_eq!(config.media_advertised_ip(), ip("127.0.0.1"));
}

#[test]
fn defaults_are_consistent_and_warning_free() {
    assert_eq!(validate::value_issues(&Config::default()), Vec::new());
    assert_eq!(Config::default().warnings(), Vec::new());
}

#[test]
fn defaults_need_no_file_in_the_working_directory() {
    // Validation runs the file checks; with the defaults there is no file to check, so this
    // passes in any folder (the prompts are built in).
    let config = Config::default();
    assert_eq!(validate::file_issues(&config), Vec::new());
    config.validate().unwrap();
}

#[test]
fn defaults_validate_with_a_readable_prompt() {
    let mut config = Config::default();
    config.media.hold_prompt = Some(temp_file("defaults-hold.wav", &wav_bytes()));
    config.validate().unwrap();
}

#[test]
fn docker_config_is_valid_apart_from_its_prompt_path() {
    let config = parse(DOCKER_TOML);
    assert_eq!(validate::value_issues(&config), Vec::new());
    assert!(config.sip.listen.ip().is_unspecified());
    assert!(config.http.listen.ip().is_unspecified());
    assert_eq!(config.media.hold_prompt, Some(PathBuf::from("/etc/meritline/prompts/hold.wav")));
    assert!(config.store.path.is_absolute());
}

#[test]
fn debug_output_hides_passwords() {
    let text = format!("{:?}", Config::default());
    assert!(!text.contains("agent1pass"), "{text}");
    assert!(text.contains("<redacted>"));
}

// ----- loading --------------------------------------------------------------------------------

#[test]
fn missing_sections_take_defaults_and_lists_start_empty() {
    let config = parse(MINIMAL);
    assert_eq!(config.sip, SipConfig::default());
    assert_eq!(config.http, HttpConfig::default());
    assert_eq!(config.media, MediaConfig::default());
    assert_eq!(config.store, StoreConfig::default());
    assert_eq!(config.agents.len(), 1);
    assert_eq!(config.agents[0].display_name(), "alice");
    assert_eq!(config.agents[0].wrapup_seconds, 5);
    assert_eq!(config.queues[0].ring_timeout_seconds, 15);

    let empty = parse("");
    assert!(empty.trunks.is_empty() && empty.queues.is_empty() && empty.agents.is_empty());
    assert_eq!(warning_keys(&empty), vec!["trunks".to_owned()]);
}

#[test]
fn missing_keys_inside_a_section_take_defaults() {
    let config = parse("[sip]\nlisten = \"127.0.0.1:5070\"\n[media]\nrtp_port_min = 30000\nrtp_port_max = 30099\n");
    assert_eq!(config.sip.listen.port(), 5070);
    assert_eq!(config.sip.realm, "meritline");
    assert_eq!(config.media.rtp_port_pairs(), 50);
    assert_eq!(config.media.hold_prompt, MediaConfig::default().hold_prompt);
}

#[test]
fn load_reads_and_validates_a_file() {
    let prompt = temp_file("load-hold.wav", &wav_bytes());
    let text = format!("{MINIMAL}\n[media]\nhold_prompt = {:?}\n", prompt.display().to_string());
    let path = temp_file("load.toml", text.as_bytes());
    let config = Config::load(Some(&path)).unwrap();
    assert_eq!(config.trunks[0].name, "carrier");
    assert!(config.trunk_for_source(ip("192.0.2.77")).is_some());
    assert_eq!(config.media.hold_prompt, Some(prompt));
}

#[test]
fn load_of_a_missing_file_is_a_read_error() {
    let path = std::env::temp_dir().join("meritline-config-tests-no-such-dir/none.toml");
    let err = Config::load(Some(&path)).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().starts_with("config error: cannot read "), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn load_names_the_file_in_errors() {
    let path = temp_file("bad-key.toml", b"[http]\nlisten = \"127.0.0.1:8080\"\nport = 1\n");
    let err = Config::load(Some(&path)).unwrap_err();
    let origin = path.display().to_string();
    assert_eq!(
        err.to_string(),
        format!("config error: http.port: unknown key `port`, expected `listen` (at {origin}:3:1)")
    );
}

#[test]
fn validation_reports_every_issue_with_the_origin() {
    let text = format!(
        "{MINIMAL}\n[sip]\nlisten = \"127.0.0.1:8080\"\n[media]\nhold_prompt = {:?}\n",
        temp_file("multi-hold.wav", &wav_bytes()).display().to_string()
    )
    .replace("password = \"secret\"", "password = \"\"");
    let err = Config::from_toml_str(&text, "multi.toml").unwrap_err();
    assert_eq!(keys(&err.issues()), vec!["http.listen", "agents[0].password"]);
    assert_eq!(
        err.to_string(),
        "config error: http.listen: port 8080 is already used by sip.listen (127.0.0.1:8080) (in multi.toml)\n\
         config error: agents[0].password: must not be empty (in multi.toml)"
    );
}

// ----- parse errors ---------------------------------------------------------------------------

#[test]
fn unknown_keys_are_named_with_their_path_and_position() {
    let err = parse_error("[sip]\nlisten = \"127.0.0.1:5060\"\nlisen = \"x\"\n");
    assert_eq!(err.key(), Some("sip.lisen"));
    assert!(matches!(err, ConfigError::Parse { line: 3, column: 1, .. }), "{err:?}");
    assert!(err.to_string().starts_with("config error: sip.lisen: unknown key `lisen`, expected one of"), "{err}");

    let top = parse_error("[sipp]\n");
    assert_eq!(top.key(), Some("sipp"));

    let nested = parse_error(&format!("{MINIMAL}\n[[trunks]]\nname = \"b\"\nallow = [\"::1\"]\ncolour = 1\n"));
    assert_eq!(nested.key(), Some("trunks[1].colour"));

    let route = parse_error("[[routes]]\ndid = \"1\"\nqueue = \"q\"\nprio = 1\n");
    assert_eq!(route.key(), Some("routes[0].prio"));
}

#[test]
fn wrong_types_are_named() {
    let err = parse_error("[sip]\nt1_ms = \"fast\"\n");
    assert_eq!(err.key(), Some("sip.t1_ms"));
    assert!(err.to_string().contains("invalid type: string \"fast\""), "{err}");

    let err = parse_error("[media]\nrtp_port_max = 70000\n");
    assert_eq!(err.key(), Some("media.rtp_port_max"));

    let err = parse_error("[sip]\nlisten = \"localhost:5060\"\n");
    assert_eq!(err.key(), Some("sip.listen"));

    let err = parse_error("[media]\nip = \"1.2.3\"\n");
    assert_eq!(err.key(), Some("media.ip"));

    let err = parse_error("[sip]\ntransports = [\"udp\", \"tls\"]\n");
    assert_eq!(err.key(), Some("sip.transports[1]"));
    assert!(err.to_string().contains("unknown variant `tls`"), "{err}");

    let err = parse_error("[[queues]]\nname = \"q\"\nskills = \"support\"\n");
    assert_eq!(err.key(), Some("queues[0].skills"));

    let err = parse_error("sip = 5\n");
    assert_eq!(err.key(), Some("sip"));
}

#[test]
fn missing_required_keys_are_named() {
    let err = parse_error("[[agents]]\nid = \"bob\"\n");
    assert_eq!(err.key(), Some("agents[0].password"));
    assert!(err.to_string().starts_with("config error: agents[0].password: required key is missing"), "{err}");

    let err = parse_error("[[trunks]]\nname = \"t\"\n");
    assert_eq!(err.key(), Some("trunks[0].allow"));
}

#[test]
fn invalid_cidrs_are_named_by_index() {
    let err = parse_error("[[trunks]]\nname = \"t\"\nallow = [\"127.0.0.0/8\", \"10.0.0/33\"]\n");
    assert_eq!(err.key(), Some("trunks[0].allow[1]"));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "config error: trunks[0].allow[1]: invalid CIDR \"10.0.0/33\": not an IP address (at test.toml:3:"
        ),
        "{text}"
    );

    let err = parse_error("[[trunks]]\nname = \"t\"\nallow = [\"10.0.0.0/40\"]\n");
    assert_eq!(err.key(), Some("trunks[0].allow[0]"));
    assert!(err.to_string().contains("prefix length must be at most 32"), "{err}");

    let v6 = parse("[[trunks]]\nname = \"t\"\nallow = [\"2001:db8::/32\", \"::1\"]\n");
    assert!(v6.trunks[0].allows(ip("2001:db8::5")));
    assert!(v6.trunks[0].allows(ip("::1")));
}

#[test]
fn syntax_errors_have_a_position_but_no_key() {
    let err = parse_error("[sip]\nlisten = \n");
    assert_eq!(err.key(), None);
    match &err {
        ConfigError::Parse { line, message, .. } => {
            assert_eq!(*line, 2);
            assert!(!message.contains('\n'));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("config error: "), "{err}");
}

// ----- value errors ---------------------------------------------------------------------------

#[test]
fn sip_and_http_on_the_same_port_clash() {
    let issues = issues_after(|c| c.http.listen = "127.0.0.1:5060".parse().unwrap());
    assert_eq!(keys(&issues), vec!["http.listen"]);
    assert_eq!(issues[0].to_string(), "http.listen: port 5060 is already used by sip.listen (127.0.0.1:5060)");

    let wildcard = issues_after(|c| c.http.listen = "0.0.0.0:5060".parse().unwrap());
    assert_eq!(keys(&wildcard), vec!["http.listen"]);

    let other_ip = issues_after(|c| c.http.listen = "127.0.0.2:5060".parse().unwrap());
    assert_eq!(other_ip, Vec::new());
}

#[test]
fn rtp_range_must_not_contain_sip_or_http_ports() {
    let issues = issues_after(|c| {
        c.media.rtp_port_min = 5000;
        c.media.rtp_port_max = 9999;
    });
    assert_eq!(keys(&issues), vec!["media.rtp_port_min", "media.rtp_port_min"]);
    assert!(issues[0].message.contains("sip.listen"), "{}", issues[0]);
    assert!(issues[1].message.contains("http.listen"), "{}", issues[1]);

    let different_ip = issues_after(|c| {
        c.media.ip = ip("127.0.0.5");
        c.media.rtp_port_min = 5000;
        c.media.rtp_port_max = 5999;
    });
    assert_eq!(different_ip, Vec::new());
}

#[test]
fn rtp_range_shape_is_checked() {
    let odd = issues_after(|c| c.media.rtp_port_min = 20001);
    assert_eq!(keys(&odd), vec!["media.rtp_port_min"]);
    assert!(odd[0].message.contains("must be even"));

    let inverted = issues_after(|c| {
        c.media.rtp_port_min = 30000;
        c.media.rtp_port_max = 20000;
    });
    assert_eq!(keys(&inverted), vec!["media.rtp_port_max"]);

    let single_port = issues_after(|c| c.media.rtp_port_max = 20000);
    assert_eq!(keys(&single_port), vec!["media.rtp_port_max"]);

    let zero = issues_after(|c| c.media.rtp_port_min = 0);
    assert_eq!(keys(&zero), vec!["media.rtp_port_min"]);

    let one_pair = issues_after(|c| c.media.rtp_port_max = 20001);
    assert_eq!(one_pair, Vec::new());
}

#[test]
fn sip_values_are_checked() {
    assert_eq!(keys(&issues_after(|c| c.sip.transports.clear())), vec!["sip.transports"]);
    assert_eq!(keys(&issues_after(|c| c.sip.transports.push(SipTransport::Udp))), vec!["sip.transports[2]"]);
    assert_eq!(keys(&issues_after(|c| c.sip.realm.clear())), vec!["sip.realm"]);
    assert_eq!(keys(&issues_after(|c| c.sip.realm = "a\"b".into())), vec!["sip.realm"]);
    assert_eq!(keys(&issues_after(|c| c.sip.user_agent = "x\r\ny".into())), vec!["sip.user_agent"]);
    assert_eq!(keys(&issues_after(|c| c.sip.listen.set_port(0))), vec!["sip.listen"]);
    assert_eq!(keys(&issues_after(|c| c.sip.t1_ms = 0)), vec!["sip.t1_ms"]);
    assert_eq!(keys(&issues_after(|c| c.sip.nonce_ttl_seconds = 0)), vec!["sip.nonce_ttl_seconds"]);
    assert_eq!(keys(&issues_after(|c| c.sip.max_tcp_connections = 0)), vec!["sip.max_tcp_connections"]);
    assert_eq!(
        issues_after(|c| {
            c.sip.max_tcp_connections = 0;
            c.sip.transports = vec![SipTransport::Udp];
        }),
        Vec::new()
    );
    assert_eq!(keys(&issues_after(|c| c.sip.public_address = Some(ip("0.0.0.0")))), vec!["sip.public_address"]);
}

#[test]
fn register_expiry_limits_are_ordered() {
    assert_eq!(
        keys(&issues_after(|c| c.sip.register_max_expires_seconds = 30)),
        vec!["sip.register_max_expires_seconds"]
    );
    assert_eq!(
        keys(&issues_after(|c| c.sip.register_default_expires_seconds = 7200)),
        vec!["sip.register_default_expires_seconds"]
    );
    assert_eq!(
        keys(&issues_after(|c| c.sip.register_default_expires_seconds = 10)),
        vec!["sip.register_default_expires_seconds"]
    );
    assert_eq!(
        keys(&issues_after(|c| {
            c.sip.register_min_expires_seconds = 0;
            c.sip.register_default_expires_seconds = 0;
        })),
        vec!["sip.register_min_expires_seconds"]
    );
}

#[test]
fn routes_must_name_a_defined_queue() {
    let issues = issues_after(|c| c.routes[0].queue = "sales".into());
    assert_eq!(keys(&issues), vec!["routes[0].queue"]);
    assert_eq!(issues[0].to_string(), "routes[0].queue: unknown queue \"sales\" (defined queues: support)");
}

#[test]
fn duplicates_are_rejected() {
    let trunk = issues_after(|c| {
        let copy = c.trunks[0].clone();
        c.trunks.push(copy);
    });
    assert_eq!(keys(&trunk), vec!["trunks[1].name"]);
    assert_eq!(trunk[0].message, "duplicate trunk name \"demo\" (first at trunks[0].name)");

    let queue = issues_after(|c| {
        let copy = c.queues[0].clone();
        c.queues.push(copy);
    });
    assert_eq!(keys(&queue), vec!["queues[1].name"]);

    let agent = issues_after(|c| c.agents[2].id = "agent1".into());
    assert_eq!(keys(&agent), vec!["agents[2].id"]);

    let did = issues_after(|c| {
        let copy = c.routes[0].clone();
        c.routes.push(copy);
    });
    assert_eq!(keys(&did), vec!["routes[1].did"]);

    let skill = issues_after(|c| c.agents[0].skills.push("support".into()));
    assert_eq!(keys(&skill), vec!["agents[0].skills[1]"]);
}

#[test]
fn names_and_dids_have_a_safe_syntax() {
    assert_eq!(keys(&issues_after(|c| c.agents[0].id = "agent 1".into())), vec!["agents[0].id"]);
    assert_eq!(keys(&issues_after(|c| c.agents[0].id = String::new())), vec!["agents[0].id"]);
    assert_eq!(keys(&issues_after(|c| c.trunks[0].name = "x@y".into())), vec!["trunks[0].name"]);
    assert_eq!(keys(&issues_after(|c| c.agents[1].skills[0] = String::new())), vec!["agents[1].skills[0]"]);
    assert_eq!(keys(&issues_after(|c| c.routes[0].did = "555 1000".into())), vec!["routes[0].did"]);
    assert_eq!(issues_after(|c| c.routes[0].did = "+15551000".into()), Vec::new());
    assert_eq!(keys(&issues_after(|c| c.agents[0].name = Some(" ".into()))), vec!["agents[0].name"]);
}

#[test]
fn passwords_must_not_be_empty() {
    let issues = issues_after(|c| c.agents[1].password.clear());
    assert_eq!(keys(&issues), vec!["agents[1].password"]);
    assert_eq!(issues[0].to_string(), "agents[1].password: must not be empty");
}

#[test]
fn trunks_and_queues_need_content() {
    assert_eq!(keys(&issues_after(|c| c.trunks[0].allow.clear())), vec!["trunks[0].allow"]);
    assert_eq!(keys(&issues_after(|c| c.queues[0].skills.clear())), vec!["queues[0].skills"]);
    assert_eq!(keys(&issues_after(|c| c.queues[0].ring_timeout_seconds = 0)), vec!["queues[0].ring_timeout_seconds"]);
    assert_eq!(keys(&issues_after(|c| c.queues[0].max_wait_seconds = 0)), vec!["queues[0].max_wait_seconds"]);
    assert_eq!(keys(&issues_after(|c| c.store.path = PathBuf::new())), vec!["store.path"]);
}

#[test]
fn merit_parameters_are_checked_by_key() {
    let key = |edit: fn(&mut MeritConfig)| {
        let issues = issues_after(|c| edit(&mut c.queues[0].merit));
        keys(&issues).iter().map(|k| k.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(key(|m| m.temperature = 0.0), vec!["queues[0].merit.temperature"]);
    assert_eq!(key(|m| m.floor_share = 1.5), vec!["queues[0].merit.floor_share"]);
    assert_eq!(key(|m| m.occupancy_cap = 0.0), vec!["queues[0].merit.occupancy_cap"]);
    assert_eq!(key(|m| m.floor_window_offers = 1), vec!["queues[0].merit.floor_window_offers"]);
    let config = parse(&REFERENCE_TOML.replace("# [queues.merit]", "[queues.merit]\nfloor_window_offers = 50\n# "));
    assert_eq!(config.queues[0].merit.floor_window_offers, 50);
}

// ----- warnings -------------------------------------------------------------------------------

#[test]
fn agent_without_a_matching_skill_is_only_a_warning() {
    let mut config = Config::default();
    config.agents[2].skills = vec!["billing".into()];
    assert_eq!(validate::value_issues(&config), Vec::new());
    assert_eq!(warning_keys(&config), vec!["agents[2].skills".to_owned()]);
    let warning = &config.warnings()[0];
    assert!(warning.to_string().starts_with("config warning: agents[2].skills: agent \"agent3\""), "{warning}");
}

#[test]
fn other_warnings() {
    let mut config = Config::default();
    config.sip.listen = "0.0.0.0:5060".parse().unwrap();
    config.trunks[0].allow.push("0.0.0.0/0".parse().unwrap());
    config.queues.push(QueueConfig::named("sales", &["sales"]));
    assert_eq!(validate::value_issues(&config), Vec::new());
    assert_eq!(
        warning_keys(&config),
        vec!["sip.public_address", "trunks[0].allow[1]", "queues[1]", "queues[1].skills"]
    );
    config.sip.public_address = Some(ip("192.0.2.10"));
    assert_eq!(config.sip_advertised_ip(), ip("192.0.2.10"));
    assert_eq!(config.media_advertised_ip(), ip("192.0.2.10"));
    assert!(!warning_keys(&config).contains(&"sip.public_address".to_owned()));
}

// ----- hold prompt ----------------------------------------------------------------------------

#[test]
fn hold_prompt_must_be_a_readable_wav() {
    let mut config = Config::default();
    config.media.hold_prompt = Some(temp_file("good.wav", &wav_bytes()));
    assert_eq!(validate::file_issues(&config), Vec::new());

    config.media.hold_prompt = Some(temp_file("text.wav", b"this is not a wav file at all"));
    let issues = validate::file_issues(&config);
    assert_eq!(keys(&issues), vec!["media.hold_prompt"]);
    assert!(issues[0].message.contains("no RIFF/WAVE header"), "{}", issues[0]);

    config.media.hold_prompt = Some(temp_file("short.wav", b"RIFF"));
    let issues = validate::file_issues(&config);
    assert!(issues[0].message.contains("shorter than a RIFF header"), "{}", issues[0]);

    config.media.hold_prompt = Some(std::env::temp_dir().join("meritline-config-tests-no-such-dir/hold.wav"));
    let issues = validate::file_issues(&config);
    assert_eq!(keys(&issues), vec!["media.hold_prompt"]);
    assert!(issues[0].message.starts_with("cannot read "), "{}", issues[0]);

    config.media.hold_prompt = Some(PathBuf::from("no-such-dir/hold.wav"));
    let issues = validate::file_issues(&config);
    assert!(issues[0].message.contains("relative to the working directory"), "{}", issues[0]);

    config.media.hold_prompt = Some(PathBuf::new());
    assert_eq!(keys(&validate::file_issues(&config)), vec!["media.hold_prompt"]);
}

#[test]
fn file_shaped_like_the_real_peer_harness_loads() {
    let dir = std::env::temp_dir().join(format!("meritline-config-tests-{}", std::process::id()));
    let hold = temp_file("harness-hold.wav", &wav_bytes());
    let db = dir.join("meritline.db");
    let text = format!(
        "[sip]\nlisten = \"127.0.0.1:41000\"\ntransports = [\"udp\", \"tcp\"]\n\n\
         [http]\nlisten = \"127.0.0.1:41001\"\n\n\
         [media]\nip = \"127.0.0.1\"\nrtp_port_min = 42000\nrtp_port_max = 42199\nhold_prompt = {hold:?}\n\n\
         [store]\npath = {db:?}\n\n\
         [[trunks]]\nname = \"carrier\"\nallow = [\"127.0.0.1/32\"]\n\n\
         [[routes]]\ndid = \"5551000\"\nqueue = \"support\"\n\n\
         [[queues]]\nname = \"support\"\nskills = [\"support\"]\nring_timeout_seconds = 3\nmax_wait_seconds = 600\n\n\
         [[agents]]\nid = \"agent1\"\nname = \"agent1\"\npassword = \"secret1\"\nskills = [\"support\"]\nwrapup_seconds = 0\n"
    );
    let config = Config::from_toml_str(&text, "harness.toml").unwrap();
    assert_eq!(config.warnings(), Vec::new());
    assert_eq!(config.store.path, db);
    assert_eq!(config.queue("support").unwrap().ring_timeout(), Duration::from_secs(3));
    assert_eq!(config.agent("agent1").unwrap().wrapup_seconds, 0);
    assert!(config.trunk_for_source(ip("127.0.0.5")).is_none());
}

#[test]
fn answer_mode_is_per_queue_with_a_trunk_override() {
    let config = parse(MINIMAL);
    assert_eq!(config.queues[0].answer, AnswerMode::Immediate, "default");
    assert_eq!(config.trunks[0].answer, None, "default: the queue decides");
    assert_eq!(config.answer_mode(&config.trunks[0], "sales"), AnswerMode::Immediate);

    let early_queue = MINIMAL.replace("skills = [\"sales\"]\n\n", "skills = [\"sales\"]\nanswer = \"early_media\"\n\n");
    let config = parse(&early_queue);
    assert_eq!(config.queues[0].answer, AnswerMode::EarlyMedia);
    assert_eq!(config.answer_mode(&config.trunks[0], "sales"), AnswerMode::EarlyMedia);

    let trunk_override =
        early_queue.replace("allow = [\"192.0.2.0/24\"]\n", "allow = [\"192.0.2.0/24\"]\nanswer = \"immediate\"\n");
    let config = parse(&trunk_override);
    assert_eq!(config.trunks[0].answer, Some(AnswerMode::Immediate));
    assert_eq!(config.answer_mode(&config.trunks[0], "sales"), AnswerMode::Immediate, "the trunk wins");
}

#[test]
fn a_bad_answer_mode_is_named_by_key() {
    let err = parse_error(&MINIMAL.replace("skills = [\"sales\"]\n\n", "skills = [\"sales\"]\nanswer = \"later\"\n\n"));
    assert_eq!(err.key(), Some("queues[0].answer"));
    assert!(err.to_string().contains("unknown variant `later`, expected `immediate` or `early_media`"), "{err}");
    assert_eq!(err.exit_code(), 2);

    let err =
        parse_error(&MINIMAL.replace("allow = [\"192.0.2.0/24\"]\n", "allow = [\"192.0.2.0/24\"]\nanswer = 183\n"));
    assert_eq!(err.key(), Some("trunks[0].answer"));
}
