//! The state writer: the one task that owns the [`Model`]. It takes each
//! observation, runs the pure [`step`] at the clock's time, and hands the
//! changes to the consumers: metrics, history, snapshot, the live event
//! stream, the states file and the feedback the sources need.

use crate::clock::Clock;
use crate::durable::Latest;
use crate::export::Export;
use crate::history::History;
use crate::observation::Observation;
use crate::snapshot::Publisher;
use crate::state::{step, Change, Consumer, Event, Model};
use crate::supervise::{panic_message, Streak, Supervisor};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Transitions and disconnects as log lines and Server-Sent Events.
#[derive(Debug)]
pub struct EventStream {
    /// Where `/api/v1/events` subscribes.
    pub events: broadcast::Sender<Arc<str>>,
}

impl Consumer for EventStream {
    fn consume(&mut self, _: &Model, changes: &[Change]) {
        for c in changes {
            let Change::Event(e) = c else { continue };
            if let Event::Transition {
                channel,
                account,
                from,
                to,
                reason,
                ..
            } = e
            {
                tracing::info!(%channel, %account, from = %from, to = %to, reason = reason.map(|r| r.as_str()).unwrap_or(""), "Channel state changed.");
            }
            if self.events.receiver_count() > 0 {
                let _ = self.events.send(e.to_json().to_string().into());
            }
        }
    }
}

/// `states.json`, so that `since` survives a restart.
#[derive(Debug)]
pub struct Keeper(pub Latest);

impl Consumer for Keeper {
    fn consume(&mut self, model: &Model, changes: &[Change]) {
        if changes.contains(&Change::Kept) {
            let doc = model.tracker.kept();
            self.0
                .set(serde_json::to_vec_pretty(&doc).expect("plain data serializes"));
        }
    }
}

/// What the sources learn back: the gateway's channel ids (for the log
/// attribution) and the Telegram accounts in webhook mode (for the poller).
#[derive(Debug)]
pub struct Feedback {
    /// Channel ids, in the gateway's order.
    pub channels: watch::Sender<Vec<String>>,
    /// Webhook-mode Telegram accounts.
    pub webhooks: watch::Sender<Vec<String>>,
}

impl Consumer for Feedback {
    fn consume(&mut self, _: &Model, changes: &[Change]) {
        for c in changes {
            match c {
                Change::ChannelOrder(order) => {
                    let _ = self.channels.send(order.clone());
                }
                Change::WebhookAccounts { now, .. } => {
                    let _ = self.webhooks.send(now.clone());
                }
                _ => {}
            }
        }
    }
}

/// The writer and its consumers.
#[derive(Debug)]
pub struct Writer {
    /// The model it owns.
    pub model: Model,
    /// Metric families.
    pub export: Export,
    /// Recent events.
    pub history: History,
    /// The history on disk.
    pub store: crate::history::store::Shared,
    /// Snapshot publication.
    pub snapshot: Publisher,
    /// Log lines and SSE.
    pub stream: EventStream,
    /// The states file (`None`: no state dir).
    pub keeper: Option<Keeper>,
    /// Back to the sources.
    pub feedback: Feedback,
    /// The clock.
    pub clock: Clock,
    /// Tests: panic on this many of the next steps.
    pub injected_panics: Arc<AtomicU32>,
    /// `[states]` thresholds from a reload.
    pub live: watch::Receiver<super::live::StatesLive>,
}

impl Writer {
    /// Applies one observation and hands the changes on.
    pub fn apply(&mut self, obs: Observation) {
        let take = |n: u32| n.checked_sub(1);
        if self
            .injected_panics
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, take)
            .is_ok()
        {
            panic!("a panic injected by a test");
        }
        let now = self.clock.now();
        let changes = step(&mut self.model, obs, now);
        self.export.consume(&self.model, &changes);
        {
            let mut store = crate::history::store::lock(&self.store);
            let mut events: Vec<&Event> = Vec::new();
            for c in &changes {
                match c {
                    Change::Event(e) => events.push(e),
                    Change::LogRule {
                        key,
                        rule,
                        state,
                        reason,
                    } => {
                        let v = serde_json::json!({
                            "kind": "log_rule", "rule": rule, "to": state.as_str(), "reason": reason.as_str(),
                        });
                        store.record_other(now, &key.0, &key.1, v, now);
                    }
                    _ => {}
                }
            }
            store.record(&events, now);
        }
        let history = self.history.record(&changes);
        let accounts = changes.contains(&Change::Accounts);
        self.snapshot.publish(&self.model, accounts, history);
        self.stream.consume(&self.model, &changes);
        if let Some(k) = &mut self.keeper {
            k.consume(&self.model, &changes);
        }
        self.feedback.consume(&self.model, &changes);
    }

    /// Runs until cancelled or every source is gone. A panic in a step is
    /// the state task's crash: counted, reported down for the backoff, then
    /// the model restarts from what the states file keeps, as after a
    /// process restart, and the sources' next observations fill it again.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Observation>,
        sup: Supervisor,
        cancel: CancellationToken,
    ) {
        let mut streak = Streak::default();
        loop {
            let o = tokio::select! {
                _ = cancel.cancelled() => return,
                o = rx.recv() => match o {
                    Some(o) => o,
                    None => return,
                },
                Ok(()) = self.live.changed() => {
                    let l = self.live.borrow_and_update().clone();
                    self.model.tracker.set_tuning(l.tuning);
                    self.history.set_size(l.history_size);
                    continue;
                }
            };
            let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(|| self.apply(o))) else {
                continue;
            };
            let wait = sup.panicked("state", &panic_message(&*p), &mut streak);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            self.model = self.model.restarted(self.clock.now());
            sup.restarted("state");
        }
    }
}
