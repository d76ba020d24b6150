//! Reload: `POST /-/reload` and SIGHUP re-read the config; live keys apply
//! without touching the gateway connection or log offsets, a changed token
//! reconnects once, a bad config keeps the old one.

mod common;

use common::*;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A sim that accepts any token, so that a token change can be followed.
async fn open_sim() -> clawwatch::simulate::Handle {
    clawwatch::simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        clawwatch::simulate::Options {
            scenario: "steady".into(),
            token: None,
            speed: 1.0,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

struct Rig {
    dir: tempfile::TempDir,
    sim: clawwatch::simulate::Handle,
    side: clawwatch::app::Running,
    base: String,
}

impl Rig {
    fn file(&self) -> PathBuf {
        self.dir.path().join("clawwatch.toml")
    }
    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }
    fn write(&self, extra: &str) {
        write_config(self.dir.path(), self.sim.addr, extra);
    }
    fn log(&self, message: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs().join("openclaw-2026-12-07.log"))
            .unwrap();
        f.write_all(log_line(message).as_bytes()).unwrap();
    }
    async fn reload(&self) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/-/reload", self.base))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap())
    }
    fn connects(&self) -> Vec<String> {
        self.sim.accepted.lock().unwrap().clone()
    }
}

fn write_config(dir: &Path, sim: std::net::SocketAddr, extra: &str) {
    let logs = dir.join("logs");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"

[gateway]
url = "ws://{sim}"
token_file = "{token}"
poll_interval = "200ms"
probe_interval = "off"
connect_timeout = "2s"

[logs]
paths = ["{logs}/*.log"]
state_dir = "{state}"
poll_interval = "100ms"
{extra}
"#,
        token = dir.join("token").display(),
        logs = logs.display(),
        state = dir.join("state").display(),
    );
    std::fs::write(dir.join("clawwatch.toml"), text).unwrap();
}

async fn rig(extra: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("token"), "first-token\n").unwrap();
    let sim = open_sim().await;
    write_config(dir.path(), sim.addr, extra);
    let path = dir.path().join("clawwatch.toml");
    let loader = clawwatch::app::live::Loader(Arc::new(move || clawwatch::config::load(&path)));
    let mut cfg = (loader.0)().unwrap();
    clawwatch::config::resolve_secrets(&mut cfg).unwrap();
    let state = cfg.logs.state_dir.clone();
    let side = clawwatch::app::start_with(
        cfg,
        clawwatch::app::Deps {
            state_dir: Some(state),
            loader: Some(loader),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", side.addr);
    let b = base.clone();
    wait_for(Duration::from_secs(10), "connected", || {
        let b = b.clone();
        async move { (try_health(&b).await?.1["status"] == "ok").then_some(()) }
    })
    .await;
    Rig {
        dir,
        sim,
        side,
        base,
    }
}

async fn lines(base: &str, n: f64) -> String {
    let b = base.to_string();
    wait_for(Duration::from_secs(10), "log lines", || {
        let b = b.clone();
        async move {
            let m = metrics(&b).await;
            (sample(&m, "openclaw_log_lines_total", &[("level", "info")]) == Some(n)).then_some(m)
        }
    })
    .await
}

/// One gateway log line (tslog JSON) with `message`, newline included.
fn log_line(message: &str) -> String {
    let b = serde_json::json!({ "subsystem": "gateway" }).to_string();
    serde_json::json!({"0": b, "1": message, "_meta": {"logLevelName": "INFO", "name": b}, "time": "2026-12-07T08:00:00.000+00:00", "message": message}).to_string() + "\n"
}

/// The `widget` rule's unattributed match count in `/metrics` text.
fn widget(m: &str) -> Option<f64> {
    sample(
        m,
        "openclaw_log_rule_matches_total",
        &[("rule", "widget"), ("channel", "")],
    )
}

/// Waits until the `widget` rule's count is `n`.
async fn widget_count(base: &str, n: f64, what: &str) {
    let b = base.to_string();
    wait_for(Duration::from_secs(10), what, || {
        let b = b.clone();
        async move { (widget(&metrics(&b).await) == Some(n)).then_some(()) }
    })
    .await;
}

const WIDGET: &str = r#"
[[rules]]
name = "widget"
keywords = ["widget"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_applies_a_new_rule_and_keeps_the_connection_and_offsets() {
    let r = rig("").await;
    let m = metrics(&r.base).await;
    assert_eq!(
        sample(&m, "clawwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let started = sample(
        &m,
        "clawwatch_config_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(started > 1.7e9, "{started}");
    r.log("the widget broke");
    r.log("another widget line");
    lines(&r.base, 2.0).await;

    r.write(WIDGET);
    let (code, body) = r.reload().await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["applied"], serde_json::json!(["rules"]));
    assert_eq!(body["restart_required"], serde_json::json!([]));

    // Only lines written after the reload are matched; none is read twice.
    r.log("a third widget line");
    let m = lines(&r.base, 3.0).await;
    let b = r.base.clone();
    let m2 = wait_for(Duration::from_secs(10), "the new rule's match", || {
        let b = b.clone();
        async move {
            let m = metrics(&b).await;
            widget(&m).is_some_and(|v| v > 0.0).then_some(m)
        }
    })
    .await;
    assert_eq!(widget(&m2), Some(1.0));
    assert_eq!(
        sample(&m, "openclaw_log_lines_total", &[("level", "info")]),
        Some(3.0)
    );
    assert_eq!(
        sample(&m2, "clawwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let after = sample(
        &m2,
        "clawwatch_config_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(after >= started, "{after} < {started}");
    // One connection since the start: live keys did not reconnect.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.connects(), ["first-token"]);
    r.side.cancel.cancel();
    r.sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_keeps_the_old_one_and_answers_400_with_the_key_path() {
    let r = rig(WIDGET).await;
    r.write(
        r#"
[[rules]]
name = "widget"
regex = "(unclosed"
"#,
    );
    let (code, body) = r.reload().await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["status"], "error");
    let paths: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["severity"] == "error")
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["rules[0].regex"], "{body}");
    let m = metrics(&r.base).await;
    assert_eq!(
        sample(&m, "clawwatch_config_last_reload_successful", &[]),
        Some(0.0)
    );
    // The old rule still counts.
    r.log("a widget after the failed reload");
    lines(&r.base, 1.0).await;
    widget_count(&r.base, 1.0, "the old rule's match").await;
    // A syntax error is a 400 too, by line and key, never quoting the line.
    std::fs::write(r.file(), "[gateway]\ntoken = \"sk-canary-9f8e\" oops\n").unwrap();
    let (code, body) = r.reload().await;
    assert_eq!(code, 400, "{body}");
    assert!(!body.to_string().contains("sk-canary-9f8e"), "{body}");
    assert_eq!(body["problems"][0]["path"], "<syntax>", "{body}");
    // A good one sets the gauge back to 1.
    r.write(WIDGET);
    let (code, body) = r.reload().await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["applied"], serde_json::json!([]));
    let m = metrics(&r.base).await;
    assert_eq!(
        sample(&m, "clawwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert_eq!(r.connects(), ["first-token"]);
    r.side.cancel.cancel();
    r.sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_token_reconnects_once_with_it_and_restart_only_keys_are_reported() {
    let r = rig("").await;
    std::fs::write(r.dir.path().join("token"), "second-token\n").unwrap();
    let (code, body) = r.reload().await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["applied"],
        serde_json::json!(["gateway (reconnected)"])
    );
    let sim = &r.sim;
    wait_for(Duration::from_secs(10), "the reconnect", || async move {
        (sim.accepted.lock().unwrap().len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(r.connects(), ["first-token", "second-token"]);
    let (_, doc) = health(&r.base).await;
    assert_eq!(doc["status"], "ok", "{doc}");

    // The listen address and the state dir need a restart: said, not applied.
    let text = std::fs::read_to_string(r.file())
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:1\"")
        .replace("/state\"", "/elsewhere\"");
    std::fs::write(r.file(), text).unwrap();
    let (code, body) = r.reload().await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["restart_required"],
        serde_json::json!(["server.listen", "logs.state_dir"])
    );
    assert_eq!(body["applied"], serde_json::json!([]));
    let (code, _) = get(&format!("{}/healthz", r.base)).await;
    assert_eq!(code, 200);
    assert_eq!(r.connects().len(), 2);
    r.side.cancel.cancel();
    r.sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("token"), "first-token\n").unwrap();
    let sim = open_sim().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    write_config(dir.path(), sim.addr, "");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(["run", "--config"])
        .arg(dir.path().join("clawwatch.toml"))
        .args(["--listen", &listen])
        .env_remove("CLAWWATCH_GATEWAY_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let b = base.clone();
    wait_for(Duration::from_secs(20), "connected", || {
        let b = b.clone();
        async move { (try_health(&b).await?.1["status"] == "ok").then_some(()) }
    })
    .await;
    assert_eq!(widget(&metrics(&base).await), None);
    write_config(dir.path(), sim.addr, WIDGET);
    let pid = child.id().unwrap().to_string();
    let st = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    widget_count(&base, 0.0, "the rule after SIGHUP").await;
    // The rule matches what is written from now on.
    let log = dir.path().join("logs/openclaw-2026-12-07.log");
    std::fs::write(&log, log_line("a widget")).unwrap();
    widget_count(&base, 1.0, "the rule's match after SIGHUP").await;
    // Still running, still on its first connection.
    let (code, _) = get(&format!("{base}/healthz")).await;
    assert_eq!(code, 200);
    assert_eq!(sim.accepted.lock().unwrap().len(), 1);
    let _ = child.start_kill();
    let out = child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Config reloaded."), "{err}");
    assert!(!err.contains("first-token"), "{err}");
    sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_log_paths_are_globbed_and_files_still_matched_keep_their_offsets() {
    let r = rig("").await;
    r.log("one");
    r.log("two");
    lines(&r.base, 2.0).await;
    // A file that only the new paths match, with history in it.
    let other = r.dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let old: String = (0..5).map(|i| log_line(&format!("old {i}"))).collect();
    std::fs::write(other.join("openclaw-2026-12-06.log"), &old).unwrap();
    let text = std::fs::read_to_string(r.file()).unwrap().replace(
        "*.log\"]",
        &format!("*.log\", \"{}/*.log\"]", other.display()),
    );
    std::fs::write(r.file(), text).unwrap();
    let (code, body) = r.reload().await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["applied"], serde_json::json!(["logs (re-globbed)"]));
    r.log("three");
    std::fs::OpenOptions::new()
        .append(true)
        .open(other.join("openclaw-2026-12-06.log"))
        .unwrap()
        .write_all(log_line("new").as_bytes())
        .unwrap();
    // two + one in the first file, one new in the other: the old five unread.
    let m = lines(&r.base, 4.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m2 = metrics(&r.base).await;
    assert_eq!(
        sample(&m2, "openclaw_log_lines_total", &[("level", "info")]),
        Some(4.0)
    );
    assert_eq!(sample(&m, "clawwatch_log_files_open", &[]), Some(2.0));
    assert_eq!(r.connects(), ["first-token"]);
    r.side.cancel.cancel();
    r.sim.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_firing_alerts_and_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (gw, hook) = (free_port(), free_port());
    let text = |rules: &str| {
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
[gateway]
url = "ws://127.0.0.1:{gw}"
connect_timeout = "1s"
[logs]
paths = []
state_dir = "{state}"
[alerting]
gateway_down_after = "1s"
[[integrations]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{hook}/hook"
{rules}
"#,
            state = d.join("state").display()
        )
    };
    let file = d.join("clawwatch.toml");
    std::fs::write(&file, text("")).unwrap();
    let path = file.clone();
    let loader = clawwatch::app::live::Loader(Arc::new(move || clawwatch::config::load(&path)));
    let cfg = (loader.0)().unwrap();
    let side = clawwatch::app::start_with(
        cfg,
        clawwatch::app::Deps {
            state_dir: Some(d.join("state")),
            loader: Some(loader),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", side.addr);
    let b = base.clone();
    let before = wait_for(
        Duration::from_secs(20),
        "OpenClawGatewayDown queued",
        || {
            let b = b.clone();
            async move {
                let alerts: serde_json::Value = reqwest::get(format!("{b}/api/v1/alerts"))
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let m = metrics(&b).await;
                let queued = sample(&m, "clawwatch_notification_queue_length", &[])?;
                (alerts[0]["alert"] == "OpenClawGatewayDown" && queued == 1.0).then_some(alerts)
            }
        },
    )
    .await;
    std::fs::write(&file, text(WIDGET)).unwrap();
    let r = reqwest::Client::new()
        .post(format!("{base}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let after: serde_json::Value = reqwest::get(format!("{base}/api/v1/alerts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, before);
    let m = metrics(&base).await;
    assert_eq!(
        sample(&m, "clawwatch_notification_queue_length", &[]),
        Some(1.0)
    );
    let outbox = std::fs::read_to_string(d.join("state/outbox.json")).unwrap();
    assert!(outbox.contains("OpenClawGatewayDown"), "{outbox}");
    side.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_turns_on_with_a_reload_and_a_bad_value_is_refused() {
    let r = rig("").await;
    r.sim.set(
        "telegram",
        "default",
        clawwatch::simulate::scenario::Phase::Stopped,
    );
    let rec = |base: String| async move {
        let (_, body) = get(&format!("{base}/api/v1/recovery")).await;
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let tg = |v: &serde_json::Value| {
        v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["channel"] == "telegram")
            .cloned()
    };
    let row = wait_for(Duration::from_secs(10), "telegram's recovery row", || {
        let b = r.base.clone();
        async move { tg(&rec(b).await) }
    })
    .await;
    assert_eq!(
        (row["status"].as_str(), row["rule"].as_str()),
        (Some("disabled"), Some("disabled"))
    );
    r.write("[recovery]\nenabled = true\njitter = 2.0\n");
    let (code, body) = r.reload().await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["problems"][0]["path"], "recovery.jitter", "{body}");
    r.write("[recovery]\nenabled = true\nafter = \"1s\"\njitter = 0.0\n");
    let (code, body) = r.reload().await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["applied"], serde_json::json!(["recovery"]), "{body}");
    wait_for(Duration::from_secs(10), "the first action", || {
        let sim = &r.sim;
        async move { (sim.calls.lock().unwrap().len() == 2).then_some(()) }
    })
    .await;
    let calls = r.sim.calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
        ["channels.stop", "channels.start"]
    );
    // The poller's one connection, and the action's own short session.
    assert_eq!(r.connects().len(), 2, "the poller kept its connection");
    r.side.cancel.cancel();
    r.sim.cancel.cancel();
}
