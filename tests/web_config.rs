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

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made
/// with openssl in `dir`; `name` prefixes the files.
fn pki(dir: &std::path::Path, name: &str) {
    let run = |args: &[String]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "openssl {args:?}: {err}");
    };
    let f = |s: &str| format!("{name}-{s}");
    let args = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    let mut ca = args(&format!(
        "req -x509 {ec} -keyout {} -out {} -days 2",
        f("ca.key"),
        f("ca.pem")
    ));
    ca.extend(["-subj".into(), format!("/CN={name} test CA")]);
    run(&ca);
    // Extensions make v3 certificates, the only kind webpki accepts.
    std::fs::write(
        dir.join(f("server.ext")),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join(f("client.ext")), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, cn) in [("server", "127.0.0.1"), ("client", "prometheus")] {
        let (key, csr, pem) = (
            f(&format!("{who}.key")),
            f(&format!("{who}.csr")),
            f(&format!("{who}.pem")),
        );
        run(&args(&format!(
            "req {ec} -keyout {key} -out {csr} -subj /CN={cn}"
        )));
        let mut sign = args(&format!(
            "x509 -req -in {csr} -CA {} -CAkey {} -CAcreateserial -days 2 -out {pem}",
            f("ca.pem"),
            f("ca.key")
        ));
        sign.extend(["-extfile".into(), f(&format!("{who}.ext"))]);
        run(&sign);
    }
}

fn client(dir: &std::path::Path, ca: &str, identity: Option<&str>) -> reqwest::Client {
    let pem = std::fs::read(dir.join(format!("{ca}-ca.pem"))).unwrap();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .timeout(Duration::from_secs(5));
    if let Some(who) = identity {
        let mut id = std::fs::read(dir.join(format!("{who}-client.pem"))).unwrap();
        id.extend(std::fs::read(dir.join(format!("{who}-client.key"))).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&id).unwrap());
    }
    b.build().unwrap()
}

async fn code(c: &reqwest::Client, url: &str) -> Result<u16, String> {
    c.get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_client_certificate_and_a_renewed_certificate() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        assert!(std::env::var("CI").is_err(), "CI needs openssl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d, "a");
    pki(d, "b");
    for f in ["server.pem", "server.key"] {
        std::fs::copy(d.join(format!("a-{f}")), d.join(f)).unwrap();
    }
    // Client certificates from CA a are verified; the server's may be renewed by CA b.
    std::fs::write(
        d.join("web.yml"),
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: a-ca.pem\n  min_version: TLS12\n",
    )
    .unwrap();
    let sim = start_sim("steady", 1.0).await;
    let mut cfg = config(sim.addr);
    cfg.server.web_config_file = Some(d.join("web.yml"));
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let https = format!("https://127.0.0.1:{}/metrics", side.addr.port());
    let http = format!("http://127.0.0.1:{}/metrics", side.addr.port());

    assert_eq!(code(&client(d, "a", Some("a")), &https).await, Ok(200));
    // No client certificate, or one from another CA: no handshake.
    assert!(code(&client(d, "a", None), &https).await.is_err());
    assert!(code(&client(d, "a", Some("b")), &https).await.is_err());
    // Plain HTTP on the TLS port gets no HTTP answer.
    assert!(code(&reqwest::Client::new(), &http).await.is_err());

    // Renewal: the server certificate is replaced on disk by one from CA b.
    assert!(code(&client(d, "b", Some("a")), &https).await.is_err());
    for f in ["server.pem", "server.key"] {
        std::fs::copy(d.join(format!("b-{f}")), d.join(format!("{f}.new"))).unwrap();
        std::fs::rename(d.join(format!("{f}.new")), d.join(f)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(code(&client(d, "b", Some("a")), &https).await, Ok(200));
    assert!(code(&client(d, "a", Some("a")), &https).await.is_err());
    // Each failed handshake is counted as unauthenticated.
    let text = client(d, "b", Some("a"))
        .get(&https)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&text, "clawwatch_http_refused_total", &[("reason", "auth")]),
        Some(5.0)
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn writes_from_other_hosts_need_authentication() {
    let silence = r#"{"matchers":[{"name":"channel","value":"telegram"}],"duration":"1h","comment":"c","createdBy":"me"}"#;
    let json = [("content-type", "application/json")];
    let far: std::net::SocketAddr = "10.1.2.3:40000".parse().unwrap();
    let near: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mapped: std::net::SocketAddr = "[::ffff:127.0.0.1]:40000".parse().unwrap();

    let (sim, side, _) = on_pipe("steady", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = &side.router;
    let (code, _, body) = call_from(r, Some(far), "POST", "/api/v1/silences", &json, silence).await;
    assert_eq!(
        (code, body.as_str()),
        (
            403,
            r#"{"error":"a write from 10.1.2.3 needs authentication: set server.bearer_token_file or basic_auth_users in the web config (or server.allow_unauthenticated_writes = true)"}"#
        )
    );
    let (code, _, _) = call_from(r, Some(far), "DELETE", "/api/v1/silences/x", &[], "").await;
    assert_eq!(code, 403);
    // Reads stay open; loopback peers may write.
    assert_eq!(
        call_from(r, Some(far), "GET", "/metrics", &[], "").await.0,
        200
    );
    assert_eq!(
        call_from(r, Some(near), "POST", "/api/v1/silences", &json, silence)
            .await
            .0,
        200
    );
    assert_eq!(
        call_from(r, Some(mapped), "POST", "/api/v1/silences", &json, silence)
            .await
            .0,
        200
    );
    let (_, _, text) = call(r, "GET", "/metrics", &[("accept", "text/plain")], "").await;
    assert_eq!(
        sample(&text, "clawwatch_http_refused_total", &[("reason", "auth")]),
        Some(2.0)
    );
    side.cancel.cancel();
    sim.cancel.cancel();

    let (sim, side, _) = on_pipe("steady", |c| c.server.allow_unauthenticated_writes = true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = &side.router;
    assert_eq!(
        call_from(r, Some(far), "POST", "/api/v1/silences", &json, silence)
            .await
            .0,
        200
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}

/// `clawwatch ARGS...`: exit code and stdout + stderr.
fn cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(args)
        .env_remove("CLAWWATCH_SERVER_TOKEN")
        .env_remove("CLAWWATCH_URL")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_the_cli_read_a_sidecar_behind_tls_and_basic_auth() {
    let prom_bin = "/usr/bin/prometheus";
    let have = std::path::Path::new(prom_bin).exists()
        && std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_ok();
    if !have {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs prometheus and openssl"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki(d, "a");
    let hash = bcrypt::hash_with_salt("scrape-canary-pw", 4, [3u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(
        d.join("web.yml"),
        format!("tls_server_config:\n  cert_file: a-server.pem\n  key_file: a-server.key\nbasic_auth_users:\n  prometheus: {hash}\n"),
    )
    .unwrap();
    std::fs::write(d.join("password"), "scrape-canary-pw\n").unwrap();
    std::fs::write(d.join("wrong"), "not-it\n").unwrap();
    let sim = start_sim("steady", 1.0).await;
    let mut cfg = config(sim.addr);
    cfg.server.web_config_file = Some(d.join("web.yml"));
    let side = clawwatch::app::start(cfg, None).await.unwrap();
    let port = side.addr.port();

    // A real Prometheus with basic_auth and tls_config in its scrape job.
    let prom_port = free_port();
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n\
             scrape_configs:\n  - job_name: clawwatch\n    scheme: https\n\
             \x20   basic_auth:\n      username: prometheus\n      password_file: {pw}\n\
             \x20   tls_config:\n      ca_file: {ca}\n\
             \x20   static_configs: [{{targets: [\"127.0.0.1:{port}\"]}}]\n\
             \x20 - job_name: no_password\n    scheme: https\n\
             \x20   tls_config:\n      ca_file: {ca}\n\
             \x20   static_configs: [{{targets: [\"127.0.0.1:{port}\"]}}]\n",
            pw = d.join("password").display(),
            ca = d.join("a-ca.pem").display(),
        ),
    )
    .unwrap();
    let _prom = Kill(
        std::process::Command::new(prom_bin)
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    let query = |expr: &'static str| {
        let prom = prom.clone();
        async move {
            let v: serde_json::Value = reqwest::Client::new()
                .get(format!("{prom}/api/v1/query"))
                .query(&[("query", expr)])
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned)
        }
    };
    wait_for(
        Duration::from_secs(30),
        "Prometheus scraping over TLS",
        || async {
            (query("up{job=\"clawwatch\"}").await.as_deref() == Some("1")
                && query("up{job=\"no_password\"}").await.is_some())
            .then_some(())
        },
    )
    .await;
    assert_eq!(
        query("openclaw_gateway_up{job=\"clawwatch\"}")
            .await
            .as_deref(),
        Some("1")
    );
    // Without the password the scrape is refused.
    assert_eq!(query("up{job=\"no_password\"}").await.as_deref(), Some("0"));

    // The CLI with the same credentials.
    let url = format!("https://127.0.0.1:{port}");
    let ca = d.join("a-ca.pem").display().to_string();
    let pw = d.join("password").display().to_string();
    let wrong = d.join("wrong").display().to_string();
    // Who the caller is, and how it trusts the sidecar.
    let login = ["--username", "prometheus", "--password-file", &pw];
    let bad_login = ["--username", "prometheus", "--password-file", &wrong];
    let tls = ["--url", &url, "--ca-file", &ca];
    let run = |parts: &[&[&str]]| cli(&parts.concat());
    let (code, out) = run(&[&["status"], &tls, &login, &["--json"]]);
    assert_eq!(code, 0, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["status"], "ok");
    let (code, out) = run(&[&["status"], &tls]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("HTTP 401: it needs credentials"), "{out}");
    let (code, out) = run(&[&["status"], &tls, &bad_login]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("HTTP 401: the credentials were refused"),
        "{out}"
    );
    assert!(!out.contains("not-it"), "{out}");
    // Without the CA the certificate is not trusted, unless told to skip.
    let (code, out) = run(&[&["status", "--url", &url], &login]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = run(&[
        &["status", "--url", &url, "--insecure-skip-verify"],
        &login,
        &["--json"],
    ]);
    assert_eq!(code, 0, "{out}");
    // Writes too: a silence added and listed.
    let (code, out) = run(&[
        &["silence"],
        &tls,
        &login,
        &["add", "channel=whatsapp", "--duration", "1h"],
        &["--comment", "relinking", "--author", "ops"],
    ]);
    assert_eq!(code, 0, "{out}");
    let id = out.trim().to_string();
    let (code, out) = run(&[&["silence", "list", "--json"], &tls, &login]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&id), "{out}");
    side.cancel.cancel();
    sim.cancel.cancel();
}
