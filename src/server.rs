//! The HTTP surface: `/metrics`, `/health/detail`, `/healthz`, `/readyz`,
//! the `/api/v1/...` endpoints and a small status page. Handlers only read
//! published snapshots; a change (a silence) is a command to its owner.

use crate::alert::dispatch::Command;
use crate::alert::silence::SilenceError;
use crate::alert::Published;
use crate::clock::{rfc3339, Clock};
use crate::metrics::{Exposition, Format};
use crate::redact::redact;
use crate::snapshot::Snapshot;
use crate::state::Phase;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Everything the server reads, and where it sends commands.
#[derive(Clone, Debug)]
pub struct Shared {
    /// Latest snapshot of the state.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Alerts firing and silences.
    pub alerting: watch::Receiver<Arc<Published>>,
    /// Commands to the silences' owner.
    pub commands: mpsc::Sender<Command>,
    /// Cached `/metrics` bytes.
    pub exposition: Arc<Exposition>,
    /// Refusal counters.
    pub metrics: crate::metrics::Metrics,
    /// Who is let in, and how; a reload replaces it.
    pub access: watch::Receiver<Arc<Access>>,
    /// Which supervised tasks are down.
    pub health: crate::supervise::Health,
    /// Where `POST /api/v1/recovery/reset` goes.
    pub recovery: mpsc::Sender<crate::recovery::Command>,
    /// Where `POST /-/reload` asks for a reload (`None`: nothing to reload).
    pub reload: Option<mpsc::Sender<oneshot::Sender<crate::config::ReloadReport>>>,
    /// Live events (transitions, rule matches) as JSON, for `/api/v1/events`.
    pub events: broadcast::Sender<Arc<str>>,
    /// The history on disk.
    pub history: crate::history::store::Shared,
    /// Ends long-lived responses on shutdown.
    pub cancel: CancellationToken,
    /// The clock.
    pub clock: Clock,
}

/// Authentication and the guard: what a reload can change.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// What requests are let in.
    pub guard: Guard,
    /// Required bearer token, if any.
    pub bearer: Option<crate::config::Secret>,
    /// Basic auth users of the web config, if any. With a bearer token
    /// too, either one lets a request in.
    pub basic: Option<crate::webconfig::BasicAuth>,
    /// Headers the web config adds to every response.
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// The address a request came from, set by the listener.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

/// Who may talk to the server, besides the bearer token.
#[derive(Clone, Debug, Default)]
pub struct Guard {
    /// Writes from peers that are not loopback need no authentication.
    pub allow_unauthenticated_writes: bool,
    /// Bound to a loopback address: a foreign `Host` is refused.
    pub loopback: bool,
    /// Further names `Host` may carry (`[server] allowed_hosts`).
    pub allowed_hosts: Vec<String>,
    /// `/api/v1/events` subscribers at once.
    pub max_subscribers: usize,
}

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The host part of a `Host` header or an origin's authority, lowercased,
/// without port or IPv6 brackets.
fn host_name(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match a.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
        _ => a,
    }
}

fn loopback_name(host: &str, allowed: &[String]) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

fn refuse(s: &Shared, reason: &'static str, code: StatusCode, message: String) -> Response {
    s.metrics
        .http_refused
        .get_or_create(&crate::metrics::RefusedLabels { reason })
        .inc();
    s.exposition.touch();
    s.exposition.schedule();
    error(code, message)
}

/// Refuses what a web page the operator visits could send: a foreign
/// `Host` on a loopback bind (DNS rebinding), a cross-site write, and a
/// write body that is not JSON (a form post needs no preflight).
async fn guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let a = s.access.borrow().clone();
    let h = req.headers();
    let host = h
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    if a.guard.loopback {
        if let Some(host) = host {
            if !loopback_name(&host_name(host), &a.guard.allowed_hosts) {
                return refuse(
                    &s,
                    "host",
                    StatusCode::FORBIDDEN,
                    "the Host header names another server (DNS rebinding?); a loopback clawwatch answers only to loopback names and server.allowed_hosts".into(),
                );
            }
        }
    }
    let m = req.method();
    let write = !(m == axum::http::Method::GET
        || m == axum::http::Method::HEAD
        || m == axum::http::Method::OPTIONS);
    if write && a.bearer.is_none() && a.basic.is_none() && !a.guard.allow_unauthenticated_writes {
        // Without the listener's Peer (a request built in-process) the
        // caller is this process.
        let peer = req.extensions().get::<Peer>().map(|p| p.0);
        if let Some(p) = peer.filter(|p| !p.ip().to_canonical().is_loopback()) {
            return refuse(
                &s,
                "auth",
                StatusCode::FORBIDDEN,
                format!("a write from {} needs authentication: set server.bearer_token_file or basic_auth_users in the web config (or server.allow_unauthenticated_writes = true)", p.ip()),
            );
        }
    }
    if write {
        let fetch_site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        if fetch_site.is_some_and(|v| v.eq_ignore_ascii_case("cross-site")) {
            return refuse(
                &s,
                "origin",
                StatusCode::FORBIDDEN,
                "a cross-site request may not change clawwatch (Sec-Fetch-Site: cross-site)".into(),
            );
        }
        if let Some(origin) = h.get(header::ORIGIN) {
            let authority = origin
                .to_str()
                .ok()
                .and_then(|o| o.split_once("://"))
                .map(|(_, a)| a.trim_end_matches('/'));
            let same =
                matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h.trim()));
            if !same {
                return refuse(
                    &s,
                    "origin",
                    StatusCode::FORBIDDEN,
                    "a write from another origin is refused; send it without an Origin header (curl, clawwatch silence) or from clawwatch's own page".into(),
                );
            }
        }
        let has_body = h.contains_key(header::TRANSFER_ENCODING)
            || h.get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() != "0");
        if has_body {
            let json = h
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return refuse(
                    &s,
                    "content_type",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "a request body must be JSON: send Content-Type: application/json".into(),
                );
            }
        }
        let too_long = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > MAX_BODY_BYTES as u64);
        if too_long {
            return refuse(
                &s,
                "body",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a request body may hold at most {MAX_BODY_BYTES} bytes"),
            );
        }
    }
    next.run(req).await
}

/// Builds the router.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/account/{channel}/{account}", get(account_page))
        .route("/assets/{name}", get(asset))
        .route("/metrics", get(metrics))
        .route("/health/detail", get(health_detail))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/history", get(history))
        .route("/api/v1/events", get(events))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/silences", get(silences).post(add_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .route("/api/v1/recovery", get(recovery))
        .route("/api/v1/recovery/reset", post(recovery_reset))
        .route("/-/reload", post(reload).put(reload))
        .layer(middleware::from_fn_with_state(shared.clone(), auth))
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn auth(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let s = s.access.borrow().clone();
    // Liveness and readiness say nothing about channels: probes (kubelet,
    // systemd, compose) need no credentials.
    let open = matches!(req.uri().path(), "/healthz" | "/readyz");
    let mut resp = if (s.bearer.is_some() || s.basic.is_some()) && !open {
        if authenticated(&s, req.headers()).await {
            next.run(req).await
        } else {
            let why = if s.basic.is_some() {
                "missing or wrong credentials\n"
            } else {
                "missing or wrong bearer token\n"
            };
            let mut r = (StatusCode::UNAUTHORIZED, why).into_response();
            let h = r.headers_mut();
            if s.basic.is_some() {
                h.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"clawwatch\""),
                );
            }
            if s.bearer.is_some() {
                h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            r
        }
    } else {
        next.run(req).await
    };
    for (k, v) in &s.headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

/// Only this many bcrypt checks run at once: a flood of wrong passwords
/// costs at most this many cores' worth of blocking threads.
static BCRYPT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

async fn authenticated(s: &Access, headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if let (Some(token), Some(v)) = (&s.bearer, value.strip_prefix("Bearer ")) {
        return constant_time_eq(v.as_bytes(), token.expose().as_bytes());
    }
    let (Some(basic), Some(b64)) = (&s.basic, value.strip_prefix("Basic ")) else {
        return false;
    };
    use base64::Engine as _;
    let Some(pair) = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((user, password)) = pair.split_once(':') else {
        return false;
    };
    let (basic, user, password) = (basic.clone(), user.to_owned(), password.to_owned());
    let Ok(_permit) = BCRYPT.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || basic.verify(&user, &password))
        .await
        .unwrap_or(false)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn snapshot(s: &Shared) -> Arc<Snapshot> {
    s.snapshot.borrow().clone()
}

fn alerting(s: &Shared) -> Arc<Published> {
    s.alerting.borrow().clone()
}

/// Picks the exposition format from an Accept header.
pub fn negotiate(accept: Option<&str>) -> Format {
    match accept {
        Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
        Some(a) if a.contains("text/plain") => Format::Prometheus,
        _ => Format::OpenMetrics,
    }
}

/// Whether an Accept-Encoding header takes gzip (`gzip` or `*`, q above 0).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|v| {
        v.split(',').any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .map_or(Some(1.0), |q| q.parse::<f32>().ok());
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q.is_some_and(|q| q > 0.0)
        })
    })
}

async fn metrics(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let format = negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzip = accepts_gzip(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    let body = s.exposition.current(format, gzip).await;
    let ct = match format {
        Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
    };
    let mut r = ([(header::CONTENT_TYPE, HeaderValue::from_static(ct))], body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
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
        let r = snap.recovery.get(&a.channel, &a.account);
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
                "recovery": r.map(|v| v.status.as_str()).unwrap_or(if snap.recovery.enabled { "not_attempted" } else { "disabled" }),
                "recovery_attempts": r.map(|v| v.attempts_this_hour).unwrap_or(0),
                "next_attempt_at": r.and_then(|v| v.next_attempt_at).map(rfc3339),
                "recovery_rule": r.map(|v| v.rule),
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
            "decode_errors": snap.decode_errors.iter().map(|(c, a, p)| json!({
                "channel": c, "account": a, "problem": p,
            })).collect::<Vec<_>>(),
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

/// 200 while every core task runs; 503 naming the ones restarting after a panic.
async fn healthz(State(s): State<Shared>) -> Response {
    let down = s.health.core_down();
    if down.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("down after a panic, restarting: {}\n", down.join(", ")),
        )
            .into_response()
    }
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
async fn events(State(s): State<Shared>) -> Response {
    let max = s.access.borrow().guard.max_subscribers;
    if s.events.receiver_count() >= max {
        return refuse(
            &s,
            "subscribers",
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{max} event subscribers already (server.max_subscribers); try again later"),
        );
    }
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
            Some((Ok::<_, std::convert::Infallible>(ev), (rx, cancel)))
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Built-in alerts firing now.
async fn alerts(State(s): State<Shared>) -> Json<Value> {
    let p = alerting(&s);
    let now = s.clock.now();
    Json(json!(p
        .firing
        .iter()
        .map(|a| json!({
            "alert": a.name, "severity": a.severity, "channel": a.channel, "account": a.account,
            "integration": a.integration,
            "active_since": rfc3339(a.active_since), "summary": a.summary, "description": redact(&a.description),
            "fix": a.fix, "runbook": a.runbook, "silenced": p.silences.mutes(a, now),
        }))
        .collect::<Vec<_>>()))
}

fn error(code: StatusCode, message: String) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

/// Re-reads and applies the config: 200 with what changed, or 400 with
/// the problems by key path while the old config keeps running.
async fn reload(State(s): State<Shared>) -> Response {
    let Some(tx) = &s.reload else {
        return error(
            StatusCode::BAD_REQUEST,
            "this clawwatch has no config file to reload".into(),
        );
    };
    let (reply, answer) = oneshot::channel();
    if tx.send(reply).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    let Ok(r) = answer.await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    };
    let problems: Vec<Value> = r
        .problems
        .iter()
        .map(|p| {
            json!({
                "severity": match p.severity {
                    crate::config::Severity::Error => "error",
                    crate::config::Severity::Warning => "warning",
                },
                "path": p.path,
                "message": redact(&p.message),
            })
        })
        .collect();
    if r.ok() {
        let body = json!({
            "status": "success",
            "applied": r.applied,
            "restart_required": r.restart_required,
            "problems": problems,
        });
        return (StatusCode::OK, Json(body)).into_response();
    }
    let body = json!({
        "status": "error",
        "error": "the new config is invalid; the old one keeps running",
        "problems": problems,
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Silences and maintenance windows, newest first.
async fn silences(State(s): State<Shared>) -> Json<Value> {
    Json(json!(alerting(&s).silences.list(s.clock.now())))
}

/// Sends `cmd` to the silences' owner and waits for its answer.
async fn ask<T>(
    s: &Shared,
    cmd: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let gone = || {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "alerting is not running".into(),
        )
    };
    s.commands.send(cmd(tx)).await.map_err(|_| gone())?;
    rx.await.map_err(|_| gone())
}

/// Creates a silence: `{"matchers": ["channel=whatsapp"], "duration": "2h", "comment": "..."}`
/// or Alertmanager's shape with `startsAt`/`endsAt`.
async fn add_silence(
    State(s): State<Shared>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                &s,
                "body",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a request body may hold at most {MAX_BODY_BYTES} bytes"),
            )
        }
        Err(e) => return error(e.status(), e.body_text()),
    };
    let new: crate::alert::silence::NewSilence = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let limit = |e: SilenceError, code| match e.refusal() {
        Some(reason) => refuse(&s, reason, code, e.to_string()),
        None => error(code, e.to_string()),
    };
    let silence = match new.build(s.clock.now()) {
        Ok(x) => x,
        Err(e) => return limit(e, StatusCode::BAD_REQUEST),
    };
    match ask(&s, |tx| Command::AddSilence(silence, tx)).await {
        Ok(Ok(x)) => (
            StatusCode::OK,
            Json(json!({"silenceID": x.id, "silence": x.with_status(s.clock.now())})),
        )
            .into_response(),
        Ok(Err(e @ SilenceError::Full(_))) => limit(e, StatusCode::TOO_MANY_REQUESTS),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => r,
    }
}

/// Ends a silence now.
async fn expire_silence(
    State(s): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match ask(&s, |tx| Command::ExpireSilence(id, tx)).await {
        Ok(Ok(x)) => Json(json!(x)).into_response(),
        Ok(Err(e @ SilenceError::NotFound(_))) => error(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(r) => r,
    }
}

/// `GET /api/v1/recovery`: what recovery does for each account.
async fn recovery(State(s): State<Shared>) -> Json<Value> {
    let snap = s.snapshot.borrow().clone();
    let t = &snap.recovery;
    let views = |gateway: bool| -> Vec<Value> {
        t.views
            .iter()
            .filter(|((ch, _), _)| ch.is_empty() == gateway)
            .map(|((ch, acct), v)| v.to_json(ch, acct))
            .collect()
    };
    Json(json!({
        "enabled": t.enabled,
        "accounts": views(false),
        "gateway": views(true).into_iter().next(),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    channel: Option<String>,
    account: Option<String>,
}

/// `POST /api/v1/recovery/reset`: clears exhausted budgets.
async fn recovery_reset(
    State(s): State<Shared>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let b: ResetBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResetBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
        }
    };
    let (tx, rx) = oneshot::channel();
    let cmd = crate::recovery::Command::Reset {
        channel: b.channel,
        account: b.account,
        reply: tx,
    };
    if s.recovery.send(cmd).await.is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "recovery is not running".into(),
        );
    }
    match tokio::time::timeout(std::time::Duration::from_secs(10), rx).await {
        Ok(Ok(keys)) => Json(json!({
            "status": "success",
            "reset": keys.iter().map(|(c, a)| json!({"channel": c, "account": a})).collect::<Vec<_>>(),
        }))
        .into_response(),
        _ => error(StatusCode::SERVICE_UNAVAILABLE, "recovery did not answer".into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    channel: Option<String>,
    account: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

/// RFC 3339, or a duration back from `now` (`24h`).
pub fn parse_when(what: &str, s: &str, now: crate::clock::Ts) -> Result<crate::clock::Ts, String> {
    let s = s.trim();
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now - d.as_secs_f64());
    }
    crate::clock::parse_rfc3339(s).map_err(|_| {
            format!("{what}: {s:?} is neither an RFC 3339 time (2026-12-07T10:00:00Z) nor a duration back from now (24h)")
        })
}

/// `GET /api/v1/history`: the store, newest first.
async fn history(
    State(s): State<Shared>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let now = s.clock.now();
    let when =
        |what, v: &Option<String>| v.as_deref().map(|v| parse_when(what, v, now)).transpose();
    let (since, until) = match (when("since", &q.since), when("until", &q.until)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let query = crate::history::store::Query {
        channel: q.channel,
        account: q.account,
        since,
        until,
        before: q.before,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    let store = s.history.clone();
    let items =
        tokio::task::spawn_blocking(move || crate::history::store::lock(&store).query(&query))
            .await
            .unwrap_or_default();
    Json(Value::Array(items)).into_response()
}

fn page(html: Result<String, minijinja::Error>) -> Response {
    match html {
        Ok(html) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Cannot render the status page.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the status page\n",
            )
                .into_response()
        }
    }
}

async fn index(State(s): State<Shared>) -> Response {
    let (snap, alerts, now) = (snapshot(&s), alerting(&s), s.clock.now());
    let store = s.history.clone();
    let html = tokio::task::spawn_blocking(move || {
        crate::web::index(&snap, &alerts, &crate::history::store::lock(&store), now)
    })
    .await;
    match html {
        Ok(h) => page(h),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page render failed".into(),
        ),
    }
}

/// `/account/{channel}/{account}`.
async fn account_page(
    State(s): State<Shared>,
    axum::extract::Path((channel, account)): axum::extract::Path<(String, String)>,
) -> Response {
    let (snap, now) = (snapshot(&s), s.clock.now());
    let store = s.history.clone();
    let html = tokio::task::spawn_blocking(move || {
        crate::web::account(
            &snap,
            &crate::history::store::lock(&store),
            &channel,
            &account,
            now,
        )
    })
    .await;
    match html {
        Ok(Some(h)) => page(h),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such channel account".into()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page render failed".into(),
        ),
    }
}

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "status.css" => (crate::web::CSS, "text/css; charset=utf-8"),
        "status.js" => (crate::web::JS, "text/javascript; charset=utf-8"),
        _ => return error(StatusCode::NOT_FOUND, "no such asset".into()),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_taken_only_when_offered_with_a_weight() {
        for (h, want) in [
            (None, false),
            (Some(""), false),
            (Some("gzip"), true),
            (Some("GZIP"), true),
            (Some("deflate, gzip;q=0.5"), true),
            (Some("gzip;q=0"), false),
            (Some("gzip;q=0.0, identity"), false),
            (Some("*"), true),
            (Some("br, zstd"), false),
            (Some("x-gzip"), false),
            (Some("gzip;q=nonsense"), false),
        ] {
            assert_eq!(accepts_gzip(h), want, "{h:?}");
        }
    }
}
