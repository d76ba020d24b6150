//! Wiring: sources feed one state task, which owns the [`Tracker`], updates
//! metrics and publishes a [`Snapshot`] for the HTTP server.

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::{
    AccountLabels, Exposition, Initiator, Metrics, ReasonLabels, RestartLabels, StateLabels,
    TelegramLabels, TransitionLabels,
};
use crate::model::State;
use crate::redact::{display_url, redact};
use crate::source::{gateway, readyz, telegram_webhook, Observation};
use crate::state::{AccountView, Event, Tracker, Ts};
use anyhow::Context as _;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The gateway as clawwatch sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No `channels.status` answer yet, or `UNAVAILABLE`.
    Starting,
    /// Answering.
    Up,
    /// Unreachable, refused us, or mismatched.
    Down,
}

/// What the server shows; replaced whole on every update.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Sanitized gateway URL.
    pub gateway_url: String,
    /// Phase of the gateway connection.
    pub phase: Phase,
    /// `/readyz`.
    pub ready: Option<bool>,
    /// `server.version`.
    pub version: Option<String>,
    /// Gateway uptime (seconds) and when it was read.
    pub uptime: Option<(f64, Ts)>,
    /// Why the gateway is down or starting.
    pub gateway_error: Option<String>,
    /// When the last `channels.status` answer arrived.
    pub checked_at: Option<Ts>,
    /// True once a `channels.status` answer was applied.
    pub polled: bool,
    /// Accounts in the gateway's order.
    pub accounts: Arc<Vec<AccountView>>,
    /// Recent events, newest first.
    pub history: Arc<Vec<Event>>,
    /// When clawwatch started.
    pub started_at: Ts,
    /// Built-in alerts firing now.
    pub alerts: Arc<Vec<crate::alert::engine::Alert>>,
}

impl Snapshot {
    fn new(gateway_url: String, now: Ts) -> Snapshot {
        Snapshot {
            gateway_url,
            phase: Phase::Starting,
            ready: None,
            version: None,
            uptime: None,
            gateway_error: None,
            checked_at: None,
            polled: false,
            accounts: Arc::new(Vec::new()),
            history: Arc::new(Vec::new()),
            started_at: now,
            alerts: Arc::new(Vec::new()),
        }
    }

    /// Gateway uptime at `now`, seconds.
    pub fn uptime_at(&self, now: Ts) -> Option<f64> {
        self.uptime.map(|(u, at)| u + (now - at).max(0.0))
    }

    /// Worst state per channel, in the gateway's order.
    pub fn channel_states(&self) -> Vec<(String, State)> {
        let mut out: Vec<(String, State)> = Vec::new();
        for a in self.accounts.iter() {
            match out.iter_mut().find(|(c, _)| *c == a.channel) {
                Some((_, s)) => *s = (*s).max(a.state),
                None => out.push((a.channel.clone(), a.state)),
            }
        }
        out
    }

    /// `ok`, `degraded`, `down` or `starting`.
    pub fn status(&self) -> &'static str {
        match self.phase {
            Phase::Down => "down",
            Phase::Starting => "starting",
            Phase::Up if !self.polled => "starting",
            Phase::Up if self.accounts.iter().all(|a| a.state == State::Connected) => "ok",
            Phase::Up => "degraded",
        }
    }
}

/// Everything the HTTP server reads.
#[derive(Clone, Debug)]
pub struct Shared {
    /// Latest snapshot.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Cached `/metrics` bytes.
    pub exposition: Arc<Exposition>,
    /// Required bearer token, if any.
    pub bearer: Option<crate::config::Secret>,
    /// Live events (transitions, rule matches) as JSON, for `/api/v1/events`.
    pub events: broadcast::Sender<Arc<str>>,
    /// Ends long-lived responses on shutdown.
    pub cancel: CancellationToken,
    /// Silences and maintenance windows.
    pub silences: Arc<std::sync::Mutex<crate::alert::silence::Silences>>,
    /// Asks the state task to evaluate the alerts now (a silence changed).
    pub reevaluate: Arc<tokio::sync::Notify>,
    /// The clock.
    pub clock: Clock,
}

/// The state task: applies observations, updates metrics, publishes snapshots.
pub struct StateTask {
    tracker: Tracker,
    metrics: Metrics,
    exposition: Arc<Exposition>,
    snap: Snapshot,
    tx: watch::Sender<Arc<Snapshot>>,
    last_start: HashMap<(String, String), Option<i64>>,
    webhook_accounts: Vec<String>,
    webhook_tx: watch::Sender<Vec<String>>,
    events: broadcast::Sender<Arc<str>>,
    known: crate::logs::watch::Known,
    alerts: crate::alert::engine::Engine,
    firing: Vec<crate::alert::engine::Alert>,
    outbox: Arc<std::sync::Mutex<crate::alert::outbox::Outbox>>,
    deliver: Arc<tokio::sync::Notify>,
    router: Option<crate::alert::notify::Router>,
    silences: Arc<std::sync::Mutex<crate::alert::silence::Silences>>,
    disconnects: std::collections::BTreeMap<String, u64>,
    last_log_line: Option<Ts>,
    clock: Clock,
}

impl StateTask {
    fn apply(&mut self, obs: Observation) {
        let now = self.clock.now();
        match obs {
            Observation::Connected { version, uptime_ms } => {
                self.snap.version = version;
                if let Some(u) = uptime_ms {
                    self.snap.uptime = Some((u as f64 / 1000.0, now));
                }
            }
            Observation::Down { message, .. } => {
                self.snap.phase = Phase::Down;
                self.snap.gateway_error = Some(redact(&message));
                self.metrics.gateway_up.set(0);
            }
            Observation::Starting { message } => {
                self.snap.phase = Phase::Starting;
                self.snap.gateway_error = Some(redact(&message));
                self.metrics.gateway_up.set(0);
            }
            Observation::WebhookPending { account, pending } => {
                let l = TelegramLabels { account };
                match pending {
                    Some(n) if self.webhook_accounts.contains(&l.account) => {
                        self.metrics.webhook_pending.get_or_create(&l).set(n as i64);
                    }
                    _ => {
                        self.metrics.webhook_pending.remove(&l);
                    }
                }
            }
            Observation::Logs { hits, disconnects } => {
                self.disconnects = disconnects;
                self.last_log_line = Some(now);
                for h in hits {
                    match h.effect {
                        crate::logs::watch::LogEffect::State(state, reason) => {
                            let up = self.tracker.apply_log(
                                &h.channel,
                                h.account.as_deref(),
                                state,
                                reason,
                                now,
                            );
                            if !up.events.is_empty() {
                                self.record_events(&up.events);
                                self.snap.history =
                                    Arc::new(self.tracker.history().cloned().collect());
                                self.snap.accounts = Arc::new(self.tracker.views());
                                self.export_accounts();
                            }
                        }
                        crate::logs::watch::LogEffect::Reconnect => {
                            let account = h
                                .account
                                .clone()
                                .or_else(|| self.tracker.only_account(&h.channel));
                            if let Some(account) = account {
                                self.metrics
                                    .reconnect_attempts
                                    .get_or_create(&AccountLabels {
                                        channel: h.channel.clone(),
                                        account,
                                    })
                                    .inc();
                            }
                        }
                    }
                }
            }
            Observation::Ready { ready, uptime_ms } => {
                self.snap.ready = ready;
                self.metrics
                    .gateway_ready
                    .set(i64::from(ready == Some(true)));
                if let Some(u) = uptime_ms {
                    self.snap.uptime = Some((u as f64 / 1000.0, now));
                }
            }
            Observation::Status { status, probed } => {
                self.snap.phase = Phase::Up;
                self.snap.gateway_error = None;
                self.snap.checked_at = Some(now);
                self.metrics.gateway_up.set(1);
                {
                    let mut k = self.known.write().unwrap_or_else(|p| p.into_inner());
                    if *k != status.channel_order {
                        k.clone_from(&status.channel_order);
                    }
                }
                let up = self.tracker.apply(&status, probed, now);
                self.record(&status, &up);
                if !up.events.is_empty() {
                    self.snap.history = Arc::new(self.tracker.history().cloned().collect());
                }
                self.snap.polled = self.tracker.polled();
                self.snap.accounts = Arc::new(self.tracker.views());
                self.export_accounts();
                self.track_webhooks();
            }
        }
        self.evaluate_alerts();
    }

    /// Re-evaluates the alert conditions and publishes the result.
    fn evaluate_alerts(&mut self) {
        let now = self.clock.now();
        let failing = self
            .outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failing();
        let inputs = crate::alert::engine::Inputs {
            accounts: &self.snap.accounts,
            history: &self.snap.history,
            gateway_up: self.snap.phase == Phase::Up,
            disconnect_matches: &self.disconnects,
            failing: &failing,
            last_log_line: self.last_log_line,
        };
        let firing = self.alerts.evaluate(&inputs, now);
        let mut counts: std::collections::BTreeMap<&'static str, i64> =
            crate::alert::engine::ALERTS
                .iter()
                .map(|n| (*n, 0))
                .collect();
        for a in &firing {
            *counts.entry(a.name).or_insert(0) += 1;
        }
        for (name, n) in counts {
            self.metrics
                .alerts_firing
                .get_or_create(&crate::metrics::AlertLabels { alert: name })
                .set(n);
        }
        if let Some(router) = &self.router {
            let silences = self.silences.lock().unwrap_or_else(|p| p.into_inner());
            let mut o = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            let d = crate::alert::notify::dispatch(
                &mut o,
                router,
                &firing,
                |a| silences.mutes(a, now),
                self.snap.polled,
                now,
            );
            drop(silences);
            count_dropped(&self.metrics, &d.dropped);
            if d.changed {
                if let Err(e) = o.save() {
                    tracing::error!(error = %e, "Cannot save the outbox; queued notifications may be lost on a crash.");
                }
            }
            if d.queued > 0 {
                self.metrics.queue_length.set(o.pending.len() as i64);
                self.deliver.notify_one();
            }
        }
        self.firing = firing;
        self.snap.alerts = Arc::new(self.firing.clone());
        self.exposition.touch();
        self.exposition.refresh();
        let _ = self.tx.send(Arc::new(self.snap.clone()));
    }

    fn record_events(&self, events: &[Event]) {
        let m = &self.metrics;
        for e in events {
            if self.events.receiver_count() > 0 {
                let _ = self.events.send(e.to_json().to_string().into());
            }
            match e {
                Event::Transition {
                    channel,
                    account,
                    from,
                    to,
                    reason,
                    ..
                } => {
                    tracing::info!(%channel, %account, from = %from, to = %to, reason = reason.map(|r| r.as_str()).unwrap_or(""), "Channel state changed.");
                    m.transitions
                        .get_or_create(&TransitionLabels {
                            channel: channel.clone(),
                            account: account.clone(),
                            to: *to,
                        })
                        .inc();
                }
                Event::Disconnect {
                    channel,
                    account,
                    reason,
                    ..
                } => {
                    m.disconnects
                        .get_or_create(&ReasonLabels {
                            channel: channel.clone(),
                            account: account.clone(),
                            reason: *reason,
                        })
                        .inc();
                }
            }
        }
    }

    fn record(&mut self, status: &crate::model::ChannelsStatus, up: &crate::state::Update) {
        let m = &self.metrics;
        self.record_events(&up.events);
        for ((channel, account), n) in &up.reconnect_attempts {
            m.reconnect_attempts
                .get_or_create(&AccountLabels {
                    channel: channel.clone(),
                    account: account.clone(),
                })
                .inc_by(*n);
        }
        for ((channel, account), secs) in &up.probe_latency {
            m.heartbeat_latency
                .get_or_create(&AccountLabels {
                    channel: channel.clone(),
                    account: account.clone(),
                })
                .observe(*secs);
        }
        for (channel, account) in &up.removed {
            m.remove_account(channel, account);
            self.last_start.remove(&(channel.clone(), account.clone()));
        }
        // A moving lastStartAt is a restart by the gateway.
        for (ch, rows) in &status.accounts {
            for r in rows.iter().filter(|r| r.is_watched()) {
                let key = (ch.clone(), r.account_id.clone());
                match self.last_start.insert(key, r.last_start_at) {
                    Some(prev) if prev.is_some() && r.last_start_at > prev => {
                        m.restarts
                            .get_or_create(&RestartLabels {
                                channel: ch.clone(),
                                account: r.account_id.clone(),
                                initiator: Initiator::Gateway,
                            })
                            .inc();
                    }
                    _ => {}
                }
            }
        }
    }

    /// Tells the webhook poller which Telegram accounts are in webhook mode,
    /// and drops the gauge of those that left it.
    fn track_webhooks(&mut self) {
        let now: Vec<String> = self
            .snap
            .accounts
            .iter()
            .filter(|a| a.channel == "telegram" && a.mode.as_deref() == Some("webhook"))
            .map(|a| a.account.clone())
            .collect();
        if now != self.webhook_accounts {
            for gone in self.webhook_accounts.iter().filter(|a| !now.contains(a)) {
                self.metrics.webhook_pending.remove(&TelegramLabels {
                    account: gone.clone(),
                });
            }
            self.webhook_accounts = now.clone();
            let _ = self.webhook_tx.send(now);
        }
    }

    fn export_accounts(&self) {
        let m = &self.metrics;
        for a in self.snap.accounts.iter() {
            let l = AccountLabels {
                channel: a.channel.clone(),
                account: a.account.clone(),
            };
            for s in State::ALL {
                m.channel_state
                    .get_or_create(&StateLabels {
                        channel: a.channel.clone(),
                        account: a.account.clone(),
                        state: s,
                    })
                    .set(i64::from(s == a.state));
            }
            m.channel_up
                .get_or_create(&l)
                .set(i64::from(a.state == State::Connected));
            m.state_since.get_or_create(&l).set(a.since);
            m.recovery_exhausted
                .get_or_create(&l)
                .set(i64::from(a.recovery_exhausted));
            // Counters exist from the first sight of an account, so rate() works.
            let _ = m.reconnect_attempts.get_or_create(&l);
            let _ = m.restarts.get_or_create(&RestartLabels {
                channel: a.channel.clone(),
                account: a.account.clone(),
                initiator: Initiator::Gateway,
            });
            match a.probe_ok {
                Some(ok) => {
                    m.probe_success.get_or_create(&l).set(i64::from(ok));
                }
                None => {
                    m.probe_success.remove(&l);
                }
            }
            for (fam, v) in [
                (&m.last_inbound, a.last_inbound_at),
                (&m.last_event, a.last_event_at),
            ] {
                match v {
                    Some(t) => {
                        fam.get_or_create(&l).set(t);
                    }
                    None => {
                        fam.remove(&l);
                    }
                }
            }
        }
    }
}

/// Handles to a running sidecar.
#[derive(Debug)]
pub struct Running {
    /// Where the HTTP server listens.
    pub addr: SocketAddr,
    /// Cancel to stop everything.
    pub cancel: CancellationToken,
    /// Finishes when everything stopped.
    pub done: tokio::task::JoinHandle<()>,
    /// The HTTP routes, for requests without a socket (`oneshot`).
    pub router: axum::Router,
}

/// What the sidecar runs on, besides its config.
#[derive(Debug, Clone, Default)]
pub struct Deps {
    /// Where state survives restarts (`None`: nowhere).
    pub state_dir: Option<PathBuf>,
    /// The clock every task reads.
    pub clock: Clock,
    /// Reach the gateway through this in-memory pipe instead of its URL.
    pub gateway: Option<crate::pipe::Pipe>,
}

/// Starts the sidecar on `cfg`; the returned handle stops it.
pub async fn start(cfg: Config, state_dir: Option<PathBuf>) -> anyhow::Result<Running> {
    start_with(
        cfg,
        Deps {
            state_dir,
            ..Default::default()
        },
    )
    .await
}

/// [`start`] with every dependency given.
pub async fn start_with(cfg: Config, deps: Deps) -> anyhow::Result<Running> {
    let Deps {
        ref state_dir,
        ref clock,
        ..
    } = deps;
    let state_dir = state_dir.clone();
    let clock = clock.clone();
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    metrics.config_reload_ok.set(1);
    let exposition = Arc::new(Exposition::new(registry));
    let url = display_url(&cfg.gateway.url);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(Snapshot::new(url.clone(), clock.now())));
    let (obs_tx, mut obs_rx) = mpsc::channel::<Observation>(64);
    let logs_tx = obs_tx.clone();
    let cancel = CancellationToken::new();

    let listen: SocketAddr = cfg
        .server
        .listen
        .parse()
        .with_context(|| format!("server.listen {:?}", cfg.server.listen))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another clawwatch running there? (set server.listen or --listen)"))?;
    let addr = listener.local_addr()?;

    if let Some(dir) = &state_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(path = %dir.display(), error = %e, "Cannot create state dir; state start times will not survive a restart.");
        }
    }
    let state_dir_logs = state_dir.clone();
    let hooks = crate::alert::sinks(&cfg).map_err(anyhow::Error::msg)?;
    let kinds: Vec<(String, String)> = cfg
        .integrations
        .iter()
        .map(|i| (i.name.clone(), i.kind.clone()))
        .collect();
    let router = if hooks.is_empty() {
        None
    } else {
        Some(crate::alert::notify::Router::new(&cfg.alerting, &kinds).map_err(anyhow::Error::msg)?)
    };
    let windows = cfg
        .alerting
        .maintenance
        .iter()
        .enumerate()
        .map(|(i, m)| crate::alert::silence::Window::new(i, m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let silences = Arc::new(std::sync::Mutex::new(
        crate::alert::silence::Silences::open(state_dir.clone(), windows),
    ));
    let reevaluate = Arc::new(tokio::sync::Notify::new());
    let outbox = crate::alert::outbox::Outbox::open(state_dir.clone(), cfg.alerting.outbox_max);
    if !outbox.pending.is_empty() {
        tracing::info!(
            waiting = outbox.pending.len(),
            "Notifications from before the restart are waiting in the outbox."
        );
    }
    metrics.queue_length.set(outbox.pending.len() as i64);
    // Counters start at 0, so that the first failure shows in rate().
    for (name, _) in &hooks {
        for result in ["sent", "failed", "dropped"] {
            let _ = metrics
                .notifications
                .get_or_create(&crate::metrics::NotifyLabels {
                    integration: name.clone(),
                    result,
                });
        }
    }
    let outbox = Arc::new(std::sync::Mutex::new(outbox));
    let logs_watched = !cfg.logs.paths.is_empty();
    let deliver = Arc::new(tokio::sync::Notify::new());

    let (webhook_tx, webhook_rx) = watch::channel(Vec::new());
    let (events, _) = broadcast::channel::<Arc<str>>(4096);
    let known: crate::logs::watch::Known = Default::default();
    let mut task = StateTask {
        tracker: Tracker::new(cfg.states.tuning(), state_dir, cfg.states.history_size),
        metrics: metrics.clone(),
        exposition: exposition.clone(),
        snap: Snapshot::new(url, clock.now()),
        tx: snap_tx,
        last_start: HashMap::new(),
        webhook_accounts: Vec::new(),
        webhook_tx,
        events: events.clone(),
        known: known.clone(),
        alerts: crate::alert::engine::Engine::new((&cfg.alerting).into()),
        firing: Vec::new(),
        outbox: outbox.clone(),
        deliver: deliver.clone(),
        router,
        silences: silences.clone(),
        disconnects: Default::default(),
        last_log_line: logs_watched.then(|| clock.now()),
        clock: clock.clone(),
    };
    exposition.refresh();

    let mut set = tokio::task::JoinSet::new();
    let settings = gateway::Settings {
        url: cfg.gateway.url.clone(),
        credentials: gateway::Credentials {
            token: cfg.gateway.token.clone(),
            scopes: vec!["operator.read".into()],
        },
        poll_interval: cfg.gateway.poll_interval,
        probe_interval: cfg.gateway.probe_interval.0,
        probe_timeout: cfg.gateway.probe_timeout,
        rpc_timeout: cfg.gateway.rpc_timeout,
        connect_timeout: cfg.gateway.connect_timeout,
        max_frame_bytes: cfg.gateway.max_frame_bytes,
        pipe: deps.gateway.clone(),
    };
    set.spawn(gateway::run(
        settings,
        obs_tx.clone(),
        metrics.clone(),
        clock.clone(),
        cancel.clone(),
    ));
    set.spawn(telegram_webhook::run(
        cfg.gateway
            .openclaw_config
            .clone()
            .or_else(telegram_webhook::default_config_path),
        cfg.gateway
            .probe_interval
            .0
            .unwrap_or(Duration::from_secs(60)),
        cfg.gateway.rpc_timeout,
        webhook_rx,
        obs_tx.clone(),
        cancel.clone(),
    ));
    set.spawn(readyz::run(
        cfg.gateway.readyz(),
        cfg.gateway.poll_interval,
        cfg.gateway.rpc_timeout,
        obs_tx,
        cancel.clone(),
    ));
    if !hooks.is_empty() {
        set.spawn(deliver_loop(
            hooks.clone(),
            cfg.alerting.fallback_after.as_secs_f64(),
            outbox.clone(),
            deliver.clone(),
            metrics.clone(),
            clock.clone(),
            cancel.clone(),
        ));
    }
    let c = cancel.clone();
    let mut alert_tick = tokio::time::interval(Duration::from_secs(5));
    let wake = reevaluate.clone();
    set.spawn(async move {
        loop {
            tokio::select! {
                _ = c.cancelled() => return,
                _ = wake.notified() => task.evaluate_alerts(),
                o = obs_rx.recv() => match o {
                    Some(o) => task.apply(o),
                    None => return,
                },
                // For-durations run out without an event.
                _ = alert_tick.tick() => task.evaluate_alerts(),
            }
        }
    });
    let shared = Shared {
        snapshot: snap_rx,
        exposition,
        bearer: cfg.server.bearer_token.clone(),
        events: events.clone(),
        cancel: cancel.clone(),
        silences,
        reevaluate,
        clock: clock.clone(),
    };
    if !cfg.logs.paths.is_empty() {
        let rules = crate::logs::rules::RuleSet::new(&cfg.rules)?;
        let settings = crate::logs::watch::Settings {
            patterns: cfg.logs.paths.clone(),
            state_dir: state_dir_logs,
            poll: cfg.logs.poll_interval,
            max_line_bytes: cfg.logs.max_line_bytes,
            rules,
        };
        let (m, k, tx, ev, c, clk) = (
            metrics.clone(),
            known.clone(),
            logs_tx,
            events.clone(),
            cancel.clone(),
            clock.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("clawwatch-logs".into())
            .spawn(move || crate::logs::watch::run(settings, m, k, tx, ev, clk, c))
            .context("starting the log thread")?;
        let c = cancel.clone();
        set.spawn(async move {
            c.cancelled().await;
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        });
    }
    let router = crate::server::router(shared);
    let served = router.clone();
    let c = cancel.clone();
    set.spawn(async move {
        let res = axum::serve(listener, served)
            .with_graceful_shutdown(async move { c.cancelled().await })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "HTTP server failed.");
        }
    });
    let done = tokio::spawn(async move { while set.join_next().await.is_some() {} });
    Ok(Running {
        addr,
        cancel,
        done,
        router,
    })
}

/// Logs and counts notices the full outbox pushed out.
fn count_dropped(metrics: &Metrics, dropped: &[crate::alert::outbox::Notification]) {
    for n in dropped {
        tracing::error!(integration = %n.integration, id = %n.id, "Outbox full: dropped the oldest notification (raise alerting.outbox_max).");
        metrics
            .notifications
            .get_or_create(&crate::metrics::NotifyLabels {
                integration: n.integration.clone(),
                result: "dropped",
            })
            .inc();
    }
}

/// Delivers the outbox: due notices go out, failures are retried later.
async fn deliver_loop(
    hooks: Vec<(String, crate::alert::Sink)>,
    fallback_after: f64,
    outbox: Arc<std::sync::Mutex<crate::alert::outbox::Outbox>>,
    wake: Arc<tokio::sync::Notify>,
    metrics: Metrics,
    clock: Clock,
    cancel: CancellationToken,
) {
    use crate::alert::webhook::SendError;
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return;
    };
    let sinks: HashMap<String, crate::alert::Sink> = hooks.into_iter().collect();
    let mut last_error: HashMap<String, String> = HashMap::new();
    loop {
        let due = outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .due(clock.now());
        let mut failed_now: Vec<String> = Vec::new();
        for n in due {
            let Some(sink) = sinks.get(&n.integration) else {
                continue;
            };
            // Keep the order: after a failure, the rest waits for the retry.
            if failed_now.contains(&n.integration) {
                continue;
            }
            let result = sink.send(&client, &n, clock.now()).await;
            let label = |r: &'static str| crate::metrics::NotifyLabels {
                integration: n.integration.clone(),
                result: r,
            };
            let mut o = outbox.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(()) => {
                    o.delivered(&n.id, &n.integration);
                    metrics.notifications.get_or_create(&label("sent")).inc();
                    last_error.remove(&n.integration);
                }
                Err(e) => {
                    // Log a failure when its text changes, count every one.
                    if last_error.get(&n.integration) != Some(&e.to_string()) {
                        tracing::warn!(integration = %n.integration, error = %e, "Notification not delivered.");
                        last_error.insert(n.integration.clone(), e.to_string());
                    }
                    metrics.notifications.get_or_create(&label("failed")).inc();
                    failed_now.push(n.integration.clone());
                    let after = match e {
                        SendError::Retry(_) => Some(None),
                        SendError::RetryAfter(s) => Some(Some(s)),
                        SendError::Permanent(_) => None,
                    };
                    match after {
                        Some(after) => {
                            let copies =
                                o.failed(&n.id, &n.integration, clock.now(), after, fallback_after);
                            for c in copies {
                                tracing::warn!(integration = %n.integration, fallback = %c.integration, id = %n.id, "Still failing: sending a copy through the fallback.");
                                count_dropped(&metrics, &o.push(c));
                            }
                        }
                        None => {
                            tracing::error!(integration = %n.integration, id = %n.id, "Notification dropped: the receiver refused it for good.");
                            metrics.notifications.get_or_create(&label("dropped")).inc();
                            o.drop_one(&n.id, &n.integration);
                        }
                    }
                }
            }
            let _ = o.save();
            metrics.queue_length.set(o.pending.len() as i64);
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
