//! Alertmanager's API (`POST /api/v2/alerts`), so users with Alertmanager
//! get the same alerts there. A firing notice lasts 24 h unless resolved
//! earlier; clawwatch sends the resolve itself.

use super::outbox::Notification;
use super::webhook::SendError;
use crate::state::rfc3339;

/// Sends one notice as an Alertmanager alert.
pub async fn send(client: &reqwest::Client, base: &str, n: &Notification) -> Result<(), SendError> {
    let mut labels =
        serde_json::json!({"alertname": n.alert, "severity": n.severity, "source": "clawwatch"});
    if let Some(c) = &n.channel {
        labels["channel"] = c.as_str().into();
    }
    if let Some(a) = &n.account {
        labels["account"] = a.as_str().into();
    }
    let ends = if n.status == "resolved" {
        n.created
    } else {
        n.created + 24.0 * 3600.0
    };
    let body = serde_json::json!([{
        "labels": labels,
        "annotations": {"summary": n.summary, "description": crate::redact::redact(&n.description), "runbook_url": n.runbook},
        "startsAt": rfc3339(n.active_since),
        "endsAt": rfc3339(ends),
    }]);
    let url = format!("{}/api/v2/alerts", base.trim_end_matches('/'));
    let resp = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| SendError::Retry(e.without_url().to_string()))?;
    super::webhook::classify(resp.status())
}
