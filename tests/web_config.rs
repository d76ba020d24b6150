//! The exporter toolkit's web config: basic auth users (bcrypt), headers,
//! and check-config naming each problem by key path.

mod common;
use common::*;
use std::time::Duration;

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn web_config(dir: &std::path::Path) -> std::path::PathBuf {
    let hash = bcrypt::hash_with_salt("scrape-canary-pw", 4, [3u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    let f = dir.join("web.yml");
    std::fs::write(
        &f,
        format!("basic_auth_users:\n  prometheus: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"),
    )
    .unwrap();
    f
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn basic_auth_lets_in_only_the_right_password() {
    let dir = tempfile::tempdir().unwrap();
    let f = web_config(dir.path());
    let (sim, side, _) = on_pipe("steady", |c| c.server.web_config_file = Some(f)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = &side.router;
    for creds in [
        None,
        Some(basic("prometheus", "wrong")),
        Some(basic("nobody", "scrape-canary-pw")),
        Some(basic("prometheus", "")),
        Some("Basic !!!not-base64".to_string()),
    ] {
        let h: Vec<(&str, &str)> = creds
            .iter()
            .map(|c| ("authorization", c.as_str()))
            .collect();
        let (code, headers, body) = call(r, "GET", "/metrics", &h, "").await;
        assert_eq!(
            (
                code,
                headers["www-authenticate"].to_str().unwrap(),
                body.as_str()
            ),
            (
                401,
                "Basic realm=\"clawwatch\"",
                "missing or wrong credentials\n"
            ),
            "{creds:?}"
        );
        assert_eq!(headers["x-frame-options"], "deny");
    }
    let right = basic("prometheus", "scrape-canary-pw");
    let (code, headers, body) = call(r, "GET", "/metrics", &[("authorization", &right)], "").await;
    assert_eq!(code, 200);
    assert_eq!(headers["x-frame-options"], "deny");
    assert!(body.contains("openclaw_channel_up"));
    // Liveness stays open, as with the bearer token.
    let (code, _, _) = call(r, "GET", "/healthz", &[], "").await;
    assert_eq!(code, 200);
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[test]
fn check_config_names_web_config_problems_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\nbasic_auth_users:\n  bob: not-a-hash-canary\n",
    )
    .unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!("[server]\nweb_config_file = \"{}\"\n", web.display()),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(["check-config"])
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
    let w = web.display();
    let d = dir.path().display();
    for want in [
        format!("{w} tls_server_config.cert_file: {d}/missing.pem is not a readable file"),
        format!("{w} tls_server_config.key_file: {d}/missing.key is not a readable file"),
        format!("{w} basic_auth_users.bob: not a bcrypt hash"),
    ] {
        assert!(text.contains(&want), "{want}\nnot in:\n{text}");
    }
    assert!(!text.contains("not-a-hash-canary"), "{text}");
}
