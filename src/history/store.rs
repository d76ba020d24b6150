//! The history on disk: append-only segment files of checksummed JSON lines
//! in `state_dir/history/`, bounded by `[history] max_bytes` (the oldest
//! segment goes first) and `retention`, with the same records kept compact
//! in memory for `/api/v1/history`, `clawwatch history` and the status page.
//!
//! A record is one line, `JSON<TAB>crc32 of the JSON as 8 hex digits`. JSON
//! escapes control characters, so the tab is unambiguous, and `jq` reads a
//! segment after `cut -f1`. Nothing is rewritten in place: a SIGKILL loses at
//! most the write in flight, and a torn or corrupt tail is cut on start.

use crate::clock::{rfc3339, Ts};
use crate::metrics::Exposition;
use crate::model::{Reason, State};
use crate::state::Event;
use prometheus_client::metrics::counter::Counter;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The store behind a lock: the state writer and the dispatcher append, the
/// server reads.
pub type Shared = Arc<Mutex<Store>>;

/// Locks the store; a panic elsewhere does not make it unreadable.
pub fn lock(s: &Shared) -> MutexGuard<'_, Store> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The directory in the state dir.
pub const DIR: &str = "history";

/// What a record says.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A state change.
    Transition {
        /// Before.
        from: State,
        /// After.
        to: State,
        /// Reason of the new state.
        reason: Option<Reason>,
    },
    /// A disconnect.
    Disconnect {
        /// Why.
        reason: Reason,
    },
    /// Anything else (recovery, notices): its kind and JSON without the id.
    Other {
        /// `kind` of the JSON.
        kind: Box<str>,
        /// The JSON object.
        json: Box<str>,
    },
}

/// One record in memory.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Increasing id, the `before=` of paging.
    pub id: u64,
    /// When.
    pub at: Ts,
    key: u32,
    /// What.
    pub body: Body,
}

/// One account's state change, for timelines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Record id.
    pub id: u64,
    /// When.
    pub at: Ts,
    /// New state.
    pub to: State,
    /// Its reason.
    pub reason: Option<Reason>,
}

#[derive(Debug)]
struct Segment {
    path: Option<PathBuf>,
    bytes: u64,
    last_id: u64,
    last_at: Ts,
}

/// Bounds of the store.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Records older than this many seconds are dropped.
    pub retention: f64,
    /// Bytes of records kept at most (on disk, or counted the same way in memory).
    pub max_bytes: u64,
}

impl Limits {
    /// From `[history]`.
    pub fn of(c: &crate::config::HistoryConfig) -> Limits {
        Limits {
            retention: c.retention.as_secs_f64(),
            max_bytes: c.max_bytes.as_u64(),
        }
    }
}

/// What `open` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Records read back.
    pub records: usize,
    /// Bytes cut from a torn or corrupt tail.
    pub cut_bytes: u64,
    /// Corrupt records skipped in the middle of a segment.
    pub skipped: usize,
}

/// A query of `/api/v1/history`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this account.
    pub account: Option<String>,
    /// Not before.
    pub since: Option<Ts>,
    /// Not after.
    pub until: Option<Ts>,
    /// Only ids below this one (paging back).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// The bounded history.
#[derive(Debug)]
pub struct Store {
    dir: Option<PathBuf>,
    limits: Limits,
    recs: VecDeque<Rec>,
    keys: Vec<(Arc<str>, Arc<str>)>,
    index: HashMap<(String, String), u32>,
    changes: Vec<VecDeque<Change>>,
    next_id: u64,
    next_seq: u64,
    segments: VecDeque<Segment>,
    file: Option<File>,
    dropped: Counter,
    exposition: Option<Arc<Exposition>>,
    last_error: Option<String>,
}

fn seg_name(seq: u64) -> String {
    format!("{seq:012}.jsonl")
}

/// Parses one line (without its newline): the JSON when the checksum holds.
fn check(line: &[u8]) -> Option<&[u8]> {
    let tab = memchr::memrchr(b'\t', line)?;
    let (json, sum) = (&line[..tab], &line[tab + 1..]);
    let sum = u32::from_str_radix(std::str::from_utf8(sum).ok()?, 16).ok()?;
    (sum == crc32fast::hash(json)).then_some(json)
}

impl Store {
    /// A store in `dir` (created if missing), or in memory only (`None`),
    /// with what it read back. Blocking: call it off the async threads.
    pub fn open(
        dir: Option<PathBuf>,
        limits: Limits,
        now: Ts,
        dropped: Counter,
        exposition: Option<Arc<Exposition>>,
    ) -> (Store, Opened) {
        let mut s = Store {
            dir: None,
            limits,
            recs: VecDeque::new(),
            keys: Vec::new(),
            index: HashMap::new(),
            changes: Vec::new(),
            next_id: 1,
            next_seq: 1,
            segments: VecDeque::new(),
            file: None,
            dropped,
            exposition,
            last_error: None,
        };
        let mut opened = Opened::default();
        if let Some(dir) = dir {
            match std::fs::create_dir_all(&dir) {
                Ok(()) => {
                    opened = s.load(&dir, now);
                    s.dir = Some(dir);
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "Cannot create the history directory; history is kept in memory only.");
                }
            }
        }
        s.enforce(now);
        (s, opened)
    }

    fn load(&mut self, dir: &Path, now: Ts) -> Opened {
        let mut opened = Opened::default();
        let mut seqs: Vec<u64> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".jsonl")?.parse::<u64>().ok()
            })
            .collect();
        seqs.sort_unstable();
        let cutoff = now - self.limits.retention;
        let last = seqs.last().copied();
        for seq in seqs {
            let path = dir.join(seg_name(seq));
            let mut bytes = Vec::new();
            if let Err(e) = File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
                tracing::warn!(file = %path.display(), error = %e, "Cannot read a history segment; skipped.");
                continue;
            }
            // The good prefix: everything up to the last valid, complete line.
            let mut good = 0usize;
            let mut seg = Segment {
                path: Some(path.clone()),
                bytes: 0,
                last_id: 0,
                last_at: f64::NEG_INFINITY,
            };
            let mut pos = 0usize;
            let mut bad_since_good = 0usize;
            while pos < bytes.len() {
                let Some(nl) = memchr::memchr(b'\n', &bytes[pos..]) else {
                    break;
                };
                let line = &bytes[pos..pos + nl];
                pos += nl + 1;
                match check(line).and_then(|j| self.restore(j)) {
                    Some(r) if r.id >= self.next_id => {
                        self.next_id = r.id + 1;
                        seg.last_id = r.id;
                        seg.last_at = seg.last_at.max(r.at);
                        if r.at >= cutoff {
                            self.push(r);
                            opened.records += 1;
                        }
                        good = pos;
                        opened.skipped += bad_since_good;
                        bad_since_good = 0;
                    }
                    _ => bad_since_good += 1,
                }
            }
            let cut = (bytes.len() - good) as u64;
            if cut > 0 && Some(seq) == last {
                // A torn write at the end: cut it, so that appends start clean.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(good as u64))
                {
                    Ok(()) => {
                        opened.cut_bytes += cut;
                        tracing::warn!(file = %path.display(), bytes = cut, "Cut a torn tail off the history.");
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "Cannot cut a torn tail off the history.");
                    }
                }
                seg.bytes = good as u64;
            } else {
                opened.skipped += bad_since_good;
                seg.bytes = bytes.len() as u64;
            }
            self.next_seq = seq + 1;
            self.segments.push_back(seg);
        }
        if opened.skipped > 0 {
            tracing::warn!(records = opened.skipped, "Skipped corrupt history records.");
        }
        if let Some(seg) = self.segments.back() {
            if let Some(p) = &seg.path {
                self.file = std::fs::OpenOptions::new().append(true).open(p).ok();
            }
        }
        opened
    }

    /// A record from its stored JSON.
    fn restore(&mut self, json: &[u8]) -> Option<Rec> {
        let v: Value = serde_json::from_slice(json).ok()?;
        let id = v.get("id")?.as_u64()?;
        let at = crate::clock::parse_rfc3339(v.get("at")?.as_str()?).ok()?;
        let channel = v.get("channel")?.as_str()?;
        let account = v.get("account")?.as_str()?;
        let kind = v.get("kind")?.as_str()?;
        let state = |k: &str| v.get(k).and_then(Value::as_str).and_then(State::parse);
        let reason = |k: &str| v.get(k).and_then(Value::as_str).and_then(Reason::parse);
        let body = match (kind, state("from"), state("to"), reason("reason")) {
            ("transition", Some(from), Some(to), reason) => Body::Transition { from, to, reason },
            ("disconnect", _, _, Some(reason)) => Body::Disconnect { reason },
            _ => {
                let mut o = v.as_object()?.clone();
                o.remove("id");
                Body::Other {
                    kind: kind.into(),
                    json: Value::Object(o).to_string().into(),
                }
            }
        };
        let key = self.key(channel, account);
        Some(Rec { id, at, key, body })
    }

    fn key(&mut self, channel: &str, account: &str) -> u32 {
        let k = (channel.to_owned(), account.to_owned());
        if let Some(i) = self.index.get(&k) {
            return *i;
        }
        let i = self.keys.len() as u32;
        self.keys.push((channel.into(), account.into()));
        self.changes.push(VecDeque::new());
        self.index.insert(k, i);
        i
    }

    fn push(&mut self, r: Rec) {
        if let Body::Transition { to, reason, .. } = r.body {
            self.changes[r.key as usize].push_back(Change {
                id: r.id,
                at: r.at,
                to,
                reason,
            });
        }
        self.recs.push_back(r);
    }

    /// The JSON of a record, as the API gives it.
    pub fn to_json(&self, r: &Rec) -> Value {
        let (channel, account) = &self.keys[r.key as usize];
        let mut v = match &r.body {
            Body::Transition { from, to, reason } => {
                crate::state::transition_json(r.at, channel, account, *from, *to, *reason)
            }
            Body::Disconnect { reason } => {
                crate::state::disconnect_json(r.at, channel, account, *reason)
            }
            Body::Other { json, .. } => serde_json::from_str(json).unwrap_or_else(|_| json!({})),
        };
        v["id"] = json!(r.id);
        v
    }

    /// Appends the events of one step.
    pub fn record(&mut self, events: &[&Event], now: Ts) {
        if events.is_empty() {
            self.expire(now);
            return;
        }
        let mut buf = String::new();
        for e in events {
            let (channel, account) = e.key();
            let key = self.key(channel, account);
            let body = match e {
                Event::Transition {
                    from, to, reason, ..
                } => Body::Transition {
                    from: *from,
                    to: *to,
                    reason: *reason,
                },
                Event::Disconnect { reason, .. } => Body::Disconnect { reason: *reason },
                Event::Recovery(_) => {
                    let v = e.to_json();
                    Body::Other {
                        kind: v["kind"].as_str().unwrap_or("recovery").into(),
                        json: v.to_string().into(),
                    }
                }
            };
            self.add(key, e.at(), body, &mut buf);
        }
        self.write(&buf);
        self.enforce(now);
    }

    /// Appends one record of another kind: `v` is a JSON object with `kind`.
    pub fn record_other(&mut self, at: Ts, channel: &str, account: &str, v: Value, now: Ts) {
        let mut o = match v {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        o.insert("at".into(), json!(rfc3339(at)));
        o.insert("channel".into(), json!(channel));
        o.insert("account".into(), json!(account));
        let kind: Box<str> = o
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("other")
            .into();
        let key = self.key(channel, account);
        let mut buf = String::new();
        let body = Body::Other {
            kind,
            json: Value::Object(o).to_string().into(),
        };
        self.add(key, at, body, &mut buf);
        self.write(&buf);
        self.enforce(now);
    }

    fn add(&mut self, key: u32, at: Ts, body: Body, buf: &mut String) {
        let r = Rec {
            id: self.next_id,
            at,
            key,
            body,
        };
        self.next_id += 1;
        let json = self.to_json(&r).to_string();
        let line = format!("{json}\t{:08x}\n", crc32fast::hash(json.as_bytes()));
        self.rotate_for(line.len() as u64, buf);
        let seg = self.segments.back_mut().expect("rotate_for makes one");
        seg.bytes += line.len() as u64;
        seg.last_id = r.id;
        seg.last_at = seg.last_at.max(r.at);
        buf.push_str(&line);
        self.push(r);
    }

    /// Starts a new segment when the next line would not fit the current one.
    fn rotate_for(&mut self, len: u64, buf: &mut String) {
        let seg_max = (self.limits.max_bytes / 8).max(4096);
        let full = self
            .segments
            .back()
            .is_none_or(|s| s.bytes > 0 && s.bytes + len > seg_max);
        if !full {
            return;
        }
        self.write(buf);
        buf.clear();
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.dir.as_ref().map(|d| d.join(seg_name(seq)));
        self.file = path.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Store::failed(&e))
                .ok()
        });
        self.segments.push_back(Segment {
            path,
            bytes: 0,
            last_id: 0,
            last_at: f64::NEG_INFINITY,
        });
    }

    fn failed(e: &std::io::Error) {
        tracing::warn!(error = %e, "Cannot write the history; recent records are kept in memory only.");
    }

    fn write(&mut self, buf: &str) {
        if buf.is_empty() {
            return;
        }
        let Some(f) = &mut self.file else { return };
        if let Err(e) = f.write_all(buf.as_bytes()) {
            let text = e.to_string();
            if self.last_error.as_deref() != Some(&text) {
                Store::failed(&e);
                self.last_error = Some(text);
            }
            // No half line stays behind to spoil the next one.
            if let Some(seg) = self.segments.back_mut() {
                seg.bytes = seg.bytes.saturating_sub(buf.len() as u64);
                let _ = f.set_len(seg.bytes);
            }
        } else {
            self.last_error = None;
        }
    }

    /// Drops what is past the size cap or the retention.
    fn enforce(&mut self, now: Ts) {
        let mut n = 0u64;
        let total = |s: &VecDeque<Segment>| s.iter().map(|s| s.bytes).sum::<u64>();
        while self.segments.len() > 1 && total(&self.segments) > self.limits.max_bytes {
            let seg = self.segments.pop_front().expect("more than one");
            n += self.drop_through(seg.last_id);
            if let Some(p) = &seg.path {
                let _ = std::fs::remove_file(p);
            }
        }
        let cutoff = now - self.limits.retention;
        while self.segments.len() > 1 && self.segments[0].last_at < cutoff {
            let seg = self.segments.pop_front().expect("more than one");
            n += self.drop_through(seg.last_id);
            if let Some(p) = &seg.path {
                let _ = std::fs::remove_file(p);
            }
        }
        while self.recs.front().is_some_and(|r| r.at < cutoff) {
            let id = self.recs[0].id;
            n += self.drop_through(id);
        }
        if n > 0 {
            self.dropped.inc_by(n);
            if let Some(x) = &self.exposition {
                x.touch();
                x.schedule();
            }
        }
    }

    fn drop_through(&mut self, id: u64) -> u64 {
        let mut n = 0;
        while let Some(r) = self.recs.front() {
            if r.id > id {
                break;
            }
            let r = self.recs.pop_front().expect("front exists");
            if matches!(r.body, Body::Transition { .. }) {
                let c = &mut self.changes[r.key as usize];
                if c.front().is_some_and(|c| c.id == r.id) {
                    c.pop_front();
                }
            }
            n += 1;
        }
        n
    }

    /// Drops what aged past the retention; cheap when nothing did.
    pub fn expire(&mut self, now: Ts) {
        let cutoff = now - self.limits.retention;
        if self.recs.front().is_some_and(|r| r.at < cutoff)
            || self.segments.front().is_some_and(|s| s.last_at < cutoff)
        {
            self.enforce(now);
        }
    }

    /// Records matching `q`, newest first, as the API gives them.
    pub fn query(&self, q: &Query) -> Vec<Value> {
        let wanted: Option<Vec<bool>> = (q.channel.is_some() || q.account.is_some()).then(|| {
            self.keys
                .iter()
                .map(|(c, a)| {
                    q.channel.as_deref().is_none_or(|x| x == &**c)
                        && q.account.as_deref().is_none_or(|x| x == &**a)
                })
                .collect()
        });
        let end = match q.before {
            Some(b) => self.recs.partition_point(|r| r.id < b),
            None => self.recs.len(),
        };
        self.recs
            .range(..end)
            .rev()
            .filter(|r| wanted.as_ref().is_none_or(|w| w[r.key as usize]))
            .filter(|r| q.since.is_none_or(|s| r.at >= s) && q.until.is_none_or(|u| r.at <= u))
            .take(q.limit)
            .map(|r| self.to_json(r))
            .collect()
    }

    /// One account's state changes, oldest first.
    pub fn changes(&self, channel: &str, account: &str) -> Option<&VecDeque<Change>> {
        let i = self.index.get(&(channel.to_owned(), account.to_owned()))?;
        self.changes.get(*i as usize)
    }

    /// Records kept.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Bytes of records kept (on disk when there is a directory).
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// The oldest record kept, when.
    pub fn oldest(&self) -> Option<Ts> {
        self.recs.front().map(|r| r.at)
    }
}
