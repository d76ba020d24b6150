//! Email with lettre: `smtp://host:port` (plain, for loopback), `?tls=required`
//! (STARTTLS) or `smtps://` (implicit TLS); several recipients; optional login.

use super::outbox::Notification;
use super::webhook::SendError;
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
        let (implicit, rest) = match (url.strip_prefix("smtps://"), url.strip_prefix("smtp://")) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            _ => return Err(format!("smtp {url:?} must start with smtp:// or smtps://")),
        };
        let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("smtp port {p:?} is not a number"))?,
            ),
            None => (hostport, if implicit { 465 } else { 25 }),
        };
        let starttls = query.split('&').any(|kv| kv == "tls=required");
        let builder = if implicit {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?
        } else if starttls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| e.to_string())?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        };
        let mut builder = builder
            .port(port)
            .timeout(Some(std::time::Duration::from_secs(15)));
        if let (Some(user), Some(pass)) = (&cfg.username, password) {
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
    pub async fn send(&self, n: &Notification, now: crate::clock::Ts) -> Result<(), SendError> {
        let mut m = Message::builder().from(self.from.clone());
        for t in &self.to {
            m = m.to(t.clone());
        }
        let subject = self.templates.subject(n, now);
        let body = self.templates.text(n, now);
        let msg = m
            .subject(subject)
            .body(body)
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Retry(e.to_string())),
        }
    }
}
