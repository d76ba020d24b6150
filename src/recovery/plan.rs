//! When to act: a pure planner over the accounts' states and the clock.
//! Per account it keeps the outage's start, the actions of the last hour,
//! the backoff and whether the budget is spent; [`Planner::step`] says
//! which actions are due now and why, and what it holds back and why.

use super::record::{Action, Event, Last, Outcome, Status, Table, View, What};
use crate::clock::Ts;
use crate::config::{RecoveryConfig, RecoveryPolicy};
use crate::model::{Reason, State};
use crate::state::AccountView;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Connected this long clears the budget, the backoff and exhaustion.
pub const HEALTHY_RESET: f64 = 300.0;
/// After the gateway restarted an account itself, leave it alone this long
/// (its health monitor's cool-down: two 300 s cycles).
pub const GATEWAY_COOLDOWN: f64 = 600.0;
const HOUR: f64 = 3600.0;
/// Time arithmetic on the fake clock may land a hair before a due time.
const EPS: f64 = 1e-6;

/// What the planner reads of the world.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Every watched account.
    pub accounts: &'a [AccountView],
    /// The last `channels.status` poll answered.
    pub gateway_up: bool,
    /// The gateway does not answer at all (connect, timeout, closed).
    pub gateway_unreachable: bool,
    /// A poll was applied since the start.
    pub polled: bool,
}

/// An action to run now.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Channel id (empty: the gateway).
    pub channel: String,
    /// Account id (empty: the gateway).
    pub account: String,
    /// How.
    pub action: Action,
    /// The argv, placeholders replaced (for [`Action::Command`]).
    pub argv: Vec<String>,
    /// How long it may take.
    pub timeout: Duration,
    /// Record, do not act.
    pub dry_run: bool,
    /// Which rule decided.
    pub rule: &'static str,
    /// That rule in words.
    pub why: String,
    /// The nth action of this outage.
    pub attempt: u32,
    /// Actions in the last hour, this one included.
    pub attempts_this_hour: u32,
    /// The budget.
    pub budget_per_hour: u32,
    /// When the next one would be due if this one does not help.
    pub next_attempt_at: Option<Ts>,
    /// When it was decided.
    pub at: Ts,
}

#[derive(Debug, Clone, Default)]
struct Acct {
    down_since: Option<Ts>,
    connected_since: Option<Ts>,
    actions: VecDeque<Ts>,
    attempt: u32,
    last_at: Option<Ts>,
    wait: f64,
    exhausted: bool,
    in_flight: bool,
    last: Option<Last>,
    gateway_restarts: Option<u64>,
    gateway_restart_at: Option<Ts>,
    view: Option<View>,
    seen: bool,
}

/// `recovery.json`: each account's budget and backoff, so that a restart
/// of clawwatch does not hand out a fresh budget. Versioned.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Kept {
    /// Always 1.
    pub version: u32,
    /// Accounts with actions in the last hour, or exhausted.
    pub accounts: Vec<KeptAccount>,
}

/// One account in [`Kept`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub struct KeptAccount {
    pub channel: String,
    pub account: String,
    /// When each action of the last hour ran.
    pub actions: Vec<Ts>,
    /// Actions in this outage.
    pub attempt: u32,
    pub last_at: Option<Ts>,
    /// The wait drawn after the last action, seconds.
    pub wait: f64,
    pub exhausted: bool,
}

/// The planner; one per sidecar.
#[derive(Debug)]
pub struct Planner {
    cfg: RecoveryConfig,
    accts: BTreeMap<(String, String), Acct>,
    rng: rand::rngs::StdRng,
}

/// Reasons a restart cannot fix: a person must act.
fn needs_person(r: Option<Reason>) -> bool {
    matches!(
        r,
        Some(
            Reason::NotLinked
                | Reason::LoggedOut
                | Reason::Conflict
                | Reason::AuthFailed
                | Reason::DisallowedIntents
                | Reason::Protocol
        )
    )
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn human(s: f64) -> String {
    humantime::format_duration(Duration::from_secs(s.max(0.0).round() as u64)).to_string()
}

/// The wait after the nth action (n >= 1), before jitter.
pub fn backoff(p: &RecoveryPolicy, n: u32) -> f64 {
    let base = secs(p.backoff_initial) * 2f64.powi(n.saturating_sub(1).min(60) as i32);
    base.min(secs(p.backoff_max))
}

/// An argv with `{channel}` and `{account}` replaced; each stays one argument.
pub fn argv(template: &[String], channel: &str, account: &str) -> Vec<String> {
    template
        .iter()
        .map(|a| {
            a.replace("{channel}", channel)
                .replace("{account}", account)
        })
        .collect()
}

impl Planner {
    /// A planner on `cfg`; `seed` fixes the jitter (tests).
    pub fn new(cfg: RecoveryConfig, seed: Option<u64>) -> Planner {
        let rng = match seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_os_rng(),
        };
        Planner {
            cfg,
            accts: BTreeMap::new(),
            rng,
        }
    }

    /// New settings (a reload); budgets and backoff stay.
    pub fn retune(&mut self, cfg: RecoveryConfig) {
        self.cfg = cfg;
    }

    /// The settings.
    pub fn config(&self) -> &RecoveryConfig {
        &self.cfg
    }

    fn jittered(&mut self, p: &RecoveryPolicy, n: u32) -> f64 {
        let w = backoff(p, n);
        if p.jitter > 0.0 {
            w * self.rng.random_range(1.0 - p.jitter..=1.0 + p.jitter)
        } else {
            w
        }
    }

    /// Looks at the world at `now`: the actions due, and what happened
    /// (exhaustion, resets after 5 min connected).
    pub fn step(&mut self, input: Input<'_>, now: Ts) -> (Vec<Decision>, Vec<Event>) {
        let mut due = Vec::new();
        let mut events = Vec::new();
        // Accounts are known after the first poll; until then what a
        // restart kept waits for them.
        if input.polled {
            for a in self.accts.values_mut() {
                a.seen = false;
            }
            for v in input.accounts {
                let key = (v.channel.clone(), v.account.clone());
                let p = self.cfg.policy(Some(&v.channel));
                let mut acct = self.accts.remove(&key).unwrap_or_default();
                acct.seen = true;
                // The gateway restarted it on its own (its counter moved).
                if let Some(seen) = acct.gateway_restarts {
                    if v.counts.restarts > seen {
                        acct.gateway_restart_at = Some(now);
                    }
                }
                acct.gateway_restarts = Some(v.counts.restarts);
                due.extend(self.account(&mut acct, &p, v, input, now, &mut events));
                self.accts.insert(key, acct);
            }
        }
        // The gateway itself.
        let key = (String::new(), String::new());
        let p = self.cfg.policy(None);
        let mut g = self.accts.remove(&key).unwrap_or_default();
        g.seen = true;
        due.extend(self.gateway(&mut g, &p, input, now, &mut events));
        self.accts.insert(key, g);
        if input.polled {
            self.accts.retain(|_, a| a.seen);
        }
        (due, events)
    }

    #[allow(clippy::too_many_arguments)]
    fn account(
        &mut self,
        a: &mut Acct,
        p: &RecoveryPolicy,
        v: &AccountView,
        input: Input<'_>,
        now: Ts,
        events: &mut Vec<Event>,
    ) -> Option<Decision> {
        let (ch, acct) = (v.channel.as_str(), v.account.as_str());
        prune(a, now);
        if !p.enabled {
            a.view = Some(view(
                a,
                p,
                Status::Disabled,
                "disabled",
                format!("recovery is off for {ch} (recovery.enabled)"),
                None,
            ));
            return None;
        }
        if v.state == State::Connected {
            a.down_since = None;
            if a.healthy_since(v.since.min(now), now) {
                events.push(reset_event(now, ch, acct, "connected"));
            }
            let (status, rule, why) = if a.exhausted {
                (
                    Status::Exhausted,
                    "budget_spent",
                    "connected again; the budget resets after 5 minutes connected".to_string(),
                )
            } else if a.attempt > 0 {
                (Status::Attempted, "connected", "connected again after an action; budget and backoff reset after 5 minutes connected".to_string())
            } else {
                (Status::NotAttempted, "connected", "connected".to_string())
            };
            a.view = Some(view(a, p, status, rule, why, None));
            return None;
        }
        a.connected_since = None;
        let down_since = *a.down_since.get_or_insert(v.since.min(now));
        let idle = if a.attempt > 0 {
            Status::Attempted
        } else {
            Status::NotAttempted
        };
        let reason = v.reason.map(|r| r.as_str()).unwrap_or("unknown");
        let hold = |a: &mut Acct, status, rule, why: String| {
            a.view = Some(view(a, p, status, rule, why, None));
            None
        };
        if a.exhausted {
            let why = format!("{} actions in the last hour spent the budget ({}); no more until 5 minutes connected or `clawwatch recovery reset {ch}:{acct}`", a.attempts(), p.budget_per_hour);
            return hold(a, Status::Exhausted, "budget_spent", why);
        }
        if v.state == State::AuthRequired {
            return hold(a, Status::Disabled, "auth_required", format!("auth_required ({reason}): a restart cannot fix it, a person must re-authenticate"));
        }
        if v.terminal || needs_person(v.reason) {
            return hold(a, Status::Disabled, "terminal", format!("{} ({reason}) is terminal: the gateway will not retry and a restart would fail the same way", v.state));
        }
        if a.in_flight {
            return hold(a, idle, "in_flight", "an action is running".into());
        }
        if !input.gateway_up {
            return hold(
                a,
                idle,
                "gateway_unreachable",
                "the gateway does not answer; accounts are not restarted until it does".into(),
            );
        }
        if v.state == State::Connecting {
            return hold(
                a,
                idle,
                "connecting",
                "connecting; waiting for the outcome".into(),
            );
        }
        let gave_up = v.recovery_exhausted;
        if !gave_up && v.restart_pending {
            return hold(
                a,
                idle,
                "gateway_restart_pending",
                "the gateway has its own restart pending".into(),
            );
        }
        if let Some(t) = a
            .gateway_restart_at
            .filter(|t| !gave_up && now - t < GATEWAY_COOLDOWN)
        {
            return hold(
                a,
                idle,
                "gateway_cooldown",
                format!(
                    "the gateway restarted it at {}; clawwatch waits its cool-down ({})",
                    crate::clock::rfc3339(t),
                    human(GATEWAY_COOLDOWN)
                ),
            );
        }
        let (rule, why) = if gave_up {
            (
                "gateway_gave_up",
                format!(
                    "the gateway gave up restarting it ({} attempts)",
                    v.reconnect_attempts
                ),
            )
        } else {
            (
                "down",
                format!(
                    "{} ({reason}) for {}, longer than recovery.after ({})",
                    v.state,
                    human(now - down_since),
                    human(secs(p.after))
                ),
            )
        };
        let at = a.due(down_since, p);
        if now + EPS < at {
            let why = if gave_up {
                why
            } else {
                format!(
                    "{} ({reason}); first action after recovery.after ({})",
                    v.state,
                    human(secs(p.after))
                )
            };
            a.view = Some(view(a, p, Status::Waiting, rule, why, Some(at)));
            return None;
        }
        self.act(a, p, (ch, acct), rule, why, now, events)
    }

    fn gateway(
        &mut self,
        a: &mut Acct,
        p: &RecoveryPolicy,
        input: Input<'_>,
        now: Ts,
        events: &mut Vec<Event>,
    ) -> Option<Decision> {
        prune(a, now);
        if !p.enabled || p.command.is_empty() {
            let why = if p.enabled {
                "no recovery.command to restart the gateway with"
            } else {
                "recovery is off (recovery.enabled)"
            };
            a.view = Some(view(a, p, Status::Disabled, "disabled", why.into(), None));
            return None;
        }
        if !input.gateway_unreachable {
            a.down_since = None;
            if input.gateway_up && a.healthy_since(now, now) {
                events.push(reset_event(now, "", "", "connected"));
            }
            let status = if a.exhausted {
                Status::Exhausted
            } else if a.attempt > 0 {
                Status::Attempted
            } else {
                Status::NotAttempted
            };
            a.view = Some(view(
                a,
                p,
                status,
                "gateway_answers",
                "the gateway answers".into(),
                None,
            ));
            return None;
        }
        a.connected_since = None;
        let down_since = *a.down_since.get_or_insert(now);
        let idle = if a.attempt > 0 {
            Status::Attempted
        } else {
            Status::NotAttempted
        };
        if a.exhausted {
            a.view = Some(view(
                a,
                p,
                Status::Exhausted,
                "budget_spent",
                format!(
                    "{} restarts of the gateway in the last hour spent the budget ({})",
                    a.attempts(),
                    p.budget_per_hour
                ),
                None,
            ));
            return None;
        }
        if a.in_flight {
            a.view = Some(view(
                a,
                p,
                idle,
                "in_flight",
                "the command is running".into(),
                None,
            ));
            return None;
        }
        let why = format!(
            "the gateway has not answered for {}, longer than recovery.after ({})",
            human(now - down_since),
            human(secs(p.after))
        );
        let at = a.due(down_since, p);
        if now + EPS < at {
            a.view = Some(view(
                a,
                p,
                Status::Waiting,
                "gateway_down",
                "the gateway does not answer".into(),
                Some(at),
            ));
            return None;
        }
        let mut p = p.clone();
        p.action = "command".into();
        self.act(a, &p, ("", ""), "gateway_down", why, now, events)
    }

    #[allow(clippy::too_many_arguments)]
    fn act(
        &mut self,
        a: &mut Acct,
        p: &RecoveryPolicy,
        (ch, acct): (&str, &str),
        rule: &'static str,
        why: String,
        now: Ts,
        events: &mut Vec<Event>,
    ) -> Option<Decision> {
        if a.attempts() >= p.budget_per_hour {
            a.exhausted = true;
            events.push(Event {
                at: now,
                channel: ch.into(),
                account: acct.into(),
                what: What::Exhausted {
                    attempts_this_hour: a.attempts(),
                    budget_per_hour: p.budget_per_hour,
                },
            });
            let why = format!(
                "{} actions in the last hour spent the budget ({})",
                a.attempts(),
                p.budget_per_hour
            );
            a.view = Some(view(a, p, Status::Exhausted, "budget_spent", why, None));
            return None;
        }
        a.actions.push_back(now);
        a.attempt += 1;
        a.last_at = Some(now);
        a.wait = self.jittered(p, a.attempt);
        a.in_flight = true;
        let action = if p.action == "command" {
            Action::Command
        } else {
            Action::Rpc
        };
        a.last = Some(Last {
            at: now,
            action,
            outcome: None,
            rule,
        });
        let next = (a.attempts() < p.budget_per_hour).then_some(now + a.wait);
        a.view = Some(view(
            a,
            p,
            Status::Attempted,
            "in_flight",
            "an action is running".into(),
            None,
        ));
        Some(Decision {
            channel: ch.into(),
            account: acct.into(),
            action,
            argv: argv(&p.command, ch, acct),
            timeout: match action {
                Action::Rpc => p.rpc_timeout,
                Action::Command => p.command_timeout,
            },
            dry_run: p.dry_run,
            rule,
            why,
            attempt: a.attempt,
            attempts_this_hour: a.attempts(),
            budget_per_hour: p.budget_per_hour,
            next_attempt_at: next,
            at: now,
        })
    }

    /// An action ended.
    pub fn done(&mut self, channel: &str, account: &str, outcome: Outcome) {
        if let Some(a) = self
            .accts
            .get_mut(&(channel.to_string(), account.to_string()))
        {
            a.in_flight = false;
            if let Some(l) = &mut a.last {
                l.outcome = Some(outcome);
            }
        }
    }

    /// `clawwatch recovery reset`: clears the accounts that match (all when
    /// both are `None`; the gateway's own entry is channel `""`).
    pub fn reset(&mut self, channel: Option<&str>, account: Option<&str>, now: Ts) -> Vec<Event> {
        let mut out = Vec::new();
        for ((ch, acct), a) in self.accts.iter_mut() {
            if channel.is_some_and(|c| c != ch) || account.is_some_and(|x| x != acct) {
                continue;
            }
            if a.dirty() {
                clear(a);
                out.push(reset_event(now, ch, acct, "person"));
            }
        }
        out
    }

    /// What a restart of clawwatch must not forget.
    pub fn kept(&self) -> Kept {
        Kept {
            version: 1,
            accounts: self
                .accts
                .iter()
                .filter(|(_, a)| a.dirty())
                .map(|((ch, acct), a)| KeptAccount {
                    channel: ch.clone(),
                    account: acct.clone(),
                    actions: a.actions.iter().copied().collect(),
                    attempt: a.attempt,
                    last_at: a.last_at,
                    wait: a.wait,
                    exhausted: a.exhausted,
                })
                .collect(),
        }
    }

    /// Takes back what [`Planner::kept`] saved; times in the future or not
    /// numbers (a clock step, a hostile file) are dropped.
    pub fn restore(&mut self, k: Kept, now: Ts) {
        let sane = |t: Ts| t.is_finite() && t <= now && now - t < HOUR * 24.0;
        for x in k.accounts.into_iter().take(100_000) {
            let a = self.accts.entry((x.channel, x.account)).or_default();
            a.actions = x.actions.into_iter().filter(|t| sane(*t)).collect();
            a.actions.make_contiguous().sort_by(f64::total_cmp);
            a.attempt = x.attempt.min(1000);
            a.last_at = x.last_at.filter(|t| sane(*t));
            a.wait = if x.wait.is_finite() {
                x.wait.clamp(0.0, 86_400.0)
            } else {
                0.0
            };
            a.exhausted = x.exhausted;
            a.seen = true;
        }
    }

    /// When something is next due (an action, a reset, a cool-down's end).
    pub fn next_wake(&self) -> Option<Ts> {
        self.accts
            .values()
            .flat_map(|a| {
                let view_due = a.view.as_ref().and_then(|v| v.next_attempt_at);
                let reset = a
                    .connected_since
                    .filter(|_| a.dirty())
                    .map(|t| t + HEALTHY_RESET);
                let cool = a.gateway_restart_at.map(|t| t + GATEWAY_COOLDOWN);
                let hour = a.actions.front().map(|t| t + HOUR);
                [view_due, reset, cool, hour]
            })
            .flatten()
            .reduce(f64::min)
    }

    /// Every account's view now.
    pub fn table(&self) -> Table {
        Table {
            enabled: self.cfg.enabled
                || self.cfg.channels.values().any(|o| o.enabled == Some(true)),
            views: self
                .accts
                .iter()
                .filter_map(|(k, a)| Some((k.clone(), a.view.clone()?)))
                .collect(),
        }
    }
}

impl Acct {
    fn attempts(&self) -> u32 {
        self.actions.len() as u32
    }

    /// Something counted that a healthy stretch or a person clears.
    fn dirty(&self) -> bool {
        self.exhausted || self.attempt > 0 || !self.actions.is_empty()
    }

    /// Up since `since` (kept from the first call of this stretch); after
    /// [`HEALTHY_RESET`] of it, clears what was counted. True when it did.
    fn healthy_since(&mut self, since: Ts, now: Ts) -> bool {
        let since = *self.connected_since.get_or_insert(since);
        if self.dirty() && now - since + EPS >= HEALTHY_RESET {
            clear(self);
            return true;
        }
        false
    }

    /// When the next action is due in an outage that began at `down_since`.
    fn due(&self, down_since: Ts, p: &RecoveryPolicy) -> Ts {
        let first = down_since + secs(p.after);
        self.last_at
            .map_or(first, |last| first.max(last + self.wait))
    }
}

fn prune(a: &mut Acct, now: Ts) {
    while a.actions.front().is_some_and(|t| now - t >= HOUR) {
        a.actions.pop_front();
    }
}

fn clear(a: &mut Acct) {
    a.actions.clear();
    a.attempt = 0;
    a.last_at = None;
    a.wait = 0.0;
    a.exhausted = false;
}

fn reset_event(now: Ts, ch: &str, acct: &str, by: &'static str) -> Event {
    Event {
        at: now,
        channel: ch.into(),
        account: acct.into(),
        what: What::Reset { by },
    }
}

fn view(
    a: &Acct,
    p: &RecoveryPolicy,
    status: Status,
    rule: &'static str,
    why: String,
    next: Option<Ts>,
) -> View {
    View {
        status,
        action: if p.action == "command" {
            Action::Command
        } else {
            Action::Rpc
        },
        rule,
        why,
        attempts_this_hour: a.attempts(),
        budget_per_hour: p.budget_per_hour,
        next_attempt_at: next,
        last: a.last.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AccountView;

    fn down(since: Ts) -> AccountView {
        AccountView {
            reason: Some(Reason::Unknown),
            ..AccountView::new("telegram", "default", State::Disconnected, since)
        }
    }

    fn input(a: &[AccountView]) -> Input<'_> {
        Input {
            accounts: a,
            gateway_up: true,
            gateway_unreachable: false,
            polled: true,
        }
    }

    fn cfg(budget: u32) -> RecoveryConfig {
        RecoveryConfig {
            enabled: true,
            jitter: 0.0,
            budget_per_hour: budget,
            ..Default::default()
        }
    }

    /// Steps every second until `until`; the times of the actions.
    fn run(p: &mut Planner, a: &[AccountView], from: Ts, until: Ts) -> Vec<Ts> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= until {
            for d in p.step(input(a), t).0 {
                out.push(d.at);
                p.done(&d.channel, &d.account, Outcome::Ok);
            }
            t += 1.0;
        }
        out
    }

    #[test]
    fn a_restart_of_clawwatch_keeps_the_budget_and_drops_hostile_times() {
        let a = [down(0.0)];
        let mut p = Planner::new(cfg(2), Some(1));
        assert_eq!(run(&mut p, &a, 0.0, 100.0), [60.0, 65.0]);
        let kept = p.kept();
        assert!(kept.accounts[0].exhausted);
        let json = serde_json::to_string(&kept).unwrap();
        let mut q = Planner::new(cfg(2), Some(1));
        q.restore(serde_json::from_str(&json).unwrap(), 101.0);
        assert!(run(&mut q, &a, 101.0, 1000.0).is_empty(), "still exhausted");
        // Not exhausted yet, two actions kept: the budget of 3 has one left.
        let mut k = kept.clone();
        k.accounts[0].exhausted = false;
        k.accounts[0].actions.push(1e18);
        k.accounts[0].actions.push(f64::NAN);
        let mut r = Planner::new(cfg(3), Some(1));
        r.restore(k, 101.0);
        assert_eq!(r.kept().accounts[0].actions, [60.0, 65.0]);
        assert_eq!(run(&mut r, &a, 101.0, 1000.0), [101.0]);
    }

    #[test]
    fn the_wait_doubles_to_its_cap() {
        let p = cfg(12).policy(None);
        let w: Vec<f64> = (1..=9).map(|n| backoff(&p, n)).collect();
        assert_eq!(w, [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]);
        assert_eq!(backoff(&p, u32::MAX), 300.0);
    }

    #[test]
    fn placeholders_stay_one_argument() {
        let t = vec!["x".into(), "--ch={channel}".into(), "{account}".into()];
        assert_eq!(argv(&t, "a b;c", "$(id)"), ["x", "--ch=a b;c", "$(id)"]);
    }
}
