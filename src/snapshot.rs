//! The snapshot: what readers (the server, alerting) see of the model,
//! replaced whole after every step and published on a watch channel.

use crate::clock::Ts;
use crate::model::State;
use crate::state::{AccountView, Event, Model, Phase};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// What the server shows; replaced whole on every update.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Sanitized gateway URL.
    pub gateway_url: String,
    /// Phase of the gateway connection.
    pub phase: Phase,
    /// `/readyz`.
    pub ready: Option<bool>,
    /// `server.version`.
    pub version: Option<String>,
    /// Gateway uptime (seconds) and when it was read.
    pub uptime: Option<(f64, Ts)>,
    /// Why the gateway is down or starting.
    pub gateway_error: Option<String>,
    /// When the last `channels.status` answer arrived.
    pub checked_at: Option<Ts>,
    /// What of that answer could not be read: `(channel, account, problem)`.
    pub decode_errors: Vec<(String, String, String)>,
    /// True once a `channels.status` answer was applied.
    pub polled: bool,
    /// Accounts in the gateway's order.
    pub accounts: Arc<Vec<AccountView>>,
    /// Recent events, newest first.
    pub history: Arc<Vec<Event>>,
    /// When clawwatch started.
    pub started_at: Ts,
    /// `disconnect` rule matches so far, per channel.
    pub disconnect_matches: Arc<BTreeMap<String, u64>>,
    /// When a log line was last read (`None`: logs not watched).
    pub last_log_line: Option<Ts>,
    /// Why the gateway is down, when it is.
    pub gateway_down_kind: Option<crate::model::GatewayErrorKind>,
    /// Recovery of every account.
    pub recovery: Arc<crate::recovery::record::Table>,
    /// The last good session backup per (channel, account).
    pub backups: Arc<BTreeMap<(String, String), Option<Ts>>>,
}

impl Snapshot {
    /// Before anything was observed.
    pub fn new(gateway_url: String, now: Ts) -> Snapshot {
        Snapshot {
            gateway_url,
            phase: Phase::Starting,
            ready: None,
            version: None,
            uptime: None,
            gateway_error: None,
            checked_at: None,
            decode_errors: Vec::new(),
            polled: false,
            accounts: Arc::new(Vec::new()),
            history: Arc::new(Vec::new()),
            started_at: now,
            disconnect_matches: Arc::new(BTreeMap::new()),
            last_log_line: None,
            gateway_down_kind: None,
            recovery: Arc::default(),
            backups: Arc::default(),
        }
    }

    /// Gateway uptime at `now`, seconds.
    pub fn uptime_at(&self, now: Ts) -> Option<f64> {
        self.uptime.map(|(u, at)| u + (now - at).max(0.0))
    }

    /// Worst state per channel, in the gateway's order.
    pub fn channel_states(&self) -> Vec<(String, State)> {
        let mut out: Vec<(String, State)> = Vec::new();
        for a in self.accounts.iter() {
            match out.iter_mut().find(|(c, _)| *c == a.channel) {
                Some((_, s)) => *s = (*s).max(a.state),
                None => out.push((a.channel.clone(), a.state)),
            }
        }
        out
    }

    /// `ok`, `degraded`, `down` or `starting`.
    pub fn status(&self) -> &'static str {
        match self.phase {
            Phase::Down => "down",
            Phase::Starting => "starting",
            Phase::Up if !self.polled => "starting",
            Phase::Up if self.accounts.iter().all(|a| a.state == State::Connected) => "ok",
            Phase::Up => "degraded",
        }
    }
}

/// Builds snapshots from the model and publishes them.
#[derive(Debug)]
pub struct Publisher {
    current: Snapshot,
    tx: watch::Sender<Arc<Snapshot>>,
}

impl Publisher {
    /// A publisher starting from `first`; readers subscribe to the receiver.
    pub fn new(first: Snapshot) -> (Publisher, watch::Receiver<Arc<Snapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(first.clone()));
        (Publisher { current: first, tx }, rx)
    }

    /// Publishes the model after a step; `accounts` says whether the
    /// accounts changed (rebuilding them is the costly part), `history`
    /// is the recent events when they changed.
    pub fn publish(&mut self, m: &Model, accounts: bool, history: Option<Arc<Vec<Event>>>) {
        let s = &mut self.current;
        s.phase = m.gateway.phase;
        s.ready = m.gateway.ready;
        s.version.clone_from(&m.gateway.version);
        s.uptime = m.gateway.uptime;
        s.gateway_error.clone_from(&m.gateway.error);
        s.checked_at = m.gateway.checked_at;
        s.decode_errors.clone_from(&m.gateway.decode_errors);
        s.polled = m.tracker.polled();
        if accounts {
            s.accounts = Arc::new(m.tracker.views());
        }
        if let Some(h) = history {
            s.history = h;
        }
        if *s.disconnect_matches != m.disconnect_matches {
            s.disconnect_matches = Arc::new(m.disconnect_matches.clone());
        }
        s.last_log_line = m.last_log_line;
        s.gateway_down_kind = m.gateway.down_kind;
        if !Arc::ptr_eq(&s.backups, &m.backups) {
            s.backups = m.backups.clone();
        }
        if !Arc::ptr_eq(&s.recovery, &m.recovery) {
            s.recovery = m.recovery.clone();
        }
        let _ = self.tx.send(Arc::new(s.clone()));
    }
}
