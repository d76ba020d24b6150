//! `clawwatch demo` as a user runs it: the binary serves /metrics and
//! /health/detail within seconds, and the exposition parses with the
//! reference Python parsers (prometheus_client).

mod common;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_within_seconds_and_parses() {
    let started = Instant::now();
    let (_guard, base) = demo();
    let b = base.clone();
    let doc = wait_for(
        Duration::from_secs(10),
        "channels in /health/detail",
        || {
            let b = b.clone();
            async move {
                let (_, d) = try_health(&b).await?;
                (d["channels"].as_object()?.len() == 3).then_some(d)
            }
        },
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    eprintln!("demo answered /health/detail with 3 channels after {took:?}");
    // `jq .channels` prints a map of channel to state string.
    for (_, v) in doc["channels"].as_object().unwrap() {
        assert!(
            clawwatch::model::State::parse(v.as_str().unwrap()).is_some(),
            "{v}"
        );
    }

    let om = metrics(&base).await;
    assert!(om.ends_with("# EOF\n"));
    if let Some(r) = python_check("openmetrics", &om) {
        let states = r["states"].as_object().unwrap();
        assert_eq!(states.len(), 3);
        for (k, v) in states {
            assert_eq!(v, &serde_json::json!([6, 1.0]), "{k}");
        }
        let fams: Vec<&str> = r["families"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        for f in [
            "openclaw_channel_state",
            "openclaw_channel_up",
            "openclaw_channel_state_since_timestamp_seconds",
            "openclaw_channel_reconnect_attempts",
            "openclaw_channel_restarts",
            "openclaw_channel_recovery_exhausted",
            "openclaw_gateway_up",
            "openclaw_gateway_ready",
            "openclaw_gateway_rpc_duration_seconds",
            "clawwatch_build",
            "clawwatch_config_last_reload_successful",
        ] {
            assert!(fams.contains(&f), "{f} missing from {fams:?}");
        }
    }
    let prom = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .header("accept", "text/plain;version=0.0.4")
        .send()
        .await
        .unwrap();
    assert_eq!(
        prom.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let prom = prom.text().await.unwrap();
    assert!(
        !prom.contains("# EOF")
            && prom.contains("# TYPE openclaw_channel_reconnect_attempts_total counter")
    );
    if let Some(r) = python_check("prometheus", &prom) {
        assert_eq!(r["states"].as_object().unwrap().len(), 3);
    }
}
