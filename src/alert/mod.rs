//! Built-in alerting. `engine` decides which alerts fire from the state
//! machine's view and the log counters; delivery (routes, silences, the
//! outbox and the integrations) builds on it.

pub mod alertmanager;
pub mod email;
pub mod engine;
pub mod notify;
pub mod outbox;
pub mod silence;
pub mod telegram;
pub mod template;
pub mod webhook;

/// Where a notice goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Generic webhook.
    Webhook(webhook::Webhook),
    /// Email.
    Email(Box<email::Mailer>),
    /// Telegram.
    Telegram(Box<telegram::Telegram>),
    /// Alertmanager base URL.
    Alertmanager(String),
}

impl Sink {
    /// Sends one notice.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        n: &outbox::Notification,
        now: crate::clock::Ts,
    ) -> Result<(), webhook::SendError> {
        match self {
            Sink::Webhook(w) => w.send(client, n).await,
            Sink::Email(m) => m.send(n, now).await,
            Sink::Telegram(t) => t.send(n, now).await,
            Sink::Alertmanager(url) => alertmanager::send(client, url, n).await,
        }
    }
}

/// The integrations of a config; an error names the key to fix.
pub fn sinks(cfg: &crate::config::Config) -> Result<Vec<(String, Sink)>, String> {
    let mut out = Vec::new();
    for (i, it) in cfg.integrations.iter().enumerate() {
        match it.kind.as_str() {
            "webhook" => {
                let url = it
                    .url
                    .clone()
                    .ok_or(format!("integrations[{i}].url is required"))?;
                let secret = match (&it.hmac_secret, &it.hmac_secret_file) {
                    (Some(s), _) => Some(s.clone()),
                    (None, Some(f)) => Some(
                        crate::config::read_secret_file(f)
                            .map_err(|e| format!("integrations[{i}].hmac_secret_file: {e}"))?,
                    ),
                    _ => None,
                };
                let hmac = secret.map(|s| {
                    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, s.expose().as_bytes())
                });
                out.push((
                    it.name.clone(),
                    Sink::Webhook(webhook::Webhook { url, hmac }),
                ));
            }
            "alertmanager" => {
                let url = it
                    .url
                    .clone()
                    .ok_or(format!("integrations[{i}].url is required"))?;
                out.push((it.name.clone(), Sink::Alertmanager(url)));
            }
            "email" => {
                let password = match (&it.password, &it.password_file) {
                    (Some(p), _) => Some(p.clone()),
                    (None, Some(f)) => Some(
                        crate::config::read_secret_file(f)
                            .map_err(|e| format!("integrations[{i}].password_file: {e}"))?,
                    ),
                    _ => None,
                };
                let m = email::Mailer::new(it, password.as_ref())
                    .map_err(|e| format!("integrations[{i}]: {e}"))?;
                out.push((it.name.clone(), Sink::Email(Box::new(m))));
            }
            "telegram" => {
                let secret = |inline: &Option<crate::config::Secret>,
                              file: &Option<std::path::PathBuf>,
                              key: &str| match (inline, file) {
                    (Some(s), _) => Ok(s.clone()),
                    (None, Some(f)) => crate::config::read_secret_file(f)
                        .map_err(|e| format!("integrations[{i}].{key}_file: {e}")),
                    _ => Err(format!("integrations[{i}].{key} is required")),
                };
                let token = secret(&it.bot_token, &it.bot_token_file, "bot_token")?;
                let chat = secret(&it.chat_id, &it.chat_id_file, "chat_id")?;
                let templates =
                    template::Templates::new(it.subject.as_deref(), it.template.as_deref())
                        .map_err(|e| format!("integrations[{i}].{e}"))?;
                let t = telegram::Telegram::new(
                    &token,
                    &chat,
                    it.message_thread_id,
                    it.api_url.as_deref(),
                    templates,
                )
                .map_err(|e| format!("integrations[{i}]: {e}"))?;
                out.push((it.name.clone(), Sink::Telegram(Box::new(t))));
            }
            other => return Err(format!("integrations[{i}].type: {other:?} is not one of email, telegram, webhook, alertmanager")),
        }
    }
    Ok(out)
}
