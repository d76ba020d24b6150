//! Recovery against the simulator on a paused clock: the exact times of
//! every action, the budget, exhaustion and its resets, jitter bounds, the
//! accounts it must never touch, and the gateway's own restarts. Then a
//! real `command` action: argv, exit code, timeout kill and stderr tail.

mod common;
use clawwatch::config::RecoveryConfig;
use clawwatch::simulate::scenario::Phase;
use common::{call, on_pipe_seeded, sample, T0};
use serde_json::{json, Value};
use std::time::Duration;

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn ts(s: &str) -> f64 {
    humantime::parse_rfc3339(s)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn recovery(budget: u32, jitter: f64) -> RecoveryConfig {
    RecoveryConfig {
        enabled: true,
        jitter,
        budget_per_hour: budget,
        ..Default::default()
    }
}

async fn get(r: &axum::Router, path: &str) -> Value {
    let (code, _, body) = call(r, "GET", path, &[], "").await;
    assert_eq!(code, 200, "{path}: {body}");
    parse(&body)
}

/// Recovery entries of the history, oldest first, for one account.
async fn entries(r: &axum::Router, ch: &str, kind: &str) -> Vec<Value> {
    let h = get(r, &format!("/api/v1/history?channel={ch}&limit=10000")).await;
    let mut v: Vec<Value> = h
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect();
    v.reverse();
    v
}

async fn since(r: &axum::Router, ch: &str) -> f64 {
    let d = get(r, "/health/detail").await;
    ts(d["accounts"][ch][0]["since"].as_str().unwrap())
}

async fn sleep(s: u64) {
    tokio::time::sleep(Duration::from_secs(s)).await;
}

fn calls(sim: &clawwatch::simulate::Handle) -> Vec<(String, Value)> {
    sim.calls.lock().unwrap().clone()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_account_that_stays_down_gets_the_exact_schedule_then_the_budget_stops_it() {
    let (sim, side, clock) =
        on_pipe_seeded("steady", None, |c| c.recovery = recovery(12, 0.0)).await;
    let r = &side.router;
    sleep(10).await;
    sim.set("telegram", "default", Phase::Stopped);
    sleep(1).await;
    let t0 = since(r, "telegram").await;
    assert_eq!(t0, T0 + 10.0);
    let d = get(r, "/health/detail").await;
    let tg = &d["accounts"]["telegram"][0];
    assert_eq!(
        (tg["state"].as_str(), tg["recovery"].as_str()),
        (Some("disconnected"), Some("waiting"))
    );
    assert_eq!(
        tg["next_attempt_at"],
        json!(clawwatch::clock::rfc3339(t0 + 60.0))
    );

    // 12 actions by 1875 s; the 13th would be due at 2175 s.
    tokio::time::sleep_until(
        tokio::time::Instant::now() + Duration::from_secs_f64(t0 + 2200.0 - clock.now()),
    )
    .await;
    let acts = entries(r, "telegram", "recovery").await;
    let at: Vec<f64> = acts
        .iter()
        .map(|e| ts(e["at"].as_str().unwrap()) - t0)
        .collect();
    assert_eq!(
        at,
        [60.0, 65.0, 75.0, 95.0, 135.0, 215.0, 375.0, 675.0, 975.0, 1275.0, 1575.0, 1875.0]
    );
    for (i, e) in acts.iter().enumerate() {
        assert_eq!(
            (
                e["action"].as_str(),
                e["result"].as_str(),
                e["rule"].as_str()
            ),
            (Some("rpc"), Some("ok"), Some("down")),
            "{e}"
        );
        assert_eq!(e["attempt"], json!(i + 1));
        assert_eq!(e["detail"]["calls"][0]["method"], "channels.stop");
        assert_eq!(e["detail"]["calls"][0]["answer"]["stopped"], true);
        assert_eq!(e["detail"]["calls"][1]["answer"]["started"], true);
    }
    let ex = entries(r, "telegram", "recovery_exhausted").await;
    assert_eq!(ex.len(), 1);
    assert_eq!(ts(ex[0]["at"].as_str().unwrap()) - t0, 2175.0);
    let want: Vec<(String, Value)> = (0..12)
        .flat_map(|_| {
            let p = json!({"channel": "telegram", "accountId": "default"});
            [
                ("channels.stop".to_string(), p.clone()),
                ("channels.start".to_string(), p),
            ]
        })
        .collect();
    assert_eq!(
        calls(&sim),
        want,
        "only the telegram account, stop then start"
    );

    let (_, _, m) = call(r, "GET", "/metrics", &[], "").await;
    let tg = [("channel", "telegram"), ("account", "default")];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        tg.iter().chain(extra).copied().collect()
    };
    assert_eq!(sample(&m, "clawwatch_recovery_exhausted", &tg), Some(1.0));
    assert_eq!(
        sample(
            &m,
            "clawwatch_recovery_actions_total",
            &with(&[("action", "rpc"), ("result", "ok")])
        ),
        Some(12.0)
    );
    assert_eq!(
        sample(
            &m,
            "clawwatch_recovery_actions_total",
            &with(&[("action", "rpc"), ("result", "failed")])
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_restarts_total",
            &with(&[("initiator", "clawwatch")])
        ),
        Some(12.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_restarts_total",
            &with(&[("initiator", "gateway")])
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "clawwatch_recovery_status",
            &with(&[("status", "exhausted")])
        ),
        Some(1.0)
    );
    let d = get(r, "/health/detail").await;
    assert_eq!(d["accounts"]["telegram"][0]["recovery"], "exhausted");
    assert_eq!(d["accounts"]["telegram"][0]["recovery_attempts"], 12);
    assert_eq!(d["accounts"]["discord"][0]["recovery"], "not_attempted");

    // Connected for 5 minutes clears it; a new outage starts afresh.
    sleep(100).await;
    assert_eq!(
        entries(r, "telegram", "recovery").await.len(),
        12,
        "no action while exhausted"
    );
    sim.set("telegram", "default", Phase::Ready);
    sleep(299).await;
    assert!(entries(r, "telegram", "recovery_reset").await.is_empty());
    sleep(2).await;
    let resets = entries(r, "telegram", "recovery_reset").await;
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0]["by"], "connected");
    let rec = get(r, "/api/v1/recovery").await;
    let row = rec["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["channel"] == "telegram")
        .unwrap()
        .clone();
    assert_eq!(
        (row["status"].as_str(), row["attempts_this_hour"].as_u64()),
        (Some("not_attempted"), Some(0))
    );
    sim.set("telegram", "default", Phase::Stopped);
    sleep(1).await;
    let t1 = since(r, "telegram").await;
    sleep(66).await;
    let acts = entries(r, "telegram", "recovery").await;
    let at: Vec<f64> = acts[12..]
        .iter()
        .map(|e| ts(e["at"].as_str().unwrap()) - t1)
        .collect();
    assert_eq!(at, [60.0, 65.0]);
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_person_resets_a_spent_budget() {
    let (sim, side, clock) =
        on_pipe_seeded("steady", None, |c| c.recovery = recovery(2, 0.0)).await;
    let r = &side.router;
    sleep(10).await;
    sim.set("telegram", "default", Phase::Stopped);
    sleep(1).await;
    let t0 = since(r, "telegram").await;
    sleep(99).await;
    assert_eq!(entries(r, "telegram", "recovery").await.len(), 2);
    let ex = entries(r, "telegram", "recovery_exhausted").await;
    assert_eq!(ts(ex[0]["at"].as_str().unwrap()) - t0, 75.0);
    // A form post from a web page is refused like any write.
    let (code, _, _) = call(
        r,
        "POST",
        "/api/v1/recovery/reset",
        &[("content-type", "text/plain"), ("content-length", "2")],
        "{}",
    )
    .await;
    assert_eq!(code, 415);
    let (code, _, body) = call(
        r,
        "POST",
        "/api/v1/recovery/reset",
        &[("content-type", "application/json")],
        r#"{"channel":"telegram","account":"default"}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        parse(&body),
        json!({"status": "success", "reset": [{"channel": "telegram", "account": "default"}]})
    );
    let reset_at = clock.now();
    sleep(1).await;
    let acts = entries(r, "telegram", "recovery").await;
    assert_eq!(acts.len(), 3, "the reset account is restarted at once");
    assert_eq!(ts(acts[2]["at"].as_str().unwrap()), reset_at);
    let resets = entries(r, "telegram", "recovery_reset").await;
    assert_eq!(resets[0]["by"], "person");
    // Nothing else to reset.
    let (_, _, body) = call(r, "POST", "/api/v1/recovery/reset", &[], "").await;
    assert_eq!(
        parse(&body)["reset"],
        json!([{"channel": "telegram", "account": "default"}])
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn jitter_keeps_every_wait_within_ten_percent() {
    let (sim, side, _) =
        on_pipe_seeded("steady", Some(42), |c| c.recovery = recovery(12, 0.1)).await;
    let r = &side.router;
    sleep(10).await;
    sim.set("telegram", "default", Phase::Stopped);
    sleep(2400).await;
    let at: Vec<f64> = entries(r, "telegram", "recovery")
        .await
        .iter()
        .map(|e| ts(e["at"].as_str().unwrap()))
        .collect();
    assert_eq!(at.len(), 12);
    let nominal = [
        5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0, 300.0, 300.0,
    ];
    let mut off_nominal = 0;
    for (i, w) in at.windows(2).enumerate() {
        let wait = w[1] - w[0];
        // Waits are drawn per action; a poll may add up to a millisecond.
        assert!(
            wait >= nominal[i] * 0.9 - 0.002 && wait <= nominal[i] * 1.1 + 0.002,
            "wait {i}: {wait} vs {}",
            nominal[i]
        );
        off_nominal += usize::from((wait - nominal[i]).abs() > 0.01);
    }
    assert!(
        off_nominal >= 8,
        "jitter moved only {off_nominal} of 11 waits"
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn what_needs_a_person_is_never_restarted_and_the_gateways_own_restart_defers() {
    let (sim, side, clock) =
        on_pipe_seeded("steady", None, |c| c.recovery = recovery(12, 0.0)).await;
    let r = &side.router;
    sleep(10).await;
    sim.set("whatsapp", "default", Phase::LoggedOut);
    sim.set(
        "discord",
        "default",
        Phase::Blocked {
            error: "Gateway websocket closed: 4014".into(),
            close: Some(4014),
        },
    );
    sim.set(
        "telegram",
        "default",
        Phase::Restarting {
            error: "Network request for 'getUpdates' failed!".into(),
            attempt: 1,
        },
    );
    sleep(1800).await;
    assert_eq!(calls(&sim), vec![], "nothing restarted in 30 minutes");
    let rec = get(r, "/api/v1/recovery").await;
    let by = |ch: &str| {
        rec["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["channel"] == ch)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            by("whatsapp")["status"].as_str(),
            by("whatsapp")["rule"].as_str()
        ),
        (Some("disabled"), Some("auth_required"))
    );
    assert_eq!(
        (
            by("discord")["status"].as_str(),
            by("discord")["rule"].as_str()
        ),
        (Some("disabled"), Some("terminal"))
    );
    assert_eq!(
        (
            by("telegram")["status"].as_str(),
            by("telegram")["rule"].as_str()
        ),
        (Some("not_attempted"), Some("gateway_restart_pending"))
    );
    // The gateway's restart no longer pending: clawwatch acts at once
    // (down long enough), and only on telegram.
    sim.set("telegram", "default", Phase::Stopped);
    let t = clock.now();
    sleep(1).await;
    let acts = entries(r, "telegram", "recovery").await;
    assert_eq!(acts.len(), 1);
    assert_eq!(ts(acts[0]["at"].as_str().unwrap()), t);
    assert!(
        acts[0]["why"]
            .as_str()
            .unwrap()
            .starts_with("disconnected (unknown) for 30m"),
        "{}",
        acts[0]["why"]
    );
    assert!(calls(&sim).iter().all(|(_, p)| p["channel"] == "telegram"));
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn nobody_will_try_again_fires_once_when_the_gateway_gave_up_and_the_budget_is_spent() {
    let (sim, side, _) = on_pipe_seeded("steady", None, |c| c.recovery = recovery(2, 0.0)).await;
    let r = &side.router;
    let firing = |a: &Value| -> Vec<Value> {
        a.as_array()
            .unwrap()
            .iter()
            .filter(|x| x["alert"] == "OpenClawRecoveryExhausted")
            .cloned()
            .collect()
    };
    sleep(10).await;
    sim.set(
        "telegram",
        "default",
        Phase::GaveUp {
            error: "fetch failed".into(),
        },
    );
    // Actions at 70 and 75 s, the budget spent at 85 s.
    sleep(30).await;
    assert!(
        firing(&get(r, "/api/v1/alerts").await).is_empty(),
        "clawwatch will still try"
    );
    sleep(42).await;
    assert!(
        firing(&get(r, "/api/v1/alerts").await).is_empty(),
        "clawwatch is between attempts"
    );
    sleep(2).await;
    assert!(
        firing(&get(r, "/api/v1/alerts").await).is_empty(),
        "not before the budget is spent"
    );
    sleep(2).await;
    let f = firing(&get(r, "/api/v1/alerts").await);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["channel"], "telegram");
    let since = f[0]["active_since"].clone();
    let acts = entries(r, "telegram", "recovery").await;
    assert_eq!(acts.len(), 2);
    assert!(acts.iter().all(|a| a["rule"] == "gateway_gave_up"));
    sleep(600).await;
    let f = firing(&get(r, "/api/v1/alerts").await);
    assert_eq!(
        (f.len(), &f[0]["active_since"]),
        (1, &since),
        "still the one alert"
    );
    let (_, _, m) = call(r, "GET", "/metrics", &[], "").await;
    assert_eq!(
        sample(
            &m,
            "clawwatch_alerts_firing",
            &[("alert", "OpenClawRecoveryExhausted")]
        ),
        Some(1.0)
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn dry_run_records_everything_and_restarts_nothing() {
    let (sim, side, _) = on_pipe_seeded("steady", None, |c| {
        c.recovery = RecoveryConfig {
            dry_run: true,
            ..recovery(3, 0.0)
        }
    })
    .await;
    let r = &side.router;
    sleep(10).await;
    sim.set("telegram", "default", Phase::Stopped);
    sleep(200).await;
    let acts = entries(r, "telegram", "recovery").await;
    assert_eq!(
        acts.iter()
            .map(|a| a["result"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["dry_run"; 3]
    );
    assert_eq!(calls(&sim), vec![]);
    let (_, _, m) = call(r, "GET", "/metrics", &[], "").await;
    let l = [
        ("channel", "telegram"),
        ("account", "default"),
        ("action", "rpc"),
        ("result", "dry_run"),
    ];
    assert_eq!(
        sample(&m, "clawwatch_recovery_actions_total", &l),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &m,
            "openclaw_channel_restarts_total",
            &[
                ("channel", "telegram"),
                ("account", "default"),
                ("initiator", "clawwatch")
            ]
        ),
        Some(0.0)
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

/// An executable `/bin/sh` script `name` in `dir` running `body`; its path.
fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

/// A sidecar on `cfg`, once the simulator's telegram account is connected.
async fn started(cfg: clawwatch::config::Config) -> (clawwatch::app::Running, String) {
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let base = format!("http://{}", side.addr);
    common::wait_state(
        &base,
        "telegram",
        "default",
        "connected",
        Duration::from_secs(10),
    )
    .await;
    (side, base)
}

/// Recovery entries of the history over HTTP, oldest first.
async fn http_entries(base: &str, ch: &str) -> Vec<Value> {
    let url = format!(
        "{base}/api/v1/history?limit=10000&channel={}",
        urlencode(ch)
    );
    let (_, body) = common::get(&url).await;
    let mut v: Vec<Value> = parse(&body)
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "recovery")
        .cloned()
        .collect();
    v.reverse();
    v
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_action_runs_argv_records_exit_code_stderr_and_kills_on_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let script = |name: &str, body: &str| script(dir.path(), name, body);
    // Writes its arguments one per line; says something with a token in it.
    let fails = script(
        "fails.sh",
        r#"out="$1"; shift; printf '%s\n' "$@" "$CLAWWATCH_RULE" "$CLAWWATCH_ATTEMPT" > "$out/args-$CLAWWATCH_ATTEMPT"
echo "restart refused for bot123456789:AAFakeTelegramTokenForTesting_0000000" >&2
exit 3"#,
    );
    // Starts a child that would outlive it, then hangs.
    let hangs = script(
        "hangs.sh",
        r#"sleep 300 & echo $! > "$1/child.pid"; echo hanging >&2; wait"#,
    );
    let sim = common::start_sim("steady", 1.0).await;
    let evil = "x;touch${IFS}pwned`touch pwned2`$(touch pwned3)";
    let mut cfg = common::config(sim.addr);
    cfg.recovery = RecoveryConfig {
        enabled: true,
        action: "command".into(),
        command: vec![
            fails,
            out.display().to_string(),
            "{channel}".into(),
            "--account={account}".into(),
        ],
        after: Duration::from_millis(500),
        backoff_initial: Duration::from_secs(60),
        jitter: 0.0,
        ..Default::default()
    };
    cfg.recovery.channels.insert(
        "discord".into(),
        clawwatch::config::RecoveryOverride {
            command: Some(vec![hangs, out.display().to_string()]),
            command_timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        },
    );
    let (side, base) = started(cfg).await;
    sim.set(evil, "default", Phase::Stopped);
    sim.set("discord", "default", Phase::Stopped);

    let e = common::wait_for(Duration::from_secs(15), "the command's result", || async {
        http_entries(&base, evil).await.into_iter().next()
    })
    .await;
    assert_eq!(
        (e["action"].as_str(), e["result"].as_str()),
        (Some("command"), Some("failed")),
        "{e}"
    );
    assert_eq!(e["detail"]["exit_code"], 3);
    assert_eq!(e["detail"]["timed_out"], false);
    assert_eq!(
        e["error"],
        json!(format!(
            "{:?} exited with 3",
            dir.path().join("fails.sh").display().to_string()
        ))
    );
    assert_eq!(
        e["detail"]["stderr_tail"],
        "restart refused for bot<redacted-token>\n"
    );
    let args = std::fs::read_to_string(out.join("args-1")).unwrap();
    assert_eq!(
        args,
        format!("{evil}\n--account=default\ndown\n1\n"),
        "each id one argument, as given"
    );
    for f in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !dir.path().join(f).exists() && !std::path::Path::new(f).exists(),
            "{f}: a shell ran"
        );
    }

    let e = common::wait_for(Duration::from_secs(15), "the timeout", || async {
        http_entries(&base, "discord").await.into_iter().next()
    })
    .await;
    assert_eq!(
        (e["result"].as_str(), e["detail"]["timed_out"].as_bool()),
        (Some("timeout"), Some(true)),
        "{e}"
    );
    assert_eq!(e["detail"]["exit_code"], Value::Null, "killed by a signal");
    assert_eq!(e["detail"]["stderr_tail"], "hanging\n");
    assert!(
        e["duration_seconds"].as_f64().unwrap() >= 1.0
            && e["duration_seconds"].as_f64().unwrap() < 5.0,
        "{e}"
    );
    let pid = std::fs::read_to_string(out.join("child.pid")).unwrap();
    let child = format!("/proc/{}", pid.trim());
    common::wait_for(
        Duration::from_secs(5),
        "the command's child to be killed",
        || async {
            let state = std::fs::read_to_string(format!("{child}/stat")).unwrap_or_default();
            (state.is_empty() || state.contains(") Z ")).then_some(())
        },
    )
    .await;

    let (_, m) = common::get(&format!("{base}/metrics")).await;
    let l = [
        ("channel", "discord"),
        ("account", "default"),
        ("action", "command"),
        ("result", "timeout"),
    ];
    assert_eq!(
        sample(&m, "clawwatch_recovery_actions_total", &l),
        Some(1.0)
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[test]
fn check_config_names_every_recovery_problem_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        r#"
[gateway]
url = "ws://10.0.0.7:18789"
[recovery]
enabled = true
jitter = 1.5
budget_per_hour = 0
backoff_initial = "10m"
backoff_max = "5m"
action = "reboot"
[recovery.channels.whatsapp]
action = "command"
[recovery.channels.discord]
action = "command"
command = ["systemctl restart openclaw"]
"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .arg("check-config")
        .arg(&cfg)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    for want in [
        "recovery.jitter: 1.5 is not in 0 ..< 1",
        "recovery.budget_per_hour: must be at least 1; to turn recovery off set enabled = false",
        "recovery.backoff_max: 5m is less than backoff_initial (10m)",
        "recovery.action: \"reboot\" is not one of rpc, command",
        "recovery.channels.whatsapp.command: action = \"command\" needs a command",
        "recovery.channels.discord.command: \"systemctl restart openclaw\" is one program name with spaces",
    ] {
        assert!(text.contains(want), "{want}\nnot in:\n{text}");
    }
    assert!(
        !text.contains("recovery.channels.whatsapp.jitter"),
        "inherited problems are named once:\n{text}"
    );
    // A good one passes, with a warning for RPC to a gateway beyond loopback.
    std::fs::write(&cfg, "[gateway]\nurl = \"ws://10.0.0.7:18789\"\n[recovery]\nenabled = true\n[recovery.channels.whatsapp]\nenabled = false\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .arg("check-config")
        .arg(&cfg)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: recovery.action: RPC recovery needs operator.admin"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_does_not_answer_gets_the_command_with_an_event_and_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("restarted");
    let script = script(
        dir.path(),
        "restart-gateway.sh",
        r#"echo "$CLAWWATCH_RULE" >> "$1""#,
    );
    let sim = common::start_sim("steady", 1.0).await;
    let (hook_url, hook) = common::webhook_sink(0).await;
    let mut cfg = common::config(sim.addr);
    cfg.integrations = vec![clawwatch::config::IntegrationConfig {
        name: "hook".into(),
        kind: "webhook".into(),
        url: Some(hook_url),
        ..Default::default()
    }];
    cfg.recovery = RecoveryConfig {
        enabled: true,
        command: vec![script, marker.display().to_string()],
        after: Duration::from_secs(1),
        backoff_initial: Duration::from_secs(60),
        jitter: 0.0,
        ..Default::default()
    };
    let (side, base) = started(cfg).await;
    let mut sse = reqwest::get(format!("{base}/api/v1/events")).await.unwrap();
    // The gateway goes away: nothing listens on its port any more.
    sim.cancel.cancel();
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !got.contains("\"kind\":\"recovery\"") {
        let chunk = tokio::time::timeout_at(deadline, sse.chunk())
            .await
            .expect("a recovery event in time")
            .unwrap()
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    let line = got
        .lines()
        .find(|l| l.contains("\"kind\":\"recovery\""))
        .unwrap();
    let e = parse(line.trim_start_matches("data:").trim());
    assert_eq!(
        (e["channel"].as_str(), e["account"].as_str()),
        (Some(""), Some("")),
        "{e}"
    );
    assert_eq!(
        (
            e["action"].as_str(),
            e["result"].as_str(),
            e["rule"].as_str()
        ),
        (Some("command"), Some("ok"), Some("gateway_down")),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "gateway_down\n");
    let notice = common::wait_for(Duration::from_secs(10), "the action's notice", || async {
        hook.got
            .lock()
            .unwrap()
            .iter()
            .find(|b| b["alert"] == "ClawwatchRecoveryAction")
            .cloned()
    })
    .await;
    assert_eq!(notice["summary"], "clawwatch restarted the gateway");
    assert_eq!(notice["severity"], "warning");
    assert!(
        notice["description"]
            .as_str()
            .unwrap()
            .contains("rule gateway_down"),
        "{notice}"
    );
    let (_, m) = common::get(&format!("{base}/metrics")).await;
    let l = [
        ("channel", ""),
        ("account", ""),
        ("action", "command"),
        ("result", "ok"),
    ];
    assert_eq!(
        sample(&m, "clawwatch_recovery_actions_total", &l),
        Some(1.0)
    );
    side.cancel.cancel();
}
