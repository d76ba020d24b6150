//! The persistent outbox: every notification is written to disk before it is
//! sent, retried with exponential backoff and jitter until delivered, kept
//! across restarts, and bounded. Delivered ids are remembered so a
//! notification is not queued twice.

use crate::state::Ts;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

/// One notice to one integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id: the receiver can deduplicate on it.
    pub id: String,
    /// Integration name.
    pub integration: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Alert name.
    pub alert: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// Channel, if any.
    pub channel: Option<String>,
    /// Account, if any.
    pub account: Option<String>,
    /// What broke.
    pub summary: String,
    /// Why and what to do.
    pub description: String,
    /// Runbook link.
    pub runbook: String,
    /// When the condition began.
    pub active_since: Ts,
    /// When queued.
    pub created: Ts,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before.
    pub next_at: Ts,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "version")]
enum File {
    #[serde(rename = "1")]
    V1 {
        pending: Vec<Notification>,
        delivered: Vec<String>,
        /// Firing alerts already announced: fingerprint -> the last notice.
        notified: BTreeMap<String, Notification>,
    },
}

/// Queue plus what was announced.
#[derive(Debug, Default)]
pub struct Outbox {
    path: Option<PathBuf>,
    /// Waiting for delivery, oldest first.
    pub pending: VecDeque<Notification>,
    delivered: VecDeque<String>,
    /// Firing alerts announced: fingerprint -> the last notice (per integration-less template).
    pub notified: BTreeMap<String, Notification>,
    max: usize,
}

/// Retry delay after `attempts` failures: 1 s doubling to 5 min, +-20 %.
pub fn backoff(attempts: u32) -> f64 {
    let base = (2f64.powi(attempts.min(16) as i32)).min(300.0);
    base * rand::random_range(0.8..1.2)
}

impl Outbox {
    /// Loads `dir/outbox.json` (empty when absent), bounded to `max` pending.
    pub fn open(dir: Option<PathBuf>, max: usize) -> Outbox {
        let path = dir.map(|d| d.join("outbox.json"));
        let File::V1 {
            pending,
            delivered,
            notified,
        } = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(File::V1 {
                pending: Vec::new(),
                delivered: Vec::new(),
                notified: BTreeMap::new(),
            });
        Outbox {
            path,
            pending: pending.into(),
            delivered: delivered.into(),
            notified,
            max: max.max(1),
        }
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

    /// Schedules another try of `id`.
    pub fn failed(&mut self, id: &str, integration: &str, now: Ts) {
        if let Some(n) = self
            .pending
            .iter_mut()
            .find(|n| n.id == id && n.integration == integration)
        {
            n.attempts += 1;
            n.next_at = now + backoff(n.attempts);
        }
    }

    /// Schedules another try of `id` no earlier than `after` seconds.
    pub fn failed_after(&mut self, id: &str, integration: &str, now: Ts, after: f64) {
        if let Some(n) = self
            .pending
            .iter_mut()
            .find(|n| n.id == id && n.integration == integration)
        {
            n.attempts += 1;
            n.next_at = now + after.max(backoff(n.attempts));
        }
    }

    /// Gives up on `id` (a permanent failure).
    pub fn drop_one(&mut self, id: &str, integration: &str) {
        self.pending
            .retain(|n| !(n.id == id && n.integration == integration));
    }

    /// Writes the file atomically.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = File::V1 {
            pending: self.pending.iter().cloned().collect(),
            delivered: self.delivered.iter().cloned().collect(),
            notified: self.notified.clone(),
        };
        let tmp = path.with_extension("json.new");
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&file).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

/// Turns the firing set into notices: new alerts fire, alerts still firing
/// after `repeat` fire again, alerts gone resolve. One notice per integration.
pub fn dispatch(
    outbox: &mut Outbox,
    firing: &[super::engine::Alert],
    integrations: &[String],
    repeat: f64,
    send_resolved: bool,
    now: Ts,
) -> (usize, Vec<Notification>) {
    let mut queued = 0;
    let mut dropped = Vec::new();
    let mut fan_out = |outbox: &mut Outbox, n: &Notification| {
        for i in integrations {
            dropped.extend(outbox.push(Notification {
                integration: i.clone(),
                ..n.clone()
            }));
            queued += 1;
        }
    };
    let current: BTreeMap<String, &super::engine::Alert> =
        firing.iter().map(|a| (a.fingerprint(), a)).collect();
    for (fp, a) in &current {
        let template = |id: String| Notification {
            id,
            integration: String::new(),
            status: "firing".into(),
            alert: a.name.into(),
            severity: a.severity.into(),
            channel: a.channel.clone(),
            account: a.account.clone(),
            summary: a.summary.clone(),
            description: a.description.clone(),
            runbook: a.runbook.clone(),
            active_since: a.active_since,
            created: now,
            attempts: 0,
            next_at: now,
        };
        match outbox.notified.get(fp) {
            None => {
                let n = template(format!("{fp}@{}/firing", a.active_since));
                fan_out(outbox, &n);
                outbox.notified.insert(fp.clone(), n);
            }
            Some(last) if now - last.created >= repeat => {
                let k = ((now - last.active_since) / repeat).floor() as u64;
                let n = template(format!("{fp}@{}/firing/{k}", last.active_since));
                let n = Notification {
                    active_since: last.active_since,
                    ..n
                };
                fan_out(outbox, &n);
                outbox.notified.insert(fp.clone(), n);
            }
            Some(_) => {}
        }
    }
    let gone: Vec<String> = outbox
        .notified
        .keys()
        .filter(|fp| !current.contains_key(*fp))
        .cloned()
        .collect();
    for fp in gone {
        let Some(last) = outbox.notified.remove(&fp) else {
            continue;
        };
        if send_resolved {
            let n = Notification {
                id: format!("{fp}@{}/resolved", last.active_since),
                status: "resolved".into(),
                created: now,
                next_at: now,
                ..last
            };
            fan_out(outbox, &n);
        }
    }
    (queued, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: &str) -> Notification {
        Notification {
            id: id.into(),
            integration: "hook".into(),
            status: "firing".into(),
            alert: "OpenClawChannelAuthRequired".into(),
            severity: "critical".into(),
            channel: Some("whatsapp".into()),
            account: Some("default".into()),
            summary: "s".into(),
            description: "d".into(),
            runbook: "r".into(),
            active_since: 1.0,
            created: 1.0,
            attempts: 0,
            next_at: 0.0,
        }
    }

    #[test]
    fn survives_a_restart_dedups_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(Some(dir.path().into()), 2);
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
        o.failed("b", "hook", 100.0);
        o.save().unwrap();
        let mut o = Outbox::open(Some(dir.path().into()), 2);
        assert_eq!(
            o.pending
                .iter()
                .map(|x| (x.id.as_str(), x.attempts))
                .collect::<Vec<_>>(),
            vec![("b", 1), ("c", 0)]
        );
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
    fn fire_repeat_resolve_once_each() {
        use crate::alert::engine::Alert;
        let a = Alert {
            name: "OpenClawChannelAuthRequired",
            severity: "critical",
            channel: Some("whatsapp".into()),
            account: Some("default".into()),
            active_since: 10.0,
            summary: "s".into(),
            description: "d".into(),
            runbook: "r".into(),
        };
        let mut o = Outbox::open(None, 100);
        let ints = vec!["hook".to_string(), "mail".to_string()];
        let firing = [a];
        assert_eq!(dispatch(&mut o, &firing, &ints, 100.0, true, 10.0).0, 2);
        assert_eq!(dispatch(&mut o, &firing, &ints, 100.0, true, 50.0).0, 0);
        assert_eq!(dispatch(&mut o, &firing, &ints, 100.0, true, 110.0).0, 2);
        assert_eq!(dispatch(&mut o, &[], &ints, 100.0, true, 120.0).0, 2);
        assert_eq!(dispatch(&mut o, &[], &ints, 100.0, true, 130.0).0, 0);
        let ids: Vec<(String, String)> = o
            .pending
            .iter()
            .map(|n| (n.integration.clone(), n.id.clone()))
            .collect();
        let fp = "OpenClawChannelAuthRequired/whatsapp/default@10";
        assert_eq!(
            ids,
            vec![
                ("hook".into(), format!("{fp}/firing")),
                ("mail".into(), format!("{fp}/firing")),
                ("hook".into(), format!("{fp}/firing/1")),
                ("mail".into(), format!("{fp}/firing/1")),
                ("hook".into(), format!("{fp}/resolved")),
                ("mail".into(), format!("{fp}/resolved")),
            ]
        );
    }

    #[test]
    fn backoff_doubles_to_five_minutes() {
        for (a, lo, hi) in [(0, 0.8, 1.2), (3, 6.4, 9.6), (20, 240.0, 360.0)] {
            let b = backoff(a);
            assert!((lo..=hi).contains(&b), "{a}: {b}");
        }
    }
}
