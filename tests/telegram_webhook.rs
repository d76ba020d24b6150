//! `openclaw_telegram_webhook_pending_updates` from the Bot API emulator
//! (`../shared/openclaw/oc-mock-telegram.py`), with the bot token read from
//! a JSON5 gateway config, never shown anywhere.

mod common;
use clawwatch::simulate::{self, Options};
use common::*;
use std::time::Duration;

const BOT_TOKEN: &str = "123456789:AAGOOD_FakeTelegramTokenForTesting_000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_pending_updates_from_the_bot_api() {
    let Some((_mock, api)) = mock_telegram().await else {
        return;
    };
    let c = reqwest::Client::new();
    for text in ["one", "two"] {
        let r = c
            .post(format!("{api}/_control/inject"))
            .body(format!("{{\"text\":\"{text}\"}}"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let dir = tempfile::tempdir().unwrap();
    let oc = dir.path().join("openclaw.json");
    std::fs::write(&oc, format!("// the gateway's config, JSON5\n{{ channels: {{ telegram: {{ enabled: true, botToken: '{BOT_TOKEN}', apiRoot: '{api}', }} }} }}\n")).unwrap();

    let sim = simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            scenario: "steady".into(),
            token: Some(TOKEN.into()),
            telegram_mode: "webhook".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut cfg = config(sim.addr);
    cfg.gateway.openclaw_config = Some(oc);
    cfg.gateway.probe_interval = clawwatch::config::OptDuration(Some(Duration::from_millis(300)));
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let base = format!("http://{}", side.addr);
    let b = base.clone();
    let m = wait_for(Duration::from_secs(10), "the pending-updates gauge", || {
        let b = b.clone();
        async move {
            let m = reqwest::get(format!("{b}/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            sample(
                &m,
                "openclaw_telegram_webhook_pending_updates",
                &[("account", "default")],
            )
            .map(|_| m)
        }
    })
    .await;
    assert_eq!(
        sample(
            &m,
            "openclaw_telegram_webhook_pending_updates",
            &[("account", "default")]
        ),
        Some(2.0)
    );
    let (_, doc) = health(&base).await;
    for body in [m, doc.to_string()] {
        assert!(
            !body.contains("AAGOOD") && !body.contains("123456789"),
            "the bot token leaked"
        );
    }
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_accounts_have_no_webhook_series() {
    let sim = start_sim("steady", 1.0).await;
    let side = clawwatch::app::start(config(sim.addr), None).await.unwrap();
    let base = format!("http://{}", side.addr);
    let b = base.clone();
    wait_for(Duration::from_secs(10), "steady", || {
        let b = b.clone();
        async move { (try_health(&b).await?.1["status"] == "ok").then_some(()) }
    })
    .await;
    assert_eq!(
        sum(
            &metrics(&base).await,
            "openclaw_telegram_webhook_pending_updates",
            &[]
        ),
        0.0
    );
    assert!(!metrics(&base)
        .await
        .contains("openclaw_telegram_webhook_pending_updates{"));
    side.cancel.cancel();
    sim.cancel.cancel();
}
