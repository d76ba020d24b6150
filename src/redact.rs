//! Scrubs secrets and personal numbers from free text before it is shown:
//! gateway errors can quote URLs with bot tokens, chat ids or phone numbers.

use regex::Regex;
use std::sync::LazyLock;

static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    vec![
        // Telegram bot tokens, bare or inside /bot<token>/ URLs.
        (
            Regex::new(r"\d{6,12}:[A-Za-z0-9_-]{20,}").expect("valid"),
            "<redacted-token>",
        ),
        // Discord bot tokens (three dot-separated base64 parts).
        (
            Regex::new(r"\b[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")
                .expect("valid"),
            "<redacted-token>",
        ),
        // Bearer / token= values.
        (
            Regex::new(r"(?i)(bearer\s+|token[=:]\s*)[^\s,;&]+").expect("valid"),
            "${1}<redacted>",
        ),
        // URL credentials.
        (
            Regex::new(r"://[^/\s:@]+:[^/\s@]+@").expect("valid"),
            "://<redacted>@",
        ),
        // Chat ids (negative group ids too).
        (
            Regex::new(r"(?i)(chat_?id[=: ]+)-?\d+").expect("valid"),
            "${1}<redacted>",
        ),
        // Phone numbers and WhatsApp JIDs.
        (
            Regex::new(r"\+\d{7,15}\b|\b\d{7,15}@[a-z.]+").expect("valid"),
            "<redacted-number>",
        ),
    ]
});

/// Returns `text` with tokens, chat ids and phone numbers replaced.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for (re, with) in PATTERNS.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *with).into_owned();
        }
    }
    out
}

/// A URL without credentials, query or fragment.
pub fn display_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    match (no_query.find("://"), no_query.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &no_query[..s + 3], &no_query[at + 1..]),
        _ => no_query.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_tokens_numbers_and_chat_ids() {
        assert_eq!(
            redact("GET https://api.telegram.org/bot123456789:AAFakeTelegramTokenForTesting_0000000/getMe failed (401)"),
            "GET https://api.telegram.org/bot<redacted-token>/getMe failed (401)"
        );
        assert_eq!(
            redact("send to +15551234567 failed"),
            "send to <redacted-number> failed"
        );
        assert_eq!(redact("chatId=-1001234567890 x"), "chatId=<redacted> x");
        assert_eq!(
            redact("Telegram bot token unauthorized for account \"default\" (getMe returned 401 from Telegram; source: config token)"),
            "Telegram bot token unauthorized for account \"default\" (getMe returned 401 from Telegram; source: config token)"
        );
        assert_eq!(
            redact("Gateway reconnect scheduled in 4000ms"),
            "Gateway reconnect scheduled in 4000ms"
        );
        assert_eq!(
            redact("a frame of 10485762 bytes"),
            "a frame of 10485762 bytes"
        );
        assert_eq!(
            redact("jid 15551234567@s.whatsapp.net closed"),
            "jid <redacted-number> closed"
        );
    }

    #[test]
    fn urls_lose_credentials() {
        assert_eq!(
            display_url("ws://u:p@127.0.0.1:18789/x?token=a"),
            "ws://127.0.0.1:18789/x"
        );
    }
}
