//! Every metric family clawwatch exports, registered once, plus the cached
//! exposition. Changes are encoded once, on the blocking pool; a scrape
//! serves those bytes (waiting only for an encode still owed), so it costs a
//! copy, not an encode of every account.

use crate::model::{GatewayErrorKind, Reason, State};
use bytes::Bytes;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

impl EncodeLabelValue for State {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Reason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

/// Who restarted an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The gateway's own channel manager or health monitor.
    Gateway,
    /// clawwatch's recovery.
    Clawwatch,
}

impl EncodeLabelValue for Initiator {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(match self {
            Initiator::Gateway => "gateway",
            Initiator::Clawwatch => "clawwatch",
        })
    }
}

impl EncodeLabelValue for GatewayErrorKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

/// `{channel, account}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AccountLabels {
    /// Channel id.
    pub channel: Arc<str>,
    /// Account id.
    pub account: Arc<str>,
}

/// `{channel, account, state}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// Channel id.
    pub channel: Arc<str>,
    /// Account id.
    pub account: Arc<str>,
    /// One of the six.
    pub state: State,
}

/// `{channel, account, to}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// Channel id.
    pub channel: Arc<str>,
    /// Account id.
    pub account: Arc<str>,
    /// New state.
    pub to: State,
}

/// `{channel, account, reason}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Channel id.
    pub channel: Arc<str>,
    /// Account id.
    pub account: Arc<str>,
    /// Closed reason set.
    pub reason: Reason,
}

/// `{channel, account, initiator}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestartLabels {
    /// Channel id.
    pub channel: Arc<str>,
    /// Account id.
    pub account: Arc<str>,
    /// `gateway` or `clawwatch`.
    pub initiator: Initiator,
}

/// `{channel, account, action, result}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecoveryActionLabels {
    /// Channel id (`""`: the gateway).
    pub channel: Arc<str>,
    /// Account id (`""`: the gateway).
    pub account: Arc<str>,
    /// `rpc` or `command`.
    pub action: &'static str,
    /// `ok`, `failed`, `timeout`, `dry_run`.
    pub result: &'static str,
}

/// `{channel, account, status}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecoveryStatusLabels {
    /// Channel id (`""`: the gateway).
    pub channel: Arc<str>,
    /// Account id (`""`: the gateway).
    pub account: Arc<str>,
    /// The `recovery` field of `/health/detail`.
    pub status: &'static str,
}

/// `{account}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TelegramLabels {
    /// Telegram account id.
    pub account: Arc<str>,
}

/// `{level}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LevelLabels {
    /// Log level.
    pub level: &'static str,
}

/// `{rule, channel}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// Rule name.
    pub rule: String,
    /// Attributed channel, "" when none.
    pub channel: String,
}

/// `{kind}` of a rotation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RotationLabels {
    /// `rename`, `truncate`, `new_file`.
    pub kind: &'static str,
}

/// `{alert}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    /// Alert name.
    pub alert: &'static str,
}

/// `{integration, result}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// Integration name (from the config).
    pub integration: String,
    /// `sent`, `failed`, `dropped`.
    pub result: &'static str,
}

/// `{task}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    /// A supervised task's name.
    pub task: &'static str,
}

/// `{reason}` of a refused HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    /// One of [`REFUSED`].
    pub reason: &'static str,
}

/// Why the HTTP server refuses a request or a connection.
pub const REFUSED: [&str; 11] = [
    "body",
    "headers",
    "slow",
    "idle",
    "origin",
    "host",
    "content_type",
    "subscribers",
    "silences",
    "matchers",
    "auth",
];

/// The supervised tasks; the first four are core: `/healthz` fails while one is down.
pub const TASKS: [&str; 8] = [
    "gateway",
    "state",
    "logs",
    "delivery",
    "readyz",
    "telegram_webhook",
    "recovery",
    "backup",
];

/// `{method}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// RPC method.
    pub method: &'static str,
}

/// `{kind}`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Error kind.
    pub kind: GatewayErrorKind,
}

// Probes and RPCs take tens of ms to seconds; few buckets keep a fleet's
// exposition small.
fn latency_histogram() -> Histogram {
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0])
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// Every family; cheap to clone.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub struct Metrics {
    pub channel_state: Family<StateLabels, Gauge>,
    pub channel_up: Family<AccountLabels, Gauge>,
    pub state_since: Family<AccountLabels, F64Gauge>,
    pub transitions: Family<TransitionLabels, Counter>,
    pub disconnects: Family<ReasonLabels, Counter>,
    pub reconnect_attempts: Family<AccountLabels, Counter>,
    pub heartbeat_latency: Family<AccountLabels, Histogram, fn() -> Histogram>,
    pub probe_success: Family<AccountLabels, Gauge>,
    pub last_inbound: Family<AccountLabels, F64Gauge>,
    pub last_event: Family<AccountLabels, F64Gauge>,
    pub restarts: Family<RestartLabels, Counter>,
    pub recovery_exhausted: Family<AccountLabels, Gauge>,
    pub webhook_pending: Family<TelegramLabels, Gauge>,
    pub gateway_up: Gauge,
    pub gateway_ready: Gauge,
    pub rpc_duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    pub gateway_errors: Family<KindLabels, Counter>,
    pub config_reload_ok: Gauge,
    pub config_reload_ts: F64Gauge,
    pub log_lines: Family<LevelLabels, Counter>,
    pub log_matches: Family<RuleLabels, Counter>,
    pub log_rotations: Family<RotationLabels, Counter>,
    pub log_lag: Gauge,
    pub log_long_lines: Counter,
    pub alerts_firing: Family<AlertLabels, Gauge>,
    pub notifications: Family<NotifyLabels, Counter>,
    pub queue_length: Gauge,
    pub task_panics: Family<TaskLabels, Counter>,
    pub http_refused: Family<RefusedLabels, Counter>,
    pub ids_sanitized: Counter,
    pub accounts_dropped: Counter,
    pub history_dropped: Counter,
    pub log_files_open: Gauge,
    pub runtime_tasks: Gauge,
    pub recovery_actions: Family<RecoveryActionLabels, Counter>,
    pub own_recovery_exhausted: Family<AccountLabels, Gauge>,
    pub recovery_status: Family<RecoveryStatusLabels, Gauge>,
    pub backup_last_success: Family<AccountLabels, F64Gauge>,
    pub backup_failures: Counter,
}

impl Metrics {
    /// Builds and registers every family.
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            channel_state: Family::default(),
            channel_up: Family::default(),
            state_since: Family::default(),
            transitions: Family::default(),
            disconnects: Family::default(),
            reconnect_attempts: Family::default(),
            heartbeat_latency: Family::new_with_constructor(latency_histogram),
            probe_success: Family::default(),
            last_inbound: Family::default(),
            last_event: Family::default(),
            restarts: Family::default(),
            recovery_exhausted: Family::default(),
            webhook_pending: Family::default(),
            gateway_up: Gauge::default(),
            gateway_ready: Gauge::default(),
            rpc_duration: Family::new_with_constructor(latency_histogram),
            gateway_errors: Family::default(),
            config_reload_ok: Gauge::default(),
            config_reload_ts: F64Gauge::default(),
            log_lines: Family::default(),
            log_matches: Family::default(),
            log_rotations: Family::default(),
            log_lag: Gauge::default(),
            log_long_lines: Counter::default(),
            alerts_firing: Family::default(),
            notifications: Family::default(),
            queue_length: Gauge::default(),
            task_panics: Family::default(),
            http_refused: Family::default(),
            ids_sanitized: Counter::default(),
            accounts_dropped: Counter::default(),
            history_dropped: Counter::default(),
            log_files_open: Gauge::default(),
            runtime_tasks: Gauge::default(),
            recovery_actions: Family::default(),
            own_recovery_exhausted: Family::default(),
            recovery_status: Family::default(),
            backup_last_success: Family::default(),
            backup_failures: Counter::default(),
        };
        let r = registry;
        r.register(
            "openclaw_channel_state",
            "Current state of a channel account: 1 for the current state, 0 for the other five",
            m.channel_state.clone(),
        );
        r.register(
            "openclaw_channel_up",
            "1 when the channel account is connected",
            m.channel_up.clone(),
        );
        r.register_with_unit(
            "openclaw_channel_state_since_timestamp",
            "When the current state began, as seen by clawwatch",
            Unit::Seconds,
            m.state_since.clone(),
        );
        r.register(
            "openclaw_channel_transitions",
            "State changes, by new state",
            m.transitions.clone(),
        );
        r.register(
            "openclaw_channel_disconnects",
            "Disconnects, by reason",
            m.disconnects.clone(),
        );
        r.register(
            "openclaw_channel_reconnect_attempts",
            "Increases of the gateway's reconnectAttempts for the account",
            m.reconnect_attempts.clone(),
        );
        r.register_with_unit(
            "openclaw_channel_heartbeat_latency",
            "Successful channel probe round trips to the upstream API",
            Unit::Seconds,
            m.heartbeat_latency.clone(),
        );
        r.register(
            "openclaw_channel_probe_success",
            "1 if the last channel probe succeeded",
            m.probe_success.clone(),
        );
        r.register_with_unit(
            "openclaw_channel_last_inbound_timestamp",
            "Last inbound message (the gateway's lastInboundAt)",
            Unit::Seconds,
            m.last_inbound.clone(),
        );
        r.register_with_unit(
            "openclaw_channel_last_event_timestamp",
            "The gateway's lastEventAt for the account",
            Unit::Seconds,
            m.last_event.clone(),
        );
        r.register(
            "openclaw_channel_restarts",
            "Account restarts, by who started them",
            m.restarts.clone(),
        );
        r.register(
            "openclaw_channel_recovery_exhausted",
            "1 when the gateway's automatic restarts gave up on the account",
            m.recovery_exhausted.clone(),
        );
        r.register(
            "clawwatch_recovery_actions",
            "Restarts clawwatch's recovery ran (channel and account empty: the gateway), by action and result",
            m.recovery_actions.clone(),
        );
        r.register(
            "clawwatch_recovery_exhausted",
            "1 when clawwatch's own recovery budget for the account is spent",
            m.own_recovery_exhausted.clone(),
        );
        r.register(
            "clawwatch_recovery_status",
            "clawwatch's recovery of the account: 1 for the current status (not_attempted, waiting, attempted, exhausted, disabled)",
            m.recovery_status.clone(),
        );
        r.register_with_unit(
            "clawwatch_backup_last_success_timestamp",
            "When the last verified session backup of the account was taken",
            Unit::Seconds,
            m.backup_last_success.clone(),
        );
        r.register(
            "clawwatch_backup_failures",
            "Session backups that failed",
            m.backup_failures.clone(),
        );
        r.register(
            "openclaw_telegram_webhook_pending_updates",
            "Updates waiting at Telegram for a webhook-mode account (getWebhookInfo)",
            m.webhook_pending.clone(),
        );
        r.register(
            "openclaw_gateway_up",
            "1 if the gateway answered the last poll",
            m.gateway_up.clone(),
        );
        r.register(
            "openclaw_gateway_ready",
            "The gateway's own readiness (/readyz)",
            m.gateway_ready.clone(),
        );
        r.register_with_unit(
            "openclaw_gateway_rpc_duration",
            "Gateway RPC round trips",
            Unit::Seconds,
            m.rpc_duration.clone(),
        );
        r.register(
            "clawwatch_gateway_errors",
            "Failures talking to the gateway, by kind",
            m.gateway_errors.clone(),
        );
        // Every kind starts at 0, so that the first error shows in rate().
        for kind in GatewayErrorKind::ALL {
            let _ = m.gateway_errors.get_or_create(&KindLabels { kind });
        }
        r.register(
            "clawwatch_task_panics",
            "Panics of a supervised task; each is restarted with backoff",
            m.task_panics.clone(),
        );
        for task in TASKS {
            let _ = m.task_panics.get_or_create(&TaskLabels { task });
        }
        r.register(
            "clawwatch_http_refused",
            "HTTP requests and connections refused, by reason",
            m.http_refused.clone(),
        );
        for reason in REFUSED {
            let _ = m.http_refused.get_or_create(&RefusedLabels { reason });
        }
        r.register(
            "clawwatch_ids_sanitized",
            "Channel or account ids whose control characters were replaced by U+FFFD",
            m.ids_sanitized.clone(),
        );
        r.register(
            "clawwatch_accounts_dropped",
            "Accounts not tracked because the account cap was reached",
            m.accounts_dropped.clone(),
        );
        r.register(
            "clawwatch_history_dropped",
            "History records dropped by size or age",
            m.history_dropped.clone(),
        );
        r.register(
            "clawwatch_log_files_open",
            "Log files held open now",
            m.log_files_open.clone(),
        );
        r.register(
            "clawwatch_runtime_tasks",
            "Tasks alive in the async runtime (sampled every 10 s)",
            m.runtime_tasks.clone(),
        );
        r.register(
            "clawwatch_config_last_reload_successful",
            "1 if the last config reload (SIGHUP, /-/reload) succeeded",
            m.config_reload_ok.clone(),
        );
        r.register(
            "clawwatch_config_last_reload_success_timestamp_seconds",
            "When the config last loaded (the start, or a reload that succeeded)",
            m.config_reload_ts.clone(),
        );
        r.register(
            "openclaw_log_lines",
            "Gateway log lines read, by level",
            m.log_lines.clone(),
        );
        r.register(
            "openclaw_log_rule_matches",
            "Log rule matches, by rule and attributed channel (\"\" when none)",
            m.log_matches.clone(),
        );
        r.register(
            "clawwatch_log_rotations",
            "Log file rotations seen, by kind",
            m.log_rotations.clone(),
        );
        r.register_with_unit(
            "clawwatch_log_lag",
            "Bytes written to the logs but not yet read",
            Unit::Bytes,
            m.log_lag.clone(),
        );
        r.register(
            "clawwatch_log_long_lines",
            "Log lines longer than logs.max_line_bytes, matched on their first max_line_bytes",
            m.log_long_lines.clone(),
        );
        r.register(
            "clawwatch_alerts_firing",
            "Built-in alerts firing now",
            m.alerts_firing.clone(),
        );
        r.register(
            "clawwatch_notifications",
            "Notification attempts, by integration and result (sent, failed, dropped)",
            m.notifications.clone(),
        );
        r.register(
            "clawwatch_notification_queue_length",
            "Notifications waiting for delivery",
            m.queue_length.clone(),
        );
        r.register(
            "clawwatch_build",
            "clawwatch build information",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", env!("CLAWWATCH_REVISION")),
            ]),
        );
        m
    }

    /// Drops every series of an account the gateway no longer reports.
    pub fn remove_account(&self, channel: &str, account: &str) {
        let a = AccountLabels {
            channel: channel.into(),
            account: account.into(),
        };
        for s in State::ALL {
            self.channel_state.remove(&StateLabels {
                channel: a.channel.clone(),
                account: a.account.clone(),
                state: s,
            });
            self.transitions.remove(&TransitionLabels {
                channel: a.channel.clone(),
                account: a.account.clone(),
                to: s,
            });
        }
        for r in Reason::ALL {
            self.disconnects.remove(&ReasonLabels {
                channel: a.channel.clone(),
                account: a.account.clone(),
                reason: r,
            });
        }
        for i in [Initiator::Gateway, Initiator::Clawwatch] {
            self.restarts.remove(&RestartLabels {
                channel: a.channel.clone(),
                account: a.account.clone(),
                initiator: i,
            });
        }
        for f in [
            &self.channel_up,
            &self.probe_success,
            &self.recovery_exhausted,
        ] {
            f.remove(&a);
        }
        for f in [&self.state_since, &self.last_inbound, &self.last_event] {
            f.remove(&a);
        }
        self.reconnect_attempts.remove(&a);
        self.heartbeat_latency.remove(&a);
        self.own_recovery_exhausted.remove(&a);
        for status in [
            "not_attempted",
            "waiting",
            "attempted",
            "exhausted",
            "disabled",
        ] {
            self.recovery_status.remove(&RecoveryStatusLabels {
                channel: a.channel.clone(),
                account: a.account.clone(),
                status,
            });
        }
        for action in ["rpc", "command"] {
            for result in ["ok", "failed", "timeout", "dry_run"] {
                self.recovery_actions.remove(&RecoveryActionLabels {
                    channel: a.channel.clone(),
                    account: a.account.clone(),
                    action,
                    result,
                });
            }
        }
    }
}

/// The registry plus the encodings made after the last change. Encoding
/// happens outside the cache lock and, in a runtime, on the blocking pool:
/// a 1,000-account encode takes milliseconds, which the async threads would
/// otherwise spend not answering scrapes. Each encode also makes every
/// format and content encoding asked for lately, so a scrape after a change
/// finds its copy made; at most one copy per format and encoding is kept,
/// and a variant nobody asks for is dropped after [`KEEP_ENCODES`].
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
    generation: AtomicU64,
    /// An encode is queued on the blocking pool and has not started.
    queued: AtomicBool,
    /// Held while encoding, so one encode runs at a time.
    encoding: Mutex<()>,
    /// Per variant, the encode count when a scrape last asked for it.
    asked: [AtomicU64; 4],
    cache: Mutex<Cached>,
}

/// Encodes after its last request that a variant is still made eagerly.
pub const KEEP_ENCODES: u64 = 64;

/// In `asked`: no scrape yet.
const NEVER: u64 = u64::MAX;

/// Below this size an encode takes well under a millisecond, so a scrape
/// always waits for it and sees every change made before it.
const SMALL: usize = 256 * 1024;

/// How long a scrape of a large exposition waits for an encode in flight
/// before it is served the previous one (at most one encode old).
const WAIT: std::time::Duration = std::time::Duration::from_millis(5);

#[derive(Debug, Default)]
struct Cached {
    generation: u64,
    /// Encodes done so far.
    encodes: u64,
    /// Size of the last OpenMetrics text, the hint for the next.
    size: usize,
    copies: [Option<Bytes>; 4],
}

/// Which text format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
    /// `text/plain; version=0.0.4`
    Prometheus,
}

/// A format and whether it is gzipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Variant(Format, bool);

impl Variant {
    const ALL: [Variant; 4] = [
        Variant(Format::OpenMetrics, false),
        Variant(Format::Prometheus, false),
        Variant(Format::OpenMetrics, true),
        Variant(Format::Prometheus, true),
    ];

    fn slot(self) -> usize {
        match self {
            Variant(Format::OpenMetrics, false) => 0,
            Variant(Format::Prometheus, false) => 1,
            Variant(Format::OpenMetrics, true) => 2,
            Variant(Format::Prometheus, true) => 3,
        }
    }
}

impl Exposition {
    /// Wraps a fully registered registry.
    pub fn new(registry: Registry) -> Exposition {
        Exposition {
            registry,
            generation: AtomicU64::new(1),
            queued: AtomicBool::new(false),
            encoding: Mutex::new(()),
            asked: std::array::from_fn(|_| AtomicU64::new(NEVER)),
            cache: Mutex::new(Cached::default()),
        }
    }

    /// Marks the cache stale; call after a batch of metric updates.
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-encodes soon, off the async threads: on the blocking pool when
    /// called inside a runtime (one queued encode covers any number of
    /// calls), here and now otherwise. The writer calls this after each
    /// update; [`Exposition::current`] waits for it when a scrape is early.
    pub fn schedule(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.refresh();
            return;
        };
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        rt.spawn_blocking(move || {
            // Cleared first: a change made during this encode queues the next.
            me.queued.store(false, Ordering::Release);
            me.refresh();
        });
    }

    /// The encoding in the asked format, gzipped if asked, of every change
    /// made before this call; encoding (if still owed) runs on the blocking
    /// pool. A large exposition is the exception: after a short wait for
    /// an encode in flight, the scrape gets the previous copy, so a scrape
    /// never queues behind a whole encode.
    pub async fn current(self: &Arc<Self>, format: Format, gzip: bool) -> Bytes {
        let v = Variant(format, gzip);
        let want = self.generation.load(Ordering::Acquire);
        let previous = {
            let c = self.cached();
            self.asked[v.slot()].store(c.encodes, Ordering::Relaxed);
            let copy = c.copies[v.slot()].clone();
            if c.generation == want {
                if let Some(b) = copy {
                    return b;
                }
            }
            copy.filter(|_| c.size >= SMALL)
        };
        let me = self.clone();
        let job = tokio::task::spawn_blocking(move || me.make(Some(v)).unwrap_or_default());
        let done = match previous {
            Some(old) => match tokio::time::timeout(WAIT, job).await {
                Ok(done) => done,
                // The encode goes on and serves the next scrape.
                Err(_) => return old,
            },
            None => job.await,
        };
        // Only a panic while encoding; serve what there is.
        done.unwrap_or_else(|_| self.variant(v))
    }

    /// Re-encodes now if stale, making the variants asked for lately.
    pub fn refresh(&self) {
        self.make(None);
    }

    /// Under the encode lock: re-encodes if stale, or makes `extra` if it
    /// is missing; returns `extra`'s copy.
    fn make(&self, extra: Option<Variant>) -> Option<Bytes> {
        let _one = self.encoding.lock().unwrap_or_else(|p| p.into_inner());
        let want = self.generation.load(Ordering::Acquire);
        let (stale, encodes, size, om) = {
            let c = self.cached();
            if c.generation == want {
                match extra.map(|v| c.copies[v.slot()].clone()) {
                    None => return None,
                    Some(Some(b)) => return Some(b),
                    Some(None) => {}
                }
            }
            (c.generation != want, c.encodes, c.size, c.copies[0].clone())
        };
        let recent = |v: Variant| {
            let asked = self.asked[v.slot()].load(Ordering::Relaxed);
            // A small OpenMetrics text, the source of the rest, is kept always.
            extra == Some(v)
                || (v.slot() == 0 && size < SMALL)
                || (stale && asked != NEVER && encodes.saturating_sub(asked) < KEEP_ENCODES)
        };
        // The OpenMetrics text is the source of the others.
        let om = match om.filter(|_| !stale) {
            Some(om) => om,
            None => self.encode(size),
        };
        let mut copies: [Option<Bytes>; 4] = Default::default();
        let mut prom: Option<Bytes> = None;
        for v in Variant::ALL {
            let source_of_gzip = v == Variant(Format::Prometheus, false)
                && recent(Variant(Format::Prometheus, true));
            if !recent(v) && !source_of_gzip {
                continue;
            }
            let plain = match v.0 {
                Format::OpenMetrics => om.clone(),
                Format::Prometheus => prom
                    .get_or_insert_with(|| {
                        Bytes::from(to_prometheus_text(&String::from_utf8_lossy(&om)).into_bytes())
                    })
                    .clone(),
            };
            copies[v.slot()] = Some(if v.1 { gzip(&plain) } else { plain });
        }
        let mut c = self.cached();
        if stale {
            // Only what was asked for lately is kept: the source itself too.
            c.generation = want;
            c.encodes += 1;
            c.size = om.len();
            c.copies = Default::default();
        }
        for v in Variant::ALL {
            if let Some(b) = copies[v.slot()].take().filter(|_| recent(v)) {
                c.copies[v.slot()] = Some(b);
            }
        }
        extra.and_then(|v| c.copies[v.slot()].clone())
    }

    fn encode(&self, hint: usize) -> Bytes {
        // A fresh buffer each time: a kept one would be a second full copy.
        let mut text = String::with_capacity(hint + hint / 16 + 4096);
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
            text.push_str("# EOF\n");
        }
        let sorted = sort_samples(&text);
        drop(text);
        Bytes::from(sorted.into_bytes())
    }

    /// The latest encoding in the asked format (encoded now if missing).
    pub fn get(&self, format: Format) -> Bytes {
        self.variant(Variant(format, false))
    }

    /// The latest encoding in the asked format, gzipped.
    pub fn get_gzip(&self, format: Format) -> Bytes {
        self.variant(Variant(format, true))
    }

    fn variant(&self, v: Variant) -> Bytes {
        {
            let c = self.cached();
            self.asked[v.slot()].store(c.encodes, Ordering::Relaxed);
            if c.generation != 0 {
                if let Some(b) = c.copies[v.slot()].clone() {
                    return b;
                }
            }
        }
        self.make(Some(v)).unwrap_or_default()
    }
}

/// gzip at the fastest level: exposition text shrinks about tenfold even so,
/// and a compress stays a small share of an encode.
fn gzip(text: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = z.write_all(text);
    Bytes::from(z.finish().unwrap_or_default())
}

/// Sorts the samples of each family so the exposition is stable between
/// scrapes (families keep their registration order). Gauges and counters
/// sort by line; a histogram's series sort by their labels and keep the
/// encoder's sum, count and bucket order inside.
pub fn sort_samples(text: &str) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Plain,
        Lines,
        Series,
    }
    // The labels of a sample line without `le` (a number, which the
    // encoder writes first).
    fn series_of(line: &str) -> &str {
        let labels = line.split_once('{').map_or("", |(_, l)| l);
        let labels = labels.rsplit_once('}').map_or(labels, |(l, _)| l);
        match labels.strip_prefix("le=\"") {
            Some(rest) => rest.split_once("\",").map_or("", |(_, l)| l),
            None => labels,
        }
    }
    fn flush<'a>(out: &mut String, block: &mut Vec<&'a str>, kind: Kind) {
        match kind {
            Kind::Lines => block.sort_unstable(),
            Kind::Series => {
                // A series' lines stand together: sort whole runs by their
                // labels, without a key per line.
                let mut runs: Vec<&[&'a str]> = Vec::new();
                let mut rest = &block[..];
                while let Some(first) = rest.first() {
                    let key = series_of(first);
                    let n = rest.iter().take_while(|l| series_of(l) == key).count();
                    let (run, tail) = rest.split_at(n);
                    runs.push(run);
                    rest = tail;
                }
                runs.sort_by_key(|r| series_of(r[0]));
                for l in runs.into_iter().flatten() {
                    out.push_str(l);
                    out.push('\n');
                }
                block.clear();
                return;
            }
            Kind::Plain => {}
        }
        for l in block.drain(..) {
            out.push_str(l);
            out.push('\n');
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut block: Vec<&str> = Vec::new();
    let mut kind = Kind::Plain;
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut out, &mut block, kind);
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                kind = if rest.ends_with(" gauge") || rest.ends_with(" counter") {
                    Kind::Lines
                } else if rest.ends_with(" histogram") {
                    Kind::Series
                } else {
                    Kind::Plain
                };
            }
            out.push_str(line);
            out.push('\n');
        } else {
            block.push(line);
        }
    }
    flush(&mut out, &mut block, kind);
    out
}

/// OpenMetrics text to Prometheus text 0.0.4: no UNIT or EOF lines, counters
/// and infos typed under their sample names, `_created` samples dropped.
pub fn to_prometheus_text(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let types: std::collections::HashMap<&str, &str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split_once(' '))
        .collect();
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "stateset" | "gaugehistogram" | "unknown" => (name.to_string(), "untyped"),
                k => (name.to_string(), k),
            };
            let _ = writeln!(out, "# TYPE {name} {kind}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            // HELP precedes TYPE; rename both the same way.
            let kind = types.get(name).copied().unwrap_or("");
            let name = match kind {
                "counter" => format!("{name}_total"),
                "info" => format!("{name}_info"),
                _ => name.to_string(),
            };
            let _ = writeln!(out, "# HELP {name} {help}");
            continue;
        }
        let metric = line.split(['{', ' ']).next().unwrap_or("");
        if metric.ends_with("_created") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        use std::io::Read as _;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// One counter `n` and its exposition.
    fn counting() -> (Counter, Arc<Exposition>) {
        let mut reg = Registry::default();
        let c: Counter = Counter::default();
        reg.register("n", "Changes.", c.clone());
        (c, Arc::new(Exposition::new(reg)))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_scrape_reflects_every_change_made_before_it() {
        let (c, expo) = counting();
        expo.refresh();
        for i in 1..=200u64 {
            c.inc();
            expo.touch();
            expo.schedule();
            // Scrapes in between see a whole number, never a newer one.
            let want = format!("n_total {i}\n");
            for (format, gz) in [
                (Format::OpenMetrics, false),
                (Format::Prometheus, false),
                (Format::OpenMetrics, true),
                (Format::Prometheus, true),
            ] {
                let body = expo.current(format, gz).await;
                let body = if gz { gunzip(&body) } else { body.to_vec() };
                let text = std::str::from_utf8(&body).unwrap();
                assert!(text.contains(&want), "after {i} changes: {text}");
                // Each copy is the plain text of its format, compressed.
                if gz {
                    assert_eq!(body, expo.get(format));
                }
            }
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn only_variants_asked_for_lately_are_kept() {
        let (c, expo) = counting();
        let kept = |e: &Exposition| {
            e.cached()
                .copies
                .iter()
                .map(Option::is_some)
                .collect::<Vec<_>>()
        };
        expo.refresh();
        // Nobody asked yet: only the small source is kept.
        assert_eq!(kept(&expo), [true, false, false, false]);
        let _ = expo.current(Format::Prometheus, true).await;
        assert_eq!(kept(&expo), [true, false, false, true]);
        // After a change, only the asked copy is made again.
        c.inc();
        expo.touch();
        expo.refresh();
        assert_eq!(kept(&expo), [true, false, false, true]);
        let body = gunzip(&expo.current(Format::Prometheus, true).await);
        assert!(String::from_utf8(body).unwrap().contains("n_total 1\n"));
        // Made by the KEEP_ENCODES encodes after the last request, then dropped.
        for _ in 0..KEEP_ENCODES {
            c.inc();
            expo.touch();
            expo.refresh();
        }
        assert_eq!(kept(&expo), [true, false, false, true]);
        c.inc();
        expo.touch();
        expo.refresh();
        assert_eq!(kept(&expo), [true, false, false, false]);
    }

    #[test]
    fn prometheus_text_conversion() {
        let om = "# HELP a_total_x Things.\n# TYPE a_total_x counter\na_total_x_total 3\na_total_x_created 1.0\n# HELP b Build.\n# TYPE b info\nb_info{v=\"1\"} 1\n# HELP c_seconds Age.\n# TYPE c_seconds gauge\n# UNIT c_seconds seconds\nc_seconds 2.5\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_total_x_total Things.\n# TYPE a_total_x_total counter\na_total_x_total 3\n# HELP b_info Build.\n# TYPE b_info gauge\nb_info{v=\"1\"} 1\n# HELP c_seconds Age.\n# TYPE c_seconds gauge\nc_seconds 2.5\n"
        );
    }

    #[test]
    fn samples_sort_by_line_and_histogram_series_by_labels() {
        let text = "# TYPE g gauge\ng{a=\"z\"} 1\ng{a=\"b\"} 2\n\
# TYPE h histogram\n\
h_sum{c=\"y\"} 1\nh_count{c=\"y\"} 1\nh_bucket{le=\"0.1\",c=\"y\"} 1\nh_bucket{le=\"+Inf\",c=\"y\"} 1\n\
h_sum{c=\"x\"} 2\nh_count{c=\"x\"} 2\nh_bucket{le=\"0.1\",c=\"x\"} 0\nh_bucket{le=\"+Inf\",c=\"x\"} 2\n# EOF\n";
        assert_eq!(
            sort_samples(text),
            "# TYPE g gauge\ng{a=\"b\"} 2\ng{a=\"z\"} 1\n\
# TYPE h histogram\n\
h_sum{c=\"x\"} 2\nh_count{c=\"x\"} 2\nh_bucket{le=\"0.1\",c=\"x\"} 0\nh_bucket{le=\"+Inf\",c=\"x\"} 2\n\
h_sum{c=\"y\"} 1\nh_count{c=\"y\"} 1\nh_bucket{le=\"0.1\",c=\"y\"} 1\nh_bucket{le=\"+Inf\",c=\"y\"} 1\n# EOF\n"
        );
    }
}
