//! Built-in alerting. `engine` decides which alerts fire (pure: a snapshot
//! in, alerts out); `route` turns them into notices (routes, groups,
//! repeats, resolutions); `dispatch` owns the outbox, the silences and the
//! delivery loop; one file per integration sends. What they share lives
//! here: the integrations' error type and [`Sink`].

pub mod alertmanager;
pub mod dispatch;
pub mod email;
pub mod engine;
pub mod outbox;
pub mod route;
pub mod silence;
pub mod telegram;
pub mod template;
pub mod webhook;

use crate::config::{Config, Problem, Severity};
use std::sync::Arc;

/// Why a delivery failed, as a bounded label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// No connection, DNS, TLS or a reset.
    Network,
    /// No answer in time.
    Timeout,
    /// The receiver failed (5xx).
    ServerError,
    /// The receiver refused the notice (4xx).
    ClientError,
    /// Too many notices (429, Telegram's flood control).
    RateLimited,
    /// Credentials refused (401, 403, SMTP auth).
    AuthError,
    /// Anything else.
    Other,
}

impl FailureReason {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Network => "network",
            FailureReason::Timeout => "timeout",
            FailureReason::ServerError => "server_error",
            FailureReason::ClientError => "client_error",
            FailureReason::RateLimited => "rate_limited",
            FailureReason::AuthError => "auth_error",
            FailureReason::Other => "other",
        }
    }
}

/// When to try a failed notice again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retry {
    /// After the outbox's backoff.
    Backoff,
    /// Not before this many seconds (the receiver said so).
    After(f64),
    /// Never: it will not get better by itself.
    Never,
}

/// A failed delivery, shared by every integration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct NotifyError {
    /// Bounded kind.
    pub reason: FailureReason,
    /// Whether and when to try again.
    pub retry: Retry,
    /// What happened, scrubbed of secrets.
    pub message: String,
}

impl NotifyError {
    /// Worth another try after the backoff.
    pub fn retry(reason: FailureReason, message: impl Into<String>) -> NotifyError {
        NotifyError {
            reason,
            retry: Retry::Backoff,
            message: message.into(),
        }
    }

    /// Final.
    pub fn permanent(reason: FailureReason, message: impl Into<String>) -> NotifyError {
        NotifyError {
            reason,
            retry: Retry::Never,
            message: message.into(),
        }
    }

    /// The receiver asked for `secs` of quiet.
    pub fn retry_after(secs: f64) -> NotifyError {
        NotifyError {
            reason: FailureReason::RateLimited,
            retry: Retry::After(secs),
            message: String::new(),
        }
    }

    fn describe(&self) -> String {
        match self.retry {
            Retry::Backoff => format!("{} (will retry)", self.message),
            Retry::Never => format!("{} (giving up)", self.message),
            Retry::After(s) => format!("rate limited, retry after {s} s"),
        }
    }
}

/// 2xx delivered; 5xx, 408 and 429 worth another try; other codes final.
pub fn classify(code: reqwest::StatusCode) -> Result<(), NotifyError> {
    let msg = format!("HTTP {code}");
    match code.as_u16() {
        _ if code.is_success() => Ok(()),
        429 => Err(NotifyError::retry(FailureReason::RateLimited, msg)),
        408 => Err(NotifyError::retry(FailureReason::Timeout, msg)),
        _ if code.is_server_error() => Err(NotifyError::retry(FailureReason::ServerError, msg)),
        401 | 403 => Err(NotifyError::permanent(FailureReason::AuthError, msg)),
        _ => Err(NotifyError::permanent(FailureReason::ClientError, msg)),
    }
}

/// A failed HTTP request, without its URL (it can hold a secret).
pub fn request_failed(e: reqwest::Error) -> NotifyError {
    let reason = if e.is_timeout() {
        FailureReason::Timeout
    } else {
        FailureReason::Network
    };
    NotifyError::retry(reason, e.without_url().to_string())
}

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
    /// Sends one notice; `now` dates its texts.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        n: &outbox::Notification,
        now: crate::clock::Ts,
    ) -> Result<(), NotifyError> {
        match self {
            Sink::Webhook(w) => w.send(client, n).await,
            Sink::Email(m) => m.send(n, now).await,
            Sink::Telegram(t) => t.send(n, now).await,
            Sink::Alertmanager(url) => alertmanager::send(client, url, n).await,
        }
    }
}

fn secret(
    i: usize,
    key: &str,
    inline: &Option<crate::config::Secret>,
    file: &Option<std::path::PathBuf>,
) -> Result<Option<crate::config::Secret>, String> {
    match (inline, file) {
        (Some(s), _) => Ok(Some(s.clone())),
        (None, Some(f)) => crate::config::read_secret_file(f)
            .map(Some)
            .map_err(|e| format!("integrations[{i}].{key}_file: {e}")),
        _ => Ok(None),
    }
}

/// The integrations of a config; an error names the key to fix.
pub fn sinks(cfg: &Config) -> Result<Vec<(String, Sink)>, String> {
    let mut out = Vec::new();
    for (i, it) in cfg.integrations.iter().enumerate() {
        let required = |v: Option<crate::config::Secret>, key: &str| {
            v.ok_or(format!("integrations[{i}].{key} is required"))
        };
        let sink = match it.kind.as_str() {
            "webhook" => {
                let url = it
                    .url
                    .clone()
                    .ok_or(format!("integrations[{i}].url is required"))?;
                let hmac = secret(i, "hmac_secret", &it.hmac_secret, &it.hmac_secret_file)?
                    .map(|s| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, s.expose().as_bytes()));
                Sink::Webhook(webhook::Webhook { url, hmac })
            }
            "alertmanager" => Sink::Alertmanager(
                it.url
                    .clone()
                    .ok_or(format!("integrations[{i}].url is required"))?,
            ),
            "email" => {
                let password = secret(i, "password", &it.password, &it.password_file)?;
                let m = email::Mailer::new(it, password.as_ref())
                    .map_err(|e| format!("integrations[{i}]: {e}"))?;
                Sink::Email(Box::new(m))
            }
            "telegram" => {
                let token = required(
                    secret(i, "bot_token", &it.bot_token, &it.bot_token_file)?,
                    "bot_token",
                )?;
                let chat = required(
                    secret(i, "chat_id", &it.chat_id, &it.chat_id_file)?,
                    "chat_id",
                )?;
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
                Sink::Telegram(Box::new(t))
            }
            other => return Err(format!("integrations[{i}].type: {other:?} is not one of email, telegram, webhook, alertmanager")),
        };
        out.push((it.name.clone(), sink));
    }
    Ok(out)
}

/// The alerting part of a config's problems: templates, routes and
/// maintenance windows, built as `run` builds them, each with its key path.
pub fn problems(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut keyed = |e: String, default: &str| {
        let (key, msg) = e.split_once(": ").unwrap_or((default, &e));
        out.push(Problem {
            severity: Severity::Error,
            path: key.to_string(),
            message: msg.to_string(),
        });
    };
    for (i, it) in cfg.integrations.iter().enumerate() {
        if it.subject.is_some() || it.template.is_some() {
            if let Err(e) = template::Templates::new(it.subject.as_deref(), it.template.as_deref())
            {
                // The error starts with the template's key.
                keyed(format!("integrations[{i}].{e}"), "");
            }
        }
    }
    if let Err(e) = route::Router::new(&cfg.alerting, &integration_kinds(cfg)) {
        keyed(e, "alerting");
    }
    for (i, m) in cfg.alerting.maintenance.iter().enumerate() {
        if let Err(e) = silence::Window::new(i, m) {
            keyed(e, "alerting");
        }
    }
    out
}

/// (name, type) of each configured integration.
pub fn integration_kinds(cfg: &Config) -> Vec<(String, String)> {
    cfg.integrations
        .iter()
        .map(|i| (i.name.clone(), i.kind.clone()))
        .collect()
}

/// What alerting publishes for readers: the alerts firing now and the
/// silences that may mute them.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Built-in alerts firing now.
    pub firing: Arc<Vec<engine::Alert>>,
    /// Silences and maintenance windows.
    pub silences: Arc<silence::Silences>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_windows_and_templates_are_checked() {
        let ok = r#"
[alerting]
group_by = ["alertname"]
fallback = ["mail"]
[[alerting.routes]]
name = "critical"
match = { severity = "critical" }
match_re = { channel = "whatsapp|telegram" }
integrations = ["tg"]
repeat_interval = "1h"
continue = true
[[alerting.maintenance]]
name = "backup"
matchers = ["channel=whatsapp"]
weekdays = ["sun"]
start = "03:00"
end = "03:30"
[[integrations]]
name = "mail"
type = "email"
smtp = "smtp://127.0.0.1:25"
from = "a@example.org"
to = ["b@example.org"]
subject = "{{ title }}"
[[integrations]]
name = "tg"
type = "telegram"
bot_token = "x"
chat_id = "1"
"#;
        let cfg = crate::config::parse(ok).unwrap();
        assert_eq!(problems(&cfg), vec![]);
        let bad = ok
            .replace("integrations = [\"tg\"]", "integrations = [\"pager\"]")
            .replace("start = \"03:00\"", "start = \"3 am\"")
            .replace("{{ title }}", "{{ title ");
        let got: Vec<String> = problems(&crate::config::parse(&bad).unwrap())
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].starts_with("error: integrations[0].subject: syntax error"),
            "{got:#?}"
        );
        assert_eq!(got[1], "error: alerting.routes[0].integrations: no integration named \"pager\" (have: mail, tg)");
        assert_eq!(
            got[2],
            "error: alerting.maintenance[0].start: \"3 am\" is not HH:MM"
        );
    }

    #[test]
    fn http_codes_are_classified() {
        use reqwest::StatusCode as S;
        let reason = |c| classify(c).err().map(|e| (e.reason, e.retry));
        assert_eq!(reason(S::OK), None);
        assert_eq!(
            reason(S::SERVICE_UNAVAILABLE),
            Some((FailureReason::ServerError, Retry::Backoff))
        );
        assert_eq!(
            reason(S::TOO_MANY_REQUESTS),
            Some((FailureReason::RateLimited, Retry::Backoff))
        );
        assert_eq!(
            reason(S::UNAUTHORIZED),
            Some((FailureReason::AuthError, Retry::Never))
        );
        assert_eq!(
            reason(S::NOT_FOUND),
            Some((FailureReason::ClientError, Retry::Never))
        );
        assert_eq!(
            classify(S::BAD_GATEWAY).unwrap_err().to_string(),
            "HTTP 502 Bad Gateway (will retry)"
        );
    }
}
