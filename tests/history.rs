//! The history store: it survives a restart and a SIGKILL, keeps to its
//! size cap and retention (on a paused clock), repairs a torn tail, and
//! `clawwatch history --json` counts what `/api/v1/history` lists.

mod common;
use clawwatch::clock::Clock;
use clawwatch::history::store::{Limits, Query, Store};
use clawwatch::model::{Reason, State};
use clawwatch::state::Event;
use common::*;
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

fn flap(at: f64, k: usize) -> Vec<Event> {
    let (from, to) = if k % 2 == 0 {
        (State::Connected, State::Reconnecting)
    } else {
        (State::Reconnecting, State::Connected)
    };
    let mut v = vec![Event::Transition {
        at,
        channel: ["discord", "telegram", "whatsapp"][k % 3].into(),
        account: format!("acct-{}", k % 5),
        from,
        to,
        reason: (to == State::Reconnecting).then_some(Reason::Network),
    }];
    if to == State::Reconnecting {
        v.push(Event::Disconnect {
            at,
            channel: ["discord", "telegram", "whatsapp"][k % 3].into(),
            account: format!("acct-{}", k % 5),
            reason: Reason::Network,
        });
    }
    v
}

fn record(s: &mut Store, at: f64, k: usize) {
    let evs = flap(at, k);
    let refs: Vec<&Event> = evs.iter().collect();
    s.record(&refs, at);
}

fn all(s: &Store) -> Vec<Value> {
    s.query(&Query {
        limit: usize::MAX,
        ..Default::default()
    })
}

fn limits(retention: f64, max_bytes: u64) -> Limits {
    Limits {
        retention,
        max_bytes,
    }
}

fn open(dir: &Path, l: Limits, now: f64) -> (Store, clawwatch::history::store::Opened, Counter) {
    let c = Counter::default();
    let (s, o) = Store::open(Some(dir.to_path_buf()), l, now, c.clone(), None);
    (s, o, c)
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[tokio::test(start_paused = true)]
async fn restart_reads_back_every_record_and_ids_go_on() {
    let clock = Clock::fake(T0);
    let dir = tempfile::tempdir().unwrap();
    let (mut s, o, _) = open(dir.path(), limits(7.0 * 86400.0, 64 << 20), clock.now());
    assert_eq!(o.records, 0);
    for k in 0..100 {
        // Odd milliseconds: what is written must read back the same.
        tokio::time::advance(Duration::from_millis(30_137)).await;
        record(&mut s, clock.now(), k);
    }
    let before = all(&s);
    assert_eq!(before.len(), 150, "100 transitions and 50 disconnects");
    assert_eq!(before[0]["id"], 150);
    drop(s);
    let (mut s, o, dropped) = open(dir.path(), limits(7.0 * 86400.0, 64 << 20), clock.now());
    assert_eq!(o.records, 150);
    assert_eq!((o.cut_bytes, o.skipped), (0, 0));
    assert_eq!(all(&s), before);
    assert_eq!(dropped.get(), 0);
    record(&mut s, clock.now(), 1);
    assert_eq!(all(&s)[0]["id"], 151);
    // Paging back from an id, and the filters.
    let page = s.query(&Query {
        before: Some(100),
        limit: 10,
        ..Default::default()
    });
    let ids: Vec<u64> = page.iter().map(|v| v["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (90..100).rev().collect::<Vec<u64>>());
    let tg = s.query(&Query {
        channel: Some("telegram".into()),
        account: Some("acct-1".into()),
        limit: usize::MAX,
        ..Default::default()
    });
    assert!(!tg.is_empty());
    assert!(tg
        .iter()
        .all(|v| v["channel"] == "telegram" && v["account"] == "acct-1"));
}

#[tokio::test(start_paused = true)]
async fn the_size_cap_drops_the_oldest_and_counts_them() {
    let clock = Clock::fake(T0);
    let dir = tempfile::tempdir().unwrap();
    let cap = 64 * 1024;
    let (mut s, _, dropped) = open(dir.path(), limits(7.0 * 86400.0, cap), clock.now());
    let mut written = 0u64;
    for k in 0..5000 {
        tokio::time::advance(Duration::from_secs(1)).await;
        record(&mut s, clock.now(), k);
        written += if k % 2 == 0 { 2 } else { 1 };
    }
    let on_disk: u64 = segments(dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(on_disk, s.bytes());
    assert!(on_disk <= cap, "{on_disk} bytes on disk, cap {cap}");
    assert!(on_disk > cap * 3 / 4, "the cap is used: {on_disk}");
    let kept = all(&s);
    assert_eq!(dropped.get(), written - kept.len() as u64);
    // The newest are kept, with no hole.
    let ids: Vec<u64> = kept.iter().map(|v| v["id"].as_u64().unwrap()).collect();
    let first = written - kept.len() as u64 + 1;
    assert_eq!(ids, (first..=written).rev().collect::<Vec<u64>>());
    // And a restart reads back the same.
    drop(s);
    let (s, o, _) = open(dir.path(), limits(7.0 * 86400.0, cap), clock.now());
    assert_eq!(o.records, kept.len());
    assert_eq!(all(&s), kept);
}

#[tokio::test(start_paused = true)]
async fn retention_drops_what_aged_out_on_a_paused_clock() {
    let clock = Clock::fake(T0);
    let dir = tempfile::tempdir().unwrap();
    let hour = 3600.0;
    // Small segments, so that old ones are deleted whole.
    let (mut s, _, dropped) = open(dir.path(), limits(hour, 64 * 1024), clock.now());
    for k in 0..40 {
        record(&mut s, clock.now(), 2 * k + 1);
    }
    assert_eq!(s.len(), 40);
    tokio::time::advance(Duration::from_secs(1800)).await;
    for k in 0..40 {
        record(&mut s, clock.now(), 2 * k + 1);
    }
    assert_eq!((s.len(), dropped.get()), (80, 0));
    tokio::time::advance(Duration::from_secs(1801)).await;
    s.expire(clock.now());
    assert_eq!((s.len(), dropped.get()), (40, 40));
    assert!(all(&s).iter().all(|v| v["id"].as_u64().unwrap() > 40));
    // A restart much later keeps nothing older than the retention.
    drop(s);
    tokio::time::advance(Duration::from_secs(3600)).await;
    let (s, o, _) = open(dir.path(), limits(hour, 64 * 1024), clock.now());
    assert_eq!((o.records, s.len()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_torn_tail_is_cut_and_a_corrupt_record_skipped() {
    let clock = Clock::fake(T0);
    let dir = tempfile::tempdir().unwrap();
    let l = || limits(7.0 * 86400.0, 64 << 20);
    let (mut s, _, _) = open(dir.path(), l(), clock.now());
    for k in 0..10 {
        record(&mut s, clock.now(), 2 * k + 1);
    }
    drop(s);
    let seg = segments(dir.path()).pop().unwrap();
    let good = std::fs::metadata(&seg).unwrap().len();
    // A write cut short by a crash or a full disk.
    let torn = b"{\"account\":\"acct-1\",\"at\":\"2026-12-07T10:";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .unwrap()
        .write_all(torn)
        .unwrap();
    let (mut s, o, _) = open(dir.path(), l(), clock.now());
    assert_eq!(
        (o.records, o.cut_bytes, o.skipped),
        (10, torn.len() as u64, 0)
    );
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), good);
    record(&mut s, clock.now(), 1);
    drop(s);
    let (s, o, _) = open(dir.path(), l(), clock.now());
    assert_eq!((o.records, o.cut_bytes, o.skipped), (11, 0, 0));
    assert_eq!(all(&s)[0]["id"], 11);
    drop(s);

    // A complete last line whose checksum fails is cut too.
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 12] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    let (s, o, _) = open(dir.path(), l(), clock.now());
    assert_eq!(o.records, 10);
    assert!(o.cut_bytes > 0);
    drop(s);

    // A flipped byte in the middle costs that record only.
    let mut bytes = std::fs::read(&seg).unwrap();
    let second = bytes.iter().position(|b| *b == b'\n').unwrap() + 5;
    bytes[second] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let (s, o, _) = open(dir.path(), l(), clock.now());
    assert_eq!((o.records, o.skipped, o.cut_bytes), (9, 1, 0));
    assert_eq!(s.len(), 9);
}

fn spawn(cfg: &Path) -> Kill {
    Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(["run", "--config"])
            .arg(cfg)
            .env("NO_COLOR", "1")
            .env("CLAWWATCH_GATEWAY_TOKEN", TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn list(base: &str, q: &str) -> Option<Vec<Value>> {
    let r = reqwest::get(format!("{base}/api/v1/history?limit=10000{q}"))
        .await
        .ok()?;
    r.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_sigkill_and_the_cli_counts_what_the_api_lists() {
    let sim = clawwatch::simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        clawwatch::simulate::Options {
            scenario: "flapping".into(),
            token: Some(TOKEN.into()),
            speed: 4.0,
            repeat: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let cfg = dir.path().join("clawwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[gateway]\nurl = \"ws://{}\"\npoll_interval = \"100ms\"\n[logs]\npaths = []\nstate_dir = \"{}\"\n",
            sim.addr,
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut run = spawn(&cfg);
    let before = wait_for(Duration::from_secs(30), "20 history records", || {
        let b = base.clone();
        async move { list(&b, "").await.filter(|v| v.len() >= 20) }
    })
    .await;
    // SIGKILL: no shutdown path runs.
    run.0.kill().unwrap();
    run.0.wait().unwrap();
    let _run = spawn(&cfg);
    let after = wait_for(Duration::from_secs(20), "the sidecar back", || {
        let b = base.clone();
        async move { list(&b, "").await }
    })
    .await;
    let by_id: BTreeMap<u64, &Value> = after
        .iter()
        .map(|v| (v["id"].as_u64().unwrap(), v))
        .collect();
    for v in &before {
        let id = v["id"].as_u64().unwrap();
        assert_eq!(
            by_id.get(&id),
            Some(&v),
            "record {id} survives the SIGKILL; on disk:\n{}",
            segments(&dir.path().join("state/history"))
                .iter()
                .map(|p| std::fs::read_to_string(p).unwrap())
                .collect::<String>()
        );
    }
    let m = metrics(&base).await;
    assert_eq!(
        sample(&m, "clawwatch_history_dropped_total", &[]),
        Some(0.0)
    );

    // Let more happen, then stop the gateway so that the history holds still.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sim.cancel.cancel();
    let listed = wait_for(Duration::from_secs(20), "a still history", || {
        let b = base.clone();
        async move {
            let a = list(&b, "&since=1h").await?;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let b = list(&b, "&since=1h").await?;
            (a == b).then_some(b)
        }
    })
    .await;
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in listed.iter().filter(|e| e["kind"] == "disconnect") {
        let k = (
            e["channel"].as_str().unwrap().to_owned(),
            e["reason"].as_str().unwrap().to_owned(),
        );
        *want.entry(k).or_default() += 1;
    }
    assert!(want.values().sum::<u64>() >= 5, "{want:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args([
            "history",
            "--url",
            &base,
            "--since",
            "1h",
            "--json",
            "--page-size",
            "7",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["events"].as_array().unwrap(),
        &listed,
        "paged 7 at a time"
    );
    let got: BTreeMap<(String, String), u64> = doc["counts"]["disconnects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["channel"].as_str().unwrap().to_owned(),
                    c["reason"].as_str().unwrap().to_owned(),
                ),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // The table says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(["history", "--url", &base, "--since", "1h"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Disconnects by channel and reason:"),
        "{text}"
    );
    for ((ch, reason), n) in &want {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == [n.to_string().as_str(), ch, reason]),
            "{ch} {reason} {n} in\n{text}"
        );
    }
    // Bad input is a clear 400.
    let (code, body) = get(&format!("{base}/api/v1/history?since=yesterday")).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("neither an RFC 3339 time"), "{body}");
    let (code, _) = get(&format!("{base}/api/v1/history?before=x")).await;
    assert_eq!(code, 400);
}
