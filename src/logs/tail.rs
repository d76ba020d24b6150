//! Follows the gateway's log files without losing a line: files are known
//! by identity (device, inode and a fingerprint of their first bytes), not
//! by path, so a renamed file is read to its end and the file that replaces
//! it is read from its start. Offsets and counters are checkpointed in one
//! atomic write, so a crash and restart neither loses nor double-counts.

use super::scan::{Counters, Scanner};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bytes hashed for a file's fingerprint.
const FP_BYTES: usize = 1024;

/// How a file changed under us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rotation {
    /// Renamed (identity seen at a new path).
    Rename,
    /// Truncated in place (copytruncate).
    Truncate,
    /// A file that was not there before.
    NewFile,
}

impl Rotation {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Rename => "rename",
            Rotation::Truncate => "truncate",
            Rotation::NewFile => "new_file",
        }
    }
}

/// Identity of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// FNV-1a of the first `fp_len` bytes (a full line or more: the first
    /// bytes of every OpenClaw log line look alike).
    pub fp: u64,
    /// Bytes hashed (less than 1024 while the file is that short).
    pub fp_len: u64,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

fn fingerprint(f: &mut File, len: u64) -> std::io::Result<(u64, u64)> {
    let n = len.min(FP_BYTES as u64) as usize;
    let mut buf = vec![0u8; n];
    f.seek(SeekFrom::Start(0))?;
    f.read_exact(&mut buf)?;
    Ok((fnv(&buf), n as u64))
}

struct Tracked {
    id: FileId,
    path: PathBuf,
    /// `None` while closed to stay under the open-file cap; reopened by
    /// path, and only if the path still names this identity.
    file: Option<File>,
    /// Size and mtime when closed: unchanged means nothing to read.
    closed: Option<Stamp>,
    /// Size and mtime at the last listing.
    stamp: Stamp,
    /// Pass that last read from it (least recently active closes first).
    active: u64,
    /// Start of the line being read: what the checkpoint stores.
    offset: u64,
    /// Bytes consumed from the file.
    pos: u64,
    /// Head of the line being read (at most `max_line_bytes`).
    partial: Vec<u8>,
    seen: bool,
    /// Passes in a row this file was not in the listing.
    missed: u32,
    /// A copy of this tracked file (copytruncate): resume it where we were.
    copy_of: Option<u64>,
}

/// The regular files of `dir` by inode (from the directory entries, no stat).
fn inodes_in(dir: &Path) -> HashMap<u64, PathBuf> {
    use std::os::unix::fs::DirEntryExt;
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| (e.ino(), e.path()))
        .collect()
}

/// A file's size and modification time, seconds and nanoseconds.
type Stamp = (u64, i64, i64);

fn stamp(m: &std::fs::Metadata) -> Stamp {
    (m.len(), m.mtime(), m.mtime_nsec())
}

impl Tracked {
    fn read_pos(&self) -> u64 {
        self.pos
    }

    fn size(&self) -> u64 {
        self.stamp.0
    }

    /// Its path opened, if the path still names this identity.
    fn open_by_path(&self, key: (u64, u64)) -> Option<File> {
        let f = File::open(&self.path).ok()?;
        let m = f.metadata().ok()?;
        ((m.dev(), m.ino()) == key).then_some(f)
    }

    /// Opens it again by path; false if the path is gone or now names
    /// another file.
    fn reopen(&mut self, key: (u64, u64)) -> bool {
        let Some(f) = self.open_by_path(key) else {
            return false;
        };
        self.file = Some(f);
        self.closed = None;
        true
    }

    fn close(&mut self) {
        if let Some(f) = self.file.take() {
            self.closed = Some(f.metadata().map(|m| stamp(&m)).unwrap_or(self.stamp));
        }
    }

    /// Its first `n` bytes, through a short-lived descriptor when closed.
    fn head(&self, key: (u64, u64), n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let mut read = |mut f: &File| {
            (f.seek(SeekFrom::Start(0)).is_ok() && f.read_exact(&mut buf).is_ok()).then_some(())
        };
        match &self.file {
            Some(f) => read(f)?,
            None => read(&self.open_by_path(key)?)?,
        }
        Some(buf)
    }

    fn reset(&mut self, to: u64) {
        self.offset = to;
        self.pos = to;
        self.partial.clear();
    }
}

/// The on-disk checkpoint: versioned, pinned by a literal test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum Checkpoint {
    /// Version 1.
    #[serde(rename = "1")]
    V1 {
        /// Files and where reading stopped.
        files: Vec<FileCheckpoint>,
        /// Lines per level name.
        lines: BTreeMap<String, u64>,
        /// Bytes read.
        bytes: u64,
        /// Matches per rule name, then channel ("" = unattributed).
        matches: BTreeMap<String, BTreeMap<String, u64>>,
        /// Rotations per kind.
        rotations: BTreeMap<String, u64>,
    },
}

/// One file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// Identity.
    #[serde(flatten)]
    pub id: FileId,
    /// After the last complete line.
    pub offset: u64,
    /// Last path seen (informational).
    pub path: PathBuf,
}

/// What one pass found.
#[derive(Debug, Default)]
pub struct Pass {
    /// Rotations seen.
    pub rotations: Vec<Rotation>,
    /// Bytes in the files not yet read.
    pub lag_bytes: u64,
    /// True when lines were read.
    pub read: bool,
    /// Time spent listing the files (a stat each).
    pub listing: std::time::Duration,
}

/// Follows a set of glob patterns.
pub struct Tailer {
    patterns: Vec<Pattern>,
    files: HashMap<(u64, u64), Tracked>,
    checkpoint_file: Option<PathBuf>,
    resume: HashMap<(u64, u64), FileCheckpoint>,
    /// Checkpointed files whose inode now holds other bytes.
    orphans: Vec<FileCheckpoint>,
    /// Paths a followed file was renamed away from.
    vacated: std::collections::HashSet<PathBuf>,
    /// Files truncated lately, by what they held: (fingerprint, its length,
    /// bytes read, pass). A copy that is listed only after its original's
    /// truncate (copytruncate between the listing and the check) is known
    /// by these and resumes where the original stopped.
    truncations: std::collections::VecDeque<(u64, u64, u64, u64)>,
    first: bool,
    max_line_bytes: usize,
    /// Descriptors held at most (`[logs] max_open_files`).
    max_open: usize,
    /// Descriptors held now.
    open: usize,
    passes: u64,
    clock: crate::clock::Clock,
    /// Rotation counts (restored from the checkpoint).
    pub rotations: BTreeMap<&'static str, u64>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Tailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tailer")
            .field("patterns", &self.patterns)
            .field("files", &self.files.len())
            .finish()
    }
}

/// A path whose file name may hold glob syntax (`*`, `?`, `[...]`,
/// `{a,b}`); the directory part is literal. Compiled once.
#[derive(Debug, Clone)]
pub struct Pattern {
    path: PathBuf,
    dir: PathBuf,
    glob: Option<globset::GlobMatcher>,
}

impl Pattern {
    /// Compiles `pattern`; the error says what is wrong with its glob.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let path = PathBuf::from(pattern);
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let glob = if name.contains(['*', '?', '[', '{']) {
            let g = globset::GlobBuilder::new(name)
                .literal_separator(true)
                .build()
                .map_err(|e| e.kind().to_string())?;
            Some(g.compile_matcher())
        } else {
            None
        };
        Ok(Pattern { path, dir, glob })
    }

    /// The files that match now, sorted.
    pub fn expand(&self) -> Vec<PathBuf> {
        let Some(glob) = &self.glob else {
            return if self.path.is_file() {
                vec![self.path.clone()]
            } else {
                vec![]
            };
        };
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        // The directory entry's type spares a stat per file; a link is
        // followed to see what it names.
        let mut out: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .filter(|e| glob.is_match(e.file_name()))
            .filter(|e| match e.file_type() {
                Ok(t) if t.is_file() => true,
                Ok(t) if !t.is_symlink() => false,
                _ => e.path().is_file(),
            })
            .map(|e| e.path())
            .collect();
        // By bytes: Path ordering compares component by component, slowly.
        out.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        out
    }
}

impl Tailer {
    /// A tailer; restores offsets and counters from `state_dir` if a
    /// checkpoint is there (returned for the caller's counters).
    pub fn new(
        patterns: Vec<String>,
        state_dir: Option<&Path>,
        max_line_bytes: usize,
    ) -> (Tailer, Option<Checkpoint>) {
        let checkpoint_file = state_dir.map(|d| d.join("log-checkpoints.json"));
        // After a crash mid-write the temporary file is the newer one.
        let cp = checkpoint_file.as_ref().and_then(|f| {
            [crate::durable::temp_of(f), f.clone()]
                .iter()
                .find_map(|p| {
                    std::fs::read(p)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Checkpoint>(&b).ok())
                })
        });
        let mut resume = HashMap::new();
        let mut rotations = BTreeMap::new();
        if let Some(Checkpoint::V1 {
            files,
            rotations: r,
            ..
        }) = &cp
        {
            for f in files {
                resume.insert((f.id.dev, f.id.ino), f.clone());
            }
            for (k, v) in r {
                let k = [Rotation::Rename, Rotation::Truncate, Rotation::NewFile]
                    .into_iter()
                    .find(|x| x.as_str() == k);
                if let Some(k) = k {
                    rotations.insert(k.as_str(), *v);
                }
            }
        }
        let t = Tailer {
            // Patterns that do not compile match nothing (check-config says why).
            patterns: patterns
                .iter()
                .filter_map(|p| Pattern::new(p).ok())
                .collect(),
            files: HashMap::new(),
            checkpoint_file,
            first: cp.is_none(),
            resume,
            orphans: Vec::new(),
            vacated: Default::default(),
            truncations: Default::default(),
            max_line_bytes: max_line_bytes.max(1024),
            max_open: 256,
            open: 0,
            passes: 0,
            clock: crate::clock::Clock::system(),
            rotations,
            buf: vec![0u8; 256 * 1024],
        };
        (t, cp)
    }

    /// Follows other patterns (a reload).
    pub fn set_patterns(&mut self, patterns: &[String]) {
        self.patterns = patterns
            .iter()
            .filter_map(|p| Pattern::new(p).ok())
            .collect();
        // Files still matched keep their offsets; a file that only the new
        // patterns match is read from its end, as on a first start.
        self.first = true;
    }

    /// Longest line matched whole (a reload).
    pub fn set_max_line_bytes(&mut self, n: usize) {
        self.max_line_bytes = n.max(1024);
    }

    /// Holds at most `n` descriptors (at least 1).
    pub fn set_max_open(&mut self, n: usize) {
        self.max_open = n.max(1);
    }

    /// Descriptors held now.
    pub fn open_files(&self) -> usize {
        self.open
    }

    fn rotated(&mut self, r: Rotation, pass: &mut Pass) {
        *self.rotations.entry(r.as_str()).or_insert(0) += 1;
        pass.rotations.push(r);
    }

    /// One pass: find files, notice rotations, read new complete lines.
    pub fn pass(
        &mut self,
        scanner: &mut Scanner,
        c: &mut Counters,
        on_line: &mut dyn FnMut(&mut Scanner, &[u8], &mut Counters),
    ) -> Pass {
        let mut pass = Pass::default();
        let started = self.clock.instant();
        self.passes += 1;
        for t in self.files.values_mut() {
            t.seen = false;
        }
        let paths: Vec<PathBuf> = self.patterns.iter().flat_map(Pattern::expand).collect();
        let first = std::mem::replace(&mut self.first, false);
        if self.vacated.len() > 256 {
            self.vacated.clear();
        }
        // Known identities first, so that a new file can be recognised as a
        // copy of one (copytruncate) whatever the order of names.
        let mut listed: Vec<(PathBuf, std::fs::Metadata)> = paths
            .into_iter()
            .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m)))
            .collect();
        // What every pass costs, changes or not: a stat per file.
        pass.listing = self.clock.instant() - started;
        listed.sort_by_key(|(_, m)| {
            let k = (m.dev(), m.ino());
            !(self.files.contains_key(&k) || self.resume.contains_key(&k))
        });
        for (path, meta) in listed {
            let key = (meta.dev(), meta.ino());
            if let Some(t) = self.files.get_mut(&key) {
                t.seen = true;
                t.stamp = stamp(&meta);
                if t.path.as_os_str() != path.as_os_str() {
                    // Counted when a new file takes the vacated path: archive
                    // shifts (.1 -> .2) are not rotations of their own.
                    self.vacated
                        .insert(std::mem::replace(&mut t.path, path.clone()));
                    self.vacated.remove(&path);
                }
                continue;
            }
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            // An empty new file has nothing to read and nothing to be known by.
            if meta.len() == 0 && !self.resume.contains_key(&key) {
                continue;
            }
            let Ok((fp, fp_len)) = fingerprint(&mut file, meta.len()) else {
                continue;
            };
            let id = FileId {
                dev: key.0,
                ino: key.1,
                fp,
                fp_len,
            };
            // A checkpointed file resumes only if its first bytes still match;
            // a copy of one (copytruncate while we were down) resumes where
            // the original stopped.
            let matches = |c: &FileCheckpoint, file: &File| {
                c.id.fp_len <= fp_len
                    && c.offset <= meta.len()
                    && file
                        .try_clone()
                        .ok()
                        .as_mut()
                        .and_then(|f| fingerprint(f, c.id.fp_len).ok())
                        .map(|x| x.0)
                        == Some(c.id.fp)
            };
            let resumed = match self.resume.remove(&key) {
                Some(c) if matches(&c, &file) => Some(c),
                other => {
                    if let Some(c) = other {
                        self.orphans.push(c);
                    }
                    let i = self
                        .orphans
                        .iter()
                        .position(|c| matches(c, &file))
                        .or_else(|| {
                            let k = self
                                .resume
                                .iter()
                                .find(|(_, c)| matches(c, &file))
                                .map(|(k, _)| *k)?;
                            let c = self.resume.remove(&k)?;
                            self.orphans.push(c);
                            Some(self.orphans.len() - 1)
                        });
                    i.map(|i| self.orphans.swap_remove(i))
                }
            };
            // A copy of a followed file (copytruncate), possibly still being
            // written: its bytes so far are a prefix of the original's.
            let copy_of = if resumed.is_some() {
                None
            } else {
                let mut head = vec![0u8; fp_len as usize];
                let ok =
                    file.seek(SeekFrom::Start(0)).is_ok() && file.read_exact(&mut head).is_ok();
                self.files
                    .iter()
                    .filter(|(_, t)| {
                        ok && t.copy_of.is_none() && fp_len > 0 && t.id.fp_len >= fp_len
                    })
                    .find(|(k, t)| {
                        if t.id.fp_len == fp_len {
                            return t.id.fp == fp;
                        }
                        t.head(**k, head.len()).is_some_and(|theirs| theirs == head)
                    })
                    .map(|(_, t)| t.id.ino)
            };
            // The copy of a file whose truncate was seen before the copy.
            let after_truncate = if resumed.is_some() || copy_of.is_some() {
                None
            } else {
                let i = self.truncations.iter().position(|(tfp, tlen, _, _)| {
                    *tlen > 0
                        && *tlen <= fp_len
                        && file
                            .try_clone()
                            .ok()
                            .as_mut()
                            .and_then(|f| fingerprint(f, *tlen).ok())
                            .map(|x| x.0)
                            == Some(*tfp)
                });
                i.and_then(|i| self.truncations.remove(i))
                    .map(|(_, _, pos, _)| pos.min(meta.len()))
            };
            let offset = match (&resumed, copy_of) {
                (Some(c), _) => c.offset,
                (None, None) if after_truncate.is_some() => after_truncate.unwrap_or(0),
                // A copy of a file we follow (copytruncate): skip what we
                // read from the original; the truncate tells where to resume.
                (None, Some(_)) => meta.len(),
                // First start: existing files from their end.
                (None, None) if first => meta.len(),
                (None, None) => {
                    let kind = if self.vacated.remove(&path) {
                        Rotation::Rename
                    } else {
                        Rotation::NewFile
                    };
                    self.rotated(kind, &mut pass);
                    0
                }
            };
            // Over the cap, a new file is known by its identity and closed
            // at once; it is reopened when there is something to read.
            let (file, closed) = if self.open >= self.max_open {
                (None, Some(stamp(&meta)))
            } else {
                self.open += 1;
                (Some(file), None)
            };
            self.files.insert(
                key,
                Tracked {
                    id,
                    path,
                    file,
                    closed,
                    stamp: stamp(&meta),
                    active: self.passes,
                    offset,
                    pos: offset,
                    partial: Vec::new(),
                    seen: true,
                    missed: 0,
                    copy_of,
                },
            );
        }
        // Truncations, and where a copy should resume.
        let mut truncated: Vec<(u64, u64, u64)> = Vec::new();
        for (k, t) in self.files.iter_mut() {
            if !t.seen {
                continue;
            }
            let was_closed = t.file.is_none();
            if was_closed {
                // Untouched since it was closed: nothing to check.
                if t.closed == Some(t.stamp) || !t.reopen(*k) {
                    continue;
                }
                self.open += 1;
            }
            let size = t.size();
            let Some(file) = t.file.as_mut() else {
                continue;
            };
            let fp_now = fingerprint(file, size.min(t.id.fp_len)).map(|x| x.0).ok();
            let truncated_now = size < t.pos || (size >= t.id.fp_len && fp_now != Some(t.id.fp));
            if truncated_now {
                truncated.push((t.id.ino, t.id.fp, t.pos));
                if self.truncations.len() >= 16 {
                    self.truncations.pop_front();
                }
                self.truncations
                    .push_back((t.id.fp, t.id.fp_len, t.pos, self.passes));
                t.reset(0);
            }
            // A fingerprint is taken again after a truncate, and while the
            // file is shorter than FP_BYTES.
            if truncated_now || (t.id.fp_len < FP_BYTES as u64 && size > t.id.fp_len) {
                if let Some(Ok((fp, fp_len))) = t.file.as_mut().map(|f| fingerprint(f, size)) {
                    t.id.fp = fp;
                    t.id.fp_len = fp_len;
                }
            }
            // Reading reopens it if it has something to read.
            if was_closed && self.open > self.max_open {
                t.close();
                self.open -= 1;
            }
        }
        // A copy is listed within a pass or two of its truncate, or never.
        let passes = self.passes;
        self.truncations.retain(|e| passes - e.3 < 20);
        for (ino, fp, pos) in truncated {
            self.rotated(Rotation::Truncate, &mut pass);
            for t in self.files.values_mut() {
                if t.copy_of == Some(ino) {
                    // Found already: the truncation need not be remembered.
                    self.truncations.retain(|e| e.0 != fp || e.2 != pos);
                    // Its size now, not at the listing: the copy was complete
                    // before the truncate, maybe not when we listed it.
                    let size = t
                        .file
                        .as_ref()
                        .and_then(|f| f.metadata().ok())
                        .map_or(t.size(), |m| m.len());
                    t.reset(pos.min(size));
                    t.copy_of = None;
                }
            }
        }
        // Read everything new. A file missing from the listing may only be
        // between two renames of a rotation: keep following it while it
        // still has a name; once deleted, read it to its end and drop it.
        let keys: Vec<(u64, u64)> = self.files.keys().copied().collect();
        let mut moved: HashMap<PathBuf, HashMap<u64, PathBuf>> = HashMap::new();
        for k in keys {
            // Most of many files are closed, listed and fully read.
            if let Some(t) = self.files.get_mut(&k) {
                if t.seen && t.file.is_none() && t.pos >= t.size() {
                    t.missed = 0;
                    continue;
                }
            }
            let Some(mut t) = self.files.remove(&k) else {
                continue;
            };
            let mut reopened = false;
            if t.file.is_none() {
                if !t.seen {
                    // Closed, then renamed out of the patterns: find it by
                    // inode in its directory (one listing per directory).
                    let dir = t.path.parent().unwrap_or(Path::new(".")).to_path_buf();
                    let inodes = moved.entry(dir.clone()).or_insert_with(|| inodes_in(&dir));
                    if let Some(p) = inodes.get(&k.1) {
                        t.path = p.clone();
                    }
                }
                if (!t.seen || t.pos < t.size()) && t.reopen(k) {
                    self.open += 1;
                    reopened = true;
                }
            }
            // A copy waits for its original's truncation to say where to start.
            if t.copy_of.is_none() && t.file.is_some() && self.read(&mut t, scanner, c, on_line) {
                pass.read = true;
                t.active = self.passes;
            }
            let meta = t.file.as_ref().and_then(|f| f.metadata().ok());
            let linked = meta.as_ref().is_some_and(|m| m.nlink() > 0);
            t.missed = if t.seen { 0 } else { t.missed + 1 };
            if t.seen || (linked && t.missed < 100) {
                let size = meta.as_ref().map_or(t.size(), |m| m.len());
                pass.lag_bytes += size.saturating_sub(t.read_pos());
                if reopened && self.open > self.max_open {
                    t.close();
                    self.open -= 1;
                }
                self.files.insert(k, t);
            } else {
                if t.file.is_some() {
                    self.open -= 1;
                }
                if t.pos > t.offset {
                    let line = std::mem::take(&mut t.partial);
                    on_line(scanner, &line, c);
                    pass.read = true;
                }
            }
        }
        self.evict();
        pass
    }

    /// Closes the least recently active files down to three quarters of
    /// the cap, leaving room to reopen files that change.
    fn evict(&mut self) {
        if self.open <= self.max_open {
            return;
        }
        let target = (self.max_open * 3 / 4).max(1);
        let mut open: Vec<(u64, (u64, u64))> = self
            .files
            .iter()
            .filter(|(_, t)| t.file.is_some())
            .map(|(k, t)| (t.active, *k))
            .collect();
        open.sort_unstable();
        for (_, k) in open.into_iter().take(self.open.saturating_sub(target)) {
            if let Some(t) = self.files.get_mut(&k) {
                t.close();
                self.open -= 1;
            }
        }
    }

    fn read(
        &mut self,
        t: &mut Tracked,
        scanner: &mut Scanner,
        c: &mut Counters,
        on_line: &mut dyn FnMut(&mut Scanner, &[u8], &mut Counters),
    ) -> bool {
        let mut any = false;
        let Some(mut file) = t.file.as_ref() else {
            return false;
        };
        if file.seek(SeekFrom::Start(t.pos)).is_err() {
            return false;
        }
        loop {
            let n = match file.read(&mut self.buf) {
                Ok(0) | Err(_) => return any,
                Ok(n) => n,
            };
            let chunk = &self.buf[..n];
            let mut start = 0;
            for nl in memchr::memchr_iter(b'\n', chunk) {
                let piece = &chunk[start..nl];
                let len = t.pos - t.offset + piece.len() as u64;
                if len > self.max_line_bytes as u64 {
                    c.long_lines += 1;
                }
                if t.pos == t.offset && t.partial.is_empty() && piece.len() <= self.max_line_bytes {
                    on_line(scanner, piece, c);
                } else {
                    // An over-long line is matched on its first max_line_bytes.
                    let room = self.max_line_bytes.saturating_sub(t.partial.len());
                    t.partial.extend_from_slice(&piece[..piece.len().min(room)]);
                    on_line(scanner, &t.partial, c);
                    t.partial.clear();
                }
                t.pos += (nl - start) as u64 + 1;
                t.offset = t.pos;
                start = nl + 1;
                any = true;
            }
            let rest = &chunk[start..];
            let room = self.max_line_bytes.saturating_sub(t.partial.len());
            t.partial.extend_from_slice(&rest[..rest.len().min(room)]);
            t.pos += rest.len() as u64;
            if n < self.buf.len() {
                return any;
            }
        }
    }

    /// Writes offsets and counters in one durable step.
    pub fn save(&self, scanner: &Scanner, c: &Counters) -> std::io::Result<()> {
        let Some(file) = &self.checkpoint_file else {
            return Ok(());
        };
        let cp = self.checkpoint(scanner, c);
        crate::durable::write(
            file,
            &serde_json::to_vec(&cp).map_err(std::io::Error::other)?,
        )
    }

    /// The checkpoint as it would be written now.
    pub fn checkpoint(&self, scanner: &Scanner, c: &Counters) -> Checkpoint {
        let mut files: Vec<FileCheckpoint> = self
            .files
            .values()
            // A copy waiting for its original's truncate (copytruncate) has
            // read nothing of its own: after a restart it is found again,
            // as a copy, or by the original's checkpoint once truncated.
            .filter(|t| t.copy_of.is_none())
            .map(|t| FileCheckpoint {
                id: t.id,
                offset: t.offset,
                path: t.path.clone(),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let lines = super::parse::Level::ALL
            .iter()
            .map(|l| (l.as_str().to_string(), c.lines[l.index()]))
            .collect();
        let mut matches: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((ri, ch), n) in &c.matches {
            *matches
                .entry(scanner.rules.rules[*ri].name.clone())
                .or_default()
                .entry(ch.clone())
                .or_insert(0) += n;
        }
        let rotations = self
            .rotations
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        Checkpoint::V1 {
            files,
            lines,
            bytes: c.bytes,
            matches,
            rotations,
        }
    }
}

/// Counters restored from a checkpoint, for the rules now configured.
pub fn restore(cp: &Checkpoint, scanner: &Scanner) -> Counters {
    let Checkpoint::V1 {
        lines,
        bytes,
        matches,
        ..
    } = cp;
    let mut c = Counters {
        bytes: *bytes,
        ..Default::default()
    };
    for l in super::parse::Level::ALL {
        c.lines[l.index()] = lines.get(l.as_str()).copied().unwrap_or(0);
    }
    for (i, r) in scanner.rules.rules.iter().enumerate() {
        for (ch, n) in matches.get(&r.name).into_iter().flatten() {
            c.matches.insert((i, ch.clone()), *n);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write as _;

    struct Rig {
        dir: tempfile::TempDir,
        tailer: Tailer,
        scanner: Scanner,
        c: Counters,
        lines: Vec<Vec<u8>>,
    }

    impl Rig {
        fn new(first_from_start: bool) -> Rig {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("logs")).unwrap();
            let pat = dir.path().join("logs/openclaw-*.log").display().to_string();
            let (mut tailer, _) = Tailer::new(vec![pat], Some(dir.path()), 64 * 1024);
            if first_from_start {
                tailer.first = false;
            }
            Rig {
                dir,
                tailer,
                scanner: Scanner::builtin(),
                c: Counters::default(),
                lines: Vec::new(),
            }
        }
        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join("logs").join(name)
        }
        fn append(&self, name: &str, text: &[u8]) {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(name))
                .unwrap()
                .write_all(text)
                .unwrap();
        }
        fn pass(&mut self) -> Pass {
            let lines = &mut self.lines;
            let mut on = |s: &mut Scanner, l: &[u8], c: &mut Counters| {
                lines.push(l.to_vec());
                s.line(l, c, |_, _, _| {});
            };
            let p = self.tailer.pass(&mut self.scanner, &mut self.c, &mut on);
            self.tailer.save(&self.scanner, &self.c).unwrap();
            p
        }
        fn truncate(&self, name: &str) {
            OpenOptions::new()
                .write(true)
                .open(self.path(name))
                .unwrap()
                .set_len(0)
                .unwrap();
        }
        fn restart(&mut self) {
            let pat = self.path("openclaw-*.log").display().to_string();
            let (t, cp) = Tailer::new(vec![pat], Some(self.dir.path()), 64 * 1024);
            self.tailer = t;
            self.c = restore(&cp.unwrap(), &self.scanner);
        }
    }

    fn numbered(from: usize, to: usize) -> Vec<u8> {
        (from..to).map(|i| format!("{{\"message\":\"line {i:06} of the log, long enough to make the first kilobyte of each file differ {i}\"}}\n")).collect::<String>().into_bytes()
    }

    #[test]
    fn first_start_reads_existing_files_from_the_end_and_new_ones_from_the_start() {
        let mut r = Rig::new(false);
        r.append("openclaw-a.log", &numbered(0, 10));
        assert!(!r.pass().read);
        r.append("openclaw-a.log", &numbered(10, 12));
        r.append("openclaw-b.log", &numbered(500, 503));
        let p = r.pass();
        assert_eq!(
            (r.c.total_lines(), p.rotations),
            (5, vec![Rotation::NewFile])
        );
    }

    #[test]
    fn past_the_descriptor_cap_idle_files_close_and_reopen_without_losing_a_line() {
        let mut r = Rig::new(true);
        r.tailer.set_max_open(4);
        let name = |i: usize| format!("openclaw-{i:03}.log");
        let mut want = 0;
        let check = |r: &Rig| {
            let open = r.tailer.files.values().filter(|t| t.file.is_some()).count();
            assert_eq!(open, r.tailer.open_files());
            assert!(open <= 4, "{open} open");
        };
        for round in 0..5 {
            for i in 0..40 {
                if (i + round) % 3 == 0 {
                    r.append(
                        &name(i),
                        &numbered(i * 1000 + round * 10, i * 1000 + round * 10 + 3),
                    );
                    want += 3;
                }
            }
            // A line split across passes in a file that gets closed between.
            r.append(&name(7), b"{\"message\":\"half");
            r.pass();
            check(&r);
            r.append(&name(7), b" a disconnect\"}\n");
            want += 1;
            r.pass();
            check(&r);
        }
        assert_eq!(r.c.total_lines(), want);
        assert_eq!(r.tailer.files.len(), 40);
        // A closed file written to, then renamed out of the patterns: its
        // last lines are still read, found by inode.
        r.pass();
        let idle = (0..40)
            .find(|i| {
                let m = std::fs::metadata(r.path(&name(*i))).unwrap();
                r.tailer.files[&(m.dev(), m.ino())].file.is_none()
            })
            .unwrap();
        r.append(&name(idle), &numbered(90_000, 90_005));
        std::fs::rename(r.path(&name(idle)), r.path("archived.log")).unwrap();
        r.pass();
        check(&r);
        assert_eq!(r.c.total_lines(), want + 5);
        // Truncated while closed: read again from the start.
        let idle = (0..40)
            .filter(|i| *i != idle)
            .find(|i| {
                let m = std::fs::metadata(r.path(&name(*i))).unwrap();
                r.tailer.files[&(m.dev(), m.ino())].file.is_none()
            })
            .unwrap();
        std::fs::write(r.path(&name(idle)), numbered(95_000, 95_002)).unwrap();
        r.pass();
        check(&r);
        assert_eq!(r.c.total_lines(), want + 7);
        // And a restart resumes every file, open or not, where it was.
        for i in 0..40 {
            if i != idle {
                r.append(&name(i), &numbered(99_000, 99_001));
            }
        }
        r.restart();
        r.tailer.set_max_open(4);
        r.pass();
        check(&r);
        // 39 lines: 38 in followed files, one in a new file at the name
        // the archived one left.
        assert_eq!(r.c.total_lines(), want + 7 + 39);
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let mut r = Rig::new(true);
        r.append("openclaw-a.log", b"{\"message\":\"half");
        r.pass();
        assert_eq!(r.c.total_lines(), 0);
        r.append("openclaw-a.log", b" a disconnect\"}\n");
        r.pass();
        assert_eq!(
            r.lines,
            vec![b"{\"message\":\"half a disconnect\"}".to_vec()]
        );
        assert_eq!(r.c.matches.get(&(0, String::new())), Some(&1));
    }

    #[test]
    fn rename_rotation_loses_nothing() {
        let mut r = Rig::new(true);
        r.append("openclaw-a.log", &numbered(0, 100));
        r.pass();
        r.append("openclaw-a.log", &numbered(100, 150));
        std::fs::rename(r.path("openclaw-a.log"), r.path("openclaw-a.1.log")).unwrap();
        r.append("openclaw-a.log", &numbered(150, 200));
        let p = r.pass();
        assert_eq!(r.c.total_lines(), 200);
        assert_eq!(p.rotations, vec![Rotation::Rename]);
        assert_eq!(p.lag_bytes, 0);
    }

    #[test]
    fn delete_and_recreate() {
        let mut r = Rig::new(true);
        r.append("openclaw-a.log", &numbered(0, 10));
        r.pass();
        std::fs::remove_file(r.path("openclaw-a.log")).unwrap();
        r.append("openclaw-a.log", &numbered(10, 15));
        r.pass();
        assert_eq!(r.c.total_lines(), 15);
    }

    #[test]
    fn copytruncate_resumes_in_the_copy() {
        let mut r = Rig::new(true);
        r.append("openclaw-a.log", &numbered(0, 50));
        r.pass();
        r.append("openclaw-a.log", &numbered(50, 80));
        std::fs::copy(r.path("openclaw-a.log"), r.path("openclaw-a.1.log")).unwrap();
        r.truncate("openclaw-a.log");
        r.append("openclaw-a.log", &numbered(80, 90));
        let p = r.pass();
        assert!(
            p.rotations.contains(&Rotation::Truncate),
            "{:?}",
            p.rotations
        );
        assert_eq!(r.c.total_lines(), 90);
    }

    #[test]
    fn copytruncate_across_a_restart_counts_each_line_once() {
        let mut r = Rig::new(true);
        r.append("openclaw-a.log", &numbered(0, 50));
        r.pass();
        // The copy is seen before the truncate, then clawwatch dies.
        std::fs::copy(r.path("openclaw-a.log"), r.path("openclaw-a.1.log")).unwrap();
        r.append("openclaw-a.1.log", b"");
        r.pass();
        r.restart();
        // While it is down: the truncate, and new lines.
        r.truncate("openclaw-a.log");
        r.append("openclaw-a.log", &numbered(50, 60));
        r.pass();
        assert_eq!(
            r.c.total_lines(),
            60,
            "the copy resumes where the original stopped"
        );
        // And a copy listed only after the truncate was seen.
        r.append("openclaw-a.log", &numbered(60, 70));
        r.pass();
        std::fs::copy(r.path("openclaw-a.log"), r.path("openclaw-a.2.log")).unwrap();
        let copy = r.path("openclaw-a.2.log");
        std::fs::rename(&copy, r.dir.path().join("hidden")).unwrap();
        r.truncate("openclaw-a.log");
        r.append("openclaw-a.log", &numbered(70, 75));
        r.pass();
        std::fs::rename(r.dir.path().join("hidden"), &copy).unwrap();
        r.pass();
        assert_eq!(r.c.total_lines(), 75);
    }

    #[test]
    fn restart_resumes_exactly() {
        let mut r = Rig::new(true);
        r.append("openclaw-a.log", &numbered(0, 30));
        r.append("openclaw-a.log", b"{\"message\":\"partial");
        r.pass();
        r.restart();
        r.append("openclaw-a.log", b" line\"}\n");
        r.append("openclaw-a.log", &numbered(30, 40));
        r.pass();
        assert_eq!(r.c.total_lines(), 41);
    }

    #[test]
    fn a_1_mb_line_and_invalid_utf8_count_once() {
        let mut r = Rig::new(true);
        let mut big = b"{\"message\":\"disconnect ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 1 << 20));
        big.extend_from_slice(b"\"}\n");
        r.append("openclaw-a.log", &big);
        r.append("openclaw-a.log", b"\xff\xfe not utf-8 disconnect\n");
        r.pass();
        assert_eq!(r.c.total_lines(), 2);
        assert_eq!(r.c.matches.get(&(0, String::new())), Some(&2));
        assert_eq!(r.lines[0].len(), 64 * 1024);
    }

    #[test]
    fn patterns_are_globs_on_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "openclaw-2026-11-26.log",
            "openclaw-2026-11-26.1.log",
            "other.log",
            "a.txt",
        ] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let names = |p: &str| -> Vec<String> {
            Pattern::new(&dir.path().join(p).display().to_string())
                .unwrap()
                .expand()
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            names("openclaw-*.log"),
            ["openclaw-2026-11-26.1.log", "openclaw-2026-11-26.log"]
        );
        assert_eq!(names("{other,a}.*"), ["a.txt", "other.log"]);
        assert_eq!(names("a.txt"), ["a.txt"]);
        assert!(names("nope.log").is_empty());
        assert_eq!(
            Pattern::new("/tmp/[a.log").unwrap_err(),
            "unclosed character class; missing ']'"
        );
    }

    #[test]
    fn a_missing_directory_is_no_error() {
        let (mut t, _) = Tailer::new(vec!["/nonexistent/dir/openclaw-*.log".into()], None, 1024);
        let mut s = Scanner::builtin();
        let mut c = Counters::default();
        let p = t.pass(&mut s, &mut c, &mut |s, l, c| s.line(l, c, |_, _, _| {}));
        assert_eq!((c.total_lines(), p.lag_bytes, p.read), (0, 0, false));
    }

    #[test]
    fn checkpoint_format_is_pinned() {
        let cp = Checkpoint::V1 {
            files: vec![FileCheckpoint {
                id: FileId {
                    dev: 1,
                    ino: 2,
                    fp: 3,
                    fp_len: 4,
                },
                offset: 5,
                path: "/tmp/openclaw/openclaw-2026-11-26.log".into(),
            }],
            lines: BTreeMap::from([("info".into(), 7)]),
            bytes: 9,
            matches: BTreeMap::from([(
                "disconnect".into(),
                BTreeMap::from([("telegram".into(), 3)]),
            )]),
            rotations: BTreeMap::from([("rename".into(), 1)]),
        };
        let want = r#"{"version":"1","files":[{"dev":1,"ino":2,"fp":3,"fp_len":4,"offset":5,"path":"/tmp/openclaw/openclaw-2026-11-26.log"}],"lines":{"info":7},"bytes":9,"matches":{"disconnect":{"telegram":3}},"rotations":{"rename":1}}"#;
        assert_eq!(serde_json::to_string(&cp).unwrap(), want);
        assert_eq!(serde_json::from_str::<Checkpoint>(want).unwrap(), cp);
    }
}
