//! Recovery: restarts what a restart can fix, with a delay, backoff and a
//! budget per account, and never what needs a person. The planner
//! ([`plan`]) decides from the snapshots; this task runs its actions
//! ([`act`]), tells the state writer (history, metrics, the event stream,
//! which starts are clawwatch's) and the dispatcher (a notice per action
//! and per exhaustion), and answers `recovery reset`.

pub mod act;
pub mod plan;
pub mod record;

use crate::alert::dispatch::Command as AlertCommand;
use crate::alert::engine::Alert;
use crate::clock::{rfc3339, Clock};
use crate::config::RecoveryConfig;
use crate::model::GatewayErrorKind;
use crate::observation::Observation;
use crate::snapshot::Snapshot;
use crate::source::gateway;
use crate::state::Phase;
use plan::{Decision, Input, Planner};
use record::{Action, Event, Outcome, What};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// What recovery runs on; replaced whole by a reload.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[recovery]`.
    pub config: RecoveryConfig,
    /// How to reach the gateway (scopes `operator.admin`).
    pub gateway: gateway::Settings,
}

/// What the server asks of recovery.
#[derive(Debug)]
pub enum Command {
    /// Clear budget, backoff and exhaustion of the matching accounts;
    /// answers with the accounts reset.
    Reset {
        /// Only this channel (`""`: the gateway's own entry).
        channel: Option<String>,
        /// Only this account.
        account: Option<String>,
        /// The accounts reset, as (channel, account).
        reply: oneshot::Sender<Vec<(String, String)>>,
    },
}

/// The recovery task's parts.
#[derive(Debug)]
pub struct Recovery {
    /// Settings, and new ones on a reload.
    pub settings: watch::Receiver<Settings>,
    /// The state writer's snapshots.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// From the server (shared: a restart after a panic takes it again).
    pub commands: Arc<tokio::sync::Mutex<mpsc::Receiver<Command>>>,
    /// To the state writer.
    pub observations: mpsc::Sender<Observation>,
    /// To the dispatcher (notices).
    pub alerting: mpsc::Sender<AlertCommand>,
    /// The clock.
    pub clock: Clock,
    /// Fixes the jitter (tests).
    pub seed: Option<u64>,
    /// `recovery.json` in the state dir (`None`: budgets do not survive a restart).
    pub state_file: Option<std::path::PathBuf>,
}

type Running = tokio::task::JoinSet<(Decision, act::Done)>;

fn input(s: &Snapshot) -> Input<'_> {
    Input {
        accounts: &s.accounts,
        gateway_up: s.phase == Phase::Up,
        gateway_unreachable: s.phase == Phase::Down
            && matches!(
                s.gateway_down_kind,
                Some(
                    GatewayErrorKind::Connect
                        | GatewayErrorKind::Timeout
                        | GatewayErrorKind::Closed
                )
            ),
        polled: s.polled,
    }
}

impl Recovery {
    /// Runs until cancelled. Actions run beside the planner: a slow command
    /// holds back only its own account.
    pub async fn run(mut self, cancel: CancellationToken) {
        let commands = self.commands.clone();
        let mut commands = commands.lock().await;
        let first = self.settings.borrow_and_update().clone();
        let mut settings = first.clone();
        let mut planner = Planner::new(first.config, self.seed);
        let keeper = self.state_file.clone().map(|path| {
            let (latest, task) = crate::durable::Latest::new(path);
            (latest, tokio::spawn(task))
        });
        if let Some(path) = &self.state_file {
            match crate::durable::read_async(path.clone()).await {
                Ok(Some(b)) => match serde_json::from_slice::<plan::Kept>(&b) {
                    Ok(k) => planner.restore(k, self.clock.now()),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "Cannot read the recovery file; budgets start afresh.")
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Cannot read the recovery file; budgets start afresh.")
                }
            }
        }
        let mut kept = planner.kept();
        let mut running: Running = tokio::task::JoinSet::new();
        let mut published: Option<Arc<record::Table>> = None;
        let mut settings_open = true;
        loop {
            let now = self.clock.now();
            let snap = self.snapshots.borrow_and_update().clone();
            let (due, events) = planner.step(input(&snap), now);
            for e in events {
                self.emit(e).await;
            }
            for d in due {
                self.launch(d, &snap, &settings, &mut planner, &mut running)
                    .await;
            }
            if let Some((latest, _)) = &keeper {
                let now_kept = planner.kept();
                if now_kept != kept {
                    latest.set(serde_json::to_vec_pretty(&now_kept).unwrap_or_default());
                    kept = now_kept;
                }
            }
            let table = Arc::new(planner.table());
            if published.as_ref() != Some(&table) {
                published = Some(table.clone());
                let _ = self
                    .observations
                    .send(Observation::RecoveryTable(table))
                    .await;
            }
            let idle = self.clock.instant() + Duration::from_secs(86_400);
            let wake = planner.next_wake().map(|t| {
                let ahead = (t - self.clock.now()).max(0.0);
                self.clock.instant() + Duration::from_secs_f64(ahead.min(86_400.0))
            });
            tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.snapshots.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(wake.unwrap_or(idle)), if wake.is_some() => {}
                Some(r) = running.join_next(), if !running.is_empty() => {
                    if let Ok((d, done)) = r {
                        planner.done(&d.channel, &d.account, done.outcome);
                        self.finished(d, done).await;
                    }
                }
                Some(c) = commands.recv() => match c {
                    Command::Reset { channel, account, reply } => {
                        let events = planner.reset(channel.as_deref(), account.as_deref(), self.clock.now());
                        let keys = events.iter().map(|e| (e.channel.clone(), e.account.clone())).collect();
                        for e in events {
                            self.emit(e).await;
                        }
                        let _ = reply.send(keys);
                    }
                },
                r = self.settings.changed(), if settings_open => {
                    // No reloads (the sender is gone): the settings stay.
                    if r.is_err() { settings_open = false; continue }
                    settings = self.settings.borrow_and_update().clone();
                    planner.retune(settings.config.clone());
                }
            }
        }
        running.abort_all();
        if let Some((latest, task)) = keeper {
            drop(latest);
            let _ = task.await;
        }
    }

    async fn launch(
        &self,
        d: Decision,
        snap: &Snapshot,
        settings: &Settings,
        planner: &mut Planner,
        running: &mut Running,
    ) {
        if d.dry_run {
            tracing::info!(channel = %d.channel, account = %d.account, action = d.action.as_str(), rule = d.rule, "Recovery (dry run) would restart: {}.", d.why);
            let done = act::Done {
                outcome: Outcome::DryRun,
                detail: serde_json::json!({"dry_run": true}),
                error: None,
                duration: 0.0,
            };
            planner.done(&d.channel, &d.account, done.outcome);
            self.finished(d, done).await;
            return;
        }
        tracing::info!(channel = %d.channel, account = %d.account, action = d.action.as_str(), rule = d.rule, attempt = d.attempt, "Recovery restarts: {}.", d.why);
        // The gateway restarting counts every account's next start as ours.
        let keys: Vec<(String, String)> = if d.channel.is_empty() {
            snap.accounts
                .iter()
                .map(|a| (a.channel.clone(), a.account.clone()))
                .collect()
        } else {
            vec![(d.channel.clone(), d.account.clone())]
        };
        let until = d.at + d.timeout.as_secs_f64() + 120.0;
        let _ = self
            .observations
            .send(Observation::RecoveryBegins { keys, until })
            .await;
        let (gw, clock) = (settings.gateway.clone(), self.clock.clone());
        running.spawn(async move {
            let done = match d.action {
                Action::Rpc => {
                    let mut gw = gw;
                    gw.rpc_timeout = d.timeout;
                    act::rpc(&gw, &clock, &d.channel, &d.account).await
                }
                Action::Command => {
                    let attempt = d.attempt.to_string();
                    let env = [
                        ("CLAWWATCH_CHANNEL", d.channel.as_str()),
                        ("CLAWWATCH_ACCOUNT", d.account.as_str()),
                        ("CLAWWATCH_RULE", d.rule),
                        ("CLAWWATCH_ATTEMPT", attempt.as_str()),
                    ];
                    act::command(&d.argv, &env, d.timeout, &clock).await
                }
            };
            (d, done)
        });
    }

    async fn finished(&self, d: Decision, done: act::Done) {
        match done.outcome {
            Outcome::Ok | Outcome::DryRun => {
                tracing::info!(channel = %d.channel, account = %d.account, action = d.action.as_str(), result = done.outcome.as_str(), "Recovery action done.")
            }
            _ => {
                tracing::warn!(channel = %d.channel, account = %d.account, action = d.action.as_str(), result = done.outcome.as_str(), "Recovery action failed: {}", done.error.as_deref().unwrap_or(""))
            }
        }
        let e = Event {
            at: d.at,
            channel: d.channel,
            account: d.account,
            what: What::Action {
                action: d.action,
                outcome: done.outcome,
                rule: d.rule,
                why: d.why,
                attempt: d.attempt,
                attempts_this_hour: d.attempts_this_hour,
                budget_per_hour: d.budget_per_hour,
                next_attempt_at: d.next_attempt_at,
                duration: done.duration,
                detail: done.detail,
                error: done.error,
            },
        };
        self.emit(e).await;
    }

    /// History, metrics and the event stream (through the state writer),
    /// and a notice.
    async fn emit(&self, e: Event) {
        if let Some(a) = notice(&e) {
            let id = format!(
                "recovery:{}/{}@{}",
                e.channel,
                e.account,
                (e.at * 1000.0) as i64
            );
            let _ = self
                .alerting
                .send(AlertCommand::Notice(Box::new(a), id))
                .await;
        }
        if let What::Exhausted {
            attempts_this_hour,
            budget_per_hour,
        } = &e.what
        {
            tracing::warn!(channel = %e.channel, account = %e.account, attempts_this_hour, budget_per_hour, "Recovery budget spent: no more restarts until 5 minutes connected or `clawwatch recovery reset`.");
        }
        let _ = self
            .observations
            .send(Observation::RecoveryEvent(Box::new(e)))
            .await;
    }
}

fn who(e: &Event) -> String {
    if e.channel.is_empty() {
        "the gateway".into()
    } else {
        format!("{} account {}", e.channel, e.account)
    }
}

/// The notice of an action or an exhaustion (none for a reset).
pub fn notice(e: &Event) -> Option<Alert> {
    let who = who(e);
    let (name, severity, summary, description, fix) = match &e.what {
        What::Action { action, outcome, rule, why, attempt, attempts_this_hour, budget_per_hour, next_attempt_at, error, .. } => {
            let how = match action {
                Action::Rpc => "channels.stop + channels.start",
                Action::Command => "recovery.command",
            };
            let summary = match outcome {
                Outcome::Ok => format!("clawwatch restarted {who}"),
                Outcome::DryRun => format!("clawwatch would restart {who} (dry run)"),
                Outcome::Failed => format!("clawwatch could not restart {who}"),
                Outcome::Timeout => format!("clawwatch's restart of {who} timed out"),
            };
            let next = next_attempt_at
                .map(|t| format!(" Next attempt at {} if it is still down.", rfc3339(t)))
                .unwrap_or_else(|| " That was the last one the budget allows this hour.".into());
            let err = error.as_ref().map(|e| format!(" Error: {e}.")).unwrap_or_default();
            (
                "ClawwatchRecoveryAction",
                "warning",
                summary,
                format!("{why} (rule {rule}); action {attempt} of this outage by {how}, {attempts_this_hour} of {budget_per_hour} this hour.{err}{next}"),
                "Nothing, if it reconnects. `clawwatch recovery status` shows what follows; docs/recovery.md explains the rules.".to_string(),
            )
        }
        What::Exhausted { attempts_this_hour, budget_per_hour } => (
            "ClawwatchRecoveryExhausted",
            "critical",
            format!("clawwatch gave up restarting {who}"),
            format!("{attempts_this_hour} restarts in the last hour ({budget_per_hour} allowed) did not bring {who} back; clawwatch stops until it has been connected for 5 minutes or a person resets it."),
            format!(
                "Find why restarts do not help (`clawwatch history`, the gateway's log), fix it, then `clawwatch recovery reset {}`.",
                if e.channel.is_empty() { String::new() } else { format!("{}:{}", e.channel, e.account) }
            ),
        ),
        What::Reset { .. } => return None,
    };
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Some(Alert {
        name,
        severity,
        channel: opt(&e.channel),
        account: opt(&e.account),
        integration: None,
        active_since: e.at,
        summary,
        description,
        fix,
        runbook: "docs/recovery.md".into(),
    })
}
