//! Hostile input and crashes: each class of what can break a watcher from
//! outside, with the exact answer clawwatch gives.

mod common;
use common::{call, on_pipe, sample};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn healthz_is_503_while_the_state_task_restarts_after_a_panic() {
    let clock = clawwatch::clock::Clock::fake(common::T0);
    let (sim, pipe) = clawwatch::simulate::start_on_pipe(clawwatch::simulate::Options {
        scenario: "steady".into(),
        token: Some(common::TOKEN.into()),
        clock: clock.clone(),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = common::config(sim.addr);
    cfg.gateway.poll_interval = Duration::from_secs(1);
    cfg.gateway.readyz_url = Some("http://127.0.0.1:9/readyz".into());
    let deps = clawwatch::app::Deps {
        clock: clock.clone(),
        gateway: Some(pipe),
        ..Default::default()
    };
    let panics = deps.state_panics.clone();
    let side = clawwatch::app::start_with(cfg, deps).await.unwrap();
    let r = &side.router;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (code, _, body) = call(r, "GET", "/healthz", &[], "").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));

    panics.store(1, Ordering::Relaxed);
    // The next poll's step panics: down for the 1 s backoff.
    let mut seen = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (code, _, body) = call(r, "GET", "/healthz", &[], "").await;
        if code != 200 {
            seen = Some((code, body));
            break;
        }
    }
    let (code, body) = seen.expect("/healthz turned 503 within 2 s");
    assert_eq!(
        (code, body.as_str()),
        (503, "down after a panic, restarting: state\n")
    );
    let (_, _, text) = call(r, "GET", "/metrics", &[], "").await;
    assert_eq!(
        sample(&text, "clawwatch_task_panics_total", &[("task", "state")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "clawwatch_task_panics_total", &[("task", "gateway")]),
        Some(0.0)
    );

    // After the 1 s backoff the task runs again and the next polls refill it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, _, body) = call(r, "GET", "/healthz", &[], "").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, _, body) = call(r, "GET", "/health/detail", &[], "").await;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((code, doc["status"].as_str()), (200, Some("ok")));
    let (_, _, body) = call(r, "GET", "/api/v1/alerts", &[], "").await;
    let alerts: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["alert"].as_str())
        .collect();
    assert_eq!(names, ["ClawwatchTaskPanicking"]);
    side.cancel.cancel();
    sim.cancel.cancel();
}
