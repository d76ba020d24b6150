//! Wiring: builds every part from the config and starts the tasks. The
//! sources send observations to the state writer; the writer publishes
//! snapshots; the dispatcher turns them into alerts and notices; the
//! server reads both and sends commands. Nothing here decides anything.

pub mod live;
pub mod writer;

use crate::alert::dispatch::Dispatcher;
use crate::clock::Clock;
use crate::config::{Config, Problem, StatesConfig};
use crate::durable::Latest;
use crate::export::Export;
use crate::history::History;
use crate::metrics::{Exposition, Metrics};
use crate::observation::Observation;
use crate::redact::display_url;
use crate::snapshot::{Publisher, Snapshot};
use crate::source::{gateway, readyz, telegram_webhook};
use crate::state::derive::Tuning;
use crate::state::{Model, StatesFile, Tracker};
use crate::supervise::{Health, Supervisor};
use anyhow::Context as _;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use writer::{EventStream, Feedback, Keeper, Writer};

/// Every problem of a config: its own keys and what alerting builds from it.
pub fn validate(cfg: &Config, for_run: bool) -> Vec<Problem> {
    let mut out = crate::config::validate(cfg, for_run);
    out.extend(crate::alert::problems(cfg));
    out
}

/// The state machine's thresholds from `[states]`.
pub fn tuning(states: &StatesConfig) -> Tuning {
    let mut t = Tuning {
        connect_timeout: states.connect_timeout,
        ..Tuning::default()
    };
    for (ch, v) in &states.stale_after {
        match ch.as_str() {
            "telegram" => t.stale_after_telegram = v.0,
            "discord" => t.stale_after_discord = v.0,
            "whatsapp" => t.stale_after_whatsapp = v.0,
            _ => t.stale_after_other = v.0,
        }
    }
    t
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
    /// Tests: the state task panics on this many of its next steps.
    #[doc(hidden)]
    pub state_panics: Arc<std::sync::atomic::AtomicU32>,
    /// Reads the config again for a reload (SIGHUP, `POST /-/reload`);
    /// `None`: nothing to reload.
    pub loader: Option<live::Loader>,
    /// Fixes recovery's jitter (tests).
    #[doc(hidden)]
    pub recovery_seed: Option<u64>,
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

/// Reads `states.json`; a file that cannot be read only costs the `since`
/// of the accounts.
async fn kept_states(dir: &Option<PathBuf>) -> StatesFile {
    let Some(path) = dir.as_ref().map(|d| d.join("states.json")) else {
        return StatesFile::None;
    };
    match crate::durable::read_async(path.clone()).await {
        Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "Cannot read the states file; states start now.");
            StatesFile::None
        }),
        Ok(None) => StatesFile::None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "Cannot read the states file; states start now.");
            StatesFile::None
        }
    }
}

/// [`start`] with every dependency given.
pub async fn start_with(cfg: Config, deps: Deps) -> anyhow::Result<Running> {
    let Deps {
        state_dir,
        clock,
        gateway: pipe,
        state_panics,
        loader,
        recovery_seed,
    } = deps;
    let mut registry = Registry::default();
    let metrics = Metrics::new(&mut registry);
    metrics.config_reload_ok.set(1);
    metrics.config_reload_ts.set(clock.now());
    let exposition = Arc::new(Exposition::new(registry));
    let cancel = CancellationToken::new();
    let health = Health::default();
    let sup = Supervisor {
        health: health.clone(),
        metrics: metrics.clone(),
        exposition: exposition.clone(),
        clock: clock.clone(),
        cancel: cancel.clone(),
    };

    let listen: SocketAddr = cfg
        .server
        .listen
        .parse()
        .with_context(|| format!("server.listen {:?}", cfg.server.listen))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another clawwatch running there? (set server.listen or --listen)"))?;
    let addr = listener.local_addr()?;

    if let Some(dir) = state_dir.clone() {
        let made =
            tokio::task::spawn_blocking(move || std::fs::create_dir_all(&dir).map(|_| dir)).await?;
        if let Err(e) = made {
            tracing::warn!(error = %e, "Cannot create the state dir; states, silences and the outbox will not survive a restart.");
        }
    }

    // The state writer and what it feeds.
    let url = display_url(&cfg.gateway.url);
    let (snapshot, snapshots) = Publisher::new(Snapshot::new(url, clock.now()));
    let (events, _) = broadcast::channel::<Arc<str>>(4096);
    let (channels_tx, channels_rx) = watch::channel(Vec::<String>::new());
    let (webhooks_tx, webhooks_rx) = watch::channel(Vec::<String>::new());
    let mut set = tokio::task::JoinSet::new();
    let keeper = state_dir.as_ref().map(|d| {
        let (latest, task) = Latest::new(d.join("states.json"));
        set.spawn(task);
        Keeper(latest)
    });
    let (states_tx, states_rx) = watch::channel(live::StatesLive::of(&cfg));
    let tracker = Tracker::new(tuning(&cfg.states), kept_states(&state_dir).await);
    let store = {
        let dir = state_dir
            .as_ref()
            .map(|d| d.join(crate::history::store::DIR));
        let limits = crate::history::store::Limits::of(&cfg.history);
        let (dropped, x, now) = (
            metrics.history_dropped.clone(),
            exposition.clone(),
            clock.now(),
        );
        let (store, opened) = tokio::task::spawn_blocking(move || {
            crate::history::store::Store::open(dir, limits, now, dropped, Some(x))
        })
        .await?;
        if opened.records > 0 || opened.cut_bytes > 0 {
            tracing::info!(
                records = opened.records,
                cut_bytes = opened.cut_bytes,
                skipped = opened.skipped,
                "History read back."
            );
        }
        Arc::new(std::sync::Mutex::new(store))
    };
    let writer = Writer {
        model: Model::new(tracker, !cfg.logs.paths.is_empty(), clock.now()),
        export: Export::new(metrics.clone(), exposition.clone()),
        history: History::new(cfg.states.history_size.unwrap_or(1000)),
        store: store.clone(),
        snapshot,
        stream: EventStream {
            events: events.clone(),
        },
        keeper,
        feedback: Feedback {
            channels: channels_tx,
            webhooks: webhooks_tx,
        },
        clock: clock.clone(),
        injected_panics: state_panics,
        live: states_rx,
    };
    exposition.refresh();
    let (obs_tx, obs_rx) = mpsc::channel::<Observation>(64);
    set.spawn(writer.run(obs_rx, sup.clone(), cancel.clone()));

    // Alerting.
    let (dispatcher, alerting) = Dispatcher::open(
        &cfg,
        state_dir.clone(),
        metrics.clone(),
        exposition.clone(),
        clock.clone(),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let dispatcher = dispatcher.with_history(store.clone());
    set.spawn(dispatcher.run(snapshots.clone(), sup.clone(), cancel.clone()));

    // Recovery: its planner's memory lives as long as the task; a reload
    // only retunes it.
    let (recovery_tx, recovery_rx) = watch::channel(live::recovery_settings(&cfg, pipe.clone()));
    let (recovery_cmds, recovery_cmd_rx) = mpsc::channel(8);
    {
        let commands = Arc::new(tokio::sync::Mutex::new(recovery_cmd_rx));
        let (snaps, obs, alerts, clk) = (
            snapshots.clone(),
            obs_tx.clone(),
            alerting.commands.clone(),
            clock.clone(),
        );
        let (_never, fixed) = watch::channel(());
        let state_file = state_dir.as_ref().map(|d| d.join("recovery.json"));
        set.spawn(sup.clone().run_watched("recovery", fixed, move |(), own| {
            let r = crate::recovery::Recovery {
                settings: recovery_rx.clone(),
                snapshots: snaps.clone(),
                commands: commands.clone(),
                observations: obs.clone(),
                alerting: alerts.clone(),
                clock: clk.clone(),
                seed: recovery_seed,
                state_file: state_file.clone(),
            };
            let _ = &_never;
            r.run(own)
        }));
    }

    // Sources; each takes new settings from a reload through its channel.
    let (gateway_tx, gateway_rx) = watch::channel(live::gateway_settings(&cfg, pipe.clone()));
    let (m, clk) = (metrics.clone(), clock.clone());
    let tx = obs_tx.clone();
    set.spawn(
        sup.clone()
            .run_watched("gateway", gateway_rx, move |settings, own| {
                gateway::run(settings, tx.clone(), m.clone(), clk.clone(), own)
            }),
    );
    let (upstream_tx, upstream_rx) = watch::channel(cfg.gateway.clone());
    let tx = obs_tx.clone();
    set.spawn(
        sup.clone()
            .run_watched("telegram_webhook", upstream_rx.clone(), move |g, own| {
                let every = g.probe_interval.0.unwrap_or(Duration::from_secs(60));
                let oc_config = g
                    .openclaw_config
                    .clone()
                    .or_else(telegram_webhook::default_config_path);
                telegram_webhook::run(
                    oc_config,
                    every,
                    g.rpc_timeout,
                    webhooks_rx.clone(),
                    tx.clone(),
                    own,
                )
            }),
    );
    let tx = obs_tx.clone();
    set.spawn(
        sup.clone()
            .run_watched("readyz", upstream_rx, move |g, own| {
                readyz::run(g.readyz(), g.poll_interval, g.rpc_timeout, tx.clone(), own)
            }),
    );
    // Session backups on schedule; `backup` commands do the same by hand.
    if cfg.backup.enabled {
        let sched = crate::backup::Schedule {
            root: cfg
                .backup
                .dir_in(state_dir.as_deref().unwrap_or(&cfg.logs.state_dir)),
            config: cfg.clone(),
        };
        let (m, e, tx, clk) = (
            metrics.clone(),
            exposition.clone(),
            obs_tx.clone(),
            clock.clone(),
        );
        let (_never, fixed) = watch::channel(());
        set.spawn(sup.clone().run_watched("backup", fixed, move |(), own| {
            let _ = &_never;
            crate::backup::run(
                sched.clone(),
                m.clone(),
                e.clone(),
                tx.clone(),
                clk.clone(),
                own,
            )
        }));
    }
    // Started without paths too, idle until a reload gives it some.
    let (logs_tx, logs_rx) = watch::channel(
        live::log_settings(&cfg, state_dir.clone())
            .map_err(|p| anyhow::anyhow!("{}: {}", p.path, p.message))?,
    );
    let (logs_applied_tx, logs_applied) = watch::channel(0u64);
    {
        let (m, tx, ev, clk, c) = (
            metrics.clone(),
            obs_tx,
            events.clone(),
            clock.clone(),
            cancel.clone(),
        );
        // File reads block: the log source has a thread of its own.
        let s = sup.clone();
        let handle = std::thread::Builder::new()
            .name("clawwatch-logs".into())
            .spawn(move || {
                s.run_blocking("logs", || {
                    crate::logs::watch::run(
                        crate::logs::watch::Live {
                            settings: logs_rx.clone(),
                            applied: &logs_applied_tx,
                        },
                        m.clone(),
                        channels_rx.clone(),
                        tx.clone(),
                        ev.clone(),
                        clk.clone(),
                        c.clone(),
                    )
                })
            })
            .context("starting the log thread")?;
        let c = cancel.clone();
        set.spawn(async move {
            c.cancelled().await;
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        });
    }

    // The server.
    let (web, tls) = live::web(&cfg).map_err(|ps| {
        let list: Vec<String> = ps.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!("{}", list.join("; "))
    })?;
    if !listen.ip().is_loopback()
        && cfg.server.bearer_token.is_none()
        && web.basic_auth_users.is_empty()
    {
        tracing::warn!(
            %listen,
            "Listening beyond loopback without authentication: anyone who reaches this port reads every channel's state (writes from other hosts are refused unless server.allow_unauthenticated_writes). Set basic_auth_users in the web config or server.bearer_token_file."
        );
    }
    let (access_tx, access_rx) = watch::channel(Arc::new(live::access(&cfg, &web, listen)));
    let (tls_tx, tls_rx) = watch::channel(tls);
    let reload = loader.map(|loader| {
        let (asks_tx, asks) = mpsc::channel(4);
        let state = live::Live {
            current: cfg.clone(),
            web,
            listen,
            state_dir: state_dir.clone(),
            pipe,
            senders: live::Senders {
                gateway: gateway_tx,
                upstream: upstream_tx,
                logs: logs_tx,
                logs_applied,
                states: states_tx,
                recovery: recovery_tx,
                alerting: alerting.commands.clone(),
                access: access_tx,
                tls: tls_tx,
            },
            metrics: metrics.clone(),
            exposition: exposition.clone(),
            clock: clock.clone(),
        };
        set.spawn(live::run(state, loader, asks, cancel.clone()));
        asks_tx
    });
    let exposition_for_serve = exposition.clone();
    let exposition_for_tasks = exposition.clone();
    let shared = crate::server::Shared {
        snapshot: snapshots,
        alerting: alerting.published,
        commands: alerting.commands,
        recovery: recovery_cmds,
        exposition,
        access: access_rx,
        reload,
        metrics: metrics.clone(),
        health,
        events,
        history: store,
        cancel: cancel.clone(),
        clock,
    };
    let router = crate::server::router(shared);
    let served = router.clone();
    set.spawn(crate::serve::serve(
        listener,
        served,
        tls_rx,
        metrics.clone(),
        exposition_for_serve,
        cancel.clone(),
    ));
    set.spawn(count_tasks(
        metrics.clone(),
        exposition_for_tasks,
        cancel.clone(),
    ));
    let done = tokio::spawn(async move { while set.join_next().await.is_some() {} });
    Ok(Running {
        addr,
        cancel,
        done,
        router,
    })
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

/// Samples the runtime's live task count, so a leak of tasks shows.
async fn count_tasks(metrics: Metrics, exposition: Arc<Exposition>, cancel: CancellationToken) {
    let rt = tokio::runtime::Handle::current();
    loop {
        let n = i64::try_from(rt.metrics().num_alive_tasks()).unwrap_or(i64::MAX);
        if metrics.runtime_tasks.set(n) != n {
            exposition.touch();
            exposition.schedule();
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}
