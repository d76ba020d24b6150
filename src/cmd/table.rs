//! The at-a-glance table of `clawwatch status`, from `/health/detail`.

use serde_json::Value;
use std::fmt::Write as _;

/// Text from the server, safe for a terminal: control characters (ESC,
/// CR, NUL, ...) and direction overrides are shown escaped, never sent raw.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Renders `/health/detail` as a table.
pub fn render(doc: &Value, now: f64) -> String {
    let mut out = String::new();
    let gw = &doc["gateway"];
    let _ = writeln!(
        out,
        "status {}  gateway {} {}{}",
        clean(doc["status"].as_str().unwrap_or("?")),
        clean(gw["url"].as_str().unwrap_or("?")),
        if gw["up"].as_bool() == Some(true) {
            "up"
        } else {
            "down"
        },
        gw["error"]
            .as_str()
            .map(|e| format!(" ({})", clean(e)))
            .unwrap_or_default(),
    );
    let mut rows = vec![[
        "CHANNEL",
        "ACCOUNT",
        "STATE",
        "SINCE",
        "REASON",
        "RECONNECTS",
    ]
    .map(String::from)];
    if let Some(accts) = doc["accounts"].as_object() {
        for (ch, list) in accts {
            for a in list.as_array().into_iter().flatten() {
                let since = a["since"].as_str().unwrap_or("");
                let ago = humantime::parse_rfc3339_weak(since)
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| ago(now - d.as_secs_f64()))
                    .unwrap_or_default();
                rows.push([
                    clean(ch),
                    clean(a["account"].as_str().unwrap_or("")),
                    clean(a["state"].as_str().unwrap_or("")),
                    ago,
                    clean(a["reason"].as_str().unwrap_or("-")),
                    a["reconnect_attempts"]
                        .as_u64()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                ]);
            }
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn ago(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_from_the_server_are_escaped() {
        let doc = serde_json::json!({"status":"ok\u{1b}[2J","gateway":{"url":"ws://x","up":false,"error":"a\rb"},
            "accounts":{"tele\u{0}gram":[{"account":"ops\u{202e}x","state":"connected\n","since":"","reason":"r\u{7}"}]}});
        let out = render(&doc, 0.0);
        assert_eq!(
            out,
            "status ok\\u{1b}[2J  gateway ws://x down (a\\u{d}b)\nCHANNEL        ACCOUNT       STATE           SINCE  REASON  RECONNECTS\ntele\\u{0}gram  ops\\u{202e}x  connected\\u{a}         r\\u{7}\n"
        );
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'));
    }

    #[test]
    fn table() {
        let doc = serde_json::json!({"status":"degraded","gateway":{"url":"ws://127.0.0.1:18789","up":true},
            "accounts":{"whatsapp":[{"account":"default","state":"auth_required","since":"2026-11-26T11:58:02Z","reason":"logged_out","reconnect_attempts":3}]}});
        let now = 1_795_694_282.0 + 125.0; // 2026-11-26T11:58:02Z + 125 s
        assert_eq!(
            render(&doc, now),
            "status degraded  gateway ws://127.0.0.1:18789 up\nCHANNEL   ACCOUNT  STATE          SINCE   REASON      RECONNECTS\nwhatsapp  default  auth_required  2m ago  logged_out  3\n"
        );
    }
}
