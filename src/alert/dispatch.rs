//! The dispatcher: one task that owns the outbox, the silences and their
//! files. It evaluates the engine on each new snapshot (and every 5 s, for
//! for-durations), routes and groups the firing alerts into notices, stores
//! them before anything is sent, hands each integration's oldest due notice
//! to that integration's delivery worker, and applies silence commands from
//! the server. Readers get [`Published`] copies; nobody else touches the
//! outbox or a silence.

use super::engine::{Engine, Inputs, ALERTS};
use super::outbox::{Notification, Outbox};
use super::route::Router;
use super::silence::{Silence, SilenceError, Silences, Window};
use super::{NotifyError, Published, Retry, Sink};
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::{AlertLabels, Exposition, Metrics, NotifyLabels};
use crate::snapshot::Snapshot;
use crate::state::Phase;
use crate::supervise::{panic_message, Streak, Supervisor};
use futures_util::FutureExt as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// What the server asks of the silences' owner.
#[derive(Debug)]
pub enum Command {
    /// Add a checked silence; answers with it, or why it was not saved.
    AddSilence(Silence, oneshot::Sender<Result<Silence, SilenceError>>),
    /// End a silence now.
    ExpireSilence(String, oneshot::Sender<Result<Silence, SilenceError>>),
    /// Take the alerting of a reloaded config; firing alerts, the outbox
    /// and the silences stay.
    Reconfigure(Box<Built>, oneshot::Sender<()>),
    /// Send a one-off notice (a recovery action) through the routes that
    /// match it, unless silenced; the string is its id.
    Notice(Box<super::engine::Alert>, String),
}

/// Everything the dispatcher builds from a config, built (and checked)
/// before anything changes.
pub struct Built {
    sinks: Vec<(String, Sink)>,
    router: Option<Router>,
    windows: Vec<Window>,
    thresholds: super::engine::Thresholds,
    fallback_after: f64,
    outbox_max: usize,
    max_silences: usize,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("integrations", &self.sinks.len())
            .finish()
    }
}

impl Built {
    /// Builds the integrations, routes and windows of `cfg`; the error
    /// names the key to fix.
    pub fn new(cfg: &Config) -> Result<Built, String> {
        let sinks = super::sinks(cfg)?;
        let router = if sinks.is_empty() {
            None
        } else {
            Some(Router::new(&cfg.alerting, &super::integration_kinds(cfg))?)
        };
        let windows = cfg
            .alerting
            .maintenance
            .iter()
            .enumerate()
            .map(|(i, m)| Window::new(i, m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Built {
            sinks,
            router,
            windows,
            thresholds: super::engine::Thresholds {
                backup_stale_after: cfg.backup.enabled.then_some(cfg.backup.stale_after),
                ..(&cfg.alerting).into()
            },
            fallback_after: cfg.alerting.fallback_after.as_secs_f64(),
            outbox_max: cfg.alerting.outbox_max,
            max_silences: cfg.server.max_silences.max(1),
        })
    }
}

/// The delivery workers, one per integration.
struct Workers {
    client: reqwest::Client,
    outcomes: mpsc::Sender<Outcome>,
    set: tokio::task::JoinSet<()>,
    queues: BTreeMap<String, mpsc::Sender<Notification>>,
}

impl Workers {
    /// Replaces the workers: one that is sending finishes its notice and
    /// reports it, then ends.
    fn replace(&mut self, sinks: Vec<(String, Sink)>, clock: &Clock, cancel: &CancellationToken) {
        self.queues.clear();
        for (name, sink) in sinks {
            let (tx, rx) = mpsc::channel(1);
            self.queues.insert(name, tx);
            self.set.spawn(worker(
                sink,
                self.client.clone(),
                rx,
                self.outcomes.clone(),
                clock.clone(),
                cancel.clone(),
            ));
        }
    }
}

/// How the rest of the sidecar talks to the dispatcher.
#[derive(Debug, Clone)]
pub struct Handle {
    /// Commands (silences).
    pub commands: mpsc::Sender<Command>,
    /// Alerts firing and silences, after every change.
    pub published: watch::Receiver<Arc<Published>>,
}

/// A delivery attempt's outcome, from a worker.
type Outcome = (Notification, Result<(), NotifyError>);

/// The dispatcher's state; [`Dispatcher::run`] drives it.
pub struct Dispatcher {
    engine: Engine,
    router: Option<Router>,
    sinks: Vec<(String, Sink)>,
    workers: Option<Workers>,
    fallback_after: f64,
    outbox: Outbox,
    outbox_max: usize,
    silences: Silences,
    windows: Vec<Window>,
    max_silences: usize,
    health: crate::supervise::Health,
    dir: Option<PathBuf>,
    metrics: Metrics,
    exposition: Arc<Exposition>,
    clock: Clock,
    published: watch::Sender<Arc<Published>>,
    commands: mpsc::Receiver<Command>,
    busy: BTreeSet<String>,
    last_error: HashMap<String, String>,
    /// Size and mtime of `silences.json` as we last wrote it: unchanged
    /// since, it needs no re-reading before the next write.
    silences_written: Option<(u64, std::time::SystemTime)>,
    /// Where delivered notices are recorded.
    history: Option<crate::history::store::Shared>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("pending", &self.outbox.pending.len())
            .finish()
    }
}

/// Reads one of the dispatcher's files; an unreadable one is moved aside
/// to `<name>.bad-<unix seconds>` (and logged), so that the next save does not destroy it.
async fn load<T>(
    clock: &Clock,
    dir: &Option<PathBuf>,
    name: &str,
    decode: impl FnOnce(Option<&[u8]>) -> Result<T, String>,
    empty: impl FnOnce() -> T,
) -> T {
    let Some(path) = dir.as_ref().map(|d| d.join(name)) else {
        return empty();
    };
    let bytes = match crate::durable::read_async(path.clone()).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "Cannot read a state file; starting without it.");
            return empty();
        }
    };
    match decode(bytes.as_deref()) {
        Ok(v) => v,
        Err(e) => {
            move_aside(clock, path, e).await;
            empty()
        }
    }
}

/// Keeps an unreadable state file under another name (logged) before
/// anything replaces it.
async fn move_aside(clock: &Clock, path: PathBuf, why: String) {
    let secs = clock.now().max(0.0) as u64;
    let moved = tokio::task::spawn_blocking({
        let p = path.clone();
        move || crate::durable::move_aside(&p, secs)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    match moved {
        Ok(aside) => {
            tracing::error!(path = %path.display(), moved_to = %aside.display(), error = %why, "Cannot read a state file: moved aside, so that nothing overwrites it.")
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %why, move_error = %e, "Cannot read a state file, nor move it aside.")
        }
    }
}

/// Counters start at 0, so that the first failure shows in rate().
fn zero_counters(metrics: &Metrics, sinks: &[(String, Sink)]) {
    for (name, _) in sinks {
        for result in ["sent", "failed", "dropped"] {
            let _ = metrics.notifications.get_or_create(&NotifyLabels {
                integration: name.clone(),
                result,
            });
        }
    }
}

/// Logs and counts notices the full outbox pushed out.
fn count_dropped(metrics: &Metrics, dropped: &[Notification]) {
    for n in dropped {
        tracing::error!(integration = %n.integration, id = %n.id, "Outbox full: dropped the oldest notification (raise alerting.outbox_max).");
        metrics
            .notifications
            .get_or_create(&NotifyLabels {
                integration: n.integration.clone(),
                result: "dropped",
            })
            .inc();
    }
}

impl Dispatcher {
    /// Builds the dispatcher for `cfg`, reading the outbox and silences
    /// kept in `dir`. The error names the config key to fix.
    pub async fn open(
        cfg: &Config,
        dir: Option<PathBuf>,
        metrics: Metrics,
        exposition: Arc<Exposition>,
        clock: Clock,
    ) -> Result<(Dispatcher, Handle), String> {
        let Built {
            sinks,
            router,
            windows,
            thresholds,
            fallback_after,
            outbox_max: max,
            max_silences,
        } = Built::new(cfg)?;
        let outbox = load(
            &clock,
            &dir,
            "outbox.json",
            |b| Outbox::load(b, max),
            || Outbox::new(max),
        )
        .await;
        if !outbox.pending.is_empty() {
            tracing::info!(
                waiting = outbox.pending.len(),
                "Notifications from before the restart are waiting in the outbox."
            );
        }
        let w = windows.clone();
        let kept_windows = windows.clone();
        let silences = load(
            &clock,
            &dir,
            "silences.json",
            |b| Silences::load(b, w),
            || Silences::load(None, windows).unwrap_or_default(),
        )
        .await;
        metrics.queue_length.set(outbox.pending.len() as i64);
        zero_counters(&metrics, &sinks);
        let (published, published_rx) = watch::channel(Arc::new(Published {
            firing: Arc::default(),
            silences: Arc::new(silences.clone()),
        }));
        let (commands_tx, commands) = mpsc::channel(64);
        let d = Dispatcher {
            engine: Engine::new(thresholds),
            router,
            sinks,
            workers: None,
            fallback_after,
            outbox,
            outbox_max: max,
            silences,
            windows: kept_windows,
            max_silences,
            health: Default::default(),
            dir,
            metrics,
            exposition,
            clock,
            published,
            commands,
            busy: BTreeSet::new(),
            last_error: HashMap::new(),
            silences_written: None,
            history: None,
        };
        let handle = Handle {
            commands: commands_tx,
            published: published_rx,
        };
        Ok((d, handle))
    }

    /// Runs until cancelled, re-evaluating on each new snapshot.
    pub async fn run(
        mut self,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
        sup: Supervisor,
        cancel: CancellationToken,
    ) {
        let Ok(client) = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        else {
            tracing::error!("Cannot build the HTTP client for notifications.");
            return;
        };
        let (outcomes_tx, mut outcomes) = mpsc::channel::<Outcome>(64);
        let mut workers = Workers {
            client,
            outcomes: outcomes_tx,
            set: tokio::task::JoinSet::new(),
            queues: BTreeMap::new(),
        };
        workers.replace(std::mem::take(&mut self.sinks), &self.clock, &cancel);
        self.workers = Some(workers);
        self.health = sup.health.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut first = true;
        let mut streak = Streak::default();
        loop {
            // One turn of the loop; a panic in it is the delivery task's
            // crash: counted, reported down for the backoff, then the outbox
            // and silences are read back from disk as after a restart.
            let turn = AssertUnwindSafe(self.turn(
                &mut snapshots,
                &mut outcomes,
                &mut tick,
                std::mem::take(&mut first),
                &cancel,
            ))
            .catch_unwind()
            .await;
            match turn {
                Ok(true) => continue,
                Ok(false) => break,
                Err(p) => {
                    let wait = sup.panicked("delivery", &panic_message(&*p), &mut streak);
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    self.reload().await;
                    sup.restarted("delivery");
                }
            }
        }
        if let Some(mut w) = self.workers.take() {
            w.queues.clear();
            while w.set.join_next().await.is_some() {}
        }
    }

    /// One evaluation or command; false when the loop should end.
    async fn turn(
        &mut self,
        snapshots: &mut watch::Receiver<Arc<Snapshot>>,
        outcomes: &mut mpsc::Receiver<Outcome>,
        tick: &mut tokio::time::Interval,
        first: bool,
        cancel: &CancellationToken,
    ) -> bool {
        if first {
            let snap = snapshots.borrow_and_update().clone();
            self.evaluate(&snap).await;
        }
        self.kick();
        let delivering = self.workers.as_ref().is_some_and(|w| !w.queues.is_empty());
        tokio::select! {
            _ = cancel.cancelled() => return false,
            r = snapshots.changed() => {
                if r.is_err() { return false }
                let snap = snapshots.borrow_and_update().clone();
                self.evaluate(&snap).await;
            }
            // For-durations run out without an event.
            _ = tick.tick() => {
                let snap = snapshots.borrow().clone();
                self.evaluate(&snap).await;
            }
            Some(cmd) = self.commands.recv() => {
                self.command(cmd, cancel).await;
                let snap = snapshots.borrow().clone();
                self.evaluate(&snap).await;
            }
            Some(outcome) = outcomes.recv() => self.outcome(outcome).await,
            // A retry comes due.
            _ = tokio::time::sleep(Duration::from_millis(500)), if delivering => {}
        }
        true
    }

    /// The outbox and silences as the files hold them, after a crash.
    async fn reload(&mut self) {
        let Some(dir) = self.dir.clone() else { return };
        if let Ok(Some(b)) = crate::durable::read_async(dir.join("outbox.json")).await {
            if let Ok(o) = Outbox::load(Some(&b), self.outbox_max) {
                self.outbox = o;
            }
        }
        if let Ok(Some(b)) = crate::durable::read_async(dir.join("silences.json")).await {
            if let Ok(x) = Silences::load(Some(&b), self.windows.clone()) {
                self.silences = x;
            }
        }
    }

    async fn save_outbox(&self) {
        let Some(path) = self.dir.as_ref().map(|d| d.join("outbox.json")) else {
            return;
        };
        if let Err(e) = crate::durable::write_async(path, self.outbox.to_bytes()).await {
            tracing::error!(error = %e, "Cannot save the outbox; queued notifications may be lost on a crash.");
        }
    }

    async fn save_silences(&mut self) -> Result<(), String> {
        let Some(path) = self.dir.as_ref().map(|d| d.join("silences.json")) else {
            return Ok(());
        };
        let stamp = |m: std::fs::Metadata| Some((m.len(), m.modified().ok()?));
        let now = tokio::fs::metadata(&path).await.ok().and_then(stamp);
        // A person may have edited it: an unreadable file is kept, not
        // replaced. Only read when it changed since our last write.
        if now.is_some() && now != self.silences_written {
            if let Ok(Some(b)) = crate::durable::read_async(path.clone()).await {
                if let Err(e) = Silences::load(Some(&b), Vec::new()) {
                    move_aside(&self.clock, path.clone(), e).await;
                }
            }
        }
        let r = crate::durable::write_async(path.clone(), self.silences.to_bytes())
            .await
            .map_err(|e| format!("cannot save silences.json: {e}"));
        self.silences_written = tokio::fs::metadata(&path).await.ok().and_then(stamp);
        r
    }

    /// Evaluates the alerts on `snap`, queues what they say and publishes.
    async fn evaluate(&mut self, snap: &Snapshot) {
        let now = self.clock.now();
        let failing = self.outbox.failing();
        let panics = self.health.panics();
        let inputs = Inputs {
            accounts: &snap.accounts,
            history: &snap.history,
            gateway_up: snap.phase == Phase::Up,
            disconnect_matches: &snap.disconnect_matches,
            failing: &failing,
            last_log_line: snap.last_log_line,
            panics: &panics,
            recovery: &snap.recovery,
            backups: &snap.backups,
            started_at: snap.started_at,
        };
        let firing = self.engine.evaluate(&inputs, now);
        let mut counts: BTreeMap<&'static str, i64> = ALERTS.iter().map(|n| (*n, 0)).collect();
        for a in &firing {
            *counts.entry(a.name).or_insert(0) += 1;
        }
        // Encoding the exposition costs milliseconds on a large fleet: only
        // when a figure this task exports moved.
        let mut moved = false;
        for (alert, n) in counts {
            let was = self
                .metrics
                .alerts_firing
                .get_or_create(&AlertLabels { alert })
                .set(n);
            moved |= was != n;
        }
        if let Some(router) = &self.router {
            let silences = &self.silences;
            let d = super::route::dispatch(
                &mut self.outbox,
                router,
                &firing,
                |a| silences.mutes(a, now),
                snap.polled,
                now,
            );
            count_dropped(&self.metrics, &d.dropped);
            moved |= !d.dropped.is_empty();
            if d.changed {
                // Stored before anything is sent.
                self.save_outbox().await;
            }
            let len = self.outbox.pending.len() as i64;
            moved |= self.metrics.queue_length.set(len) != len;
        }
        self.publish(firing);
        if moved {
            self.exposition.touch();
            self.exposition.schedule();
        }
    }

    fn publish(&self, firing: Vec<super::engine::Alert>) {
        self.published.send_modify(|p| {
            *p = Arc::new(Published {
                firing: Arc::new(firing),
                silences: p.silences.clone(),
            })
        });
    }

    fn publish_silences(&self) {
        let silences = Arc::new(self.silences.clone());
        self.published.send_modify(|p| {
            *p = Arc::new(Published {
                firing: p.firing.clone(),
                silences,
            })
        });
    }

    async fn command(&mut self, cmd: Command, cancel: &CancellationToken) {
        match cmd {
            Command::Reconfigure(built, reply) => {
                self.reconfigure(*built, cancel).await;
                let _ = reply.send(());
            }
            Command::Notice(a, id) => {
                let now = self.clock.now();
                if let Some(router) = &self.router {
                    if self.silences.mutes(&a, now) {
                        return;
                    }
                    let d = super::route::notice(&mut self.outbox, router, &a, &id, now);
                    count_dropped(&self.metrics, &d.dropped);
                    if d.changed {
                        self.save_outbox().await;
                    }
                    let len = self.outbox.pending.len() as i64;
                    self.metrics.queue_length.set(len);
                    self.exposition.touch();
                    self.exposition.schedule();
                }
            }
            Command::AddSilence(s, reply) => {
                // Adds waiting behind this one share its write and fsync.
                let mut adds = vec![(s, reply)];
                let mut rest = None;
                while adds.len() < 256 {
                    match self.commands.try_recv() {
                        Ok(Command::AddSilence(s, r)) => adds.push((s, r)),
                        Ok(other) => {
                            rest = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let now = self.clock.now();
                let mut added = Vec::new();
                for (s, reply) in adds {
                    if self.silences.live(now) >= self.max_silences {
                        let _ = reply.send(Err(SilenceError::Full(format!(
                            "{} silences already (server.max_silences); expire some first",
                            self.max_silences
                        ))));
                        continue;
                    }
                    added.push((self.silences.add(s), reply));
                }
                let saved = if added.is_empty() {
                    Ok(())
                } else {
                    self.save_silences().await
                };
                for (s, reply) in added {
                    if saved.is_ok() {
                        tracing::info!(id = %s.id, matchers = s.matchers.len(), ends_at = %s.ends_at, "Silence added.");
                    }
                    let _ = reply.send(saved.clone().map(|()| s).map_err(SilenceError::Save));
                }
                self.publish_silences();
                if let Some(cmd) = rest {
                    Box::pin(self.command(cmd, cancel)).await;
                }
            }
            Command::ExpireSilence(id, reply) => {
                let now = self.clock.now();
                let r = match self.silences.expire(&id, now) {
                    Ok(s) => match self.save_silences().await {
                        Ok(()) => {
                            tracing::info!(id = %s.id, "Silence expired.");
                            Ok(s)
                        }
                        Err(e) => Err(SilenceError::Save(e)),
                    },
                    Err(e) => Err(e),
                };
                self.publish_silences();
                let _ = reply.send(r);
            }
        }
    }

    /// Takes a reloaded config's alerting. Notices queued for an
    /// integration the config no longer has are dropped (logged, counted).
    async fn reconfigure(&mut self, b: Built, cancel: &CancellationToken) {
        let names: BTreeSet<String> = b.sinks.iter().map(|(n, _)| n.clone()).collect();
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.outbox.pending)
            .into_iter()
            .partition(|n| names.contains(&n.integration));
        self.outbox.pending = kept.into();
        for n in &gone {
            tracing::warn!(integration = %n.integration, id = %n.id, "The reloaded config has no such integration: its queued notice is dropped.");
            self.metrics
                .notifications
                .get_or_create(&NotifyLabels {
                    integration: n.integration.clone(),
                    result: "dropped",
                })
                .inc();
        }
        zero_counters(&self.metrics, &b.sinks);
        self.engine.retune(b.thresholds);
        self.router = b.router;
        self.fallback_after = b.fallback_after;
        self.outbox_max = b.outbox_max;
        let over = self.outbox.set_max(b.outbox_max);
        count_dropped(&self.metrics, &over);
        self.max_silences = b.max_silences;
        self.windows = b.windows.clone();
        self.silences = std::mem::take(&mut self.silences).with_windows(b.windows);
        self.publish_silences();
        match &mut self.workers {
            Some(w) => w.replace(b.sinks, &self.clock, cancel),
            None => self.sinks = b.sinks,
        }
        self.save_outbox().await;
        self.metrics
            .queue_length
            .set(self.outbox.pending.len() as i64);
    }

    /// Hands each idle integration its oldest due notice.
    fn kick(&mut self) {
        let Some(workers) = &self.workers else { return };
        let queues = &workers.queues;
        if queues.is_empty() {
            return;
        }
        for n in self.outbox.due(self.clock.now()) {
            if self.busy.contains(&n.integration) {
                continue;
            }
            let Some(q) = queues.get(&n.integration) else {
                continue;
            };
            let integration = n.integration.clone();
            if q.try_send(n).is_ok() {
                self.busy.insert(integration);
            }
        }
    }

    /// Records where delivered notices go in the history.
    pub fn with_history(mut self, store: crate::history::store::Shared) -> Dispatcher {
        self.history = Some(store);
        self
    }

    /// A delivered notice in the history, once per account it names.
    fn remember(&self, n: &Notification) {
        let Some(store) = &self.history else { return };
        let now = self.clock.now();
        let mut store = crate::history::store::lock(store);
        let mut seen = BTreeSet::new();
        for a in &n.alerts {
            let key = (
                a.channel.clone().unwrap_or_default(),
                a.account.clone().unwrap_or_default(),
            );
            if !seen.insert(key.clone()) {
                continue;
            }
            let v = serde_json::json!({
                "kind": "notice", "alert": a.alert, "status": n.status,
                "severity": a.severity, "integration": n.integration,
                "summary": a.summary, "notice_id": n.id,
            });
            store.record_other(now, &key.0, &key.1, v, now);
        }
    }

    async fn outcome(&mut self, (n, result): Outcome) {
        self.busy.remove(&n.integration);
        let label = |r: &'static str| NotifyLabels {
            integration: n.integration.clone(),
            result: r,
        };
        let m = &self.metrics;
        match result {
            Ok(()) => {
                self.outbox.delivered(&n.id, &n.integration);
                self.remember(&n);
                m.notifications.get_or_create(&label("sent")).inc();
                self.last_error.remove(&n.integration);
            }
            Err(e) => {
                // Log a failure when its text changes, count every one.
                let text = e.to_string();
                if self.last_error.get(&n.integration) != Some(&text) {
                    tracing::warn!(integration = %n.integration, reason = e.reason.as_str(), error = %text, "Notification not delivered.");
                    self.last_error.insert(n.integration.clone(), text);
                }
                m.notifications.get_or_create(&label("failed")).inc();
                let after = match e.retry {
                    Retry::Backoff => Some(None),
                    Retry::After(s) => Some(Some(s)),
                    Retry::Never => None,
                };
                match after {
                    Some(after) => {
                        let copies = self.outbox.failed(
                            &n.id,
                            &n.integration,
                            self.clock.now(),
                            after,
                            self.fallback_after,
                        );
                        for c in copies {
                            tracing::warn!(integration = %n.integration, fallback = %c.integration, id = %n.id, "Still failing: sending a copy through the fallback.");
                            count_dropped(m, &self.outbox.push(c));
                        }
                    }
                    None => {
                        tracing::error!(integration = %n.integration, id = %n.id, "Notification dropped: the receiver refused it for good.");
                        m.notifications.get_or_create(&label("dropped")).inc();
                        self.outbox.drop_one(&n.id, &n.integration);
                    }
                }
            }
        }
        self.save_outbox().await;
        self.metrics
            .queue_length
            .set(self.outbox.pending.len() as i64);
        self.exposition.touch();
        self.exposition.schedule();
    }
}

/// Sends one integration's notices, one at a time, in the order given.
async fn worker(
    sink: Sink,
    client: reqwest::Client,
    mut notices: mpsc::Receiver<Notification>,
    outcomes: mpsc::Sender<Outcome>,
    clock: Clock,
    cancel: CancellationToken,
) {
    while let Some(n) = notices.recv().await {
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = sink.send(&client, &n, clock.now()) => r,
        };
        if outcomes.send((n, result)).await.is_err() {
            return;
        }
    }
}
