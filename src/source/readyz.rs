//! The gateway's HTTP `/readyz`, for `openclaw_gateway_ready` and uptime.

use crate::observation::Observation;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Polls `url` every `interval` until cancelled.
pub async fn run(
    url: String,
    interval: Duration,
    timeout: Duration,
    tx: mpsc::Sender<Observation>,
    cancel: CancellationToken,
) {
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "Cannot build HTTP client for /readyz.");
            return;
        }
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_err: Option<String> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let obs = match client.get(&url).send().await {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                last_err = None;
                let ready = match code {
                    200 => Some(true),
                    503 => Some(false),
                    _ => body.get("ready").and_then(|v| v.as_bool()),
                };
                Observation::Ready {
                    ready,
                    uptime_ms: body
                        .get("uptimeMs")
                        .and_then(|v| v.as_f64())
                        .map(|f| f as i64),
                }
            }
            Err(e) => {
                let msg = e.without_url().to_string();
                if last_err.as_deref() != Some(&msg) {
                    tracing::debug!(error = %msg, "Gateway /readyz unreachable.");
                    last_err = Some(msg);
                }
                Observation::Ready {
                    ready: None,
                    uptime_ms: None,
                }
            }
        };
        if tx.send(obs).await.is_err() {
            return;
        }
    }
}
