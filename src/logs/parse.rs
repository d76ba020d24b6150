//! One OpenClaw log line to (level, message, logger bindings), without a
//! full JSON parse on the hot path: the `message` key is found with memmem
//! and only its string is decoded. Anything else falls back to serde_json,
//! and a line that is not JSON is its own message.

use memchr::memmem;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::LazyLock;

/// Log level (tslog's `logLevelName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// TRACE
    Trace,
    /// DEBUG
    Debug,
    /// INFO
    Info,
    /// WARN
    Warn,
    /// ERROR
    Error,
    /// FATAL
    Fatal,
    /// Not JSON, or no level.
    Unknown,
}

impl Level {
    /// All levels, for metrics.
    pub const ALL: [Level; 7] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
        Level::Unknown,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
            Level::Unknown => "unknown",
        }
    }

    /// Parses `INFO`, `warn`, ...
    pub fn parse(s: &[u8]) -> Level {
        match s.to_ascii_lowercase().as_slice() {
            b"trace" => Level::Trace,
            b"debug" => Level::Debug,
            b"info" => Level::Info,
            b"warn" | b"warning" => Level::Warn,
            b"error" => Level::Error,
            b"fatal" => Level::Fatal,
            _ => Level::Unknown,
        }
    }

    /// Index into [`Level::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A parsed line; borrows from the input where no escape needed decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// Level, `Unknown` for text lines.
    pub level: Level,
    /// The decoded message text (the whole line when not JSON).
    pub message: Cow<'a, [u8]>,
    /// Decoded logger bindings (`"0"`), e.g. `{"subsystem":"channels/telegram"}`.
    pub bindings: Option<Cow<'a, [u8]>>,
}

static MESSAGE: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"message\":\""));
static LEVEL: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"logLevelName\":\""));

/// Decodes the JSON string starting right after its opening quote. Returns
/// the text and the index after the closing quote.
fn json_str(buf: &[u8]) -> Option<(Cow<'_, [u8]>, usize)> {
    let end = memchr::memchr2(b'"', b'\\', buf)?;
    if buf[end] == b'"' {
        return Some((Cow::Borrowed(&buf[..end]), end + 1));
    }
    let mut out = Vec::with_capacity(buf.len().min(1024));
    out.extend_from_slice(&buf[..end]);
    let mut i = end;
    while i < buf.len() {
        match buf[i] {
            b'"' => return Some((Cow::Owned(out), i + 1)),
            b'\\' => {
                let c = *buf.get(i + 1)?;
                i += 2;
                match c {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'u' => {
                        let hex = |s: &[u8]| {
                            std::str::from_utf8(s)
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                        };
                        let mut cp = hex(buf.get(i..i + 4)?)?;
                        i += 4;
                        if (0xD800..0xDC00).contains(&cp) && buf.get(i..i + 2) == Some(b"\\u") {
                            if let Some(lo) = buf.get(i + 2..i + 6).and_then(hex) {
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3FF);
                                i += 6;
                            }
                        }
                        let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                        let mut b = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                    }
                    other => out.push(other),
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// Parses one line (without its newline).
pub fn parse(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let trimmed = line.trim_ascii_start();
    if !trimmed.starts_with(b"{") {
        return Line {
            level: Level::Unknown,
            message: Cow::Borrowed(line),
            bindings: None,
        };
    }
    // tslog writes "message" last; a nested key of the same name comes earlier.
    if let Some(at) = MESSAGE.find_iter(trimmed).last() {
        if let Some((message, _)) = json_str(&trimmed[at + 11..]) {
            let level = LEVEL
                .find(trimmed)
                .and_then(|p| json_str(&trimmed[p + 16..]))
                .map(|(l, _)| Level::parse(&l))
                .unwrap_or(Level::Unknown);
            let bindings = trimmed
                .strip_prefix(b"{\"0\":\"")
                .and_then(json_str)
                .map(|(b, _)| b);
            return Line {
                level,
                message,
                bindings,
            };
        }
    }
    slow(line)
}

fn slow(line: &[u8]) -> Line<'_> {
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        return Line {
            level: Level::Unknown,
            message: Cow::Borrowed(line),
            bindings: None,
        };
    };
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
    };
    let message = text("message").or_else(|| text("msg")).or_else(|| {
        if v["1"].is_string() {
            text("1")
        } else {
            text("2")
        }
    });
    let level = v
        .pointer("/_meta/logLevelName")
        .or(v.get("level"))
        .and_then(Value::as_str)
        .map(|l| Level::parse(l.as_bytes()))
        .unwrap_or(Level::Unknown);
    Line {
        level,
        message: message.map(Cow::Owned).unwrap_or(Cow::Borrowed(line)),
        bindings: text("0").map(Cow::Owned),
    }
}

/// The `subsystem` (or `module`) named in decoded bindings.
pub fn binding<'a>(bindings: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let pat = format!("\"{key}\":\"");
    let at = memmem::find(bindings, pat.as_bytes())? + pat.len();
    let end = memchr::memchr(b'"', &bindings[at..])?;
    Some(&bindings[at..at + end])
}

/// OpenClaw's channel ids, for attribution without a gateway.
pub const KNOWN_CHANNELS: [&str; 20] = [
    "whatsapp",
    "telegram",
    "discord",
    "slack",
    "signal",
    "imessage",
    "bluebubbles",
    "googlechat",
    "msteams",
    "matrix",
    "mattermost",
    "line",
    "irc",
    "nostr",
    "zalo",
    "zalouser",
    "feishu",
    "nextcloud-talk",
    "tlon",
    "twitch",
];

/// Who a line is about: (channel, account), per SPEC's attribution table.
pub fn attribute<'a>(
    line: &'a Line<'_>,
    known: &dyn Fn(&str) -> bool,
) -> (Option<String>, Option<String>) {
    let msg = &line.message[..];
    let b = line.bindings.as_deref().unwrap_or(b"");
    let sub = binding(b, "subsystem").and_then(|s| std::str::from_utf8(s).ok());
    if sub == Some("gateway/health-monitor") {
        if let Some((ch, acct)) = bracket(msg).and_then(|p| p.split_once(':')) {
            if known(ch) {
                return (Some(ch.to_string()), Some(acct.to_string()));
            }
        }
        return (None, None);
    }
    let channel = sub.and_then(|s| {
        let rest = s
            .strip_prefix("gateway/channels/")
            .or_else(|| s.strip_prefix("channels/"))
            .unwrap_or(s);
        let ch = rest.split('/').next().unwrap_or("");
        known(ch).then(|| ch.to_string())
    });
    let channel = channel.or_else(|| {
        let m = binding(b, "module")?;
        matches!(m, b"web-reconnect" | b"web-heartbeat" | b"web-inbound")
            .then(|| "whatsapp".to_string())
    });
    let Some(channel) = channel else {
        return (None, None);
    };
    let account = bracket(msg)
        .filter(|a| !known(a) && !a.contains(':'))
        .map(str::to_owned);
    (Some(channel), account)
}

/// The `[...]` prefix of a message.
fn bracket(msg: &[u8]) -> Option<&str> {
    let rest = msg.strip_prefix(b"[")?;
    let end = memchr::memchr(b']', rest)?;
    std::str::from_utf8(&rest[..end])
        .ok()
        .filter(|s| !s.is_empty() && !s.contains(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_decodes_escapes() {
        let l = br#"{"0":"{\"subsystem\":\"channels/telegram\"}","1":"[default] a \"q\" \u00e9\n","_meta":{"logLevelName":"WARN"},"message":"[default] a \"q\" \u00e9\n"}"#;
        let p = parse(l);
        assert_eq!(p.level, Level::Warn);
        assert_eq!(&p.message[..], "[default] a \"q\" é\n".as_bytes());
        assert_eq!(
            p.bindings.as_deref(),
            Some(&br#"{"subsystem":"channels/telegram"}"#[..])
        );
        let known = |c: &str| KNOWN_CHANNELS.contains(&c);
        assert_eq!(
            attribute(&p, &known),
            (Some("telegram".into()), Some("default".into()))
        );
    }

    #[test]
    fn text_truncated_and_invalid_lines_are_messages() {
        assert_eq!(
            parse(b"plain text disconnect").message,
            Cow::Borrowed(&b"plain text disconnect"[..])
        );
        let cut = br#"{"0":"x","message":"half a li"#;
        let p = parse(cut);
        assert_eq!((p.level, &p.message[..]), (Level::Unknown, &cut[..]));
        let bad = b"{\"message\":\"\xff\xfe disconnect\"}";
        assert_eq!(&parse(bad).message[..], b"\xff\xfe disconnect");
    }

    #[test]
    fn attribution_table() {
        let known = |c: &str| KNOWN_CHANNELS.contains(&c);
        let mk = |b: &str, m: &str| Line {
            level: Level::Info,
            message: Cow::Owned(m.as_bytes().to_vec()),
            bindings: Some(Cow::Owned(b.as_bytes().to_vec())),
        };
        let cases = [
            (
                r#"{"subsystem":"gateway/health-monitor"}"#,
                "[telegram:default] health-monitor: skipping restart",
                Some("telegram"),
                Some("default"),
            ),
            (
                r#"{"subsystem":"gateway/channels/whatsapp"}"#,
                "[work] x",
                Some("whatsapp"),
                Some("work"),
            ),
            (
                r#"{"subsystem":"telegram/network"}"#,
                "fetch failed",
                Some("telegram"),
                None,
            ),
            (
                r#"{"subsystem":"channels/discord"}"#,
                "[discord] gateway: closed",
                Some("discord"),
                None,
            ),
            (
                r#"{"module":"web-reconnect","runId":"1"}"#,
                "web reconnect: connection closed",
                Some("whatsapp"),
                None,
            ),
            (r#"{"subsystem":"gateway/ws"}"#, "[ws] closed", None, None),
            (r#"{"subsystem":"plugins"}"#, "[telegram] x", None, None),
        ];
        for (b, m, ch, acct) in cases {
            let l = mk(b, m);
            assert_eq!(
                attribute(&l, &known),
                (ch.map(str::to_owned), acct.map(str::to_owned)),
                "{b} {m}"
            );
        }
    }
}
