//! Which alerts fire now: a pure function of the accounts' states, recent
//! events, the gateway's phase and the `disconnect` log counts, with
//! for-durations tracked across calls. Names are SPEC.md's.

use crate::model::State;
use crate::state::{AccountView, Event, Ts};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The alerts the built-in engine evaluates (SPEC.md's names; the sidecar's
/// own `ClawwatchDown` exists only as a Prometheus rule).
pub const ALERTS: [&str; 7] = [
    "OpenClawChannelAuthRequired",
    "OpenClawChannelDown",
    "OpenClawRecoveryExhausted",
    "OpenClawChannelFlapping",
    "OpenClawReconnectStorm",
    "OpenClawChannelDisconnectKeyword",
    "OpenClawGatewayDown",
];

/// Thresholds; the defaults are what a person would want.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// `OpenClawChannelDown` after this long not connected.
    pub channel_down_after: Duration,
    /// `OpenClawGatewayDown` after this long down.
    pub gateway_down_after: Duration,
    /// `OpenClawChannelFlapping`: this many transitions ...
    pub flapping_transitions: usize,
    /// ... within this window.
    pub flapping_window: Duration,
    /// `OpenClawReconnectStorm`: this many disconnects ...
    pub storm_disconnects: usize,
    /// ... within this window.
    pub storm_window: Duration,
    /// `OpenClawChannelDisconnectKeyword` stays firing this long after the last new match.
    pub keyword_hold: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            channel_down_after: Duration::from_secs(300),
            gateway_down_after: Duration::from_secs(60),
            flapping_transitions: 6,
            flapping_window: Duration::from_secs(900),
            storm_disconnects: 5,
            storm_window: Duration::from_secs(300),
            keyword_hold: Duration::from_secs(600),
        }
    }
}

/// One firing alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// SPEC.md's alert name.
    pub name: &'static str,
    /// `critical` (act now) or `warning` (look today).
    pub severity: &'static str,
    /// Channel id, when the alert is about one.
    pub channel: Option<String>,
    /// Account id, when the alert is about one.
    pub account: Option<String>,
    /// When the condition began (before the for-duration).
    pub active_since: Ts,
    /// One line: what broke.
    pub summary: String,
    /// Why and what to do.
    pub description: String,
    /// `docs/runbooks.md#<alert>`.
    pub runbook: String,
}

impl Alert {
    /// Identity for deduplication: name and labels.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}/{}/{}",
            self.name,
            self.channel.as_deref().unwrap_or(""),
            self.account.as_deref().unwrap_or("")
        )
    }
}

/// What the engine looks at.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Every watched account.
    pub accounts: &'a [AccountView],
    /// Recent events, newest first.
    pub history: &'a [Event],
    /// `openclaw_gateway_up`.
    pub gateway_up: bool,
    /// `disconnect` rule matches so far, per channel.
    pub disconnect_matches: &'a BTreeMap<String, u64>,
}

/// Tracks for-durations and keyword counts between evaluations.
#[derive(Debug, Default)]
pub struct Engine {
    thresholds: Thresholds,
    gateway_down_since: Option<Ts>,
    keyword: HashMap<String, (u64, Ts)>,
}

fn runbook(name: &str) -> String {
    format!("docs/runbooks.md#{}", name.to_ascii_lowercase())
}

impl Engine {
    /// An engine with these thresholds.
    pub fn new(thresholds: Thresholds) -> Engine {
        Engine {
            thresholds,
            ..Default::default()
        }
    }

    /// The alerts firing at `now`.
    pub fn evaluate(&mut self, inp: &Inputs<'_>, now: Ts) -> Vec<Alert> {
        let t = &self.thresholds;
        let mut out = Vec::new();
        let alert = |name: &'static str,
                     severity,
                     a: &AccountView,
                     since,
                     summary: String,
                     description: String| Alert {
            name,
            severity,
            channel: Some(a.channel.clone()),
            account: Some(a.account.clone()),
            active_since: since,
            summary,
            description,
            runbook: runbook(name),
        };
        for a in inp.accounts {
            let who = format!("{} account {}", a.channel, a.account);
            let why = a.reason.map(|r| r.as_str()).unwrap_or("unknown");
            if a.state == State::AuthRequired {
                out.push(alert(
                    "OpenClawChannelAuthRequired",
                    "critical",
                    a,
                    a.since,
                    format!("{who} needs a person to re-authenticate"),
                    format!(
                        "{who} is auth_required ({why}) since {}; a restart will not fix it.",
                        crate::state::rfc3339(a.since)
                    ),
                ));
            } else if a.state != State::Connected
                && now - a.since >= t.channel_down_after.as_secs_f64()
            {
                // auth_required has its own alert; Down would only repeat it.
                out.push(alert(
                    "OpenClawChannelDown",
                    "critical",
                    a,
                    a.since,
                    format!("{who} is {} ({why})", a.state),
                    format!(
                        "{who} has not been connected since {}.",
                        crate::state::rfc3339(a.since)
                    ),
                ));
            }
            if a.recovery_exhausted {
                out.push(alert(
                    "OpenClawRecoveryExhausted",
                    "critical",
                    a,
                    a.since,
                    format!("the gateway gave up restarting {who}"),
                    format!("{who}: the gateway's restart budget ran out ({why}); it will not retry on its own."),
                ));
            }
            let recent = |kind_disconnect: bool, window: Duration| {
                inp.history
                    .iter()
                    .take_while(|e| now - e.at() <= window.as_secs_f64())
                    .filter(|e| e.key() == (a.channel.as_str(), a.account.as_str()))
                    .filter(|e| matches!(e, Event::Disconnect { .. }) == kind_disconnect)
                    .count()
            };
            let flaps = recent(false, t.flapping_window);
            if flaps >= t.flapping_transitions {
                out.push(alert(
                    "OpenClawChannelFlapping",
                    "warning",
                    a,
                    now,
                    format!("{who} is flapping"),
                    format!(
                        "{who} changed state {flaps} times in {}.",
                        humantime::format_duration(t.flapping_window)
                    ),
                ));
            }
            let drops = recent(true, t.storm_window);
            if drops >= t.storm_disconnects {
                out.push(alert(
                    "OpenClawReconnectStorm",
                    "warning",
                    a,
                    now,
                    format!("{who} keeps dropping"),
                    format!(
                        "{who} disconnected {drops} times in {}.",
                        humantime::format_duration(t.storm_window)
                    ),
                ));
            }
        }
        for (ch, n) in inp.disconnect_matches {
            let e = self
                .keyword
                .entry(ch.clone())
                .or_insert((*n, f64::NEG_INFINITY));
            if *n > e.0 {
                *e = (*n, now);
            }
            if now - e.1 <= t.keyword_hold.as_secs_f64() {
                out.push(Alert {
                    name: "OpenClawChannelDisconnectKeyword",
                    severity: "warning",
                    channel: Some(ch.clone()),
                    account: None,
                    active_since: e.1,
                    summary: format!("the gateway logged \"disconnect\" for {ch}"),
                    description: format!("{n} log lines for {ch} mention \"disconnect\" so far; the last new one at {}.", crate::state::rfc3339(e.1)),
                    runbook: runbook("OpenClawChannelDisconnectKeyword"),
                });
            }
        }
        if inp.gateway_up {
            self.gateway_down_since = None;
        } else {
            let since = *self.gateway_down_since.get_or_insert(now);
            if now - since >= t.gateway_down_after.as_secs_f64() {
                out.push(Alert {
                    name: "OpenClawGatewayDown",
                    severity: "critical",
                    channel: None,
                    account: None,
                    active_since: since,
                    summary: "the OpenClaw gateway is down".into(),
                    description: format!(
                        "clawwatch has not had an answer from the gateway since {}.",
                        crate::state::rfc3339(since)
                    ),
                    runbook: runbook("OpenClawGatewayDown"),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Reason;

    fn acct(state: State, since: Ts) -> AccountView {
        AccountView {
            channel: "whatsapp".into(),
            account: "default".into(),
            state,
            reason: (state != State::Connected).then_some(Reason::LoggedOut),
            since,
            reconnect_attempts: 0,
            last_error: None,
            last_inbound_at: None,
            last_event_at: None,
            last_transport_activity_at: None,
            probe_ok: None,
            recovery_exhausted: false,
            mode: None,
        }
    }

    fn names(alerts: &[Alert]) -> Vec<&'static str> {
        alerts.iter().map(|a| a.name).collect()
    }

    #[test]
    fn auth_required_fires_at_once_and_down_after_five_minutes() {
        let mut e = Engine::default();
        let none = BTreeMap::new();
        let inp = |a: &[AccountView]| -> Vec<Alert> {
            Engine::evaluate(
                &mut Engine::default(),
                &Inputs {
                    accounts: a,
                    history: &[],
                    gateway_up: true,
                    disconnect_matches: &none,
                },
                1000.0,
            )
        };
        assert_eq!(
            names(&inp(&[acct(State::AuthRequired, 1000.0)])),
            vec!["OpenClawChannelAuthRequired"]
        );
        assert!(inp(&[acct(State::Reconnecting, 700.1)]).is_empty());
        assert_eq!(
            names(&inp(&[acct(State::Reconnecting, 700.0)])),
            vec!["OpenClawChannelDown"]
        );
        assert!(inp(&[acct(State::Connected, 0.0)]).is_empty());
        let a = [acct(State::AuthRequired, 0.0)];
        let got = e.evaluate(
            &Inputs {
                accounts: &a,
                history: &[],
                gateway_up: true,
                disconnect_matches: &none,
            },
            1000.0,
        );
        assert_eq!(
            got[0].fingerprint(),
            "OpenClawChannelAuthRequired/whatsapp/default"
        );
        assert_eq!(
            got[0].runbook,
            "docs/runbooks.md#openclawchannelauthrequired"
        );
    }

    #[test]
    fn keyword_fires_on_new_matches_and_holds() {
        let mut e = Engine::default();
        let mut m = BTreeMap::from([("telegram".to_string(), 3u64)]);
        let run = |e: &mut Engine, m: &BTreeMap<String, u64>, now| {
            names(&e.evaluate(
                &Inputs {
                    accounts: &[],
                    history: &[],
                    gateway_up: true,
                    disconnect_matches: m,
                },
                now,
            ))
        };
        // Counts seen at the first look (restored from the checkpoint) are history, not news.
        assert!(run(&mut e, &m, 100.0).is_empty());
        m.insert("telegram".into(), 4);
        assert_eq!(
            run(&mut e, &m, 200.0),
            vec!["OpenClawChannelDisconnectKeyword"]
        );
        assert_eq!(
            run(&mut e, &m, 800.0),
            vec!["OpenClawChannelDisconnectKeyword"]
        );
        assert!(run(&mut e, &m, 800.1).is_empty());
    }

    #[test]
    fn gateway_down_after_a_minute() {
        let mut e = Engine::default();
        let none = BTreeMap::new();
        let mut run = |up, now| {
            names(&e.evaluate(
                &Inputs {
                    accounts: &[],
                    history: &[],
                    gateway_up: up,
                    disconnect_matches: &none,
                },
                now,
            ))
        };
        assert!(run(false, 0.0).is_empty());
        assert!(run(false, 59.9).is_empty());
        assert_eq!(run(false, 60.0), vec!["OpenClawGatewayDown"]);
        assert!(run(true, 61.0).is_empty());
        assert!(run(false, 62.0).is_empty());
    }

    #[test]
    fn flapping_and_storm_count_recent_events() {
        let mut e = Engine::default();
        let none = BTreeMap::new();
        let mut hist = Vec::new();
        for i in 0..6 {
            let at = 1000.0 - f64::from(i) * 10.0;
            hist.push(Event::Transition {
                at,
                channel: "whatsapp".into(),
                account: "default".into(),
                from: State::Connected,
                to: State::Reconnecting,
                reason: None,
            });
            hist.push(Event::Disconnect {
                at,
                channel: "whatsapp".into(),
                account: "default".into(),
                reason: Reason::Network,
            });
        }
        let a = [acct(State::Connected, 1000.0)];
        let got = names(&e.evaluate(
            &Inputs {
                accounts: &a,
                history: &hist,
                gateway_up: true,
                disconnect_matches: &none,
            },
            1000.0,
        ));
        assert_eq!(
            got,
            vec!["OpenClawChannelFlapping", "OpenClawReconnectStorm"]
        );
        let later = names(&e.evaluate(
            &Inputs {
                accounts: &a,
                history: &hist,
                gateway_up: true,
                disconnect_matches: &none,
            },
            2000.0,
        ));
        assert!(later.is_empty(), "{later:?}");
    }
}
