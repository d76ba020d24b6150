//! Supervision: a task that panics is logged, counted in
//! `clawwatch_task_panics_total{task}`, marked down (a core task down turns
//! `/healthz` to 503) and restarted after a backoff of 1 s, x2, up to 30 s.

use crate::clock::{Clock, Ts};
use crate::metrics::{Exposition, Metrics, TaskLabels, TASKS};
use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First wait before a restart.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait before a restart.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A task that ran this long without a panic starts again at the first wait.
const HEALTHY_AFTER: Duration = Duration::from_secs(300);

/// Whether `task` is core: `/healthz` fails while it is down.
pub fn is_core(task: &str) -> bool {
    TASKS[..4].contains(&task)
}

#[derive(Debug, Default)]
struct Inner {
    down: BTreeMap<&'static str, Ts>,
    last_panic: BTreeMap<&'static str, (u64, Ts)>,
}

/// Which tasks are down now and when each last panicked; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<Inner>>);

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the health report with it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Core tasks down now, by name.
    pub fn core_down(&self) -> Vec<&'static str> {
        self.lock()
            .down
            .keys()
            .copied()
            .filter(|t| is_core(t))
            .collect()
    }

    /// Each task that panicked: how often and when last.
    pub fn panics(&self) -> BTreeMap<&'static str, (u64, Ts)> {
        self.lock().last_panic.clone()
    }

    fn set_down(&self, task: &'static str, at: Ts) {
        let mut g = self.lock();
        g.down.insert(task, at);
        let e = g.last_panic.entry(task).or_insert((0, at));
        e.0 += 1;
        e.1 = at;
    }

    fn set_up(&self, task: &'static str) {
        self.lock().down.remove(task);
    }
}

/// What a supervisor needs.
#[derive(Debug, Clone)]
pub struct Supervisor {
    /// Where down tasks are reported.
    pub health: Health,
    /// For `clawwatch_task_panics_total`.
    pub metrics: Metrics,
    /// To publish the count.
    pub exposition: Arc<Exposition>,
    /// The clock.
    pub clock: Clock,
    /// Ends the waits.
    pub cancel: CancellationToken,
}

/// The text of a panic's payload.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// Backoff after the `n`th panic in a row (1-based).
pub fn backoff(n: u32) -> Duration {
    BACKOFF_INITIAL
        .saturating_mul(1u32 << n.saturating_sub(1).min(5))
        .min(BACKOFF_MAX)
}

/// Counts panics in a row; a task that ran [`HEALTHY_AFTER`] without one
/// starts again at the first wait.
#[derive(Debug, Default)]
pub struct Streak {
    n: u32,
    last: Option<Ts>,
}

impl Supervisor {
    /// Records a panic of `task`; returns how long to wait before the restart.
    pub fn panicked(&self, task: &'static str, msg: &str, streak: &mut Streak) -> Duration {
        let now = self.clock.now();
        if streak
            .last
            .is_some_and(|l| now - l >= HEALTHY_AFTER.as_secs_f64())
        {
            streak.n = 0;
        }
        streak.n += 1;
        streak.last = Some(now);
        let wait = backoff(streak.n);
        self.health.set_down(task, now);
        self.metrics
            .task_panics
            .get_or_create(&TaskLabels { task })
            .inc();
        self.exposition.touch();
        self.exposition.schedule();
        tracing::error!(
            task,
            panic = msg,
            restart_in_s = wait.as_secs_f64(),
            "A task panicked; it restarts after the wait."
        );
        wait
    }

    /// Reports `task` up again.
    pub fn restarted(&self, task: &'static str) {
        self.health.set_up(task);
        tracing::info!(task, "The task restarted.");
    }

    /// Runs `make(settings, token)` again each time it panics (after a
    /// backoff), until it returns or the supervisor is cancelled. `make`
    /// builds the task afresh from what it shares with the rest, as a
    /// process restart would. When a reload changes the settings, the task
    /// is cancelled (its own token), given a few seconds to finish, and
    /// built again from them.
    pub async fn run_watched<S, F, Fut>(
        self,
        task: &'static str,
        mut settings: tokio::sync::watch::Receiver<S>,
        mut make: F,
    ) where
        S: Clone + Send + Sync + 'static,
        F: FnMut(S, CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut streak = Streak::default();
        loop {
            let s = settings.borrow_and_update().clone();
            let own = self.cancel.child_token();
            let mut handle = tokio::spawn(make(s, own.clone()));
            let ended = tokio::select! {
                r = &mut handle => Some(r),
                // A dropped sender changes nothing.
                _ = async {
                    if settings.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                } => {
                    own.cancel();
                    if tokio::time::timeout(Duration::from_secs(5), &mut handle).await.is_err() {
                        handle.abort();
                    }
                    None
                }
            };
            let Some(r) = ended else {
                tracing::info!(task, "Settings changed; the task starts again with them.");
                continue;
            };
            let Err(e) = r else { return };
            if !e.is_panic() {
                return;
            }
            let wait = self.panicked(task, &panic_message(&*e.into_panic()), &mut streak);
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            self.restarted(task);
        }
    }

    /// [`Supervisor::run_watched`] for a task on a thread of its own, whose
    /// body reads its settings itself.
    pub fn run_blocking<F>(self, task: &'static str, mut body: F)
    where
        F: FnMut(),
    {
        let mut streak = Streak::default();
        loop {
            let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(&mut body)) else {
                return;
            };
            let wait = self.panicked(task, &panic_message(&*p), &mut streak);
            let step = Duration::from_millis(100);
            for _ in 0..(wait.as_millis() / step.as_millis()).max(1) {
                if self.cancel.is_cancelled() {
                    return;
                }
                std::thread::sleep(step);
            }
            self.restarted(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_thirty() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn core_tasks_are_the_four_the_health_check_names() {
        let core: Vec<&str> = TASKS.iter().copied().filter(|t| is_core(t)).collect();
        assert_eq!(core, ["gateway", "state", "logs", "delivery"]);
    }
}
