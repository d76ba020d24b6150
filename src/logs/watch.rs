//! The live log source of `clawwatch run`: a thread that follows the files
//! with [`Tailer`], counts into metrics, publishes rule matches as events,
//! and hands state-changing matches to the state task.

use super::parse::{Line, KNOWN_CHANNELS};
use super::rules::{Effect, RuleSet};
use super::scan::{Counters, Scanner};
use super::tail::{restore, Tailer};
use crate::clock::Clock;
use crate::metrics::{LevelLabels, Metrics, RotationLabels, RuleLabels};
use crate::observation::{LogEffect, LogHit, Observation};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How to follow the logs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Paths or globs.
    pub patterns: Vec<String>,
    /// Checkpoint directory.
    pub state_dir: Option<PathBuf>,
    /// Longest wait between passes.
    pub poll: Duration,
    /// Longest line matched whole.
    pub max_line_bytes: usize,
    /// Descriptors held at most.
    pub max_open_files: usize,
    /// Rules.
    pub rules: RuleSet,
    /// Counts the settings a reload sent; the thread reports the one its
    /// last pass used, so that a reload can wait for it.
    pub generation: u64,
}

/// The settings a reload sends, and where the thread says which
/// generation its last pass used.
#[derive(Debug)]
pub struct Live<'a> {
    /// The settings, new ones from each reload.
    pub settings: watch::Receiver<Settings>,
    /// The generation the last pass used.
    pub applied: &'a watch::Sender<u64>,
}

/// The gateway's channel ids (empty until the first poll: then OpenClaw's list).
pub type Known = watch::Receiver<Vec<String>>;

fn known_fn(known: Known) -> Box<dyn Fn(&str) -> bool + Send + Sync> {
    Box::new(move |c: &str| {
        let k = known.borrow();
        if k.is_empty() {
            KNOWN_CHANNELS.contains(&c)
        } else {
            k.iter().any(|x| x == c)
        }
    })
}

/// Runs until cancelled (call on a thread of its own: file reads block).
pub fn run(
    live: Live<'_>,
    metrics: Metrics,
    known: Known,
    tx: mpsc::Sender<Observation>,
    events: broadcast::Sender<Arc<str>>,
    clock: Clock,
    cancel: CancellationToken,
) {
    let Live {
        settings: mut live,
        applied,
    } = live;
    // Without paths (a reload may add some), nothing is read or exported.
    loop {
        let s = live.borrow_and_update();
        if !s.patterns.is_empty() {
            break;
        }
        applied.send_replace(s.generation);
        drop(s);
        if cancel.is_cancelled() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Settings {
        mut patterns,
        state_dir,
        mut poll,
        max_line_bytes,
        max_open_files,
        rules,
        generation,
    } = live.borrow().clone();
    let mut ack = Some(generation);
    if let Some(d) = &state_dir {
        let _ = std::fs::create_dir_all(d);
    }
    let (mut tailer, cp) = Tailer::new(patterns.clone(), state_dir.as_deref(), max_line_bytes);
    tailer.set_max_open(max_open_files);
    let mut scanner = Scanner::new(rules, known_fn(known));
    let mut counters = cp
        .as_ref()
        .map(|c| restore(c, &scanner))
        .unwrap_or_default();
    let mut exported = Counters::default();
    let mut rotations_exported = std::collections::BTreeMap::<&'static str, u64>::new();
    for r in &scanner.rules.rules {
        let _ = metrics.log_matches.get_or_create(&RuleLabels {
            rule: r.name.clone(),
            channel: String::new(),
        });
    }
    for k in ["rename", "truncate", "new_file"] {
        let _ = metrics
            .log_rotations
            .get_or_create(&RotationLabels { kind: k });
    }
    tracing::info!(patterns = ?patterns, resumed = cp.is_some(), "Following the gateway's logs.");
    let mut saved_once = false;
    let mut save_failed = false;
    let mut notifier = notify(&patterns);
    let mut last_watch_try = clock.instant();
    while !cancel.is_cancelled() {
        if live.has_changed().unwrap_or(false) {
            let new = live.borrow_and_update().clone();
            if new.patterns != patterns {
                tailer.set_patterns(&new.patterns);
                notifier = notify(&new.patterns);
                patterns = new.patterns;
            }
            tailer.set_max_open(new.max_open_files);
            tailer.set_max_line_bytes(new.max_line_bytes);
            poll = new.poll;
            counters = remap(&counters, &scanner.rules, &new.rules);
            exported = remap(&exported, &scanner.rules, &new.rules);
            for r in &new.rules.rules {
                let _ = metrics.log_matches.get_or_create(&RuleLabels {
                    rule: r.name.clone(),
                    channel: String::new(),
                });
            }
            scanner.rules = new.rules;
            ack = Some(new.generation);
            tracing::info!(patterns = ?patterns, rules = scanner.rules.rules.len(), "Log settings reloaded; files still matched keep their offsets.");
        }
        let started = clock.instant();
        let mut hits: Vec<LogHit> = Vec::new();
        let publish = events.receiver_count() > 0;
        let mut on_line = |s: &mut Scanner, bytes: &[u8], c: &mut Counters| {
            s.line(bytes, c, |rules, hit, line| {
                let rule = &rules.rules[hit.rule];
                if publish {
                    let _ = events.send(match_event(
                        &rule.name,
                        hit.channel.as_deref(),
                        hit.account.as_deref(),
                        line,
                        clock.now(),
                    ));
                }
                let Some(channel) = hit.channel.clone() else {
                    return;
                };
                let effect = match &rule.effect {
                    Effect::Reconnect
                        if channel == "discord"
                            && contains_ci(&line.message, b"reconnect scheduled") =>
                    {
                        Some(LogEffect::Reconnect)
                    }
                    Effect::State(..) | Effect::DiscordClose => rules
                        .state_of(hit, line)
                        .map(|(s, r)| LogEffect::State(s, r)),
                    _ => None,
                };
                if let Some(effect) = effect {
                    hits.push(LogHit {
                        rule: rule.name.clone(),
                        channel,
                        account: hit.account.clone(),
                        effect,
                    });
                }
            });
        };
        let pass = tailer.pass(&mut scanner, &mut counters, &mut on_line);
        if let Some(g) = ack.take() {
            applied.send_replace(g);
        }
        export(&metrics, &scanner, &counters, &mut exported);
        for (k, v) in &tailer.rotations {
            let before = rotations_exported.insert(k, *v).unwrap_or(0);
            if *v > before {
                metrics
                    .log_rotations
                    .get_or_create(&RotationLabels { kind: k })
                    .inc_by(*v - before);
            }
        }
        metrics.log_lag.set(pass.lag_bytes as i64);
        metrics.log_files_open.set(tailer.open_files() as i64);
        // The first pass is saved too: a restart right after it resumes
        // from these offsets instead of skipping what came meanwhile.
        if pass.read || !pass.rotations.is_empty() || !saved_once {
            saved_once = true;
            match tailer.save(&scanner, &counters) {
                Ok(()) => save_failed = false,
                Err(e) if !save_failed => {
                    tracing::warn!(error = %e, "Cannot save the log checkpoint; a restart may count lines twice.");
                    save_failed = true;
                }
                Err(_) => {}
            }
            let disconnects = counters
                .matches
                .iter()
                .filter(|((rule, ch), _)| {
                    scanner.rules.rules[*rule].name == "disconnect" && !ch.is_empty()
                })
                .map(|((_, ch), n)| (ch.clone(), *n))
                .collect();
            if tx
                .blocking_send(Observation::Logs { hits, disconnects })
                .is_err()
            {
                return;
            }
        }
        if notifier.is_none() && clock.instant() - last_watch_try > Duration::from_secs(5) {
            notifier = notify(&patterns);
            last_watch_try = clock.instant();
        }
        // Listing costs a stat per file: space passes so that listings
        // take at most 5% of a core, whatever the number of files. A
        // change is read at once while that costs little: a rotation by
        // copytruncate leaves a window in which lines can be seen twice.
        let spacing = pass.listing * 20;
        let gap = poll.max(spacing);
        match &notifier {
            // A change wakes us; with no change, a listing every second
            // or so (2.5% of a core at most) catches what the watch
            // cannot see.
            Some(rx) => {
                let idle = (gap * 2).max(Duration::from_secs(1));
                // In slices of `poll`, so that a cancel is seen soon.
                loop {
                    let left = idle.saturating_sub(clock.instant() - started);
                    if left.is_zero()
                        || cancel.is_cancelled()
                        || live.has_changed().unwrap_or(false)
                    {
                        break;
                    }
                    match rx.recv_timeout(left.min(poll)) {
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            notifier = None;
                            break;
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Ok(()) => {
                            let since = clock.instant() - started;
                            std::thread::sleep(spacing.saturating_sub(since));
                            while rx.try_recv().is_ok() {}
                            break;
                        }
                    }
                }
            }
            None => {
                // In slices, so that a reload is seen soon.
                while !cancel.is_cancelled() && !live.has_changed().unwrap_or(false) {
                    let left = gap.saturating_sub(clock.instant() - started);
                    if left.is_zero() {
                        break;
                    }
                    std::thread::sleep(left.min(Duration::from_millis(100)));
                }
            }
        }
    }
    let _ = tailer.save(&scanner, &counters);
}

/// Counts keyed by rule index, moved to the indices of `new` by rule name;
/// a rule that is gone takes its counts with it.
fn remap(c: &Counters, old: &RuleSet, new: &RuleSet) -> Counters {
    let index: std::collections::HashMap<&str, usize> = new
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    let mut out = Counters {
        matches: Default::default(),
        ..c.clone()
    };
    for ((i, ch), n) in &c.matches {
        if let Some(j) = old.rules.get(*i).and_then(|r| index.get(r.name.as_str())) {
            out.matches.insert((*j, ch.clone()), *n);
        }
    }
    out
}

/// Wakes the log thread when a watched directory changes (inotify). `None`
/// when no directory can be watched yet: then polling alone serves.
fn notify(patterns: &[String]) -> Option<std::sync::mpsc::Receiver<()>> {
    use inotify::{Inotify, WatchMask};
    let mut ino = Inotify::init().ok()?;
    let mask = WatchMask::MODIFY
        | WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::CLOSE_WRITE;
    let mut watched = 0;
    for p in patterns {
        let dir = std::path::Path::new(p)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if ino.watches().add(dir, mask).is_ok() {
            watched += 1;
        }
    }
    if watched == 0 {
        return None;
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("clawwatch-inotify".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            while ino.read_events_blocking(&mut buf).is_ok() {
                if let Err(std::sync::mpsc::TrySendError::Disconnected(_)) = tx.try_send(()) {
                    return;
                }
            }
        });
    spawned.ok().map(|_| rx)
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn export(m: &Metrics, scanner: &Scanner, c: &Counters, done: &mut Counters) {
    for l in super::parse::Level::ALL {
        let (now, before) = (c.lines[l.index()], done.lines[l.index()]);
        if now > before {
            m.log_lines
                .get_or_create(&LevelLabels { level: l.as_str() })
                .inc_by(now - before);
        }
    }
    done.lines = c.lines;
    if c.long_lines > done.long_lines {
        m.log_long_lines.inc_by(c.long_lines - done.long_lines);
        done.long_lines = c.long_lines;
    }
    for (k, n) in &c.matches {
        let before = done.matches.get(k).copied().unwrap_or(0);
        if *n > before {
            let rule = scanner.rules.rules[k.0].name.clone();
            m.log_matches
                .get_or_create(&RuleLabels {
                    rule,
                    channel: k.1.clone(),
                })
                .inc_by(*n - before);
            done.matches.insert(k.clone(), *n);
        }
    }
}

fn match_event(
    rule: &str,
    channel: Option<&str>,
    account: Option<&str>,
    line: &Line<'_>,
    now: crate::clock::Ts,
) -> Arc<str> {
    let text = String::from_utf8_lossy(&line.message);
    let text: String = crate::redact::redact(&text).chars().take(300).collect();
    serde_json::json!({
        "kind": "match", "at": crate::clock::rfc3339(now), "rule": rule,
        "channel": channel, "account": account, "level": line.level.as_str(), "message": text,
    })
    .to_string()
    .into()
}
