//! Telegram with teloxide: a configurable API URL, chat id (or @channel),
//! message thread id, Telegram's 4096-character limit and its retry_after.
//! The bot token is part of every request URL: errors are scrubbed.

use super::outbox::Notification;
use super::{FailureReason, NotifyError};
use crate::config::Secret;
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{ChatId, MessageId, Recipient, ThreadId};
use teloxide::{ApiError, Bot, RequestError};

/// Telegram's limit on a message's text.
pub const MAX_CHARS: usize = 4096;

/// A configured Telegram integration.
#[derive(Clone)]
pub struct Telegram {
    bot: Bot,
    chat: Recipient,
    thread: Option<ThreadId>,
    templates: super::template::Templates,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telegram(***)")
    }
}

impl Telegram {
    /// Builds the client; the error names what to fix and never the token.
    pub fn new(
        token: &Secret,
        chat_id: &Secret,
        thread: Option<i64>,
        api_url: Option<&str>,
        templates: super::template::Templates,
    ) -> Result<Telegram, String> {
        let mut bot = Bot::new(token.expose());
        if let Some(u) = api_url {
            let url = reqwest::Url::parse(u).map_err(|e| format!("api_url: {e}"))?;
            bot = bot.set_api_url(url);
        }
        let c = chat_id.expose().trim();
        if !crate::config::chat_id_ok(c) {
            return Err("chat_id must be a number or @channelname".into());
        }
        let chat = match c.parse::<i64>() {
            Ok(id) => Recipient::Id(ChatId(id)),
            Err(_) => Recipient::ChannelUsername(c.to_string()),
        };
        let thread = thread.map(|t| ThreadId(MessageId(t as i32)));
        Ok(Telegram {
            bot,
            chat,
            thread,
            templates,
        })
    }

    /// Sends one notice.
    pub async fn send(&self, n: &Notification, now: crate::clock::Ts) -> Result<(), NotifyError> {
        let text = self.templates.text(n, now);
        let mut req = self.bot.send_message(self.chat.clone(), truncate(&text));
        if let Some(t) = self.thread {
            req = req.message_thread_id(t);
        }
        match req.await {
            Ok(_) => Ok(()),
            Err(RequestError::RetryAfter(s)) => {
                Err(NotifyError::retry_after(s.duration().as_secs_f64()))
            }
            Err(RequestError::Api(ApiError::Unknown(e))) => Err(NotifyError::retry(
                FailureReason::ServerError,
                crate::redact::redact(&e),
            )),
            Err(RequestError::Api(e)) => {
                let reason = match e {
                    ApiError::InvalidToken => FailureReason::AuthError,
                    _ => FailureReason::ClientError,
                };
                Err(NotifyError::permanent(
                    reason,
                    crate::redact::redact(&e.to_string()),
                ))
            }
            // The URL holds the token: keep only what failed.
            Err(RequestError::Network(e)) => Err(NotifyError::retry(
                if e.is_timeout() {
                    FailureReason::Timeout
                } else {
                    FailureReason::Network
                },
                format!(
                    "network error talking to the Bot API{}",
                    if e.is_timeout() { " (timeout)" } else { "" }
                ),
            )),
            Err(e) => Err(NotifyError::retry(
                FailureReason::Other,
                crate::redact::redact(&e.to_string()),
            )),
        }
    }
}

/// Cuts a text to Telegram's limit, marking the cut.
pub fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_CHARS {
        return text.to_string();
    }
    let mut s: String = text.chars().take(MAX_CHARS - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_fit_telegram() {
        let long = "é".repeat(5000);
        let t = truncate(&long);
        assert_eq!((t.chars().count(), t.ends_with('…')), (4096, true));
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn config_errors_never_show_the_token() {
        let e = Telegram::new(
            &Secret::new("123456:SECRETTOKEN"),
            &Secret::new("not-a-chat"),
            None,
            None,
            crate::alert::template::Templates::new(None, None).unwrap(),
        )
        .unwrap_err();
        assert!(!e.contains("SECRET"), "{e}");
    }
}
