//! Which alerts fire now: a pure function of the accounts' states, recent
//! events, the gateway's phase and the `disconnect` log counts, with
//! for-durations tracked across calls. Names are SPEC.md's.

use crate::clock::Ts;
use crate::model::{Reason, State};
use crate::state::{AccountView, Event};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The alerts the built-in engine evaluates (SPEC.md's names; the sidecar's
/// own `ClawwatchDown` exists only as a Prometheus rule).
pub const ALERTS: [&str; 13] = [
    "OpenClawChannelAuthRequired",
    "OpenClawChannelDown",
    "OpenClawRecoveryExhausted",
    "OpenClawChannelFlapping",
    "OpenClawReconnectStorm",
    "OpenClawChannelDisconnectKeyword",
    "OpenClawChannelSilent",
    "OpenClawSessionBackupStale",
    "OpenClawHeartbeatLatencyHigh",
    "OpenClawGatewayDown",
    "ClawwatchNotificationsFailing",
    "ClawwatchLogStalled",
    "ClawwatchTaskPanicking",
];

/// `ClawwatchTaskPanicking` fires while a task panicked within this window.
pub const PANIC_WINDOW: f64 = 900.0;

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
    /// `OpenClawChannelSilent`: connected, no inbound message for this long.
    pub silent_after: Option<Duration>,
    /// `OpenClawHeartbeatLatencyHigh` above this.
    pub latency_max: Duration,
    /// `ClawwatchNotificationsFailing` after this long failing.
    pub notify_failing_after: Duration,
    /// `ClawwatchLogStalled` after this long without a new log line.
    pub log_stalled_after: Option<Duration>,
    /// `OpenClawSessionBackupStale` after this long without a good backup
    /// (`None`: backups off).
    pub backup_stale_after: Option<Duration>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::from(&crate::config::AlertingConfig::default())
    }
}

impl From<&crate::config::AlertingConfig> for Thresholds {
    fn from(c: &crate::config::AlertingConfig) -> Self {
        Thresholds {
            channel_down_after: c.channel_down_after,
            gateway_down_after: c.gateway_down_after,
            flapping_transitions: 6,
            flapping_window: Duration::from_secs(900),
            storm_disconnects: 5,
            storm_window: Duration::from_secs(300),
            keyword_hold: Duration::from_secs(600),
            silent_after: c.channel_silent_after.0,
            latency_max: c.heartbeat_latency_max,
            notify_failing_after: c.notifications_failing_after,
            log_stalled_after: c.log_stalled_after.0,
            backup_stale_after: None,
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
    /// Integration, for `ClawwatchNotificationsFailing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration: Option<String>,
    /// When the condition began (before the for-duration).
    pub active_since: Ts,
    /// One line: what broke.
    pub summary: String,
    /// Why.
    pub description: String,
    /// What to do.
    pub fix: String,
    /// `docs/runbooks.md#<alert>`.
    pub runbook: String,
}

impl Alert {
    /// Identity for deduplication: name and labels.
    pub fn fingerprint(&self) -> String {
        fingerprint(
            self.name,
            self.channel.as_deref(),
            self.account.as_deref(),
            self.integration.as_deref(),
        )
    }

    /// A label's value (`alertname`, `severity`, `channel`, `account`,
    /// `integration`); absent labels are "".
    pub fn label(&self, name: &str) -> &str {
        match name {
            "alertname" => self.name,
            "severity" => self.severity,
            "channel" => self.channel.as_deref().unwrap_or(""),
            "account" => self.account.as_deref().unwrap_or(""),
            "integration" => self.integration.as_deref().unwrap_or(""),
            _ => "",
        }
    }
}

/// `name/channel/account[/integration]`: an alert's identity, also in notice ids.
pub fn fingerprint(
    name: &str,
    channel: Option<&str>,
    account: Option<&str>,
    integration: Option<&str>,
) -> String {
    let mut fp = format!("{name}/{}/{}", channel.unwrap_or(""), account.unwrap_or(""));
    if let Some(i) = integration {
        fp.push('/');
        fp.push_str(i);
    }
    fp
}

/// The label names alerts carry.
pub const LABELS: [&str; 5] = ["alertname", "severity", "channel", "account", "integration"];

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
    /// Integrations failing now, with the time of the first failure.
    pub failing: &'a BTreeMap<String, Ts>,
    /// When a log line was last read (None: logs not watched).
    pub last_log_line: Option<Ts>,
    /// Each supervised task that panicked: how often and when last.
    pub panics: &'a BTreeMap<&'static str, (u64, Ts)>,
    /// clawwatch's recovery per account.
    pub recovery: &'a crate::recovery::record::Table,
    /// The last good session backup per (channel, account).
    pub backups: &'a BTreeMap<(String, String), Option<Ts>>,
    /// When clawwatch started.
    pub started_at: Ts,
}

/// Tracks for-durations and keyword counts between evaluations.
#[derive(Debug, Default)]
pub struct Engine {
    thresholds: Thresholds,
    gateway_down_since: Option<Ts>,
    keyword: HashMap<String, (u64, Ts)>,
    /// When each account last stopped being connected: moving between
    /// failure states does not restart `OpenClawChannelDown`'s clock.
    down_since: HashMap<(String, String), Ts>,
}

fn runbook(name: &str) -> String {
    format!("docs/runbooks.md#{}", name.to_ascii_lowercase())
}

/// What a person should do about an account in `state` for `reason`.
pub fn fix_for(channel: &str, state: State, reason: Option<Reason>) -> String {
    let restart = "Check `openclaw channels status --probe` and the gateway log; `openclaw gateway restart` if it does not come back.";
    match (channel, reason) {
        ("whatsapp", Some(Reason::LoggedOut | Reason::NotLinked)) => "Relink: on the gateway host run `openclaw channels login --channel whatsapp` and scan the QR code with the phone (Settings > Linked devices).".into(),
        ("whatsapp", Some(Reason::Conflict)) => "Another WhatsApp Web client took the session: close it, then restart the gateway; relink if it stays logged out.".into(),
        ("telegram", Some(Reason::AuthFailed)) => "Telegram rejected the bot token: get a new one from @BotFather, put it in channels.telegram.botToken (or its tokenFile) and restart the gateway.".into(),
        ("telegram", Some(Reason::Conflict)) => "Another process polls this bot (409): stop it, or delete the webhook if you use polling.".into(),
        ("discord", Some(Reason::DisallowedIntents)) => "Discord refused a privileged intent (4014): enable Message Content (and Server Members) Intent for the bot in the Discord Developer Portal, then restart the gateway.".into(),
        ("discord", Some(Reason::AuthFailed)) => "Discord rejected the bot token (4004): reset it in the Developer Portal, update channels.discord.token and restart the gateway.".into(),
        (_, Some(Reason::RateLimited)) => "The platform rate-limits the bot: wait, and look for a loop that sends too much.".into(),
        (_, Some(Reason::Network | Reason::Timeout)) => format!("Check the host's network and DNS to the {channel} servers. {restart}"),
        _ if state == State::AuthRequired => format!("Re-authenticate the {channel} account; a restart will not fix it."),
        _ => restart.into(),
    }
}

impl Engine {
    /// An engine with these thresholds.
    pub fn new(thresholds: Thresholds) -> Engine {
        Engine {
            thresholds,
            ..Default::default()
        }
    }

    /// Other thresholds (a reload); what is firing and since when stays.
    pub fn retune(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
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
                     description: String,
                     fix: String| Alert {
            name,
            severity,
            channel: Some(a.channel.clone()),
            account: Some(a.account.clone()),
            integration: None,
            active_since: since,
            summary,
            description,
            fix,
            runbook: runbook(name),
        };
        let mut down_since = std::mem::take(&mut self.down_since);
        let mut still_down = HashMap::new();
        for a in inp.accounts {
            let key = (a.channel.clone(), a.account.clone());
            let down_since = match (a.state, down_since.remove(&key)) {
                (State::Connected, _) => a.since,
                (_, Some(t)) => t.min(a.since),
                (_, None) => a.since,
            };
            if a.state != State::Connected {
                still_down.insert(key, down_since);
            }
            let who = format!("{} account {}", a.channel, a.account);
            let why = a.reason.map(|r| r.as_str()).unwrap_or("unknown");
            let fix = || fix_for(&a.channel, a.state, a.reason);
            let last_error = a
                .last_error
                .as_deref()
                .map(|e| format!(" The gateway says: {}", crate::redact::redact(e)))
                .unwrap_or_default();
            if a.state == State::AuthRequired {
                out.push(alert(
                    "OpenClawChannelAuthRequired",
                    "critical",
                    a,
                    a.since,
                    format!("{who} needs a person to re-authenticate"),
                    format!(
                        "{who} is auth_required ({why}) since {}; a restart will not fix it.{last_error}",
                        crate::clock::rfc3339(a.since)
                    ),
                    fix(),
                ));
            } else if a.state != State::Connected
                && now - down_since >= t.channel_down_after.as_secs_f64()
            {
                // auth_required has its own alert; Down would only repeat it.
                out.push(alert(
                    "OpenClawChannelDown",
                    "critical",
                    a,
                    down_since,
                    format!("{who} is {} ({why})", a.state),
                    format!(
                        "{who} has not been connected since {}.{last_error}",
                        crate::clock::rfc3339(down_since)
                    ),
                    fix(),
                ));
            }
            // Nobody will try again: the gateway gave up and clawwatch's
            // recovery is off, cannot help, or spent its budget.
            let ours = inp.recovery.get(&a.channel, &a.account);
            if a.recovery_exhausted && !ours.is_some_and(|v| v.status.will_try()) {
                let (status, ours_why) = match ours {
                    Some(v) => (v.status.as_str(), v.why.as_str()),
                    None => ("disabled", "recovery is off"),
                };
                out.push(alert(
                    "OpenClawRecoveryExhausted",
                    "critical",
                    a,
                    a.since,
                    format!("nobody will restart {who} again"),
                    format!("{who}: the gateway's restart budget ran out ({why}) and clawwatch's recovery is {status} ({ours_why}).{last_error}"),
                    format!("Fix the cause, then restart the account (`openclaw channels start`) or the gateway (`openclaw gateway restart`); `clawwatch recovery reset` clears clawwatch's budget. {}", fix()),
                ));
            }
            let recent = |kind_disconnect: bool, window: Duration| {
                inp.history
                    .iter()
                    .take_while(|e| now - e.at() <= window.as_secs_f64())
                    .filter(|e| e.key() == (a.channel.as_str(), a.account.as_str()))
                    .filter(|e| match e {
                        Event::Disconnect { .. } => kind_disconnect,
                        Event::Transition { .. } => !kind_disconnect,
                        Event::Recovery(_) => false,
                    })
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
                    "Look at /api/v1/history for the reasons; a flapping network or a second client sharing the session are the usual causes.".into(),
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
                    "Look at the disconnect reasons (openclaw_channel_disconnects_total); check the network, rate limits and whether another client uses the same session.".into(),
                ));
            }
            if let Some(silent) = t.silent_after {
                let last = a.last_inbound_at.unwrap_or(a.since).max(a.since);
                if a.state == State::Connected && now - last >= silent.as_secs_f64() {
                    out.push(alert(
                        "OpenClawChannelSilent",
                        "warning",
                        a,
                        last,
                        format!("{who} has received nothing for {}", humantime::format_duration(Duration::from_secs((now - last) as u64))),
                        format!("{who} looks connected but no inbound message arrived since {}.", crate::clock::rfc3339(last)),
                        "Send the bot a message. If it does not arrive, restart the channel; for Telegram webhooks check openclaw_telegram_webhook_pending_updates.".into(),
                    ));
                }
            }
            if let Some(lat) = a.probe_latency {
                if a.state == State::Connected && lat > t.latency_max.as_secs_f64() {
                    out.push(alert(
                        "OpenClawHeartbeatLatencyHigh",
                        "warning",
                        a,
                        now,
                        format!("{who} answers probes slowly ({lat:.1} s)"),
                        format!(
                            "The last probe of {who} took {lat:.1} s, above {}.",
                            humantime::format_duration(t.latency_max)
                        ),
                        "Check the host's load and network to the platform; replies will be late."
                            .into(),
                    ));
                }
            }
        }
        self.down_since = still_down;
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
                    integration: None,
                    active_since: e.1,
                    summary: format!("the gateway logged \"disconnect\" for {ch}"),
                    description: format!("{n} log lines for {ch} mention \"disconnect\" so far; the last new one at {}.", crate::clock::rfc3339(e.1)),
                    fix: format!("Read the gateway log around that time (`openclaw logs`); `clawwatch status` shows whether {ch} came back."),
                    runbook: runbook("OpenClawChannelDisconnectKeyword"),
                });
            }
        }
        if let Some(stale) = t.backup_stale_after {
            for ((ch, acct), last) in inp.backups {
                let since = last.unwrap_or(inp.started_at);
                if now - since >= stale.as_secs_f64() {
                    let when = match last {
                        Some(l) => format!(
                            "the last good one was taken at {}",
                            crate::clock::rfc3339(*l)
                        ),
                        None => "there is none yet".to_string(),
                    };
                    out.push(Alert {
                        name: "OpenClawSessionBackupStale",
                        severity: "warning",
                        channel: Some(ch.clone()),
                        account: Some(acct.clone()),
                        integration: None,
                        active_since: since + stale.as_secs_f64(),
                        summary: format!("no recent backup of the {ch} session of account {acct}"),
                        description: format!("No session backup of {ch} account {acct} in {}: {when}. A lost session means a QR re-scan.", humantime::format_duration(stale)),
                        fix: "`clawwatch backup now` on the gateway's host shows why; `clawwatch doctor` checks the session directory.".into(),
                        runbook: runbook("OpenClawSessionBackupStale"),
                    });
                }
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
                    integration: None,
                    active_since: since,
                    summary: "the OpenClaw gateway is down".into(),
                    description: format!(
                        "clawwatch has not had an answer from the gateway since {}.",
                        crate::clock::rfc3339(since)
                    ),
                    fix: "Check `systemctl status openclaw` (or `openclaw gateway status`) and its log; /health/detail names the error.".into(),
                    runbook: runbook("OpenClawGatewayDown"),
                });
            }
        }
        for (integration, since) in inp.failing {
            if now - since >= t.notify_failing_after.as_secs_f64() {
                out.push(Alert {
                    name: "ClawwatchNotificationsFailing",
                    severity: "critical",
                    channel: None,
                    account: None,
                    integration: Some(integration.clone()),
                    active_since: *since,
                    summary: format!("clawwatch cannot deliver to {integration}"),
                    description: format!("Every notice to integration {integration} has failed since {}; they wait in the outbox.", crate::clock::rfc3339(*since)),
                    fix: format!("Run `clawwatch test-alert --integration {integration}` and fix what it prints; the queued notices go out once it works."),
                    runbook: runbook("ClawwatchNotificationsFailing"),
                });
            }
        }
        if let (Some(after), Some(last)) = (t.log_stalled_after, inp.last_log_line) {
            if inp.gateway_up && now - last >= after.as_secs_f64() {
                out.push(Alert {
                    name: "ClawwatchLogStalled",
                    severity: "warning",
                    channel: None,
                    account: None,
                    integration: None,
                    active_since: last,
                    summary: "no new gateway log line".into(),
                    description: format!("The gateway is up but clawwatch has read no log line since {}.", crate::clock::rfc3339(last)),
                    fix: "Check logs.paths against the gateway's logging.file (it may log elsewhere now) and clawwatch_log_lag_bytes.".into(),
                    runbook: runbook("ClawwatchLogStalled"),
                });
            }
        }
        let recent: Vec<_> = inp
            .panics
            .iter()
            .filter(|(_, (_, last))| now - last < PANIC_WINDOW)
            .collect();
        if !recent.is_empty() {
            let names: Vec<String> = recent
                .iter()
                .map(|(t, (n, last))| {
                    format!(
                        "{t} ({n} since start, last {})",
                        crate::clock::rfc3339(*last)
                    )
                })
                .collect();
            out.push(Alert {
                name: "ClawwatchTaskPanicking",
                severity: "critical",
                channel: None,
                account: None,
                integration: None,
                active_since: recent.iter().map(|(_, (_, l))| *l).fold(now, f64::min),
                summary: "a clawwatch task panicked and was restarted".into(),
                description: format!(
                    "Panicked within the last 15 minutes: {}. Each restarts after a backoff; while a core task is down /healthz answers 503 and clawwatch may miss a change.",
                    names.join(", ")
                ),
                fix: "Look for `A task panicked` in clawwatch's log (journalctl -u clawwatch) and report it with the panic text; upgrade if a newer release fixes it.".into(),
                runbook: runbook("ClawwatchTaskPanicking"),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(state: State, since: Ts) -> AccountView {
        AccountView {
            reason: (state != State::Connected).then_some(Reason::LoggedOut),
            ..AccountView::new("whatsapp", "default", state, since)
        }
    }

    static NO_MATCHES: BTreeMap<String, u64> = BTreeMap::new();
    static NOT_FAILING: BTreeMap<String, Ts> = BTreeMap::new();
    static NO_PANICS: BTreeMap<&'static str, (u64, Ts)> = BTreeMap::new();
    static NO_BACKUPS: BTreeMap<(String, String), Option<Ts>> = BTreeMap::new();
    static NO_RECOVERY: crate::recovery::record::Table = crate::recovery::record::Table {
        enabled: false,
        views: BTreeMap::new(),
    };

    /// The gateway up, no log matches, nothing failing.
    fn inputs<'a>(accounts: &'a [AccountView], history: &'a [Event]) -> Inputs<'a> {
        Inputs {
            accounts,
            history,
            gateway_up: true,
            disconnect_matches: &NO_MATCHES,
            failing: &NOT_FAILING,
            last_log_line: None,
            panics: &NO_PANICS,
            recovery: &NO_RECOVERY,
            backups: &NO_BACKUPS,
            started_at: 0.0,
        }
    }

    #[test]
    fn a_panic_fires_for_fifteen_minutes() {
        let mut e = Engine::default();
        let panics = BTreeMap::from([("state", (2u64, 1000.0)), ("readyz", (1, 10.0))]);
        let run = |e: &mut Engine, now| {
            e.evaluate(
                &Inputs {
                    panics: &panics,
                    ..inputs(&[], &[])
                },
                now,
            )
        };
        let got = run(&mut e, 1000.0 + 899.0);
        assert_eq!(names(&got), ["ClawwatchTaskPanicking"]);
        assert_eq!(got[0].active_since, 1000.0);
        assert_eq!(
            got[0].description,
            "Panicked within the last 15 minutes: state (2 since start, last 1970-01-01T00:16:40.000Z). Each restarts after a backoff; while a core task is down /healthz answers 503 and clawwatch may miss a change."
        );
        assert!(run(&mut e, 1000.0 + 900.0).is_empty());
    }

    fn names(alerts: &[Alert]) -> Vec<&'static str> {
        alerts.iter().map(|a| a.name).collect()
    }

    #[test]
    fn auth_required_fires_at_once_and_down_after_five_minutes() {
        let mut e = Engine::default();
        let inp = |a: &[AccountView]| -> Vec<Alert> {
            Engine::evaluate(&mut Engine::default(), &inputs(a, &[]), 1000.0)
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
        let got = e.evaluate(&inputs(&a, &[]), 1000.0);
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
    fn every_alert_has_a_runbook_section() {
        let doc = include_str!("../../docs/runbooks.md");
        for name in ALERTS.iter().chain(&["ClawwatchDown"]) {
            assert!(doc.contains(&format!("\n## {name}\n")), "{name}");
        }
    }

    #[test]
    fn down_counts_from_the_last_connected_state() {
        let mut e = Engine::default();
        let mut run = |a: AccountView, now| e.evaluate(&inputs(&[a], &[]), now);
        assert!(run(acct(State::Reconnecting, 100.0), 200.0).is_empty());
        // Still not connected, in another state since 250.
        assert!(run(acct(State::Connecting, 250.0), 399.0).is_empty());
        let got = run(acct(State::Connecting, 250.0), 400.0);
        assert_eq!(
            (got[0].name, got[0].active_since),
            ("OpenClawChannelDown", 100.0)
        );
        // Connected in between: the clock starts again.
        assert!(run(acct(State::Connected, 500.0), 500.0).is_empty());
        assert!(run(acct(State::Reconnecting, 600.0), 800.0).is_empty());
    }

    #[test]
    fn keyword_fires_on_new_matches_and_holds() {
        let mut e = Engine::default();
        let mut m = BTreeMap::from([("telegram".to_string(), 3u64)]);
        let run = |e: &mut Engine, m: &BTreeMap<String, u64>, now| {
            names(&e.evaluate(
                &Inputs {
                    disconnect_matches: m,
                    ..inputs(&[], &[])
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
        let mut run = |up, now| {
            names(&e.evaluate(
                &Inputs {
                    gateway_up: up,
                    ..inputs(&[], &[])
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
        let got = names(&e.evaluate(&inputs(&a, &hist), 1000.0));
        assert_eq!(
            got,
            vec!["OpenClawChannelFlapping", "OpenClawReconnectStorm"]
        );
        let later = names(&e.evaluate(&inputs(&a, &hist), 2000.0));
        assert!(later.is_empty(), "{later:?}");
    }
}

#[cfg(test)]
mod backup_tests {
    use super::*;

    #[test]
    fn a_session_without_a_recent_backup_is_stale() {
        let mut e = Engine::new(Thresholds {
            backup_stale_after: Some(Duration::from_secs(86_400)),
            ..Thresholds::default()
        });
        let backups = BTreeMap::from([
            (
                ("whatsapp".to_string(), "default".to_string()),
                Some(1_000.0),
            ),
            (("whatsapp".to_string(), "work".to_string()), None),
        ]);
        let recovery = crate::recovery::record::Table::default();
        let panics = BTreeMap::new();
        let run = |e: &mut Engine, now: Ts| -> Vec<(String, Ts)> {
            e.evaluate(
                &Inputs {
                    accounts: &[],
                    history: &[],
                    gateway_up: true,
                    disconnect_matches: &BTreeMap::new(),
                    failing: &BTreeMap::new(),
                    last_log_line: None,
                    panics: &panics,
                    recovery: &recovery,
                    backups: &backups,
                    started_at: 50_000.0,
                },
                now,
            )
            .into_iter()
            .filter(|a| a.name == "OpenClawSessionBackupStale")
            .map(|a| (a.account.unwrap_or_default(), a.active_since))
            .collect()
        };
        assert!(run(&mut e, 87_399.0).is_empty());
        assert_eq!(run(&mut e, 87_400.0), [("default".to_string(), 87_400.0)]);
        // None yet: counted from the start.
        assert_eq!(
            run(&mut e, 136_400.0),
            [
                ("default".to_string(), 87_400.0),
                ("work".to_string(), 136_400.0)
            ]
        );
        // Off: nothing.
        let mut off = Engine::default();
        assert!(run(&mut off, 1e9).is_empty());
    }
}
