//! `clawwatch doctor` on temporary trees (state dir, WhatsApp sessions,
//! kernel settings, JSON5 gateway configs): the exact status and fix of
//! each case, the `--json` schema, and a bound on time when nothing answers.

mod common;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// Runs `doctor --json` on `config`; (exit code, checks by id).
fn doctor(
    config: &Path,
    env: &[(&str, &str)],
) -> (i32, Value, std::collections::BTreeMap<String, Value>) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"));
    c.args(["doctor", "--json", "--config"])
        .arg(config)
        .env("NO_COLOR", "1")
        .env_remove("OPENCLAW_STATE_DIR")
        .env_remove("OPENCLAW_CONFIG_PATH")
        .env_remove("CLAWWATCH_GATEWAY_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let by = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    (out.status.code().unwrap(), doc, by)
}

fn status(by: &std::collections::BTreeMap<String, Value>, id: &str) -> (String, Option<String>) {
    let c = by
        .get(id)
        .unwrap_or_else(|| panic!("no check {id}: {:?}", by.keys().collect::<Vec<_>>()));
    (
        c["status"].as_str().unwrap().to_string(),
        c["fix"].as_str().map(str::to_owned),
    )
}

/// A closed loopback port and a listener that accepts and never answers.
fn dead_ends() -> (u16, std::net::TcpListener) {
    let closed = common::free_port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (closed, silent)
}

#[test]
fn each_check_says_ok_warn_or_fail_with_the_exact_fix() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let oc = root.join("openclaw");
    // Kernel settings: one as the article wants, two not.
    for (name, v) in [
        ("tcp_keepalive_time", "60"),
        ("tcp_keepalive_intvl", "75"),
        ("tcp_keepalive_probes", "9"),
    ] {
        write(&root.join("proc/net/ipv4").join(name), &format!("{v}\n"));
    }
    // Sessions: default open to others, work linked and tight, broken with a torn creds.json.
    let wa = oc.join("credentials/whatsapp");
    write(&wa.join("default/creds.json"), "{\"me\": {}}");
    mode(&wa.join("default"), 0o755);
    write(&wa.join("broken/creds.json"), "{\"me\": {");
    mode(&wa.join("broken"), 0o700);
    let work = root.join("work-session");
    write(&work.join("creds.json"), "{}");
    mode(&work, 0o700);
    // The gateway's config, JSON5 with comments and trailing commas.
    // A Bot API that is not there: loopback only.
    let closed_api = common::free_port();
    let gw_cfg = |extra: &str, telegram: &str| {
        format!(
            "// the gateway's own\n{{\n  {extra}\n  channels: {{\n    whatsapp: {{ accounts: {{ work: {{ authDir: \"{}\", }}, }}, }},\n    telegram: {{ botToken: \"123:abc\", apiRoot: \"http://127.0.0.1:{}\", {telegram} }},\n  }},\n}}\n",
            work.display(),
            closed_api
        )
    };
    write(
        &oc.join("openclaw.json"),
        &gw_cfg(
            "sessionPath: \"/data\", connection: { backoff: 5 }, /* the article's */",
            "healthMonitor: { enabled: false }, keepAliveInterval: 30,",
        ),
    );
    mode(&oc.join("openclaw.json"), 0o644);
    let logs = root.join("logs");
    write(&logs.join("openclaw-2026-12-07.log"), "{}\n");
    let (closed, silent) = dead_ends();
    let cfg = root.join("c.toml");
    write(
        &cfg,
        &format!(
            "[gateway]\nurl = \"ws://127.0.0.1:{closed}\"\n[logs]\npaths = [\"{}/openclaw-*.log\"]\nstate_dir = \"{}\"\n[doctor]\ntimeout = \"500ms\"\nupstream = []\nopenclaw_state_dir = \"{}\"\nproc_sys = \"{}\"\n",
            logs.display(),
            root.join("state").display(),
            oc.display(),
            root.join("proc").display()
        ),
    );
    let (code, doc, by) = doctor(&cfg, &[]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(
        status(&by, "sysctl.net.ipv4.tcp_keepalive_time"),
        ("ok".into(), None)
    );
    assert_eq!(
        status(&by, "sysctl.net.ipv4.tcp_keepalive_intvl"),
        ("warn".into(), Some("sysctl -w net.ipv4.tcp_keepalive_intvl=10   (and keep it: echo 'net.ipv4.tcp_keepalive_intvl = 10' > /etc/sysctl.d/60-openclaw.conf)".into()))
    );
    assert_eq!(
        status(&by, "sysctl.net.ipv4.tcp_keepalive_probes").0,
        "warn"
    );
    assert_eq!(
        status(&by, "whatsapp.session.default"),
        (
            "fail".into(),
            Some(format!("chmod 700 {}", wa.join("default").display()))
        )
    );
    assert_eq!(
        status(&by, "whatsapp.session.broken"),
        ("fail".into(), Some("restore it from a backup (creds.json.bak beside it), or relink: openclaw channels login --channel whatsapp --account broken".into()))
    );
    assert_eq!(
        status(&by, "whatsapp.session.work"),
        ("ok".into(), None),
        "the authDir of the gateway's config is checked"
    );
    let p = oc.join("openclaw.json");
    assert_eq!(
        by["openclaw.config.keys"]["why"],
        format!("{}: the gateway (openclaw 2026.9.6) has no such key, so these do nothing: channels.telegram.keepAliveInterval, connection, sessionPath", p.display())
    );
    assert_eq!(by["openclaw.config.keys"]["status"], "warn");
    assert_eq!(
        status(&by, "openclaw.config.mode"),
        ("fail".into(), Some(format!("chmod 600 {}", p.display())))
    );
    assert_eq!(
        by["openclaw.health_monitor"]["why"],
        "the gateway's health monitor is off for telegram: it will not restart them"
    );
    assert_eq!(status(&by, "clawwatch.state_dir"), ("ok".into(), None));
    assert_eq!(
        status(&by, "backup.whatsapp.work"),
        ("warn".into(), Some("clawwatch backup now --config FILE, and [backup] enabled = true for the sidecar to take them on schedule".into()))
    );
    assert_eq!(
        status(&by, &format!("logs.{}/openclaw-*.log", logs.display())),
        ("ok".into(), None)
    );
    assert_eq!(status(&by, "clawwatch.config"), ("ok".into(), None));
    assert_eq!(status(&by, "gateway").0, "fail");
    drop(silent);
    // The schema: every check has exactly these keys, and the counts add up.
    for c in doc["checks"].as_array().unwrap() {
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["check", "fix", "status", "why"], "{c}");
        assert!(["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()));
    }
    let n = doc["checks"].as_array().unwrap().len() as u64;
    assert_eq!(
        doc["ok"].as_u64().unwrap() + doc["warn"].as_u64().unwrap() + doc["fail"].as_u64().unwrap(),
        n
    );

    // Fixed as told: all ok but the gateway.
    write(&oc.join("openclaw.json"), &gw_cfg("", ""));
    mode(&oc.join("openclaw.json"), 0o600);
    mode(&wa.join("default"), 0o700);
    write(&wa.join("broken/creds.json"), "{}");
    for (name, v) in [("tcp_keepalive_intvl", "10"), ("tcp_keepalive_probes", "6")] {
        write(&root.join("proc/net/ipv4").join(name), &format!("{v}\n"));
    }
    // The backup check's fix, as told.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(["backup", "now", "--config"])
        .arg(&cfg)
        .env_remove("OPENCLAW_STATE_DIR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" files from ")).count(),
        3,
        "{text}"
    );
    let (_, _, by) = doctor(&cfg, &[]);
    for (id, c) in &by {
        if id != "gateway" && id != "telegram.webhook.default" {
            assert_eq!(c["status"], "ok", "{id}: {c}");
        }
    }
    // A missing session directory of a configured account; a log path with no file.
    std::fs::remove_dir_all(&work).unwrap();
    std::fs::remove_file(logs.join("openclaw-2026-12-07.log")).unwrap();
    let (_, _, by) = doctor(&cfg, &[]);
    assert_eq!(
        status(&by, "whatsapp.session.work"),
        (
            "fail".into(),
            Some("openclaw channels login --channel whatsapp --account work".into())
        )
    );
    assert_eq!(
        status(&by, &format!("logs.{}/openclaw-*.log", logs.display())).0,
        "warn"
    );
    // A gateway config that does not parse.
    write(&oc.join("openclaw.json"), "{ channels: ");
    let (_, _, by) = doctor(&cfg, &[]);
    assert_eq!(by["openclaw.config"]["status"], "fail");
    assert_eq!(
        by["openclaw.config"]["fix"],
        format!(
            "fix {}: `openclaw config validate` names the line",
            oc.join("openclaw.json").display()
        )
    );
}

#[test]
fn nothing_answering_still_ends_in_under_five_seconds_with_each_fail() {
    let d = tempfile::tempdir().unwrap();
    let (closed, silent) = dead_ends();
    let sp = silent.local_addr().unwrap().port();
    let cfg = d.path().join("c.toml");
    write(
        &cfg,
        &format!("[gateway]\nurl = \"ws://127.0.0.1:{sp}\"\n[logs]\npaths = []\nstate_dir = \"{}\"\n[doctor]\nupstream = [\"127.0.0.1:{closed}\", \"127.0.0.1:{sp}\", \"no-such-host.invalid:443\"]\nopenclaw_state_dir = \"{}\"\n", d.path().join("s").display(), d.path().join("oc").display()),
    );
    let start = Instant::now();
    let (code, doc, by) = doctor(&cfg, &[]);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(code, 1);
    let gw = &by["gateway"];
    assert_eq!(gw["status"], "fail", "{doc}");
    assert!(gw["why"].as_str().unwrap().contains("within 2s"), "{gw}");
    assert_eq!(
        gw["fix"],
        "is `openclaw gateway run` running, and is [gateway] url its port?"
    );
    let closed_c = &by[&format!("upstream.127.0.0.1:{closed}")];
    assert_eq!(closed_c["status"], "fail");
    assert!(
        closed_c["why"]
            .as_str()
            .unwrap()
            .starts_with("cannot connect to 127.0.0.1:"),
        "{closed_c}"
    );
    assert_eq!(closed_c["fix"], format!("check DNS (/etc/resolv.conf) and that the firewall lets this host reach 127.0.0.1:{closed}"));
    let silent_c = &by[&format!("upstream.127.0.0.1:{sp}")];
    assert_eq!(
        silent_c["status"], "fail",
        "accepting is not answering: {silent_c}"
    );
    assert!(silent_c["why"].as_str().unwrap().ends_with("accepts TCP but sends nothing back within 2s (a firewall or proxy swallowing traffic?)"), "{silent_c}");
    assert_eq!(by["upstream.no-such-host.invalid:443"]["status"], "fail");
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_webhook_state_from_the_bot_api_and_no_token_printed() {
    let Some((_mock, api)) = common::mock_telegram().await else {
        return;
    };
    // A Bot API where a webhook is set, for a gateway that polls.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hooked = format!("http://{}", l.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        axum::Json(serde_json::json!({"ok": true, "result": {"url": "https://example.invalid/hook", "pending_update_count": 3}}))
    });
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let d = tempfile::tempdir().unwrap();
    let oc = d.path().join("oc");
    let good = "123456789:GOODAAFakeTelegramTokenForTesting_00";
    let bad = "123456789:AAFakeRevokedTokenForTesting_0000000";
    write(
        &oc.join("openclaw.json"),
        &format!("{{ channels: {{ telegram: {{ botToken: \"{good}\", apiRoot: \"{api}\", accounts: {{ old: {{ botToken: \"{bad}\", apiRoot: \"{api}\" }}, hooked: {{ botToken: \"{good}\", apiRoot: \"{hooked}\" }} }} }} }} }}"),
    );
    mode(&oc.join("openclaw.json"), 0o600);
    let cfg = d.path().join("c.toml");
    write(
        &cfg,
        &format!("[gateway]\nurl = \"ws://127.0.0.1:{}\"\n[logs]\npaths = []\nstate_dir = \"{}\"\n[doctor]\nupstream = []\nopenclaw_state_dir = \"{}\"\n", common::free_port(), d.path().join("s").display(), oc.display()),
    );
    let (cfg2, good2, bad2) = (cfg.clone(), good.to_string(), bad.to_string());
    let (doc, by) = tokio::task::spawn_blocking(move || {
        let (_, doc, by) = doctor(&cfg2, &[]);
        assert!(
            !doc.to_string().contains(&good2) && !doc.to_string().contains(&bad2),
            "a token in the report: {doc}"
        );
        (doc, by)
    })
    .await
    .unwrap();
    assert_eq!(by["telegram.webhook.default"]["status"], "ok", "{doc}");
    assert_eq!(
        by["telegram.webhook.default"]["why"],
        "polling mode, 0 pending, no error"
    );
    assert_eq!(by["telegram.webhook.old"]["status"], "fail");
    assert_eq!(
        by["telegram.webhook.old"]["why"],
        "the Bot API refused getWebhookInfo: the bot token is wrong or revoked"
    );
    assert_eq!(by["telegram.webhook.hooked"]["status"], "fail");
    assert_eq!(
        by["telegram.webhook.hooked"]["why"],
        "a webhook is set at Telegram while the gateway polls: getUpdates is refused (409) and 3 update(s) wait"
    );
}

#[test]
fn owner_the_articles_session_path_and_an_unwritable_state_dir() {
    let d = tempfile::tempdir().unwrap();
    let oc = d.path().join("oc");
    let article = oc.join("sessions/whatsapp");
    write(&article.join("creds.json"), "{}");
    mode(&article, 0o700);
    let other = oc.join("credentials/whatsapp/other");
    write(&other.join("creds.json"), "{}");
    mode(&other, 0o700);
    // Root can give it to someone else; as another user this part is skipped.
    let chowned = std::process::Command::new("chown")
        .args(["-R", "12345"])
        .arg(&other)
        .status()
        .is_ok_and(|s| s.success());
    // A state dir that cannot be made: a file is in the way.
    std::fs::write(d.path().join("blocker"), "x").unwrap();
    let cfg = d.path().join("c.toml");
    write(
        &cfg,
        &format!(
            "[gateway]\nurl = \"ws://127.0.0.1:{}\"\n[logs]\npaths = []\nstate_dir = \"{}\"\n[doctor]\nupstream = []\nopenclaw_state_dir = \"{}\"\n",
            common::free_port(),
            d.path().join("blocker/state").display(),
            oc.display()
        ),
    );
    let (_, doc, by) = doctor(&cfg, &[]);
    assert_eq!(
        by["whatsapp.session.sessions"]["status"], "ok",
        "the article's path is checked too: {doc}"
    );
    assert_eq!(by["clawwatch.state_dir"]["status"], "fail");
    assert!(by["clawwatch.state_dir"]["fix"]
        .as_str()
        .unwrap()
        .starts_with(&format!(
            "mkdir -p {}",
            d.path().join("blocker/state").display()
        )));
    if chowned {
        let uid = std::fs::metadata(&oc).unwrap().uid();
        assert_eq!(by["whatsapp.session.other"]["status"], "warn", "{doc}");
        assert_eq!(
            by["whatsapp.session.other"]["fix"],
            format!("chown -R {uid} {}", other.display())
        );
    }
}
