//! Every secret the config knows, set to a distinct canary: no output of any
//! command or endpoint, no log line at debug level and no error holds one.

mod common;

use common::*;
use std::time::Duration;

const GATEWAY: &str = "gwcanary7f3a9c01";
const SMTP: &str = "smtpcanary51d2e8";
const BOT: &str = "123456789:tgcanaryAAE9xQ2";
const CHAT: &str = "-1009876543217";
const HOOK_PW: &str = "hookcanary88b1";
const HOOK_Q: &str = "qcanary19c7d3";
const HMAC: &str = "hmaccanary44f0a";
const BEARER: &str = "bearercanary2b7e6";
const BASIC: &str = "basiccanary6e5d4";

fn canaries() -> Vec<String> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut v: Vec<String> = [
        GATEWAY, SMTP, BOT, CHAT, HOOK_PW, HOOK_Q, HMAC, BEARER, BASIC,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // As they travel: the SMTP AUTH PLAIN blob, the basic auth header, the
    // bot token without its id.
    v.push(b64(&format!("\0clawwatch\0{SMTP}")));
    v.push(b64(&format!("prometheus:{BASIC}")));
    v.push("tgcanaryAAE9xQ2".into());
    v
}

fn clawwatch(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(args)
        .env("RUST_LOG", "debug")
        .env_remove("CLAWWATCH_SERVER_TOKEN")
        .output()
        .unwrap();
    format!(
        "$ clawwatch {args:?} -> {:?}\n{}{}\n",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let smtp_port = free_port();
    let Some(_smtp) = smtp_sink_as(smtp_port, &d.join("mail.jsonl"), "hostile") else {
        return;
    };
    let dead = free_port();
    for (f, v) in [
        ("gateway-token", GATEWAY),
        ("smtp-password", SMTP),
        ("bot-token", BOT),
        ("chat-id", CHAT),
        ("hmac", HMAC),
        ("bearer", BEARER),
        ("password", BASIC),
    ] {
        std::fs::write(d.join(f), format!("{v}\n")).unwrap();
    }
    let hash = bcrypt::hash_with_salt(BASIC, 4, [5u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(
        d.join("web.yml"),
        format!("basic_auth_users:\n  prometheus: {hash}\n"),
    )
    .unwrap();
    let sim = clawwatch::simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        clawwatch::simulate::Options {
            scenario: "cycle".into(),
            token: Some(GATEWAY.into()),
            speed: 20.0,
            repeat: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let port = free_port();
    let p = |f: &str| d.join(f).display().to_string();
    let config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
bearer_token_file = "{bearer}"
web_config_file = "{web}"

[gateway]
url = "ws://{sim}"
token_file = "{gw}"
poll_interval = "200ms"
probe_interval = "off"

[logs]
paths = []
state_dir = "{state}"

[alerting]
channel_down_after = "1s"
gateway_down_after = "1s"
repeat_interval = "2s"

[[integrations]]
name = "mail"
type = "email"
smtp = "smtp://127.0.0.1:{smtp_port}"
from = "clawwatch@example.org"
to = ["ops@example.org"]
username = "clawwatch"
password_file = "{smtp}"

[[integrations]]
name = "tg"
type = "telegram"
bot_token_file = "{bot}"
chat_id_file = "{chat}"
api_url = "http://127.0.0.1:{dead}"

[[integrations]]
name = "hook"
type = "webhook"
url = "http://hookuser:{HOOK_PW}@127.0.0.1:{dead}/hook?token={HOOK_Q}"
hmac_secret_file = "{hmac}"
"#,
        bearer = p("bearer"),
        web = p("web.yml"),
        sim = sim.addr,
        gw = p("gateway-token"),
        state = p("state"),
        smtp = p("smtp-password"),
        bot = p("bot-token"),
        chat = p("chat-id"),
        hmac = p("hmac"),
    );
    let cfg_file = d.join("clawwatch.toml");
    std::fs::write(&cfg_file, &config).unwrap();
    let cfg = cfg_file.display().to_string();

    let mut seen = String::new();
    let err_log = d.join("run.stderr");
    let mut run = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(["run", "--config", &cfg])
            .env("RUST_LOG", "debug")
            .stdout(std::fs::File::create(d.join("run.stdout")).unwrap())
            .stderr(std::fs::File::create(&err_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    let get = |path: &str, auth: u8| {
        let mut r = c.get(format!("{base}{path}"));
        r = match auth {
            1 => r.bearer_auth(BEARER),
            2 => r.basic_auth("prometheus", Some(BASIC)),
            3 => r.basic_auth("prometheus", Some("wrong")),
            _ => r,
        };
        async move {
            match r.send().await {
                Ok(resp) => {
                    let code = resp.status();
                    format!("GET -> {code}\n{}\n", resp.text().await.unwrap_or_default())
                }
                Err(e) => format!("error {e}\n"),
            }
        }
    };
    // Every integration has failed at least once, so their errors are out.
    let b = base.clone();
    wait_for(Duration::from_secs(40), "every integration failing", || {
        let b = b.clone();
        async move {
            let m = reqwest::Client::new()
                .get(format!("{b}/metrics"))
                .bearer_auth(BEARER)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            ["mail", "tg", "hook"]
                .iter()
                .all(|i| {
                    sample(
                        &m,
                        "clawwatch_notifications_total",
                        &[("integration", i), ("result", "failed")],
                    )
                    .is_some_and(|v| v > 0.0)
                })
                .then_some(())
        }
    })
    .await;
    for path in [
        "/",
        "/metrics",
        "/health/detail",
        "/healthz",
        "/readyz",
        "/api/v1/alerts",
        "/api/v1/silences",
        "/api/v1/history",
    ] {
        for auth in [0, 1, 2, 3] {
            seen += &get(path, auth).await;
        }
    }
    assert!(seen.contains("OpenClaw"), "{seen}");
    assert!(seen.contains("GET -> 200 OK") && seen.contains("GET -> 401 Unauthorized"));
    // The secrets are in use: the gateway took the canary token.
    assert_eq!(
        sim.accepted.lock().unwrap().first().map(String::as_str),
        Some(GATEWAY)
    );
    // A few seconds of the event stream.
    if let Ok(r) = c
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(BEARER)
        .send()
        .await
    {
        let mut r = r;
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, r.chunk()).await {
            seen += &String::from_utf8_lossy(&chunk);
        }
    }
    // Reloads: a good one, then one with a syntax error on a secret line.
    let reload = |auth: bool| {
        let r = c.post(format!("{base}/-/reload"));
        let r = if auth { r.bearer_auth(BEARER) } else { r };
        async move {
            let resp = r.send().await.unwrap();
            format!(
                "POST -> {}\n{}\n",
                resp.status(),
                resp.text().await.unwrap()
            )
        }
    };
    let ok = reload(true).await;
    assert!(ok.contains("200 OK"), "{ok}");
    seen += &ok;
    std::fs::write(
        &cfg_file,
        config.replace(
            &format!("token_file = \"{}\"", p("gateway-token")),
            &format!("token = \"{GATEWAY}\" trailing"),
        ),
    )
    .unwrap();
    let bad = reload(true).await;
    assert!(bad.contains("400 Bad Request"), "{bad}");
    seen += &bad;
    seen += &clawwatch(&["check-config", &cfg]);
    // A type error on a secret: the value is not echoed either.
    std::fs::write(
        &cfg_file,
        config.replace(
            &format!("bot_token_file = \"{}\"", p("bot-token")),
            &format!("bot_token = [\"{BOT}\"]"),
        ),
    )
    .unwrap();
    seen += &clawwatch(&["check-config", &cfg]);
    std::fs::write(&cfg_file, &config).unwrap();
    seen += &clawwatch(&["check-config", &cfg]);
    seen += &clawwatch(&["test-alert", "--config", &cfg]);
    let pw = p("password");
    let bearer = p("bearer");
    seen += &clawwatch(&[
        "status",
        "--url",
        &base,
        "--username",
        "prometheus",
        "--password-file",
        &pw,
    ]);
    seen += &clawwatch(&[
        "status",
        "--url",
        &base,
        "--json",
        "--bearer-token-file",
        &bearer,
    ]);
    seen += &clawwatch(&["status", "--url", &base, "--bearer-token-file", &pw]);
    seen += &clawwatch(&[
        "silence",
        "--url",
        &base,
        "--bearer-token-file",
        &bearer,
        "add",
        "channel=whatsapp",
        "--comment",
        "relink",
    ]);
    seen += &clawwatch(&[
        "silence",
        "list",
        "--url",
        &base,
        "--bearer-token-file",
        &bearer,
    ]);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &run.0.id().to_string()])
        .status();
    let _ = run.0.wait();
    let log = std::fs::read_to_string(&err_log).unwrap()
        + &std::fs::read_to_string(d.join("run.stdout")).unwrap();
    assert!(log.contains("DEBUG"), "not at debug level: {log}");
    assert!(log.contains("Config reloaded."), "{log}");
    seen += &log;
    // What the hostile SMTP server quoted back was seen, then redacted.
    assert!(
        seen.contains("535"),
        "the SMTP refusal is not in the output"
    );
    for c in canaries() {
        let at: Vec<&str> = seen.lines().filter(|l| l.contains(&c)).take(3).collect();
        assert!(at.is_empty(), "{c} appears in: {at:#?}");
    }
    sim.cancel.cancel();
}
