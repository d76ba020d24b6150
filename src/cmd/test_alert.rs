//! `clawwatch test-alert`: a test notice through each integration.

use crate::alert::outbox::{Item, Notification};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sends one test notice per chosen integration and prints each result.
pub async fn run(config: Option<PathBuf>, integration: Option<String>) -> anyhow::Result<ExitCode> {
    let Some(path) = config else {
        anyhow::bail!(
            "test-alert needs a config with [[integrations]] (--config FILE or CLAWWATCH_CONFIG)"
        );
    };
    let cfg = crate::config::load(&path)?;
    let sinks = crate::alert::sinks(&cfg).map_err(anyhow::Error::msg)?;
    let chosen: Vec<_> = sinks
        .iter()
        .filter(|(n, _)| integration.as_deref().is_none_or(|w| w == n))
        .collect();
    if chosen.is_empty() {
        anyhow::bail!(
            "no integration {}",
            integration
                .as_deref()
                .map(|i| format!("named {i:?}"))
                .unwrap_or_else(|| "configured".into())
        );
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()?;
    let now = crate::clock::Clock::system().now();
    let mut failed = 0;
    for (name, sink) in chosen {
        let n = Notification {
            id: format!("test-{}", now as u64),
            integration: name.clone(),
            status: "firing".into(),
            route: "test-alert".into(),
            group: String::new(),
            alerts: vec![Item {
                alert: "ClawwatchTestAlert".into(),
                status: "firing".into(),
                severity: "warning".into(),
                channel: None,
                account: None,
                integration: Some(name.clone()),
                summary: "clawwatch test notification".into(),
                description: format!("Sent by `clawwatch test-alert` to integration {name:?}: if you read this, alerts reach you."),
                fix: "Nothing: this is a test.".into(),
                runbook: "docs/runbooks.md".into(),
                active_since: now,
            }],
            created: now,
            attempts: 0,
            next_at: now,
            failing_since: None,
            fallback: Vec::new(),
        };
        match sink.send(&client, &n, now).await {
            Ok(()) => println!("{name}: ok"),
            Err(e) => {
                println!("{name}: failed: {e}");
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
