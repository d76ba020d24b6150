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

fn refused(text: &str, reason: &str) -> Option<f64> {
    sample(text, "clawwatch_http_refused_total", &[("reason", reason)])
}

const SILENCE: &str = r#"{"matchers": ["channel=whatsapp"], "duration": "1h"}"#;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn writes_a_web_page_could_send_are_refused() {
    let (sim, side, _) = on_pipe("steady", |c| c.server.max_silences = 2).await;
    let r = &side.router;
    // A browser form post: text/plain needs no preflight.
    let (code, _, body) = call(
        r,
        "POST",
        "/api/v1/silences",
        &[("content-type", "text/plain"), ("content-length", "52")],
        SILENCE,
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (
            415,
            r#"{"error":"a request body must be JSON: send Content-Type: application/json"}"#
        )
    );
    // JSON from a page on another origin, and a cross-site delete.
    let json = [
        ("content-type", "application/json"),
        ("content-length", "52"),
    ];
    let foreign = [
        json[0],
        json[1],
        ("origin", "http://evil.example"),
        ("host", "127.0.0.1:28789"),
    ];
    let (code, _, body) = call(r, "POST", "/api/v1/silences", &foreign, SILENCE).await;
    assert_eq!(
        (code, body.as_str()),
        (
            403,
            r#"{"error":"a write from another origin is refused; send it without an Origin header (curl, clawwatch silence) or from clawwatch's own page"}"#
        )
    );
    let (code, _, body) = call(
        r,
        "DELETE",
        "/api/v1/silences/x",
        &[("sec-fetch-site", "cross-site")],
        "",
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (
            403,
            r#"{"error":"a cross-site request may not change clawwatch (Sec-Fetch-Site: cross-site)"}"#
        )
    );
    // DNS rebinding: a loopback clawwatch reached under another name.
    let (code, _, body) = call(
        r,
        "GET",
        "/health/detail",
        &[("host", "rebind.evil.example:28789")],
        "",
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (
            403,
            r#"{"error":"the Host header names another server (DNS rebinding?); a loopback clawwatch answers only to loopback names and server.allowed_hosts"}"#
        )
    );
    for host in [
        "localhost:28789",
        "127.0.0.1:28789",
        "[::1]:28789",
        "127.0.0.1",
    ] {
        let (code, _, _) = call(r, "GET", "/healthz", &[("host", host)], "").await;
        assert_eq!(code, 200, "{host}");
    }
    // The same origin, and a client without Origin, may write.
    let same = [
        json[0],
        json[1],
        ("origin", "http://127.0.0.1:28789"),
        ("host", "127.0.0.1:28789"),
    ];
    let (code, _, _) = call(r, "POST", "/api/v1/silences", &same, SILENCE).await;
    assert_eq!(code, 200);
    let (code, _, _) = call(r, "POST", "/api/v1/silences", &json, SILENCE).await;
    assert_eq!(code, 200);
    // Limits: the count, the matchers, the body.
    let (code, _, body) = call(r, "POST", "/api/v1/silences", &json, SILENCE).await;
    assert_eq!(
        (code, body.as_str()),
        (
            429,
            r#"{"error":"2 silences already (server.max_silences); expire some first"}"#
        )
    );
    let many = format!(
        r#"{{"matchers": [{}], "duration": "1h"}}"#,
        vec![r#""channel=whatsapp""#; 33].join(",")
    );
    let (code, _, body) = call(r, "POST", "/api/v1/silences", &[json[0]], &many).await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            r#"{"error":"33 matchers; a silence may hold at most 32"}"#
        )
    );
    let long = format!(
        r#"{{"matchers": ["channel={}"], "duration": "1h"}}"#,
        "x".repeat(2000)
    );
    let (code, _, body) = call(r, "POST", "/api/v1/silences", &[json[0]], &long).await;
    assert_eq!(
        (code, body.as_str()),
        (400, r#"{"error":"a matcher is longer than 1024 bytes"}"#)
    );
    let huge = format!(
        r#"{{"matchers": ["channel=x"], "duration": "1h", "comment": "{}"}}"#,
        "x".repeat(70_000)
    );
    let (code, _, body) = call(r, "POST", "/api/v1/silences", &[json[0]], &huge).await;
    assert_eq!(
        (code, body.as_str()),
        (
            413,
            r#"{"error":"a request body may hold at most 65536 bytes"}"#
        )
    );
    let (_, _, text) = call(r, "GET", "/metrics", &[], "").await;
    let got: Vec<(&str, Option<f64>)> = [
        "content_type",
        "origin",
        "host",
        "silences",
        "matchers",
        "body",
        "subscribers",
    ]
    .into_iter()
    .map(|k| (k, refused(&text, k)))
    .collect();
    assert_eq!(
        got,
        [
            ("content_type", Some(1.0)),
            ("origin", Some(2.0)),
            ("host", Some(1.0)),
            ("silences", Some(1.0)),
            ("matchers", Some(2.0)),
            ("body", Some(1.0)),
            ("subscribers", Some(0.0)),
        ]
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn event_subscribers_are_capped() {
    use tower::ServiceExt as _;
    let (sim, side, _) = on_pipe("steady", |c| c.server.max_subscribers = 2).await;
    let r = &side.router;
    let open = || async {
        let req = axum::http::Request::get("/api/v1/events")
            .body(axum::body::Body::empty())
            .unwrap();
        r.clone().oneshot(req).await.unwrap()
    };
    let (a, b) = (open().await, open().await);
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (code, _, body) = call(r, "GET", "/api/v1/events", &[], "").await;
    assert_eq!(
        (code, body.as_str()),
        (
            503,
            r#"{"error":"2 event subscribers already (server.max_subscribers); try again later"}"#
        )
    );
    // A subscriber that leaves frees its place.
    drop(a);
    assert_eq!(open().await.status().as_u16(), 200);
    drop(b);
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_oversized_clients_are_cut_and_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = common::start_sim("steady", 1.0).await;
    let side = clawwatch::app::start(common::config(sim.addr), None)
        .await
        .unwrap();
    let addr = side.addr;
    // Sends `head`, then waits for the server to answer or close.
    let talk = |head: Vec<u8>| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&head).await.unwrap();
        let mut got = Vec::new();
        let t0 = std::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
        assert!(r.is_ok(), "the server held the connection past 20 s");
        (t0.elapsed(), String::from_utf8_lossy(&got).into_owned())
    };
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let (idle, slow, large) = tokio::join!(
        talk(Vec::new()),
        talk(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec()),
        talk(big.into_bytes()),
    );
    assert!(
        idle.0 >= Duration::from_secs(9) && idle.1.is_empty(),
        "{idle:?}"
    );
    assert!(slow.0 >= Duration::from_secs(9), "{slow:?}");
    assert!(large.1.starts_with("HTTP/1.1 431 "), "{:?}", &large.1);
    let text = common::metrics(&format!("http://{addr}")).await;
    let got: Vec<Option<f64>> = ["idle", "slow", "headers"]
        .iter()
        .map(|k| refused(&text, k))
        .collect();
    assert_eq!(got, [Some(1.0), Some(1.0), Some(1.0)]);
    side.cancel.cancel();
    sim.cancel.cancel();
}
