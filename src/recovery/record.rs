//! What recovery decided and did, as plain data: the per-account view that
//! `/health/detail`, `/api/v1/recovery`, the metrics and the alert engine
//! read, and the events that history and `/api/v1/events` keep.

use crate::clock::{rfc3339, Ts};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// `recovery` of an account in `/health/detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Nothing done in this outage (or no outage).
    NotAttempted,
    /// An action is scheduled (`next_attempt_at`).
    Waiting,
    /// Acted in this outage; nothing scheduled now.
    Attempted,
    /// clawwatch's budget is spent: no more actions until 5 min connected
    /// or `clawwatch recovery reset`.
    Exhausted,
    /// Off for this channel, or a restart cannot help (`rule` says which).
    Disabled,
}

impl Status {
    /// Every status, in label order.
    pub const ALL: [Status; 5] = [
        Status::NotAttempted,
        Status::Waiting,
        Status::Attempted,
        Status::Exhausted,
        Status::Disabled,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotAttempted => "not_attempted",
            Status::Waiting => "waiting",
            Status::Attempted => "attempted",
            Status::Exhausted => "exhausted",
            Status::Disabled => "disabled",
        }
    }

    /// True when clawwatch may still act on its own.
    pub fn will_try(self) -> bool {
        !matches!(self, Status::Exhausted | Status::Disabled)
    }
}

/// How an action restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// The gateway's `channels.stop` + `channels.start`.
    Rpc,
    /// The configured argv.
    Command,
}

impl Action {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Rpc => "rpc",
            Action::Command => "command",
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Done (RPC answered ok; command exited 0).
    Ok,
    /// Refused or exited non-zero.
    Failed,
    /// No answer in time; a command was killed.
    Timeout,
    /// `dry_run`: decided and recorded, not done.
    DryRun,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::Timeout,
        Outcome::DryRun,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Timeout => "timeout",
            Outcome::DryRun => "dry_run",
        }
    }
}

/// The last action on an account, for the views.
#[derive(Debug, Clone, PartialEq)]
pub struct Last {
    /// When it started.
    pub at: Ts,
    /// How.
    pub action: Action,
    /// How it ended (`None`: still running).
    pub outcome: Option<Outcome>,
    /// The rule that decided it.
    pub rule: &'static str,
}

/// Recovery of one account (or of the gateway: channel and account empty).
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// What recovery is doing.
    pub status: Status,
    /// How it would act.
    pub action: Action,
    /// The rule that decides now (`down`, `gateway_gave_up`, `auth_required`, ...).
    pub rule: &'static str,
    /// That rule in words.
    pub why: String,
    /// Actions in the last hour.
    pub attempts_this_hour: u32,
    /// The budget.
    pub budget_per_hour: u32,
    /// When the next action is due.
    pub next_attempt_at: Option<Ts>,
    /// The last action.
    pub last: Option<Last>,
}

impl View {
    /// The JSON of `/api/v1/recovery`.
    pub fn to_json(&self, channel: &str, account: &str) -> Value {
        json!({
            "channel": channel,
            "account": account,
            "status": self.status.as_str(),
            "action": self.action.as_str(),
            "exhausted": self.status == Status::Exhausted,
            "rule": self.rule,
            "why": self.why,
            "attempts_this_hour": self.attempts_this_hour,
            "budget_per_hour": self.budget_per_hour,
            "next_attempt_at": self.next_attempt_at.map(rfc3339),
            "last_action": self.last.as_ref().map(|l| json!({
                "at": rfc3339(l.at),
                "action": l.action.as_str(),
                "result": l.outcome.map(|o| o.as_str()),
                "rule": l.rule,
            })),
        })
    }
}

/// Every account's recovery, and the gateway's (key `("", "")`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Recovery is on for at least one channel or the gateway.
    pub enabled: bool,
    /// By (channel, account).
    pub views: BTreeMap<(String, String), View>,
}

impl Table {
    /// The view of one account.
    pub fn get(&self, channel: &str, account: &str) -> Option<&View> {
        self.views.get(&(channel.to_string(), account.to_string()))
    }
}

/// What happened, for history, the event stream, metrics and notices.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// An action ran (or would have, in a dry run).
    Action {
        /// How.
        action: Action,
        /// How it ended.
        outcome: Outcome,
        /// The rule that decided it.
        rule: &'static str,
        /// That rule in words.
        why: String,
        /// The nth action of this outage.
        attempt: u32,
        /// Actions in the last hour, this one included.
        attempts_this_hour: u32,
        /// The budget.
        budget_per_hour: u32,
        /// When the next one would be due.
        next_attempt_at: Option<Ts>,
        /// Seconds it took.
        duration: f64,
        /// The RPC calls and answers, or the argv, exit code and stderr tail.
        detail: Value,
        /// Why it failed, in one line.
        error: Option<String>,
    },
    /// clawwatch's budget is spent.
    Exhausted {
        /// Actions in the last hour.
        attempts_this_hour: u32,
        /// The budget.
        budget_per_hour: u32,
    },
    /// Budget, backoff and exhaustion cleared.
    Reset {
        /// `connected` (5 min connected) or `person` (`recovery reset`).
        by: &'static str,
    },
}

/// One recovery event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When.
    pub at: Ts,
    /// Channel id (empty: the gateway).
    pub channel: String,
    /// Account id (empty: the gateway).
    pub account: String,
    /// What.
    pub what: What,
}

impl Event {
    /// The JSON of `/api/v1/history` and `/api/v1/events`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "at": rfc3339(self.at),
            "channel": self.channel,
            "account": self.account,
        });
        match &self.what {
            What::Action {
                action,
                outcome,
                rule,
                why,
                attempt,
                attempts_this_hour,
                budget_per_hour,
                next_attempt_at,
                duration,
                detail,
                error,
            } => {
                v["kind"] = json!("recovery");
                v["action"] = json!(action.as_str());
                v["result"] = json!(outcome.as_str());
                v["rule"] = json!(rule);
                v["why"] = json!(why);
                v["attempt"] = json!(attempt);
                v["attempts_this_hour"] = json!(attempts_this_hour);
                v["budget_per_hour"] = json!(budget_per_hour);
                v["next_attempt_at"] = json!(next_attempt_at.map(rfc3339));
                v["duration_seconds"] = json!((duration * 1000.0).round() / 1000.0);
                v["detail"] = detail.clone();
                v["error"] = json!(error);
            }
            What::Exhausted {
                attempts_this_hour,
                budget_per_hour,
            } => {
                v["kind"] = json!("recovery_exhausted");
                v["attempts_this_hour"] = json!(attempts_this_hour);
                v["budget_per_hour"] = json!(budget_per_hour);
            }
            What::Reset { by } => {
                v["kind"] = json!("recovery_reset");
                v["by"] = json!(by);
            }
        }
        v
    }
}
