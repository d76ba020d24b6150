//! Reload (SIGHUP, `POST /-/reload`): re-read the config, check all of it,
//! build everything that can fail, and only then hand each part its new
//! settings. A bad config changes nothing. What cannot change in a running
//! process (the listen address, the state dir) is reported, not ignored.

use crate::alert::dispatch::{Built, Command};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, GatewayConfig, Problem, ReloadReport, Severity};
use crate::metrics::{Exposition, Metrics};
use crate::server::{Access, Guard};
use crate::source::gateway;
use crate::state::derive::Tuning;
use crate::webconfig::WebConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Reads the config as `run` did at the start: file, environment, flags.
#[derive(Clone)]
pub struct Loader(pub Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>);

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loader")
    }
}

/// A request for a reload, answered with what it did.
pub type Ask = oneshot::Sender<ReloadReport>;

/// What the state task takes from `[states]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatesLive {
    /// The state machine's thresholds.
    pub tuning: Tuning,
    /// Events kept for `/api/v1/history`.
    pub history_size: usize,
}

impl StatesLive {
    /// From a config.
    pub fn of(cfg: &Config) -> StatesLive {
        StatesLive {
            tuning: super::tuning(&cfg.states),
            history_size: cfg.states.history_size.unwrap_or(1000),
        }
    }
}

/// How to reach the gateway, from a config.
pub fn gateway_settings(cfg: &Config, pipe: Option<crate::pipe::Pipe>) -> gateway::Settings {
    gateway::Settings {
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
        max_accounts: cfg.states.max_accounts.max(1),
        pipe,
    }
}

/// What recovery runs on: `[recovery]`, and the gateway with `operator.admin`.
pub fn recovery_settings(
    cfg: &Config,
    pipe: Option<crate::pipe::Pipe>,
) -> crate::recovery::Settings {
    let mut gateway = gateway_settings(cfg, pipe);
    gateway.credentials.scopes = vec!["operator.admin".into()];
    crate::recovery::Settings {
        config: cfg.recovery.clone(),
        gateway,
    }
}

/// True when the gateway connection must be made again for `b`.
fn reconnects(a: &Config, b: &Config) -> bool {
    let (x, y) = (&a.gateway, &b.gateway);
    x.url != y.url
        || x.token != y.token
        || x.poll_interval != y.poll_interval
        || x.probe_interval != y.probe_interval
        || x.probe_timeout != y.probe_timeout
        || x.rpc_timeout != y.rpc_timeout
        || x.connect_timeout != y.connect_timeout
        || x.max_frame_bytes != y.max_frame_bytes
        || a.states.max_accounts != b.states.max_accounts
}

/// How to follow the logs, from a config.
pub fn log_settings(
    cfg: &Config,
    state_dir: Option<PathBuf>,
) -> Result<crate::logs::watch::Settings, Problem> {
    let rules = crate::logs::rules::RuleSet::new(&cfg.rules).map_err(|e| Problem {
        severity: Severity::Error,
        path: "rules".into(),
        message: e.to_string(),
    })?;
    Ok(crate::logs::watch::Settings {
        patterns: cfg.logs.paths.clone(),
        state_dir,
        poll: cfg.logs.poll_interval,
        max_line_bytes: cfg.logs.max_line_bytes,
        max_open_files: cfg.logs.max_open_files,
        rules,
        generation: 0,
    })
}

/// The web config file of `cfg` (empty without one), read and checked,
/// and its TLS acceptor.
pub fn web(cfg: &Config) -> Result<(WebConfig, Option<TlsAcceptor>), Vec<Problem>> {
    let key = "server.web_config_file";
    let Some(f) = &cfg.server.web_config_file else {
        return Ok(Default::default());
    };
    let web = WebConfig::load(f).map_err(|ps| {
        ps.into_iter()
            .map(|p| Problem {
                severity: Severity::Error,
                path: key.into(),
                message: format!("{} {}: {}", f.display(), p.path, p.message),
            })
            .collect::<Vec<_>>()
    })?;
    let tls = match &web.tls_server_config {
        Some(t) => Some(crate::tls::acceptor(t).map_err(|e| {
            vec![Problem {
                severity: Severity::Error,
                path: key.into(),
                message: format!("{} tls_server_config: {e}", f.display()),
            }]
        })?),
        None => None,
    };
    Ok((web, tls))
}

/// Who is let in, from a config and its web config.
pub fn access(cfg: &Config, web: &WebConfig, listen: SocketAddr) -> Access {
    Access {
        guard: Guard {
            loopback: listen.ip().is_loopback(),
            allowed_hosts: cfg.server.allowed_hosts.clone(),
            allow_unauthenticated_writes: cfg.server.allow_unauthenticated_writes,
            max_subscribers: cfg.server.max_subscribers.max(1),
        },
        bearer: cfg.server.bearer_token.clone(),
        basic: crate::webconfig::BasicAuth::new(&web.basic_auth_users),
        headers: web
            .http_server_config
            .as_ref()
            .map(|h| {
                h.headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Where each part takes its new settings.
pub struct Senders {
    /// The gateway session.
    pub gateway: watch::Sender<gateway::Settings>,
    /// `/readyz` and the Telegram webhook poller.
    pub upstream: watch::Sender<GatewayConfig>,
    /// The log thread.
    pub logs: watch::Sender<crate::logs::watch::Settings>,
    /// The generation of settings the log thread last passed with.
    pub logs_applied: watch::Receiver<u64>,
    /// The state task.
    pub states: watch::Sender<StatesLive>,
    /// Recovery.
    pub recovery: watch::Sender<crate::recovery::Settings>,
    /// The dispatcher.
    pub alerting: mpsc::Sender<Command>,
    /// The server's authentication and guard.
    pub access: watch::Sender<Arc<Access>>,
    /// The listener's TLS.
    pub tls: watch::Sender<Option<TlsAcceptor>>,
}

/// The running config and where its parts go.
pub struct Live {
    /// The config in force, secrets resolved.
    pub current: Config,
    /// Its web config.
    pub web: WebConfig,
    /// The address bound at the start.
    pub listen: SocketAddr,
    /// The state dir given at the start.
    pub state_dir: Option<PathBuf>,
    /// Tests: the in-memory gateway.
    pub pipe: Option<crate::pipe::Pipe>,
    /// Where the parts listen.
    pub senders: Senders,
    /// The reload gauges.
    pub metrics: Metrics,
    /// Renders after a change of the gauges.
    pub exposition: Arc<Exposition>,
    /// The clock.
    pub clock: Clock,
}

impl std::fmt::Debug for Senders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Senders")
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("listen", &self.listen)
            .finish()
    }
}

fn errors(ps: &[Problem]) -> bool {
    ps.iter().any(|p| p.severity == Severity::Error)
}

impl Live {
    /// Checks `loaded` whole, then applies it; on any error nothing changes.
    pub async fn reload(&mut self, loaded: Result<Config, ConfigError>) -> ReloadReport {
        let report = self.prepare_and_apply(loaded).await;
        let ok = report.ok();
        self.metrics.config_reload_ok.set(i64::from(ok));
        if ok {
            self.metrics.config_reload_ts.set(self.clock.now());
            tracing::info!(applied = ?report.applied, restart_required = ?report.restart_required, "Config reloaded.");
            for k in &report.restart_required {
                tracing::warn!(key = %k, "This key changed but applies only after a restart; the old value stays in use.");
            }
        } else {
            let list: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
            tracing::error!(problems = %list.join("; "), "Config reload failed; the old config keeps running.");
        }
        self.exposition.touch();
        self.exposition.schedule();
        report
    }

    async fn prepare_and_apply(&mut self, loaded: Result<Config, ConfigError>) -> ReloadReport {
        let mut new = match loaded {
            Ok(c) => c,
            Err(e) => return report(problems_of(e)),
        };
        let mut problems = super::validate(&new, true);
        if errors(&problems) {
            return report(problems);
        }
        if let Err(e) = crate::config::resolve_secrets(&mut new) {
            problems.extend(problems_of(e));
            return report(problems);
        }
        let cur = &self.current;
        let mut restart_required = Vec::new();
        if new.server.listen != cur.server.listen {
            restart_required.push("server.listen".to_string());
            new.server.listen.clone_from(&cur.server.listen);
        }
        if new.logs.state_dir != cur.logs.state_dir {
            restart_required.push("logs.state_dir".to_string());
            new.logs.state_dir.clone_from(&cur.logs.state_dir);
        }
        if new.history != cur.history {
            restart_required.push("history".to_string());
            new.history.clone_from(&cur.history);
        }
        if new.backup != cur.backup {
            restart_required.push("backup".to_string());
            new.backup.clone_from(&cur.backup);
        }
        // Everything that can fail, before anything changes.
        let mut logs = match log_settings(&new, self.state_dir.clone()) {
            Ok(l) => l,
            Err(p) => {
                problems.push(p);
                return report(problems);
            }
        };
        let (web, tls) = match web(&new) {
            Ok(w) => w,
            Err(ps) => {
                problems.extend(ps);
                return report(problems);
            }
        };
        let built = match Built::new(&new) {
            Ok(b) => b,
            Err(e) => {
                let (path, message) = e.split_once(": ").unwrap_or(("alerting", &e));
                problems.push(Problem {
                    severity: Severity::Error,
                    path: path.into(),
                    message: message.into(),
                });
                return report(problems);
            }
        };
        // Apply.
        let mut applied = Vec::new();
        let s = &self.senders;
        if reconnects(cur, &new) {
            s.gateway
                .send_replace(gateway_settings(&new, self.pipe.clone()));
            applied.push("gateway (reconnected)".to_string());
        }
        if s.upstream.send_if_modified(|g| {
            let changed = *g != new.gateway;
            if changed {
                g.clone_from(&new.gateway);
            }
            changed
        }) && !applied.iter().any(|a| a.starts_with("gateway"))
        {
            applied.push("gateway".to_string());
        }
        if new.logs != cur.logs || new.rules != cur.rules {
            let generation = s.logs.borrow().generation + 1;
            logs.generation = generation;
            s.logs.send_replace(logs);
            // The answer comes after the log thread's first pass with the
            // new paths: files it newly matches are read from there on.
            let mut done = s.logs_applied.clone();
            let waited = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                done.wait_for(|g| *g >= generation),
            )
            .await;
            if !matches!(waited, Ok(Ok(_))) {
                tracing::warn!("The log thread has not taken the new log settings yet; it will on its next pass.");
            }
            if new.logs.paths != cur.logs.paths {
                applied.push("logs (re-globbed)".to_string());
            } else if new.logs != cur.logs {
                applied.push("logs".to_string());
            }
            if new.rules != cur.rules {
                applied.push("rules".to_string());
            }
        }
        if s.states.send_if_modified(|st| {
            let next = StatesLive::of(&new);
            let changed = *st != next;
            *st = next;
            changed
        }) {
            applied.push("states".to_string());
        }
        if new.recovery != cur.recovery || new.gateway != cur.gateway {
            s.recovery
                .send_replace(recovery_settings(&new, self.pipe.clone()));
            if new.recovery != cur.recovery {
                applied.push("recovery".to_string());
            }
        }
        // Always: integrations read their *_file secrets when built.
        let (done, wait) = oneshot::channel();
        if s.alerting
            .send(Command::Reconfigure(Box::new(built), done))
            .await
            .is_ok()
        {
            let _ = wait.await;
        }
        if new.alerting != cur.alerting || new.integrations != cur.integrations {
            applied.push("alerting".to_string());
        }
        s.access
            .send_replace(Arc::new(access(&new, &web, self.listen)));
        s.tls.send_replace(tls);
        if new.server != cur.server || web != self.web {
            applied.push("server".to_string());
        }
        self.current = new;
        self.web = web;
        ReloadReport {
            problems,
            applied,
            restart_required,
        }
    }
}

fn report(problems: Vec<Problem>) -> ReloadReport {
    ReloadReport {
        problems,
        ..Default::default()
    }
}

fn problems_of(e: ConfigError) -> Vec<Problem> {
    match e {
        ConfigError::Invalid(ps) => ps,
        ConfigError::Parse { path, message } => vec![Problem {
            severity: Severity::Error,
            path,
            message,
        }],
        e @ ConfigError::Read { .. } => vec![Problem {
            severity: Severity::Error,
            path: "<file>".into(),
            message: e.to_string(),
        }],
    }
}

/// Reloads on each ask and on SIGHUP, one at a time.
pub async fn run(
    mut live: Live,
    loader: Loader,
    mut asks: mpsc::Receiver<Ask>,
    cancel: CancellationToken,
) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match &mut hup {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        let reply = tokio::select! {
            _ = cancel.cancelled() => return,
            a = asks.recv() => match a {
                Some(a) => Some(a),
                None => return,
            },
            _ = hangup => {
                tracing::info!("SIGHUP: reloading the config.");
                None
            }
        };
        let l = loader.clone();
        let loaded = tokio::task::spawn_blocking(move || (l.0)())
            .await
            .unwrap_or_else(|_| {
                Err(ConfigError::Parse {
                    path: "<file>".into(),
                    message: "reading the config panicked".into(),
                })
            });
        let report = live.reload(loaded).await;
        if let Some(r) = reply {
            let _ = r.send(report);
        }
    }
}
