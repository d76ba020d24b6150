//! The gateway's WebSocket RPC (protocol 4): challenge, `connect` as
//! `gateway-client`/`backend`, `channels.status` polls (plain and probed),
//! pushed `health`/`tick` events, and tick-based dead-connection detection.
//! Every failure becomes one [`Observation::Down`] with the fix in its text;
//! the same failure repeated is logged once.

use crate::clock::Clock;
use crate::config::Secret;
use crate::metrics::{KindLabels, MethodLabels, Metrics};
use crate::model::ChannelsStatus;
use crate::model::GatewayErrorKind;
use crate::observation::Observation;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

/// The protocol version clawwatch speaks.
pub const PROTOCOL: u64 = 4;

/// How to reach and poll the gateway.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ws://` or `wss://` URL.
    pub url: String,
    /// Credentials for `connect`.
    pub credentials: Credentials,
    /// `channels.status` cadence.
    pub poll_interval: Duration,
    /// Probed `channels.status` cadence.
    pub probe_interval: Option<Duration>,
    /// `timeoutMs` given to probes.
    pub probe_timeout: Duration,
    /// One RPC round trip.
    pub rpc_timeout: Duration,
    /// TCP connect plus handshake.
    pub connect_timeout: Duration,
    /// Largest accepted frame.
    pub max_frame_bytes: usize,
    /// Accounts tracked at most (`[states] max_accounts`).
    pub max_accounts: usize,
    /// Dial this in-memory listener instead of `url`'s host (tests).
    pub pipe: Option<crate::pipe::Pipe>,
}

impl Settings {
    /// The URL as shown in messages: no credentials or query.
    fn u(&self) -> String {
        crate::redact::display_url(&self.url)
    }
}

/// What `connect` presents. A remote gateway also needs a signed device
/// identity (Ed25519 over the challenge nonce); it belongs here, beside the
/// token, and is not implemented: loopback needs none.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Shared gateway token.
    pub token: Option<Secret>,
    /// Scopes to ask for (`operator.read`; `operator.admin` only for RPC recovery).
    pub scopes: Vec<String>,
}

impl Credentials {
    fn connect_params(&self, _nonce: &str) -> Value {
        let mut p = json!({
            "minProtocol": PROTOCOL,
            "maxProtocol": PROTOCOL,
            "client": {
                "id": "gateway-client",
                "version": env!("CARGO_PKG_VERSION"),
                "platform": std::env::consts::OS,
                "mode": "backend",
            },
            "role": "operator",
            "scopes": self.scopes,
        });
        if let Some(t) = &self.token {
            p["auth"] = json!({ "token": t.expose() });
        }
        p
    }
}

/// A failed session: what kind, the fix, and when to retry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SessionError {
    /// Bounded kind, also a label.
    pub kind: GatewayErrorKind,
    /// One line naming the fix.
    pub message: String,
    /// The gateway asked us to wait this long.
    pub retry_after: Option<Duration>,
}

fn fail(kind: GatewayErrorKind, message: impl Into<String>) -> SessionError {
    SessionError {
        kind,
        message: message.into(),
        retry_after: None,
    }
}

/// The longest wait between tries, whatever the gateway hints.
const MAX_BACKOFF_MS: u64 = 30_000;

/// Maps an RPC error object to a kind and a line naming the fix.
pub fn explain_rpc_error(url: &str, err: &Value) -> SessionError {
    let code = err.get("code").and_then(Value::as_str).unwrap_or("");
    let detail = err
        .pointer("/details/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let msg = err.get("message").and_then(Value::as_str).unwrap_or("");
    let retry = err
        .get("retryAfterMs")
        .and_then(Value::as_u64)
        // A hint, not an order: never wait longer than the backoff's cap.
        .map(|ms| Duration::from_millis(ms.min(MAX_BACKOFF_MS)));
    match (code, detail) {
        (_, "AUTH_TOKEN_MISMATCH") | (_, "AUTH_TOKEN_MISSING") => fail(
            GatewayErrorKind::Auth,
            format!("the gateway at {url} refused clawwatch's token ({detail}); fix: set CLAWWATCH_GATEWAY_TOKEN or gateway.token_file to the gateway's gateway.auth.token"),
        ),
        (_, "PROTOCOL_MISMATCH") => {
            let n = |k: &str| err.pointer(&format!("/details/{k}")).and_then(Value::as_u64);
            let expected = n("expectedProtocol").map_or_else(|| "?".into(), |e| e.to_string());
            // What the gateway says was asked, which is what it refused.
            let asked = match (n("clientMinProtocol"), n("clientMaxProtocol")) {
                (Some(a), Some(b)) if a != b => format!("{a}..{b}"),
                (Some(a), _) | (None, Some(a)) => a.to_string(),
                (None, None) => PROTOCOL.to_string(),
            };
            fail(
                GatewayErrorKind::Protocol,
                format!("the gateway at {url} speaks protocol {expected}, clawwatch asked for {asked} (PROTOCOL_MISMATCH); fix: upgrade clawwatch or the gateway to matching versions"),
            )
        }
        ("NOT_PAIRED", _) | (_, "DEVICE_IDENTITY_REQUIRED") | ("PAIRING_REQUIRED", _) => fail(
            GatewayErrorKind::NotPaired,
            format!("the gateway at {url} wants a device identity ({code}): no usable token was sent; fix: set CLAWWATCH_GATEWAY_TOKEN or gateway.token_file (a non-loopback gateway also needs a paired device)"),
        ),
        (_, "MISSING_SCOPE") | ("FORBIDDEN", _) | ("AUTH_SCOPE_MISMATCH", _) => fail(
            GatewayErrorKind::MissingScope,
            format!("the gateway at {url} did not grant operator.read ({msg}); fix: run clawwatch on the gateway's host so it connects over loopback, or pair a device with operator.read"),
        ),
        ("UNAVAILABLE", _) => SessionError {
            kind: GatewayErrorKind::Unavailable,
            message: format!("the gateway at {url} is starting ({msg}); retrying"),
            retry_after: Some(retry.unwrap_or(Duration::from_secs(2))),
        },
        _ => fail(
            GatewayErrorKind::Rpc,
            format!("the gateway at {url} answered an error: {code} {msg}"),
        ),
    }
}

/// One frame, with the payload left as text until it is needed.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    ok: Option<bool>,
    event: Option<String>,
    #[serde(borrow)]
    payload: Option<&'a serde_json::value::RawValue>,
    error: Option<Value>,
}

struct Pending {
    method: &'static str,
    probed: bool,
    sent: Instant,
    deadline: Instant,
}

/// Runs sessions until cancelled, reconnecting with capped backoff.
pub async fn run(
    settings: Settings,
    tx: mpsc::Sender<Observation>,
    metrics: Metrics,
    clock: Clock,
    cancel: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    let mut last_logged: Option<String> = None;
    loop {
        let started = clock.instant();
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = session(&settings, &tx, &metrics, &clock, &cancel, &mut last_logged) => r,
        };
        let err = match result {
            Ok(()) => return,
            Err(e) => e,
        };
        metrics
            .gateway_errors
            .get_or_create(&KindLabels { kind: err.kind })
            .inc();
        report(&err, &mut last_logged);
        let obs = if err.kind == GatewayErrorKind::Unavailable {
            Observation::Starting {
                message: err.message.clone(),
            }
        } else {
            Observation::Down {
                kind: err.kind,
                message: err.message.clone(),
            }
        };
        if tx.send(obs).await.is_err() {
            return;
        }
        if clock.instant() - started > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        let wait = err.retry_after.unwrap_or_else(|| jitter(backoff));
        backoff = (backoff * 2).min(Duration::from_millis(MAX_BACKOFF_MS));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.8..1.2))
}

/// Counts fields the gateway sent out of range (read as absent) and warns
/// when the set of them changes, not on every poll.
/// What was already said about a session's answers, to count and warn once.
#[derive(Debug, Default)]
struct Noted {
    bad: String,
    dropped: usize,
    sanitized: std::collections::HashSet<String>,
}

/// Caps the accounts, counts sanitized ids and undecodable parts of an
/// answer, and warns when what is wrong changes.
fn note_bad_fields(status: &mut ChannelsStatus, max: usize, metrics: &Metrics, noted: &mut Noted) {
    let dropped = status.cap_accounts(max);
    if dropped > noted.dropped {
        metrics
            .accounts_dropped
            .inc_by((dropped - noted.dropped) as u64);
    }
    if dropped != noted.dropped && dropped > 0 {
        tracing::warn!(
            dropped,
            max,
            "The gateway reports more accounts than states.max_accounts; the rest are not tracked."
        );
    }
    noted.dropped = dropped;
    for id in &status.sanitized {
        if noted.sanitized.len() < max && noted.sanitized.insert(id.clone()) {
            metrics.ids_sanitized.inc();
        }
    }
    let last = &mut noted.bad;
    let bad = status.decode_errors();
    if !bad.is_empty() {
        metrics
            .gateway_errors
            .get_or_create(&KindLabels {
                kind: GatewayErrorKind::BadField,
            })
            .inc_by(bad.len() as u64);
    }
    let text = bad
        .iter()
        .take(8)
        .map(|(ch, acct, f)| {
            if ch.is_empty() {
                f.clone()
            } else {
                format!("{ch}/{acct}: {f}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if text != *last {
        if !text.is_empty() {
            tracing::warn!(
                kind = GatewayErrorKind::BadField.as_str(),
                count = bad.len(),
                "channels.status has rows or fields clawwatch cannot read (rows keep their last state, fields read as absent): {text}"
            );
        }
        *last = text;
    }
}

fn report(err: &SessionError, last: &mut Option<String>) {
    if last.as_deref() == Some(err.message.as_str()) {
        tracing::debug!(kind = err.kind.as_str(), "{}", err.message);
        return;
    }
    match err.kind {
        GatewayErrorKind::Unavailable => {
            tracing::info!(kind = err.kind.as_str(), "{}", err.message)
        }
        GatewayErrorKind::Auth
        | GatewayErrorKind::Protocol
        | GatewayErrorKind::NotPaired
        | GatewayErrorKind::MissingScope => {
            tracing::error!(kind = err.kind.as_str(), "{}", err.message)
        }
        _ => tracing::warn!(kind = err.kind.as_str(), "{}", err.message),
    }
    *last = Some(err.message.clone());
}

/// A byte stream to the gateway: TCP, or the in-memory pipe.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<Box<dyn Io>>>;

/// Opens the byte stream under the WebSocket.
async fn dial(s: &Settings) -> Result<Box<dyn Io>, tungstenite::Error> {
    if let Some(p) = &s.pipe {
        return Ok(Box::new(p.connect()?));
    }
    let url = reqwest::Url::parse(&s.url)
        .map_err(|_| tungstenite::Error::Url(tungstenite::error::UrlError::UnsupportedUrlScheme))?;
    let host = url
        .host_str()
        .ok_or(tungstenite::Error::Url(
            tungstenite::error::UrlError::NoHostName,
        ))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    Ok(Box::new(tcp))
}

fn ws_error(url: &str, max: usize, e: tungstenite::Error) -> SessionError {
    use tungstenite::error::CapacityError;
    match e {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, .. }) => fail(
            GatewayErrorKind::OversizedFrame,
            format!("the gateway at {url} sent a frame of {size} bytes, over gateway.max_frame_bytes ({max}); raise it if the gateway really reports that much"),
        ),
        tungstenite::Error::Capacity(c) => fail(
            GatewayErrorKind::OversizedFrame,
            format!("the gateway at {url} sent an oversized frame ({c}); limit gateway.max_frame_bytes = {max}"),
        ),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => fail(
            GatewayErrorKind::Closed,
            format!("the gateway at {url} closed the connection; reconnecting"),
        ),
        tungstenite::Error::Protocol(p) => fail(
            GatewayErrorKind::MalformedFrame,
            format!("the gateway at {url} broke the WebSocket protocol ({p}); reconnecting"),
        ),
        tungstenite::Error::Utf8(_) => fail(
            GatewayErrorKind::MalformedFrame,
            format!("the gateway at {url} sent a text frame that is not UTF-8; reconnecting"),
        ),
        tungstenite::Error::Io(io) => fail(
            GatewayErrorKind::Connect,
            format!("cannot talk to the gateway at {url}: {io}; is `openclaw gateway run` running there, and is gateway.url right?"),
        ),
        tungstenite::Error::Http(resp) => fail(
            GatewayErrorKind::Connect,
            format!("the gateway at {url} refused the WebSocket upgrade with HTTP {}; is gateway.url the gateway's port?", resp.status()),
        ),
        other => fail(
            GatewayErrorKind::Connect,
            format!("cannot talk to the gateway at {url}: {other}"),
        ),
    }
}

fn close_text(frame: Option<tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) => format!("code {} {:?}", u16::from(f.code), f.reason.as_str()),
        None => "no close code".into(),
    }
}

async fn next_json(
    ws: &mut Ws,
    s: &Settings,
    deadline: Instant,
    waiting_for: &str,
) -> Result<Value, SessionError> {
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => {
                return Err(fail(
                    GatewayErrorKind::Timeout,
                    format!("the gateway at {} accepted the connection but sent no {waiting_for} within {:?}; is it an OpenClaw gateway, and is it overloaded?", s.u(), s.connect_timeout),
                ))
            }
            Ok(None) => {
                return Err(fail(
                    GatewayErrorKind::Closed,
                    format!("the gateway at {} closed the connection before {waiting_for}", s.u()),
                ))
            }
            Ok(Some(Err(e))) => return Err(ws_error(&s.u(), s.max_frame_bytes, e)),
            Ok(Some(Ok(m))) => m,
        };
        match msg {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str()).map_err(|e| {
                    fail(
                        GatewayErrorKind::MalformedFrame,
                        format!("the gateway at {} sent a frame that is not JSON ({e}) while clawwatch waited for {waiting_for}", s.u()),
                    )
                })
            }
            Message::Close(f) => {
                return Err(fail(
                    GatewayErrorKind::Closed,
                    format!("the gateway at {} closed the connection ({}) before {waiting_for}", s.u(), close_text(f)),
                ))
            }
            _ => continue,
        }
    }
}

/// What clawwatch keeps of hello-ok.
struct Hello {
    protocol: Option<u64>,
    tick_ms: u64,
    version: Option<String>,
    uptime_ms: Option<i64>,
}

async fn handshake(ws: &mut Ws, s: &Settings, clock: &Clock) -> Result<Hello, SessionError> {
    let deadline = clock.instant() + s.connect_timeout;
    let challenge = next_json(ws, s, deadline, "connect.challenge").await?;
    if challenge.get("event").and_then(Value::as_str) != Some("connect.challenge") {
        return Err(fail(
            GatewayErrorKind::MalformedFrame,
            format!("the gateway at {} did not start with connect.challenge; is gateway.url an OpenClaw gateway?", s.u()),
        ));
    }
    let nonce = challenge
        .pointer("/payload/nonce")
        .and_then(Value::as_str)
        .unwrap_or("");
    let req = json!({"type": "req", "id": "connect", "method": "connect", "params": s.credentials.connect_params(nonce)});
    ws.send(Message::text(req.to_string()))
        .await
        .map_err(|e| ws_error(&s.u(), s.max_frame_bytes, e))?;
    loop {
        let f = next_json(ws, s, deadline, "the connect answer").await?;
        if f.get("type").and_then(Value::as_str) != Some("res")
            || f.get("id").and_then(Value::as_str) != Some("connect")
        {
            continue;
        }
        if f.get("ok").and_then(Value::as_bool) == Some(true) {
            // hello-ok carries a whole health snapshot: keep only what is used.
            let hello = f.get("payload").unwrap_or(&Value::Null);
            let granted: Vec<&str> = hello
                .pointer("/auth/scopes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if hello.pointer("/auth/scopes").is_some()
                && !granted
                    .iter()
                    .any(|g| *g == "operator.read" || *g == "operator.admin")
            {
                return Err(fail(
                    GatewayErrorKind::MissingScope,
                    format!("the gateway at {} accepted the token but granted no operator.read (scopes {granted:?}); fix: run clawwatch on the gateway's host so it connects over loopback, or pair a device with operator.read", s.u()),
                ));
            }
            return Ok(Hello {
                protocol: hello.get("protocol").and_then(Value::as_u64),
                tick_ms: hello
                    .pointer("/policy/tickIntervalMs")
                    .and_then(Value::as_u64)
                    .unwrap_or(30_000)
                    .max(100),
                version: hello
                    .pointer("/server/version")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                uptime_ms: hello.pointer("/snapshot/uptimeMs").and_then(Value::as_i64),
            });
        }
        return Err(explain_rpc_error(
            &s.u(),
            f.get("error").unwrap_or(&Value::Null),
        ));
    }
}

/// Connects and completes the handshake.
async fn open(s: &Settings, clock: &Clock) -> Result<(Ws, Hello), SessionError> {
    let mut cfg = WebSocketConfig::default();
    cfg.max_message_size = Some(s.max_frame_bytes);
    cfg.max_frame_size = Some(s.max_frame_bytes);
    let connect = async {
        let io = dial(s).await?;
        tokio_tungstenite::client_async_tls_with_config(s.url.as_str(), io, Some(cfg), None).await
    };
    let (mut ws, _) = match tokio::time::timeout(s.connect_timeout, connect).await {
        Err(_) => {
            return Err(fail(
                GatewayErrorKind::Timeout,
                format!("no WebSocket connection to the gateway at {} within {:?}; is the address right and the gateway running?", s.u(), s.connect_timeout),
            ))
        }
        Ok(Err(e)) => return Err(ws_error(&s.u(), s.max_frame_bytes, e)),
        Ok(Ok(x)) => x,
    };
    let hello = handshake(&mut ws, s, clock).await?;
    Ok((ws, hello))
}

/// What a gateway says when it lets clawwatch in.
#[derive(Debug, Clone, PartialEq)]
pub struct Greeting {
    /// `server.version`.
    pub version: Option<String>,
    /// The protocol of hello-ok.
    pub protocol: Option<u64>,
}

/// Connects, completes the handshake as `run` does, and closes: whether the
/// gateway answers and accepts the credentials (`clawwatch doctor`).
pub async fn greet(s: &Settings, clock: &Clock) -> Result<Greeting, SessionError> {
    let (mut ws, hello) = open(s, clock).await?;
    let _ = ws.close(None).await;
    Ok(Greeting {
        version: hello.version,
        protocol: hello.protocol,
    })
}

/// One gateway answer to a [`call`]: the payload, or its error object.
pub type Answer = Result<Value, Value>;

/// A short session of its own (`s.credentials` says the scopes): sends
/// each request in order, each answered within `s.rpc_timeout`, and
/// returns the answers. Used by recovery (`channels.stop`/`start`).
pub async fn call(
    s: &Settings,
    clock: &Clock,
    calls: &[(&str, Value)],
) -> Result<Vec<Answer>, SessionError> {
    let (mut ws, _) = open(s, clock).await?;
    let mut out = Vec::new();
    for (i, (method, params)) in calls.iter().enumerate() {
        let id = format!("c{i}");
        send(&mut ws, s, &id, method, params.clone()).await?;
        let deadline = clock.instant() + s.rpc_timeout;
        loop {
            let f = match next_json(&mut ws, s, deadline, method).await {
                Err(e) if e.kind == GatewayErrorKind::Timeout => {
                    let _ = ws.close(None).await;
                    return Err(fail(
                        GatewayErrorKind::Timeout,
                        format!(
                            "the gateway at {} did not answer {method} within {:?}",
                            s.u(),
                            s.rpc_timeout
                        ),
                    ));
                }
                r => r?,
            };
            if f.get("type").and_then(Value::as_str) != Some("res")
                || f.get("id").and_then(Value::as_str) != Some(id.as_str())
            {
                continue;
            }
            let payload = f.get("payload").cloned().unwrap_or(Value::Null);
            out.push(if f.get("ok").and_then(Value::as_bool) == Some(true) {
                Ok(payload)
            } else {
                Err(f.get("error").cloned().unwrap_or(Value::Null))
            });
            break;
        }
    }
    let _ = ws.close(None).await;
    // Read on until the gateway's close comes back, briefly.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = ws.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    Ok(out)
}

async fn session(
    s: &Settings,
    tx: &mpsc::Sender<Observation>,
    metrics: &Metrics,
    clock: &Clock,
    cancel: &CancellationToken,
    last_logged: &mut Option<String>,
) -> Result<(), SessionError> {
    let (mut ws, hello) = open(s, clock).await?;
    let dead_after = Duration::from_millis(hello.tick_ms * 2);
    *last_logged = None;
    tracing::info!(url = %s.u(), version = hello.version.as_deref().unwrap_or("?"), "Connected to the gateway.");
    let _ = tx
        .send(Observation::Connected {
            version: hello.version,
            uptime_ms: hello.uptime_ms,
        })
        .await;

    let mut next_id: u64 = 0;
    let mut last_bad = Noted::default();
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut next_poll = clock.instant();
    let mut next_probe = s
        .probe_interval
        .map(|_| clock.instant() + Duration::from_secs(1));
    let mut last_heard = clock.instant();
    let mut housekeeping = tokio::time::interval(Duration::from_millis(250));
    let mut malformed_logged = false;
    loop {
        let now = clock.instant();
        if now.duration_since(last_heard) > dead_after {
            let _ = ws.close(None).await;
            return Err(fail(
                GatewayErrorKind::Closed,
                format!(
                    "the gateway at {} sent nothing for {:?} (2 x tickIntervalMs); reconnecting",
                    s.u(),
                    dead_after
                ),
            ));
        }
        if let Some((_, p)) = pending.iter().find(|(_, p)| now > p.deadline) {
            return Err(fail(
                GatewayErrorKind::Timeout,
                format!(
                    "the gateway at {} did not answer {} within {:?}; reconnecting",
                    s.u(),
                    p.method,
                    p.deadline - p.sent
                ),
            ));
        }
        let polling = pending.values().any(|p| !p.probed);
        if now >= next_poll && !polling {
            next_id += 1;
            let id = format!("s{next_id}");
            send(&mut ws, s, &id, "channels.status", json!({})).await?;
            pending.insert(
                id,
                Pending {
                    method: "channels.status",
                    probed: false,
                    sent: now,
                    deadline: now + s.rpc_timeout,
                },
            );
            next_poll = now + s.poll_interval;
        }
        if let (Some(at), Some(every)) = (next_probe, s.probe_interval) {
            if now >= at && !pending.values().any(|p| p.probed) {
                next_id += 1;
                let id = format!("p{next_id}");
                let params =
                    json!({"probe": true, "timeoutMs": s.probe_timeout.as_millis() as u64});
                send(&mut ws, s, &id, "channels.status", params).await?;
                pending.insert(
                    id,
                    Pending {
                        method: "channels.status",
                        probed: true,
                        sent: now,
                        deadline: now + s.probe_timeout + s.rpc_timeout,
                    },
                );
                next_probe = Some(now + every);
            }
        }
        let msg = tokio::select! {
            _ = cancel.cancelled() => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            _ = housekeeping.tick() => continue,
            m = ws.next() => m,
        };
        let msg = match msg {
            None => {
                return Err(fail(
                    GatewayErrorKind::Closed,
                    format!(
                        "the gateway at {} closed the connection; reconnecting",
                        s.u()
                    ),
                ))
            }
            Some(Err(e)) => return Err(ws_error(&s.u(), s.max_frame_bytes, e)),
            Some(Ok(m)) => m,
        };
        last_heard = clock.instant();
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(f) => {
                return Err(fail(
                    GatewayErrorKind::Closed,
                    format!(
                        "the gateway at {} closed the connection ({}); reconnecting",
                        s.u(),
                        close_text(f)
                    ),
                ))
            }
            _ => continue,
        };
        let frame: Frame = match serde_json::from_str(text.as_str()) {
            Ok(v) => v,
            Err(e) => {
                metrics
                    .gateway_errors
                    .get_or_create(&KindLabels {
                        kind: GatewayErrorKind::MalformedFrame,
                    })
                    .inc();
                if !malformed_logged {
                    tracing::warn!(error = %e, bytes = text.len(), "The gateway sent a frame that is not JSON; ignoring it.");
                    malformed_logged = true;
                }
                continue;
            }
        };
        match frame.kind.as_deref() {
            // There is no per-channel event: a health push means the
            // channel rows changed, so poll now.
            Some("event") if frame.event.as_deref() == Some("health") => {
                next_poll = clock.instant();
            }
            Some("res") => {
                let Some(id) = frame.id.as_deref() else {
                    continue;
                };
                let Some(p) = pending.remove(id) else {
                    continue;
                };
                metrics
                    .rpc_duration
                    .get_or_create(&MethodLabels { method: p.method })
                    .observe((clock.instant() - p.sent).as_secs_f64());
                if frame.ok != Some(true) {
                    let err =
                        explain_rpc_error(&s.u(), frame.error.as_ref().unwrap_or(&Value::Null));
                    metrics
                        .gateway_errors
                        .get_or_create(&KindLabels { kind: err.kind })
                        .inc();
                    report(&err, last_logged);
                    if let Some(wait) = err.retry_after {
                        next_poll = clock.instant() + wait;
                    }
                    let obs = if err.kind == GatewayErrorKind::Unavailable {
                        Observation::Starting {
                            message: err.message,
                        }
                    } else {
                        Observation::Down {
                            kind: err.kind,
                            message: err.message,
                        }
                    };
                    let _ = tx.send(obs).await;
                    continue;
                }
                match ChannelsStatus::from_json(frame.payload.map(|p| p.get()).unwrap_or("null")) {
                    Ok(mut status) => {
                        *last_logged = None;
                        note_bad_fields(&mut status, s.max_accounts, metrics, &mut last_bad);
                        if tx
                            .send(Observation::Status {
                                status,
                                probed: p.probed,
                            })
                            .await
                            .is_err()
                        {
                            return Ok(());
                        }
                    }
                    Err(e) => {
                        let err = fail(GatewayErrorKind::MalformedFrame, format!("the gateway at {} answered channels.status with an unexpected shape ({e})", s.u()));
                        metrics
                            .gateway_errors
                            .get_or_create(&KindLabels { kind: err.kind })
                            .inc();
                        report(&err, last_logged);
                        // The last good answer is no longer current.
                        let obs = Observation::Down {
                            kind: err.kind,
                            message: err.message,
                        };
                        if tx.send(obs).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

async fn send(
    ws: &mut Ws,
    s: &Settings,
    id: &str,
    method: &str,
    params: Value,
) -> Result<(), SessionError> {
    let req = json!({"type": "req", "id": id, "method": method, "params": params});
    ws.send(Message::text(req.to_string()))
        .await
        .map_err(|e| ws_error(&s.u(), s.max_frame_bytes, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(fixture: &str) -> Value {
        let text = std::fs::read_to_string(format!("{}/{fixture}", crate::FIXTURES)).unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|l| {
                let f = l.get("frame")?;
                (f.get("ok") == Some(&Value::Bool(false))).then(|| f["error"].clone())
            })
            .unwrap()
    }

    #[test]
    fn captured_errors_name_the_fix() {
        let u = "ws://127.0.0.1:18789";
        let e = explain_rpc_error(u, &first_error("ws-error-bad-token.jsonl"));
        assert_eq!(e.kind, GatewayErrorKind::Auth);
        assert_eq!(e.message, "the gateway at ws://127.0.0.1:18789 refused clawwatch's token (AUTH_TOKEN_MISMATCH); fix: set CLAWWATCH_GATEWAY_TOKEN or gateway.token_file to the gateway's gateway.auth.token");
        let e = explain_rpc_error(u, &first_error("ws-error-protocol-mismatch.jsonl"));
        assert_eq!(e.kind, GatewayErrorKind::Protocol);
        assert_eq!(e.message, "the gateway at ws://127.0.0.1:18789 speaks protocol 4, clawwatch asked for 5 (PROTOCOL_MISMATCH); fix: upgrade clawwatch or the gateway to matching versions");
        let e = explain_rpc_error(u, &first_error("ws-error-no-auth-no-device.jsonl"));
        assert_eq!(e.kind, GatewayErrorKind::NotPaired);
        let e = explain_rpc_error(
            u,
            &first_error("ws-error-missing-scope-and-invalid-params.jsonl"),
        );
        assert_eq!(e.kind, GatewayErrorKind::MissingScope);
        let e = explain_rpc_error(
            u,
            &json!({"code":"UNAVAILABLE","message":"gateway starting; retry shortly","retryable":true,"retryAfterMs":1500}),
        );
        assert_eq!(
            (e.kind, e.retry_after),
            (
                GatewayErrorKind::Unavailable,
                Some(Duration::from_millis(1500))
            )
        );
        // A hostile hint is capped at the backoff's 30 s.
        let e = explain_rpc_error(
            u,
            &json!({"code":"UNAVAILABLE","message":"starting","retryAfterMs":u64::MAX}),
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    }

    #[test]
    fn connect_params_match_the_contract() {
        let c = Credentials {
            token: Some(Secret::new("t0k")),
            scopes: vec!["operator.read".into()],
        };
        let p = c.connect_params("n");
        assert_eq!(p["client"]["id"], "gateway-client");
        assert_eq!(p["client"]["mode"], "backend");
        assert_eq!(p["role"], "operator");
        assert_eq!(p["scopes"], json!(["operator.read"]));
        assert_eq!(p["auth"]["token"], "t0k");
        assert_eq!(
            (p["minProtocol"].as_u64(), p["maxProtocol"].as_u64()),
            (Some(4), Some(4))
        );
    }
}
