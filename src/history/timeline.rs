//! One account's states over a window, from its state changes in the store
//! and its current state: the segments of the status page's timeline and
//! the uptime (share of the known time spent `connected`). Pure.

use super::store::Change;
use crate::clock::Ts;
use crate::model::{Reason, State};
use std::collections::VecDeque;

/// A stretch of one state (`None`: nothing known).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start.
    pub from: Ts,
    /// End.
    pub to: Ts,
    /// The state, if known.
    pub state: Option<State>,
    /// Its reason.
    pub reason: Option<Reason>,
    /// State changes folded into it (1 for an exact segment).
    pub changes: u32,
}

/// The account's segments in `[t0, t1]`, exact: one per state change, with
/// unknown time before the first one known.
pub fn segments(
    changes: Option<&VecDeque<Change>>,
    current: (State, Option<Reason>, Ts),
    t0: Ts,
    t1: Ts,
) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut open: Option<(Ts, State, Option<Reason>)> = None;
    let close = |out: &mut Vec<Segment>, open: Option<(Ts, State, Option<Reason>)>, end: Ts| {
        if let Some((from, state, reason)) = open {
            if end > from {
                out.push(Segment {
                    from,
                    to: end,
                    state: Some(state),
                    reason,
                    changes: 1,
                });
            }
        }
    };
    if let Some(cs) = changes {
        let first = cs.partition_point(|c| c.at < t0);
        if first > 0 {
            let c = cs[first - 1];
            open = Some((t0, c.to, c.reason));
        }
        for c in cs.range(first..) {
            if c.at > t1 {
                break;
            }
            close(&mut out, open, c.at);
            open = Some((c.at, c.to, c.reason));
        }
    }
    // The current state is the truth from its `since` on: it covers a
    // change the store never saw (a trimmed history, a first start).
    let (state, reason, since) = current;
    let since = since.clamp(t0, t1);
    match open {
        Some((from, s, r)) if since > from && (s, r) != (state, reason) => {
            close(&mut out, open, since);
            open = Some((since, state, reason));
        }
        Some((from, _, _)) => open = Some((from, state, reason)),
        None => open = Some((since, state, reason)),
    }
    close(&mut out, open, t1);
    out
}

/// Share of the known time in `[t0, ..]` that was `connected`, and the
/// known seconds.
pub fn uptime(segs: &[Segment], t0: Ts) -> Option<(f64, f64)> {
    let (mut up, mut known) = (0.0, 0.0);
    let first = segs.partition_point(|s| s.to <= t0);
    for s in &segs[first..] {
        if let Some(st) = s.state {
            let d = s.to - s.from.max(t0);
            known += d;
            if st == State::Connected {
                up += d;
            }
        }
    }
    (known > 0.0).then(|| (up / known, known))
}

/// The segments from `t0` on, the first one cut at `t0`.
pub fn clip(segs: &[Segment], t0: Ts) -> Vec<Segment> {
    let first = segs.partition_point(|s| s.to <= t0);
    let mut out = segs[first..].to_vec();
    if let Some(s) = out.first_mut() {
        s.from = s.from.max(t0);
    }
    out
}

/// At most `max` segments: when there are more, the window is cut into
/// `max` equal buckets, each takes the worst state it saw, and neighbours
/// with the same worst state merge.
pub fn coalesce(segs: &[Segment], max: usize, t0: Ts, t1: Ts) -> Vec<Segment> {
    let segs = &segs[segs.partition_point(|s| s.to <= t0)..];
    if segs.len() <= max || max == 0 || t1 <= t0 {
        return clip(segs, t0);
    }
    let w = (t1 - t0) / max as f64;
    let mut out: Vec<Segment> = Vec::new();
    let mut i = 0usize;
    for b in 0..max {
        let (b0, b1) = (t0 + w * b as f64, t0 + w * (b + 1) as f64);
        let mut worst: Option<(State, Option<Reason>)> = None;
        let mut changes = 0u32;
        let mut j = i;
        while j < segs.len() && segs[j].from < b1 {
            let s = segs[j];
            if s.to > b0 {
                if s.from >= b0 {
                    changes += 1;
                }
                if let Some(st) = s.state {
                    if worst.is_none_or(|(w, _)| st > w) {
                        worst = Some((st, s.reason));
                    }
                }
            }
            j += 1;
        }
        // The segment reaching into the next bucket is looked at again there.
        while i < segs.len() && segs[i].to <= b1 {
            i += 1;
        }
        let state = worst.map(|w| w.0);
        let reason = worst.and_then(|w| w.1);
        match out.last_mut() {
            Some(l) if l.state == state => {
                l.to = b1;
                l.changes += changes;
                if l.reason.is_none() {
                    l.reason = reason;
                }
            }
            _ => out.push(Segment {
                from: b0,
                to: b1,
                state,
                reason,
                changes,
            }),
        }
    }
    out.retain(|s| s.state.is_some());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(id: u64, at: Ts, to: State) -> Change {
        Change {
            id,
            at,
            to,
            reason: None,
        }
    }

    #[test]
    fn exact_segments_and_uptime() {
        let cs: VecDeque<Change> = [
            ch(1, 100.0, State::Connected),
            ch(2, 200.0, State::Reconnecting),
            ch(3, 250.0, State::Connected),
        ]
        .into();
        let segs = segments(Some(&cs), (State::Connected, None, 250.0), 0.0, 400.0);
        let spans: Vec<(Ts, Ts, Option<State>)> =
            segs.iter().map(|s| (s.from, s.to, s.state)).collect();
        assert_eq!(
            spans,
            vec![
                (100.0, 200.0, Some(State::Connected)),
                (200.0, 250.0, Some(State::Reconnecting)),
                (250.0, 400.0, Some(State::Connected)),
            ]
        );
        let (share, known) = uptime(&segs, 0.0).unwrap();
        assert_eq!(known, 300.0);
        assert_eq!(share, 250.0 / 300.0);
        // From 225 on: 25 s reconnecting, 150 s connected.
        assert_eq!(uptime(&segs, 225.0).unwrap(), (150.0 / 175.0, 175.0));
        let c = clip(&segs, 225.0);
        assert_eq!(
            (c.len(), c[0].from, c[0].state),
            (2, 225.0, Some(State::Reconnecting))
        );
        // A window starting inside the first stretch knows it from t0.
        let segs = segments(Some(&cs), (State::Connected, None, 250.0), 150.0, 400.0);
        assert_eq!(segs[0].from, 150.0);
        assert_eq!(segs.len(), 3);
    }

    #[test]
    fn current_state_covers_what_the_store_missed() {
        let segs = segments(None, (State::Error, None, 50.0), 0.0, 100.0);
        assert_eq!(segs.len(), 1);
        assert_eq!((segs[0].from, segs[0].state), (50.0, Some(State::Error)));
        let cs: VecDeque<Change> = [ch(1, 10.0, State::Connected)].into();
        let segs = segments(Some(&cs), (State::Disconnected, None, 60.0), 0.0, 100.0);
        let states: Vec<_> = segs.iter().map(|s| (s.from, s.state)).collect();
        assert_eq!(
            states,
            vec![
                (10.0, Some(State::Connected)),
                (60.0, Some(State::Disconnected))
            ]
        );
    }

    #[test]
    fn coalesce_bounds_the_count_and_keeps_the_worst() {
        let mut cs = VecDeque::new();
        for k in 0..1000u64 {
            let t = k as f64 * 10.0;
            let to = if k % 2 == 0 {
                State::Reconnecting
            } else {
                State::Connected
            };
            cs.push_back(ch(k + 1, t, to));
        }
        let segs = segments(Some(&cs), (State::Connected, None, 9990.0), 0.0, 10_000.0);
        assert_eq!(segs.len(), 1000);
        let out = coalesce(&segs, 50, 0.0, 10_000.0);
        assert_eq!(out.len(), 1, "every bucket's worst is reconnecting");
        assert_eq!(out[0].state, Some(State::Reconnecting));
        assert_eq!(out[0].changes, 1000);
    }
}
