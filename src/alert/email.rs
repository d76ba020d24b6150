//! Email with lettre: `smtp://host:port` (plain, for loopback), `?tls=required`
//! (STARTTLS) or `smtps://` (implicit TLS); several recipients; optional login.

use super::outbox::Notification;
use super::{FailureReason, NotifyError};
use crate::config::{IntegrationConfig, Secret};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A configured mail integration.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    templates: super::template::Templates,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("to", &self.to.len())
            .finish()
    }
}

impl Mailer {
    /// Builds the transport; the error names the key to fix.
    pub fn new(cfg: &IntegrationConfig, password: Option<&Secret>) -> Result<Mailer, String> {
        let url = cfg.smtp.as_deref().ok_or("smtp is required")?;
        if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
            return Err("smtp must start with smtp:// or smtps://".into());
        }
        // lettre's own URL rules: smtps:// is implicit TLS, ?tls=required
        // STARTTLS; its errors never quote the URL (it may hold a password).
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(15)));
        if let Some(pass) = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
        {
            crate::redact::learn(&pass);
        }
        if let (Some(user), Some(pass)) = (&cfg.username, password) {
            crate::redact::learn_login(user, pass.expose());
            builder =
                builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        let from: Mailbox = cfg
            .from
            .as_deref()
            .ok_or("from is required")?
            .parse()
            .map_err(|e| format!("from: {e}"))?;
        let to = cfg
            .to
            .iter()
            .map(|t| t.parse::<Mailbox>().map_err(|e| format!("to {t:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let templates =
            super::template::Templates::new(cfg.subject.as_deref(), cfg.template.as_deref())?;
        Ok(Mailer {
            transport: builder.build(),
            from,
            to,
            templates,
        })
    }

    /// Sends one notice to every recipient.
    pub async fn send(&self, n: &Notification, now: crate::clock::Ts) -> Result<(), NotifyError> {
        let mut m = Message::builder().from(self.from.clone());
        for t in &self.to {
            m = m.to(t.clone());
        }
        let subject = self.templates.subject(n, now);
        let body = self.templates.text(n, now);
        let msg = m
            .subject(subject)
            .body(body)
            .map_err(|e| NotifyError::permanent(FailureReason::Other, e.to_string()))?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }
}

/// An SMTP failure as a notify error; the server's reply is scrubbed (it
/// can quote an address or a credential).
fn classify(e: &lettre::transport::smtp::Error) -> NotifyError {
    let text = crate::redact::redact(&e.to_string());
    if e.is_permanent() {
        let auth = e
            .status()
            .is_some_and(|c| matches!(c.to_string().as_str(), "530" | "534" | "535"));
        let reason = if auth {
            FailureReason::AuthError
        } else {
            FailureReason::ClientError
        };
        NotifyError::permanent(reason, text)
    } else if e.is_transient() {
        NotifyError::retry(FailureReason::ServerError, text)
    } else if e.is_timeout() {
        NotifyError::retry(FailureReason::Timeout, text)
    } else {
        NotifyError::retry(FailureReason::Network, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(smtp: &str) -> Result<Mailer, String> {
        Mailer::new(
            &IntegrationConfig {
                name: "m".into(),
                kind: "email".into(),
                smtp: Some(smtp.into()),
                from: Some("a@example.org".into()),
                to: vec!["b@example.org".into()],
                ..Default::default()
            },
            None,
        )
    }

    #[test]
    fn smtp_urls_as_lettre_reads_them() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.org:587?tls=required",
            "smtps://mail.example.org",
        ] {
            assert!(mailer(ok).is_ok(), "{ok}");
        }
        let e = mailer("smtp://user:hunter2@:25").err().unwrap();
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(
            mailer("http://x").err().unwrap(),
            "smtp must start with smtp:// or smtps://"
        );
    }
}
