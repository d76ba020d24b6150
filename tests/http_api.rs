//! Every HTTP endpoint and its error paths, through the router without a
//! socket (`tower::ServiceExt::oneshot`), on a sidecar watching the
//! simulator over an in-memory pipe on a paused clock: exact answers.

mod common;
use common::{call, on_pipe};
use serde_json::{json, Value};
use std::time::Duration;

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn readiness_and_health_before_and_after_the_first_poll() {
    let (sim, side, _) = on_pipe("whatsapp-logged-out", |c| {
        // The first poll waits for the handshake, which needs the runtime.
        c.gateway.poll_interval = Duration::from_secs(1);
    })
    .await;
    let r = &side.router;
    // Before any task ran: no poll answered yet.
    let (code, _, body) = call(r, "GET", "/readyz", &[], "").await;
    assert_eq!(
        (code, body.as_str()),
        (503, "waiting for the first gateway poll\n")
    );
    let (code, _, body) = call(r, "GET", "/health/detail", &[], "").await;
    let doc = parse(&body);
    assert_eq!(code, 503);
    assert_eq!(doc["status"], "starting");
    assert_eq!(doc["channels"], json!({}));
    assert_eq!(doc["checked_at"], Value::Null);
    let (code, _, body) = call(r, "GET", "/healthz", &[], "").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));

    tokio::time::sleep(Duration::from_secs(15)).await;
    let (code, _, body) = call(r, "GET", "/readyz", &[], "").await;
    assert_eq!((code, body.as_str()), (200, "ready\n"));
    let (code, _, body) = call(r, "GET", "/health/detail", &[], "").await;
    let doc = parse(&body);
    assert_eq!(code, 200);
    assert_eq!(doc["status"], "degraded");
    assert_eq!(
        doc["channels"],
        json!({"discord": "connected", "telegram": "connected", "whatsapp": "auth_required"})
    );
    assert_eq!(doc["accounts"]["whatsapp"][0]["reason"], "logged_out");
    assert_eq!(
        doc["accounts"]["whatsapp"][0]["since"],
        "2026-12-01T00:00:10.000Z"
    );
    assert_eq!(doc["checked_at"], "2026-12-01T00:00:14.000Z");
    assert_eq!(doc["uptime"], json!(15.0));
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_down_gateway_is_503_with_the_reason() {
    let (sim, side, _) = on_pipe("steady", |c| {
        c.gateway.token = Some(clawwatch::config::Secret::new("wrong-token"));
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (code, _, body) = call(&side.router, "GET", "/health/detail", &[], "").await;
    let doc = parse(&body);
    assert_eq!(code, 503);
    assert_eq!(doc["status"], "down");
    assert_eq!(doc["gateway"]["up"], false);
    assert_eq!(
        doc["gateway"]["error"],
        "the gateway at ws://127.0.0.1:18789 refused clawwatch's token (AUTH_TOKEN_MISMATCH); fix: set CLAWWATCH_GATEWAY_TOKEN or gateway.token_file to the gateway's gateway.auth.token"
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn metrics_in_both_formats() {
    let (sim, side, _) = on_pipe("steady", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let r = &side.router;
    let (code, h, om) = call(r, "GET", "/metrics", &[], "").await;
    assert_eq!(code, 200);
    assert_eq!(
        h["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE openclaw_channel_transitions counter\n"));
    assert_eq!(
        common::sample(
            &om,
            "openclaw_channel_up",
            &[("channel", "telegram"), ("account", "default")]
        ),
        Some(1.0)
    );
    let (code, h, prom) = call(r, "GET", "/metrics", &[("accept", "text/plain")], "").await;
    assert_eq!(code, 200);
    assert_eq!(
        h["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!prom.contains("# EOF"));
    assert!(prom.contains("# TYPE openclaw_channel_transitions_total counter\n"));
    let (_, h, _) = call(
        r,
        "GET",
        "/metrics",
        &[(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )],
        "",
    )
    .await;
    assert_eq!(
        h["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(h.get("content-encoding").is_none());
    // gzip when asked (Prometheus asks), in either format.
    for (accept, eof) in [
        ("application/openmetrics-text", true),
        ("text/plain", false),
    ] {
        let (code, h, text) = call(
            r,
            "GET",
            "/metrics",
            &[("accept", accept), ("accept-encoding", "gzip")],
            "",
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(h["vary"], "Accept, Accept-Encoding");
        assert_eq!(text.ends_with("# EOF\n"), eof);
        assert_eq!(
            common::sample(
                &text,
                "openclaw_channel_up",
                &[("channel", "telegram"), ("account", "default")]
            ),
            Some(1.0)
        );
    }
    let (_, h, _) = call(r, "GET", "/metrics", &[("accept-encoding", "gzip;q=0")], "").await;
    assert!(h.get("content-encoding").is_none());
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn history_alerts_and_the_status_page() {
    let (sim, side, _) = on_pipe("whatsapp-logged-out", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let r = &side.router;
    let (code, _, body) = call(r, "GET", "/api/v1/history?channel=whatsapp", &[], "").await;
    assert_eq!(code, 200);
    assert_eq!(
        parse(&body),
        json!([
            {"id": 5, "kind": "disconnect", "at": "2026-12-01T00:00:10.000Z", "channel": "whatsapp", "account": "default", "reason": "logged_out"},
            {"id": 4, "kind": "transition", "at": "2026-12-01T00:00:10.000Z", "channel": "whatsapp", "account": "default", "from": "connected", "to": "auth_required", "reason": "logged_out"},
            {"id": 3, "kind": "transition", "at": "2026-12-01T00:00:02.000Z", "channel": "whatsapp", "account": "default", "from": "connecting", "to": "connected", "reason": null},
        ])
    );
    let ids = |body: &str| -> Vec<u64> {
        parse(body)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect()
    };
    // Paging back, and a window by duration and by RFC 3339 (now is 00:00:15).
    let (_, _, body) = call(
        r,
        "GET",
        "/api/v1/history?channel=whatsapp&before=5",
        &[],
        "",
    )
    .await;
    assert_eq!(ids(&body), [4, 3]);
    let (_, _, body) = call(
        r,
        "GET",
        "/api/v1/history?channel=whatsapp&since=10s",
        &[],
        "",
    )
    .await;
    assert_eq!(ids(&body), [5, 4]);
    let (_, _, body) = call(
        r,
        "GET",
        "/api/v1/history?channel=whatsapp&until=2026-12-01T00:00:05Z",
        &[],
        "",
    )
    .await;
    assert_eq!(ids(&body), [3]);
    let (code, _, body) = call(r, "GET", "/api/v1/history?until=soon", &[], "").await;
    assert_eq!(code, 400);
    assert!(body.contains("until: \\\"soon\\\" is neither"), "{body}");
    let (code, _, body) = call(r, "GET", "/api/v1/history?colour=red", &[], "").await;
    assert_eq!(code, 400, "{body}");
    let (_, _, body) = call(r, "GET", "/api/v1/history?limit=1", &[], "").await;
    assert_eq!(parse(&body).as_array().unwrap().len(), 1);
    let (_, _, body) = call(r, "GET", "/api/v1/history?account=nobody", &[], "").await;
    assert_eq!(parse(&body), json!([]));
    let (code, _, body) = call(r, "GET", "/api/v1/history?limit=lots", &[], "").await;
    assert_eq!(code, 400);
    assert!(body.contains("limit"), "{body}");

    let (code, _, body) = call(r, "GET", "/api/v1/alerts", &[], "").await;
    assert_eq!(code, 200);
    let alerts = parse(&body);
    assert_eq!(alerts.as_array().unwrap().len(), 1, "{alerts}");
    assert_eq!(alerts[0]["alert"], "OpenClawChannelAuthRequired");
    assert_eq!(alerts[0]["channel"], "whatsapp");
    assert_eq!(alerts[0]["active_since"], "2026-12-01T00:00:10.000Z");
    assert_eq!(alerts[0]["silenced"], false);
    assert_eq!(
        alerts[0]["runbook"],
        "docs/runbooks.md#openclawchannelauthrequired"
    );

    let (code, h, page) = call(r, "GET", "/", &[], "").await;
    assert_eq!(code, 200);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert!(
        page.contains("<b class=\"g-degraded\" id=\"status\">degraded</b>"),
        "{page}"
    );
    assert!(page
        .contains(r#"data-channel="whatsapp" data-account="default" data-state="auth_required""#));
    assert!(
        page.contains("openclaw channels login --channel whatsapp"),
        "the fix: {page}"
    );
    let (code, _, acct) = call(r, "GET", "/account/whatsapp/default", &[], "").await;
    assert_eq!(code, 200);
    assert!(
        acct.contains("connected → auth_required (logged_out)"),
        "{acct}"
    );
    let (code, _, _) = call(r, "GET", "/account/whatsapp/nobody", &[], "").await;
    assert_eq!(code, 404);
    let (code, h, js) = call(r, "GET", "/assets/status.js", &[], "").await;
    assert_eq!(code, 200);
    assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
    assert!(js.contains("EventSource"));
    let (code, _, _) = call(r, "GET", "/assets/nope.js", &[], "").await;
    assert_eq!(code, 404);
    let (code, _, _) = call(r, "GET", "/nope", &[], "").await;
    assert_eq!(code, 404);
    let (code, _, _) = call(r, "POST", "/metrics", &[], "").await;
    assert_eq!(code, 405);
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn silences_add_list_expire_and_refuse_bad_input() {
    let (sim, side, _) = on_pipe("whatsapp-logged-out", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let r = &side.router;
    let json_ct = [("content-type", "application/json")];
    let bad = [
        ("{not json", "body: key must be a string at line 1 column 2"),
        (r#"{"matchers": [], "duration": "1h"}"#, "matcher \"\": a silence needs at least one matcher (alertname=~\".+\" mutes everything)"),
        (r#"{"matchers": ["chanel=x"], "duration": "1h"}"#, "matcher \"chanel=\\\"x\\\"\": no label \"chanel\"; labels are alertname, severity, channel, account, integration"),
        (r#"{"matchers": ["channel=x"]}"#, "give endsAt or duration (one of them)"),
        (r#"{"matchers": ["channel=x"], "endsAt": "2020-01-01T00:00:00Z"}"#, "endsAt must be after startsAt"),
        (r#"{"matchers": ["channel=x"], "startsAt": "2019-01-01T00:00:00Z", "endsAt": "2020-01-01T00:00:00Z"}"#, "endsAt is in the past"),
        (r#"{"matchers": ["channel=x"], "duration": "1h", "colour": "red"}"#, "body: unknown field `colour`, expected one of `matchers`, `startsAt`, `endsAt`, `duration`, `comment`, `createdBy`, `id` at line 1 column 54"),
    ];
    for (body, want) in bad {
        let (code, _, got) = call(r, "POST", "/api/v1/silences", &json_ct, body).await;
        assert_eq!(
            (code, parse(&got)["error"].as_str().unwrap_or("")),
            (400, want),
            "{body}"
        );
    }
    let (code, _, got) = call(
        r,
        "POST",
        "/api/v1/silences",
        &json_ct,
        r#"{"matchers": ["channel=whatsapp"], "duration": "2h", "comment": "relinking", "createdBy": "ops"}"#,
    )
    .await;
    assert_eq!(code, 200, "{got}");
    let made = parse(&got);
    let id = made["silenceID"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(made["silence"]["status"], "active");
    assert_eq!(made["silence"]["startsAt"], "2026-12-01T00:00:15.000Z");
    assert_eq!(made["silence"]["endsAt"], "2026-12-01T02:00:15.000Z");
    // The alert it covers now shows as silenced.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, _, alerts) = call(r, "GET", "/api/v1/alerts", &[], "").await;
    assert_eq!(parse(&alerts)[0]["silenced"], true);

    let (_, _, list) = call(r, "GET", "/api/v1/silences", &[], "").await;
    let list = parse(&list);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(
        list[0]["matchers"],
        json!([{"name": "channel", "value": "whatsapp", "isRegex": false, "isEqual": true}])
    );
    let (code, _, got) = call(r, "DELETE", &format!("/api/v1/silences/{id}"), &[], "").await;
    assert_eq!(code, 200);
    assert_eq!(parse(&got)["status"], "expired");
    let (code, _, got) = call(r, "DELETE", "/api/v1/silences/nope", &[], "").await;
    assert_eq!(
        (code, parse(&got)["error"].as_str()),
        (404, Some("no silence \"nope\""))
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_bearer_token_guards_all_but_healthz() {
    let (sim, side, _) = on_pipe("steady", |c| {
        c.server.bearer_token = Some(clawwatch::config::Secret::new("s3cret-bearer"));
    })
    .await;
    let r = &side.router;
    for path in ["/metrics", "/health/detail", "/api/v1/silences", "/"] {
        let (code, h, body) = call(r, "GET", path, &[], "").await;
        assert_eq!(
            (code, body.as_str()),
            (401, "missing or wrong bearer token\n"),
            "{path}"
        );
        assert_eq!(h["www-authenticate"], "Bearer");
        let (code, _, _) = call(r, "GET", path, &[("authorization", "Bearer nope")], "").await;
        assert_eq!(code, 401, "{path}");
    }
    let (code, _, _) = call(
        r,
        "GET",
        "/metrics",
        &[("authorization", "Bearer s3cret-bearer")],
        "",
    )
    .await;
    assert_eq!(code, 200);
    let (code, _, _) = call(r, "GET", "/healthz", &[], "").await;
    assert_eq!(code, 200);
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn events_stream_is_server_sent_events() {
    let (sim, side, _) = on_pipe("whatsapp-logged-out", |_| {}).await;
    use tower::ServiceExt as _;
    let resp = side
        .router
        .clone()
        .oneshot(
            axum::http::Request::get("/api/v1/events")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body().into_data_stream();
    use futures_util::StreamExt as _;
    let mut text = String::new();
    while !text.contains("\"to\":\"auth_required\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("an event within 30 s")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let line = text
        .lines()
        .find(|l| l.contains("\"to\":\"auth_required\""))
        .unwrap();
    let ev = parse(line.strip_prefix("data: ").unwrap());
    assert_eq!(
        ev,
        json!({"kind": "transition", "at": "2026-12-01T00:00:10.000Z", "channel": "whatsapp", "account": "default", "from": "connected", "to": "auth_required", "reason": "logged_out"})
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_disconnect_reason_is_zero_from_the_first_scrape() {
    let (sim, side, _) = on_pipe("steady", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, _, text) = call(
        &side.router,
        "GET",
        "/metrics",
        &[("accept", "text/plain")],
        "",
    )
    .await;
    let s = common::samples(&text);
    let mut accounts = std::collections::BTreeSet::new();
    for ((name, labels), v) in &s {
        if name == "openclaw_channel_up" {
            accounts.insert(labels.clone());
            assert_eq!(*v, 1.0);
        }
    }
    assert_eq!(accounts.len(), 3, "{accounts:?}");
    for acct in &accounts {
        for reason in clawwatch::model::Reason::ALL {
            let mut l = acct.clone();
            l.push(("reason".into(), reason.as_str().into()));
            l.sort();
            assert_eq!(
                s.get(&("openclaw_channel_disconnects_total".into(), l)),
                Some(&0.0),
                "{acct:?} {reason:?}"
            );
        }
    }
    side.cancel.cancel();
    sim.cancel.cancel();
}
