//! Typed configuration: the `[sip]`, `[http]`, `[media]` and `[store]` sections plus the
//! `[[trunks]]`, `[[routes]]`, `[[queues]]` and `[[agents]]` tables, read from TOML with unknown keys rejected
//! and validated as a whole before anything starts. The built-in defaults ([`Config::default`])
//! are the single source of truth for default values; `config/meritline.toml` (embedded as
//! [`REFERENCE_TOML`]) documents every key and is tested to describe exactly the same setup.
//! Relative paths (`media.hold_prompt`, `store.path`) resolve against the process's working
//! directory, whether the configuration came from a file or from the defaults. The defaults name
//! no file but the store's: the prompts are built into the binary ([`crate::media::prompts`]).

mod cidr;
mod error;
pub mod scoring;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use cidr::{Cidr, CidrError};
pub use error::{ConfigError, ConfigIssue, ConfigWarning};

/// The commented reference configuration (`config/meritline.toml`); parses to [`Config::default`].
pub const REFERENCE_TOML: &str = include_str!("../../config/meritline.toml");

/// Name used as the origin of the built-in defaults in error messages.
pub const DEFAULTS_ORIGIN: &str = "built-in defaults";

/// The whole configuration.
///
/// When loading a file, a missing `[sip]`/`[http]`/`[media]`/`[store]` section or key takes its
/// default, while missing `[[trunks]]`/`[[routes]]`/`[[queues]]`/`[[agents]]` mean none: the
/// demo trunk, route, queue and agents exist only in the built-in defaults (and the reference
/// file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub sip: SipConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub media: MediaConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// `[scoring]`: KPI weights per queue and the scoring rules (see `crate::scoring`).
    #[serde(default)]
    pub scoring: scoring::ScoringConfig,
}

/// `[[webhooks]]`: an HTTP endpoint that receives the event log in batches, at least once.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique name; also the key of the sink's stored cursor.
    pub name: String,
    /// `http://host:port/path` (plain HTTP; put TLS in front with a local proxy).
    pub url: String,
    /// Most events in one POST.
    #[serde(default = "default_webhook_batch")]
    pub batch_size: usize,
    /// Per-request timeout.
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_webhook_batch() -> usize {
    100
}

fn default_webhook_timeout_ms() -> u64 {
    5000
}

/// A SIP transport the switch listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    Udp,
    Tcp,
}

/// A digest algorithm the registrar may challenge with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DigestAlgorithmName {
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "SHA-256")]
    Sha256,
}

/// `[sip]`: signalling listener, authentication realm, registrar limits and timers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Address and port for SIP on every transport in `transports`.
    pub listen: SocketAddr,
    /// Transports to listen on (each at most once).
    pub transports: Vec<SipTransport>,
    /// Digest authentication realm for agent REGISTER/INVITE.
    pub realm: String,
    /// Value of the `User-Agent`/`Server` header.
    pub user_agent: String,
    /// Address put into Contact headers and SDP; `None` means the listen/media address.
    pub public_address: Option<IpAddr>,
    /// How long a digest nonce stays valid.
    pub nonce_ttl_seconds: u64,
    /// Digest algorithms offered in 401 challenges, in this order (RFC 8760).
    pub digest_algorithms: Vec<DigestAlgorithmName>,
    /// Registrations asking for less are answered 423 Interval Too Brief.
    pub register_min_expires_seconds: u32,
    /// Registrations asking for more are shortened to this.
    pub register_max_expires_seconds: u32,
    /// Used when a REGISTER carries no expiry.
    pub register_default_expires_seconds: u32,
    /// Open TCP connections accepted at once; more are refused.
    pub max_tcp_connections: usize,
    /// RFC 3261 timer T1 (round-trip estimate), base of the retransmission timers.
    pub t1_ms: u64,
}

/// `[http]`: the REST/events/metrics API listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

/// `[media]`: RTP relay addresses and the hold prompt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Address RTP sockets bind to.
    pub ip: IpAddr,
    /// Lowest RTP port (even); RTCP uses the next odd port.
    pub rtp_port_min: u16,
    /// Highest port the relay may use (inclusive).
    pub rtp_port_max: u16,
    /// WAV file played to queued callers, relative to the working directory unless absolute;
    /// `None` plays the hold audio built into the binary.
    pub hold_prompt: Option<PathBuf>,
    /// Folder of the survey prompts (survey_csat.wav, survey_resolved.wav, survey_invalid.wav,
    /// survey_thanks.wav), read only when a queue has a survey; `None` uses the built-in ones.
    pub survey_prompts_dir: Option<PathBuf>,
}

/// `[store]`: the SQLite database.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Database file, relative to the working directory unless absolute; its directory is
    /// created by the store.
    pub path: PathBuf,
}

/// `[[trunks]]`: a carrier, identified by the source addresses it sends from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub name: String,
    /// Networks carrier INVITEs may come from.
    pub allow: Vec<Cidr>,
    /// How this carrier's calls are answered while they wait, overriding the queue's `answer`;
    /// `None`: the queue decides.
    #[serde(default)]
    pub answer: Option<AnswerMode>,
}

/// How the switch answers a carrier call while it waits in a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerMode {
    /// 200 OK as soon as RTP ports are bound; hold audio plays in the answered call, so the queue
    /// time is billed. The call is offered to agents once the caller has ACKed the 200.
    #[default]
    Immediate,
    /// 183 Session Progress with the SDP answer; hold audio plays as early media and the caller
    /// may abandon with CANCEL. 200 OK (same SDP, same To tag) only when an agent answers.
    EarlyMedia,
}

/// `[[routes]]`: carrier calls to `did` (exact match on the Request-URI user part, whichever
/// trunk they come from) go to `queue`. A called number without a route is answered 404.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub did: String,
    pub queue: String,
}

/// `[[queues]]`: where callers wait for an agent with a matching skill.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    /// An agent can take calls from this queue when it has one of these skills.
    pub skills: Vec<String>,
    /// How long an offered agent rings before the call is re-queued (RONA).
    #[serde(default = "default_ring_timeout_seconds")]
    pub ring_timeout_seconds: u32,
    /// How long a caller may wait before the switch gives up on the call (or moves it to
    /// `overflow`).
    #[serde(default = "default_max_wait_seconds")]
    pub max_wait_seconds: u32,
    /// The post-call survey; none when absent.
    #[serde(default)]
    pub survey: Option<SurveyConfig>,
    /// How an agent is picked: `longest_idle`, `best_skill` or `merit_weighted`.
    #[serde(default)]
    pub strategy: StrategyName,
    /// Parameters of `merit_weighted`; defaults when absent.
    #[serde(default)]
    pub merit: MeritConfig,
    /// Service-level threshold: calls answered within it count toward the service level, and
    /// calls nearer to it are served first across queues.
    #[serde(default = "default_sl_threshold_seconds")]
    pub sl_threshold_seconds: u32,
    /// Service-level target fraction (reporting).
    #[serde(default = "default_sl_target")]
    pub sl_target: f64,
    /// Fraction of calls routed longest-idle as a holdout group, to measure merit routing's uplift.
    #[serde(default)]
    pub holdout: f64,
    /// Queue a call moves to when it reaches `max_wait_seconds` (keeping its wait for service
    /// level), logged as `call.overflowed`; none: the call is ended.
    #[serde(default)]
    pub overflow: Option<String>,
    /// Bullseye rings: as a call waits, more agents become eligible.
    #[serde(default)]
    pub relax: Vec<RelaxConfig>,
    /// How calls routed here are answered while they wait (a trunk's `answer` overrides it). Fixed
    /// when the call arrives: an overflow does not change it.
    #[serde(default)]
    pub answer: AnswerMode,
}

/// `[[queues.relax]]`: from `after_seconds` of waiting on, agents with all of `skills` (each
/// `name` or `name:min_level`) may take the call too. Rings are cumulative and may add skills the
/// queue itself does not ask for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaxConfig {
    pub after_seconds: u32,
    pub skills: Vec<String>,
}

/// The routing strategy of a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    #[default]
    LongestIdle,
    BestSkill,
    MeritWeighted,
}

/// `[queues.merit]`: the curve of merit-weighted routing.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeritConfig {
    /// weight = exp(score / temperature); smaller concentrates calls on the best scores.
    pub temperature: f64,
    /// Fraction of its fair share every agent is guaranteed (an offer made while `n` eligible agents
    /// are ready is worth `1/n` to each), so new and low-scored agents can still be measured.
    pub floor_share: f64,
    /// Occupancy above which an agent is skipped while others are free.
    pub occupancy_cap: f64,
    /// Calls over which a new agent's score ramps from neutral to measured.
    pub ramp_calls: u32,
    /// Offers of the queue the floor share is measured over (both the agent's offers and its fair
    /// share decay by 1 - 1/floor_window_offers per offer).
    pub floor_window_offers: u32,
}

impl Default for MeritConfig {
    fn default() -> Self {
        MeritConfig {
            temperature: 0.1,
            floor_share: 0.5,
            occupancy_cap: 0.95,
            ramp_calls: 10,
            floor_window_offers: 1000,
        }
    }
}

impl MeritConfig {
    /// The ACD strategy these parameters describe.
    pub fn strategy(&self) -> crate::acd::Strategy {
        crate::acd::Strategy::MeritWeighted {
            temperature: self.temperature,
            floor_share: self.floor_share,
            occupancy_cap: self.occupancy_cap,
            ramp_calls: self.ramp_calls,
        }
    }

    /// What is wrong with the parameters, as (field, problem) pairs; empty when they are usable.
    /// Shared by the switch's config check and the simulator's.
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            problems.push(("temperature", "must be a number above 0"));
        }
        if !(0.0..=1.0).contains(&self.floor_share) {
            problems.push(("floor_share", "must be between 0 and 1"));
        }
        if !(self.occupancy_cap > 0.0 && self.occupancy_cap <= 1.0) {
            problems.push(("occupancy_cap", "must be above 0 and at most 1"));
        }
        if self.floor_window_offers < 2 {
            problems.push(("floor_window_offers", "must be at least 2"));
        }
        problems
    }
}

fn default_sl_threshold_seconds() -> u32 {
    20
}

fn default_sl_target() -> f64 {
    0.9
}

/// `[queues.survey]`: the post-call survey IVR of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyConfig {
    /// Off keeps the section but runs no survey.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Which hangup starts the survey. Only `agent_hangup` exists: when the agent hangs up first,
    /// the caller stays on the line for the survey (a caller who hangs up is gone).
    #[serde(default)]
    pub trigger: SurveyTrigger,
    /// Questions in the order asked: `csat` (1–5) and `resolved` (1 yes, 2 no).
    #[serde(default = "default_survey_questions")]
    pub questions: Vec<crate::survey::Question>,
    /// Seconds to wait for a digit after a question has been played.
    #[serde(default = "default_digit_timeout_seconds")]
    pub digit_timeout_seconds: u32,
    /// Tries per question; invalid digits and silences both count.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

/// When the survey starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyTrigger {
    #[default]
    AgentHangup,
}

fn default_true() -> bool {
    true
}

fn default_survey_questions() -> Vec<crate::survey::Question> {
    vec![crate::survey::Question::Csat]
}

fn default_digit_timeout_seconds() -> u32 {
    5
}

fn default_max_attempts() -> u32 {
    3
}

impl Config {
    /// The scoring configuration with each queue's survey setting applied, so a call that skips
    /// a survey counts against the agent only where a survey runs.
    pub fn scoring_config(&self) -> scoring::ScoringConfig {
        let mut scoring = self.scoring.clone();
        for q in &self.queues {
            let weights = scoring.queues.entry(q.name.clone()).or_insert_with(|| self.scoring.default.clone());
            weights.survey_enabled = q.survey_spec().is_some();
        }
        scoring
    }
}

impl QueueConfig {
    /// A queue with every setting at its default.
    pub fn named(name: &str, skills: &[&str]) -> QueueConfig {
        QueueConfig {
            name: name.to_owned(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            ring_timeout_seconds: default_ring_timeout_seconds(),
            max_wait_seconds: default_max_wait_seconds(),
            survey: None,
            strategy: StrategyName::LongestIdle,
            merit: MeritConfig::default(),
            sl_threshold_seconds: default_sl_threshold_seconds(),
            sl_target: default_sl_target(),
            holdout: 0.0,
            overflow: None,
            relax: Vec::new(),
            answer: AnswerMode::Immediate,
        }
    }

    /// The ACD strategy this queue routes with.
    pub fn acd_strategy(&self) -> crate::acd::Strategy {
        match self.strategy {
            StrategyName::LongestIdle => crate::acd::Strategy::LongestIdle,
            StrategyName::BestSkill => crate::acd::Strategy::BestSkill,
            StrategyName::MeritWeighted => self.merit.strategy(),
        }
    }

    /// The survey spec when this queue runs one.
    pub fn survey_spec(&self) -> Option<crate::survey::SurveySpec> {
        self.survey.as_ref().filter(|s| s.enabled).map(|s| crate::survey::SurveySpec {
            questions: s.questions.clone(),
            digit_timeout: Duration::from_secs(u64::from(s.digit_timeout_seconds)),
            max_attempts: s.max_attempts,
        })
    }
}

/// `[[agents]]`: a person on a SIP phone. `id` is also the SIP (digest) username.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub id: String,
    /// Display name; `None` means the id.
    #[serde(default)]
    pub name: Option<String>,
    /// SIP digest password.
    pub password: String,
    #[serde(default)]
    pub skills: Vec<String>,
    /// Pause after a call before the agent is offered the next one.
    #[serde(default = "default_wrapup_seconds")]
    pub wrapup_seconds: u32,
}

fn default_ring_timeout_seconds() -> u32 {
    15
}

fn default_max_wait_seconds() -> u32 {
    600
}

fn default_wrapup_seconds() -> u32 {
    5
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::new(LOOPBACK, 5060),
            transports: vec![SipTransport::Udp, SipTransport::Tcp],
            realm: "meritline".to_owned(),
            user_agent: "meritline".to_owned(),
            public_address: None,
            nonce_ttl_seconds: 300,
            digest_algorithms: vec![DigestAlgorithmName::Md5],
            register_min_expires_seconds: 60,
            register_max_expires_seconds: 3600,
            register_default_expires_seconds: 3600,
            max_tcp_connections: 1024,
            t1_ms: 500,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: SocketAddr::new(LOOPBACK, 8080) }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            ip: LOOPBACK,
            rtp_port_min: 20000,
            rtp_port_max: 20999,
            hold_prompt: None,
            survey_prompts_dir: None,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { path: PathBuf::from("data/meritline.db") }
    }
}

impl Default for Config {
    /// The demo setup: SIP on 127.0.0.1:5060 (UDP+TCP), HTTP on 127.0.0.1:8080, RTP on
    /// 127.0.0.1:20000-20999, `data/meritline.db`, one trunk accepting 127.0.0.0/8, a route
    /// from DID 5551000 to queue `support`, and agents agent1..agent3 (passwords agentNpass).
    fn default() -> Self {
        let agent = |n: u32| AgentConfig {
            id: format!("agent{n}"),
            name: Some(format!("Demo Agent {n}")),
            password: format!("agent{n}pass"),
            skills: vec!["support".to_owned()],
            wrapup_seconds: default_wrapup_seconds(),
        };
        Config {
            sip: SipConfig::default(),
            http: HttpConfig::default(),
            media: MediaConfig::default(),
            store: StoreConfig::default(),
            trunks: vec![TrunkConfig {
                name: "demo".to_owned(),
                allow: vec![Cidr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8)
                    .unwrap_or_else(|_| unreachable!("127.0.0.0/8 is a valid network"))],
                answer: None,
            }],
            routes: vec![RouteConfig { did: "5551000".to_owned(), queue: "support".to_owned() }],
            queues: vec![QueueConfig {
                survey: Some(SurveyConfig {
                    enabled: true,
                    trigger: SurveyTrigger::AgentHangup,
                    questions: default_survey_questions(),
                    digit_timeout_seconds: default_digit_timeout_seconds(),
                    max_attempts: default_max_attempts(),
                }),
                ..QueueConfig::named("support", &["support"])
            }],
            agents: (1..=3).map(agent).collect(),
            webhooks: Vec::new(),
            scoring: scoring::ScoringConfig::default(),
        }
    }
}

impl Config {
    /// Loads and validates the configuration: from `path` if given, else the built-in defaults.
    /// Warnings are logged with `tracing::warn!` (and available from [`Config::warnings`]).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                Config::from_toml_str(&text, &path.display().to_string())?
            }
            None => {
                let config = Config::default();
                config.validate_as(DEFAULTS_ORIGIN)?;
                config
            }
        };
        for warning in config.warnings() {
            tracing::warn!("{warning}");
        }
        Ok(config)
    }

    /// Parses and validates TOML text; `origin` names it in errors (usually the file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config = Config::parse_toml(text, origin)?;
        config.validate_as(origin)?;
        Ok(config)
    }

    /// Parses TOML text without the cross-field and file checks of [`Config::validate`].
    pub fn parse_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = err.path().to_string();
            let inner = err.inner();
            let (line, column) = inner.span().map(|span| line_column(text, span.start)).unwrap_or((1, 1));
            let (key, message) = describe_parse_error(&key, inner.message());
            ConfigError::Parse { origin: origin.to_owned(), key, message, line, column }
        })
    }

    /// Checks consistency (ports, names, routes, ranges) and that the hold prompt is a readable
    /// WAV file, reporting every problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_as("configuration")
    }

    fn validate_as(&self, origin: &str) -> Result<(), ConfigError> {
        let mut issues = validate::value_issues(self);
        issues.extend(validate::file_issues(self));
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { origin: origin.to_owned(), issues })
        }
    }

    /// Suspicious but legal settings, e.g. an agent whose skills match no queue.
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        validate::warnings(self)
    }

    /// The first trunk whose allow list contains `source`, in file order.
    pub fn trunk_for_source(&self, source: IpAddr) -> Option<&TrunkConfig> {
        self.trunks.iter().find(|trunk| trunk.allows(source))
    }

    /// How a call from `trunk` to `queue` is answered: the trunk's `answer` if set, else the
    /// queue's, else immediate.
    pub fn answer_mode(&self, trunk: &TrunkConfig, queue: &str) -> AnswerMode {
        trunk.answer.or_else(|| self.queue(queue).map(|q| q.answer)).unwrap_or_default()
    }

    /// The route for a called number (exact match).
    pub fn route(&self, did: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|route| route.did == did)
    }

    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|queue| queue.name == name)
    }

    pub fn agent(&self, id: &str) -> Option<&AgentConfig> {
        self.agents.iter().find(|agent| agent.id == id)
    }

    /// Address for Contact headers: `sip.public_address`, else the SIP listen address (which
    /// is unspecified, 0.0.0.0/::, when listening on all interfaces; a warning says so).
    pub fn sip_advertised_ip(&self) -> IpAddr {
        self.sip.public_address.unwrap_or(self.sip.listen.ip())
    }

    /// Address for SDP `c=` lines: `sip.public_address`, else `media.ip`.
    pub fn media_advertised_ip(&self) -> IpAddr {
        self.sip.public_address.unwrap_or(self.media.ip)
    }
}

impl SipConfig {
    pub fn uses(&self, transport: SipTransport) -> bool {
        self.transports.contains(&transport)
    }

    pub fn t1(&self) -> Duration {
        Duration::from_millis(self.t1_ms)
    }

    pub fn nonce_ttl(&self) -> Duration {
        Duration::from_secs(self.nonce_ttl_seconds)
    }
}

impl MediaConfig {
    /// Every even RTP port of the range whose RTCP port (+1) is also in the range.
    pub fn rtp_ports(&self) -> impl Iterator<Item = u16> {
        let max = self.rtp_port_max;
        (self.rtp_port_min..max).filter(|port| port % 2 == 0)
    }

    /// How many RTP/RTCP port pairs the range holds (one per relayed call leg).
    pub fn rtp_port_pairs(&self) -> usize {
        self.rtp_ports().count()
    }
}

impl TrunkConfig {
    pub fn allows(&self, source: IpAddr) -> bool {
        self.allow.iter().any(|network| network.contains(source))
    }
}

impl QueueConfig {
    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.ring_timeout_seconds))
    }

    pub fn max_wait(&self) -> Duration {
        Duration::from_secs(u64::from(self.max_wait_seconds))
    }
}

impl AgentConfig {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    pub fn wrapup(&self) -> Duration {
        Duration::from_secs(u64::from(self.wrapup_seconds))
    }
}

impl std::fmt::Debug for AgentConfig {
    /// Like a derived `Debug`, but never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("password", &"<redacted>")
            .field("skills", &self.skills)
            .field("wrapup_seconds", &self.wrapup_seconds)
            .finish()
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Turns serde's path and toml's message into a key-named message: `unknown field` becomes
/// `unknown key`, `missing field `x`` at `a[0]` becomes key `a[0].x`, multi-line syntax
/// messages are joined.
fn describe_parse_error(path: &str, message: &str) -> (String, String) {
    let key = if path == "." { String::new() } else { path.to_owned() };
    let message = message.trim().replace('\n', "; ");
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some(field) = rest.split('`').next() {
            let key = if key.is_empty() { field.to_owned() } else { format!("{key}.{field}") };
            return (key, "required key is missing".to_owned());
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return (key, format!("unknown key {rest}"));
    }
    (key, message)
}

#[cfg(test)]
mod tests;
