//! The persistent outbox: every notification is written to disk before it is
//! sent, retried with exponential backoff and jitter until delivered, kept
//! across restarts, and bounded. Delivered ids are remembered so a
//! notification is not queued twice.

use crate::clock::Ts;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// One alert inside a notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Alert name.
    pub alert: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// Channel, if any.
    pub channel: Option<String>,
    /// Account, if any.
    pub account: Option<String>,
    /// Integration, for `ClawwatchNotificationsFailing`.
    #[serde(default)]
    pub integration: Option<String>,
    /// What broke.
    pub summary: String,
    /// Why.
    pub description: String,
    /// What to do.
    #[serde(default)]
    pub fix: String,
    /// Runbook link.
    pub runbook: String,
    /// When the condition began.
    pub active_since: Ts,
}

impl Item {
    /// The alert as a notice item with this status.
    pub fn of(a: &super::engine::Alert, status: &str) -> Item {
        Item {
            alert: a.name.into(),
            status: status.into(),
            severity: a.severity.into(),
            channel: a.channel.clone(),
            account: a.account.clone(),
            integration: a.integration.clone(),
            summary: a.summary.clone(),
            description: a.description.clone(),
            fix: a.fix.clone(),
            runbook: a.runbook.clone(),
            active_since: a.active_since,
        }
    }
}

impl Item {
    /// The alert's identity (see [`super::engine::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        super::engine::fingerprint(
            &self.alert,
            self.channel.as_deref(),
            self.account.as_deref(),
            self.integration.as_deref(),
        )
    }
}

/// One notice (one group's alerts) to one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id: the receiver can deduplicate on it.
    pub id: String,
    /// Integration name.
    pub integration: String,
    /// `firing` while any of its alerts fires, else `resolved`.
    pub status: String,
    /// The route that sent it.
    pub route: String,
    /// The group key (`alertname="...",channel="..."`).
    pub group: String,
    /// The group's alerts: firing first, then the resolved ones.
    pub alerts: Vec<Item>,
    /// When queued.
    pub created: Ts,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before.
    pub next_at: Ts,
    /// First failed attempt.
    #[serde(default)]
    pub failing_since: Option<Ts>,
    /// Integrations that get a copy when this one keeps failing.
    #[serde(default)]
    pub fallback: Vec<String>,
}

impl Notification {
    /// The first alert (every notice has one).
    pub fn first(&self) -> &Item {
        &self.alerts[0]
    }

    /// One line for a subject: the summary, or the count and the name.
    pub fn title(&self) -> String {
        let firing = self.alerts.iter().filter(|a| a.status == "firing").count();
        if self.alerts.len() == 1 {
            self.first().summary.clone()
        } else if firing > 0 {
            format!("{firing} alerts firing ({})", self.first().alert)
        } else {
            format!(
                "{} alerts resolved ({})",
                self.alerts.len(),
                self.first().alert
            )
        }
    }
}

/// A group's memory: what was announced and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// When its first alert was seen.
    pub first_seen: Ts,
    /// When the last notice went out.
    pub last_flush: Option<Ts>,
    /// The firing alerts announced last: fingerprint -> item.
    pub notified: BTreeMap<String, Item>,
    /// Notices sent (ids of multi-alert groups count on it).
    pub seq: u64,
    /// Repeats of the same set.
    pub repeat: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "version")]
enum File {
    #[serde(rename = "2")]
    V2 {
        pending: Vec<Notification>,
        delivered: Vec<String>,
        /// Route and group key -> memory.
        groups: BTreeMap<String, Group>,
    },
}

/// Queue plus what was announced.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Waiting for delivery, oldest first.
    pub pending: VecDeque<Notification>,
    delivered: VecDeque<String>,
    /// Groups announced or waiting: `route\u{1f}group key` -> memory.
    pub groups: BTreeMap<String, Group>,
    max: usize,
}

/// Retry delay after `attempts` failures: 1 s doubling to 5 min, +-20 %.
pub fn backoff(attempts: u32) -> f64 {
    let base = (2f64.powi(attempts.min(16) as i32)).min(300.0);
    base * rand::random_range(0.8..1.2)
}

impl Outbox {
    /// From the bytes of `outbox.json` (`None`: no file yet), bounded to
    /// `max` pending. An unreadable file is an error; the caller moves it aside.
    pub fn load(bytes: Option<&[u8]>, max: usize) -> Result<Outbox, String> {
        let file = match bytes {
            Some(b) => serde_json::from_slice(b).map_err(|e| e.to_string())?,
            None => File::V2 {
                pending: Vec::new(),
                delivered: Vec::new(),
                groups: BTreeMap::new(),
            },
        };
        let File::V2 {
            pending,
            delivered,
            groups,
        } = file;
        Ok(Outbox {
            pending: pending.into(),
            delivered: delivered.into(),
            groups,
            max: max.max(1),
        })
    }

    /// An empty outbox bounded to `max` pending.
    pub fn new(max: usize) -> Outbox {
        Outbox {
            max: max.max(1),
            ..Default::default()
        }
    }

    /// Bounds the outbox to `max` pending (a reload); returns what no
    /// longer fits, oldest first.
    pub fn set_max(&mut self, max: usize) -> Vec<Notification> {
        self.max = max.max(1);
        let mut dropped = Vec::new();
        while self.pending.len() > self.max {
            dropped.extend(self.pending.pop_front());
        }
        dropped
    }

    /// Queues `n` unless its id was queued or delivered already. Returns the
    /// notifications dropped to stay within the bound (oldest first).
    pub fn push(&mut self, n: Notification) -> Vec<Notification> {
        let key = format!("{}:{}", n.integration, n.id);
        if self.delivered.contains(&key)
            || self
                .pending
                .iter()
                .any(|p| p.id == n.id && p.integration == n.integration)
        {
            return Vec::new();
        }
        self.pending.push_back(n);
        let mut dropped = Vec::new();
        while self.pending.len() > self.max {
            dropped.extend(self.pending.pop_front());
        }
        dropped
    }

    /// Notifications due at `now`: per integration in queue order, so that
    /// a resolved notice never overtakes its firing one being retried.
    pub fn due(&self, now: Ts) -> Vec<Notification> {
        let mut blocked: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for n in &self.pending {
            if blocked.contains(&n.integration.as_str()) {
                continue;
            }
            if n.next_at <= now {
                out.push(n.clone());
            } else {
                blocked.push(&n.integration);
            }
        }
        out
    }

    /// Marks `id` for `integration` delivered.
    pub fn delivered(&mut self, id: &str, integration: &str) {
        self.pending
            .retain(|n| !(n.id == id && n.integration == integration));
        self.delivered.push_back(format!("{integration}:{id}"));
        while self.delivered.len() > 10_000 {
            self.delivered.pop_front();
        }
    }

    /// Schedules another try of `id`, no earlier than `after` seconds when
    /// given. Once it has failed for `fallback_after`, returns the copies
    /// for its fallback integrations (queue them with [`Outbox::push`]).
    pub fn failed(
        &mut self,
        id: &str,
        integration: &str,
        now: Ts,
        after: Option<f64>,
        fallback_after: f64,
    ) -> Vec<Notification> {
        let Some(n) = self
            .pending
            .iter_mut()
            .find(|n| n.id == id && n.integration == integration)
        else {
            return Vec::new();
        };
        n.attempts += 1;
        n.next_at = now + after.unwrap_or(0.0).max(backoff(n.attempts));
        let since = *n.failing_since.get_or_insert(now);
        if now - since < fallback_after || n.fallback.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut n.fallback)
            .into_iter()
            .filter(|f| f != integration)
            .map(|f| Notification {
                integration: f,
                attempts: 0,
                next_at: now,
                failing_since: None,
                fallback: Vec::new(),
                ..n.clone()
            })
            .collect()
    }

    /// Integrations whose oldest waiting notice has been failing, with
    /// the time of its first failure.
    pub fn failing(&self) -> BTreeMap<String, Ts> {
        let mut out = BTreeMap::new();
        for n in &self.pending {
            if let Some(t) = n.failing_since {
                out.entry(n.integration.clone()).or_insert(t);
            }
        }
        out
    }

    /// Gives up on `id` (a permanent failure).
    pub fn drop_one(&mut self, id: &str, integration: &str) {
        self.pending
            .retain(|n| !(n.id == id && n.integration == integration));
    }

    /// The bytes of `outbox.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let file = File::V2 {
            pending: self.pending.iter().cloned().collect(),
            delivered: self.delivered.iter().cloned().collect(),
            groups: self.groups.clone(),
        };
        serde_json::to_vec(&file).expect("plain data serializes")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn n(id: &str) -> Notification {
        Notification {
            id: id.into(),
            integration: "hook".into(),
            status: "firing".into(),
            route: "default".into(),
            group: String::new(),
            alerts: vec![Item {
                alert: "OpenClawChannelAuthRequired".into(),
                status: "firing".into(),
                severity: "critical".into(),
                channel: Some("whatsapp".into()),
                account: Some("default".into()),
                integration: None,
                summary: "s".into(),
                description: "d".into(),
                fix: "f".into(),
                runbook: "r".into(),
                active_since: 1.0,
            }],
            created: 1.0,
            attempts: 0,
            next_at: 0.0,
            failing_since: None,
            fallback: vec!["mail".into()],
        }
    }

    #[test]
    fn survives_a_restart_dedups_and_bounds() {
        let mut o = Outbox::new(2);
        assert!(o.push(n("a")).is_empty());
        assert!(o.push(n("a")).is_empty());
        assert!(o.push(n("b")).is_empty());
        assert_eq!(
            o.push(n("c"))
                .iter()
                .map(|x| x.id.as_str())
                .collect::<Vec<_>>(),
            vec!["a"]
        );
        assert!(o.failed("b", "hook", 100.0, None, 120.0).is_empty());
        let mut o = Outbox::load(Some(&o.to_bytes()), 2).unwrap();
        assert_eq!(
            o.pending
                .iter()
                .map(|x| (x.id.as_str(), x.attempts))
                .collect::<Vec<_>>(),
            vec![("b", 1), ("c", 0)]
        );
        assert_eq!(o.failing(), BTreeMap::from([("hook".to_string(), 100.0)]));
        // "b" waits for its retry, and "c" behind it keeps the order.
        assert!(o.due(100.0).is_empty());
        o.delivered("b", "hook");
        assert_eq!(
            o.due(100.0)
                .iter()
                .map(|x| x.id.as_str())
                .collect::<Vec<_>>(),
            vec!["c"]
        );
        o.delivered("c", "hook");
        assert!(
            o.push(n("c")).is_empty() && o.pending.is_empty(),
            "a delivered id is not queued again"
        );
    }

    #[test]
    fn falls_back_once_after_failing_long_enough() {
        let mut o = Outbox::new(10);
        o.push(n("a"));
        assert!(o.failed("a", "hook", 0.0, None, 120.0).is_empty());
        assert!(o.failed("a", "hook", 60.0, Some(30.0), 120.0).is_empty());
        assert!(o.pending[0].next_at >= 90.0);
        let copies = o.failed("a", "hook", 120.0, None, 120.0);
        assert_eq!(
            copies
                .iter()
                .map(|c| (c.integration.as_str(), c.id.as_str(), c.attempts))
                .collect::<Vec<_>>(),
            vec![("mail", "a", 0)]
        );
        assert!(o.failed("a", "hook", 500.0, None, 120.0).is_empty(), "once");
    }

    #[test]
    fn a_bad_file_is_an_error() {
        assert!(Outbox::load(Some(b"{not json"), 2).is_err());
        assert!(Outbox::load(None, 2).unwrap().pending.is_empty());
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        for (a, lo, hi) in [(0, 0.8, 1.2), (3, 6.4, 9.6), (20, 240.0, 360.0)] {
            let b = backoff(a);
            assert!((lo..=hi).contains(&b), "{a}: {b}");
        }
    }
}
