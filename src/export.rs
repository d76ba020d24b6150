//! The state metrics: each step's changes applied to the `openclaw_*`
//! families, then the exposition re-encoded once, so a scrape costs a copy.

use crate::metrics::{
    AccountLabels, Exposition, Initiator, Metrics, ReasonLabels, RestartLabels, StateLabels,
    TelegramLabels, TransitionLabels,
};
use crate::metrics::{RecoveryActionLabels, RecoveryStatusLabels};
use crate::model::{Reason, State};
use crate::recovery::record::{Outcome, Status, What};
use crate::state::{Change, Consumer, Event, Key, Model, Phase};
use std::sync::Arc;

/// Keeps the metric families in step with the model.
#[derive(Debug)]
pub struct Export {
    metrics: Metrics,
    exposition: Arc<Exposition>,
}

/// The ids as label values: one allocation each, shared by the series.
fn ids(channel: &str, account: &str) -> (Arc<str>, Arc<str>) {
    (channel.into(), account.into())
}

fn labels((channel, account): &Key) -> AccountLabels {
    let (channel, account) = ids(channel, account);
    AccountLabels { channel, account }
}

impl Export {
    /// Exports into `metrics`, re-encoding `exposition` after each step.
    pub fn new(metrics: Metrics, exposition: Arc<Exposition>) -> Export {
        Export {
            metrics,
            exposition,
        }
    }

    fn event(&self, e: &Event) {
        let m = &self.metrics;
        match e {
            Event::Transition {
                channel,
                account,
                to,
                ..
            } => {
                m.transitions
                    .get_or_create(&TransitionLabels {
                        channel: channel.as_str().into(),
                        account: account.as_str().into(),
                        to: *to,
                    })
                    .inc();
            }
            Event::Disconnect {
                channel,
                account,
                reason,
                ..
            } => {
                m.disconnects
                    .get_or_create(&ReasonLabels {
                        channel: channel.as_str().into(),
                        account: account.as_str().into(),
                        reason: *reason,
                    })
                    .inc();
            }
            Event::Recovery(r) => {
                if let What::Action {
                    action, outcome, ..
                } = &r.what
                {
                    m.recovery_actions
                        .get_or_create(&RecoveryActionLabels {
                            channel: r.channel.as_str().into(),
                            account: r.account.as_str().into(),
                            action: action.as_str(),
                            result: outcome.as_str(),
                        })
                        .inc();
                }
            }
        }
    }

    /// The recovery gauges: exhausted, and the status state set.
    fn recovery(&self, model: &Model) {
        let m = &self.metrics;
        let t = &model.recovery;
        // Views of accounts that left are dropped.
        m.own_recovery_exhausted.clear();
        m.recovery_status.clear();
        // Off by config: no series (the alert rule reads their absence as
        // "nobody will try"), so a large fleet without recovery pays nothing.
        for ((channel, account), v) in t.views.iter().filter(|(_, v)| v.rule != "disabled") {
            let (channel, account) = ids(channel, account);
            let l = AccountLabels {
                channel: channel.clone(),
                account: account.clone(),
            };
            m.own_recovery_exhausted
                .get_or_create(&l)
                .set(i64::from(v.status == Status::Exhausted));
            for s in Status::ALL {
                m.recovery_status
                    .get_or_create(&RecoveryStatusLabels {
                        channel: channel.clone(),
                        account: account.clone(),
                        status: s.as_str(),
                    })
                    .set(i64::from(s == v.status));
            }
            // Counters exist from the first view, so increase() sees the
            // first action; only for the action this account would get.
            for o in Outcome::ALL {
                let _ = m.recovery_actions.get_or_create(&RecoveryActionLabels {
                    channel: channel.clone(),
                    account: account.clone(),
                    action: v.action.as_str(),
                    result: o.as_str(),
                });
            }
        }
    }

    fn accounts(&self, model: &Model) {
        let m = &self.metrics;
        for a in model.tracker.iter() {
            let (c, ac) = ids(&a.channel, &a.account);
            let l = AccountLabels {
                channel: c.clone(),
                account: ac.clone(),
            };
            for s in State::ALL {
                m.channel_state
                    .get_or_create(&StateLabels {
                        channel: c.clone(),
                        account: ac.clone(),
                        state: s,
                    })
                    .set(i64::from(s == a.state));
            }
            m.channel_up
                .get_or_create(&l)
                .set(i64::from(a.state == State::Connected));
            m.state_since.get_or_create(&l).set(a.since);
            m.recovery_exhausted
                .get_or_create(&l)
                .set(i64::from(a.recovery_exhausted));
            // Counters exist from the first sight of an account, so rate() works.
            let _ = m.reconnect_attempts.get_or_create(&l);
            for initiator in [Initiator::Gateway, Initiator::Clawwatch] {
                let _ = m.restarts.get_or_create(&RestartLabels {
                    channel: c.clone(),
                    account: ac.clone(),
                    initiator,
                });
            }
            for reason in Reason::ALL {
                let _ = m.disconnects.get_or_create(&ReasonLabels {
                    channel: c.clone(),
                    account: ac.clone(),
                    reason,
                });
            }
            match a.probe_ok {
                Some(ok) => {
                    m.probe_success.get_or_create(&l).set(i64::from(ok));
                }
                None => {
                    m.probe_success.remove(&l);
                }
            }
            for (fam, v) in [
                (&m.last_inbound, a.last_inbound_at),
                (&m.last_event, a.last_event_at),
            ] {
                match v {
                    Some(t) => {
                        fam.get_or_create(&l).set(t);
                    }
                    None => {
                        fam.remove(&l);
                    }
                }
            }
        }
    }
}

impl Consumer for Export {
    fn consume(&mut self, model: &Model, changes: &[Change]) {
        let m = &self.metrics;
        for c in changes {
            match c {
                Change::Event(e) => self.event(e),
                Change::ReconnectAttempts(key, n) => {
                    m.reconnect_attempts.get_or_create(&labels(key)).inc_by(*n);
                }
                Change::ProbeLatency(key, secs) => {
                    m.heartbeat_latency
                        .get_or_create(&labels(key))
                        .observe(*secs);
                }
                Change::Restart((channel, account), own) => {
                    m.restarts
                        .get_or_create(&RestartLabels {
                            channel: channel.as_str().into(),
                            account: account.as_str().into(),
                            initiator: if *own {
                                Initiator::Clawwatch
                            } else {
                                Initiator::Gateway
                            },
                        })
                        .inc();
                }
                Change::Recovery => self.recovery(model),
                Change::Backups => {
                    for ((channel, account), at) in model.backups.iter() {
                        let Some(at) = at else { continue };
                        m.backup_last_success
                            .get_or_create(&AccountLabels {
                                channel: channel.as_str().into(),
                                account: account.as_str().into(),
                            })
                            .set(*at);
                    }
                }
                Change::Removed((channel, account)) => m.remove_account(channel, account),
                Change::Accounts => self.accounts(model),
                Change::Gateway => {
                    m.gateway_up
                        .set(i64::from(model.gateway.phase == Phase::Up));
                    m.gateway_ready
                        .set(i64::from(model.gateway.ready == Some(true)));
                }
                Change::WebhookAccounts { gone, .. } => {
                    for account in gone {
                        m.webhook_pending.remove(&TelegramLabels {
                            account: account.as_str().into(),
                        });
                    }
                }
                Change::WebhookPending(account, pending) => {
                    let l = TelegramLabels {
                        account: account.as_str().into(),
                    };
                    match pending {
                        Some(n) => {
                            m.webhook_pending.get_or_create(&l).set(*n as i64);
                        }
                        None => {
                            m.webhook_pending.remove(&l);
                        }
                    }
                }
                Change::Kept
                | Change::ChannelOrder(_)
                | Change::LogCounts
                | Change::LogRule { .. } => {}
            }
        }
        self.exposition.touch();
        self.exposition.schedule();
    }
}
