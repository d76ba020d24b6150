//! Counting lines by level and rule matches by (rule, channel): shared by
//! `clawwatch logs scan` and the live tailer.

use super::parse::{parse, Level, Line};
use super::rules::{Hit, RuleSet};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// Counts of one scan (or since the first start, for the tailer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Lines per [`Level::index`].
    pub lines: [u64; 7],
    /// Bytes read, newlines included.
    pub bytes: u64,
    /// Matches per (rule index, channel or "").
    pub matches: HashMap<(usize, String), u64>,
    /// Lines longer than the line cap, matched on their head (not kept
    /// in checkpoints).
    pub long_lines: u64,
}

impl Counters {
    /// All lines.
    pub fn total_lines(&self) -> u64 {
        self.lines.iter().sum()
    }
}

/// Applies rules to lines and counts.
pub struct Scanner {
    /// The compiled rules.
    pub rules: RuleSet,
    known: Box<dyn Fn(&str) -> bool + Send + Sync>,
    scratch: Vec<bool>,
    hits: Vec<Hit>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &self.rules.rules.len())
            .finish()
    }
}

impl Scanner {
    /// A scanner; `known` says which ids are channels.
    pub fn new(rules: RuleSet, known: Box<dyn Fn(&str) -> bool + Send + Sync>) -> Scanner {
        Scanner {
            rules,
            known,
            scratch: Vec::new(),
            hits: Vec::new(),
        }
    }

    /// The built-in rules over the channels every gateway knows.
    pub fn builtin() -> Scanner {
        Scanner::new(
            RuleSet::new(&[]).expect("the built-in rules compile"),
            Box::new(|c| crate::logs::parse::KNOWN_CHANNELS.contains(&c)),
        )
    }

    /// Replaces the channel-id test (the gateway's `channelOrder` changed).
    pub fn set_known(&mut self, known: Box<dyn Fn(&str) -> bool + Send + Sync>) {
        self.known = known;
    }

    /// Counts one line (without its newline); calls `on_hit` per match.
    pub fn line(
        &mut self,
        bytes: &[u8],
        c: &mut Counters,
        mut on_hit: impl FnMut(&RuleSet, &Hit, &Line<'_>),
    ) {
        let l = parse(bytes);
        c.lines[l.level.index()] += 1;
        c.bytes += bytes.len() as u64 + 1;
        self.rules
            .matches(&l, &*self.known, &mut self.scratch, &mut self.hits);
        for h in &self.hits {
            *c.matches
                .entry((h.rule, h.channel.clone().unwrap_or_default()))
                .or_insert(0) += 1;
            on_hit(&self.rules, h, &l);
        }
    }

    /// Scans a whole file in chunks; a last line without newline counts
    /// too. A line longer than `max_line` bytes is matched on its first
    /// `max_line` bytes and counted in `long_lines`: memory stays bounded
    /// whatever the file holds.
    pub fn file(&mut self, path: &Path, c: &mut Counters, max_line: usize) -> std::io::Result<()> {
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 4 << 20];
        // The head of a line that started in an earlier chunk.
        let mut partial: Vec<u8> = Vec::new();
        // A line of `len` bytes was matched on its head: count it and the
        // bytes the scanner did not see.
        let long = |c: &mut Counters, len: u64| {
            if len > max_line as u64 {
                c.long_lines += 1;
                c.bytes += len - max_line as u64;
            }
        };
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            let chunk = &buf[..n];
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', chunk) {
                let piece = &chunk[start..nl];
                len += piece.len() as u64;
                if partial.is_empty() && piece.len() <= max_line {
                    self.line(piece, c, |_, _, _| {});
                } else {
                    let room = max_line.saturating_sub(partial.len());
                    partial.extend_from_slice(&piece[..piece.len().min(room)]);
                    self.line(&partial, c, |_, _, _| {});
                    partial.clear();
                }
                long(c, len);
                len = 0;
                start = nl + 1;
            }
            if n == 0 {
                if len > 0 || !partial.is_empty() {
                    self.line(&partial, c, |_, _, _| {});
                    c.bytes -= 1;
                    long(c, len);
                }
                return Ok(());
            }
            let rest = &chunk[start..];
            len += rest.len() as u64;
            let room = max_line.saturating_sub(partial.len());
            partial.extend_from_slice(&rest[..rest.len().min(room)]);
        }
    }

    /// The `--json` document of `logs scan`.
    pub fn report(&self, c: &Counters, files: usize, seconds: f64) -> serde_json::Value {
        let mut rules = serde_json::Map::new();
        for (i, r) in self.rules.rules.iter().enumerate() {
            let mut by: BTreeMap<String, u64> = BTreeMap::new();
            for ((ri, ch), n) in &c.matches {
                if *ri == i {
                    *by.entry(ch.clone()).or_insert(0) += n;
                }
            }
            let total: u64 = by.values().sum();
            rules.insert(
                r.name.clone(),
                serde_json::json!({"total": total, "by_channel": by}),
            );
        }
        let levels: serde_json::Map<String, serde_json::Value> = Level::ALL
            .iter()
            .map(|l| (l.as_str().to_string(), c.lines[l.index()].into()))
            .collect();
        serde_json::json!({
            "files": files, "lines": c.total_lines(), "bytes": c.bytes, "long_lines": c.long_lines,
            "seconds": (seconds * 1000.0).round() / 1000.0, "levels": levels, "rules": rules,
        })
    }

    /// The table of `logs scan`.
    pub fn table(&self, c: &Counters) -> String {
        let mut rows: Vec<(String, String, u64)> = c
            .matches
            .iter()
            .map(|((ri, ch), n)| {
                (
                    self.rules.rules[*ri].name.clone(),
                    if ch.is_empty() {
                        "-".into()
                    } else {
                        ch.clone()
                    },
                    *n,
                )
            })
            .collect();
        rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(7);
        let mut out = format!("{:<w0$}  {:<w1$}  MATCHES\n", "RULE", "CHANNEL");
        for (r, ch, n) in rows {
            out.push_str(&format!("{r:<w0$}  {ch:<w1$}  {n}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_on_the_fixture() {
        let mut s = Scanner::builtin();
        let mut c = Counters::default();
        s.file(
            &Path::new(crate::FIXTURES).join("gateway-log-sample.jsonl"),
            &mut c,
            1 << 20,
        )
        .unwrap();
        let r = s.report(&c, 1, 0.0);
        assert_eq!(
            (
                r["files"].as_u64(),
                r["lines"].as_u64(),
                r["bytes"].as_u64()
            ),
            (Some(1), Some(626), Some(403216))
        );
        assert_eq!(
            r["rules"]["disconnect"],
            serde_json::json!({"total": 3, "by_channel": {"telegram": 3}})
        );
    }

    #[test]
    fn last_line_without_newline_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, "a disconnect\r\nb\nc disconnect").unwrap();
        let mut s = Scanner::builtin();
        let mut c = Counters::default();
        s.file(&p, &mut c, 1 << 20).unwrap();
        assert_eq!((c.total_lines(), c.bytes), (3, 28));
        assert_eq!(c.matches.get(&(0, String::new())), Some(&2));
    }

    #[test]
    fn long_lines_are_matched_on_their_head_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let long = format!("disconnect {}", "x".repeat(9 << 20));
        let tail = format!("{} disconnect", "y".repeat(9 << 20));
        std::fs::write(&p, format!("{long}\nshort disconnect\n{tail}\n{long}")).unwrap();
        let mut s = Scanner::builtin();
        let mut c = Counters::default();
        s.file(&p, &mut c, 1 << 20).unwrap();
        let size = std::fs::metadata(&p).unwrap().len();
        assert_eq!((c.total_lines(), c.long_lines, c.bytes), (4, 3, size));
        // The head holds "disconnect" in the first and last long line only.
        assert_eq!(c.matches.get(&(0, String::new())), Some(&3));
        assert_eq!(s.report(&c, 1, 0.0)["long_lines"], 3);
    }
}
