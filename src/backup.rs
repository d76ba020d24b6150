//! Session backups: consistent, verified snapshots of the WhatsApp auth
//! directories the gateway uses, with retention, and a restore that will not
//! overwrite a newer session or a running gateway's without `force`. A
//! snapshot is copied to a temporary directory, checked against a second
//! look at the source (changed meanwhile: copied again), verified byte for
//! byte, then renamed into place: never torn, never half there.

use crate::clock::Ts;
use crate::config::Config;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The gateway's state directory: `[doctor] openclaw_state_dir`,
/// `$OPENCLAW_STATE_DIR`, else `~/.openclaw`.
pub fn openclaw_state_dir(cfg: &Config) -> Option<PathBuf> {
    cfg.doctor
        .openclaw_state_dir
        .clone()
        .or_else(|| std::env::var_os("OPENCLAW_STATE_DIR").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".openclaw")))
}

/// Where the gateway's config is: `[gateway] openclaw_config`,
/// `$OPENCLAW_CONFIG_PATH`, else `openclaw.json` in its state directory.
pub fn gateway_config_path(cfg: &Config) -> Option<PathBuf> {
    cfg.gateway
        .openclaw_config
        .clone()
        .or_else(|| std::env::var_os("OPENCLAW_CONFIG_PATH").map(PathBuf::from))
        .or_else(|| openclaw_state_dir(cfg).map(|d| d.join("openclaw.json")))
}

/// The gateway's config as JSON (JSON5 on disk): `None` when there is no
/// file, the error when it does not read or parse.
pub fn read_gateway_config(cfg: &Config) -> Option<(PathBuf, Result<Value, String>)> {
    let path = gateway_config_path(cfg)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some((path, Err(e.to_string()))),
    };
    let v = json5::from_str::<Value>(&text).map_err(|e| e.to_string());
    Some((path, v))
}

/// The gateway's config (JSON5) as JSON, when it reads.
pub fn gateway_config(cfg: &Config) -> Option<Value> {
    read_gateway_config(cfg)?.1.ok()
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(h)) => PathBuf::from(h).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Every WhatsApp auth directory the gateway may use, by account: its
/// `credentials/whatsapp/<account>` (or `$OPENCLAW_OAUTH_DIR/whatsapp/...`),
/// each account's `authDir` from its config, and the article's
/// `sessions/whatsapp` when present.
pub fn whatsapp_dirs(cfg: &Config, gw: Option<&Value>) -> Vec<(String, PathBuf)> {
    let Some(state) = openclaw_state_dir(cfg) else {
        return Vec::new();
    };
    let oauth = std::env::var_os("OPENCLAW_OAUTH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| state.join("credentials"));
    let root = oauth.join("whatsapp");
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&root) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push((e.file_name().to_string_lossy().into_owned(), e.path()));
            }
        }
    }
    if let Some(accts) = gw
        .and_then(|v| v.pointer("/channels/whatsapp/accounts"))
        .and_then(Value::as_object)
    {
        for (id, a) in accts {
            let dir = a
                .get("authDir")
                .and_then(Value::as_str)
                .map(expand_home)
                .unwrap_or_else(|| root.join(id));
            if !out.iter().any(|(_, p)| *p == dir) {
                out.push((id.clone(), dir));
            }
        }
    }
    let article = state.join("sessions/whatsapp");
    if article.is_dir() && !out.iter().any(|(_, p)| *p == article) {
        out.push(("sessions".into(), article));
    }
    out.sort();
    out
}

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The source kept changing.
    #[error("{0} kept changing during {1} copies; try again when the gateway is quieter")]
    Unstable(PathBuf, u32),
    /// The copy does not read back as the source.
    #[error("the copy of {0} does not read back as the source (disk full or failing?)")]
    Verify(PathBuf),
    /// The backup would be inside the session it saves.
    #[error(
        "the backup directory {0} is inside the session directory {1}; set [backup] dir elsewhere"
    )]
    Inside(PathBuf, PathBuf),
    /// A restore that needs `--force`.
    #[error("{0}; add --force to restore anyway")]
    Refused(String),
    /// No such backup.
    #[error("no backup {0} (see `clawwatch backup list`)")]
    NotFound(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BackupError + 'a {
    move |source| BackupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path inside the session directory.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, ns (what a second look compares).
    pub mtime_ns: i128,
    /// SHA-256, hex.
    pub sha256: String,
}

/// `manifest.json` of a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always 1.
    pub version: u32,
    /// `whatsapp`.
    pub channel: String,
    /// The account.
    pub account: String,
    /// The session directory it came from.
    pub source: PathBuf,
    /// When it was taken.
    pub taken_at: Ts,
    /// Every file.
    pub files: Vec<Entry>,
}

/// A backup on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    /// `<account>/<taken_at ms>`.
    pub id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

fn sha256(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The files under `dir` (relative paths, sorted), without reading them.
fn walk(dir: &Path) -> Result<Vec<(String, std::fs::Metadata)>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for e in std::fs::read_dir(&here).map_err(io("cannot list", &here))? {
            let e = e.map_err(io("cannot list", &here))?;
            let m = e.metadata().map_err(io("cannot stat", &e.path()))?;
            let r = rel.join(e.file_name());
            if m.is_dir() {
                stack.push(r);
            } else if m.is_file() {
                out.push((r.to_string_lossy().into_owned(), m));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn stamp(files: &[(String, std::fs::Metadata)]) -> Vec<(String, u64, i128)> {
    files
        .iter()
        .map(|(p, m)| {
            (
                p.clone(),
                m.len(),
                m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            )
        })
        .collect()
}

fn private_dir(p: &Path) -> Result<(), BackupError> {
    std::fs::create_dir_all(p).map_err(io("cannot create", p))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))
        .map_err(io("cannot chmod", p))
}

/// Takes a consistent, verified snapshot of `source` into
/// `root/<account>/<ms>` (mode 0700).
pub fn snapshot(source: &Path, root: &Path, account: &str, now: Ts) -> Result<Backup, BackupError> {
    let src = std::fs::canonicalize(source).map_err(io("cannot read", source))?;
    private_dir(root)?;
    let root_c = std::fs::canonicalize(root).map_err(io("cannot read", root))?;
    if root_c.starts_with(&src) {
        return Err(BackupError::Inside(root_c, src));
    }
    let acct_dir = root.join(account);
    private_dir(&acct_dir)?;
    let id_ms = (now * 1000.0) as i64;
    const TRIES: u32 = 5;
    for _ in 0..TRIES {
        let before = walk(&src)?;
        let tmp = acct_dir.join(format!(".tmp-{id_ms}"));
        let _ = std::fs::remove_dir_all(&tmp);
        private_dir(&tmp)?;
        let mut files = Vec::new();
        for (rel, m) in &before {
            let from = src.join(rel);
            let bytes = std::fs::read(&from).map_err(io("cannot read", &from))?;
            let to = tmp.join(rel);
            if let Some(parent) = to.parent() {
                private_dir(parent)?;
            }
            std::fs::write(&to, &bytes).map_err(io("cannot write", &to))?;
            let mode = m.permissions().mode() & 0o7777;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
                .map_err(io("cannot chmod", &to))?;
            files.push(Entry {
                path: rel.clone(),
                size: bytes.len() as u64,
                mode,
                mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
                sha256: sha256(&bytes),
            });
        }
        // A second look: anything written meanwhile means the copy may be
        // torn, and so does a creds.json that does not parse (caught between
        // a writer's truncate and its write).
        std::thread::sleep(std::time::Duration::from_millis(20));
        let after = walk(&src)?;
        let read_sizes_match = files
            .iter()
            .zip(&before)
            .all(|(f, (_, m))| f.size == m.len());
        let whole = files.iter().all(|f| {
            f.path != "creds.json"
                || std::fs::read(tmp.join(&f.path))
                    .ok()
                    .is_some_and(|b| serde_json::from_slice::<serde::de::IgnoredAny>(&b).is_ok())
        });
        if stamp(&before) != stamp(&after) || !read_sizes_match || !whole {
            let _ = std::fs::remove_dir_all(&tmp);
            continue;
        }
        for f in &files {
            let p = tmp.join(&f.path);
            let back = std::fs::read(&p).map_err(io("cannot read back", &p))?;
            if sha256(&back) != f.sha256 {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(BackupError::Verify(p));
            }
        }
        let manifest = Manifest {
            version: 1,
            channel: "whatsapp".into(),
            account: account.into(),
            source: src.clone(),
            // The id's millisecond, so that id, manifest and metric agree.
            taken_at: id_ms as f64 / 1000.0,
            files,
        };
        let mpath = tmp.join("manifest.json");
        crate::durable::write(
            &mpath,
            &serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        )
        .map_err(io("cannot write", &mpath))?;
        let dir = acct_dir.join(id_ms.to_string());
        std::fs::rename(&tmp, &dir).map_err(io("cannot rename", &tmp))?;
        return Ok(Backup {
            id: format!("{account}/{id_ms}"),
            dir,
            manifest,
        });
    }
    Err(BackupError::Unstable(src, TRIES))
}

/// Every backup under `root`, newest first per account (accounts sorted).
pub fn list(root: &Path) -> Vec<Backup> {
    let mut out = Vec::new();
    let Ok(accts) = std::fs::read_dir(root) else {
        return out;
    };
    let mut accts: Vec<_> = accts
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    accts.sort_by_key(|e| e.file_name());
    for a in accts {
        let account = a.file_name().to_string_lossy().into_owned();
        let mut these: Vec<Backup> = std::fs::read_dir(a.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| {
                let m: Manifest =
                    serde_json::from_slice(&std::fs::read(e.path().join("manifest.json")).ok()?)
                        .ok()?;
                Some(Backup {
                    id: format!("{account}/{}", e.file_name().to_string_lossy()),
                    dir: e.path(),
                    manifest: m,
                })
            })
            .collect();
        these.sort_by(|x, y| y.manifest.taken_at.total_cmp(&x.manifest.taken_at));
        out.extend(these);
    }
    out
}

/// Deletes, per account, backups beyond the newest `keep` and those older
/// than `max_age` seconds; the newest always stays. Returns the ids deleted.
pub fn prune(root: &Path, keep: usize, max_age: f64, now: Ts) -> Vec<String> {
    let mut gone = Vec::new();
    let all = list(root);
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for b in all {
        let n = seen.entry(b.manifest.account.clone()).or_insert(0);
        *n += 1;
        let old = now - b.manifest.taken_at > max_age;
        if *n > 1 && (*n > keep.max(1) || old) && std::fs::remove_dir_all(&b.dir).is_ok() {
            gone.push(b.id);
        }
    }
    gone
}

/// Restores backup `id` over its session directory. Refuses, without
/// `force`, while the gateway runs or when the session there is newer than
/// the backup. The session replaced is kept beside it.
pub fn restore(
    root: &Path,
    id: &str,
    force: bool,
    gateway_running: bool,
) -> Result<PathBuf, BackupError> {
    let b = list(root)
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| BackupError::NotFound(id.into()))?;
    let dest = b.manifest.source.clone();
    if !force {
        if gateway_running {
            return Err(BackupError::Refused(
                "the gateway is running: it would overwrite the restored session (stop it first)"
                    .into(),
            ));
        }
        let newest = walk(&dest)
            .ok()
            .and_then(|fs| fs.iter().filter_map(|(_, m)| m.modified().ok()).max());
        if let Some(t) = newest.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()) {
            if t.as_secs_f64() > b.manifest.taken_at {
                return Err(BackupError::Refused(format!(
                    "the session in {} changed after this backup was taken ({})",
                    dest.display(),
                    crate::clock::rfc3339(b.manifest.taken_at)
                )));
            }
        }
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    let tmp = parent.join(format!(".restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    private_dir(&tmp)?;
    for f in &b.manifest.files {
        let from = b.dir.join(&f.path);
        let bytes = std::fs::read(&from).map_err(io("cannot read", &from))?;
        if sha256(&bytes) != f.sha256 {
            return Err(BackupError::Verify(from));
        }
        let to = tmp.join(&f.path);
        if let Some(p) = to.parent() {
            private_dir(p)?;
        }
        std::fs::write(&to, &bytes).map_err(io("cannot write", &to))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(f.mode))
            .map_err(io("cannot chmod", &to))?;
    }
    if dest.exists() {
        let aside = parent.join(format!(
            "{}.before-restore-{}",
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        std::fs::rename(&dest, &aside).map_err(io("cannot move aside", &dest))?;
    }
    std::fs::rename(&tmp, &dest).map_err(io("cannot rename", &tmp))?;
    Ok(dest)
}

/// What the scheduled backups run on.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The config (`[backup]`, and where the sessions are).
    pub config: Config,
    /// Where backups go.
    pub root: PathBuf,
}

/// The newest backup's time per account under `root`.
pub fn newest(root: &Path) -> std::collections::BTreeMap<String, Ts> {
    let mut out = std::collections::BTreeMap::new();
    for b in list(root) {
        out.entry(b.manifest.account.clone())
            .or_insert(b.manifest.taken_at);
    }
    out
}

/// Takes the backups at the start and then every `[backup] interval`,
/// prunes, and reports each account's last good one.
pub async fn run(
    s: Schedule,
    metrics: crate::metrics::Metrics,
    exposition: std::sync::Arc<crate::metrics::Exposition>,
    tx: tokio::sync::mpsc::Sender<crate::observation::Observation>,
    clock: crate::clock::Clock,
    cancel: tokio_util::sync::CancellationToken,
) {
    use crate::observation::Observation;
    let report = |account: String, last: Option<Ts>| Observation::Backup {
        account,
        last_success: last,
    };
    let sessions = |s: &Schedule| {
        let gw = gateway_config(&s.config);
        whatsapp_dirs(&s.config, gw.as_ref())
    };
    // What the disk already holds: a restart does not forget a backup.
    let root = s.root.clone();
    let kept = tokio::task::spawn_blocking(move || newest(&root))
        .await
        .unwrap_or_default();
    for (acct, _) in sessions(&s) {
        let _ = tx
            .send(report(acct.clone(), kept.get(&acct).copied()))
            .await;
    }
    let mut wait = std::time::Duration::ZERO;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = s.config.backup.interval;
        for (acct, dir) in sessions(&s) {
            let (root, a, now) = (s.root.clone(), acct.clone(), clock.now());
            let r = tokio::task::spawn_blocking(move || snapshot(&dir, &root, &a, now)).await;
            match r {
                Ok(Ok(b)) => {
                    tracing::info!(account = %acct, id = %b.id, files = b.manifest.files.len(), "Session backed up.");
                    let _ = tx.send(report(acct, Some(b.manifest.taken_at))).await;
                }
                Ok(Err(e)) => {
                    metrics.backup_failures.inc();
                    exposition.touch();
                    exposition.schedule();
                    tracing::warn!(account = %acct, error = %e, "Session backup failed.");
                }
                Err(_) => {
                    metrics.backup_failures.inc();
                    exposition.touch();
                    exposition.schedule();
                }
            }
        }
        let (root, b, now) = (s.root.clone(), s.config.backup.clone(), clock.now());
        let _ =
            tokio::task::spawn_blocking(move || prune(&root, b.keep, b.max_age.as_secs_f64(), now))
                .await;
    }
}
