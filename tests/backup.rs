//! Session backups: a byte-exact round trip with modes, consistency while a
//! writer keeps changing a file, restore's refusals, and retention.

use clawwatch::backup::{self, BackupError};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn session(dir: &Path) {
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(
        dir.join("creds.json"),
        br#"{"me":{"id":"x"},"noiseKey":"k"}"#,
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("creds.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        dir.join("keys/app-state-sync-key-AAA.json"),
        [0u8, 159, 146, 150, 255],
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("keys/app-state-sync-key-AAA.json"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    let mut out = Vec::new();
    for p in ["creds.json", "keys/app-state-sync-key-AAA.json"] {
        let f = dir.join(p);
        out.push((
            p.to_string(),
            std::fs::read(&f).unwrap(),
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        ));
    }
    out
}

#[test]
fn a_backup_round_trips_byte_exactly_with_modes() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("credentials/whatsapp/default");
    session(&src);
    let root = d.path().join("backups");
    let original = tree(&src);
    let b = backup::snapshot(&src, &root, "default", 1000.0).unwrap();
    assert_eq!(b.id, "default/1000000");
    assert_eq!(b.manifest.files.len(), 2);
    assert_eq!(
        std::fs::metadata(&root).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(&b.dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(tree(&b.dir), original, "the copy is the session");
    // The session breaks; the backup puts it back exactly.
    std::fs::write(src.join("creds.json"), b"{torn").unwrap();
    match backup::restore(&root, &b.id, false, false) {
        Err(BackupError::Refused(why)) => {
            assert!(why.contains("changed after this backup was taken"), "{why}")
        }
        other => panic!("a newer session must be refused: {other:?}"),
    }
    match backup::restore(&root, &b.id, true, true) {
        Ok(p) => assert_eq!(p, std::fs::canonicalize(&src).unwrap()),
        other => panic!("{other:?}"),
    }
    assert_eq!(tree(&src), original);
    assert_eq!(
        std::fs::metadata(&src).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let aside: Vec<_> = std::fs::read_dir(src.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("default.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "the replaced session is kept");
    // While the gateway runs: refused, even for an older session.
    let old = backup::snapshot(&src, &root, "default", 4_000_000_000.0).unwrap();
    match backup::restore(&root, &old.id, false, true) {
        Err(BackupError::Refused(why)) => {
            assert!(why.starts_with("the gateway is running"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        backup::restore(&root, "default/1", false, false),
        Err(BackupError::NotFound(_))
    ));
    // Never inside the session itself.
    assert!(matches!(
        backup::snapshot(&src, &src.join("b"), "default", 5.0),
        Err(BackupError::Inside(..))
    ));
}

#[test]
fn a_backup_while_a_writer_keeps_changing_the_session_is_never_torn() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("s");
    session(&src);
    let root = d.path().join("b");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (src, stop) = (src.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut k = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Sizes vary, as a real session's do; each version is whole JSON.
                let body = format!(
                    "{{\"n\":{k},\"pad\":\"{}\"}}",
                    "x".repeat((k % 5000) as usize)
                );
                let _ = std::fs::write(src.join("creds.json"), body);
                k += 1;
                // Bursts, as a gateway saving keys does: quiet gaps between.
                if k % 200 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(60));
                }
            }
            k
        })
    };
    let (mut good, mut unstable) = (0, 0);
    for i in 0..40 {
        match backup::snapshot(&src, &root, "s", 10.0 + i as f64) {
            Ok(b) => {
                let bytes = std::fs::read(b.dir.join("creds.json")).unwrap();
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .unwrap_or_else(|e| panic!("torn copy ({e}): {} bytes", bytes.len()));
                good += 1;
            }
            Err(BackupError::Unstable(..)) => unstable += 1,
            Err(e) => panic!("{e}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let versions = writer.join().unwrap();
    eprintln!(
        "{versions} versions written; {good} consistent backups, {unstable} gave up after 5 tries"
    );
    assert!(good + unstable == 40 && versions > 100);
    assert!(good > 0, "some copies fall in the quiet gaps");
    // Quiet again: it succeeds.
    assert!(backup::snapshot(&src, &root, "s", 100.0).is_ok());
}

#[test]
fn retention_keeps_exactly_what_it_says() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("s");
    session(&src);
    let root = d.path().join("b");
    for t in [100.0, 200.0, 300.0, 400.0, 500.0] {
        backup::snapshot(&src, &root, "default", t).unwrap();
    }
    let ids = |root: &Path| {
        backup::list(root)
            .into_iter()
            .map(|b| b.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        backup::prune(&root, 3, 1e9, 600.0),
        ["default/200000", "default/100000"]
    );
    assert_eq!(
        ids(&root),
        ["default/500000", "default/400000", "default/300000"]
    );
    // By age: older than 150 s at t = 600 goes, but the newest always stays.
    assert_eq!(
        backup::prune(&root, 3, 150.0, 600.0),
        ["default/400000", "default/300000"]
    );
    assert_eq!(ids(&root), ["default/500000"]);
    assert!(
        backup::prune(&root, 1, 0.0, 10_000.0).is_empty(),
        "the newest always stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_backs_up_on_schedule_and_says_when() {
    let d = tempfile::tempdir().unwrap();
    let oc = d.path().join("oc");
    session(&oc.join("credentials/whatsapp/default"));
    let mut cfg = clawwatch::config::Config::default();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.gateway.url = format!(
        "ws://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    cfg.logs.paths = vec![];
    cfg.logs.state_dir = d.path().join("state");
    cfg.backup.enabled = true;
    cfg.doctor.openclaw_state_dir = Some(oc.clone());
    let side = clawwatch::app::start(cfg, Some(d.path().join("state")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let start = std::time::Instant::now();
    let at = loop {
        let m = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Some(v) = m.lines().find_map(|l| l.strip_prefix("clawwatch_backup_last_success_timestamp_seconds{channel=\"whatsapp\",account=\"default\"} ")) {
            break v.parse::<f64>().unwrap();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "no backup reported"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let kept = backup::list(&d.path().join("state/backups"));
    assert_eq!(kept.len(), 1);
    // The metric's text may differ from the manifest's in the last digit of
    // an f64; both name the same millisecond, the backup's id.
    let ms = kept[0]
        .id
        .rsplit('/')
        .next()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert_eq!(
        (
            (at * 1000.0).round() as i64,
            (kept[0].manifest.taken_at * 1000.0).round() as i64
        ),
        (ms, ms)
    );
    assert_eq!(kept[0].manifest.files.len(), 2);
    side.cancel.cancel();
}

#[test]
fn the_backup_commands_list_and_restore_with_their_refusals() {
    let d = tempfile::tempdir().unwrap();
    let oc = d.path().join("oc");
    let src = oc.join("credentials/whatsapp/default");
    session(&src);
    let cfg = d.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[gateway]\nurl = \"ws://127.0.0.1:{}\"\n[logs]\npaths = []\nstate_dir = \"{}\"\n[doctor]\nopenclaw_state_dir = \"{}\"\n",
            std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(),
            d.path().join("state").display(),
            oc.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .arg("backup")
            .args(args)
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run(&["now"]);
    assert_eq!(code, Some(0), "{text}");
    let (_, list) = run(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("default/"), "{list}");
    assert_eq!(list[0]["files"], 2);
    // The session changes after the backup: a plain restore refuses.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(src.join("creds.json"), b"{\"me\":{\"id\":\"newer\"}}").unwrap();
    let (code, text) = run(&["restore", &id]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.starts_with("refused: the session in ")
            && text.contains("changed after this backup was taken")
            && text.contains("add --force"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(src.join("creds.json")).unwrap(),
        b"{\"me\":{\"id\":\"newer\"}}"
    );
    let (code, text) = run(&["restore", &id, "--force"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(
        std::fs::read(src.join("creds.json")).unwrap(),
        br#"{"me":{"id":"x"},"noiseKey":"k"}"#
    );
}
