//! From the log line (and from the state change it causes) that triggers an
//! alert with no for-duration to the notice at a real SMTP server on
//! loopback (aiosmtpd, `tests/py/smtp_sink.py`). Each sample is a different
//! account of a 400-account fleet, so each is a new alert and a new mail.
//! Prints median and p99; the target is p99 under 1 s.
//! `cargo bench --bench alert_latency` (needs `pip install aiosmtpd`).

use std::io::{BufRead, Write};
use std::time::Duration;

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mail_log = dir.path().join("mail.jsonl");
    let mut smtp = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/smtp_sink.py"
        ))
        .arg(port.to_string())
        .arg(&mail_log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(smtp.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "ready", "pip install aiosmtpd");

    let log = dir.path().join("openclaw-2026-11-26.log");
    std::fs::write(&log, "").unwrap();
    let sim = clawwatch::simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        clawwatch::simulate::Options {
            scenario: "fleet".into(),
            fleet_size: 400,
            token: Some("t".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let cfg = clawwatch::config::parse(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
[gateway]
url = "ws://{}"
token = "t"
poll_interval = "1s"
[logs]
paths = ["{}/openclaw-*.log"]
[[rules]]
name = "token-rejected-probe"
keywords = ["LATENCY-PROBE"]
state = "auth_required"
reason = "auth_failed"
[[integrations]]
name = "mail"
type = "email"
smtp = "smtp://127.0.0.1:{port}"
from = "clawwatch@example.org"
to = ["oncall@example.org"]
"#,
        sim.addr,
        dir.path().display()
    ))
    .unwrap();
    let side = clawwatch::app::start(cfg, Some(dir.path().join("state")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    // Let the fleet's own failures (5 s in) come and go.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let accounts: Vec<String> = (0..400)
        .filter(|i| i % 3 == 1 && i % 97 != 1)
        .map(|i| format!("acct-{i:04}"))
        .take(100)
        .collect();
    let (mut from_line, mut from_change) = (Vec::new(), Vec::new());
    for acct in &accounts {
        let line = format!(
            "{{\"0\":\"{{\\\"subsystem\\\":\\\"gateway/channels/telegram\\\"}}\",\"1\":\"[{acct}] LATENCY-PROBE bot token rejected\",\"_meta\":{{\"logLevelName\":\"ERROR\"}},\"message\":\"[{acct}] LATENCY-PROBE bot token rejected\"}}\n"
        );
        let subject = format!("telegram account {acct} needs");
        let t0 = now();
        f.write_all(line.as_bytes()).unwrap();
        let mail_t = loop {
            let text = std::fs::read_to_string(&mail_log).unwrap_or_default();
            if let Some(t) = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|m| m["data"].as_str().unwrap_or("").contains(&subject))
                .and_then(|m| m["t"].as_f64())
            {
                break t;
            }
            assert!(now() - t0 < 10.0, "no mail for {acct}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let hist: serde_json::Value = reqwest::get(format!(
            "{base}/api/v1/history?channel=telegram&account={acct}&limit=5"
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let changed = hist
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "transition" && e["to"] == "auth_required")
            .and_then(|e| e["at"].as_str())
            .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
            .map(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64()
            })
            .expect("the transition in the history");
        from_line.push((mail_t - t0) * 1e3);
        from_change.push((mail_t - changed) * 1e3);
    }
    let n = from_line.len();
    println!(
        "log line -> mail at SMTP:      median {:.1} ms  p99 {:.1} ms  ({n} alerts)",
        pct(&mut from_line, 0.5),
        pct(&mut from_line, 0.99)
    );
    println!(
        "state change -> mail at SMTP:  median {:.1} ms  p99 {:.1} ms  (target: p99 under 1000 ms)",
        pct(&mut from_change, 0.5),
        pct(&mut from_change, 0.99)
    );
    side.cancel.cancel();
    sim.cancel.cancel();
    let _ = smtp.kill();
    let _ = smtp.wait();
}
