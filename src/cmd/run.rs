//! `clawwatch run`: the sidecar, from a config file, the environment and flags.

use crate::config::{self, Severity};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// True when a file can be created in `d` (made if missing).
fn writable(d: &Path) -> bool {
    let probe = d.join(".write-test");
    std::fs::create_dir_all(d)
        .and_then(|_| std::fs::write(&probe, b""))
        .and_then(|_| std::fs::remove_file(&probe))
        .is_ok()
}

/// The default `/var/lib/clawwatch` needs root; a user's own state dir
/// keeps restarts exact without it.
fn state_dir(cfg: &config::Config) -> PathBuf {
    let dir = cfg.logs.state_dir.clone();
    if dir != config::LogsConfig::default().state_dir || writable(&dir) {
        return dir;
    }
    let home = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
    match home.map(|h| h.join("clawwatch")) {
        Some(user) => {
            tracing::info!(path = %user.display(), "Cannot write /var/lib/clawwatch; keeping state in the user's state dir (set logs.state_dir to choose).");
            user
        }
        None => dir,
    }
}

/// Runs the sidecar until SIGINT or SIGTERM.
pub async fn run(
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    web_config_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    // A reload reads the same file, environment and flags again.
    let read = move || -> Result<config::Config, config::ConfigError> {
        let mut cfg = match &config {
            Some(p) => config::load(p)?,
            None => config::Config::default(),
        };
        config::apply_env(&mut cfg);
        if let Some(l) = listen {
            cfg.server.listen = l.to_string();
        }
        if web_config_file.is_some() {
            cfg.server.web_config_file.clone_from(&web_config_file);
        }
        cfg.logs.state_dir = state_dir(&cfg);
        Ok(cfg)
    };
    let mut cfg = read()?;
    let problems = crate::app::validate(&cfg, true);
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.iter().any(|p| p.severity == Severity::Error) {
        anyhow::bail!("invalid config; `clawwatch check-config FILE` lists the problems");
    }
    config::resolve_secrets(&mut cfg)?;
    if cfg.gateway.token.as_ref().is_none_or(|t| t.is_empty()) {
        tracing::warn!("No gateway token set (CLAWWATCH_GATEWAY_TOKEN or gateway.token_file); the gateway will refuse the connection.");
    }
    let dir = cfg.logs.state_dir.clone();
    let running = crate::app::start_with(
        cfg,
        crate::app::Deps {
            state_dir: Some(dir),
            loader: Some(crate::app::live::Loader(std::sync::Arc::new(read))),
            ..Default::default()
        },
    )
    .await?;
    tracing::info!(addr = %running.addr, "Serving /metrics and /health/detail.");
    super::serve_until_signal(running).await;
    Ok(ExitCode::SUCCESS)
}
