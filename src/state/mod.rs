//! The pure core: the [`Model`] of the gateway and its accounts, and
//! [`step`], which applies one observation at a given time and says what
//! changed. No I/O, no clock reads, no tokio: the state writer owns the
//! model and hands each step's [`Change`]s to the consumers (metrics,
//! snapshot, history, event stream, states file).

pub mod derive;
pub mod tracker;

pub use tracker::{
    disconnect_json, transition_json, AccountView, Counts, Event, Key, StatesFile, Tracker, Update,
};

use crate::clock::Ts;
use crate::observation::{LogEffect, Observation};
use crate::redact::redact;
use serde::Serialize;
use std::collections::BTreeMap;

/// The gateway as clawwatch sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No `channels.status` answer yet, or `UNAVAILABLE`.
    Starting,
    /// Answering.
    Up,
    /// Unreachable, refused us, or mismatched.
    Down,
}

/// What clawwatch knows of the gateway process itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// Phase of the connection.
    pub phase: Phase,
    /// `/readyz`.
    pub ready: Option<bool>,
    /// `server.version`.
    pub version: Option<String>,
    /// Uptime (seconds) and when it was read.
    pub uptime: Option<(f64, Ts)>,
    /// Why it is down or starting (scrubbed).
    pub error: Option<String>,
    /// When the last `channels.status` answer arrived.
    pub checked_at: Option<Ts>,
    /// What of that answer could not be read: `(channel, account, problem)`.
    pub decode_errors: Vec<(String, String, String)>,
    /// Why it is down, when it is.
    pub down_kind: Option<crate::model::GatewayErrorKind>,
}

/// Everything the state writer owns.
#[derive(Debug)]
pub struct Model {
    /// The accounts' state machines.
    pub tracker: Tracker,
    /// The gateway process.
    pub gateway: Gateway,
    /// Telegram accounts in webhook mode.
    pub webhook_accounts: Vec<String>,
    /// `disconnect` rule matches so far, per attributed channel.
    pub disconnect_matches: BTreeMap<String, u64>,
    /// When a log line was last read (`None`: logs not watched).
    pub last_log_line: Option<Ts>,
    /// The gateway's channel ids, in its order.
    pub channel_order: Vec<String>,
    /// Recovery of every account, as its planner last said.
    pub recovery: std::sync::Arc<crate::recovery::record::Table>,
    /// The last good session backup per (channel, account).
    pub backups: std::sync::Arc<BTreeMap<Key, Option<Ts>>>,
}

/// What one step changed, for the consumers.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A transition or disconnect.
    Event(Event),
    /// The gateway's `reconnectAttempts` rose by `n`, or a log line counted one.
    ReconnectAttempts(Key, u64),
    /// A successful probe round trip, seconds.
    ProbeLatency(Key, f64),
    /// The account was restarted; true when clawwatch's recovery did it.
    Restart(Key, bool),
    /// The recovery table changed.
    Recovery,
    /// A session backup's time changed.
    Backups,
    /// The gateway no longer reports the account.
    Removed(Key),
    /// Some account's fields changed (states, timestamps, probe results).
    Accounts,
    /// The states file is stale.
    Kept,
    /// The gateway's phase, readiness, version or error changed.
    Gateway,
    /// The Telegram accounts in webhook mode are now these; `gone` left it.
    WebhookAccounts {
        /// Now in webhook mode.
        now: Vec<String>,
        /// No longer in it.
        gone: Vec<String>,
    },
    /// A webhook account's pending updates (`None`: unknown or not webhook).
    WebhookPending(String, Option<u64>),
    /// The gateway's channel ids changed.
    ChannelOrder(Vec<String>),
    /// New log counts.
    LogCounts,
    /// A log rule's match changed an account's state (recorded in the
    /// history next to the transition it caused).
    LogRule {
        /// The account.
        key: Key,
        /// Rule name.
        rule: String,
        /// The state it set.
        state: crate::model::State,
        /// And its reason.
        reason: crate::model::Reason,
    },
}

impl Model {
    /// A model before anything was observed. `logs_watched` starts the
    /// log-stall clock at `now`.
    pub fn new(tracker: Tracker, logs_watched: bool, now: Ts) -> Model {
        Model {
            tracker,
            gateway: Gateway {
                phase: Phase::Starting,
                ready: None,
                version: None,
                uptime: None,
                error: None,
                checked_at: None,
                decode_errors: Vec::new(),
                down_kind: None,
            },
            webhook_accounts: Vec::new(),
            disconnect_matches: BTreeMap::new(),
            last_log_line: logs_watched.then_some(now),
            channel_order: Vec::new(),
            recovery: Default::default(),
            backups: Default::default(),
        }
    }

    /// A model restarted after a crash in a step: only what the states file
    /// keeps survives, as after a process restart.
    pub fn restarted(&self, now: Ts) -> Model {
        let mut m = Model::new(self.tracker.restarted(), self.last_log_line.is_some(), now);
        m.recovery = self.recovery.clone();
        m.backups = self.backups.clone();
        m
    }
}

/// Something the state writer hands each step to: it sees the model after
/// the step and what the step changed.
pub trait Consumer {
    /// Takes one step's changes.
    fn consume(&mut self, model: &Model, changes: &[Change]);
}

fn events(out: &mut Vec<Change>, up: &Update) {
    out.extend(up.events.iter().cloned().map(Change::Event));
}

/// Applies one observation at `now` (the local wall clock) and returns
/// what changed, in order.
pub fn step(m: &mut Model, obs: Observation, now: Ts) -> Vec<Change> {
    let mut out = Vec::new();
    match obs {
        Observation::Connected { version, uptime_ms } => {
            m.gateway.version = version;
            if let Some(u) = uptime_ms {
                m.gateway.uptime = Some((u as f64 / 1000.0, now));
            }
            out.push(Change::Gateway);
        }
        Observation::Down { message, kind } => {
            m.gateway.phase = Phase::Down;
            m.gateway.down_kind = Some(kind);
            m.gateway.error = Some(redact(&message));
            out.push(Change::Gateway);
        }
        Observation::Starting { message } => {
            m.gateway.phase = Phase::Starting;
            m.gateway.down_kind = None;
            m.gateway.error = Some(redact(&message));
            out.push(Change::Gateway);
        }
        Observation::Ready { ready, uptime_ms } => {
            m.gateway.ready = ready;
            if let Some(u) = uptime_ms {
                m.gateway.uptime = Some((u as f64 / 1000.0, now));
            }
            out.push(Change::Gateway);
        }
        Observation::WebhookPending { account, pending } => {
            let pending = pending.filter(|_| m.webhook_accounts.contains(&account));
            out.push(Change::WebhookPending(account, pending));
        }
        Observation::Logs { hits, disconnects } => {
            m.disconnect_matches = disconnects;
            m.last_log_line = Some(now);
            out.push(Change::LogCounts);
            for mut h in hits {
                // A log line may carry any bytes in an id.
                for id in std::iter::once(&mut h.channel).chain(h.account.as_mut()) {
                    if crate::model::has_control(id) {
                        *id = crate::model::replace_controls(id);
                    }
                }
                match h.effect {
                    LogEffect::State(state, reason) => {
                        let up = m.tracker.apply_log(
                            &h.channel,
                            h.account.as_deref(),
                            state,
                            reason,
                            now,
                        );
                        if !up.events.is_empty() {
                            if let Some((channel, account)) = up.events.first().map(Event::key) {
                                out.push(Change::LogRule {
                                    key: (channel.to_owned(), account.to_owned()),
                                    rule: h.rule.clone(),
                                    state,
                                    reason,
                                });
                            }
                            events(&mut out, &up);
                            out.push(Change::Accounts);
                            out.push(Change::Kept);
                        }
                    }
                    LogEffect::Reconnect => {
                        if let Some(key) =
                            m.tracker.count_reconnect(&h.channel, h.account.as_deref())
                        {
                            out.push(Change::ReconnectAttempts(key, 1));
                        }
                    }
                }
            }
        }
        Observation::Backup {
            account,
            last_success,
        } => {
            std::sync::Arc::make_mut(&mut m.backups)
                .insert(("whatsapp".to_string(), account), last_success);
            out.push(Change::Backups);
        }
        Observation::RecoveryBegins { keys, until } => {
            m.tracker.expect_restart(&keys, until);
        }
        Observation::RecoveryEvent(e) => {
            out.push(Change::Event(Event::Recovery(e)));
        }
        Observation::RecoveryTable(t) => {
            if *t != *m.recovery {
                m.recovery = t;
                out.push(Change::Recovery);
            }
        }
        Observation::Status { status, probed } => {
            m.gateway.phase = Phase::Up;
            m.gateway.down_kind = None;
            m.gateway.error = None;
            m.gateway.checked_at = Some(now);
            m.gateway.decode_errors = status.decode_errors();
            out.push(Change::Gateway);
            if m.channel_order != status.channel_order {
                m.channel_order.clone_from(&status.channel_order);
                out.push(Change::ChannelOrder(m.channel_order.clone()));
            }
            let up = m.tracker.apply(&status, probed, now);
            events(&mut out, &up);
            for (key, n) in &up.reconnect_attempts {
                out.push(Change::ReconnectAttempts(key.clone(), *n));
            }
            for (key, secs) in &up.probe_latency {
                out.push(Change::ProbeLatency(key.clone(), *secs));
            }
            for key in &up.removed {
                out.push(Change::Removed(key.clone()));
            }
            for (key, own) in &up.restarts {
                out.push(Change::Restart(key.clone(), *own));
            }
            out.push(Change::Accounts);
            if up.dirty {
                out.push(Change::Kept);
            }
            let now_webhook: Vec<String> = m
                .tracker
                .iter()
                .filter(|a| a.channel == "telegram" && a.mode.as_deref() == Some("webhook"))
                .map(|a| a.account.clone())
                .collect();
            if now_webhook != m.webhook_accounts {
                let gone = m
                    .webhook_accounts
                    .iter()
                    .filter(|a| !now_webhook.contains(a))
                    .cloned()
                    .collect();
                m.webhook_accounts.clone_from(&now_webhook);
                out.push(Change::WebhookAccounts {
                    now: now_webhook,
                    gone,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
