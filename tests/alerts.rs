//! Built-in alerts delivered by webhook through the persistent outbox: a
//! simulated WhatsApp logout gives exactly one firing and one resolved
//! notice, also when the receiver fails for a while.

mod common;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use clawwatch::simulate::{self, Options};
use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Sink {
    got: Arc<Mutex<Vec<Value>>>,
    fail_first: Arc<Mutex<u32>>,
}

async fn hook(State(s): State<Sink>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    let mut fail = s.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    assert_eq!(
        headers["x-clawwatch-id"].to_str().unwrap(),
        body["id"].as_str().unwrap()
    );
    s.got.lock().unwrap().push(body);
    StatusCode::OK
}

async fn sink(fail_first: u32) -> (String, Sink) {
    let s = Sink {
        fail_first: Arc::new(Mutex::new(fail_first)),
        ..Default::default()
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(s.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, s)
}

async fn logout_notices(fail_first: u32) -> (Vec<(String, String, String)>, String) {
    let (url, s) = sink(fail_first).await;
    let sim = simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            scenario: "whatsapp-logged-out".into(),
            token: Some(TOKEN.into()),
            speed: 5.0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
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
