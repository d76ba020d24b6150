//! The generic webhook: one JSON POST per notice, with the notice id in the
//! body and in `X-Clawwatch-Id` so the receiver can drop duplicates (the
//! outbox delivers at least once), and with a secret, an HMAC-SHA256 of the
//! body in `X-Clawwatch-Signature: sha256=<hex>`.

use super::outbox::Notification;
use super::{FailureReason, NotifyError};

/// A configured webhook.
#[derive(Clone)]
pub struct Webhook {
    /// Where to POST.
    pub url: String,
    /// Signs the body when set.
    pub hmac: Option<ring::hmac::Key>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhook(***)")
    }
}

/// The JSON body: the notice, its alerts, and the first alert's fields at
/// the top for receivers that read only one.
pub fn body(n: &Notification) -> serde_json::Value {
    let alerts: Vec<serde_json::Value> = n
        .alerts
        .iter()
        .map(|a| {
            serde_json::json!({
                "alert": a.alert, "status": a.status, "severity": a.severity,
                "channel": a.channel, "account": a.account, "integration": a.integration,
                "summary": a.summary, "description": crate::redact::redact(&a.description),
                "fix": a.fix, "runbook": a.runbook, "active_since": crate::clock::rfc3339(a.active_since),
            })
        })
        .collect();
    let mut body = alerts[0].clone();
    body["id"] = n.id.clone().into();
    body["status"] = n.status.clone().into();
    body["title"] = n.title().into();
    body["route"] = n.route.clone().into();
    body["group"] = n.group.clone().into();
    body["alerts"] = alerts.into();
    body["sender"] = concat!("clawwatch ", env!("CARGO_PKG_VERSION")).into();
    body
}

/// The signature header's value for a body.
pub fn signature(key: &ring::hmac::Key, body: &[u8]) -> String {
    let tag = ring::hmac::sign(key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

impl Webhook {
    /// Sends one notice.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        n: &Notification,
    ) -> Result<(), NotifyError> {
        let bytes = serde_json::to_vec(&body(n))
            .map_err(|e| NotifyError::permanent(FailureReason::Other, e.to_string()))?;
        let mut req = client
            .post(&self.url)
            .header("X-Clawwatch-Id", &n.id)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(k) = &self.hmac {
            req = req.header("X-Clawwatch-Signature", signature(k, &bytes));
        }
        let resp = req
            .body(bytes)
            .send()
            .await
            // A webhook URL can carry a secret: the error drops it.
            .map_err(super::request_failed)?;
        super::classify(resp.status())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe");
        assert_eq!(
            super::signature(&k, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
