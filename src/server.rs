//! The HTTP surface: `/metrics`, `/health/detail`, `/healthz`, `/readyz`,
//! `/api/v1/history` and a small status page. Handlers only read snapshots.

use crate::app::{Phase, Shared, Snapshot};
use crate::metrics::Format;
use crate::redact::redact;
use crate::state::{rfc3339, Event};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Builds the router.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/health/detail", get(health_detail))
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route("/readyz", get(readyz))
        .route("/api/v1/history", get(history))
        .route("/api/v1/events", get(events))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/silences", get(silences).post(add_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .layer(middleware::from_fn_with_state(shared.clone(), auth))
        .with_state(shared)
}

async fn auth(State(s): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.bearer {
        if req.uri().path() != "/healthz" {
            let ok = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|v| constant_time_eq(v.as_bytes(), token.expose().as_bytes()));
            if !ok {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "missing or wrong bearer token\n",
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn snapshot(s: &Shared) -> Arc<Snapshot> {
    s.snapshot.borrow().clone()
}

/// Picks the exposition format from an Accept header.
pub fn negotiate(accept: Option<&str>) -> Format {
    match accept {
        Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
        Some(a) if a.contains("text/plain") => Format::Prometheus,
        _ => Format::OpenMetrics,
    }
}

async fn metrics(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let format = negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = s.exposition.get(format);
    let ct = match format {
        Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(ct))],
        body.to_vec(),
    )
        .into_response()
}

/// The `/health/detail` document.
pub fn health_document(snap: &Snapshot, now: crate::clock::Ts) -> Value {
    let mut channels = Map::new();
    for (ch, st) in snap.channel_states() {
        channels.insert(ch, json!(st.as_str()));
    }
    let mut accounts = Map::new();
    for a in snap.accounts.iter() {
        let entry = accounts
            .entry(a.channel.clone())
            .or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(json!({
                "account": a.account,
                "state": a.state.as_str(),
                "since": rfc3339(a.since),
                "reason": a.reason.map(|r| r.as_str()),
                "reconnect_attempts": a.reconnect_attempts,
                "last_error": a.last_error.as_deref().map(redact),
                "last_inbound_at": a.last_inbound_at.map(rfc3339),
                "last_event_at": a.last_event_at.map(rfc3339),
                "last_transport_activity_at": a.last_transport_activity_at.map(rfc3339),
                "probe_ok": a.probe_ok,
                "recovery": if a.recovery_exhausted { "exhausted" } else { "not_attempted" },
                "recovery_exhausted": a.recovery_exhausted,
            }));
        }
    }
    json!({
        "status": snap.status(),
        "uptime": snap.uptime_at(now),
        "checked_at": snap.checked_at.map(rfc3339),
        "gateway": {
            "url": snap.gateway_url,
            "up": snap.phase == Phase::Up,
            "ready": snap.ready,
            "version": snap.version,
            "error": snap.gateway_error,
        },
        "channels": channels,
        "accounts": accounts,
    })
}

async fn health_detail(State(s): State<Shared>) -> Response {
    let snap = snapshot(&s);
    let code = match snap.status() {
        "down" | "starting" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    (code, Json(health_document(&snap, s.clock.now()))).into_response()
}

async fn readyz(State(s): State<Shared>) -> Response {
    if snapshot(&s).polled {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first gateway poll\n",
        )
            .into_response()
    }
}

/// Server-Sent Events: each transition, disconnect and rule match as JSON.
async fn events(
    State(s): State<Shared>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let rx = s.events.subscribe();
    let stream =
        futures_util::stream::unfold((rx, s.cancel.clone()), |(mut rx, cancel)| async move {
            let item = tokio::select! {
                _ = cancel.cancelled() => return None,
                r = rx.recv() => r,
            };
            let ev = match item {
                Ok(json) => SseEvent::default().data(&*json),
                // A slow reader missed events: say how many.
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    SseEvent::default().event("lagged").data(n.to_string())
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(ev), (rx, cancel)))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Built-in alerts firing now.
async fn alerts(State(s): State<Shared>) -> Json<Value> {
    let snap = snapshot(&s);
    let now = s.clock.now();
    let sil = s.silences.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!(snap
        .alerts
        .iter()
        .map(|a| json!({
            "alert": a.name, "severity": a.severity, "channel": a.channel, "account": a.account,
            "integration": a.integration,
            "active_since": rfc3339(a.active_since), "summary": a.summary, "description": redact(&a.description),
            "fix": a.fix, "runbook": a.runbook, "silenced": sil.mutes(a, now),
        }))
        .collect::<Vec<_>>()))
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// Silences and maintenance windows, newest first.
async fn silences(State(s): State<Shared>) -> Json<Value> {
    let sil = s.silences.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!(sil.list(s.clock.now())))
}

/// Creates a silence: `{"matchers": ["channel=whatsapp"], "duration": "2h", "comment": "..."}`
/// or Alertmanager's shape with `startsAt`/`endsAt`.
async fn add_silence(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let new: crate::alert::silence::NewSilence = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return bad_request(format!("body: {e}")),
    };
    let silence = match new.build(s.clock.now()) {
        Ok(x) => x,
        Err(e) => return bad_request(e.to_string()),
    };
    let saved = s
        .silences
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add(silence);
    match saved {
        Ok(x) => {
            tracing::info!(id = %x.id, matchers = %x.matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","), ends_at = %x.ends_at, "Silence added.");
            s.reevaluate.notify_one();
            (
                StatusCode::OK,
                Json(json!({"silenceID": x.id, "silence": x.with_status(s.clock.now())})),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": format!("cannot save silences.json: {e}")})),
        )
            .into_response(),
    }
}

/// Ends a silence now.
async fn expire_silence(
    State(s): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let r = s
        .silences
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .expire(&id, s.clock.now());
    match r {
        Ok(x) => {
            tracing::info!(id = %x.id, "Silence expired.");
            s.reevaluate.notify_one();
            Json(json!(x)).into_response()
        }
        Err(e @ crate::alert::silence::SilenceError::NotFound(_)) => {
            (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    channel: Option<String>,
    account: Option<String>,
    limit: Option<usize>,
}

async fn history(State(s): State<Shared>, Query(q): Query<HistoryQuery>) -> Json<Value> {
    let snap = snapshot(&s);
    let limit = q.limit.unwrap_or(100).min(10_000);
    let items: Vec<Value> = snap
        .history
        .iter()
        .filter(|e| {
            let (c, a) = e.key();
            q.channel.as_deref().is_none_or(|x| x == c)
                && q.account.as_deref().is_none_or(|x| x == a)
        })
        .take(limit)
        .map(Event::to_json)
        .collect();
    Json(json!(items))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn index(State(s): State<Shared>) -> Html<String> {
    let snap = snapshot(&s);
    let mut rows = String::new();
    for a in snap.accounts.iter() {
        rows.push_str(&format!(
            "<tr class=\"{st}\"><td>{}</td><td>{}</td><td>{st}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&a.channel),
            esc(&a.account),
            rfc3339(a.since),
            a.reason.map(|r| r.as_str()).unwrap_or(""),
            a.reconnect_attempts,
            st = a.state.as_str(),
        ));
    }
    let mut events = String::new();
    for e in snap.history.iter().take(20) {
        let v = e.to_json();
        events.push_str(&format!(
            "<li>{} {}/{} {} {}</li>\n",
            esc(v["at"].as_str().unwrap_or("")),
            esc(v["channel"].as_str().unwrap_or("")),
            esc(v["account"].as_str().unwrap_or("")),
            esc(v["kind"].as_str().unwrap_or("")),
            esc(&format!(
                "{} {}",
                v["to"].as_str().unwrap_or(""),
                v["reason"].as_str().unwrap_or("")
            )),
        ));
    }
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>clawwatch</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}
.connected td:nth-child(3){{color:#080}}.connecting td:nth-child(3),.reconnecting td:nth-child(3){{color:#a60}}
.disconnected td:nth-child(3),.error td:nth-child(3),.auth_required td:nth-child(3){{color:#c00;font-weight:bold}}</style></head>
<body><h1>clawwatch</h1><p>gateway {url}: <b id="status">{status}</b> (version {ver})</p>
<table><tr><th>channel</th><th>account</th><th>state</th><th>since</th><th>reason</th><th>reconnects</th></tr>
{rows}</table><h2>Recent events</h2><ul>{events}</ul>
<p><a href="/metrics">/metrics</a> · <a href="/health/detail">/health/detail</a> · <a href="/api/v1/history">/api/v1/history</a> · <a href="/api/v1/events">/api/v1/events</a></p></body></html>"#,
        url = esc(&snap.gateway_url),
        status = snap.status(),
        ver = esc(snap.version.as_deref().unwrap_or("?")),
    ))
}
