//! The at-a-glance table of `clawwatch status`, from `/health/detail`.

use serde_json::Value;
use std::fmt::Write as _;

/// Renders `/health/detail` as a table.
pub fn render(doc: &Value, now: f64) -> String {
    let mut out = String::new();
    let gw = &doc["gateway"];
    let _ = writeln!(
        out,
        "status {}  gateway {} {}{}",
        doc["status"].as_str().unwrap_or("?"),
        gw["url"].as_str().unwrap_or("?"),
        if gw["up"].as_bool() == Some(true) {
            "up"
        } else {
            "down"
        },
        gw["error"]
            .as_str()
            .map(|e| format!(" ({e})"))
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
                    ch.clone(),
                    a["account"].as_str().unwrap_or("").to_string(),
                    a["state"].as_str().unwrap_or("").to_string(),
                    ago,
                    a["reason"].as_str().unwrap_or("-").to_string(),
                    a["reconnect_attempts"]
                        .as_u64()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                ]);
            }
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
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
