//! Whole-configuration checks that a single key's type cannot express: port clashes between
//! the SIP, HTTP and RTP listeners, RTP range shape, registrar limits, name syntax and
//! uniqueness, routes to unknown queues or with duplicate DIDs, empty passwords, and the hold
//! prompt file being a readable WAV. Errors and warnings name the exact key (`routes[1].queue`).

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;

use super::{Config, ConfigIssue, ConfigWarning, SipTransport};

/// Longest accepted trunk/queue/agent/skill name.
const MAX_NAME_LEN: usize = 64;

/// Every inconsistency among the values (no filesystem access).
pub(super) fn value_issues(config: &Config) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    check_sip(config, &mut issues);
    check_http_and_media(config, &mut issues);
    if config.store.path.as_os_str().is_empty() {
        issues.push(ConfigIssue::new("store.path", "must not be empty"));
    }
    check_queues(config, &mut issues);
    check_trunks(config, &mut issues);
    check_routes(config, &mut issues);
    check_agents(config, &mut issues);
    check_webhooks(config, &mut issues);
    check_surveys(config, &mut issues);
    if let Err(e) = config.scoring.validate() {
        issues.push(ConfigIssue::new("scoring", e.to_string()));
    }
    issues
}

/// Problems with files the configuration points at: a configured hold prompt must be a readable
/// WAV, and so must each survey prompt in a configured folder (unset, the built-in ones play).
/// Only the RIFF/WAVE header is checked here; the media module parses the format itself.
pub(super) fn file_issues(config: &Config) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    if let Some(path) = &config.media.hold_prompt {
        issues.extend(wav_issues("media.hold_prompt", path));
    }
    if let Some(dir) = &config.media.survey_prompts_dir {
        if config.queues.iter().any(|q| q.survey_spec().is_some()) {
            for prompt in crate::survey::PromptId::ALL {
                issues.extend(wav_issues("media.survey_prompts_dir", &dir.join(prompt.file_name())));
            }
        }
    }
    issues
}

/// `path` (configured under `key`) must be a readable RIFF/WAVE file.
fn wav_issues(key: &str, path: &std::path::Path) -> Vec<ConfigIssue> {
    if path.as_os_str().is_empty() {
        return vec![ConfigIssue::new(key, "must not be empty")];
    }
    let where_hint = if path.is_relative() {
        match std::env::current_dir() {
            Ok(cwd) => format!(" (relative to the working directory {})", cwd.display()),
            Err(_) => " (relative to the working directory)".to_owned(),
        }
    } else {
        String::new()
    };
    let mut header = [0u8; 12];
    let read = std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut header));
    match read {
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => vec![ConfigIssue::new(
            key,
            format!("{:?} is not a WAV file (shorter than a RIFF header){where_hint}", path.display().to_string()),
        )],
        Err(err) => {
            vec![ConfigIssue::new(key, format!("cannot read {:?}: {err}{where_hint}", path.display().to_string()))]
        }
        Ok(()) if &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" => vec![ConfigIssue::new(
            key,
            format!("{:?} is not a WAV file (no RIFF/WAVE header){where_hint}", path.display().to_string()),
        )],
        Ok(()) => Vec::new(),
    }
}

/// Legal but probably unintended settings.
pub(super) fn warnings(config: &Config) -> Vec<ConfigWarning> {
    let mut warnings = Vec::new();
    let mut warn = |key: String, message: String| warnings.push(ConfigWarning { key, message });
    if config.sip.public_address.is_none() {
        if config.sip.listen.ip().is_unspecified() {
            warn(
                "sip.public_address".to_owned(),
                format!(
                    "not set while sip.listen is {}; Contact headers need a reachable address",
                    config.sip.listen.ip()
                ),
            );
        } else if config.media.ip.is_unspecified() {
            warn(
                "sip.public_address".to_owned(),
                format!("not set while media.ip is {}; SDP needs a reachable address", config.media.ip),
            );
        }
    }
    if config.trunks.is_empty() {
        warn("trunks".to_owned(), "no trunks: every incoming call will be refused".to_owned());
    }
    for (t, trunk) in config.trunks.iter().enumerate() {
        for (a, network) in trunk.allow.iter().enumerate() {
            if network.prefix_len() == 0 {
                warn(format!("trunks[{t}].allow[{a}]"), format!("{network} accepts calls from any address"));
            }
        }
    }
    if config.routes.is_empty() && !config.trunks.is_empty() {
        warn("routes".to_owned(), "no routes: every carrier call will be answered 404".to_owned());
    }
    for (q, queue) in config.queues.iter().enumerate() {
        if !config.routes.iter().any(|route| route.queue == queue.name) {
            warn(format!("queues[{q}]"), format!("no route leads to queue {:?}", queue.name));
        }
        let shares = |a: &[String], b: &[String]| a.iter().any(|x| b.iter().any(|y| skill_name(x) == skill_name(y)));
        if !config.agents.iter().any(|agent| shares(&agent.skills, &queue.skills)) {
            warn(format!("queues[{q}].skills"), format!("no agent has any of the skills of queue {:?}", queue.name));
        }
    }
    for (i, agent) in config.agents.iter().enumerate() {
        let shares = |a: &[String], b: &[String]| a.iter().any(|x| b.iter().any(|y| skill_name(x) == skill_name(y)));
        if !config.queues.iter().any(|queue| shares(&agent.skills, &queue.skills)) {
            warn(
                format!("agents[{i}].skills"),
                format!("agent {:?} has no skill any queue asks for and will never be offered calls", agent.id),
            );
        }
    }
    warnings
}

fn check_sip(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let sip = &config.sip;
    if sip.listen.port() == 0 {
        issues.push(ConfigIssue::new("sip.listen", "port must not be 0"));
    }
    if sip.transports.is_empty() {
        issues.push(ConfigIssue::new("sip.transports", "must list at least one of \"udp\", \"tcp\""));
    }
    for (index, transport) in sip.transports.iter().enumerate() {
        if sip.transports[..index].contains(transport) {
            issues.push(ConfigIssue::new(format!("sip.transports[{index}]"), "listed twice"));
        }
    }
    if sip.realm.is_empty() {
        issues.push(ConfigIssue::new("sip.realm", "must not be empty"));
    } else if sip.realm.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        issues.push(ConfigIssue::new("sip.realm", "must not contain quotes, backslashes or control characters"));
    }
    if sip.user_agent.is_empty() {
        issues.push(ConfigIssue::new("sip.user_agent", "must not be empty"));
    } else if sip.user_agent.chars().any(char::is_control) {
        issues.push(ConfigIssue::new("sip.user_agent", "must not contain control characters"));
    }
    if let Some(public) = sip.public_address {
        if public.is_unspecified() {
            issues.push(ConfigIssue::new("sip.public_address", format!("{public} is not a reachable address")));
        }
    }
    if sip.nonce_ttl_seconds == 0 {
        issues.push(ConfigIssue::new("sip.nonce_ttl_seconds", "must be at least 1"));
    }
    if sip.register_min_expires_seconds == 0 {
        issues.push(ConfigIssue::new("sip.register_min_expires_seconds", "must be at least 1"));
    }
    if sip.register_max_expires_seconds < sip.register_min_expires_seconds {
        issues.push(ConfigIssue::new(
            "sip.register_max_expires_seconds",
            format!("must be at least sip.register_min_expires_seconds ({})", sip.register_min_expires_seconds),
        ));
    } else if sip.register_default_expires_seconds < sip.register_min_expires_seconds
        || sip.register_default_expires_seconds > sip.register_max_expires_seconds
    {
        issues.push(ConfigIssue::new(
            "sip.register_default_expires_seconds",
            format!(
                "must be between sip.register_min_expires_seconds ({}) and sip.register_max_expires_seconds ({})",
                sip.register_min_expires_seconds, sip.register_max_expires_seconds
            ),
        ));
    }
    if sip.uses(SipTransport::Tcp) && sip.max_tcp_connections == 0 {
        issues.push(ConfigIssue::new("sip.max_tcp_connections", "must be at least 1 when tcp is enabled"));
    }
    if sip.digest_algorithms.is_empty() {
        issues.push(ConfigIssue::new("sip.digest_algorithms", "must name at least one algorithm"));
    }
    for (i, a) in sip.digest_algorithms.iter().enumerate() {
        if sip.digest_algorithms[..i].contains(a) {
            issues.push(ConfigIssue::new(format!("sip.digest_algorithms[{i}]"), "duplicate algorithm"));
        }
    }
    if sip.t1_ms == 0 {
        issues.push(ConfigIssue::new("sip.t1_ms", "must be at least 1"));
    }
}

/// Whether two bind addresses can collide: equal, or either binds all interfaces.
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}

fn check_http_and_media(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let (sip, http, media) = (&config.sip, &config.http, &config.media);
    if http.listen.port() == 0 {
        issues.push(ConfigIssue::new("http.listen", "port must not be 0"));
    } else if http.listen.port() == sip.listen.port() && same_host(http.listen.ip(), sip.listen.ip()) {
        issues.push(ConfigIssue::new(
            "http.listen",
            format!("port {} is already used by sip.listen ({})", http.listen.port(), sip.listen),
        ));
    }

    let (min, max) = (media.rtp_port_min, media.rtp_port_max);
    if min == 0 {
        issues.push(ConfigIssue::new("media.rtp_port_min", "must not be 0"));
        return;
    } else if min % 2 != 0 {
        issues.push(ConfigIssue::new(
            "media.rtp_port_min",
            format!("must be even (RTP uses even ports, RTCP the next odd one), got {min}"),
        ));
    }
    if max <= min {
        issues.push(ConfigIssue::new(
            "media.rtp_port_max",
            format!("must be greater than media.rtp_port_min ({min}), got {max}"),
        ));
        return;
    }
    let range = min..=max;
    for (key, listen) in [("sip.listen", sip.listen), ("http.listen", http.listen)] {
        if range.contains(&listen.port()) && same_host(media.ip, listen.ip()) {
            issues.push(ConfigIssue::new(
                "media.rtp_port_min",
                format!("RTP port range {min}-{max} includes the port of {key} ({listen})"),
            ));
        }
    }
}

/// Trunk, queue, agent and skill names: 1..=64 of `A-Z a-z 0-9 . _ -` (safe in SIP user
/// parts, URLs and logs).
fn check_name(key: String, kind: &str, name: &str, issues: &mut Vec<ConfigIssue>) {
    if name.is_empty() {
        issues.push(ConfigIssue::new(key, format!("{kind} must not be empty")));
    } else if name.len() > MAX_NAME_LEN
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        issues.push(ConfigIssue::new(
            key,
            format!("{kind} {name:?} must be at most {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '.', '_', '-'"),
        ));
    }
}

/// Reports `name` if an earlier entry already used it; `seen` maps names to their first key.
fn check_unique(
    key: String,
    kind: &str,
    name: &str,
    seen: &mut HashMap<String, String>,
    issues: &mut Vec<ConfigIssue>,
) {
    match seen.get(name) {
        Some(first) => issues.push(ConfigIssue::new(key, format!("duplicate {kind} {name:?} (first at {first})"))),
        None => {
            seen.insert(name.to_owned(), key);
        }
    }
}

/// The name part of a skill written `name` or `name:level`.
fn skill_name(skill: &str) -> &str {
    skill.split_once(':').map_or(skill, |(name, _)| name)
}

/// Skills are `name` or `name:level` with a level from 1 to 5 (an agent's proficiency, or a
/// queue's minimum).
fn check_skills(key_prefix: &str, skills: &[String], issues: &mut Vec<ConfigIssue>) {
    let mut seen = HashMap::new();
    for (s, skill) in skills.iter().enumerate() {
        let key = format!("{key_prefix}.skills[{s}]");
        let name = skill_name(skill);
        if let Some((_, level)) = skill.split_once(':') {
            if !matches!(level.parse::<u8>(), Ok(1..=5)) {
                issues.push(ConfigIssue::new(key.clone(), format!("level {level:?} of skill {name:?} must be 1 to 5")));
            }
        }
        check_name(key.clone(), "skill", name, issues);
        check_unique(key, "skill", name, &mut seen, issues);
    }
}

fn check_queues(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let mut names = HashMap::new();
    for (q, queue) in config.queues.iter().enumerate() {
        let key = format!("queues[{q}].name");
        check_name(key.clone(), "queue name", &queue.name, issues);
        check_unique(key, "queue name", &queue.name, &mut names, issues);
        if queue.skills.is_empty() {
            issues.push(ConfigIssue::new(format!("queues[{q}].skills"), "must list at least one skill"));
        }
        check_skills(&format!("queues[{q}]"), &queue.skills, issues);
        if queue.ring_timeout_seconds == 0 {
            issues.push(ConfigIssue::new(format!("queues[{q}].ring_timeout_seconds"), "must be at least 1"));
        }
        if queue.max_wait_seconds == 0 {
            issues.push(ConfigIssue::new(format!("queues[{q}].max_wait_seconds"), "must be at least 1"));
        }
    }
}

/// A DID is matched exactly against the Request-URI user part: digits, letters and `+ * # . _ -`.
fn valid_did(did: &str) -> bool {
    !did.is_empty()
        && did.len() <= MAX_NAME_LEN
        && did.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'*' | b'#' | b'.' | b'_' | b'-'))
}

fn check_trunks(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let mut names = HashMap::new();
    for (t, trunk) in config.trunks.iter().enumerate() {
        let key = format!("trunks[{t}].name");
        check_name(key.clone(), "trunk name", &trunk.name, issues);
        check_unique(key, "trunk name", &trunk.name, &mut names, issues);
        if trunk.allow.is_empty() {
            issues.push(ConfigIssue::new(format!("trunks[{t}].allow"), "must list at least one network"));
        }
    }
}

fn check_routes(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let queue_names: Vec<&str> = config.queues.iter().map(|queue| queue.name.as_str()).collect();
    let mut dids = HashMap::new();
    for (r, route) in config.routes.iter().enumerate() {
        let did_key = format!("routes[{r}].did");
        if !valid_did(&route.did) {
            issues.push(ConfigIssue::new(
                did_key.clone(),
                format!(
                    "DID {:?} must be 1 to {MAX_NAME_LEN} of 0-9, A-Z, a-z, '+', '*', '#', '.', '_', '-'",
                    route.did
                ),
            ));
        }
        check_unique(did_key, "DID", &route.did, &mut dids, issues);
        if !queue_names.contains(&route.queue.as_str()) {
            let known = if queue_names.is_empty() { "none".to_owned() } else { queue_names.join(", ") };
            issues.push(ConfigIssue::new(
                format!("routes[{r}].queue"),
                format!("unknown queue {:?} (defined queues: {known})", route.queue),
            ));
        }
    }
}

fn check_agents(config: &Config, issues: &mut Vec<ConfigIssue>) {
    let mut ids = HashMap::new();
    for (i, agent) in config.agents.iter().enumerate() {
        let key = format!("agents[{i}].id");
        check_name(key.clone(), "agent id", &agent.id, issues);
        check_unique(key, "agent id", &agent.id, &mut ids, issues);
        if let Some(name) = &agent.name {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                issues.push(ConfigIssue::new(
                    format!("agents[{i}].name"),
                    "must not be blank or contain control characters (omit it to use the id)",
                ));
            }
        }
        if agent.password.is_empty() {
            issues.push(ConfigIssue::new(format!("agents[{i}].password"), "must not be empty"));
        } else if agent.password.chars().any(char::is_control) {
            issues.push(ConfigIssue::new(format!("agents[{i}].password"), "must not contain control characters"));
        }
        check_skills(&format!("agents[{i}]"), &agent.skills, issues);
    }
}

fn check_webhooks(config: &Config, issues: &mut Vec<ConfigIssue>) {
    for (i, w) in config.webhooks.iter().enumerate() {
        check_name(format!("webhooks[{i}].name"), "webhook", &w.name, issues);
        if config.webhooks[..i].iter().any(|o| o.name == w.name) {
            issues.push(ConfigIssue::new(format!("webhooks[{i}].name"), format!("duplicate webhook {:?}", w.name)));
        }
        let rest = w.url.strip_prefix("http://");
        let host_ok = rest.map(|r| r.split('/').next().is_some_and(|h| !h.is_empty())).unwrap_or(false);
        if !host_ok {
            issues.push(ConfigIssue::new(
                format!("webhooks[{i}].url"),
                format!("{:?} is not an http://host[:port]/path URL (https is not supported)", w.url),
            ));
        }
        if w.batch_size == 0 || w.batch_size > 10_000 {
            issues.push(ConfigIssue::new(format!("webhooks[{i}].batch_size"), "must be between 1 and 10000"));
        }
        if w.timeout_ms == 0 {
            issues.push(ConfigIssue::new(format!("webhooks[{i}].timeout_ms"), "must be at least 1"));
        }
    }
}

fn check_surveys(config: &Config, issues: &mut Vec<ConfigIssue>) {
    for (i, q) in config.queues.iter().enumerate() {
        for (field, problem) in q.merit.problems() {
            issues.push(ConfigIssue::new(format!("queues[{i}].merit.{field}"), problem));
        }
        if !(0.0..=1.0).contains(&q.holdout) {
            issues.push(ConfigIssue::new(format!("queues[{i}].holdout"), "must be between 0 and 1"));
        }
        if !(q.sl_target > 0.0 && q.sl_target <= 1.0) {
            issues.push(ConfigIssue::new(format!("queues[{i}].sl_target"), "must be above 0 and at most 1"));
        }
        if let Some(target) = &q.overflow {
            if target == &q.name || !config.queues.iter().any(|o| &o.name == target) {
                issues.push(ConfigIssue::new(
                    format!("queues[{i}].overflow"),
                    format!("{target:?} is not another configured queue"),
                ));
            }
        }
        for (r, ring) in q.relax.iter().enumerate() {
            check_skills(&format!("queues[{i}].relax[{r}]"), &ring.skills, issues);
            if r > 0 && ring.after_seconds < q.relax[r - 1].after_seconds {
                issues.push(ConfigIssue::new(
                    format!("queues[{i}].relax[{r}].after_seconds"),
                    "rings must be in increasing after_seconds order",
                ));
            }
        }
        if q.sl_threshold_seconds == 0 {
            issues.push(ConfigIssue::new(format!("queues[{i}].sl_threshold_seconds"), "must be at least 1"));
        }
        let Some(s) = &q.survey else { continue };
        if s.enabled && s.questions.is_empty() {
            issues.push(ConfigIssue::new(format!("queues[{i}].survey.questions"), "must ask at least one question"));
        }
        if s.digit_timeout_seconds == 0 {
            issues.push(ConfigIssue::new(format!("queues[{i}].survey.digit_timeout_seconds"), "must be at least 1"));
        }
        if s.max_attempts == 0 {
            issues.push(ConfigIssue::new(format!("queues[{i}].survey.max_attempts"), "must be at least 1"));
        }
    }
}
