//! Built-in alerts delivered by webhook through the persistent outbox: a
//! simulated WhatsApp logout gives exactly one firing and one resolved
//! notice, also when the receiver fails for a while.

mod common;
use clawwatch::simulate::{self, Options};
use common::*;
use serde_json::Value;
use std::time::Duration;

async fn logout_notices(fail_first: u32) -> (Vec<(String, String, String)>, String) {
    let (url, s) = webhook_sink(fail_first).await;
    let sim = start_sim("whatsapp-logged-out", 5.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = vec![clawwatch::config::IntegrationConfig {
        name: "hook".into(),
        kind: "webhook".into(),
        url: Some(url),
        ..Default::default()
    }];
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let base = format!("http://{}", side.addr);
    let got = s.got.clone();
    wait_for(
        Duration::from_secs(30),
        "firing and resolved notices",
        || {
            let got = got.clone();
            async move {
                (got.lock()
                    .unwrap()
                    .iter()
                    .filter(|b| b["alert"] == "OpenClawChannelAuthRequired")
                    .count()
                    >= 2)
                    .then_some(())
            }
        },
    )
    .await;
    // Anything more would have arrived by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let notices = s
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["alert"].as_str().unwrap().to_string(),
                b["status"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    b["channel"].as_str().unwrap_or(""),
                    b["account"].as_str().unwrap_or("")
                ),
            )
        })
        .collect();
    let m = metrics(&base).await;
    side.cancel.cancel();
    sim.cancel.cancel();
    (notices, m)
}

fn expected() -> Vec<(String, String, String)> {
    vec![
        (
            "OpenClawChannelAuthRequired".into(),
            "firing".into(),
            "whatsapp/default".into(),
        ),
        (
            "OpenClawChannelAuthRequired".into(),
            "resolved".into(),
            "whatsapp/default".into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_firing_one_resolved() {
    let (notices, m) = logout_notices(0).await;
    assert_eq!(notices, expected());
    assert_eq!(
        sample(
            &m,
            "clawwatch_notifications_total",
            &[("integration", "hook"), ("result", "sent")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&m, "clawwatch_notification_queue_length", &[]),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_each_notice_once() {
    let (notices, m) = logout_notices(2).await;
    assert_eq!(notices, expected());
    assert_eq!(
        sample(
            &m,
            "clawwatch_notifications_total",
            &[("integration", "hook"), ("result", "failed")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &m,
            "clawwatch_notifications_total",
            &[("integration", "hook"), ("result", "sent")]
        ),
        Some(2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_to_a_real_smtp_server() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mail.jsonl");
    let Some(_smtp) = smtp_sink(port, &out) else {
        return;
    };
    let sim = start_sim("whatsapp-logged-out", 5.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = vec![clawwatch::config::IntegrationConfig {
        name: "ops-mail".into(),
        kind: "email".into(),
        smtp: Some(format!("smtp://127.0.0.1:{port}")),
        from: Some("clawwatch@example.org".into()),
        to: vec!["oncall@example.org".into(), "backup@example.org".into()],
        ..Default::default()
    }];
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let o = out.clone();
    let mails = wait_for(Duration::from_secs(30), "two mails", || {
        let o = o.clone();
        async move {
            let v = mails(&o);
            (v.len() >= 2).then_some(v)
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        2,
        "exactly two mails"
    );
    assert_eq!(
        subject(&mails[0]).unwrap(),
        "[FIRING] whatsapp account default needs a person to re-authenticate"
    );
    assert_eq!(
        subject(&mails[1]).unwrap(),
        "[RESOLVED] whatsapp account default needs a person to re-authenticate"
    );
    assert_eq!(
        mails[0]["to"],
        serde_json::json!(["oncall@example.org", "backup@example.org"])
    );
    let body = mails[0]["data"]
        .as_str()
        .unwrap()
        .replace("=\r\n", "")
        .replace("\r\n", "\n");
    for want in [
        "What broke: whatsapp account default needs a person to re-authenticate\n",
        "Why:        whatsapp account default is auth_required (logged_out) since ",
        "What to do: Relink: on the gateway host run `openclaw channels login --channel whatsapp` and scan the QR code",
        "Runbook:    docs/runbooks.md#openclawchannelauthrequired\n",
        "Alert:      OpenClawChannelAuthRequired (critical)\n",
    ] {
        assert!(body.contains(want), "{want:?} not in\n{body}");
    }
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_to_the_bot_api_emulator() {
    let Some((_mock, api)) = mock_telegram().await else {
        return;
    };
    let c = reqwest::Client::new();
    let sim = start_sim("whatsapp-logged-out", 5.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = vec![clawwatch::config::IntegrationConfig {
        name: "ops-telegram".into(),
        kind: "telegram".into(),
        bot_token: Some(clawwatch::config::Secret::new(
            "123456789:AAGOOD_FakeTelegramTokenForTesting_000000",
        )),
        chat_id: Some(clawwatch::config::Secret::new("-1001234567890")),
        message_thread_id: Some(7),
        api_url: Some(api.clone()),
        ..Default::default()
    }];
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let base = format!("http://{}", side.addr);
    let sent = wait_for(Duration::from_secs(30), "two Telegram messages", || {
        let (c, api) = (c.clone(), api.clone());
        async move {
            let st: Value = c
                .get(format!("{api}/_control/state"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let msgs: Vec<Value> = st["outbound"]
                .as_array()?
                .iter()
                .filter(|m| {
                    m["method"]
                        .as_str()
                        .is_some_and(|x| x.eq_ignore_ascii_case("sendMessage"))
                })
                .cloned()
                .collect();
            (msgs.len() >= 2).then_some(msgs)
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let st: Value = c
        .get(format!("{api}/_control/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        st["outbound"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["method"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case("sendMessage")))
            .count(),
        2
    );
    let p0 = &sent[0]["params"];
    assert_eq!(
        (
            p0["chat_id"].to_string(),
            p0["message_thread_id"].to_string()
        ),
        ("-1001234567890".to_string(), "7".to_string())
    );
    assert!(
        p0["text"]
            .as_str()
            .unwrap()
            .starts_with("🔥 FIRING: whatsapp account default needs a person to re-authenticate"),
        "{p0}"
    );
    assert!(
        sent[1]["params"]["text"]
            .as_str()
            .unwrap()
            .starts_with("✅ RESOLVED: "),
        "{}",
        sent[1]
    );
    let m = metrics(&base).await;
    assert_eq!(
        sample(
            &m,
            "clawwatch_notifications_total",
            &[("integration", "ops-telegram"), ("result", "sent")]
        ),
        Some(2.0)
    );
    assert!(
        !m.contains("AAGOOD") && !m.contains("1001234567890"),
        "no token or chat id in /metrics"
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_receives_firing_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_am, am)) = alertmanager(dir.path()).await else {
        return;
    };
    let sim = start_sim("whatsapp-logged-out", 5.0).await;
    let mut cfg = config(sim.addr);
    cfg.integrations = vec![clawwatch::config::IntegrationConfig {
        name: "am".into(),
        kind: "alertmanager".into(),
        url: Some(am.clone()),
        ..Default::default()
    }];
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let firing = wait_for(Duration::from_secs(20), "the alert in Alertmanager", || {
        let am = am.clone();
        async move { am_active(&am).await.filter(|v| !v.is_empty()) }
    })
    .await;
    assert_eq!(firing.len(), 1);
    let l = &firing[0]["labels"];
    assert_eq!(
        (
            l["alertname"].as_str(),
            l["channel"].as_str(),
            l["account"].as_str(),
            l["severity"].as_str()
        ),
        (
            Some("OpenClawChannelAuthRequired"),
            Some("whatsapp"),
            Some("default"),
            Some("critical")
        )
    );
    assert_eq!(
        firing[0]["annotations"]["runbook_url"],
        "docs/runbooks.md#openclawchannelauthrequired"
    );
    wait_for(
        Duration::from_secs(30),
        "the resolve in Alertmanager",
        || {
            let am = am.clone();
            async move { am_active(&am).await.filter(|v| v.is_empty()).map(|_| ()) }
        },
    )
    .await;
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alert_reports_each_integration() {
    let (url, s) = webhook_sink(0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(
        &cfg,
        format!("[[integrations]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{url}\"\n\n[[integrations]]\nname = \"dead\"\ntype = \"webhook\"\nurl = \"http://{dead}/hook\"\n"),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(["test-alert", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "hook: ok");
    assert!(lines[1].starts_with("dead: failed: "), "{text}");
    assert_eq!(out.status.code(), Some(1));
    let got = s.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["alert"], "ClawwatchTestAlert");
    let one = tokio::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(["test-alert", "--integration", "hook", "--config"])
        .arg(&cfg)
        .output()
        .await
        .unwrap();
    assert_eq!(
        (
            String::from_utf8_lossy(&one.stdout).trim(),
            one.status.code()
        ),
        ("hook: ok", Some(0))
    );
}

fn cli(args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_cli_adds_lists_expires_and_survives_a_restart() {
    let sim = start_sim("steady", 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let side = clawwatch::app::start(config(sim.addr), Some(dir.path().into()))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let (ok, out) = cli(&[
        "silence",
        "add",
        "channel=whatsapp",
        "alertname=~OpenClaw.*",
        "--duration",
        "2h",
        "--comment",
        "relinking",
        "--url",
        &base,
    ]);
    assert!(ok, "{out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 32, "{out}");
    let (ok, out) = cli(&["silence", "list", "--url", &base]);
    assert!(ok, "{out}");
    let row = out.lines().find(|l| l.starts_with(&id)).expect(&out);
    for want in [
        "active",
        "channel=whatsapp,alertname=~OpenClaw.*",
        "relinking",
    ] {
        assert!(row.contains(want), "{want:?} not in {row:?}");
    }
    let (ok, out) = cli(&["silence", "add", "chanel=x", "--url", &base]);
    assert!(!ok);
    assert!(out.contains("no label \"chanel\""), "{out}");
    side.cancel.cancel();
    side.done.await.unwrap();

    // Persisted: a restarted sidecar still has it, and it can be expired.
    let side = clawwatch::app::start(config(sim.addr), Some(dir.path().into()))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let (ok, out) = cli(&["silence", "list", "--json", "--url", &base]);
    assert!(ok, "{out}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (list[0]["id"].as_str(), list[0]["status"].as_str()),
        (Some(id.as_str()), Some("active"))
    );
    assert_eq!(
        cli(&["silence", "expire", &id, "--url", &base]),
        (true, format!("expired {id}\n"))
    );
    let (_, out) = cli(&["silence", "list", "--json", "--url", &base]);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["status"], "expired");
    let (ok, out) = cli(&["silence", "expire", "nope", "--url", &base]);
    assert!(!ok && out.contains("no silence \"nope\""), "{out}");
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_mutes_like_a_silence() {
    let (url, s) = webhook_sink(0).await;
    let sim = start_sim("whatsapp-logged-out", 5.0).await;
    // A window from a minute ago to an hour from now (UTC).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hhmm = |t: u64| format!("{:02}:{:02}", t / 3600 % 24, t / 60 % 60);
    let mut cfg = config(sim.addr);
    cfg.alerting.maintenance = vec![clawwatch::config::MaintenanceConfig {
        name: "relink".into(),
        matchers: vec!["channel=whatsapp".into()],
        weekdays: vec![],
        start: hhmm(now - 60),
        end: hhmm(now + 3600),
    }];
    cfg.integrations = vec![clawwatch::config::IntegrationConfig {
        name: "hook".into(),
        kind: "webhook".into(),
        url: Some(url),
        ..Default::default()
    }];
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let base = format!("http://{}", side.addr);
    let listed: Value = reqwest::get(format!("{base}/api/v1/silences"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["status"].as_str()),
        (Some("maintenance:relink"), Some("active"))
    );
    wait_for(Duration::from_secs(20), "the alert, muted", || {
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
                .any(|a| a["silenced"] == true)
                .then_some(())
        }
    })
    .await;
    wait_state(
        &base,
        "whatsapp",
        "default",
        "connected",
        Duration::from_secs(20),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(s.got.lock().unwrap().is_empty());
    let m = metrics(&base).await;
    assert_eq!(sum(&m, "clawwatch_notifications_total", &[]), 0.0);
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_gathers_alerts_into_one_notice() {
    let (url, s) = webhook_sink(0).await;
    // fleet: 3 of 300 accounts need re-authentication 5 s in.
    let sim = simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            scenario: "fleet".into(),
            fleet_size: 300,
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut cfg = config(sim.addr);
    cfg.alerting.routes = vec![clawwatch::config::RouteConfig {
        name: "auth".into(),
        matchers: [(
            "alertname".to_string(),
            "OpenClawChannelAuthRequired".to_string(),
        )]
        .into(),
        integrations: vec!["hook".into()],
        group_by: Some(vec!["alertname".into()]),
        group_wait: Some(Duration::from_secs(2)),
        ..Default::default()
    }];
    cfg.alerting.integrations = Some(vec![]);
    cfg.integrations = vec![clawwatch::config::IntegrationConfig {
        name: "hook".into(),
        kind: "webhook".into(),
        url: Some(url),
        ..Default::default()
    }];
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let got = s.got.clone();
    wait_for(Duration::from_secs(30), "the grouped notice", || {
        let got = got.clone();
        async move { (!got.lock().unwrap().is_empty()).then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = s.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:#?}");
    let n = &got[0];
    assert_eq!(n["title"], "3 alerts firing (OpenClawChannelAuthRequired)");
    assert_eq!(n["route"], "auth");
    assert_eq!(n["group"], "alertname=\"OpenClawChannelAuthRequired\"");
    let mut who: Vec<String> = n["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a["channel"].as_str().unwrap(),
                a["account"].as_str().unwrap()
            )
        })
        .collect();
    who.sort();
    assert_eq!(
        who,
        [
            "telegram/acct-0001",
            "telegram/acct-0292",
            "whatsapp/acct-0197"
        ]
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}
