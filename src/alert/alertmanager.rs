//! Alertmanager's API (`POST /api/v2/alerts`), so users with Alertmanager
//! get the same alerts there. A firing notice lasts 24 h unless resolved
//! earlier; clawwatch sends the resolve itself.

use super::outbox::Notification;
use super::NotifyError;
use crate::clock::rfc3339;

/// Sends a notice's alerts as Alertmanager alerts.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    n: &Notification,
) -> Result<(), NotifyError> {
    let body: Vec<serde_json::Value> = n
        .alerts
        .iter()
        .map(|a| {
            let mut labels = serde_json::json!({"alertname": a.alert, "severity": a.severity, "source": "clawwatch"});
            for (k, v) in [("channel", &a.channel), ("account", &a.account), ("integration", &a.integration)] {
                if let Some(v) = v {
                    labels[k] = v.as_str().into();
                }
            }
            let ends = if a.status == "resolved" {
                n.created
            } else {
                n.created + 24.0 * 3600.0
            };
            serde_json::json!({
                "labels": labels,
                "annotations": {"summary": a.summary, "description": crate::redact::redact(&a.description), "fix": a.fix, "runbook_url": a.runbook},
                "startsAt": rfc3339(a.active_since),
                "endsAt": rfc3339(ends),
            })
        })
        .collect();
    let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
    let resp = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(super::request_failed)?;
    super::classify(resp.status())
}
