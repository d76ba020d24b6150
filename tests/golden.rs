//! Golden `/metrics` and `/health/detail` for a fixed simulated scenario on
//! a fake clock: the `cycle` scenario played to its end in virtual time by
//! the simulator and a whole sidecar sharing one paused clock, connected by
//! an in-memory pipe (a socket would let time move while bytes are in
//! flight). `UPDATE_GOLDEN=1` rewrites the files; review their diffs like code.

mod common;
use std::time::Duration;

/// The one place where values that cannot be fixed are normalised: the
/// build's version and revision, the simulator's loopback port and the
/// runtime's task count.
fn normalise(text: &str) -> String {
    let build =
        regex::Regex::new(r#"clawwatch_build_info\{version="[^"]*",revision="[^"]*"\}"#).unwrap();
    let text = build.replace_all(
        text,
        r#"clawwatch_build_info{version="VERSION",revision="REVISION"}"#,
    );
    let tasks = regex::Regex::new(r"(?m)^clawwatch_runtime_tasks [0-9]+$").unwrap();
    let text = tasks.replace_all(&text, "clawwatch_runtime_tasks TASKS");
    let port = regex::Regex::new(r"127\.0\.0\.1:[0-9]+").unwrap();
    port.replace_all(&text, "127.0.0.1:PORT").into_owned()
}

fn check(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(10)
            .map(|(i, (a, b))| format!("line {}:\n  want {a}\n  got  {b}", i + 1))
            .collect();
        panic!(
            "{name} differs from the golden file ({} vs {} lines; UPDATE_GOLDEN=1 rewrites it):\n{}",
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn cycle_scenario_on_a_fake_clock() {
    let (sim, side, clock) = common::on_pipe("cycle", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(56)).await;
    assert_eq!(
        clock.now(),
        common::T0 + 56.0,
        "the wall clock follows the paused clock"
    );

    let (code, _, metrics) = common::call(&side.router, "GET", "/metrics", &[], "").await;
    assert_eq!(code, 200);
    check("metrics.txt", &normalise(&metrics));
    let (code, _, health) = common::call(&side.router, "GET", "/health/detail", &[], "").await;
    assert_eq!(code, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    check(
        "health-detail.json",
        &normalise(&format!(
            "{}\n",
            serde_json::to_string_pretty(&health).unwrap()
        )),
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}
