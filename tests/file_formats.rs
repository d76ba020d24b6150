//! The files the sidecar keeps carry a version, and this release reads
//! what the previous one wrote: `tests/fixtures/state-0.1.0/` was written
//! by clawwatch 0.1.0 (commit d52f66c) running the `cycle` scenario with a
//! dead webhook and one silence.

mod common;
use clawwatch::alert::outbox::Outbox;
use clawwatch::alert::silence::Silences;
use clawwatch::logs::tail::Checkpoint;
use clawwatch::state::StatesFile;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/state-0.1.0")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

#[test]
fn every_file_has_a_version() {
    for name in [
        "states.json",
        "outbox.json",
        "silences.json",
        "log-checkpoints.json",
    ] {
        let v: serde_json::Value = serde_json::from_slice(&read(name)).unwrap();
        assert!(v["version"].is_string(), "{name}");
    }
}

#[test]
fn the_previous_release_files_decode() {
    let StatesFile::V1 { accounts } = serde_json::from_slice(&read("states.json")).unwrap() else {
        panic!("states.json is not version 1");
    };
    assert_eq!(
        accounts.keys().collect::<Vec<_>>(),
        ["discord/default", "telegram/default", "whatsapp/default"]
    );
    assert_eq!(accounts["whatsapp/default"].since, 1796431763.7626493);

    let outbox = Outbox::load(Some(&read("outbox.json")), 100).unwrap();
    assert_eq!(outbox.pending.len(), 5);
    assert_eq!(outbox.groups.len(), 1);
    assert_eq!(
        outbox.pending[0].id,
        "OpenClawChannelAuthRequired/whatsapp/default@1796431714.7660327/firing"
    );

    let silences = Silences::load(Some(&read("silences.json")), vec![]).unwrap();
    let list = silences.list(1796431800.0);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, "c92b688915a9b62b0798c285dbde8ac1");
    assert_eq!(list[0].status, "active");
    assert_eq!(
        list[0]
            .matchers
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>(),
        ["channel=\"whatsapp\"", "alertname=~\"OpenClaw.*\""]
    );

    let cp: Checkpoint = serde_json::from_slice(&read("log-checkpoints.json")).unwrap();
    let Checkpoint::V1 { files, matches, .. } = cp;
    assert_eq!(files.len(), 1);
    assert_eq!(matches["disconnect"]["telegram"], 1);
}

/// A sidecar on the steady simulated gateway keeping its files in `dir`.
async fn sidecar_in(
    dir: &std::path::Path,
) -> (clawwatch::simulate::Handle, clawwatch::app::Running) {
    let clock = clawwatch::clock::Clock::fake(1796431800.0);
    let (sim, pipe) = clawwatch::simulate::start_on_pipe(clawwatch::simulate::Options {
        scenario: "steady".into(),
        token: Some(common::TOKEN.into()),
        clock: clock.clone(),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = common::config(sim.addr);
    cfg.gateway.readyz_url = Some("http://127.0.0.1:9/readyz".into());
    let side = clawwatch::app::start_with(
        cfg,
        clawwatch::app::Deps {
            state_dir: Some(dir.into()),
            clock,
            gateway: Some(pipe),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (sim, side)
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_sidecar_resumes_from_them() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["states.json", "outbox.json", "silences.json"] {
        std::fs::copy(fixture(name), dir.path().join(name)).unwrap();
    }
    let (sim, side) = sidecar_in(dir.path()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (code, _, body) = common::call(&side.router, "GET", "/api/v1/silences", &[], "").await;
    assert_eq!(code, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["id"], "c92b688915a9b62b0798c285dbde8ac1");
    assert_eq!(list[0]["comment"], "relinking");
    side.cancel.cancel();
    sim.cancel.cancel();
    let _ = side.done.await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unreadable_silences_file_is_moved_aside_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, side) = sidecar_in(dir.path()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let add = |channel: &'static str| {
        let router = side.router.clone();
        async move {
            let body = format!(
                r#"{{"matchers":[{{"name":"channel","value":"{channel}"}}],"duration":"1h","comment":"c","createdBy":"me"}}"#
            );
            common::call(
                &router,
                "POST",
                "/api/v1/silences",
                &[("content-type", "application/json")],
                &body,
            )
            .await
        }
    };
    assert_eq!(add("telegram").await.0, 200);
    // A person edits the file by hand and breaks it.
    let path = dir.path().join("silences.json");
    let broken = b"{\"version\": 1, \"silences\": [ oops";
    std::fs::write(&path, broken).unwrap();
    assert_eq!(add("discord").await.0, 200);
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.starts_with("silences.json.bad-").then_some(n)
        })
        .collect();
    assert_eq!(aside, ["silences.json.bad-1796431801"]);
    assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), broken);
    let kept = Silences::load(Some(&std::fs::read(&path).unwrap()), vec![]).unwrap();
    assert_eq!(kept.live(1796431802.0), 2, "both silences saved");
    side.cancel.cancel();
    sim.cancel.cancel();
    let _ = side.done.await;
}

/// A states file with times no clock can hold: the sidecar starts, keeps
/// answering, and the accounts begin their state now, not in year 3e292.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_far_future_since_in_the_states_file_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("states.json"),
        r#"{"version": "1", "accounts": {
            "discord/default": {"state": "connecting", "since": 1e300},
            "telegram/default": {"state": "connecting", "since": -5},
            "whatsapp/default": {"state": "connecting", "since": 9000000000000000}}}"#,
    )
    .unwrap();
    let (sim, side) = sidecar_in(dir.path()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (code, _, body) = common::call(&side.router, "GET", "/health/detail", &[], "").await;
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    // The steady scenario starts connecting, as the file says: the state is
    // kept, its impossible since is not.
    assert_eq!(
        (code, doc["status"].as_str()),
        (200, Some("degraded")),
        "{doc}"
    );
    let since: Vec<(&str, &str)> = ["discord", "telegram", "whatsapp"]
        .iter()
        .map(|c| (*c, doc["accounts"][c][0]["since"].as_str().unwrap()))
        .collect();
    assert_eq!(
        since,
        [
            ("discord", "2026-12-05T00:50:00.000Z"),
            ("telegram", "2026-12-05T00:50:00.000Z"),
            ("whatsapp", "2026-12-05T00:50:00.000Z")
        ]
    );
    side.cancel.cancel();
    sim.cancel.cancel();
    let _ = side.done.await;
}
