//! From one `channelAccounts` row to a state and a reason. Pure: the
//! gateway's clock comes in as an argument. `docs/states.md` is the table
//! this code implements; each rule cites its evidence there.

use crate::model::{AccountRow, Reason, State};
use std::time::Duration;

/// Thresholds that turn "looks connected" into a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// Telegram polling: transport activity older than this is a stall.
    pub stale_after_telegram: Option<Duration>,
    /// Discord: transport activity older than this is a stall.
    pub stale_after_discord: Option<Duration>,
    /// WhatsApp (off by default: its cadence is not known).
    pub stale_after_whatsapp: Option<Duration>,
    /// Any other channel.
    pub stale_after_other: Option<Duration>,
    /// Longer than this in `connecting` is `disconnected`/`timeout`.
    pub connect_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            stale_after_telegram: Some(Duration::from_secs(90)),
            stale_after_discord: Some(Duration::from_secs(130)),
            stale_after_whatsapp: None,
            stale_after_other: None,
            connect_timeout: Duration::from_secs(120),
        }
    }
}

impl Tuning {
    fn stale_after(&self, channel: &str, row: &AccountRow) -> Option<Duration> {
        match channel {
            // A webhook bot has no poll cadence: silence is normal there.
            "telegram" if row.mode.as_deref() == Some("webhook") => None,
            "telegram" => self.stale_after_telegram,
            "discord" => self.stale_after_discord,
            "whatsapp" => self.stale_after_whatsapp,
            _ => self.stale_after_other,
        }
    }
}

/// The derived state of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derived {
    /// One of the six.
    pub state: State,
    /// Set for every state but `connected` and `connecting`.
    pub reason: Option<Reason>,
}

fn d(state: State, reason: Option<Reason>) -> Derived {
    Derived { state, reason }
}

/// Restart budget after which the gateway stops by itself.
pub fn restart_budget(channel: &str) -> u64 {
    if channel == "whatsapp" {
        12
    } else {
        10
    }
}

/// True when the gateway's own restarts gave up on this account.
pub fn gave_up(channel: &str, row: &AccountRow) -> bool {
    row.running != Some(true)
        && row.restart_pending != Some(true)
        && row.terminal_disconnect != Some(true)
        && row.reconnect_attempts.unwrap_or(0) >= restart_budget(channel)
}

/// True when the gateway will not retry the account on its own.
pub fn is_terminal(row: &AccountRow) -> bool {
    let health = row.health_state.as_deref().unwrap_or("");
    row.terminal_disconnect == Some(true)
        || row.lifecycle.as_deref() == Some("blocked")
        || matches!(health, "terminal-disconnect" | "logged-out" | "conflict")
}

/// Derives state and reason. `now_ms` is the gateway's clock (the payload's `ts`).
pub fn derive(channel: &str, row: &AccountRow, now_ms: i64, tuning: &Tuning) -> Derived {
    let wa = channel == "whatsapp";
    let lifecycle = row.lifecycle.as_deref().unwrap_or("");
    let health = row.health_state.as_deref().unwrap_or("");
    let terminal = is_terminal(row);

    if wa && row.linked == Some(false) {
        return d(State::AuthRequired, Some(Reason::NotLinked));
    }

    // Connected: running with the transport up. Other channels that never
    // report `connected` count as up while they run without an error.
    let up = row.running != Some(false)
        && !terminal
        && match row.connected {
            Some(c) => c,
            None => {
                row.running == Some(true)
                    && row.last_error.is_none()
                    && row.last_disconnect.is_none()
                    && lifecycle.is_empty()
                    && !matches!(channel, "telegram" | "discord" | "whatsapp")
            }
        };
    if up {
        if let (Some(limit), Some(act)) = (
            tuning.stale_after(channel, row),
            row.last_transport_activity_at,
        ) {
            if now_ms - act > limit.as_millis() as i64 {
                return d(State::Disconnected, Some(Reason::Stalled));
            }
        }
        return d(State::Connected, None);
    }

    let cause = classify_cause(channel, row);
    if terminal {
        return match cause {
            Some(r) if r.needs_person() => d(State::AuthRequired, Some(r)),
            Some(r) => d(State::Error, Some(r)),
            None => d(State::Error, Some(Reason::Unknown)),
        };
    }
    // A rejected token that the gateway keeps retrying (Discord REST 401)
    // still needs a person.
    if let Some(r) = cause.filter(|r| r.needs_person()) {
        return d(State::AuthRequired, Some(r));
    }
    if wa && cause == Some(Reason::Conflict) {
        return d(State::Error, Some(Reason::Conflict));
    }
    if gave_up(channel, row) {
        return d(State::Error, Some(cause.unwrap_or(Reason::Unknown)));
    }
    let failed_before = row.last_error.is_some() || row.last_disconnect.is_some();
    let starting = lifecycle == "starting"
        || (row.running == Some(true) && !failed_before && lifecycle != "recovering");
    if starting && row.restart_pending != Some(true) {
        if let Some(start) = row.last_start_at {
            if now_ms - start > tuning.connect_timeout.as_millis() as i64 {
                return d(State::Disconnected, Some(Reason::Timeout));
            }
        }
        return d(State::Connecting, None);
    }
    if row.restart_pending == Some(true)
        || lifecycle == "recovering"
        || health == "reconnecting"
        || row.running == Some(true)
    {
        return d(State::Reconnecting, Some(cause.unwrap_or(Reason::Unknown)));
    }
    d(State::Disconnected, Some(cause.unwrap_or(Reason::Unknown)))
}

/// The cause the row's codes and texts carry, if any.
pub fn classify_cause(channel: &str, row: &AccountRow) -> Option<Reason> {
    let ld = row.last_disconnect.as_ref();
    let status = ld.and_then(|l| l.status);
    if ld.is_some_and(|l| l.logged_out) || row.health_state.as_deref() == Some("logged-out") {
        return Some(Reason::LoggedOut);
    }
    let texts = [
        row.last_error.as_deref(),
        ld.and_then(|l| l.error.as_deref()),
    ];
    match channel {
        "whatsapp" => {
            if row.health_state.as_deref() == Some("conflict") {
                return Some(Reason::Conflict);
            }
            if let Some(r) = status.and_then(whatsapp_status) {
                return Some(r);
            }
        }
        "discord" => {
            let code = status.or_else(|| texts.iter().flatten().find_map(|t| close_code_in(t)));
            if let Some(r) = code.and_then(discord_close) {
                return Some(r);
            }
        }
        _ => {}
    }
    if let Some(r) = texts.iter().flatten().find_map(|t| text_cause(t)) {
        return Some(r);
    }
    // The probe is a second witness for a rejected token.
    let p = row.probe.as_ref()?;
    if p.ok == Some(false) && matches!(p.status, Some(401) | Some(403)) {
        return Some(Reason::AuthFailed);
    }
    if p.ok == Some(false) && channel == "telegram" && p.status == Some(404) {
        return Some(Reason::AuthFailed);
    }
    None
}

/// WhatsApp (Baileys) disconnect status codes.
pub fn whatsapp_status(code: i64) -> Option<Reason> {
    Some(match code {
        401 => Reason::LoggedOut,
        440 => Reason::Conflict,
        408 => Reason::Timeout,
        428 => Reason::Network,
        429 => Reason::RateLimited,
        411 | 500 | 503 | 515 => Reason::ServerClosed,
        499 => Reason::Network,
        _ => return None,
    })
}

/// Discord close codes as the OpenClaw Discord plugin treats them.
pub fn discord_close(code: i64) -> Option<Reason> {
    Some(match code {
        4004 => Reason::AuthFailed,
        4014 => Reason::DisallowedIntents,
        4010..=4013 => Reason::Protocol,
        4003 | 4005 | 4007 | 4009 => Reason::InvalidSession,
        4008 => Reason::RateLimited,
        1006 => Reason::Network,
        1000 | 1001 | 4000 => Reason::ServerClosed,
        _ => return None,
    })
}

/// A Discord close code named in an error text.
fn close_code_in(text: &str) -> Option<i64> {
    const MARKERS: [&str; 4] = [
        "close code: ",
        "close code ",
        "closed with code ",
        "websocket closed: ",
    ];
    let lower = text.to_ascii_lowercase();
    MARKERS.iter().find_map(|m| {
        let rest = &lower[lower.find(m)? + m.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (digits.len() == 4).then(|| digits.parse().ok()).flatten()
    })
}

/// Causes named in free text, most specific first.
pub fn text_cause(text: &str) -> Option<Reason> {
    let t = text.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    if any(&[
        "unauthorized",
        "returned 401",
        "returned 404",
        "failed (401)",
        "(401)",
        "invalid token",
        "authentication failed",
    ]) {
        return Some(Reason::AuthFailed);
    }
    if let Some(r) = close_code_in(&t).and_then(discord_close) {
        return Some(r);
    }
    if any(&["logged out", "loggedout"]) {
        return Some(Reason::LoggedOut);
    }
    if any(&[
        "getupdates conflict",
        "conflict: terminated by other getupdates",
        "session conflict",
    ]) {
        return Some(Reason::Conflict);
    }
    if any(&["(429)", "429:", "too many requests", "rate limit"]) {
        return Some(Reason::RateLimited);
    }
    if any(&["polling stall", "stall detected"]) {
        return Some(Reason::Stalled);
    }
    if any(&[
        "enotfound",
        "econnrefused",
        "econnreset",
        "etimedout",
        "eai_again",
        "ehostunreach",
        "enetunreach",
        "fetch failed",
        "network request",
        "network error",
        "socket hang up",
    ]) {
        return Some(Reason::Network);
    }
    if any(&["timed out", "timeout"]) {
        return Some(Reason::Timeout);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LastDisconnect;

    fn row() -> AccountRow {
        AccountRow {
            account_id: "default".into(),
            enabled: Some(true),
            configured: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn close_codes_in_text() {
        assert_eq!(close_code_in("Gateway websocket closed: 4014"), Some(4014));
        assert_eq!(
            close_code_in("Error: Fatal gateway close code: 4004"),
            Some(4004)
        );
        assert_eq!(
            close_code_in("gateway closed with code 4014 (missing"),
            Some(4014)
        );
        assert_eq!(close_code_in("reconnect scheduled in 4000ms"), None);
    }

    #[test]
    fn discord_4004_text_is_auth() {
        let r = AccountRow {
            running: Some(false),
            terminal_disconnect: Some(true),
            lifecycle: Some("blocked".into()),
            last_error: Some("Fatal gateway close code: 4004".into()),
            ..row()
        };
        let got = derive("discord", &r, 0, &Tuning::default());
        assert_eq!(got, d(State::AuthRequired, Some(Reason::AuthFailed)));
    }

    #[test]
    fn whatsapp_conflict_is_error() {
        let r = AccountRow {
            linked: Some(true),
            running: Some(false),
            connected: Some(false),
            last_disconnect: Some(LastDisconnect {
                at: Some(1),
                status: Some(440),
                ..Default::default()
            }),
            ..row()
        };
        let got = derive("whatsapp", &r, 0, &Tuning::default());
        assert_eq!(got, d(State::Error, Some(Reason::Conflict)));
    }

    #[test]
    fn stall_and_timeout_follow_the_gateway_clock() {
        let t = Tuning::default();
        let up = AccountRow {
            running: Some(true),
            connected: Some(true),
            lifecycle: Some("ready".into()),
            mode: Some("polling".into()),
            last_transport_activity_at: Some(1_000_000),
            ..row()
        };
        assert_eq!(
            derive("telegram", &up, 1_090_000, &t).state,
            State::Connected
        );
        assert_eq!(
            derive("telegram", &up, 1_090_001, &t),
            d(State::Disconnected, Some(Reason::Stalled))
        );
        let wh = AccountRow {
            mode: Some("webhook".into()),
            ..up.clone()
        };
        assert_eq!(
            derive("telegram", &wh, 9_000_000, &t).state,
            State::Connected
        );
        let starting = AccountRow {
            running: Some(true),
            connected: Some(false),
            lifecycle: Some("starting".into()),
            last_start_at: Some(1_000_000),
            ..row()
        };
        assert_eq!(
            derive("telegram", &starting, 1_120_000, &t).state,
            State::Connecting
        );
        assert_eq!(
            derive("telegram", &starting, 1_120_001, &t),
            d(State::Disconnected, Some(Reason::Timeout))
        );
    }

    #[test]
    fn gave_up_is_error_with_the_cause() {
        let r = AccountRow {
            running: Some(false),
            connected: Some(false),
            restart_pending: Some(false),
            reconnect_attempts: Some(10),
            last_error: Some("getaddrinfo ENOTFOUND api.example".into()),
            ..row()
        };
        assert_eq!(
            derive("telegram", &r, 0, &Tuning::default()),
            d(State::Error, Some(Reason::Network))
        );
        assert!(gave_up("telegram", &r));
    }
}
