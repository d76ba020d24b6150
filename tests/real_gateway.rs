//! End to end against the real OpenClaw gateway from npm, on loopback with
//! fake channel credentials (../shared/openclaw/openclaw-run.sh). Needs
//! CLAWWATCH_OPENCLAW_DIR (an `openclaw-run.sh DIR install` directory);
//! `.ci/run` provides it. The gateway is stopped with SIGKILL: its graceful
//! drain takes minutes.

mod common;
use clawwatch::model::ChannelsStatus;
use clawwatch::state::derive::{derive, Tuning};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const GW_TOKEN: &str = "test-gateway-token-0123456789abcdef";

struct Gateway {
    dir: PathBuf,
    port: u16,
}

impl Gateway {
    fn start(dir: &Path, port: u16, env: &[(&str, &str)]) -> Gateway {
        let mut cmd = Command::new("bash");
        cmd.arg(scripts().join("openclaw-run.sh"))
            .arg(dir)
            .arg(port.to_string())
            .arg("start");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("bash");
        let g = Gateway {
            dir: dir.to_path_buf(),
            port,
        };
        assert!(
            out.status.success(),
            "gateway did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        g
    }

    /// The gateway's own `channels.status`, through the reference client.
    fn channels_status(&self) -> Value {
        let node = self.dir.join("node/node_modules/node/bin/node");
        let out = Command::new(node)
            .arg(scripts().join("oc-rpc.mjs"))
            .args([
                "channels.status",
                "{}",
                "--url",
                &format!("ws://127.0.0.1:{}", self.port),
                "--token",
                GW_TOKEN,
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("oc-rpc: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        for f in ["gateway.pid", "mock.pid", "fake-discord.pid"] {
            let p = self.dir.join(f);
            if let Ok(pid) = std::fs::read_to_string(&p) {
                let pid = pid.trim().to_string();
                let kids = Command::new("pgrep")
                    .args(["-P", &pid])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                    .unwrap_or_default();
                let _ = Command::new("kill")
                    .arg("-9")
                    .arg(&pid)
                    .args(kids.split_whitespace())
                    .status();
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

struct Sidecar {
    child: Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sidecar {
    fn start(gw_port: u16, listen: u16, token: &str, extra: &str) -> Sidecar {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("clawwatch.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:{listen}\"\n[gateway]\nurl = \"ws://127.0.0.1:{gw_port}\"\npoll_interval = \"1s\"\nprobe_interval = \"20s\"\n[logs]\nstate_dir = \"{}\"\n{extra}",
                dir.path().join("state").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("clawwatch.log");
        let child = Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env("CLAWWATCH_GATEWAY_TOKEN", token)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Sidecar {
            child,
            base: format!("http://127.0.0.1:{listen}"),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_account(
        &self,
        ch: &str,
        state: &str,
        reason: Option<&str>,
        limit: Duration,
    ) -> Value {
        let want = (state.to_string(), reason.map(str::to_owned));
        let start = std::time::Instant::now();
        let mut last = Value::Null;
        loop {
            if let Some((_, d)) = try_health(&self.base).await {
                if account(&d, ch, "default") == Some(want.clone()) {
                    return d;
                }
                last = d;
            }
            if start.elapsed() > limit {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!(
                    "timed out after {limit:?} waiting for {ch} {state} {reason:?}; last /health/detail: {last}\nclawwatch log (newest first):\n{}",
                    tail.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// clawwatch reports every enabled account the gateway reports, with the
/// state derived from the gateway's own fields.
fn assert_matches_gateway(gw: &Value, doc: &Value) {
    let st = ChannelsStatus::from_value(gw).unwrap();
    let mut n = 0;
    for (ch, rows) in &st.accounts {
        for r in rows.iter().filter(|r| r.is_watched()) {
            let d = derive(ch, r, st.ts.unwrap(), &Tuning::default());
            let want = (
                d.state.as_str().to_string(),
                d.reason.map(|r| r.as_str().to_string()),
            );
            assert_eq!(
                account(doc, ch, &r.account_id),
                Some(want),
                "{ch}/{}",
                r.account_id
            );
            n += 1;
        }
    }
    let reported: usize = doc["accounts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(reported, n);
}

async fn post(url: &str, body: &str) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_gateway_end_to_end() {
    let Some(dir) = std::env::var_os("CLAWWATCH_OPENCLAW_DIR").map(PathBuf::from) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set CLAWWATCH_OPENCLAW_DIR"
        );
        eprintln!(
            "skipped: set CLAWWATCH_OPENCLAW_DIR to an `openclaw-run.sh DIR install` directory"
        );
        return;
    };
    // Generous: a gateway takes 20-40 s to start on a loaded 2-core machine.
    let long = Duration::from_secs(180);

    // 1. Bad Telegram token, Discord without a reachable gateway, WhatsApp unlinked.
    {
        let gw = Gateway::start(&dir, 18979, &[("OC_CHANNELS", "telegram discord whatsapp")]);
        let cw = Sidecar::start(gw.port, 28971, GW_TOKEN, "");
        cw.wait_account("telegram", "auth_required", Some("auth_failed"), long)
            .await;
        cw.wait_account("whatsapp", "auth_required", Some("not_linked"), long)
            .await;
        let doc = cw
            .wait_account("discord", "reconnecting", Some("network"), long)
            .await;
        assert_eq!(
            doc["channels"],
            serde_json::json!({"discord": "reconnecting", "telegram": "auth_required", "whatsapp": "auth_required"})
        );
        assert_eq!(doc["status"], "degraded");
        assert_eq!(doc["gateway"]["version"], "2026.9.6");
        assert_matches_gateway(&gw.channels_status(), &health(&cw.base).await.1);
        let m = metrics(&cw.base).await;
        assert_eq!(sample(&m, "openclaw_gateway_up", &[]), Some(1.0));
        assert_eq!(sample(&m, "openclaw_gateway_ready", &[]), Some(0.0));
        assert_eq!(
            sample(
                &m,
                "openclaw_channel_state",
                &[
                    ("channel", "telegram"),
                    ("account", "default"),
                    ("state", "auth_required")
                ]
            ),
            Some(1.0)
        );

        // A wrong gateway token: down, and the fix in the log.
        let bad = Sidecar::start(gw.port, 28972, "not-the-token", "");
        let b = bad.base.clone();
        wait_for(
            Duration::from_secs(30),
            "gateway_up 0 with a wrong token",
            || {
                let b = b.clone();
                async move {
                    let m = reqwest::get(format!("{b}/metrics"))
                        .await
                        .ok()?
                        .text()
                        .await
                        .ok()?;
                    (sample(&m, "clawwatch_gateway_errors_total", &[("kind", "auth")])
                        .unwrap_or(0.0)
                        >= 1.0)
                        .then_some(())
                }
            },
        )
        .await;
        let m = metrics(&bad.base).await;
        assert_eq!(sample(&m, "openclaw_gateway_up", &[]), Some(0.0));
        let (code, d) = health(&bad.base).await;
        assert_eq!((code, d["status"].as_str()), (503, Some("down")));
        let log = bad.log();
        assert!(
            log.contains("AUTH_TOKEN_MISMATCH") && log.contains("fix: set CLAWWATCH_GATEWAY_TOKEN"),
            "{log}"
        );
        assert!(
            !log.contains("not-the-token") && !log.contains(GW_TOKEN),
            "a token leaked into the log"
        );
    }

    // The key list doctor ships is the installed gateway's own schema
    // (with the discord and whatsapp plugins part 1 installed).
    {
        let bin = dir.join("node/node_modules/node/bin");
        let path = format!(
            "{}:{}:{}",
            bin.display(),
            dir.join("oc/node_modules/.bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let schema = Command::new(dir.join("oc/node_modules/.bin/openclaw"))
            .args(["config", "schema"])
            .env("HOME", dir.join("home"))
            .env("PATH", path)
            .env("OPENCLAW_NO_AUTO_UPDATE", "1")
            .output()
            .unwrap();
        assert!(
            schema.status.success(),
            "{}",
            String::from_utf8_lossy(&schema.stderr)
        );
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &schema.stdout).unwrap();
        let keys = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tools/openclaw-config-keys.py"
            ))
            .arg("2026.9.6")
            .stdin(std::fs::File::open(tmp.path()).unwrap())
            .output()
            .unwrap();
        assert!(keys.status.success());
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/openclaw-config-keys.txt"
        ))
        .unwrap();
        assert!(
            String::from_utf8_lossy(&keys.stdout) == shipped,
            "data/openclaw-config-keys.txt differs from this gateway's schema; regenerate: openclaw config schema | tools/openclaw-config-keys.py VERSION > data/openclaw-config-keys.txt"
        );
    }

    // 2. Healthy Telegram (fake Bot API) and Discord (fake Discord), then a
    // silent stall that clawwatch's recovery restarts over RPC, a 4014 and
    // a revoked token that it never restarts. `cw` only watches; `rc` also
    // recovers (stale_after 30 s + after 30 s: one action within 2 min).
    let env = [
        ("OC_CHANNELS", "telegram discord"),
        ("OC_TG_GOOD", "1"),
        ("OC_DC_FAKE", "1"),
    ];
    let gw = Gateway::start(&dir, 18989, &env);
    let cw = Sidecar::start(
        gw.port,
        28981,
        GW_TOKEN,
        "[states.stale_after]\ntelegram = \"45s\"\n",
    );
    let rc = Sidecar::start(
        gw.port,
        28983,
        GW_TOKEN,
        "[states.stale_after]\ntelegram = \"30s\"\n[recovery]\nenabled = true\nafter = \"30s\"\njitter = 0.0\nbackoff_initial = \"10m\"\nbackoff_max = \"10m\"\n",
    );
    cw.wait_account("telegram", "connected", None, long).await;
    let doc = cw.wait_account("discord", "connected", None, long).await;
    assert_eq!(doc["status"], "ok");
    rc.wait_account("telegram", "connected", None, long).await;
    assert_matches_gateway(&gw.channels_status(), &health(&cw.base).await.1);
    // Doctor: the same handshake as `run`, with its own timeout.
    let doc_dir = tempfile::tempdir().unwrap();
    let doc_cfg = doc_dir.path().join("c.toml");
    std::fs::write(
        &doc_cfg,
        format!("[gateway]\nurl = \"ws://127.0.0.1:{}\"\n[logs]\npaths = []\nstate_dir = \"{}\"\n[doctor]\nupstream = []\nopenclaw_state_dir = \"{}\"\n", gw.port, doc_dir.path().join("s").display(), doc_dir.path().join("oc").display()),
    )
    .unwrap();
    let doctor = |token: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(["doctor", "--json", "--config"])
            .arg(&doc_cfg)
            .env("CLAWWATCH_GATEWAY_TOKEN", token)
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let gw = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "gateway")
            .unwrap()
            .clone();
        (out.status.code(), gw)
    };
    let (code, g) = doctor(GW_TOKEN);
    assert_eq!((code, g["status"].as_str()), (Some(0), Some("ok")), "{g}");
    assert_eq!(g["why"], format!("the gateway at ws://127.0.0.1:{} answers, accepts the token, protocol 4, version 2026.9.6", gw.port));
    let (code, g) = doctor("not-the-token");
    assert_eq!((code, g["status"].as_str()), (Some(1), Some("fail")), "{g}");
    assert_eq!(
        g["fix"],
        "set CLAWWATCH_GATEWAY_TOKEN or gateway.token_file to the gateway's gateway.auth.token"
    );
    assert!(!g.to_string().contains("not-the-token"), "{g}");
    let start_of = |st: &Value, ch: &str| st["channelAccounts"][ch][0]["lastStartAt"].as_i64();
    let discord_start = start_of(&gw.channels_status(), "discord");
    assert!(discord_start.is_some());
    let bot_calls = || async {
        let st: Value = reqwest::get("http://127.0.0.1:18990/_control/state")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let n = |m: &str| st["counters"][format!("{m} 200")].as_u64().unwrap_or(0);
        (n("getMe"), n("deleteWebhook"))
    };
    let before = bot_calls().await;

    post("http://127.0.0.1:18990/_control/mode", r#"{"mode":"hang"}"#).await;
    cw.wait_account("telegram", "disconnected", Some("stalled"), long)
        .await;
    let entries = |base: String, kind: &'static str| async move {
        let h: Value = reqwest::get(format!("{base}/api/v1/history?limit=10000"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        h.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect::<Vec<Value>>()
    };
    let act = wait_for(long, "clawwatch's RPC restart of telegram", || {
        let b = rc.base.clone();
        async move { entries(b, "recovery").await.into_iter().next() }
    })
    .await;
    assert_eq!(
        (
            act["channel"].as_str(),
            act["action"].as_str(),
            act["result"].as_str(),
            act["rule"].as_str()
        ),
        (Some("telegram"), Some("rpc"), Some("ok"), Some("down")),
        "{act}"
    );
    assert!(
        act["why"]
            .as_str()
            .unwrap()
            .starts_with("disconnected (stalled) for "),
        "{act}"
    );
    let calls = &act["detail"]["calls"];
    assert_eq!(
        (
            calls[0]["method"].as_str(),
            calls[0]["ok"].as_bool(),
            calls[0]["answer"]["stopped"].as_bool()
        ),
        (Some("channels.stop"), Some(true), Some(true)),
        "{act}"
    );
    assert_eq!(
        (
            calls[1]["method"].as_str(),
            calls[1]["ok"].as_bool(),
            calls[1]["answer"]["started"].as_bool()
        ),
        (Some("channels.start"), Some(true), Some(true)),
        "{act}"
    );
    assert_eq!(calls[1]["answer"]["accountId"], "default");
    // The fake Bot API sees the bot start afresh.
    let after = wait_for(
        Duration::from_secs(30),
        "a fresh getMe and deleteWebhook",
        || async {
            let now = bot_calls().await;
            (now.0 > before.0 && now.1 > before.1).then_some(now)
        },
    )
    .await;
    // Probes call getMe too; deleteWebhook comes only with a start.
    assert_eq!(after.1 - before.1, 1, "one fresh start");
    // Counted once, as clawwatch's; Discord untouched.
    let tg = [("channel", "telegram"), ("account", "default")];
    let restarts = |m: &str, ch: &'static str, who: &'static str| {
        sample(
            m,
            "openclaw_channel_restarts_total",
            &[("channel", ch), ("account", "default"), ("initiator", who)],
        )
    };
    wait_for(
        Duration::from_secs(30),
        "the restart counted as clawwatch's",
        || {
            let b = rc.base.clone();
            async move {
                let m = metrics(&b).await;
                (restarts(&m, "telegram", "clawwatch") == Some(1.0)).then_some(())
            }
        },
    )
    .await;
    let m = metrics(&rc.base).await;
    assert_eq!(restarts(&m, "telegram", "gateway"), Some(0.0));
    assert_eq!(
        (
            restarts(&m, "discord", "gateway"),
            restarts(&m, "discord", "clawwatch")
        ),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(
        sample(
            &m,
            "clawwatch_recovery_actions_total",
            &[tg[0], tg[1], ("action", "rpc"), ("result", "ok")]
        ),
        Some(1.0)
    );
    assert_eq!(
        start_of(&gw.channels_status(), "discord"),
        discord_start,
        "discord was not restarted"
    );
    post("http://127.0.0.1:18990/_control/mode", r#"{"mode":"ok"}"#).await;
    cw.wait_account("telegram", "connected", None, long).await;
    rc.wait_account("telegram", "connected", None, long).await;

    post(
        "http://127.0.0.1:18992/_control",
        r#"{"close":4014,"sticky":true}"#,
    )
    .await;
    cw.wait_account(
        "discord",
        "error",
        Some("disallowed_intents"),
        Duration::from_secs(30),
    )
    .await;
    post(
        "http://127.0.0.1:18990/_control/mode",
        r#"{"mode":"unauthorized"}"#,
    )
    .await;
    cw.wait_account("telegram", "auth_required", Some("auth_failed"), long)
        .await;
    assert_matches_gateway(&gw.channels_status(), &health(&cw.base).await.1);
    // Longer than `after`: recovery never restarts what needs a person.
    rc.wait_account("telegram", "auth_required", Some("auth_failed"), long)
        .await;
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(
        entries(rc.base.clone(), "recovery").await.len(),
        1,
        "no RPC restart after the first"
    );
    let bot_now = bot_calls().await;
    assert_eq!(
        bot_now.1, after.1,
        "no deleteWebhook since: nothing restarted the bot"
    );
    let rec: Value = reqwest::get(format!("{}/api/v1/recovery", rc.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = |ch: &str| {
        let r = rec["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["channel"] == ch)
            .unwrap();
        (
            r["status"].as_str().unwrap().to_string(),
            r["rule"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(row("telegram"), ("disabled".into(), "auth_required".into()));
    assert_eq!(row("discord"), ("disabled".into(), "terminal".into()));

    let m = metrics(&cw.base).await;
    let to = |ch: &str, st: &str| {
        sample(
            &m,
            "openclaw_channel_transitions_total",
            &[("channel", ch), ("account", "default"), ("to", st)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        (
            to("discord", "error"),
            to("telegram", "disconnected"),
            to("telegram", "auth_required")
        ),
        (1.0, 1.0, 1.0)
    );
    let disc = |ch: &str, r: &str| {
        sample(
            &m,
            "openclaw_channel_disconnects_total",
            &[("channel", ch), ("account", "default"), ("reason", r)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        (
            disc("discord", "disallowed_intents"),
            disc("telegram", "stalled"),
            disc("telegram", "auth_failed")
        ),
        (1.0, 1.0, 1.0)
    );
}
