//! Configuration: plain data parsed from TOML with unknown keys rejected,
//! defaults, environment overrides, `*_file` secrets and the validation of
//! its own keys (alerting validates what it builds from them). The only
//! module that reads env vars and secret files.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A secret value; never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Secret {
        let s = s.into();
        crate::redact::learn(&s);
        Secret(s)
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

/// Takes a string or an integer (a `chat_id` written as a number); every
/// error names the type only, never the value.
struct SecretVisitor;

impl SecretVisitor {
    fn refuse<E: serde::de::Error>(what: &str) -> E {
        E::custom(format!("expected a string, found {what} (value not shown)"))
    }
}

impl<'de> serde::de::Visitor<'de> for SecretVisitor {
    type Value = Secret;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::new(v))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret::new(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secret, E> {
        Ok(Secret::new(v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secret, E> {
        Ok(Secret::new(v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(Self::refuse("a float"))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(Self::refuse("a boolean"))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Secret, E> {
        Err(Self::refuse("nothing"))
    }
    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        Err(Self::refuse("bytes"))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(Self::refuse("an array"))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(Self::refuse("a table"))
    }
}

/// A duration, or `"off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptDuration(pub Option<Duration>);

impl<'de> Deserialize<'de> for OptDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if matches!(s.as_str(), "off" | "none" | "0" | "0s") {
            return Ok(OptDuration(None));
        }
        humantime::parse_duration(&s)
            .map(|x| OptDuration(Some(x)))
            .map_err(|e| {
                serde::de::Error::custom(format!("{e} (a duration like \"90s\", or \"off\")"))
            })
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[gateway]`
    pub gateway: GatewayConfig,
    /// `[logs]`
    pub logs: LogsConfig,
    /// `[states]`
    pub states: StatesConfig,
    /// `[[rules]]`
    pub rules: Vec<RuleConfig>,
    /// `[[integrations]]`
    pub integrations: Vec<IntegrationConfig>,
    /// `[alerting]`
    pub alerting: AlertingConfig,
    /// `[recovery]`
    pub recovery: RecoveryConfig,
    /// `[doctor]`
    pub doctor: DoctorConfig,
    /// `[backup]`
    pub backup: BackupConfig,
    /// `[history]`
    pub history: HistoryConfig,
}

/// `[history]`: the event history kept in the state dir.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Older records are dropped.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// On disk at most; the oldest records go first.
    pub max_bytes: bytesize::ByteSize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            retention: Duration::from_secs(7 * 86400),
            max_bytes: bytesize::ByteSize::mib(64),
        }
    }
}

/// `[backup]`: snapshots of the WhatsApp session directories.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// The sidecar takes them on schedule.
    pub enabled: bool,
    /// Where they go (default: `backups` in the state dir); never inside a session.
    pub dir: Option<PathBuf>,
    /// How often.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Backups kept per account at most (the newest is always kept).
    pub keep: usize,
    /// Older ones are deleted (the newest is always kept).
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// `OpenClawSessionBackupStale` when the newest good one is older.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: false,
            dir: None,
            interval: Duration::from_secs(6 * 3600),
            keep: 10,
            max_age: Duration::from_secs(30 * 86400),
            stale_after: Duration::from_secs(86400),
        }
    }
}

impl BackupConfig {
    /// The backup directory for a state dir.
    pub fn dir_in(&self, state_dir: &Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| state_dir.join("backups"))
    }
}

/// `[doctor]`: what `clawwatch doctor` probes and how long it waits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoctorConfig {
    /// Each network check's own limit.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `host:port` pairs to probe (default: the channels' real upstreams).
    pub upstream: Option<Vec<String>>,
    /// The gateway's state directory (default `$OPENCLAW_STATE_DIR`, else
    /// `~/.openclaw`): where its WhatsApp sessions live.
    pub openclaw_state_dir: Option<PathBuf>,
    /// Where the kernel's settings are read (tests point it elsewhere).
    #[serde(default = "proc_sys")]
    pub proc_sys: PathBuf,
}

fn proc_sys() -> PathBuf {
    PathBuf::from("/proc/sys")
}

impl Default for DoctorConfig {
    fn default() -> Self {
        DoctorConfig {
            timeout: Duration::from_secs(2),
            upstream: None,
            openclaw_state_dir: None,
            proc_sys: proc_sys(),
        }
    }
}

/// `[recovery]`: restarts of what a restart can fix (off by default).
/// `[recovery.channels.<id>]` overrides any key for one channel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// Act at all.
    pub enabled: bool,
    /// How long an account must stay down before the first action.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// Wait before the second action; doubled each time up to `backoff_max`.
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// The longest wait between actions.
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    /// Each wait times a random factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
    /// Actions per account per rolling hour.
    pub budget_per_hour: u32,
    /// `rpc` (the gateway's `channels.stop` + `channels.start`) or `command`.
    pub action: String,
    /// Argv run when `action = "command"`, or when the gateway does not
    /// answer at all. `{channel}` and `{account}` in an argument are
    /// replaced by the ids; no shell is involved.
    pub command: Vec<String>,
    /// One RPC round trip.
    #[serde(with = "humantime_serde")]
    pub rpc_timeout: Duration,
    /// The command is killed after this long.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// Decide, record and notify, but do not act.
    pub dry_run: bool,
    /// Per channel id: overrides of the keys above.
    pub channels: BTreeMap<String, RecoveryOverride>,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            enabled: false,
            after: Duration::from_secs(60),
            backoff_initial: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            jitter: 0.1,
            budget_per_hour: 6,
            action: "rpc".into(),
            command: Vec::new(),
            rpc_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(360),
            dry_run: false,
            channels: BTreeMap::new(),
        }
    }
}

/// `[recovery.channels.<id>]`: any `[recovery]` key, for one channel.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct RecoveryOverride {
    pub enabled: Option<bool>,
    #[serde(with = "humantime_serde::option")]
    pub after: Option<Duration>,
    #[serde(with = "humantime_serde::option")]
    pub backoff_initial: Option<Duration>,
    #[serde(with = "humantime_serde::option")]
    pub backoff_max: Option<Duration>,
    pub jitter: Option<f64>,
    pub budget_per_hour: Option<u32>,
    pub action: Option<String>,
    pub command: Option<Vec<String>>,
    #[serde(with = "humantime_serde::option")]
    pub rpc_timeout: Option<Duration>,
    #[serde(with = "humantime_serde::option")]
    pub command_timeout: Option<Duration>,
    pub dry_run: Option<bool>,
}

/// The recovery settings of one channel: `[recovery]` with its override.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub struct RecoveryPolicy {
    pub enabled: bool,
    pub after: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub jitter: f64,
    pub budget_per_hour: u32,
    pub action: String,
    pub command: Vec<String>,
    pub rpc_timeout: Duration,
    pub command_timeout: Duration,
    pub dry_run: bool,
}

impl RecoveryConfig {
    /// The settings for `channel` (`None`: the gateway itself).
    pub fn policy(&self, channel: Option<&str>) -> RecoveryPolicy {
        let o = channel
            .and_then(|c| self.channels.get(c))
            .cloned()
            .unwrap_or_default();
        RecoveryPolicy {
            enabled: o.enabled.unwrap_or(self.enabled),
            after: o.after.unwrap_or(self.after),
            backoff_initial: o.backoff_initial.unwrap_or(self.backoff_initial),
            backoff_max: o.backoff_max.unwrap_or(self.backoff_max),
            jitter: o.jitter.unwrap_or(self.jitter),
            budget_per_hour: o.budget_per_hour.unwrap_or(self.budget_per_hour),
            action: o.action.unwrap_or_else(|| self.action.clone()),
            command: o.command.unwrap_or_else(|| self.command.clone()),
            rpc_timeout: o.rpc_timeout.unwrap_or(self.rpc_timeout),
            command_timeout: o.command_timeout.unwrap_or(self.command_timeout),
            dry_run: o.dry_run.unwrap_or(self.dry_run),
        }
    }

    /// True when some channel acts by RPC (then actions ask for `operator.admin`).
    pub fn uses_rpc(&self) -> bool {
        let on = |p: RecoveryPolicy| p.enabled && p.action == "rpc";
        on(self.policy(None)) || self.channels.keys().any(|c| on(self.policy(Some(c))))
    }
}

/// True when a `ws://` URL's host is a loopback name or address.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or("");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn validate_recovery(r: &RecoveryConfig, gateway_url: &str, out: &mut Vec<Problem>) {
    let check = |path: &str, p: &RecoveryPolicy, gateway: bool| -> Vec<Problem> {
        let mut out = Vec::new();
        let err = |k: &str, message: String| Problem {
            severity: Severity::Error,
            path: format!("{path}.{k}"),
            message,
        };
        let warn = |k: &str, message: String| Problem {
            severity: Severity::Warning,
            path: format!("{path}.{k}"),
            message,
        };
        if p.backoff_initial.is_zero() {
            out.push(err("backoff_initial", "must be more than 0".into()));
        }
        if p.backoff_max < p.backoff_initial {
            out.push(err(
                "backoff_max",
                format!(
                    "{} is less than backoff_initial ({})",
                    humantime::format_duration(p.backoff_max),
                    humantime::format_duration(p.backoff_initial)
                ),
            ));
        }
        if !(0.0..1.0).contains(&p.jitter) {
            out.push(err(
                "jitter",
                format!("{} is not in 0 ..< 1 (0.1 is ±10%)", p.jitter),
            ));
        }
        if p.budget_per_hour == 0 {
            out.push(err(
                "budget_per_hour",
                "must be at least 1; to turn recovery off set enabled = false".into(),
            ));
        }
        if p.rpc_timeout.is_zero() {
            out.push(err("rpc_timeout", "must be more than 0".into()));
        }
        if p.command_timeout.is_zero() {
            out.push(err("command_timeout", "must be more than 0".into()));
        }
        match p.action.as_str() {
            "rpc" => {}
            "command" if p.command.is_empty() && p.enabled && !gateway => out.push(err(
                "command",
                "action = \"command\" needs a command (argv, e.g. [\"systemctl\", \"restart\", \"openclaw-gateway\"])".into(),
            )),
            "command" => {}
            other => out.push(err(
                "action",
                format!("{other:?} is not one of rpc, command"),
            )),
        }
        if let Some(first) = p.command.first() {
            if first.is_empty() {
                out.push(err(
                    "command",
                    "the program (first element) is empty".into(),
                ));
            } else if p.command.len() == 1 && first.contains(' ') {
                out.push(warn(
                    "command",
                    format!("{first:?} is one program name with spaces: command is argv, not a shell line; write each argument as its own string"),
                ));
            }
        }
        out
    };
    out.extend(check("recovery", &r.policy(None), true));
    let base: Vec<(String, String)> = out
        .iter()
        .filter_map(|p| {
            Some((
                p.path.strip_prefix("recovery.")?.to_string(),
                p.message.clone(),
            ))
        })
        .collect();
    for ch in r.channels.keys() {
        let prefix = format!("recovery.channels.{ch}");
        // What a channel inherits is named once, at [recovery].
        out.extend(
            check(&prefix, &r.policy(Some(ch)), false)
                .into_iter()
                .filter(|p| {
                    let key = p.path.strip_prefix(&format!("{prefix}.")).unwrap_or("");
                    !base.iter().any(|(k, m)| k == key && *m == p.message)
                }),
        );
    }
    if r.uses_rpc() && !is_loopback_url(gateway_url) {
        out.push(Problem {
            severity: Severity::Warning,
            path: "recovery.action".into(),
            message: "RPC recovery needs operator.admin, which the gateway grants without a device identity only over loopback; run clawwatch on the gateway's host or use action = \"command\"".into(),
        });
    }
}

/// `[alerting]`: the default route's settings, the routes, maintenance
/// windows and the thresholds of the built-in alerts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// A firing group is announced again after this long.
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// Announce when an alert stops firing.
    pub send_resolved: bool,
    /// Most notices kept waiting; the oldest are dropped beyond (counted).
    pub outbox_max: usize,
    /// Labels that put alerts into one notice (`alertname`, `severity`,
    /// `channel`, `account`, `integration`); `["..."]`: one notice per alert.
    pub group_by: Vec<String>,
    /// Wait this long after a group's first alert before the first notice.
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// Wait this long after a notice before announcing a change in its group.
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    /// The default route's integrations (all of them when unset).
    pub integrations: Option<Vec<String>>,
    /// Integrations that also get a notice when one of the route's fails
    /// for `fallback_after`, or when the alert is about the channel an
    /// integration depends on (a Telegram alert sent by Telegram).
    pub fallback: Vec<String>,
    /// How long a notice may fail before the fallback gets a copy.
    #[serde(with = "humantime_serde")]
    pub fallback_after: Duration,
    /// `[[alerting.routes]]`, tried in order.
    pub routes: Vec<RouteConfig>,
    /// `[[alerting.maintenance]]`: recurring silences.
    pub maintenance: Vec<MaintenanceConfig>,
    /// `OpenClawChannelDown` after this long not connected.
    #[serde(with = "humantime_serde")]
    pub channel_down_after: Duration,
    /// `OpenClawGatewayDown` after this long unanswered.
    #[serde(with = "humantime_serde")]
    pub gateway_down_after: Duration,
    /// `OpenClawChannelSilent` after this long connected without an inbound message ("off" by default).
    pub channel_silent_after: OptDuration,
    /// `OpenClawHeartbeatLatencyHigh` when a probe round trip takes longer.
    #[serde(with = "humantime_serde")]
    pub heartbeat_latency_max: Duration,
    /// `ClawwatchNotificationsFailing` after an integration failed this long.
    #[serde(with = "humantime_serde")]
    pub notifications_failing_after: Duration,
    /// `ClawwatchLogStalled` when no log line was read this long while the gateway is up ("off" by default).
    pub log_stalled_after: OptDuration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            repeat_interval: Duration::from_secs(4 * 3600),
            send_resolved: true,
            outbox_max: 10_000,
            group_by: vec!["alertname".into(), "channel".into(), "account".into()],
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            integrations: None,
            fallback: Vec::new(),
            fallback_after: Duration::from_secs(120),
            routes: Vec::new(),
            maintenance: Vec::new(),
            channel_down_after: Duration::from_secs(300),
            gateway_down_after: Duration::from_secs(60),
            channel_silent_after: OptDuration(None),
            heartbeat_latency_max: Duration::from_secs(5),
            notifications_failing_after: Duration::from_secs(600),
            log_stalled_after: OptDuration(None),
        }
    }
}

/// `[[alerting.routes]]`: which alerts go where; unset keys inherit `[alerting]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Route name (in notice ids and logs).
    #[serde(default)]
    pub name: String,
    /// Label equality: `match = { severity = "critical" }`.
    #[serde(default, rename = "match")]
    pub matchers: BTreeMap<String, String>,
    /// Label regexes, anchored: `match_re = { channel = "telegram|discord" }`.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Where the route's notices go.
    pub integrations: Vec<String>,
    /// See `[alerting]`.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// See `[alerting]`.
    #[serde(default, with = "humantime_serde")]
    pub group_wait: Option<Duration>,
    /// See `[alerting]`.
    #[serde(default, with = "humantime_serde")]
    pub group_interval: Option<Duration>,
    /// See `[alerting]`.
    #[serde(default, with = "humantime_serde")]
    pub repeat_interval: Option<Duration>,
    /// See `[alerting]`.
    #[serde(default)]
    pub send_resolved: Option<bool>,
    /// See `[alerting]`.
    #[serde(default)]
    pub fallback: Option<Vec<String>>,
    /// Keep trying the routes after this one.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// `[[alerting.maintenance]]`: a silence that recurs every week (UTC).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Name, shown in `/api/v1/silences`.
    pub name: String,
    /// Matchers like `channel=whatsapp` or `alertname=~"OpenClaw.*"`; none = everything.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Days: `mon` .. `sun`; empty = every day.
    #[serde(default)]
    pub weekdays: Vec<String>,
    /// Start, `HH:MM` UTC.
    pub start: String,
    /// End, `HH:MM` UTC; before `start` means the next day.
    pub end: String,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address; loopback by default.
    pub listen: String,
    /// Require `Authorization: Bearer <token>` on everything but `/healthz`.
    pub bearer_token: Option<Secret>,
    /// File holding the bearer token.
    pub bearer_token_file: Option<PathBuf>,
    /// Names besides loopback addresses and `localhost` that a request's
    /// `Host` may carry on a loopback bind (anything else is refused:
    /// DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Silences kept at once (active and pending); more are refused.
    pub max_silences: usize,
    /// `/api/v1/events` subscribers at once; more are refused.
    pub max_subscribers: usize,
    /// The exporter toolkit's web config (`--web.config.file`): TLS,
    /// basic auth users, response headers.
    pub web_config_file: Option<PathBuf>,
    /// Let peers that are not loopback change silences and reload
    /// without authentication.
    pub allow_unauthenticated_writes: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:28789".into(),
            bearer_token: None,
            bearer_token_file: None,
            allowed_hosts: Vec::new(),
            max_silences: 1000,
            max_subscribers: 64,
            web_config_file: None,
            allow_unauthenticated_writes: false,
        }
    }
}

/// `[gateway]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// WebSocket URL of the gateway.
    pub url: String,
    /// Shared gateway token (prefer `token_file` or `CLAWWATCH_GATEWAY_TOKEN`).
    pub token: Option<Secret>,
    /// File holding the gateway token.
    pub token_file: Option<PathBuf>,
    /// `channels.status` poll interval.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Probed `channels.status` interval (`"off"` disables).
    pub probe_interval: OptDuration,
    /// Timeout the gateway gives each channel probe.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Timeout of one RPC round trip.
    #[serde(with = "humantime_serde")]
    pub rpc_timeout: Duration,
    /// Timeout of TCP connect plus the handshake.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Largest frame accepted from the gateway.
    pub max_frame_bytes: usize,
    /// HTTP readiness URL; derived from `url` when unset.
    pub readyz_url: Option<String>,
    /// The gateway's own config (JSON5, read only).
    pub openclaw_config: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            url: "ws://127.0.0.1:18789".into(),
            token: None,
            token_file: None,
            poll_interval: Duration::from_secs(15),
            probe_interval: OptDuration(Some(Duration::from_secs(60))),
            probe_timeout: Duration::from_secs(10),
            rpc_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_frame_bytes: 8 << 20,
            readyz_url: None,
            openclaw_config: None,
        }
    }
}

impl GatewayConfig {
    /// `/readyz` next to the WebSocket URL.
    pub fn readyz(&self) -> String {
        if let Some(u) = &self.readyz_url {
            return u.clone();
        }
        let http = if let Some(rest) = self.url.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            self.url.clone()
        };
        let base = match http.find("://").map(|i| i + 3) {
            Some(i) => match http[i..].find('/') {
                Some(j) => http[..i + j].to_string(),
                None => http,
            },
            None => http,
        };
        format!("{base}/readyz")
    }
}

/// `[logs]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Paths or globs of the gateway's JSON logs.
    pub paths: Vec<String>,
    /// Where clawwatch keeps its own state (checkpoints, state `since`).
    pub state_dir: PathBuf,
    /// Longest wait between two looks at the files.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Longer lines are matched on their first this many bytes.
    pub max_line_bytes: usize,
    /// Log files held open at most; idle ones are closed and reopened by
    /// identity when they change.
    pub max_open_files: usize,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            paths: vec!["/tmp/openclaw/openclaw-*.log".into()],
            state_dir: PathBuf::from("/var/lib/clawwatch"),
            poll_interval: Duration::from_millis(100),
            max_line_bytes: 1 << 20,
            max_open_files: 256,
        }
    }
}

/// `[states]`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatesConfig {
    /// `connecting` longer than this is `disconnected`/`timeout`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Per channel id: silence of the transport longer than this is a stall.
    pub stale_after: BTreeMap<String, OptDuration>,
    /// Deprecated: recent events kept in memory for the flapping and storm
    /// alerts (default 1000); `[history]` bounds `/api/v1/history`.
    pub history_size: Option<usize>,
    /// Accounts tracked at most; more are counted in
    /// `clawwatch_accounts_dropped_total` and not tracked.
    pub max_accounts: usize,
}

impl Default for StatesConfig {
    fn default() -> Self {
        StatesConfig {
            connect_timeout: Duration::from_secs(120),
            stale_after: BTreeMap::new(),
            history_size: None,
            max_accounts: 10_000,
        }
    }
}

/// `[[rules]]`: a log rule.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Rule name (label value).
    pub name: String,
    /// Case-insensitive keywords, any of which matches.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// A regular expression on the message.
    pub regex: Option<String>,
    /// Only lines of this level (`info`, `warn`, `error`, ...).
    pub level: Option<String>,
    /// Only lines attributed to this channel.
    pub channel: Option<String>,
    /// Put the attributed account into this state on a match (before the next poll).
    pub state: Option<String>,
    /// The reason that goes with `state`.
    pub reason: Option<String>,
}

/// `[[integrations]]`: one notification target.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct IntegrationConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    // email
    pub smtp: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    // telegram
    pub bot_token: Option<Secret>,
    pub bot_token_file: Option<PathBuf>,
    pub chat_id: Option<Secret>,
    pub chat_id_file: Option<PathBuf>,
    pub message_thread_id: Option<i64>,
    pub api_url: Option<String>,
    // webhook, alertmanager
    pub url: Option<String>,
    pub hmac_secret: Option<Secret>,
    pub hmac_secret_file: Option<PathBuf>,
    // email and telegram: MiniJinja templates (see docs/alerting.md)
    pub subject: Option<String>,
    pub template: Option<String>,
}

/// One problem found in a config, with its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `error` or `warning`.
    pub severity: Severity,
    /// Key path, e.g. `gateway.poll_interval`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// How bad a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Refuses to run.
    Error,
    /// Runs, but probably not as meant.
    Warning,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}: {}: {}", self.path, self.message)
    }
}

/// What a reload (SIGHUP, `POST /-/reload`) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// What was found; an error kept the old config running.
    pub problems: Vec<Problem>,
    /// The parts that changed and were applied.
    pub applied: Vec<String>,
    /// Keys that changed but apply only after a restart.
    pub restart_required: Vec<String>,
}

impl ReloadReport {
    /// True when the new config was applied.
    pub fn ok(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax or a key of the wrong shape.
    #[error("{path}: {message}")]
    Parse {
        /// Key path or `<file>`.
        path: String,
        /// What serde said.
        message: String,
    },
    /// Semantic problems.
    #[error("invalid config:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// Parses TOML text, naming the key path of the first shape error.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Parse {
        path: "<syntax>".into(),
        message: syntax_message(text, &e),
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ConfigError::Parse {
            path: if path == "." { "<root>".into() } else { path },
            message: inner.message().trim().to_string(),
        }
    })
}

/// Where and what, never the text of the line: it may hold a secret.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim();
    let Some(span) = e.span() else {
        return what.to_string();
    };
    let at = span.start.min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| {
            !k.is_empty()
                && k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c))
        });
    match key {
        Some(k) => format!("line {line}, column {column} (key {k}): {what}"),
        None => format!("line {line}, column {column}: {what}"),
    }
}

/// Reads and parses a file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text)
}

/// Applies `CLAWWATCH_GATEWAY_URL` and `CLAWWATCH_GATEWAY_TOKEN`.
pub fn apply_env(cfg: &mut Config) {
    if let Ok(u) = std::env::var("CLAWWATCH_GATEWAY_URL") {
        if !u.is_empty() {
            cfg.gateway.url = u;
        }
    }
    if let Ok(t) = std::env::var("CLAWWATCH_GATEWAY_TOKEN") {
        if !t.is_empty() {
            cfg.gateway.token = Some(Secret::new(t));
            cfg.gateway.token_file = None;
        }
    }
}

/// Reads a secret file, trimming the trailing newline.
pub fn read_secret_file(path: &Path) -> std::io::Result<Secret> {
    let s = std::fs::read_to_string(path)?;
    Ok(Secret::new(s.trim_end_matches(['\n', '\r'])))
}

fn one_of(
    out: &mut Vec<Problem>,
    path: &str,
    inline: bool,
    file: &Option<PathBuf>,
    for_run: bool,
    name: &str,
) {
    if inline && file.is_some() {
        out.push(Problem {
            severity: Severity::Error,
            path: path.into(),
            message: format!("set {name} or {name}_file, not both"),
        });
    }
    if let Some(f) = file {
        match std::fs::metadata(f) {
            Err(e) => out.push(Problem {
                severity: if for_run {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                path: format!("{path}_file"),
                message: format!("cannot read {}: {e}", f.display()),
            }),
            Ok(m) if !m.is_file() => out.push(Problem {
                severity: Severity::Error,
                path: format!("{path}_file"),
                message: format!("{} is not a regular file", f.display()),
            }),
            Ok(_) => {}
        }
    }
}

/// A Telegram chat: a number (`-100...` for groups) or `@channelname`.
pub fn chat_id_ok(c: &str) -> bool {
    let c = c.trim();
    if let Some(name) = c.strip_prefix('@') {
        return (5..=32).contains(&name.len())
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    }
    c.parse::<i64>().is_ok_and(|n| n != 0)
}

/// Every semantic problem at once. `for_run` turns a missing secret file
/// into an error (in `check-config` it is a warning).
pub fn validate(cfg: &Config, for_run: bool) -> Vec<Problem> {
    let mut out = Vec::new();
    let err = |path: &str, message: String| Problem {
        severity: Severity::Error,
        path: path.into(),
        message,
    };
    if cfg.server.listen.parse::<SocketAddr>().is_err() {
        out.push(err(
            "server.listen",
            format!(
                "{:?} is not an address like 127.0.0.1:28789",
                cfg.server.listen
            ),
        ));
    }
    one_of(
        &mut out,
        "server.bearer_token",
        cfg.server.bearer_token.is_some(),
        &cfg.server.bearer_token_file,
        for_run,
        "bearer_token",
    );
    let url = &cfg.gateway.url;
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        out.push(err(
            "gateway.url",
            format!("{url:?} must start with ws:// or wss://"),
        ));
    }
    one_of(
        &mut out,
        "gateway.token",
        cfg.gateway.token.is_some(),
        &cfg.gateway.token_file,
        for_run,
        "token",
    );
    if cfg.gateway.poll_interval < Duration::from_millis(100) {
        out.push(err(
            "gateway.poll_interval",
            "must be at least 100ms".into(),
        ));
    }
    if cfg.gateway.max_frame_bytes < 64 * 1024 {
        out.push(err(
            "gateway.max_frame_bytes",
            "must be at least 65536".into(),
        ));
    }
    for (i, p) in cfg.logs.paths.iter().enumerate() {
        let name = Path::new(p)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if let Err(e) = globset::Glob::new(name) {
            out.push(err(
                &format!("logs.paths[{i}]"),
                format!("{p:?}: {}", e.kind()),
            ));
        }
    }
    if let Some(f) = &cfg.server.web_config_file {
        if let Err(problems) = crate::webconfig::WebConfig::load(f) {
            for p in problems {
                let at = if p.path.is_empty() {
                    String::new()
                } else {
                    format!(" {}", p.path)
                };
                out.push(err(
                    "server.web_config_file",
                    format!("{}{at}: {}", f.display(), p.message),
                ));
            }
        }
    }
    if cfg.logs.max_line_bytes < 1024 {
        out.push(err("logs.max_line_bytes", "must be at least 1024".into()));
    }
    if cfg.logs.max_open_files == 0 {
        out.push(err("logs.max_open_files", "must be at least 1".into()));
    }
    match cfg.states.history_size {
        Some(0) => out.push(err("states.history_size", "must be at least 1".into())),
        Some(_) => out.push(Problem {
            severity: Severity::Warning,
            path: "states.history_size".into(),
            message: "deprecated: [history] retention and max_bytes bound the history now; this only sizes the recent events the flapping and storm alerts count".into(),
        }),
        None => {}
    }
    if cfg.history.max_bytes.as_u64() < 64 * 1024 {
        out.push(err("history.max_bytes", "must be at least 64KiB".into()));
    }
    if cfg.history.retention < Duration::from_secs(60) {
        out.push(err("history.retention", "must be at least 1m".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, r) in cfg.rules.iter().enumerate() {
        let p = format!("rules[{i}]");
        if r.name.is_empty() {
            out.push(err(&format!("{p}.name"), "must not be empty".into()));
        } else if !names.insert(r.name.clone()) {
            out.push(err(
                &format!("{p}.name"),
                format!("duplicate rule name {:?}", r.name),
            ));
        }
        if let Some(re) = &r.regex {
            match regex::bytes::Regex::new(re) {
                Ok(_) if r.keywords.is_empty() => {
                    if let Err(why) = crate::logs::prefilter::required(re) {
                        out.push(Problem {
                            severity: Severity::Warning,
                            path: format!("{p}.regex"),
                            message: format!(
                                "slow rule {:?}: {why}; add keywords (any one must appear) or fixed text to the regex",
                                r.name
                            ),
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => out.push(err(
                    &format!("{p}.regex"),
                    e.to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                )),
            }
        }
        if let Some(st) = &r.state {
            if crate::model::State::parse(st).is_none() {
                out.push(err(&format!("{p}.state"), format!("{st:?} is not one of connected, connecting, reconnecting, disconnected, error, auth_required")));
            }
        }
        if let Some(re) = &r.reason {
            if crate::model::Reason::parse(re).is_none() {
                out.push(err(
                    &format!("{p}.reason"),
                    format!("{re:?} is not a known reason (see docs/states.md)"),
                ));
            } else if r.state.is_none() {
                out.push(err(&format!("{p}.reason"), "reason needs state".into()));
            }
        }
        if r.keywords.is_empty() && r.regex.is_none() {
            out.push(err(&p, "set keywords or regex".into()));
        }
        if let Some(l) = &r.level {
            if !matches!(
                l.to_ascii_lowercase().as_str(),
                "trace" | "debug" | "info" | "warn" | "error" | "fatal"
            ) {
                out.push(err(
                    &format!("{p}.level"),
                    format!("{l:?} is not one of trace, debug, info, warn, error, fatal"),
                ));
            }
        }
    }
    validate_recovery(&cfg.recovery, &cfg.gateway.url, &mut out);
    if cfg.backup.keep == 0 {
        out.push(err("backup.keep", "must be at least 1".into()));
    }
    if cfg.backup.interval < Duration::from_secs(60) {
        out.push(err("backup.interval", "must be at least 1m".into()));
    }
    let mut inames = std::collections::BTreeSet::new();
    for (i, it) in cfg.integrations.iter().enumerate() {
        let p = format!("integrations[{i}]");
        if it.name.is_empty() {
            out.push(err(&format!("{p}.name"), "must not be empty".into()));
        } else if !inames.insert(it.name.clone()) {
            out.push(err(
                &format!("{p}.name"),
                format!("duplicate integration name {:?}", it.name),
            ));
        }
        match it.kind.as_str() {
            "email" => {
                match &it.smtp {
                    None => out.push(err(&format!("{p}.smtp"), "required for type email".into())),
                    Some(s) if !(s.starts_with("smtp://") || s.starts_with("smtps://")) => out
                        .push(err(
                            &format!("{p}.smtp"),
                            format!("{s:?} must start with smtp:// or smtps://"),
                        )),
                    _ => {}
                }
                if it.from.is_none() {
                    out.push(err(&format!("{p}.from"), "required for type email".into()));
                }
                if it.to.is_empty() {
                    out.push(err(&format!("{p}.to"), "at least one recipient".into()));
                }
                one_of(
                    &mut out,
                    &format!("{p}.password"),
                    it.password.is_some(),
                    &it.password_file,
                    for_run,
                    "password",
                );
            }
            "telegram" => {
                if it.bot_token.is_none() && it.bot_token_file.is_none() {
                    out.push(err(
                        &format!("{p}.bot_token"),
                        "set bot_token or bot_token_file".into(),
                    ));
                }
                one_of(
                    &mut out,
                    &format!("{p}.bot_token"),
                    it.bot_token.is_some(),
                    &it.bot_token_file,
                    for_run,
                    "bot_token",
                );
                if it.chat_id.is_none() && it.chat_id_file.is_none() {
                    out.push(err(
                        &format!("{p}.chat_id"),
                        "set chat_id or chat_id_file".into(),
                    ));
                }
                one_of(
                    &mut out,
                    &format!("{p}.chat_id"),
                    it.chat_id.is_some(),
                    &it.chat_id_file,
                    for_run,
                    "chat_id",
                );
                let chat = match (&it.chat_id, &it.chat_id_file) {
                    (Some(c), _) => Some((format!("{p}.chat_id"), c.clone())),
                    (None, Some(f)) => read_secret_file(f)
                        .ok()
                        .map(|c| (format!("{p}.chat_id_file"), c)),
                    _ => None,
                };
                if let Some((key, c)) = chat {
                    if !chat_id_ok(c.expose()) {
                        out.push(err(
                            &key,
                            "must be a chat number (e.g. -1001234567890) or @channelname \
                             (value not shown)"
                                .into(),
                        ));
                    }
                }
            }
            "webhook" | "alertmanager" => {
                match &it.url {
                    None => out.push(err(
                        &format!("{p}.url"),
                        format!("required for type {}", it.kind),
                    )),
                    Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => out
                        .push(err(
                            &format!("{p}.url"),
                            format!("{u:?} must start with http:// or https://"),
                        )),
                    _ => {}
                }
                one_of(
                    &mut out,
                    &format!("{p}.hmac_secret"),
                    it.hmac_secret.is_some(),
                    &it.hmac_secret_file,
                    for_run,
                    "hmac_secret",
                );
            }
            other => out.push(err(
                &format!("{p}.type"),
                format!("{other:?} is not one of email, telegram, webhook, alertmanager"),
            )),
        }
    }
    out
}

/// Resolves `*_file` secrets into their inline fields.
pub fn resolve_secrets(cfg: &mut Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let mut read = |path: &str, file: &Option<PathBuf>, slot: &mut Option<Secret>| {
        if let Some(f) = file {
            match read_secret_file(f) {
                Ok(s) => *slot = Some(s),
                Err(e) => problems.push(Problem {
                    severity: Severity::Error,
                    path: path.into(),
                    message: format!("cannot read {}: {e}", f.display()),
                }),
            }
        }
    };
    read(
        "gateway.token_file",
        &cfg.gateway.token_file,
        &mut cfg.gateway.token,
    );
    read(
        "server.bearer_token_file",
        &cfg.server.bearer_token_file,
        &mut cfg.server.bearer_token,
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_is_accepted() {
        let cfg = parse(include_str!("../tests/data/spec-example.toml")).unwrap();
        assert_eq!(cfg.gateway.poll_interval, Duration::from_secs(15));
        assert_eq!(cfg.rules.len(), 2);
        assert_eq!(cfg.integrations.len(), 3);
        let problems = validate(&cfg, false);
        assert!(
            problems.iter().all(|p| p.severity == Severity::Warning),
            "{problems:?}"
        );
    }

    #[test]
    fn history_bounds_and_the_deprecated_size() {
        let cfg = parse("[history]\nretention = \"2d\"\nmax_bytes = \"1GiB\"\n").unwrap();
        assert_eq!(cfg.history.retention, Duration::from_secs(2 * 86400));
        assert_eq!(cfg.history.max_bytes.as_u64(), 1 << 30);
        assert_eq!(validate(&cfg, false), vec![]);
        let cfg = parse("[history]\nmax_bytes = 1000\nretention = \"10s\"\n").unwrap();
        let paths: Vec<_> = validate(&cfg, false).into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["history.max_bytes", "history.retention"]);
        let e = parse("[history]\nmax_bytes = \"lots\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_bytes"), "{e}");
        let cfg = parse("[states]\nhistory_size = 50\n").unwrap();
        let p = validate(&cfg, false);
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].severity, p[0].path.as_str()),
            (Severity::Warning, "states.history_size")
        );
        assert!(p[0].message.starts_with("deprecated"), "{}", p[0].message);
    }

    #[test]
    fn a_regex_rule_without_fixed_text_is_named_slow() {
        let cfg = parse(
            "[[rules]]\nname = \"any\"\nregex = \"^.*$\"\n\
             [[rules]]\nname = \"fine\"\nregex = \"(?i)logged out\"\n\
             [[rules]]\nname = \"keyed\"\nkeywords = [\"x\"]\nregex = \".*\"\n",
        )
        .unwrap();
        let p = validate(&cfg, false);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            (p[0].severity, p[0].path.as_str(), p[0].message.as_str()),
            (
                Severity::Warning,
                "rules[0].regex",
                "slow rule \"any\": some match of it contains no fixed text, so it runs on every line; add keywords (any one must appear) or fixed text to the regex"
            )
        );
    }

    #[test]
    fn shipped_example_is_valid() {
        let cfg = parse(include_str!("../examples/clawwatch.toml")).unwrap();
        assert_eq!(validate(&cfg, false), vec![]);
        assert_eq!(crate::alert::problems(&cfg), vec![]);
    }

    #[test]
    fn errors_never_echo_a_value() {
        let secret = "123456:AAHsecretSECRETsecret";
        let cases = [
            (
                format!("[gateway]\ntoken = \"{secret}\n"),
                "<syntax>",
                "line 2, column 38 (key token): invalid basic string",
            ),
            (
                format!("[[integrations]]\nname = \"t\"\ntype = \"telegram\"\nbot_token = [\"{secret}\"]\n"),
                "integrations[0].bot_token",
                "expected a string, found an array (value not shown)",
            ),
            (
                "[[integrations]]\nname = \"t\"\nchat_id = 1.5e3\n".to_string(),
                "integrations[0].chat_id",
                "expected a string, found a float (value not shown)",
            ),
            (
                format!("[server]\nbearer_token = {{ v = \"{secret}\" }}\n"),
                "server.bearer_token",
                "found a table (value not shown)",
            ),
        ];
        for (text, path, msg) in cases {
            match parse(&text) {
                Err(e @ ConfigError::Parse { .. }) => {
                    let shown = e.to_string();
                    assert!(!shown.contains("secret"), "{shown}");
                    assert!(
                        !shown.contains("1.5e3") && !shown.contains("1500"),
                        "{shown}"
                    );
                    let ConfigError::Parse { path: p, message } = e else {
                        unreachable!()
                    };
                    assert_eq!(p, path, "{text}");
                    assert!(message.contains(msg), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_numeric_chat_id_is_read_and_a_malformed_one_refused() {
        let base = "[[integrations]]\nname = \"t\"\ntype = \"telegram\"\nbot_token = \"1:x\"\n";
        let ok = parse(&format!("{base}chat_id = -1001234567890\n")).unwrap();
        assert_eq!(
            ok.integrations[0].chat_id.as_ref().unwrap().expose(),
            "-1001234567890"
        );
        assert_eq!(validate(&ok, true), vec![]);
        for bad in ["\"my group\"", "\"@ab\"", "\"\"", "0"] {
            let cfg = parse(&format!("{base}chat_id = {bad}\n")).unwrap();
            let problems = validate(&cfg, true);
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert_eq!(problems[0].path, "integrations[0].chat_id");
            assert!(
                !problems[0].to_string().contains("group"),
                "{}",
                problems[0]
            );
        }
        assert!(chat_id_ok("@clawwatch_alerts"));
    }

    #[test]
    fn a_secret_file_that_is_a_directory_is_an_error() {
        let dir = std::env::temp_dir();
        let text = format!("[gateway]\ntoken_file = {:?}\n", dir.display().to_string());
        let cfg = parse(&text).unwrap();
        for for_run in [false, true] {
            let problems = validate(&cfg, for_run);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].severity, Severity::Error);
            assert_eq!(problems[0].path, "gateway.token_file");
            assert!(problems[0].message.ends_with("is not a regular file"));
        }
    }

    #[test]
    fn errors_name_the_key_path() {
        let cases = [
            (
                "[gateway]\npoll_intervall = \"5s\"\n",
                "gateway.poll_intervall",
                "unknown field `poll_intervall`",
            ),
            (
                "[gateway]\npoll_interval = \"5 parsecs\"\n",
                "gateway.poll_interval",
                "expected a duration",
            ),
            (
                "[states.stale_after]\ntelegram = \"soon\"\n",
                "states.stale_after.telegram",
                "or \"off\"",
            ),
            (
                "[[rules]]\nname = 1\n",
                "rules[0].name",
                "expected a string",
            ),
        ];
        for (text, path, msg) in cases {
            match parse(text) {
                Err(ConfigError::Parse { path: p, message }) => {
                    assert_eq!(p, path, "{text}");
                    assert!(message.contains(msg), "{text}: {message}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let cfg = parse(
            "[server]\nlisten = \"localhost\"\n[gateway]\nurl = \"http://x\"\ntoken = \"a\"\ntoken_file = \"/nonexistent\"\n[[integrations]]\nname = \"x\"\ntype = \"pager\"\n",
        )
        .unwrap();
        let got: Vec<String> = validate(&cfg, true).iter().map(|p| p.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "error: server.listen: \"localhost\" is not an address like 127.0.0.1:28789",
                "error: gateway.url: \"http://x\" must start with ws:// or wss://",
                "error: gateway.token: set token or token_file, not both",
                "error: gateway.token_file: cannot read /nonexistent: No such file or directory (os error 2)",
                "error: integrations[0].type: \"pager\" is not one of email, telegram, webhook, alertmanager",
            ]
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
    }

    #[test]
    fn readyz_is_derived_from_the_ws_url() {
        let mut g = GatewayConfig::default();
        assert_eq!(g.readyz(), "http://127.0.0.1:18789/readyz");
        g.url = "wss://gw.example:443/ws".into();
        assert_eq!(g.readyz(), "https://gw.example:443/readyz");
    }
}
