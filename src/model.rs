//! What the gateway tells us, decoded leniently, and the closed vocabularies
//! (states, reasons) that clawwatch exports. A field of the wrong type reads
//! as absent: one odd field must not hide a whole account.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The six channel states, best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Transport up and moving.
    Connected,
    /// Starting, within the connect grace.
    Connecting,
    /// The gateway is retrying on its own.
    Reconnecting,
    /// Not connected and nothing is retrying (or the transport went silent).
    Disconnected,
    /// Stopped for a cause a restart may or may not fix.
    Error,
    /// Needs a person to re-authenticate.
    AuthRequired,
}

impl State {
    /// All states in export order.
    pub const ALL: [State; 6] = [
        State::Connected,
        State::Connecting,
        State::Reconnecting,
        State::Disconnected,
        State::Error,
        State::AuthRequired,
    ];

    /// The label value and JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connected => "connected",
            State::Connecting => "connecting",
            State::Reconnecting => "reconnecting",
            State::Disconnected => "disconnected",
            State::Error => "error",
            State::AuthRequired => "auth_required",
        }
    }

    /// Parses a label value.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True for the states that count as a disconnect when entered.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            State::Reconnecting | State::Disconnected | State::Error | State::AuthRequired
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an account is not connected: a closed set, safe as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// WhatsApp has no linked session.
    NotLinked,
    /// WhatsApp session logged out (status 401 / loggedOut).
    LoggedOut,
    /// Another client took the session (WhatsApp 440, Telegram 409).
    Conflict,
    /// The upstream could not be reached.
    Network,
    /// Protocol-level refusal (Discord 4010-4013).
    Protocol,
    /// Token or credentials rejected.
    AuthFailed,
    /// Discord refused a privileged intent (4014).
    DisallowedIntents,
    /// Discord session invalidated (4003/4005/4007/4009).
    InvalidSession,
    /// Took too long to connect.
    Timeout,
    /// Upstream rate limit.
    RateLimited,
    /// Upstream closed the connection.
    ServerClosed,
    /// Connected, but the transport stopped moving.
    Stalled,
    /// No better explanation.
    Unknown,
}

impl Reason {
    /// Every reason, for docs and tests.
    pub const ALL: [Reason; 13] = [
        Reason::NotLinked,
        Reason::LoggedOut,
        Reason::Conflict,
        Reason::Network,
        Reason::Protocol,
        Reason::AuthFailed,
        Reason::DisallowedIntents,
        Reason::InvalidSession,
        Reason::Timeout,
        Reason::RateLimited,
        Reason::ServerClosed,
        Reason::Stalled,
        Reason::Unknown,
    ];

    /// The label value and JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotLinked => "not_linked",
            Reason::LoggedOut => "logged_out",
            Reason::Conflict => "conflict",
            Reason::Network => "network",
            Reason::Protocol => "protocol",
            Reason::AuthFailed => "auth_failed",
            Reason::DisallowedIntents => "disallowed_intents",
            Reason::InvalidSession => "invalid_session",
            Reason::Timeout => "timeout",
            Reason::RateLimited => "rate_limited",
            Reason::ServerClosed => "server_closed",
            Reason::Stalled => "stalled",
            Reason::Unknown => "unknown",
        }
    }

    /// Parses a label value.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Causes only a person can fix.
    pub fn needs_person(self) -> bool {
        matches!(
            self,
            Reason::NotLinked | Reason::LoggedOut | Reason::AuthFailed
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why talking to the gateway failed: a bounded label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayErrorKind {
    /// TCP or TLS connect failed.
    Connect,
    /// No answer in time.
    Timeout,
    /// Token refused.
    Auth,
    /// Protocol version mismatch.
    Protocol,
    /// No token and no device identity.
    NotPaired,
    /// Token lacks a scope.
    MissingScope,
    /// Gateway starting.
    Unavailable,
    /// A frame that is not the JSON we expect.
    MalformedFrame,
    /// A frame over `max_frame_bytes`.
    OversizedFrame,
    /// The socket closed or went silent.
    Closed,
    /// An RPC error we do not know.
    Rpc,
    /// A field out of range or of the wrong type, read as absent.
    BadField,
}

impl GatewayErrorKind {
    /// Every kind, in label order.
    pub const ALL: [GatewayErrorKind; 12] = [
        GatewayErrorKind::Connect,
        GatewayErrorKind::Timeout,
        GatewayErrorKind::Auth,
        GatewayErrorKind::Protocol,
        GatewayErrorKind::NotPaired,
        GatewayErrorKind::MissingScope,
        GatewayErrorKind::Unavailable,
        GatewayErrorKind::MalformedFrame,
        GatewayErrorKind::OversizedFrame,
        GatewayErrorKind::Closed,
        GatewayErrorKind::Rpc,
        GatewayErrorKind::BadField,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayErrorKind::Connect => "connect",
            GatewayErrorKind::Timeout => "timeout",
            GatewayErrorKind::Auth => "auth",
            GatewayErrorKind::Protocol => "protocol",
            GatewayErrorKind::NotPaired => "not_paired",
            GatewayErrorKind::MissingScope => "missing_scope",
            GatewayErrorKind::Unavailable => "unavailable",
            GatewayErrorKind::MalformedFrame => "malformed_frame",
            GatewayErrorKind::OversizedFrame => "oversized_frame",
            GatewayErrorKind::Closed => "closed",
            GatewayErrorKind::Rpc => "rpc",
            GatewayErrorKind::BadField => "bad_field",
        }
    }
}

/// `lastDisconnect`: null, a string, or `{at, status?, error?, loggedOut?}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LastDisconnect {
    /// When, epoch ms.
    pub at: Option<i64>,
    /// WS close code (Discord) or WhatsApp status.
    pub status: Option<i64>,
    /// Error text.
    pub error: Option<String>,
    /// WhatsApp's loggedOut flag.
    pub logged_out: bool,
}

/// `probe` of a probed `channels.status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    /// The upstream answered as expected.
    pub ok: Option<bool>,
    /// HTTP status of the upstream call.
    pub status: Option<i64>,
    /// Error text.
    pub error: Option<String>,
    /// Round trip, ms.
    pub elapsed_ms: Option<f64>,
}

/// One row of `channelAccounts[channel]`.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct AccountRow {
    pub account_id: String,
    pub enabled: Option<bool>,
    pub configured: Option<bool>,
    pub linked: Option<bool>,
    pub running: Option<bool>,
    pub connected: Option<bool>,
    pub restart_pending: Option<bool>,
    pub reconnect_attempts: Option<u64>,
    pub terminal_disconnect: Option<bool>,
    pub ingress_unavailable: Option<bool>,
    pub last_start_at: Option<i64>,
    pub last_stop_at: Option<i64>,
    pub last_connected_at: Option<i64>,
    pub last_inbound_at: Option<i64>,
    pub last_event_at: Option<i64>,
    pub last_transport_activity_at: Option<i64>,
    pub last_probe_at: Option<i64>,
    pub last_disconnect: Option<LastDisconnect>,
    pub last_error: Option<String>,
    pub lifecycle: Option<String>,
    pub health_state: Option<String>,
    pub mode: Option<String>,
    pub probe: Option<Probe>,
    /// Fields present but out of range or of the wrong type (read as absent).
    pub bad_fields: Vec<&'static str>,
}

fn b(v: &Value, k: &str) -> Option<bool> {
    v.get(k)?.as_bool()
}
/// A whole number in `range`; present but not one is noted in `bad`.
fn int(
    v: &Value,
    k: &'static str,
    range: std::ops::RangeInclusive<i64>,
    bad: &mut Vec<&'static str>,
) -> Option<i64> {
    let x = v.get(k).filter(|x| !x.is_null())?;
    let n = x.as_i64().or_else(|| {
        x.as_f64()
            .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    match n.filter(|n| range.contains(n)) {
        Some(n) => Some(n),
        None => {
            bad.push(k);
            None
        }
    }
}
/// An epoch-ms time in 1970..=9999.
fn at(v: &Value, k: &'static str, bad: &mut Vec<&'static str>) -> Option<i64> {
    int(v, k, 0..=crate::clock::MAX_EPOCH_MS, bad)
}
fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)?.as_str().map(str::to_owned)
}

impl AccountRow {
    /// Decodes one row; `None` when it has no `accountId`.
    pub fn from_value(v: &Value) -> Option<AccountRow> {
        let account_id = s(v, "accountId")?;
        let mut bad = Vec::new();
        let last_disconnect = match v.get("lastDisconnect") {
            Some(Value::String(t)) => Some(LastDisconnect {
                error: Some(t.clone()),
                ..Default::default()
            }),
            Some(o @ Value::Object(_)) => Some(LastDisconnect {
                at: at(o, "at", &mut bad),
                status: int(o, "status", 0..=99_999, &mut bad),
                error: s(o, "error"),
                logged_out: b(o, "loggedOut").unwrap_or(false),
            }),
            _ => None,
        };
        let probe = v.get("probe").filter(|p| p.is_object()).map(|p| Probe {
            ok: b(p, "ok"),
            status: int(p, "status", 0..=999, &mut bad),
            error: s(p, "error"),
            elapsed_ms: p
                .get("elapsedMs")
                .and_then(Value::as_f64)
                .filter(|ms| (0.0..=86_400_000.0).contains(ms)),
        });
        Some(AccountRow {
            account_id,
            enabled: b(v, "enabled"),
            configured: b(v, "configured"),
            linked: b(v, "linked"),
            running: b(v, "running"),
            connected: b(v, "connected"),
            restart_pending: b(v, "restartPending"),
            reconnect_attempts: int(v, "reconnectAttempts", 0..=u32::MAX.into(), &mut bad)
                .map(|n| n as u64),
            terminal_disconnect: b(v, "terminalDisconnect"),
            ingress_unavailable: b(v, "ingressUnavailable"),
            last_start_at: at(v, "lastStartAt", &mut bad),
            last_stop_at: at(v, "lastStopAt", &mut bad),
            last_connected_at: at(v, "lastConnectedAt", &mut bad),
            last_inbound_at: at(v, "lastInboundAt", &mut bad),
            last_event_at: at(v, "lastEventAt", &mut bad),
            last_transport_activity_at: at(v, "lastTransportActivityAt", &mut bad),
            last_probe_at: at(v, "lastProbeAt", &mut bad),
            last_disconnect,
            last_error: s(v, "lastError"),
            lifecycle: s(v, "lifecycle"),
            health_state: s(v, "healthState"),
            mode: s(v, "mode"),
            probe,
            bad_fields: bad,
        })
    }

    /// Disabled or unconfigured accounts are not reported.
    pub fn is_watched(&self) -> bool {
        self.enabled != Some(false) && self.configured != Some(false)
    }
}

/// The parts of a `channels.status` payload clawwatch uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelsStatus {
    /// Gateway clock when the payload was made, epoch ms.
    pub ts: Option<i64>,
    /// Channel ids in the gateway's order.
    pub channel_order: Vec<String>,
    /// Rows per channel.
    pub accounts: BTreeMap<String, Vec<AccountRow>>,
    /// `ts` was present but not a time in 1970..=9999.
    pub bad_ts: bool,
    /// Rows that could not be read at all, as `(channel, account, why)`;
    /// the account is `""` when the row names none. Their accounts keep
    /// their last state instead of vanishing.
    pub undecodable: Vec<(String, String, &'static str)>,
    /// Ids (`channel` or `channel/account`) whose control characters were
    /// replaced, in their new form.
    pub sanitized: Vec<String>,
}

/// Whether `s` holds a control character (C0, DEL or C1).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// `s` with each control character replaced by U+FFFD: no output format
/// (metrics labels, JSON, a terminal table, a log line) can be broken by it.
pub fn replace_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Gives each id with a control character its clean form, kept apart from
/// every other id of `ids` (a clean id stays as it is; a sanitized one that
/// would meet another gets `\u{fffd}2`, `\u{fffd}3`, ...). Returns the
/// renamed ids as `(old, new)`.
fn keep_apart<'a>(ids: impl Iterator<Item = &'a str> + Clone) -> Vec<(String, String)> {
    let mut used: std::collections::HashSet<String> = ids
        .clone()
        .filter(|i| !has_control(i))
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for raw in ids.filter(|i| has_control(i)) {
        if out.iter().any(|(o, _): &(String, String)| o == raw) {
            continue;
        }
        let base = replace_controls(raw);
        let mut id = base.clone();
        let mut n = 2;
        while !used.insert(id.clone()) {
            id = format!("{base}\u{fffd}{n}");
            n += 1;
        }
        out.push((raw.to_owned(), id));
    }
    out
}

/// Reads a channel's rows, noting each one that cannot be read.
fn rows_of<'a>(
    channel: &str,
    rows: impl Iterator<Item = Option<Value>> + 'a,
    undecodable: &mut Vec<(String, String, &'static str)>,
) -> Vec<AccountRow> {
    let mut out = Vec::new();
    for v in rows {
        let Some(v) = v else {
            undecodable.push((channel.into(), String::new(), "row is not JSON"));
            continue;
        };
        match AccountRow::from_value(&v) {
            Some(r) => out.push(r),
            None => {
                let id = v.get("accountId").and_then(Value::as_str).unwrap_or("");
                let why = if !v.is_object() {
                    "row is not an object"
                } else if id.is_empty() && v.get("accountId").is_some() {
                    "accountId is not a string"
                } else {
                    "row has no accountId"
                };
                undecodable.push((channel.into(), id.into(), why));
            }
        }
    }
    out
}

/// A payload that is not a `channels.status` answer.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("not a channels.status payload: {0}")]
pub struct PayloadError(pub &'static str);

#[derive(Deserialize)]
struct RawStatus<'a> {
    ts: Option<Value>,
    #[serde(rename = "channelOrder")]
    channel_order: Option<Value>,
    #[serde(borrow, rename = "channelAccounts")]
    channel_accounts: Option<&'a serde_json::value::RawValue>,
}

impl ChannelsStatus {
    /// No rows yet: the payload's clock and channel order.
    fn header(ts: Option<&Value>, order: Option<&Value>) -> ChannelsStatus {
        let mut bad = Vec::new();
        let ts = ts.and_then(|x| at(&serde_json::json!({ "ts": x }), "ts", &mut bad));
        ChannelsStatus {
            ts,
            bad_ts: !bad.is_empty(),
            channel_order: order
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            accounts: BTreeMap::new(),
            undecodable: Vec::new(),
            sanitized: Vec::new(),
        }
    }

    /// Replaces control characters in channel and account ids (see
    /// [`replace_controls`]), keeping different ids apart.
    fn sanitize(mut self) -> ChannelsStatus {
        self.complete_order();
        let channels = keep_apart(
            self.accounts
                .keys()
                .map(String::as_str)
                .chain(self.channel_order.iter().map(String::as_str)),
        );
        let rename = |c: &mut String| {
            if let Some((_, new)) = channels.iter().find(|(old, _)| old == c) {
                *c = new.clone();
            }
        };
        if !channels.is_empty() {
            self.channel_order.iter_mut().for_each(rename);
            self.accounts = std::mem::take(&mut self.accounts)
                .into_iter()
                .map(|(mut c, rows)| {
                    rename(&mut c);
                    (c, rows)
                })
                .collect();
            for (c, _, _) in &mut self.undecodable {
                rename(c);
            }
            self.sanitized
                .extend(channels.iter().map(|(_, new)| new.clone()));
        }
        for (ch, rows) in &mut self.accounts {
            let renamed = keep_apart(rows.iter().map(|r| r.account_id.as_str()));
            for (old, new) in &renamed {
                for r in rows.iter_mut().filter(|r| r.account_id == *old) {
                    r.account_id.clone_from(new);
                }
                self.sanitized.push(format!("{ch}/{new}"));
            }
        }
        for (_, a, _) in &mut self.undecodable {
            if has_control(a) {
                *a = replace_controls(a);
            }
        }
        self
    }

    /// Every decode problem: undecodable rows, then fields read as absent.
    pub fn decode_errors(&self) -> Vec<(String, String, String)> {
        let mut out: Vec<(String, String, String)> = self
            .undecodable
            .iter()
            .map(|(c, a, why)| (c.clone(), a.clone(), (*why).to_string()))
            .collect();
        out.extend(self.bad_fields().into_iter().map(|(c, a, f)| {
            (
                c.into(),
                a.into(),
                format!("{f} is out of range or mistyped"),
            )
        }));
        out
    }

    /// Fields read as absent because out of range or mistyped, as
    /// `(channel, account, field)`; `ts` comes with an empty channel.
    pub fn bad_fields(&self) -> Vec<(&str, &str, &'static str)> {
        let mut out: Vec<_> = self.bad_ts.then_some(("", "", "ts")).into_iter().collect();
        for (ch, rows) in &self.accounts {
            for r in rows {
                out.extend(
                    r.bad_fields
                        .iter()
                        .map(|f| (ch.as_str(), r.account_id.as_str(), *f)),
                );
            }
        }
        out
    }

    /// Adds a channel's rows; a channel missing from the order goes last
    /// (checked once per payload, by map: a payload may name 100,000).
    fn insert(&mut self, channel: String, rows: Vec<AccountRow>) {
        self.accounts.insert(channel, rows);
    }

    fn complete_order(&mut self) {
        let listed: std::collections::HashSet<&String> = self.channel_order.iter().collect();
        let missing: Vec<String> = self
            .accounts
            .keys()
            .filter(|c| !listed.contains(c))
            .cloned()
            .collect();
        let mut seen = std::collections::HashSet::new();
        self.channel_order.retain(|c| seen.insert(c.clone()));
        self.channel_order.extend(missing);
    }

    /// Keeps the first `max` accounts in channel order and at most `max`
    /// channels; returns how many accounts were left out.
    pub fn cap_accounts(&mut self, max: usize) -> usize {
        let mut left = max;
        let mut dropped = 0;
        let mut kept_channels = 0;
        for ch in &self.channel_order {
            let Some(rows) = self.accounts.get_mut(ch) else {
                continue;
            };
            if kept_channels >= max {
                dropped += rows.len();
                rows.clear();
                continue;
            }
            kept_channels += 1;
            if rows.len() > left {
                dropped += rows.len() - left;
                rows.truncate(left);
            }
            left -= rows.len();
        }
        if kept_channels >= max {
            let keep: std::collections::HashSet<String> =
                self.channel_order.iter().take(max).cloned().collect();
            self.accounts.retain(|c, _| keep.contains(c));
            self.channel_order.truncate(max);
        }
        dropped
    }

    /// Decodes a `channels.status` payload from its JSON text, one row at a
    /// time: a fleet's payload is never held as one `Value` tree.
    pub fn from_json(text: &str) -> Result<ChannelsStatus, PayloadError> {
        let raw: RawStatus =
            serde_json::from_str(text).map_err(|_| PayloadError("not an object"))?;
        let ca: BTreeMap<String, &serde_json::value::RawValue> = raw
            .channel_accounts
            .and_then(|c| serde_json::from_str(c.get()).ok())
            .ok_or(PayloadError("no channelAccounts object"))?;
        let mut out = ChannelsStatus::header(raw.ts.as_ref(), raw.channel_order.as_ref());
        for (ch, rows) in ca {
            let Ok(rows) = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(rows.get())
            else {
                out.undecodable
                    .push((ch.clone(), String::new(), "rows are not a list"));
                out.insert(ch, Vec::new());
                continue;
            };
            let mut bad = std::mem::take(&mut out.undecodable);
            let rows = rows_of(
                &ch,
                rows.iter()
                    .map(|r| serde_json::from_str::<Value>(r.get()).ok()),
                &mut bad,
            );
            out.undecodable = bad;
            out.insert(ch, rows);
        }
        Ok(out.sanitize())
    }

    /// Decodes a `channels.status` payload.
    pub fn from_value(v: &Value) -> Result<ChannelsStatus, PayloadError> {
        let obj = v.as_object().ok_or(PayloadError("not an object"))?;
        let ca = obj
            .get("channelAccounts")
            .and_then(Value::as_object)
            .ok_or(PayloadError("no channelAccounts object"))?;
        let mut out = ChannelsStatus::header(obj.get("ts"), obj.get("channelOrder"));
        for (ch, rows) in ca {
            let Some(a) = rows.as_array() else {
                out.undecodable
                    .push((ch.clone(), String::new(), "rows are not a list"));
                out.insert(ch.clone(), Vec::new());
                continue;
            };
            let mut bad = std::mem::take(&mut out.undecodable);
            let rows = rows_of(ch, a.iter().cloned().map(Some), &mut bad);
            out.undecodable = bad;
            out.insert(ch.clone(), rows);
        }
        Ok(out.sanitize())
    }

    /// Decodes the per-account rows of a `health` payload or event
    /// (`channels.<id>.accounts.<accountId>`).
    pub fn from_health(v: &Value) -> Result<ChannelsStatus, PayloadError> {
        let chans = v
            .get("channels")
            .and_then(Value::as_object)
            .ok_or(PayloadError("no channels object"))?;
        let mut accounts = BTreeMap::new();
        let mut bad = Vec::new();
        for (ch, summary) in chans {
            let rows = summary
                .get("accounts")
                .and_then(Value::as_object)
                .map(|m| {
                    let rows = m.iter().map(|(id, row)| {
                        let mut row = row.clone();
                        if row.is_object() && row.get("accountId").is_none() {
                            row["accountId"] = Value::String(id.clone());
                        }
                        Some(row)
                    });
                    rows_of(ch, rows, &mut bad)
                })
                .unwrap_or_default();
            accounts.insert(ch.clone(), rows);
        }
        let mut out = ChannelsStatus::header(v.get("ts"), v.get("channelOrder"));
        out.undecodable = bad;
        for (ch, rows) in accounts {
            out.insert(ch, rows);
        }
        Ok(out.sanitize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn out_of_range_fields_read_as_absent_and_are_named() {
        let status = ChannelsStatus::from_json(
            &json!({
                "ts": 1e300,
                "channelOrder": ["telegram"],
                "channelAccounts": {"telegram": [{
                    "accountId": "default",
                    "lastInboundAt": 300_000_000_000_000_i64,
                    "lastStartAt": -5,
                    "lastConnectedAt": 1_700_000_000_000_i64,
                    "reconnectAttempts": 1.5,
                    "lastDisconnect": {"at": "soon", "status": 4014},
                    "probe": {"ok": true, "status": 200, "elapsedMs": f64::MAX}
                }]}
            })
            .to_string(),
        )
        .unwrap();
        let row = &status.accounts["telegram"][0];
        assert_eq!(row.last_inbound_at, None);
        assert_eq!(row.last_start_at, None);
        assert_eq!(row.last_connected_at, Some(1_700_000_000_000));
        assert_eq!(row.reconnect_attempts, None);
        assert_eq!(row.last_disconnect.as_ref().unwrap().status, Some(4014));
        assert_eq!(row.probe.as_ref().unwrap().elapsed_ms, None);
        assert_eq!(status.ts, None);
        assert_eq!(
            status.bad_fields(),
            vec![
                ("", "", "ts"),
                ("telegram", "default", "at"),
                ("telegram", "default", "reconnectAttempts"),
                ("telegram", "default", "lastStartAt"),
                ("telegram", "default", "lastInboundAt"),
            ]
        );
    }
}
