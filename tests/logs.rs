//! The sidecar following log files live: counters in /metrics, rule matches
//! and transitions on /api/v1/events, and a "logged out" line turning
//! WhatsApp auth_required before the next poll.

mod common;
use clawwatch::simulate::{self, Options};
use common::*;
use std::io::Write;
use std::time::Duration;

fn line(sub: &str, level: &str, msg: &str) -> String {
    let b = serde_json::json!({ "subsystem": sub }).to_string();
    serde_json::json!({"0": b, "1": msg, "_meta": {"logLevelName": level, "name": b}, "time": "2026-11-26T12:00:00.000+00:00", "message": msg}).to_string() + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_out_line_beats_the_poll_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("openclaw-2026-11-26.log");
    std::fs::write(
        &log,
        line(
            "gateway",
            "INFO",
            "old line, read from the end on first start",
        ),
    )
    .unwrap();
    let sim = start_sim("steady", 1.0).await;
    let mut cfg = config(sim.addr);
    // Only the log can tell: no poll comes in time.
    cfg.gateway.poll_interval = Duration::from_secs(3600);
    cfg.logs.paths = vec![dir.path().join("openclaw-*.log").display().to_string()];
    let side = clawwatch::app::start(cfg, Some(dir.path().join("state")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let b = base.clone();
    wait_for(Duration::from_secs(10), "whatsapp connected", || {
        let b = b.clone();
        async move {
            (account(&try_health(&b).await?.1, "whatsapp", "default")?.0 == "connected")
                .then_some(())
        }
    })
    .await;

    let resp = reqwest::get(format!("{base}/api/v1/events")).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut sse = resp;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(line("gateway/channels/whatsapp", "ERROR", "[default] WhatsApp session logged out. Run `openclaw channels login --channel whatsapp` to relink.").as_bytes()).unwrap();
    f.write_all(
        line(
            "channels/telegram",
            "INFO",
            "[default] auto-restart skipped, terminal disconnect",
        )
        .as_bytes(),
    )
    .unwrap();
    f.write_all(b"not json at all, a disconnect\n").unwrap();
    drop(f);

    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(got.contains("\"kind\":\"transition\"")
        && got.matches("\"rule\":\"disconnect\"").count() == 2)
    {
        let chunk = tokio::time::timeout_at(deadline, sse.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        got.contains(r#""channel":"whatsapp""#)
            && got.contains(r#""to":"auth_required""#)
            && got.contains(r#""reason":"logged_out""#),
        "{got}"
    );
    let (_, doc) = health(&base).await;
    assert_eq!(
        account(&doc, "whatsapp", "default"),
        Some(("auth_required".into(), Some("logged_out".into())))
    );
    // The history names the rule next to the transition it caused.
    let (_, h) = get(&format!("{base}/api/v1/history?channel=whatsapp")).await;
    let h: serde_json::Value = serde_json::from_str(&h).unwrap();
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[..3], ["disconnect", "transition", "log_rule"], "{h}");
    let rule = &h[2];
    assert_eq!(
        (&rule["rule"], &rule["to"], &rule["reason"]),
        (
            &serde_json::json!("logged_out"),
            &serde_json::json!("auth_required"),
            &serde_json::json!("logged_out")
        )
    );
    let m = metrics(&base).await;
    assert_eq!(
        sample(&m, "openclaw_log_lines_total", &[("level", "error")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "openclaw_log_lines_total", &[("level", "info")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "openclaw_log_lines_total", &[("level", "unknown")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_log_rule_matches_total",
            &[("rule", "disconnect"), ("channel", "telegram")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_log_rule_matches_total",
            &[("rule", "disconnect"), ("channel", "")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_log_rule_matches_total",
            &[("rule", "logged_out"), ("channel", "whatsapp")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_disconnects_total",
            &[
                ("channel", "whatsapp"),
                ("account", "default"),
                ("reason", "logged_out")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&m, "clawwatch_log_lag_bytes", &[]), Some(0.0));
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_reconnect_lines_count_as_reconnect_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim("steady", 1.0).await;
    let mut cfg = config(sim.addr);
    cfg.logs.paths = vec![dir.path().join("openclaw-*.log").display().to_string()];
    let side = clawwatch::app::start(cfg, Some(dir.path().join("state")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let b = base.clone();
    wait_for(Duration::from_secs(10), "steady", || {
        let b = b.clone();
        async move { (try_health(&b).await?.1["status"] == "ok").then_some(()) }
    })
    .await;
    // A file that appears after the start is read from its start.
    let mut text = String::new();
    for _ in 0..3 {
        text += &line(
            "channels/discord",
            "INFO",
            "discord gateway: Gateway websocket closed: 1006",
        );
        text += &line(
            "channels/discord",
            "INFO",
            "discord gateway: Gateway reconnect scheduled in 2000ms (close, resume=true)",
        );
    }
    std::fs::write(dir.path().join("openclaw-2026-11-26.log"), text).unwrap();
    let b = base.clone();
    let m = wait_for(Duration::from_secs(10), "six lines", || {
        let b = b.clone();
        async move {
            let m = reqwest::get(format!("{b}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            // Lines are counted by the log reader, reconnects by the state
            // task after it: wait for both.
            let reconnects = sample(
                &m,
                "openclaw_channel_reconnect_attempts_total",
                &[("channel", "discord"), ("account", "default")],
            );
            (sample(&m, "openclaw_log_lines_total", &[("level", "info")]) == Some(6.0)
                && reconnects >= Some(3.0))
            .then_some(m)
        }
    })
    .await;
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_reconnect_attempts_total",
            &[("channel", "discord"), ("account", "default")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_log_rule_matches_total",
            &[("rule", "connection_closed"), ("channel", "discord")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_log_rule_matches_total",
            &[("rule", "disconnect"), ("channel", "discord")]
        ),
        None
    );
    assert_eq!(
        sample(&m, "clawwatch_log_rotations_total", &[("kind", "new_file")]),
        Some(1.0)
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_logs_rotate_and_every_line_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The sidecar starts first, so that every simulator line is a new line.
    let mut cfg = config(addr);
    cfg.gateway.poll_interval = Duration::from_millis(200);
    cfg.logs.paths = vec![logs.join("openclaw-*.log").display().to_string()];
    let side = clawwatch::app::start(cfg, Some(dir.path().join("state")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sim = simulate::start(
        addr,
        Options {
            scenario: "cycle".into(),
            token: Some(TOKEN.into()),
            speed: 20.0,
            log_dir: Some(logs.clone()),
            log_max_bytes: 8192,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    sim.cancel.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut on_disk = 0;
    let mut files = 0;
    for f in std::fs::read_dir(&logs).unwrap() {
        on_disk += std::fs::read_to_string(f.unwrap().path())
            .unwrap()
            .lines()
            .count();
        files += 1;
    }
    assert!(
        (3..=6).contains(&files),
        "{files} files: rotation should have happened and deleted nothing"
    );
    let m = metrics(&base).await;
    assert_eq!(sum(&m, "openclaw_log_lines_total", &[]), on_disk as f64);
    assert_eq!(
        sample(&m, "clawwatch_log_rotations_total", &[("kind", "rename")]),
        Some((files - 1) as f64)
    );
    assert!(
        sum(
            &m,
            "openclaw_log_rule_matches_total",
            &[("rule", "disconnect")]
        ) >= 1.0
    );
    side.cancel.cancel();
}
