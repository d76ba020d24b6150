//! Scrubs secrets and personal numbers from free text before it is shown:
//! gateway errors can quote URLs with bot tokens, chat ids or phone numbers.

use base64::Engine as _;
use regex::Regex;
use std::sync::{LazyLock, RwLock};

/// Secret values this process holds (tokens, passwords, chat ids), and
/// their base64 forms: an upstream may echo one back in any shape.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());
const MAX_KNOWN: usize = 256;
const MIN_KNOWN_LEN: usize = 4;

/// Remembers a secret so that [`redact`] removes it wherever it appears.
pub fn learn(secret: &str) {
    let secret = secret.trim();
    if secret.len() >= MIN_KNOWN_LEN {
        remember([secret.to_string(), b64(secret)]);
    }
}

/// Remembers SMTP credentials, also as the `AUTH PLAIN` and `AUTH LOGIN`
/// lines a server may quote.
pub fn learn_login(user: &str, password: &str) {
    learn(password);
    remember([b64(&format!("\0{user}\0{password}"))]);
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn remember(values: impl IntoIterator<Item = String>) {
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for v in values {
        if known.len() < MAX_KNOWN && !known.contains(&v) {
            known.push(v);
        }
    }
    // Longest first, so a secret inside another is not cut in half.
    known.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

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
    for v in KNOWN.read().unwrap_or_else(|e| e.into_inner()).iter() {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "<redacted>");
        }
    }
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
    fn known_secrets_go_in_any_shape() {
        learn("hunter2-smtp-password");
        learn_login("clawwatch", "s3cr3t-pass");
        let reply = format!(
            "535 5.7.8 auth failed: {} / {} / {}",
            "hunter2-smtp-password",
            base64::engine::general_purpose::STANDARD.encode("hunter2-smtp-password"),
            base64::engine::general_purpose::STANDARD.encode("\0clawwatch\0s3cr3t-pass"),
        );
        assert_eq!(
            redact(&reply),
            "535 5.7.8 auth failed: <redacted> / <redacted> / <redacted>"
        );
        learn("ab");
        assert_eq!(redact("ab cd"), "ab cd", "too short to learn");
    }

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
