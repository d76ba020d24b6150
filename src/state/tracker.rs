//! The per-account state machines: every watched account's state, reason
//! and `since`, from `channels.status` rows and state-changing log lines.
//! Pure: the time comes in as an argument and nothing touches a file.

use super::derive::{self, Tuning};
use crate::clock::{ms_to_ts, rfc3339, Ts};
use crate::model::{AccountRow, ChannelsStatus, Reason, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identity of a watched account.
pub type Key = (String, String);

/// What one account looks like now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountView {
    /// Channel id.
    pub channel: String,
    /// Account id.
    pub account: String,
    /// Current state.
    pub state: State,
    /// Why, for failure states.
    pub reason: Option<Reason>,
    /// When clawwatch saw the state begin.
    pub since: Ts,
    /// The gateway's `reconnectAttempts` as last seen.
    pub reconnect_attempts: u64,
    /// Gateway's `lastError` (shown to people; never a label).
    pub last_error: Option<String>,
    /// Gateway's `lastInboundAt`.
    pub last_inbound_at: Option<Ts>,
    /// Gateway's `lastEventAt`.
    pub last_event_at: Option<Ts>,
    /// Gateway's `lastTransportActivityAt`.
    pub last_transport_activity_at: Option<Ts>,
    /// Last probe succeeded.
    pub probe_ok: Option<bool>,
    /// The gateway's restart budget ran out.
    pub recovery_exhausted: bool,
    /// The gateway will not retry on its own (`terminalDisconnect`,
    /// `lifecycle: "blocked"`).
    pub terminal: bool,
    /// The gateway has its own restart scheduled (`restartPending`).
    pub restart_pending: bool,
    /// Telegram's `mode` (`polling` or `webhook`).
    pub mode: Option<String>,
    /// The last successful probe's round trip, seconds.
    pub probe_latency: Option<f64>,
    /// What clawwatch counted for this account since it first saw it.
    pub counts: Counts,
}

impl AccountView {
    /// An account first seen in `state` at `since`, nothing else known yet.
    pub fn new(channel: &str, account: &str, state: State, since: Ts) -> AccountView {
        AccountView {
            channel: channel.to_string(),
            account: account.to_string(),
            state,
            reason: None,
            since,
            reconnect_attempts: 0,
            last_error: None,
            last_inbound_at: None,
            last_event_at: None,
            last_transport_activity_at: None,
            probe_ok: None,
            recovery_exhausted: false,
            terminal: false,
            restart_pending: false,
            mode: None,
            probe_latency: None,
            counts: Counts::default(),
        }
    }
}

/// Counters of one account; they only grow while it is watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// State changes.
    pub transitions: u64,
    /// Disconnects.
    pub disconnects: u64,
    /// Reconnect attempts (the gateway's field moving up, and log lines).
    pub reconnect_attempts: u64,
    /// Restarts by the gateway (`lastStartAt` moved on its own).
    pub restarts: u64,
    /// Restarts by clawwatch's recovery (`lastStartAt` moved after its action).
    pub own_restarts: u64,
}

/// Something that happened, for metrics, history and alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A state change.
    Transition {
        /// When.
        at: Ts,
        /// Channel id.
        channel: String,
        /// Account id.
        account: String,
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Reason of the new state.
        reason: Option<Reason>,
    },
    /// A recovery action, exhaustion or reset.
    #[serde(skip)]
    Recovery(Box<crate::recovery::record::Event>),
    /// A disconnect: entering a failure state, or a new close while failing.
    Disconnect {
        /// When.
        at: Ts,
        /// Channel id.
        channel: String,
        /// Account id.
        account: String,
        /// Why.
        reason: Reason,
    },
}

/// A transition's JSON in `/api/v1/history` and `/api/v1/events`.
pub fn transition_json(
    at: Ts,
    channel: &str,
    account: &str,
    from: State,
    to: State,
    reason: Option<Reason>,
) -> serde_json::Value {
    serde_json::json!({
        "kind": "transition", "at": rfc3339(at), "channel": channel, "account": account,
        "from": from.as_str(), "to": to.as_str(), "reason": reason.map(|r| r.as_str()),
    })
}

/// A disconnect's JSON in `/api/v1/history` and `/api/v1/events`.
pub fn disconnect_json(at: Ts, channel: &str, account: &str, reason: Reason) -> serde_json::Value {
    serde_json::json!({
        "kind": "disconnect", "at": rfc3339(at), "channel": channel, "account": account,
        "reason": reason.as_str(),
    })
}

impl Event {
    /// The JSON of `/api/v1/history` and `/api/v1/events`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Event::Transition {
                at,
                channel,
                account,
                from,
                to,
                reason,
            } => transition_json(*at, channel, account, *from, *to, *reason),
            Event::Disconnect {
                at,
                channel,
                account,
                reason,
            } => disconnect_json(*at, channel, account, *reason),
            Event::Recovery(r) => r.to_json(),
        }
    }

    /// Channel and account of the event.
    pub fn key(&self) -> (&str, &str) {
        match self {
            Event::Transition {
                channel, account, ..
            }
            | Event::Disconnect {
                channel, account, ..
            } => (channel, account),
            Event::Recovery(r) => (&r.channel, &r.account),
        }
    }
    /// When it happened.
    pub fn at(&self) -> Ts {
        match self {
            Event::Transition { at, .. } | Event::Disconnect { at, .. } => *at,
            Event::Recovery(r) => r.at,
        }
    }
}

/// Counter deltas from one update, applied to metrics by the caller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// Transitions and disconnects, in order.
    pub events: Vec<Event>,
    /// Increases of `reconnectAttempts` per account.
    pub reconnect_attempts: Vec<(Key, u64)>,
    /// Probe round trips (seconds) per account.
    pub probe_latency: Vec<(Key, f64)>,
    /// Accounts the gateway no longer reports.
    pub removed: Vec<Key>,
    /// Accounts restarted (`lastStartAt` moved forward); true when
    /// clawwatch's recovery did it.
    pub restarts: Vec<(Key, bool)>,
    /// Some account's state or `since` changed: the states file is stale.
    pub dirty: bool,
}

#[derive(Debug, Clone)]
struct Tracked {
    view: AccountView,
    last_disconnect_at: Option<i64>,
    last_probe_at: Option<i64>,
    exhausted_at_start: Option<Option<i64>>,
    /// A log line set the state: (state the last poll derived, hold until).
    log_override: Option<(State, Ts)>,
    last_start_at: Option<i64>,
    /// clawwatch restarts it: a start seen before this time is its own.
    own_restart_until: Option<Ts>,
}

/// `states.json`: each account's state and since, so that `since`
/// survives a restart. Versioned; pinned by a literal test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum StatesFile {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// `channel/account` -> state and since.
        accounts: BTreeMap<String, PersistedAccount>,
    },
    /// Nothing kept (no state dir, or a first start).
    #[default]
    #[serde(skip)]
    None,
}

/// One account in [`StatesFile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersistedAccount {
    /// State.
    pub state: State,
    /// When it began.
    pub since: Ts,
}

/// All accounts' state machines.
#[derive(Debug)]
pub struct Tracker {
    tuning: Tuning,
    accounts: BTreeMap<Key, Tracked>,
    order: Vec<String>,
    persisted: BTreeMap<String, PersistedAccount>,
    polled: bool,
}

impl Tracker {
    /// A tracker that resumes the `since` of accounts kept in `kept`.
    pub fn new(tuning: Tuning, kept: StatesFile) -> Tracker {
        let mut persisted = match kept {
            StatesFile::V1 { accounts } => accounts,
            StatesFile::None => BTreeMap::new(),
        };
        persisted.retain(|_, p| crate::clock::checked_ts(p.since).is_some());
        Tracker {
            tuning,
            accounts: BTreeMap::new(),
            order: Vec::new(),
            persisted,
            polled: false,
        }
    }

    /// Replaces the thresholds (config reload).
    pub fn set_tuning(&mut self, tuning: Tuning) {
        self.tuning = tuning;
    }

    /// True once a `channels.status` answer was applied.
    pub fn polled(&self) -> bool {
        self.polled
    }

    /// Applies one `channels.status` answer. `now` is the local clock.
    pub fn apply(&mut self, status: &ChannelsStatus, probed: bool, now: Ts) -> Update {
        let mut up = Update::default();
        let gw_now = status.ts.unwrap_or((now * 1000.0) as i64);
        self.order = status.channel_order.clone();
        let mut seen = std::collections::BTreeSet::new();
        for ch in &status.channel_order {
            let Some(rows) = status.accounts.get(ch) else {
                continue;
            };
            for row in rows.iter().filter(|r| r.is_watched()) {
                let key = (ch.clone(), row.account_id.clone());
                seen.insert(key.clone());
                up.dirty |= self.apply_row(&key, row, gw_now, probed, now, &mut up);
            }
        }
        // An account whose row could not be read keeps its last state; a
        // row without an id could be any of its channel's accounts.
        let kept = |k: &Key| {
            status
                .undecodable
                .iter()
                .any(|(ch, acct, _)| *ch == k.0 && (acct.is_empty() || *acct == k.1))
        };
        let gone: Vec<Key> = self
            .accounts
            .keys()
            .filter(|k| !seen.contains(*k) && !kept(k))
            .cloned()
            .collect();
        for k in gone {
            self.accounts.remove(&k);
            up.removed.push(k);
            up.dirty = true;
        }
        self.polled = true;
        up
    }

    fn apply_row(
        &mut self,
        key: &Key,
        row: &AccountRow,
        gw_now: i64,
        probed: bool,
        now: Ts,
        up: &mut Update,
    ) -> bool {
        let (ch, acct) = (&key.0, &key.1);
        let mut derived = derive::derive(ch, row, gw_now, &self.tuning);
        let attempts = row.reconnect_attempts.unwrap_or(0);
        let mut changed = false;
        let tracked = match self.accounts.get_mut(key) {
            Some(t) => t,
            None => {
                // Keep the persisted `since` if the state did not change while we were away.
                let pk = format!("{ch}/{acct}");
                let since = match self.persisted.get(&pk) {
                    // A kept time in the future (a clock step, a hostile
                    // file) would make every age negative: start now.
                    Some(p) if p.state == derived.state && p.since <= now => p.since,
                    _ => now,
                };
                changed = true;
                self.accounts.insert(
                    key.clone(),
                    Tracked {
                        view: AccountView {
                            reason: derived.reason,
                            reconnect_attempts: attempts,
                            ..AccountView::new(ch, acct, derived.state, since)
                        },
                        last_disconnect_at: row.last_disconnect.as_ref().and_then(|l| l.at),
                        last_probe_at: None,
                        exhausted_at_start: None,
                        log_override: None,
                        last_start_at: row.last_start_at,
                        own_restart_until: None,
                    },
                );
                self.accounts.get_mut(key).expect("inserted above")
            }
        };
        // A log line told us first; hold it until the row shows a change of
        // its own (or a minute passed), so the poll does not undo it.
        if let Some((base, until)) = tracked.log_override {
            if derived.state == base && now < until {
                derived = derive::Derived {
                    state: tracked.view.state,
                    reason: tracked.view.reason,
                };
            } else {
                tracked.log_override = None;
            }
        }
        let v = &mut tracked.view;
        if !changed {
            if attempts > v.reconnect_attempts {
                let n = attempts - v.reconnect_attempts;
                up.reconnect_attempts.push((key.clone(), n));
                v.counts.reconnect_attempts += n;
            }
            // A moving lastStartAt is a restart by the gateway.
            if tracked.last_start_at.is_some() && row.last_start_at > tracked.last_start_at {
                let own = tracked.own_restart_until.take().is_some_and(|t| now <= t);
                up.restarts.push((key.clone(), own));
                if own {
                    v.counts.own_restarts += 1;
                } else {
                    v.counts.restarts += 1;
                }
            }
            if tracked.own_restart_until.is_some_and(|t| now > t) {
                tracked.own_restart_until = None;
            }
            tracked.last_start_at = row.last_start_at;
            let ld_at = row.last_disconnect.as_ref().and_then(|l| l.at);
            let new_close = ld_at.is_some() && ld_at > tracked.last_disconnect_at;
            tracked.last_disconnect_at = ld_at.or(tracked.last_disconnect_at);
            let moved = derived.state != v.state;
            if moved {
                v.counts.transitions += 1;
                up.events.push(Event::Transition {
                    at: now,
                    channel: ch.clone(),
                    account: acct.clone(),
                    from: v.state,
                    to: derived.state,
                    reason: derived.reason,
                });
            }
            if derived.state.is_failure() && (new_close || moved && !v.state.is_failure()) {
                v.counts.disconnects += 1;
                up.events.push(Event::Disconnect {
                    at: now,
                    channel: ch.clone(),
                    account: acct.clone(),
                    reason: derived.reason.unwrap_or(Reason::Unknown),
                });
            }
            if moved {
                v.state = derived.state;
                v.since = now;
                changed = true;
            }
        }
        v.reason = derived.reason;
        v.reconnect_attempts = attempts;
        v.last_error = row.last_error.clone();
        v.mode = row.mode.clone();
        v.last_inbound_at = row.last_inbound_at.map(ms_to_ts);
        v.last_event_at = row.last_event_at.map(ms_to_ts);
        v.last_transport_activity_at = row.last_transport_activity_at.map(ms_to_ts);

        // Recovery exhausted holds until the gateway starts the account again.
        if derive::gave_up(ch, row) {
            if tracked.exhausted_at_start.is_none() {
                tracked.exhausted_at_start = Some(row.last_start_at);
            }
        } else if let Some(start) = tracked.exhausted_at_start {
            if row.last_start_at != start {
                tracked.exhausted_at_start = None;
            }
        }
        v.recovery_exhausted = tracked.exhausted_at_start.is_some();
        v.terminal = derive::is_terminal(row);
        v.restart_pending = row.restart_pending == Some(true);

        if probed {
            if let Some(p) = &row.probe {
                v.probe_ok = p.ok;
                let fresh =
                    row.last_probe_at.is_none() || row.last_probe_at != tracked.last_probe_at;
                if fresh && p.ok == Some(true) {
                    if let Some(ms) = p.elapsed_ms {
                        v.probe_latency = Some(ms / 1000.0);
                        up.probe_latency.push((key.clone(), ms / 1000.0));
                    }
                }
                tracked.last_probe_at = row.last_probe_at;
            }
        }
        changed
    }

    /// clawwatch's recovery restarts these accounts: the next start seen
    /// before `until` is its own, not the gateway's.
    pub fn expect_restart(&mut self, keys: &[Key], until: Ts) {
        for k in keys {
            if let Some(t) = self.accounts.get_mut(k) {
                t.own_restart_until = Some(until);
            }
        }
    }

    /// A log line says an account is in `state` (before the next poll).
    /// Without an account it applies to the channel's only account.
    pub fn apply_log(
        &mut self,
        channel: &str,
        account: Option<&str>,
        state: State,
        reason: Reason,
        now: Ts,
    ) -> Update {
        let mut up = Update::default();
        let Some(account) = account
            .map(str::to_owned)
            .or_else(|| self.only_account(channel))
        else {
            return up;
        };
        let key = (channel.to_string(), account);
        let Some(t) = self.accounts.get_mut(&key) else {
            return up;
        };
        if t.view.state == state {
            return up;
        }
        let from = t.view.state;
        t.log_override = Some((from, now + 60.0));
        t.view.counts.transitions += 1;
        up.events.push(Event::Transition {
            at: now,
            channel: key.0.clone(),
            account: key.1.clone(),
            from,
            to: state,
            reason: Some(reason),
        });
        if state.is_failure() && !from.is_failure() {
            t.view.counts.disconnects += 1;
            up.events.push(Event::Disconnect {
                at: now,
                channel: key.0.clone(),
                account: key.1.clone(),
                reason,
            });
        }
        t.view.state = state;
        t.view.reason = Some(reason);
        t.view.since = now;
        up.dirty = true;
        up
    }

    /// A reconnect attempt the gateway's counters do not show (a Discord
    /// socket reconnect in the log). Without an account it applies to the
    /// channel's only account; the account it counted for, if any.
    pub fn count_reconnect(&mut self, channel: &str, account: Option<&str>) -> Option<Key> {
        let account = account
            .map(str::to_owned)
            .or_else(|| self.only_account(channel))?;
        let key = (channel.to_string(), account);
        // Counted even before the first poll lists the account, as before.
        if let Some(t) = self.accounts.get_mut(&key) {
            t.view.counts.reconnect_attempts += 1;
        }
        Some(key)
    }

    /// The account a line without one belongs to: the channel's only account.
    pub fn only_account(&self, channel: &str) -> Option<String> {
        let mut it = self.accounts.keys().filter(|(c, _)| c == channel);
        match (it.next(), it.next()) {
            (Some(k), None) => Some(k.1.clone()),
            _ => None,
        }
    }

    /// A fresh tracker that resumes what [`Tracker::kept`] holds.
    pub fn restarted(&self) -> Tracker {
        Tracker::new(self.tuning.clone(), self.kept())
    }

    /// What `states.json` should hold now.
    pub fn kept(&self) -> StatesFile {
        let accounts = self
            .accounts
            .values()
            .map(|t| {
                (
                    format!("{}/{}", t.view.channel, t.view.account),
                    PersistedAccount {
                        state: t.view.state,
                        since: t.view.since,
                    },
                )
            })
            .collect();
        StatesFile::V1 { accounts }
    }

    /// Every account, by channel then account id.
    pub fn iter(&self) -> impl Iterator<Item = &AccountView> {
        self.accounts.values().map(|t| &t.view)
    }

    /// One account's view.
    pub fn get(&self, key: &Key) -> Option<&AccountView> {
        self.accounts.get(key).map(|t| &t.view)
    }

    /// Accounts in the gateway's channel order.
    pub fn views(&self) -> Vec<AccountView> {
        let mut out: Vec<AccountView> = Vec::with_capacity(self.accounts.len());
        for ch in &self.order {
            out.extend(
                self.accounts
                    .range((ch.clone(), String::new())..)
                    .take_while(|(k, _)| &k.0 == ch)
                    .map(|(_, t)| t.view.clone()),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(rows: serde_json::Value, ts: i64) -> ChannelsStatus {
        ChannelsStatus::from_value(
            &json!({"ts": ts, "channelOrder": ["telegram"], "channelAccounts": {"telegram": rows}}),
        )
        .unwrap()
    }

    #[test]
    fn transitions_disconnects_and_attempts() {
        let mut t = Tracker::new(Tuning::default(), StatesFile::None);
        let starting = json!([{"accountId":"default","running":true,"connected":false,"lifecycle":"starting","lastStartAt":1000,"reconnectAttempts":0}]);
        let up0 = t.apply(&status(starting, 2000), false, 1.0);
        assert!(up0.events.is_empty());
        let ready = json!([{"accountId":"default","running":true,"connected":true,"lifecycle":"ready","lastTransportActivityAt":3000,"reconnectAttempts":0}]);
        let up1 = t.apply(&status(ready, 3000), false, 2.0);
        assert_eq!(up1.events.len(), 1);
        let failing = json!([{"accountId":"default","running":false,"connected":false,"lifecycle":"recovering","restartPending":true,"reconnectAttempts":2,"lastError":"fetch failed","lastDisconnect":{"at":4000}}]);
        let up2 = t.apply(&status(failing, 5000), false, 3.0);
        assert_eq!(
            up2.events,
            vec![
                Event::Transition {
                    at: 3.0,
                    channel: "telegram".into(),
                    account: "default".into(),
                    from: State::Connected,
                    to: State::Reconnecting,
                    reason: Some(Reason::Network)
                },
                Event::Disconnect {
                    at: 3.0,
                    channel: "telegram".into(),
                    account: "default".into(),
                    reason: Reason::Network
                },
            ]
        );
        assert_eq!(
            up2.reconnect_attempts,
            vec![(("telegram".into(), "default".into()), 2)]
        );
        // The same close seen again is not a new disconnect; a later one is.
        let again = json!([{"accountId":"default","running":false,"connected":false,"lifecycle":"recovering","restartPending":true,"reconnectAttempts":3,"lastError":"fetch failed","lastDisconnect":{"at":4000}}]);
        assert!(t.apply(&status(again, 6000), false, 4.0).events.is_empty());
        let later = json!([{"accountId":"default","running":false,"connected":false,"lifecycle":"recovering","restartPending":true,"reconnectAttempts":3,"lastError":"fetch failed","lastDisconnect":{"at":7000}}]);
        let up3 = t.apply(&status(later, 8000), false, 5.0);
        assert_eq!(up3.events.len(), 1);
        assert_eq!(
            t.views()[0].counts,
            Counts {
                transitions: 2,
                disconnects: 2,
                reconnect_attempts: 3,
                restarts: 0,
                own_restarts: 0,
            }
        );
        let gone = t.apply(&status(json!([]), 9000), false, 6.0);
        assert_eq!(gone.removed, vec![("telegram".into(), "default".into())]);
    }

    #[test]
    fn since_survives_a_restart() {
        let row = json!([{"accountId":"default","running":false,"lifecycle":"blocked","terminalDisconnect":true,"lastError":"Unauthorized"}]);
        let mut a = Tracker::new(Tuning::default(), StatesFile::None);
        assert!(a.apply(&status(row.clone(), 1000), false, 100.0).dirty);
        let kept = serde_json::to_value(a.kept()).unwrap();
        assert_eq!(
            kept,
            json!({"version":"1","accounts":{"telegram/default":{"state":"auth_required","since":100.0}}})
        );
        let mut b = Tracker::new(Tuning::default(), serde_json::from_value(kept).unwrap());
        b.apply(&status(row, 2000), false, 200.0);
        let v = &b.views()[0];
        assert_eq!((v.state, v.since), (State::AuthRequired, 100.0));
    }

    #[test]
    fn kept_times_in_the_future_or_out_of_range_start_now() {
        let row = json!([{"accountId":"default","running":false,"lifecycle":"blocked","terminalDisconnect":true,"lastError":"Unauthorized"}]);
        for since in [json!(1e300), json!(-1.0), json!(5000.0)] {
            let kept = json!({"version":"1","accounts":{"telegram/default":{"state":"auth_required","since":since}}});
            let mut t = Tracker::new(Tuning::default(), serde_json::from_value(kept).unwrap());
            t.apply(&status(row.clone(), 2000), false, 200.0);
            let v = &t.views()[0];
            assert_eq!(
                (v.state, v.since),
                (State::AuthRequired, 200.0),
                "since {since}"
            );
        }
    }

    #[test]
    fn exhausted_until_the_next_start() {
        let mut t = Tracker::new(Tuning::default(), StatesFile::None);
        let gave = json!([{"accountId":"default","running":false,"connected":false,"restartPending":false,"reconnectAttempts":10,"lastStartAt":50,"lastError":"Unauthorized"}]);
        t.apply(&status(gave, 100), false, 1.0);
        assert!(t.views()[0].recovery_exhausted);
        assert_eq!(t.views()[0].state, State::AuthRequired);
        let restarted = json!([{"accountId":"default","running":true,"connected":false,"lifecycle":"starting","reconnectAttempts":0,"lastStartAt":200}]);
        t.apply(&status(restarted, 300), false, 2.0);
        assert!(!t.views()[0].recovery_exhausted);
    }
}
