//! What a source learned, as one [`Observation`] on the channel to the state
//! writer. Defined once here so that sources import no state, no server and
//! no other source, and the state imports no source.

use crate::clock::Ts;
use crate::model::{ChannelsStatus, GatewayErrorKind, Reason, State};
use crate::recovery::record;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One thing a source learned.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// Handshake done.
    Connected {
        /// `server.version`.
        version: Option<String>,
        /// `snapshot.uptimeMs`.
        uptime_ms: Option<i64>,
    },
    /// The gateway cannot be used: unreachable, refused us, or mismatched.
    Down {
        /// Bounded kind.
        kind: GatewayErrorKind,
        /// What happened and the fix.
        message: String,
    },
    /// The gateway answers `UNAVAILABLE` while it starts.
    Starting {
        /// What it said.
        message: String,
    },
    /// A `channels.status` answer.
    Status {
        /// The decoded payload.
        status: ChannelsStatus,
        /// From a probe poll.
        probed: bool,
    },
    /// `getWebhookInfo` of a Telegram account in webhook mode.
    WebhookPending {
        /// Account id.
        account: String,
        /// `pending_update_count`; `None` when it could not be read.
        pending: Option<u64>,
    },
    /// Log matches that concern an account's state.
    Logs {
        /// The matches, in order.
        hits: Vec<LogHit>,
        /// `disconnect` rule matches so far, per attributed channel.
        disconnects: BTreeMap<String, u64>,
    },
    /// Recovery is about to restart these accounts: a start seen before
    /// `until` is clawwatch's, not the gateway's.
    RecoveryBegins {
        /// (channel, account).
        keys: Vec<(String, String)>,
        /// Until when a start counts as clawwatch's.
        until: Ts,
    },
    /// A recovery action, exhaustion or reset.
    RecoveryEvent(Box<record::Event>),
    /// Recovery of every account now.
    RecoveryTable(Arc<record::Table>),
    /// The last good session backup of a WhatsApp account.
    Backup {
        /// Account id.
        account: String,
        /// When it was taken (`None`: none yet).
        last_success: Option<Ts>,
    },
    /// `/readyz`.
    Ready {
        /// `None` when it could not be read.
        ready: Option<bool>,
        /// `uptimeMs` from the body.
        uptime_ms: Option<i64>,
    },
}

/// What a log match asks of the state machine.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEffect {
    /// Put the account into this state now.
    State(State, Reason),
    /// A Discord socket reconnect (`reconnect scheduled`).
    Reconnect,
}

/// A log match that concerns an account's state.
#[derive(Debug, Clone, PartialEq)]
pub struct LogHit {
    /// Rule name.
    pub rule: String,
    /// Attributed channel.
    pub channel: String,
    /// Attributed account, if the line names one.
    pub account: Option<String>,
    /// What to do.
    pub effect: LogEffect,
}
