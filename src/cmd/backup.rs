//! `clawwatch backup now|list|restore`: run on the host that holds the
//! WhatsApp session directories.

use crate::backup::{self, BackupError};
use crate::cli::BackupCommand;
use crate::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The config, or the defaults.
fn load(config: &Option<PathBuf>) -> anyhow::Result<Config> {
    let mut cfg = match config {
        Some(p) => crate::config::load(p)?,
        None => Config::default(),
    };
    crate::config::apply_env(&mut cfg);
    Ok(cfg)
}

/// Something listens on the gateway's port.
async fn gateway_running(cfg: &Config) -> bool {
    let Ok(u) = reqwest::Url::parse(&cfg.gateway.url) else {
        return false;
    };
    let Some(host) = u
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
    else {
        return false;
    };
    let port = u.port_or_known_default().unwrap_or(18789);
    matches!(
        tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect((host.as_str(), port))
        )
        .await,
        Ok(Ok(_))
    )
}

/// Runs one backup command.
pub async fn run(config: Option<PathBuf>, command: BackupCommand) -> anyhow::Result<ExitCode> {
    let cfg = load(&config)?;
    let root = cfg.backup.dir_in(&cfg.logs.state_dir);
    match command {
        BackupCommand::Now => {
            let gw = backup::gateway_config(&cfg);
            let dirs = backup::whatsapp_dirs(&cfg, gw.as_ref());
            if dirs.is_empty() {
                println!("no WhatsApp session directory to back up (is the gateway's state dir right? [doctor] openclaw_state_dir)");
                return Ok(ExitCode::SUCCESS);
            }
            let now = crate::clock::Clock::system().now();
            let mut failed = 0;
            for (acct, dir) in dirs {
                match backup::snapshot(&dir, &root, &acct, now) {
                    Ok(b) => println!(
                        "{}  {} files from {}",
                        b.id,
                        b.manifest.files.len(),
                        dir.display()
                    ),
                    Err(e) => {
                        println!("{acct}: failed: {e}");
                        failed += 1;
                    }
                }
            }
            for id in backup::prune(
                &root,
                cfg.backup.keep,
                cfg.backup.max_age.as_secs_f64(),
                now,
            ) {
                println!("pruned {id}");
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BackupCommand::List { json } => {
            let all = backup::list(&root);
            if json {
                let v: Vec<_> = all
                    .iter()
                    .map(|b| serde_json::json!({"id": b.id, "account": b.manifest.account, "taken_at": crate::clock::rfc3339(b.manifest.taken_at), "files": b.manifest.files.len(), "source": b.manifest.source}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for b in &all {
                    println!(
                        "{:<40} {}  {} files",
                        b.id,
                        crate::clock::rfc3339(b.manifest.taken_at),
                        b.manifest.files.len()
                    );
                }
                if all.is_empty() {
                    println!("no backups in {}", root.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Restore { id, force } => {
            let running = gateway_running(&cfg).await;
            match backup::restore(&root, &id, force, running) {
                Ok(dest) => {
                    println!("restored {id} to {}", dest.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ BackupError::Refused(_)) => {
                    println!("refused: {e}");
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}
