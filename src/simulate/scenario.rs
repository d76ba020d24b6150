//! Simulated channel accounts and the named scenarios that drive them. Each
//! phase writes the row fields the real gateway writes in that situation
//! (see `docs/states.md` and the captures under `tests/fixtures/openclaw/`).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// What the gateway is doing with one account.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Phase {
    /// Provider task started, transport not up yet.
    Starting,
    /// Transport up; activity keeps moving.
    Ready,
    /// Looks connected, but transport activity froze (long polls hang).
    Stalled,
    /// Task exited with `error`; the channel manager restarts it (attempt n).
    Restarting { error: String, attempt: u64 },
    /// Discord socket closed with `code`; the plugin reconnects by itself.
    SocketReconnect { code: i64 },
    /// Terminal stop: no auto-restart (bad token, fatal close).
    Blocked { error: String, close: Option<i64> },
    /// Restart budget exhausted.
    GaveUp { error: String },
    /// Task ended without an error and nothing restarts it.
    Stopped,
    /// WhatsApp: no linked session.
    NotLinked,
    /// WhatsApp: logged out from the phone.
    LoggedOut,
    /// WhatsApp: another client took over the session (440).
    Conflict,
}

/// One simulated account.
#[derive(Debug, Clone)]
pub struct SimAccount {
    /// Current phase.
    pub phase: Phase,
    /// Row fields (camelCase, as the gateway sends them).
    pub row: Map<String, Value>,
}

/// A step of a scenario: at `at`, put (channel, account) into `phase`.
#[derive(Debug, Clone)]
pub struct Step {
    /// Offset from the scenario start.
    pub at: Duration,
    /// Channel id.
    pub channel: String,
    /// Account id.
    pub account: String,
    /// New phase.
    pub phase: Phase,
}

/// A named scenario: its accounts and timeline.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name as given on the command line.
    pub name: &'static str,
    /// Steps in time order (stable sort by `at`).
    pub steps: Vec<Step>,
    /// When looping, the period.
    pub period: Duration,
}

/// Names of the built-in scenarios.
pub const SCENARIOS: [&str; 7] = [
    "steady",
    "whatsapp-logged-out",
    "discord-disallowed-intents",
    "telegram-reconnect-storm",
    "flapping",
    "fleet",
    "cycle",
];

fn step(at_ms: u64, ch: &str, acct: &str, phase: Phase) -> Step {
    Step {
        at: Duration::from_millis(at_ms),
        channel: ch.into(),
        account: acct.into(),
        phase,
    }
}

fn steady_all(out: &mut Vec<Step>) {
    for ch in ["discord", "telegram", "whatsapp"] {
        steady(out, ch);
    }
}

/// Five downs from 10 s, `every` apart, each followed `back` later by `up`.
fn bursts(
    out: &mut Vec<Step>,
    ch: &str,
    (every, back): (u64, u64),
    down: impl Fn(u64) -> Phase,
    up: Phase,
) {
    for k in 0..5u64 {
        let t = 10_000 + k * every;
        out.push(step(t, ch, "default", down(k)));
        out.push(step(t + back, ch, "default", up.clone()));
    }
}

fn steady(out: &mut Vec<Step>, ch: &str) {
    out.push(step(0, ch, "default", Phase::Starting));
    out.push(step(2_000, ch, "default", Phase::Ready));
}

const TG_401: &str = "Unauthorized | Telegram ingress worker exited with code 1";
const NET: &str = "Network request for 'getUpdates' failed! (fetch failed | getaddrinfo ENOTFOUND api.telegram.org)";

/// Builds a scenario; `fleet_size` sizes `fleet`.
pub fn build(name: &str, fleet_size: usize) -> Option<Scenario> {
    let mut s = Vec::new();
    let mut period = Duration::from_secs(60);
    let name: &'static str = SCENARIOS.iter().find(|n| **n == name)?;
    match name {
        "steady" => steady_all(&mut s),
        "whatsapp-logged-out" => {
            steady_all(&mut s);
            s.push(step(10_000, "whatsapp", "default", Phase::LoggedOut));
            s.push(step(30_000, "whatsapp", "default", Phase::Starting));
            s.push(step(32_000, "whatsapp", "default", Phase::Ready));
        }
        "discord-disallowed-intents" => {
            steady_all(&mut s);
            s.push(step(
                10_000,
                "discord",
                "default",
                Phase::Blocked {
                    error: "Gateway websocket closed: 4014".into(),
                    close: Some(4014),
                },
            ));
        }
        "telegram-reconnect-storm" => {
            steady_all(&mut s);
            let down = |k: u64| Phase::Restarting {
                error: NET.into(),
                attempt: k + 1,
            };
            bursts(&mut s, "telegram", (2_000, 1_000), down, Phase::Starting);
            s.push(step(20_000, "telegram", "default", Phase::Ready));
        }
        "flapping" => {
            steady_all(&mut s);
            let down = |_| Phase::SocketReconnect { code: 1006 };
            bursts(&mut s, "discord", (3_000, 1_500), down, Phase::Ready);
        }
        "fleet" => {
            let chans = ["discord", "telegram", "whatsapp"];
            for i in 0..fleet_size {
                let ch = chans[i % 3];
                let acct = format!("acct-{i:04}");
                s.push(step(0, ch, &acct, Phase::Starting));
                s.push(step(2_000, ch, &acct, Phase::Ready));
                let fail = match (ch, i % 97) {
                    ("telegram", 1) => Some(Phase::Blocked {
                        error: TG_401.into(),
                        close: None,
                    }),
                    ("discord", 2) => Some(Phase::SocketReconnect { code: 1006 }),
                    ("whatsapp", 3) => Some(Phase::LoggedOut),
                    _ => None,
                };
                if let Some(p) = fail {
                    s.push(step(5_000, ch, &acct, p));
                }
            }
        }
        "cycle" => {
            // Every state within a minute, on every channel.
            let tg = "telegram";
            s.push(step(0, tg, "default", Phase::Starting));
            s.push(step(3_000, tg, "default", Phase::Ready));
            s.push(step(12_000, tg, "default", Phase::Stalled));
            s.push(step(27_000, tg, "default", Phase::Restarting {
                error: "Polling stall detected (no completed getUpdates for 120s); forcing restart.".into(),
                attempt: 1,
            }));
            s.push(step(31_000, tg, "default", Phase::Starting));
            s.push(step(33_000, tg, "default", Phase::Ready));
            s.push(step(
                45_000,
                tg,
                "default",
                Phase::Blocked {
                    error: TG_401.into(),
                    close: None,
                },
            ));
            let dc = "discord";
            s.push(step(0, dc, "default", Phase::Starting));
            s.push(step(4_000, dc, "default", Phase::Ready));
            s.push(step(
                18_000,
                dc,
                "default",
                Phase::SocketReconnect { code: 1006 },
            ));
            s.push(step(24_000, dc, "default", Phase::Ready));
            s.push(step(
                40_000,
                dc,
                "default",
                Phase::Blocked {
                    error: "Gateway websocket closed: 4014".into(),
                    close: Some(4014),
                },
            ));
            let wa = "whatsapp";
            s.push(step(0, wa, "default", Phase::NotLinked));
            s.push(step(8_000, wa, "default", Phase::Starting));
            s.push(step(10_000, wa, "default", Phase::Ready));
            s.push(step(22_000, wa, "default", Phase::Stopped));
            s.push(step(30_000, wa, "default", Phase::Starting));
            s.push(step(32_000, wa, "default", Phase::Ready));
            s.push(step(50_000, wa, "default", Phase::LoggedOut));
            period = Duration::from_secs(60);
        }
        _ => return None,
    }
    s.sort_by_key(|st| st.at);
    Some(Scenario {
        name,
        steps: s,
        period,
    })
}

/// One line for the gateway's JSON log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// `INFO`, `WARN`, `ERROR`, ...
    pub level: &'static str,
    /// Logger bindings, e.g. `{"subsystem": "channels/telegram"}`.
    pub bindings: Value,
    /// Structured fields (then the text moves from `"1"` to `"2"`).
    pub fields: Option<Value>,
    /// The flat text.
    pub message: String,
}

impl LogLine {
    fn new(level: &'static str, subsystem: String, message: String) -> LogLine {
        LogLine {
            level,
            bindings: json!({ "subsystem": subsystem }),
            fields: None,
            message,
        }
    }
}

/// The simulated gateway's channel table.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// Accounts by (channel, account).
    pub accounts: BTreeMap<(String, String), SimAccount>,
    /// Telegram `mode` of new accounts (`polling` when empty).
    pub telegram_mode: String,
    /// The phase the scenario last gave each account: what a restart
    /// returns to (a restart does not remove a cause).
    pub causes: BTreeMap<(String, String), Phase>,
}

fn base_row(channel: &str, account: &str, telegram_mode: &str) -> Map<String, Value> {
    let mut r = json!({
        "accountId": account, "enabled": true, "configured": true,
        "lastStartAt": null, "lastStopAt": null, "restartPending": false, "reconnectAttempts": 0,
        "lastInboundAt": null, "lastOutboundAt": null, "running": false, "lastError": null,
    });
    match channel {
        "telegram" => {
            r["mode"] = json!(if telegram_mode.is_empty() {
                "polling"
            } else {
                telegram_mode
            });
            r["tokenSource"] = json!("config");
            r["tokenStatus"] = json!("available");
        }
        "discord" => {
            r["tokenSource"] = json!("config");
            r["tokenStatus"] = json!("available");
            r["lastDisconnect"] = Value::Null;
        }
        "whatsapp" => {
            r["linked"] = json!(true);
            r["lastDisconnect"] = Value::Null;
            r["dmPolicy"] = json!("pairing");
        }
        _ => {}
    }
    r.as_object().cloned().unwrap_or_default()
}

/// Field writes on a status row.
trait Row {
    fn put(&mut self, fields: &[(&str, Value)]);
    /// Every phase sets `running`, `connected` and `lifecycle`.
    fn life(&mut self, running: bool, connected: bool, lifecycle: &str) {
        self.put(&[
            ("running", json!(running)),
            ("connected", json!(connected)),
            ("lifecycle", json!(lifecycle)),
        ]);
    }
}

impl Row for Map<String, Value> {
    fn put(&mut self, fields: &[(&str, Value)]) {
        for (k, v) in fields {
            self.insert((*k).into(), v.clone());
        }
    }
}

impl World {
    /// Puts an account into a phase at gateway time `now_ms`, as the
    /// scenario's cause; returns the log lines the real gateway writes.
    pub fn set(&mut self, channel: &str, account: &str, phase: Phase, now_ms: i64) -> Vec<LogLine> {
        self.causes
            .insert((channel.to_string(), account.to_string()), phase.clone());
        self.apply(channel, account, phase, now_ms)
    }

    /// `channels.stop`: the account's task ends; false when unknown.
    pub fn stop(&mut self, channel: &str, account: &str, now_ms: i64) -> Option<Vec<LogLine>> {
        let acc = self
            .accounts
            .get_mut(&(channel.to_string(), account.to_string()))?;
        acc.row.life(false, false, "stopped");
        acc.row.put(&[
            ("restartPending", json!(false)),
            ("lastStopAt", json!(now_ms)),
        ]);
        acc.phase = Phase::Stopped;
        Some(vec![LogLine::new(
            "INFO",
            format!("channels/{channel}"),
            format!("[{account}] channel stopped (manual)"),
        )])
    }

    /// `channels.start`: the account starts afresh; [`World::settle`]
    /// later puts it back into its cause. `None` when unknown.
    pub fn start(&mut self, channel: &str, account: &str, now_ms: i64) -> Option<Vec<LogLine>> {
        let key = (channel.to_string(), account.to_string());
        self.accounts.get(&key)?;
        if let Some(a) = self.accounts.get_mut(&key) {
            a.row.put(&[("reconnectAttempts", json!(0))]);
        }
        Some(self.apply(channel, account, Phase::Starting, now_ms))
    }

    /// After a start: the account's cause again (`Ready` when none).
    pub fn settle(&mut self, channel: &str, account: &str, now_ms: i64) -> Vec<LogLine> {
        let key = (channel.to_string(), account.to_string());
        if self.accounts.get(&key).map(|a| &a.phase) != Some(&Phase::Starting) {
            return Vec::new();
        }
        let cause = self.causes.get(&key).cloned().unwrap_or(Phase::Ready);
        let cause = if cause == Phase::Starting {
            Phase::Ready
        } else {
            cause
        };
        self.apply(channel, account, cause, now_ms)
    }

    fn apply(&mut self, channel: &str, account: &str, phase: Phase, now_ms: i64) -> Vec<LogLine> {
        let key = (channel.to_string(), account.to_string());
        let mode = self.telegram_mode.clone();
        let acc = self.accounts.entry(key).or_insert_with(|| SimAccount {
            phase: Phase::Stopped,
            row: base_row(channel, account, &mode),
        });
        let r = &mut acc.row;
        let sub = match phase {
            Phase::LoggedOut | Phase::Conflict => "gateway/channels/whatsapp".to_string(),
            _ => format!("channels/{channel}"),
        };
        let mut logs = Vec::new();
        let mut log = |level: &'static str, message: String| {
            logs.push(LogLine::new(level, sub.clone(), message))
        };
        for k in ["terminalDisconnect", "healthState", "stateReason"] {
            r.remove(k);
        }
        let closed = |code: &dyn std::fmt::Display| {
            format!("discord gateway: Gateway websocket closed: {code}")
        };
        match &phase {
            Phase::Starting => {
                r.life(true, false, "starting");
                r.put(&[
                    ("restartPending", json!(false)),
                    ("lastStartAt", json!(now_ms)),
                    ("lastError", Value::Null),
                ]);
                if channel != "telegram" {
                    r.put(&[("lastDisconnect", Value::Null)]);
                }
                if channel == "whatsapp" {
                    r.put(&[("linked", json!(true))]);
                }
                log("INFO", format!("[{account}] starting provider"));
            }
            Phase::Ready | Phase::Stalled => {
                r.life(true, true, "ready");
                r.put(&[("restartPending", json!(false)), ("lastError", Value::Null)]);
                // Activity moves while Ready (see `rows`); a stall freezes it here.
                // No capture shows WhatsApp's transport activity: leave it out.
                if channel != "whatsapp" {
                    r.put(&[("lastTransportActivityAt", json!(now_ms))]);
                }
                if acc.phase != Phase::Ready && acc.phase != Phase::Stalled {
                    r.put(&[
                        ("lastConnectedAt", json!(now_ms)),
                        ("lastEventAt", json!(now_ms)),
                    ]);
                }
                if matches!(acc.phase, Phase::SocketReconnect { .. }) {
                    log("INFO", "discord gateway: Gateway resumed".into());
                }
            }
            Phase::Restarting { error, attempt } => {
                r.life(false, false, "recovering");
                r.put(&[
                    ("restartPending", json!(true)),
                    ("reconnectAttempts", json!(attempt)),
                    ("lastError", json!(error)),
                    ("lastStopAt", json!(now_ms)),
                ]);
                let delay = (5u64 << (attempt.saturating_sub(1)).min(6)).min(300);
                log("ERROR", format!("[{account}] channel exited: {error}"));
                log(
                    "INFO",
                    format!("[{account}] auto-restart attempt {attempt}/10 in {delay}s"),
                );
            }
            Phase::SocketReconnect { code } => {
                let scheduled = "Gateway reconnect scheduled in 4000ms (close, resume=false)";
                r.life(true, false, "recovering");
                r.put(&[
                    ("lastDisconnect", json!({"at": now_ms, "status": code})),
                    ("lastEventAt", json!(now_ms)),
                    ("lastError", json!(scheduled)),
                ]);
                log("INFO", closed(code));
                log("INFO", format!("discord gateway: {scheduled}"));
            }
            Phase::Blocked { error, close } => {
                r.life(false, false, "blocked");
                r.put(&[
                    ("restartPending", json!(false)),
                    ("terminalDisconnect", json!(true)),
                    ("healthState", json!("terminal-disconnect")),
                    ("lastError", json!(error)),
                    ("lastStopAt", json!(now_ms)),
                ]);
                if let Some(c) = close {
                    r.put(&[
                        ("lastDisconnect", json!({"at": now_ms, "status": c})),
                        ("lastEventAt", json!(now_ms)),
                    ]);
                    log("INFO", closed(c));
                    if *c == 4014 {
                        log("ERROR", "discord: gateway closed with code 4014 (missing privileged gateway intents). Enable the required intents in the Discord Developer Portal or disable them in config.".into());
                    }
                } else {
                    log("ERROR", format!("[{account}] channel exited: {error}"));
                }
                log(
                    "INFO",
                    format!("[{account}] auto-restart skipped, terminal disconnect"),
                );
            }
            Phase::GaveUp { error } => {
                r.life(false, false, "stopped");
                r.put(&[
                    ("restartPending", json!(false)),
                    ("reconnectAttempts", json!(10)),
                    ("lastError", json!(error)),
                    ("lastStopAt", json!(now_ms)),
                ]);
                log(
                    "ERROR",
                    format!("[{account}] giving up after 10 restart attempts"),
                );
            }
            Phase::Stopped => {
                r.life(false, false, "stopped");
                r.put(&[
                    ("restartPending", json!(false)),
                    ("lastError", Value::Null),
                    ("lastStopAt", json!(now_ms)),
                ]);
                log(
                    "WARN",
                    format!("[{account}] channel exited without an error"),
                );
            }
            Phase::NotLinked => {
                r.life(false, false, "stopped");
                r.put(&[
                    ("linked", json!(false)),
                    ("healthState", json!("stopped")),
                    ("stateReason", json!("not linked")),
                ]);
            }
            Phase::LoggedOut => {
                r.life(false, false, "blocked");
                r.put(&[
                        ("healthState", json!("logged-out")),
                        (
                            "lastDisconnect",
                            json!({"at": now_ms, "status": 401, "loggedOut": true, "error": "Connection Failure"}),
                        ),
                        ("lastStopAt", json!(now_ms)),
                    ],
                );
                log(
                    "WARN",
                    format!("[{account}] web reconnect: connection closed"),
                );
                log("ERROR", format!("[{account}] WhatsApp session logged out. Run `openclaw channels login --channel whatsapp` to relink."));
            }
            Phase::Conflict => {
                r.life(false, false, "blocked");
                r.put(&[
                    ("healthState", json!("conflict")),
                    (
                        "lastDisconnect",
                        json!({"at": now_ms, "status": 440, "error": "Stream Errored (conflict)"}),
                    ),
                ]);
                log("ERROR", format!("[{account}] WhatsApp Web connection closed (status 440: session conflict). Stopping web monitoring."));
            }
        }
        acc.phase = phase;
        logs
    }

    /// Rows as of gateway time `now_ms`: live transports keep moving.
    pub fn rows(&self, channel: &str, now_ms: i64, probe: bool) -> Vec<Value> {
        self.accounts
            .range((channel.to_string(), String::new())..)
            .take_while(|((c, _), _)| c == channel)
            .map(|(_, a)| {
                let mut r = a.row.clone();
                if a.phase == Phase::Ready && channel != "whatsapp" {
                    r.insert("lastTransportActivityAt".into(), json!(now_ms));
                }
                // A message arrives every 20 s while connected.
                if a.phase == Phase::Ready {
                    let tick = now_ms - now_ms.rem_euclid(20_000);
                    let since = r
                        .get("lastConnectedAt")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    if tick >= since {
                        r.insert("lastInboundAt".into(), json!(tick));
                    }
                }
                // The real gateway probes Telegram and Discord, not WhatsApp.
                if probe && channel != "whatsapp" {
                    let ok = matches!(a.phase, Phase::Ready | Phase::Stalled | Phase::Starting);
                    let status = match &a.phase {
                        Phase::Blocked { error, .. } if error.contains("Unauthorized") => {
                            json!(401)
                        }
                        _ if ok => json!(200),
                        _ => Value::Null,
                    };
                    let mut p =
                        json!({"ok": ok, "status": status, "elapsedMs": 40 + (now_ms % 17)});
                    // A failed probe says why; a good one has no error key.
                    if !ok {
                        p["error"] = json!("probe failed");
                    }
                    r.insert("probe".into(), p);
                    r.insert("lastProbeAt".into(), json!(now_ms));
                }
                Value::Object(r)
            })
            .collect()
    }

    /// Channel ids present, sorted as the gateway sorts them.
    pub fn channels(&self) -> Vec<String> {
        let mut v: Vec<String> = self.accounts.keys().map(|(c, _)| c.clone()).collect();
        v.dedup();
        v
    }
}
