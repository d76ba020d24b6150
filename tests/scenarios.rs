//! The sidecar against the simulated gateway, one test per scenario, with
//! exact states, reasons and counter values.

mod common;
use clawwatch::simulate::{self, Options};
use common::*;
use std::time::Duration;

struct Pair {
    base: String,
    sim: simulate::Handle,
    side: clawwatch::app::Running,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.sim.cancel.cancel();
        self.side.cancel.cancel();
    }
}

const SPEED: f64 = 5.0;

async fn pair(scenario: &str, tweak: impl FnOnce(&mut clawwatch::config::Config)) -> Pair {
    let sim = simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            scenario: scenario.into(),
            token: Some(TOKEN.into()),
            speed: SPEED,
            fleet_size: 300,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut cfg = config(sim.addr);
    tweak(&mut cfg);
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    Pair {
        base: format!("http://{}", side.addr),
        sim,
        side,
    }
}

/// Waits until the scenario's last step (at `last_ms` scenario time) is
/// due, then until the counters have stood still for a while: a slow
/// machine delays the end, it does not change the values.
async fn settle(base: &str, last_ms: u64) {
    tokio::time::sleep(Duration::from_millis((last_ms as f64 / SPEED) as u64 + 500)).await;
    let start = std::time::Instant::now();
    let mut last = String::new();
    let mut still = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let m = metrics(base).await;
        let counters: String = m
            .lines()
            .filter(|l| {
                l.starts_with("openclaw_channel_transitions_total")
                    || l.starts_with("openclaw_channel_disconnects_total")
                    || l.starts_with("openclaw_channel_reconnect_attempts_total")
            })
            .collect();
        if counters != last {
            last = counters;
            still = std::time::Instant::now();
        } else if still.elapsed() > Duration::from_millis(800) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn counter(m: &str, name: &str, ch: &str, extra: (&str, &str)) -> f64 {
    sample(m, name, &[("channel", ch), ("account", "default"), extra]).unwrap_or(0.0)
}

fn to(m: &str, ch: &str, st: &str) -> f64 {
    counter(m, "openclaw_channel_transitions_total", ch, ("to", st))
}

/// Transitions into each state, in `State::ALL` order.
fn per_state(m: &str, ch: &str) -> Vec<f64> {
    clawwatch::model::State::ALL
        .iter()
        .map(|s| to(m, ch, s.as_str()))
        .collect()
}

fn disc(m: &str, ch: &str, reason: &str) -> f64 {
    counter(
        m,
        "openclaw_channel_disconnects_total",
        ch,
        ("reason", reason),
    )
}

fn every_account_has_one_state(m: &str) -> usize {
    let s = samples(m);
    let mut per: std::collections::BTreeMap<Vec<(String, String)>, (usize, f64)> =
        Default::default();
    for ((name, ls), v) in &s {
        if name == "openclaw_channel_state" {
            let key: Vec<_> = ls.iter().filter(|(k, _)| k != "state").cloned().collect();
            let e = per.entry(key).or_default();
            e.0 += 1;
            e.1 += v;
        }
    }
    for (k, (n, total)) in &per {
        assert_eq!((*n, *total), (6, 1.0), "{k:?}");
    }
    per.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady() {
    let p = pair("steady", |_| {}).await;
    settle(&p.base, 2_000).await;
    let (code, doc) = health(&p.base).await;
    assert_eq!(code, 200);
    assert_eq!(doc["status"], "ok");
    assert_eq!(
        doc["channels"],
        serde_json::json!({"discord": "connected", "telegram": "connected", "whatsapp": "connected"})
    );
    let m = metrics(&p.base).await;
    assert_eq!(every_account_has_one_state(&m), 3);
    for ch in ["discord", "telegram", "whatsapp"] {
        assert_eq!(to(&m, ch, "connected"), 1.0, "{ch}");
        assert_eq!(
            sum(&m, "openclaw_channel_disconnects_total", &[("channel", ch)]),
            0.0
        );
        assert_eq!(
            sample(
                &m,
                "openclaw_channel_up",
                &[("channel", ch), ("account", "default")]
            ),
            Some(1.0)
        );
    }
    assert_eq!(sample(&m, "openclaw_gateway_up", &[]), Some(1.0));
    assert_eq!(sample(&m, "openclaw_gateway_ready", &[]), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_logged_out() {
    let p = pair("whatsapp-logged-out", |_| {}).await;
    let base = p.base.clone();
    let doc = wait_for(Duration::from_secs(10), "whatsapp auth_required", || {
        let base = base.clone();
        async move {
            let (_, d) = try_health(&base).await?;
            (account(&d, "whatsapp", "default")?
                == ("auth_required".into(), Some("logged_out".into())))
                .then_some(d)
        }
    })
    .await;
    assert_eq!(doc["status"], "degraded");
    assert_eq!(doc["channels"]["whatsapp"], "auth_required");
    let firing = |m: &str, a: &str| sample(m, "clawwatch_alerts_firing", &[("alert", a)]);
    let m = metrics(&p.base).await;
    assert_eq!(
        (
            firing(&m, "OpenClawChannelAuthRequired"),
            firing(&m, "OpenClawChannelDown")
        ),
        (Some(1.0), Some(0.0))
    );
    let alerts: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/api/v1/alerts", p.base)).await.1).unwrap();
    assert_eq!(alerts[0]["alert"], "OpenClawChannelAuthRequired");
    assert_eq!(
        (alerts[0]["channel"].as_str(), alerts[0]["account"].as_str()),
        (Some("whatsapp"), Some("default"))
    );
    settle(&p.base, 32_000).await;
    let (_, doc) = health(&p.base).await;
    assert_eq!(doc["channels"]["whatsapp"], "connected");
    let m = metrics(&p.base).await;
    assert_eq!(firing(&m, "OpenClawChannelAuthRequired"), Some(0.0));
    assert_eq!(
        (
            to(&m, "whatsapp", "connected"),
            to(&m, "whatsapp", "auth_required"),
            to(&m, "whatsapp", "connecting")
        ),
        (2.0, 1.0, 1.0)
    );
    assert_eq!(disc(&m, "whatsapp", "logged_out"), 1.0);
    assert_eq!(sum(&m, "openclaw_channel_disconnects_total", &[]), 1.0);
    let hist: serde_json::Value = serde_json::from_str(
        &get(&format!(
            "{}/api/v1/history?channel=whatsapp&limit=3",
            p.base
        ))
        .await
        .1,
    )
    .unwrap();
    let kinds: Vec<(&str, &str)> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["to"].as_str().or(e["reason"].as_str()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("transition", "connected"),
            ("transition", "connecting"),
            ("disconnect", "logged_out")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_disallowed_intents() {
    let p = pair("discord-disallowed-intents", |_| {}).await;
    settle(&p.base, 10_000).await;
    let (_, doc) = health(&p.base).await;
    assert_eq!(
        account(&doc, "discord", "default"),
        Some(("error".into(), Some("disallowed_intents".into())))
    );
    assert_eq!(doc["channels"]["discord"], "error");
    let m = metrics(&p.base).await;
    assert_eq!(
        (to(&m, "discord", "connected"), to(&m, "discord", "error")),
        (1.0, 1.0)
    );
    assert_eq!(disc(&m, "discord", "disallowed_intents"), 1.0);
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_state",
            &[
                ("channel", "discord"),
                ("account", "default"),
                ("state", "error")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&m, "openclaw_gateway_ready", &[]), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_reconnect_storm() {
    let p = pair("telegram-reconnect-storm", |_| {}).await;
    settle(&p.base, 20_000).await;
    let (_, doc) = health(&p.base).await;
    assert_eq!(
        account(&doc, "telegram", "default"),
        Some(("connected".into(), None))
    );
    assert_eq!(doc["accounts"]["telegram"][0]["reconnect_attempts"], 5);
    let m = metrics(&p.base).await;
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_reconnect_attempts_total",
            &[("channel", "telegram"), ("account", "default")]
        ),
        Some(5.0)
    );
    assert_eq!(
        (
            to(&m, "telegram", "reconnecting"),
            to(&m, "telegram", "connecting"),
            to(&m, "telegram", "connected")
        ),
        (5.0, 5.0, 2.0)
    );
    assert_eq!(disc(&m, "telegram", "network"), 5.0);
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_restarts_total",
            &[
                ("channel", "telegram"),
                ("account", "default"),
                ("initiator", "gateway")
            ]
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_reconnect_attempts_total",
            &[("channel", "discord"), ("account", "default")]
        ),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping() {
    let p = pair("flapping", |_| {}).await;
    settle(&p.base, 23_500).await;
    let m = metrics(&p.base).await;
    assert_eq!(
        (
            to(&m, "discord", "reconnecting"),
            to(&m, "discord", "connected")
        ),
        (5.0, 6.0)
    );
    assert_eq!(disc(&m, "discord", "network"), 5.0);
    let (_, doc) = health(&p.base).await;
    assert_eq!(doc["channels"]["discord"], "connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet() {
    let p = pair("fleet", |_| {}).await;
    settle(&p.base, 5_000).await;
    let m = metrics(&p.base).await;
    assert_eq!(every_account_has_one_state(&m), 300);
    let (_, doc) = health(&p.base).await;
    let chans = ["discord", "telegram", "whatsapp"];
    let mut want = std::collections::BTreeMap::new();
    for i in 0..300usize {
        let ch = chans[i % 3];
        let st = match (ch, i % 97) {
            ("telegram", 1) => "auth_required",
            ("discord", 2) => "reconnecting",
            ("whatsapp", 3) => "auth_required",
            _ => "connected",
        };
        *want.entry((ch, st)).or_insert(0) += 1;
    }
    let mut got = std::collections::BTreeMap::new();
    for ch in chans {
        for a in doc["accounts"][ch].as_array().unwrap() {
            *got.entry((ch, a["state"].as_str().unwrap().to_string()))
                .or_insert(0) += 1;
        }
    }
    let want: std::collections::BTreeMap<_, _> = want
        .into_iter()
        .map(|((c, s), n)| ((c, s.to_string()), n))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        sum(&m, "openclaw_channel_up", &[]),
        want.iter()
            .filter(|((_, s), _)| s == "connected")
            .map(|(_, n)| *n as f64)
            .sum::<f64>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycle_walks_every_state() {
    let p = pair("cycle", |cfg| {
        cfg.states.stale_after.insert(
            "telegram".into(),
            clawwatch::config::OptDuration(Some(Duration::from_millis(1000))),
        );
    })
    .await;
    let base = p.base.clone();
    let mut seen = std::collections::BTreeSet::new();
    let deadline =
        std::time::Instant::now() + Duration::from_millis((50_000.0 / SPEED) as u64 + 1500);
    while std::time::Instant::now() < deadline {
        let (_, d) = health(&base).await;
        for ch in ["discord", "telegram", "whatsapp"] {
            if let Some(s) = d["channels"][ch].as_str() {
                seen.insert(s.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let all: std::collections::BTreeSet<String> = clawwatch::model::State::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    assert_eq!(seen, all);
    let m = metrics(&p.base).await;
    let tg = per_state(&m, "telegram");
    assert_eq!(tg, vec![2.0, 1.0, 1.0, 1.0, 0.0, 1.0]);
    assert_eq!(
        (
            disc(&m, "telegram", "stalled"),
            disc(&m, "telegram", "auth_failed")
        ),
        (1.0, 1.0)
    );
    let dc = per_state(&m, "discord");
    assert_eq!(dc, vec![2.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    assert_eq!(
        (
            disc(&m, "discord", "network"),
            disc(&m, "discord", "disallowed_intents")
        ),
        (1.0, 1.0)
    );
    let wa = per_state(&m, "whatsapp");
    assert_eq!(wa, vec![2.0, 2.0, 0.0, 1.0, 0.0, 1.0]);
    assert_eq!(
        (
            disc(&m, "whatsapp", "unknown"),
            disc(&m, "whatsapp", "logged_out")
        ),
        (1.0, 1.0)
    );
    let (_, doc) = health(&p.base).await;
    assert_eq!(
        (
            account(&doc, "telegram", "default"),
            account(&doc, "discord", "default"),
            account(&doc, "whatsapp", "default")
        ),
        (
            Some(("auth_required".into(), Some("auth_failed".into()))),
            Some(("error".into(), Some("disallowed_intents".into()))),
            Some(("auth_required".into(), Some("logged_out".into())))
        )
    );
}
