//! The one durable write every file the sidecar keeps goes through: a
//! sibling temporary file, fsync, rename over the target, fsync of the
//! directory. A crash leaves the old file or the new one, never half of
//! one, and a finished write survives power loss. The async forms run on
//! the blocking pool so that no async worker waits for a disk.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// The temporary sibling of `path` (`x.json` -> `x.json.new`).
pub fn temp_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` durably (see the module docs).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_of(path);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        // Durable before the rename makes it current.
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // The rename itself is durable only once the directory is.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// [`write`] on the blocking pool.
pub async fn write_async(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || write(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}

/// Reads a whole file on the blocking pool; `None` when it does not exist.
pub async fn read_async(path: PathBuf) -> std::io::Result<Option<Vec<u8>>> {
    tokio::task::spawn_blocking(move || match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Renames an unreadable file to a free `<name>.bad-<unix seconds>[-n]`
/// sibling, so that no later write destroys what a person may need.
pub fn move_aside(path: &Path, unix_secs: u64) -> std::io::Result<PathBuf> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    for n in 0..1000 {
        let aside = if n == 0 {
            path.with_file_name(format!("{name}.bad-{unix_secs}"))
        } else {
            path.with_file_name(format!("{name}.bad-{unix_secs}-{n}"))
        };
        if !aside.exists() {
            std::fs::rename(path, &aside)?;
            return Ok(aside);
        }
    }
    Err(std::io::Error::other("too many files moved aside"))
}

/// A file that only needs its latest content on disk: [`Latest::set`]
/// never waits, and a background task writes the newest bytes, skipping
/// versions that a newer one replaced meanwhile.
#[derive(Debug)]
pub struct Latest {
    tx: watch::Sender<Option<Arc<Vec<u8>>>>,
}

impl Latest {
    /// The handle and the task that writes `path`; run the task until the
    /// handle is dropped (it writes what is pending, then ends).
    pub fn new(path: PathBuf) -> (Latest, impl std::future::Future<Output = ()>) {
        let (tx, mut rx) = watch::channel::<Option<Arc<Vec<u8>>>>(None);
        let task = async move {
            let mut failed = false;
            while rx.changed().await.is_ok() {
                let Some(bytes) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let p = path.clone();
                let res = tokio::task::spawn_blocking(move || write(&p, &bytes))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|r| r);
                match res {
                    Ok(()) => failed = false,
                    Err(e) if !failed => {
                        tracing::warn!(path = %path.display(), error = %e, "Cannot save a state file; it will be retried with the next change.");
                        failed = true;
                    }
                    Err(_) => {}
                }
            }
        };
        (Latest { tx }, task)
    }

    /// Replaces what should be on disk.
    pub fn set(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(Some(Arc::new(bytes)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!temp_of(&p).exists());
        assert_eq!(temp_of(&p), dir.path().join("x.json.new"));
    }

    #[tokio::test]
    async fn latest_writes_the_newest_and_flushes_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let (l, task) = Latest::new(p.clone());
        let t = tokio::spawn(task);
        for i in 0..100 {
            l.set(format!("{i}").into_bytes());
        }
        drop(l);
        t.await.unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "99");
    }
}
