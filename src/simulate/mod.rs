//! The simulated gateway: the same WebSocket RPC (protocol 4), HTTP
//! endpoints and JSON log lines as a real OpenClaw gateway, driven by a
//! named scenario. Used by `clawwatch demo`, the tests and the benchmarks.

pub mod scenario;

use crate::clock::Clock;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use scenario::{LogLine, Scenario, World};
use serde_json::{json, Value};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Version string the simulator reports.
pub const SIM_VERSION: &str = "2026.9.6";

/// Client ids the real gateway accepts.
const CLIENT_IDS: [&str; 17] = [
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scenario name.
    pub scenario: String,
    /// Shared gateway token (`None`: any token).
    pub token: Option<String>,
    /// Where to write `openclaw-YYYY-MM-DD.log`.
    pub log_dir: Option<PathBuf>,
    /// Time compression: 10 runs the timeline ten times faster.
    pub speed: f64,
    /// Repeat the timeline every period.
    pub repeat: bool,
    /// Accounts in `fleet`.
    pub fleet_size: usize,
    /// `tickIntervalMs` in hello-ok and between tick events.
    pub tick_ms: u64,
    /// Answer `UNAVAILABLE` this long after start, as the real gateway does.
    pub startup_delay: Duration,
    /// Telegram accounts' `mode`: `polling` or `webhook`.
    pub telegram_mode: String,
    /// Rotate the log file at this size (the gateway's `logging.maxFileBytes`).
    pub log_max_bytes: u64,
    /// The clock.
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scenario: "cycle".into(),
            token: None,
            log_dir: None,
            speed: 1.0,
            repeat: false,
            fleet_size: 1000,
            tick_ms: 30_000,
            startup_delay: Duration::ZERO,
            telegram_mode: "polling".into(),
            log_max_bytes: 100 << 20,
            clock: Clock::system(),
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Unknown scenario name.
    #[error("unknown scenario {0:?}; known: {known}", known = scenario::SCENARIOS.join(", "))]
    UnknownScenario(String),
    /// Could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

struct Sim {
    world: Mutex<World>,
    opts: Options,
    started: Instant,
    started_ms: i64,
    changed: broadcast::Sender<()>,
    log: Mutex<Option<LogWriter>>,
    accepted: Arc<Mutex<Vec<String>>>,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    /// Stopping closes the open sessions too, as a gateway shutting down does.
    cancel: CancellationToken,
}

/// Writes tslog-shaped JSON lines like the gateway's file logger, rotating
/// like it does: at `max_bytes` the file is renamed to `.1.log` (up to 5
/// archives) and a new one started.
struct LogWriter {
    dir: PathBuf,
    file: Option<(String, std::fs::File, u64)>,
    max_bytes: u64,
}

impl LogWriter {
    fn rotate(&mut self, date: &str) {
        let p = |i: u32| {
            if i == 0 {
                self.dir.join(format!("openclaw-{date}.log"))
            } else {
                self.dir.join(format!("openclaw-{date}.{i}.log"))
            }
        };
        let _ = std::fs::remove_file(p(5));
        for i in (0..5).rev() {
            let _ = std::fs::rename(p(i), p(i + 1));
        }
        self.file = None;
    }
}

impl LogWriter {
    fn write(&mut self, l: &LogLine, ts: crate::clock::Ts) {
        let iso = crate::clock::rfc3339(ts);
        let date = iso[..10].to_string();
        if self
            .file
            .as_ref()
            .is_some_and(|(_, _, n)| *n >= self.max_bytes)
        {
            self.rotate(&date);
        }
        if self
            .file
            .as_ref()
            .map(|(d, _, _)| d != &date)
            .unwrap_or(true)
        {
            let path = self.dir.join(format!("openclaw-{date}.log"));
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                Ok(f) => {
                    let n = f.metadata().map(|m| m.len()).unwrap_or(0);
                    self.file = Some((date, f, n));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Simulator cannot write its log.");
                    return;
                }
            }
        }
        let level_id = match l.level {
            "TRACE" => 1,
            "DEBUG" => 2,
            "INFO" => 3,
            "WARN" => 4,
            "ERROR" => 5,
            _ => 6,
        };
        let bindings = l.bindings.to_string();
        let mut meta = json!({"runtime": "node", "runtimeVersion": "24.21.0", "hostname": "clawwatch-sim", "date": iso,
                              "logLevelId": level_id, "logLevelName": l.level, "name": bindings, "parentNames": ["openclaw"]});
        if level_id >= 4 {
            meta["path"] = json!({"fullFilePath": "file:///usr/lib/node_modules/openclaw/dist/subsystem.mjs:229:24",
                "fileName": "subsystem.mjs", "fileNameWithLine": "subsystem.mjs:229", "fileColumn": "24", "fileLine": "229",
                "filePath": "node_modules/openclaw/dist/subsystem.mjs", "filePathWithLine": "node_modules/openclaw/dist/subsystem.mjs:229",
                "method": "logToFile"});
        }
        let mut line = json!({"0": bindings, "_meta": meta, "time": iso.replace('Z', "+00:00"), "hostname": "clawwatch-sim", "message": l.message});
        match &l.fields {
            Some(f) => {
                line["1"] = f.clone();
                line["2"] = json!(l.message);
            }
            None => line["1"] = json!(l.message),
        }
        if let Some((_, f, n)) = &mut self.file {
            let text = format!("{line}\n");
            if f.write_all(text.as_bytes()).is_ok() {
                *n += text.len() as u64;
            }
        }
    }
}

impl Sim {
    fn log(&self, line: &LogLine) {
        if let Some(w) = self.log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            w.write(line, self.opts.clock.now());
        }
    }

    fn uptime(&self) -> Duration {
        self.opts.clock.instant() - self.started
    }

    fn now_ms(&self) -> i64 {
        self.opts.clock.now_ms()
    }

    fn starting(&self) -> bool {
        self.uptime() < self.opts.startup_delay
    }

    fn channels_status(&self, probe: bool) -> Value {
        let w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.now_ms();
        let order = w.channels();
        let mut accounts = serde_json::Map::new();
        let mut defaults = serde_json::Map::new();
        for ch in &order {
            let rows = w.rows(ch, now, probe);
            if let Some(first) = rows.first().and_then(|r| r.get("accountId")).cloned() {
                defaults.insert(ch.clone(), first);
            }
            accounts.insert(ch.clone(), Value::Array(rows));
        }
        let labels: serde_json::Map<String, Value> =
            order.iter().map(|c| (c.clone(), json!(label(c)))).collect();
        json!({
            "ts": now, "channelOrder": order, "channelLabels": labels,
            "channels": {}, "channelAccounts": accounts, "channelDefaultAccountId": defaults, "statusIssues": [],
        })
    }

    fn health(&self) -> Value {
        let st = self.channels_status(false);
        let mut channels = serde_json::Map::new();
        if let Some(ca) = st["channelAccounts"].as_object() {
            for (ch, rows) in ca {
                let accts: serde_json::Map<String, Value> = rows
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| Some((r.get("accountId")?.as_str()?.to_string(), r.clone())))
                    .collect();
                channels.insert(ch.clone(), json!({"accounts": accts}));
            }
        }
        json!({"ok": true, "ts": st["ts"], "durationMs": 1, "channels": channels, "channelOrder": st["channelOrder"], "heartbeatSeconds": 1800})
    }

    fn failing(&self) -> Vec<String> {
        let w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<String> = w
            .accounts
            .iter()
            .filter(|(_, a)| {
                !matches!(
                    a.phase,
                    scenario::Phase::Ready | scenario::Phase::Starting | scenario::Phase::Stalled
                )
            })
            .map(|((c, _), _)| c.clone())
            .collect();
        out.dedup();
        out
    }
}

fn label(ch: &str) -> String {
    match ch {
        "whatsapp" => "WhatsApp".into(),
        "telegram" => "Telegram".into(),
        "discord" => "Discord".into(),
        other => other.to_string(),
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Handle {
    /// Where it listens (WebSocket and HTTP).
    pub addr: SocketAddr,
    /// Cancel to stop it.
    pub cancel: CancellationToken,
    /// The token of each accepted `connect`, in order (tests count
    /// reconnects with it).
    pub accepted: Arc<Mutex<Vec<String>>>,
    /// Each admin call (`channels.stop`, `channels.start`) and its params,
    /// in order.
    pub calls: Arc<Mutex<Vec<(String, Value)>>>,
    sim: Arc<Sim>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sim")
    }
}

impl Handle {
    /// Puts an account into `phase` now, as a scenario step would.
    pub fn set(&self, channel: &str, account: &str, phase: scenario::Phase) {
        let logs = self
            .sim
            .world
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(channel, account, phase, self.sim.now_ms());
        for l in &logs {
            self.sim.log(l);
        }
        let _ = self.sim.changed.send(());
    }
}

/// Starts the simulator on `addr` (port 0 picks a free port).
pub async fn start(addr: SocketAddr, opts: Options) -> Result<Handle, SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    serve(listener, addr, opts)
}

/// Starts the simulator on an in-memory pipe: dial the returned [`Pipe`]
/// (`app::Deps::gateway`) to reach it. Its `addr` is nominal.
pub fn start_on_pipe(opts: Options) -> Result<(Handle, crate::pipe::Pipe), SimError> {
    let (pipe, listener) = crate::pipe::pipe();
    let addr = SocketAddr::from(([127, 0, 0, 1], 18789));
    Ok((serve(listener, addr, opts)?, pipe))
}

fn serve<L: axum::serve::Listener<Addr = SocketAddr>>(
    listener: L,
    addr: SocketAddr,
    opts: Options,
) -> Result<Handle, SimError> {
    let scen = scenario::build(&opts.scenario, opts.fleet_size)
        .ok_or_else(|| SimError::UnknownScenario(opts.scenario.clone()))?;
    let log = opts.log_dir.clone().map(|dir| {
        let _ = std::fs::create_dir_all(&dir);
        LogWriter {
            dir,
            file: None,
            max_bytes: opts.log_max_bytes.max(4096),
        }
    });
    let (changed, _) = broadcast::channel(16);
    let sim = Arc::new(Sim {
        world: Mutex::new(World {
            telegram_mode: opts.telegram_mode.clone(),
            ..World::default()
        }),
        started: opts.clock.instant(),
        started_ms: opts.clock.now_ms(),
        opts,
        changed,
        log: Mutex::new(log),
        accepted: Arc::default(),
        calls: Arc::default(),
        cancel: CancellationToken::new(),
    });
    for (sub, msg) in [
        (
            "gateway",
            format!(
                "listening on ws://{addr} (simulated gateway, scenario {})",
                scen.name
            ),
        ),
        (
            "gateway/health-monitor",
            "started (interval: 300s, startup-grace: 60s, channel-connect-grace: 120s)".to_string(),
        ),
    ] {
        sim.log(&LogLine {
            level: "INFO",
            bindings: json!({ "subsystem": sub }),
            fields: None,
            message: msg,
        });
    }
    let cancel = sim.cancel.clone();
    let accepted = sim.accepted.clone();
    let calls = sim.calls.clone();
    let handle_sim = sim.clone();
    tokio::spawn(drive(sim.clone(), scen, cancel.clone()));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/health", get(healthz))
        .route("/readyz", get(readyz))
        .route("/ready", get(readyz))
        .route("/startupz", get(startupz))
        .route("/startup", get(startupz))
        .fallback(ws_or_404)
        .with_state(sim);
    let c = cancel.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { c.cancelled().await })
            .await;
    });
    Ok(Handle {
        addr,
        cancel,
        accepted,
        calls,
        sim: handle_sim,
    })
}

async fn drive(sim: Arc<Sim>, scen: Scenario, cancel: CancellationToken) {
    let speed = if sim.opts.speed > 0.0 {
        sim.opts.speed
    } else {
        1.0
    };
    loop {
        let round = sim.opts.clock.instant();
        for st in &scen.steps {
            let due = round + st.at.div_f64(speed);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
            let logs = sim.world.lock().unwrap_or_else(|p| p.into_inner()).set(
                &st.channel,
                &st.account,
                st.phase.clone(),
                sim.now_ms(),
            );
            for l in &logs {
                sim.log(l);
            }
            let _ = sim.changed.send(());
        }
        if !sim.opts.repeat {
            return;
        }
        let due = round + scen.period.div_f64(speed);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(due) => {}
        }
    }
}

/// `channels.stop` / `channels.start` as the gateway answers them; a
/// started account settles back into its cause 2 s (scenario time) later.
fn admin_call(sim: &Arc<Sim>, method: &str, id: &Value, params: &Value) -> Message {
    if let Ok(mut c) = sim.calls.lock() {
        c.push((method.to_string(), params.clone()));
    }
    let Some(channel) = params["channel"].as_str().filter(|c| !c.is_empty()) else {
        return res_err(
            id,
            json!({"code": "INVALID_REQUEST", "message": format!("invalid {method} params: at /channel: must be a non-empty string")}),
        );
    };
    let account = params["accountId"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let now = sim.now_ms();
    let mut w = sim.world.lock().unwrap_or_else(|p| p.into_inner());
    let logs = if method == "channels.stop" {
        w.stop(channel, &account, now)
    } else {
        w.start(channel, &account, now)
    };
    drop(w);
    let Some(logs) = logs else {
        return res_err(
            id,
            json!({"code": "INVALID_REQUEST", "message": format!("unknown channel: {channel}")}),
        );
    };
    for l in &logs {
        sim.log(l);
    }
    let _ = sim.changed.send(());
    if method == "channels.stop" {
        return res_ok(
            id,
            json!({"channel": channel, "accountId": account, "stopped": true}),
        );
    }
    let (s, ch, acct) = (sim.clone(), channel.to_string(), account.clone());
    let speed = if sim.opts.speed > 0.0 {
        sim.opts.speed
    } else {
        1.0
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2).div_f64(speed)).await;
        let logs = s
            .world
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .settle(&ch, &acct, s.now_ms());
        for l in &logs {
            s.log(l);
        }
        let _ = s.changed.send(());
    });
    res_ok(
        id,
        json!({"channel": channel, "accountId": account, "started": true, "outcome": {"status": "started"}}),
    )
}

async fn healthz() -> Json<Value> {
    Json(json!({"ok": true, "status": "live"}))
}

async fn startupz(State(sim): State<Arc<Sim>>) -> Response {
    let up = sim.uptime().as_millis() as u64;
    if sim.starting() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"ok": false, "status": "starting", "version": SIM_VERSION, "uptimeMs": up}),
            ),
        )
            .into_response();
    }
    Json(json!({"ok": true, "status": "started", "version": SIM_VERSION, "uptimeMs": up}))
        .into_response()
}

async fn readyz(State(sim): State<Arc<Sim>>) -> Response {
    let failing = if sim.starting() {
        vec!["internal".to_string()]
    } else {
        sim.failing()
    };
    let ready = failing.is_empty();
    let body =
        json!({"ready": ready, "failing": failing, "uptimeMs": sim.uptime().as_millis() as u64});
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn ws_or_404(
    State(sim): State<Arc<Sim>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => ws
            .max_message_size(64 * 1024)
            .on_upgrade(move |s| session(sim, s))
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

fn res_ok(id: &Value, payload: Value) -> Message {
    Message::text(json!({"type": "res", "id": id, "ok": true, "payload": payload}).to_string())
}

fn res_err(id: &Value, error: Value) -> Message {
    Message::text(json!({"type": "res", "id": id, "ok": false, "error": error}).to_string())
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
    finish(socket).await;
}

/// Ends the closing handshake as the gateway does: reading on sends the
/// echo of a peer's close (queued by the protocol) and waits for the peer
/// to answer ours, for a few seconds at most, before the socket drops.
async fn finish(mut socket: WebSocket) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

async fn session(sim: Arc<Sim>, mut socket: WebSocket) {
    let nonce = format!("{:032x}", rand::random::<u128>());
    let challenge = json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": nonce, "ts": sim.now_ms(), "capabilities": []}});
    if socket
        .send(Message::text(challenge.to_string()))
        .await
        .is_err()
    {
        return;
    }
    let first = match tokio::time::timeout(Duration::from_secs(10), socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => {
            serde_json::from_str::<Value>(t.as_str()).unwrap_or_default()
        }
        Ok(Some(Ok(Message::Close(_)))) => return finish(socket).await,
        _ => return close(socket, 1008, "connect required").await,
    };
    let id = first.get("id").cloned().unwrap_or(Value::Null);
    if first.get("method").and_then(Value::as_str) != Some("connect") {
        let _ = socket
            .send(res_err(
                &id,
                json!({"code": "INVALID_REQUEST", "message": "first request must be connect"}),
            ))
            .await;
        return close(socket, 1008, "first request must be connect").await;
    }
    let p = &first["params"];
    let (minp, maxp) = (
        p["minProtocol"].as_u64().unwrap_or(0),
        p["maxProtocol"].as_u64().unwrap_or(0),
    );
    if !(minp..=maxp).contains(&4) {
        let err = json!({"code": "INVALID_REQUEST", "message": "protocol mismatch", "details": {"code": "PROTOCOL_MISMATCH", "clientMinProtocol": minp, "clientMaxProtocol": maxp, "expectedProtocol": 4, "minimumProbeProtocol": 3}});
        let _ = socket.send(res_err(&id, err)).await;
        return close(socket, 1002, "protocol mismatch").await;
    }
    let cid = p["client"]["id"].as_str().unwrap_or("");
    if !CLIENT_IDS.contains(&cid) {
        let _ = socket.send(res_err(&id, json!({"code": "INVALID_REQUEST", "message": "invalid connect params: at /client/id: must be equal to one of the allowed values"}))).await;
        return close(socket, 1008, "invalid connect params").await;
    }
    let token = p["auth"]["token"].as_str();
    match (&sim.opts.token, token) {
        (_, None) => {
            let _ = socket.send(res_err(&id, json!({"code": "NOT_PAIRED", "message": "device identity required", "details": {"code": "DEVICE_IDENTITY_REQUIRED"}}))).await;
            return close(socket, 1008, "device identity required").await;
        }
        (Some(want), Some(got)) if want != got => {
            let msg = "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)";
            let err = json!({"code": "INVALID_REQUEST", "message": msg, "details": {"code": "AUTH_TOKEN_MISMATCH", "authReason": "token_mismatch", "canRetryWithDeviceToken": false, "recommendedNextStep": "update_auth_credentials"}});
            let _ = socket.send(res_err(&id, err)).await;
            return close(socket, 1008, msg).await;
        }
        _ => {}
    }
    let scopes: Vec<String> = p["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    let admin = scopes.iter().any(|s| s == "operator.admin");
    let read = admin || scopes.iter().any(|s| s == "operator.read");
    let hello = json!({
        "type": "hello-ok", "protocol": 4,
        "server": {"version": SIM_VERSION, "buildId": "clawwatch-simulator", "bootId": format!("{:x}", sim.started_ms), "connId": nonce},
        "features": {"methods": ["health", "status", "channels.status", "channels.stop", "channels.start"], "events": ["tick", "health", "connect.challenge"], "capabilities": []},
        "snapshot": {"presence": [], "health": sim.health(), "uptimeMs": sim.uptime().as_millis() as u64},
        "auth": {"method": "token", "role": "operator", "scopes": scopes},
        "policy": {"maxPayload": 26214400, "maxBufferedBytes": 52428800, "tickIntervalMs": sim.opts.tick_ms},
    });
    if socket.send(res_ok(&id, hello)).await.is_err() {
        return;
    }
    if let Ok(mut a) = sim.accepted.lock() {
        a.push(token.unwrap_or("").to_string());
    }
    let mut changed = sim.changed.subscribe();
    let mut tick = tokio::time::interval(Duration::from_millis(sim.opts.tick_ms));
    tick.tick().await;
    let mut seq: u64 = 0;
    loop {
        let out = tokio::select! {
            _ = sim.cancel.cancelled() => return close(socket, 1012, "service restart").await,
            _ = tick.tick() => {
                seq += 1;
                Message::text(json!({"type": "event", "event": "tick", "payload": {"ts": sim.now_ms()}, "seq": seq}).to_string())
            }
            r = changed.recv() => {
                if matches!(r, Err(broadcast::error::RecvError::Closed)) { return; }
                seq += 1;
                Message::text(json!({"type": "event", "event": "health", "payload": sim.health(), "seq": seq}).to_string())
            }
            m = socket.recv() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) => return finish(socket).await,
                    None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let req: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                let id = req.get("id").cloned().unwrap_or(Value::Null);
                let method = req.get("method").and_then(Value::as_str).unwrap_or("");
                match method {
                    "channels.status" | "health" | "status" if !read => res_err(&id, json!({"code": "FORBIDDEN", "message": "missing scope: operator.read", "details": {"code": "MISSING_SCOPE", "missingScope": "operator.read", "requiredScopes": ["operator.read"]}})),
                    "channels.status" | "health" if sim.starting() => res_err(&id, json!({"code": "UNAVAILABLE", "message": "gateway starting; retry shortly", "retryable": true, "retryAfterMs": 500, "details": {"reason": "startup-sidecars"}})),
                    "channels.status" => {
                        let probe = req["params"]["probe"].as_bool().unwrap_or(false);
                        let started = sim.opts.clock.instant();
                        let payload = sim.channels_status(probe);
                        sim.log(&LogLine {
                            level: "INFO",
                            bindings: json!({"subsystem": "gateway/ws"}),
                            fields: None,
                            message: format!("⇄ res ✓ channels.status {}ms conn={}… id={}", (sim.opts.clock.instant() - started).as_millis(), &nonce[..8], id.as_str().unwrap_or("?")),
                        });
                        res_ok(&id, payload)
                    }
                    "health" => res_ok(&id, sim.health()),
                    "status" => res_ok(&id, json!({"runtimeVersion": SIM_VERSION, "channelSummary": []})),
                    other if !admin => {
                        let _ = other;
                        res_err(&id, json!({"code": "FORBIDDEN", "message": "missing scope: operator.admin", "details": {"code": "MISSING_SCOPE", "missingScope": "operator.admin", "requiredScopes": ["operator.admin"]}}))
                    }
                    "channels.stop" | "channels.start" => admin_call(&sim, method, &id, &req["params"]),
                    other => res_err(&id, json!({"code": "INVALID_REQUEST", "message": format!("unknown method: {other}")})),
                }
            }
        };
        if socket.send(out).await.is_err() {
            return;
        }
    }
}
