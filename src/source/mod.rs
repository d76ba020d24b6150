//! Sources: what clawwatch learns from the gateway, as [`Observation`]s on
//! one channel to the state task. Sources know nothing of state or alerts.

pub mod gateway;
pub mod readyz;
pub mod telegram_webhook;

use crate::metrics::GatewayErrorKind;
use crate::model::ChannelsStatus;

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
        hits: Vec<crate::logs::watch::LogHit>,
        /// `disconnect` rule matches so far, per attributed channel.
        disconnects: std::collections::BTreeMap<String, u64>,
    },
    /// `/readyz`.
    Ready {
        /// `None` when it could not be read.
        ready: Option<bool>,
        /// `uptimeMs` from the body.
        uptime_ms: Option<i64>,
    },
}
