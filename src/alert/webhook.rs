//! The generic webhook: one JSON POST per notice, with the notice id in the
//! body and in `X-Clawwatch-Id` so the receiver can drop duplicates (the
//! outbox delivers at least once).

use super::outbox::Notification;

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth another try (connection, timeout, 5xx, 429).
    #[error("{0} (will retry)")]
    Retry(String),
    /// Will not get better by itself (other 4xx).
    #[error("{0} (giving up)")]
    Permanent(String),
    /// The receiver asked us to wait this many seconds (Telegram's retry_after).
    #[error("rate limited, retry after {0} s")]
    RetryAfter(f64),
}

/// Sends one notice.
pub async fn send(client: &reqwest::Client, url: &str, n: &Notification) -> Result<(), SendError> {
    let body = serde_json::json!({
        "id": n.id, "status": n.status, "alert": n.alert, "severity": n.severity,
        "channel": n.channel, "account": n.account, "summary": n.summary,
        "description": crate::redact::redact(&n.description), "runbook": n.runbook,
        "active_since": crate::state::rfc3339(n.active_since), "sender": concat!("clawwatch ", env!("CARGO_PKG_VERSION")),
    });
    let resp = client
        .post(url)
        .header("X-Clawwatch-Id", &n.id)
        .json(&body)
        .send()
        .await
        // without_url: a webhook URL can carry a secret.
        .map_err(|e| SendError::Retry(e.without_url().to_string()))?;
    classify(resp.status())
}

/// 2xx delivered; 5xx, 408 and 429 worth another try; other codes final.
pub fn classify(code: reqwest::StatusCode) -> Result<(), SendError> {
    if code.is_success() {
        Ok(())
    } else if code.is_server_error() || code.as_u16() == 429 || code.as_u16() == 408 {
        Err(SendError::Retry(format!("HTTP {code}")))
    } else {
        Err(SendError::Permanent(format!("HTTP {code}")))
    }
}
