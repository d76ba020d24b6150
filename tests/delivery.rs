//! Delivery end to end, on loopback, against the real receivers: a real
//! SMTP server (aiosmtpd), the Bot API emulator, a webhook receiver and a
//! real Alertmanager. A simulated WhatsApp logout gives exactly one firing
//! and one resolved notice per integration, and nothing under a silence; an
//! outage of SMTP and the Bot API with a SIGKILL in the middle loses and
//! repeats nothing; no secret shows anywhere.

mod common;
use clawwatch::config::{IntegrationConfig, Secret};
use common::*;
use serde_json::Value;
use std::time::Duration;

const BOT_TOKEN: &str = "123456789:AAGOOD_FakeTelegramTokenForTesting_000000";
const CHAT_ID: &str = "-1001234567890";
const HMAC: &str = "hmac-s3cret-for-the-hook";

fn count_by_status(items: &[Value], status_of: impl Fn(&Value) -> String) -> (usize, usize) {
    let s: Vec<String> = items.iter().map(status_of).collect();
    (
        s.iter().filter(|x| x.as_str() == "firing").count(),
        s.iter().filter(|x| x.as_str() == "resolved").count(),
    )
}

/// Email to the SMTP sink on `port`.
fn mail_integration(port: u16) -> IntegrationConfig {
    IntegrationConfig {
        name: "mail".into(),
        kind: "email".into(),
        smtp: Some(format!("smtp://127.0.0.1:{port}")),
        from: Some("clawwatch@example.org".into()),
        to: vec!["oncall@example.org".into()],
        ..Default::default()
    }
}

/// Telegram through the Bot API emulator at `api`.
fn tg_integration(api: &str) -> IntegrationConfig {
    IntegrationConfig {
        name: "tg".into(),
        kind: "telegram".into(),
        bot_token: Some(Secret::new(BOT_TOKEN)),
        chat_id: Some(Secret::new(CHAT_ID)),
        api_url: Some(api.into()),
        ..Default::default()
    }
}

fn mail_status(m: &Value) -> String {
    match subject(m) {
        Some(s) if s.starts_with("[FIRING]") => "firing".into(),
        Some(s) if s.starts_with("[RESOLVED]") => "resolved".into(),
        _ => "other".into(),
    }
}

fn tg_status(m: &Value) -> String {
    let t = m["params"]["text"].as_str().unwrap_or("");
    if t.starts_with("🔥 FIRING") {
        "firing".into()
    } else if t.starts_with("✅ RESOLVED") {
        "resolved".into()
    } else {
        "other".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_firing_one_resolved_per_integration_and_nothing_when_silenced() {
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let mail_log = dir.path().join("mail.jsonl");
    let Some(_smtp) = smtp_sink(smtp_port, &mail_log) else {
        return;
    };
    let Some((_tg, api)) = mock_telegram().await else {
        return;
    };
    let Some((_am, am)) = alertmanager(dir.path()).await else {
        return;
    };
    let (hook_url, hook) = webhook_sink(0).await;
    let integrations = vec![
        mail_integration(smtp_port),
        tg_integration(&api),
        IntegrationConfig {
            name: "hook".into(),
            kind: "webhook".into(),
            url: Some(hook_url),
            hmac_secret: Some(Secret::new(HMAC)),
            ..Default::default()
        },
        IntegrationConfig {
            name: "am".into(),
            kind: "alertmanager".into(),
            url: Some(am.clone()),
            ..Default::default()
        },
    ];

    // 1. Logout and relink: one firing and one resolved notice each.
    let sim = start_sim("whatsapp-logged-out", 5.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = integrations.clone();
    let side = clawwatch::app::start(cfg, Some(dir.path().join("state1")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let am_seen = wait_for(Duration::from_secs(30), "the alert in Alertmanager", || {
        let am = am.clone();
        async move { am_active(&am).await.filter(|v| !v.is_empty()) }
    })
    .await;
    assert_eq!(
        am_seen[0]["labels"]["alertname"],
        "OpenClawChannelAuthRequired"
    );
    wait_for(Duration::from_secs(30), "every notice sent", || {
        let base = base.clone();
        async move {
            let m = metrics(&base).await;
            (sum(&m, "clawwatch_notifications_total", &[("result", "sent")]) >= 8.0).then_some(())
        }
    })
    .await;
    // Anything more would have arrived by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = metrics(&base).await;
    for i in ["mail", "tg", "hook", "am"] {
        assert_eq!(
            sample(
                &m,
                "clawwatch_notifications_total",
                &[("integration", i), ("result", "sent")]
            ),
            Some(2.0),
            "{i}"
        );
    }
    assert_eq!(count_by_status(&mails(&mail_log), mail_status), (1, 1));
    let tg = telegram_sent(&api).await.unwrap();
    assert_eq!(count_by_status(&tg, tg_status), (1, 1));
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(
        count_by_status(&got, |b| b["status"].as_str().unwrap().into()),
        (1, 1)
    );
    assert!(
        am_active(&am).await.unwrap().is_empty(),
        "resolved in Alertmanager"
    );
    // The webhook body is signed with the shared secret.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, HMAC.as_bytes());
    for (raw, h) in hook
        .raw
        .lock()
        .unwrap()
        .iter()
        .zip(hook.headers.lock().unwrap().iter())
    {
        let sig = h["x-clawwatch-signature"].to_str().unwrap();
        let hex = sig.strip_prefix("sha256=").unwrap();
        let tag: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        ring::hmac::verify(&key, raw, &tag).expect("valid signature");
    }
    side.cancel.cancel();
    sim.cancel.cancel();

    // 2. The same under a silence: the alert fires, muted, and nothing goes out.
    let sim = start_sim("whatsapp-logged-out", 2.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = integrations;
    let side = clawwatch::app::start(cfg, Some(dir.path().join("state2")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{base}/api/v1/silences"))
        .json(&serde_json::json!({"matchers": ["channel=whatsapp"], "duration": "10m", "comment": "relinking"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["silenceID"]
        .as_str()
        .unwrap()
        .to_string();
    let listed: Value = c
        .get(format!("{base}/api/v1/silences"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            listed[0]["id"].as_str(),
            listed[0]["status"].as_str(),
            listed[0]["comment"].as_str()
        ),
        (Some(id.as_str()), Some("active"), Some("relinking"))
    );
    wait_for(Duration::from_secs(20), "the alert, silenced", || {
        let base = base.clone();
        async move {
            let v: Value = reqwest::get(format!("{base}/api/v1/alerts"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v.as_array()?
                .iter()
                .any(|a| a["alert"] == "OpenClawChannelAuthRequired" && a["silenced"] == true)
                .then_some(())
        }
    })
    .await;
    wait_state(
        &base,
        "whatsapp",
        "default",
        "connected",
        Duration::from_secs(30),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = metrics(&base).await;
    assert_eq!(sum(&m, "clawwatch_notifications_total", &[]), 0.0, "{m}");
    assert_eq!(mails(&mail_log).len(), 2);
    assert_eq!(telegram_sent(&api).await.unwrap().len(), 2);
    assert_eq!(hook.got.lock().unwrap().len(), 2);
    assert!(am_active(&am).await.unwrap().is_empty());
    // Expire: listed as expired; unknown ids are a 404.
    let r = c
        .delete(format!("{base}/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "expired");
    let r = c
        .delete(format!("{base}/api/v1/silences/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .post(format!("{base}/api/v1/silences"))
        .json(&serde_json::json!({"matchers": ["chanel=whatsapp"], "duration": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("no label \"chanel\""));
    side.cancel.cancel();
    sim.cancel.cancel();
}

fn sidecar_config(
    dir: &std::path::Path,
    listen: u16,
    gw: std::net::SocketAddr,
    smtp: u16,
    tg: u16,
) -> std::path::PathBuf {
    std::fs::write(dir.join("bot-token"), format!("{BOT_TOKEN}\n")).unwrap();
    std::fs::write(dir.join("chat-id"), CHAT_ID).unwrap();
    std::fs::write(dir.join("gw-token"), TOKEN).unwrap();
    let p = dir.join("clawwatch.toml");
    std::fs::write(
        &p,
        format!(
            r#"
[server]
listen = "127.0.0.1:{listen}"

[gateway]
url = "ws://{gw}"
token_file = "{d}/gw-token"
poll_interval = "300ms"
openclaw_config = "{d}/none.json"

[logs]
paths = []
state_dir = "{d}/state"

[alerting]
notifications_failing_after = "1h"

[[integrations]]
name = "mail"
type = "email"
smtp = "smtp://127.0.0.1:{smtp}"
from = "clawwatch@example.org"
to = ["oncall@example.org"]

[[integrations]]
name = "tg"
type = "telegram"
bot_token_file = "{d}/bot-token"
chat_id_file = "{d}/chat-id"
api_url = "http://127.0.0.1:{tg}"
"#,
            d = dir.display()
        ),
    )
    .unwrap();
    p
}

fn spawn_sidecar(cfg: &std::path::Path, log: &std::path::Path) -> Kill {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(["run", "--config"])
            .arg(cfg)
            .env_remove("CLAWWATCH_GATEWAY_TOKEN")
            .env_remove("CLAWWATCH_GATEWAY_URL")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    )
}

async fn gauge(base: &str, name: &str) -> Option<f64> {
    let m = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    sample(&m, name, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_sigkill_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (listen, smtp_port, tg_port) = (free_port(), free_port(), free_port());
    let mail_log = dir.path().join("mail.jsonl");
    let side_log = dir.path().join("sidecar.log");
    // Logout 5 s in, relink 15 s in.
    let sim = start_sim("whatsapp-logged-out", 2.0).await;
    let cfg = sidecar_config(dir.path(), listen, sim.addr, smtp_port, tg_port);
    let base = format!("http://127.0.0.1:{listen}");
    let mut side = spawn_sidecar(&cfg, &side_log);
    // SMTP and the Bot API are down: the firing notices wait in the outbox.
    wait_for(
        Duration::from_secs(30),
        "two firing notices queued, each tried",
        || {
            let base = base.clone();
            async move {
                let m = reqwest::get(format!("{base}/metrics"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                (sample(&m, "clawwatch_notification_queue_length", &[])? == 2.0
                    && sum(&m, "clawwatch_notifications_total", &[("result", "failed")]) >= 2.0)
                    .then_some(())
            }
        },
    )
    .await;
    side.0.kill().unwrap(); // SIGKILL
    side.0.wait().unwrap();
    let side = spawn_sidecar(&cfg, &side_log);
    // Restarted, it still knows the alert fires: no resolve before the relink.
    wait_state(
        &base,
        "whatsapp",
        "default",
        "auth_required",
        Duration::from_secs(20),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        gauge(&base, "clawwatch_notification_queue_length").await,
        Some(2.0)
    );
    // The restarted sidecar has them, sees the relink, and queues the resolves.
    wait_for(
        Duration::from_secs(40),
        "four notices queued after the restart",
        || {
            let base = base.clone();
            async move {
                (gauge(&base, "clawwatch_notification_queue_length").await? == 4.0).then_some(())
            }
        },
    )
    .await;
    assert_eq!(
        sum(
            &metrics(&base).await,
            "clawwatch_notifications_total",
            &[("result", "sent")]
        ),
        0.0
    );
    // Both come back.
    let Some(_smtp) = smtp_sink(smtp_port, &mail_log) else {
        return;
    };
    let Some((_tg, api)) = mock_telegram_on(tg_port).await else {
        return;
    };
    wait_for(Duration::from_secs(60), "every notice delivered", || {
        let (base, api, mail_log) = (base.clone(), api.clone(), mail_log.clone());
        async move {
            let tg = telegram_sent(&api).await?.len();
            let q = gauge(&base, "clawwatch_notification_queue_length").await?;
            (mails(&mail_log).len() >= 2 && tg >= 2 && q == 0.0).then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ms = mails(&mail_log);
    assert_eq!(
        ms.iter().map(mail_status).collect::<Vec<_>>(),
        ["firing", "resolved"],
        "exactly one each, in order"
    );
    let tg = telegram_sent(&api).await.unwrap();
    assert_eq!(
        tg.iter().map(tg_status).collect::<Vec<_>>(),
        ["firing", "resolved"]
    );
    let m = metrics(&base).await;
    for i in ["mail", "tg"] {
        assert_eq!(
            sample(
                &m,
                "clawwatch_notifications_total",
                &[("integration", i), ("result", "sent")]
            ),
            Some(2.0),
            "{i}"
        );
    }
    drop(side);
    sim.cancel.cancel();
    // Neither the logs nor anything served carries a secret.
    let log = std::fs::read_to_string(&side_log).unwrap();
    assert!(log.contains("Notification not delivered."), "{log}");
    for secret in [BOT_TOKEN, "AAGOOD", CHAT_ID, "1001234567890", TOKEN] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_metrics_errors_or_health() {
    const SMTP_PASSWORD: &str = "smtp-Pa55word-xyz";
    const BEARER: &str = "bearer-t0ken-abc";
    const HOOK_KEY: &str = "urlkey-9f8e7d";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (listen, smtp_port, dead_port) = (free_port(), free_port(), free_port());
    let hostile_port = free_port();
    let mail_log = d.join("mail.jsonl");
    let Some(_smtp) = smtp_sink(smtp_port, &mail_log) else {
        return;
    };
    let Some(_hostile) = smtp_sink_as(hostile_port, &d.join("hostile.jsonl"), "hostile") else {
        return;
    };
    let Some((_tg, api)) = mock_telegram().await else {
        return;
    };
    let c = reqwest::Client::new();
    c.post(format!("{api}/_control/mode"))
        .json(&serde_json::json!({"mode": "rate_limited", "retry_after": 1}))
        .send()
        .await
        .unwrap();
    let (hook_url, _hook) = webhook_sink(1).await;
    let sim = start_sim("whatsapp-logged-out", 5.0).await;
    for (f, v) in [
        ("gw-token", TOKEN),
        ("bot-token", BOT_TOKEN),
        ("chat-id", CHAT_ID),
        ("smtp-password", SMTP_PASSWORD),
        ("hmac", HMAC),
        ("bearer", BEARER),
    ] {
        std::fs::write(d.join(f), format!("{v}\n")).unwrap();
    }
    let cfg = d.join("clawwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[server]
listen = "127.0.0.1:{listen}"
bearer_token_file = "{d}/bearer"

[gateway]
url = "ws://{gw}"
token_file = "{d}/gw-token"
poll_interval = "300ms"
openclaw_config = "{d}/none.json"

[logs]
paths = []
state_dir = "{d}/state"

[[integrations]]
name = "mail"
type = "email"
smtp = "smtp://127.0.0.1:{smtp_port}"
from = "clawwatch@example.org"
to = ["oncall@example.org"]
username = "clawwatch"
password_file = "{d}/smtp-password"

[[integrations]]
name = "dead-mail"
type = "email"
smtp = "smtp://127.0.0.1:{dead_port}"
from = "clawwatch@example.org"
to = ["oncall@example.org"]
username = "clawwatch"
password_file = "{d}/smtp-password"

[[integrations]]
name = "hostile-mail"
type = "email"
smtp = "smtp://127.0.0.1:{hostile_port}"
from = "clawwatch@example.org"
to = ["oncall@example.org"]
username = "clawwatch"
password_file = "{d}/smtp-password"

[[integrations]]
name = "tg"
type = "telegram"
bot_token_file = "{d}/bot-token"
chat_id_file = "{d}/chat-id"
api_url = "{api}"

[[integrations]]
name = "hook"
type = "webhook"
url = "{hook_url}?key={HOOK_KEY}"
hmac_secret_file = "{d}/hmac"
"#,
            d = d.display(),
            gw = sim.addr,
        ),
    )
    .unwrap();
    let side_log = d.join("sidecar.log");
    let out = std::fs::File::create(&side_log).unwrap();
    let side = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "clawwatch=debug,info")
            .env_remove("CLAWWATCH_GATEWAY_TOKEN")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{listen}");
    let authed = |path: &str| {
        let (c, url) = (c.clone(), format!("{base}{path}"));
        async move {
            c.get(url)
                .bearer_auth(BEARER)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()
        }
    };
    // Through rate limits, server errors and a dead SMTP server.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let firing = authed("/api/v1/alerts").await.unwrap();
    assert!(firing.contains("OpenClawChannelAuthRequired"), "{firing}");
    c.post(format!("{api}/_control/mode"))
        .json(&serde_json::json!({"mode": "error500"}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.post(format!("{api}/_control/mode"))
        .json(&serde_json::json!({"mode": "ok"}))
        .send()
        .await
        .unwrap();
    let mut seen = firing;
    wait_for(
        Duration::from_secs(40),
        "the resolve sent by Telegram",
        || {
            let api = api.clone();
            async move { (telegram_sent(&api).await?.len() >= 2).then_some(()) }
        },
    )
    .await;
    for p in [
        "/metrics",
        "/health/detail",
        "/api/v1/alerts",
        "/api/v1/history",
        "/api/v1/silences",
        "/",
    ] {
        seen.push_str(&authed(p).await.unwrap());
    }
    let m = authed("/metrics").await.unwrap();
    assert!(
        sum(
            &m,
            "clawwatch_notifications_total",
            &[("integration", "dead-mail"), ("result", "failed")]
        ) >= 1.0
    );
    assert!(
        sum(
            &m,
            "clawwatch_notifications_total",
            &[("integration", "tg"), ("result", "failed")]
        ) >= 1.0
    );
    let r = c
        .get(format!("{base}/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    seen.push_str(&r.text().await.unwrap());
    for args in [
        vec!["check-config".to_string(), cfg.display().to_string()],
        vec![
            "test-alert".into(),
            "--config".into(),
            cfg.display().to_string(),
        ],
        vec!["status".into(), "--url".into(), base.clone()],
        vec![
            "silence".into(),
            "list".into(),
            "--url".into(),
            base.clone(),
        ],
    ] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(&args)
            .env("CLAWWATCH_SERVER_TOKEN", BEARER)
            .output()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&o.stdout));
        seen.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    drop(side);
    sim.cancel.cancel();
    let log = std::fs::read_to_string(&side_log).unwrap();
    assert!(log.contains("integration=dead-mail"), "{log}");
    assert!(seen.contains("dead-mail: failed: "), "{seen}");
    // The hostile server's reply is logged, its quote of the login is not.
    assert!(
        log.contains("(535): 5.7.8 login clawwatch password <redacted> (<redacted>) refused"),
        "{log}"
    );
    seen.push_str(&log);
    for secret in [
        TOKEN,
        BOT_TOKEN,
        "AAGOOD_FakeTelegramToken",
        CHAT_ID,
        "1001234567890",
        SMTP_PASSWORD,
        HMAC,
        BEARER,
        HOOK_KEY,
    ] {
        assert!(!seen.contains(secret), "{secret} shown:\n{seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_gets_telegram_alerts_and_what_telegram_cannot_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let mail_log = dir.path().join("mail.jsonl");
    let Some(_smtp) = smtp_sink(smtp_port, &mail_log) else {
        return;
    };
    let Some((_tg, api)) = mock_telegram().await else {
        return;
    };
    let integrations = vec![mail_integration(smtp_port), tg_integration(&api)];
    let alerting = clawwatch::config::AlertingConfig {
        integrations: Some(vec!["tg".into()]),
        fallback: vec!["mail".into()],
        fallback_after: Duration::from_secs(1),
        ..Default::default()
    };

    // 1. Telegram is the channel in trouble: the alert also goes by mail, at once.
    let sim = start_sim("telegram-reconnect-storm", 5.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = integrations.clone();
    cfg.alerting = alerting.clone();
    let side = clawwatch::app::start(cfg, Some(dir.path().join("s1")))
        .await
        .unwrap();
    let storm = "[FIRING] telegram account default keeps dropping";
    wait_for(Duration::from_secs(30), "the storm by mail", || {
        let mail_log = mail_log.clone();
        async move { subjects(&mail_log).iter().any(|s| s == storm).then_some(()) }
    })
    .await;
    let tg = telegram_sent(&api).await.unwrap();
    assert_eq!(
        tg.iter()
            .filter(|m| m["params"]["text"]
                .as_str()
                .unwrap()
                .starts_with("🔥 FIRING: telegram account default keeps dropping"))
            .count(),
        1
    );
    side.cancel.cancel();
    sim.cancel.cancel();

    // 2. The Bot API fails: after fallback_after the notice goes by mail too,
    //    and Telegram still gets it once it works again.
    let before = mails(&mail_log).len();
    reqwest::Client::new()
        .post(format!("{api}/_control/mode"))
        .json(&serde_json::json!({"mode": "error500"}))
        .send()
        .await
        .unwrap();
    let sim = start_sim("whatsapp-logged-out", 2.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = integrations;
    cfg.alerting = alerting;
    let side = clawwatch::app::start(cfg, Some(dir.path().join("s2")))
        .await
        .unwrap();
    let wa = "[FIRING] whatsapp account default needs a person to re-authenticate";
    wait_for(Duration::from_secs(30), "the logout by mail", || {
        let mail_log = mail_log.clone();
        async move { subjects(&mail_log).iter().any(|s| s == wa).then_some(()) }
    })
    .await;
    assert_eq!(mails(&mail_log).len(), before + 1);
    reqwest::Client::new()
        .post(format!("{api}/_control/mode"))
        .json(&serde_json::json!({"mode": "ok"}))
        .send()
        .await
        .unwrap();
    wait_for(Duration::from_secs(40), "the logout by Telegram", || {
        let api = api.clone();
        async move {
            telegram_sent(&api)
                .await?
                .iter()
                .any(|m| {
                    m["params"]["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("🔥 FIRING: whatsapp"))
                })
                .then_some(())
        }
    })
    .await;
    side.cancel.cancel();
    sim.cancel.cancel();
}
