//! Shared helpers for the loopback integration tests.
#![allow(dead_code)]

use clawwatch::config::{Config, OptDuration, Secret};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "sim-token-0123456789";

/// The simulated gateway (token [`TOKEN`]) playing `scenario` at `speed`.
pub async fn start_sim(scenario: &str, speed: f64) -> clawwatch::simulate::Handle {
    clawwatch::simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        clawwatch::simulate::Options {
            scenario: scenario.into(),
            token: Some(TOKEN.into()),
            speed,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// A sidecar config pointed at `ws://addr`, polling fast.
pub fn config(gateway: std::net::SocketAddr) -> Config {
    let mut cfg = Config::default();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.gateway.url = format!("ws://{gateway}");
    cfg.gateway.token = Some(Secret::new(TOKEN));
    cfg.gateway.poll_interval = Duration::from_millis(200);
    cfg.gateway.probe_interval = OptDuration(None);
    cfg.gateway.connect_timeout = Duration::from_secs(2);
    cfg
}

pub async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    let code = r.status().as_u16();
    (code, r.text().await.unwrap())
}

pub async fn health(base: &str) -> (u16, Value) {
    let (code, body) = get(&format!("{base}/health/detail")).await;
    (code, serde_json::from_str(&body).unwrap())
}

/// Like [`health`], but `None` while the server does not answer yet.
pub async fn try_health(base: &str) -> Option<(u16, Value)> {
    let r = reqwest::get(format!("{base}/health/detail")).await.ok()?;
    let code = r.status().as_u16();
    Some((code, r.json().await.ok()?))
}

pub async fn metrics(base: &str) -> String {
    get(&format!("{base}/metrics")).await.1
}

/// Samples of the exposition: (name, sorted labels) -> value.
pub fn samples(text: &str) -> BTreeMap<(String, Vec<(String, String)>), f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (head, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let mut ls: Vec<(String, String)> = Vec::new();
        for kv in labels.split("\",").filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            ls.push((k.to_string(), v.trim_matches('"').to_string()));
        }
        ls.sort();
        out.insert((name.to_string(), ls), value.parse().unwrap());
    }
    out
}

/// One sample's value; `None` when the series does not exist.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut ls: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ls.sort();
    samples(text).get(&(name.to_string(), ls)).copied()
}

/// Sum of a metric over series matching `labels`.
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .iter()
        .filter(|((n, ls), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| ls.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// Polls `f` every 25 ms until it returns `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// State and reason of one account from /health/detail.
pub fn account(doc: &Value, ch: &str, acct: &str) -> Option<(String, Option<String>)> {
    let a = doc["accounts"][ch]
        .as_array()?
        .iter()
        .find(|a| a["account"] == acct)?;
    Some((
        a["state"].as_str()?.to_string(),
        a["reason"].as_str().map(str::to_owned),
    ))
}

/// Waits until `/health/detail` shows the account in `state`.
pub async fn wait_state(base: &str, ch: &str, acct: &str, state: &str, limit: Duration) {
    wait_for(limit, &format!("{ch}/{acct} {state}"), || async move {
        let (_, doc) = try_health(base).await?;
        (account(&doc, ch, acct)?.0 == state).then_some(())
    })
    .await
}

/// `clawwatch demo` on a free port: the process and its status page URL
/// (no trailing slash). Its stdout is drained, as a terminal would.
pub fn demo() -> (Kill, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let guard = Kill(child);
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let base = lines
        .find_map(|l| {
            l.trim()
                .strip_prefix("status page")
                .map(|u| u.trim().trim_end_matches('/').to_string())
        })
        .expect("demo prints its URLs");
    std::thread::spawn(move || lines.for_each(drop));
    (guard, base)
}

/// Kills (and reaps) a helper process when dropped.
pub struct Kill(pub std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `../shared/openclaw` (or `CLAWWATCH_OPENCLAW_SCRIPTS`).
pub fn scripts() -> std::path::PathBuf {
    std::env::var_os("CLAWWATCH_OPENCLAW_SCRIPTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/openclaw")
        })
}

/// The Bot API emulator (`oc-mock-telegram.py`) on a free port, answering:
/// its guard and base URL. `None` (test skipped) when the script is missing
/// outside CI.
pub async fn mock_telegram() -> Option<(Kill, String)> {
    mock_telegram_on(free_port()).await
}

/// [`mock_telegram`] on a given port.
pub async fn mock_telegram_on(port: u16) -> Option<(Kill, String)> {
    let script = scripts().join("oc-mock-telegram.py");
    if !script.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs ../shared/openclaw/oc-mock-telegram.py"
        );
        eprintln!("skipped: no oc-mock-telegram.py");
        return None;
    }
    let guard = Kill(
        std::process::Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    wait_for(Duration::from_secs(10), "the Bot API emulator", || {
        let (c, api) = (c.clone(), api.clone());
        async move {
            c.get(format!("{api}/_control/state"))
                .send()
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    Some((guard, api))
}

/// A webhook receiver on loopback: what it accepted, and how many requests
/// it still answers 503.
#[derive(Clone, Default)]
pub struct HookSink {
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    pub headers: std::sync::Arc<std::sync::Mutex<Vec<axum::http::HeaderMap>>>,
    pub raw: std::sync::Arc<std::sync::Mutex<Vec<axum::body::Bytes>>>,
    pub fail_first: std::sync::Arc<std::sync::Mutex<u32>>,
}

async fn hook(
    axum::extract::State(s): axum::extract::State<HookSink>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let mut fail = s.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    s.raw.lock().unwrap().push(body.clone());
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        headers["x-clawwatch-id"].to_str().unwrap(),
        body["id"].as_str().unwrap()
    );
    s.got.lock().unwrap().push(body);
    s.headers.lock().unwrap().push(headers);
    axum::http::StatusCode::OK
}

/// Starts a [`HookSink`]; returns its URL.
pub async fn webhook_sink(fail_first: u32) -> (String, HookSink) {
    let s = HookSink {
        fail_first: std::sync::Arc::new(std::sync::Mutex::new(fail_first)),
        ..Default::default()
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(s.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, s)
}

/// The real SMTP server (aiosmtpd, `tests/py/smtp_sink.py`) on `port`,
/// appending each message to `out` as JSON lines. `None` (test skipped)
/// without aiosmtpd outside CI.
pub fn smtp_sink(port: u16, out: &std::path::Path) -> Option<Kill> {
    smtp_sink_as(port, out, "accept")
}

/// [`smtp_sink`] in a mode: `accept`, or `hostile` (refuses every login,
/// quoting the credentials in its reply).
pub fn smtp_sink_as(port: u16, out: &std::path::Path, mode: &str) -> Option<Kill> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/smtp_sink.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(out)
        .arg(mode)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let guard = Kill(child);
    if first.trim() != "ready" {
        assert!(std::env::var("CI").is_err(), "CI must install aiosmtpd");
        eprintln!("skipped: pip install aiosmtpd");
        return None;
    }
    Some(guard)
}

/// The messages the SMTP sink wrote so far.
pub fn mails(out: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A mail's Subject header, unfolded (RFC 5322 folds long headers).
pub fn subject(mail: &Value) -> Option<String> {
    let data = mail["data"]
        .as_str()?
        .replace("\r\n ", " ")
        .replace("\n ", " ");
    data.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .map(|s| s.trim_end().to_string())
}

/// The subjects of the mails the SMTP sink wrote so far.
pub fn subjects(out: &std::path::Path) -> Vec<String> {
    mails(out).iter().filter_map(subject).collect()
}

/// The Bot API emulator's recorded sendMessage calls.
pub async fn telegram_sent(api: &str) -> Option<Vec<Value>> {
    let st: Value = reqwest::get(format!("{api}/_control/state"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        st["outbound"]
            .as_array()?
            .iter()
            .filter(|m| {
                m["method"]
                    .as_str()
                    .is_some_and(|x| x.eq_ignore_ascii_case("sendMessage"))
            })
            .cloned()
            .collect(),
    )
}

/// A real Alertmanager (Debian's package) on a free port, ready; its guard
/// and URL. `None` (test skipped) when not installed outside CI.
pub async fn alertmanager(dir: &std::path::Path) -> Option<(Kill, String)> {
    let Some(am_bin) = ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install prometheus-alertmanager"
        );
        eprintln!("skipped: apt-get install prometheus-alertmanager");
        return None;
    };
    let conf = dir.join("am.yml");
    std::fs::write(
        &conf,
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let port = free_port();
    let guard = Kill(
        std::process::Command::new(am_bin)
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let am = format!("http://127.0.0.1:{port}");
    wait_for(Duration::from_secs(20), "Alertmanager ready", || {
        let am = am.clone();
        async move {
            reqwest::get(format!("{am}/-/ready"))
                .await
                .ok()?
                .status()
                .is_success()
                .then_some(())
        }
    })
    .await;
    Some((guard, am))
}

/// Alertmanager's active alerts.
pub async fn am_active(am: &str) -> Option<Vec<Value>> {
    let v: Value = reqwest::get(format!("{am}/api/v2/alerts?active=true"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter(|a| a["status"]["state"] == "active")
            .cloned()
            .collect(),
    )
}

/// 2026-12-01T00:00:00Z: where fake clocks start.
pub const T0: f64 = 1_796_083_200.0;

/// The simulator playing `scenario` and a sidecar watching it, both on one
/// fake clock (pause tokio's clock in the test) and joined by an in-memory
/// pipe, so that everything they do is a function of virtual time.
pub async fn on_pipe(
    scenario: &str,
    tweak: impl FnOnce(&mut Config),
) -> (
    clawwatch::simulate::Handle,
    clawwatch::app::Running,
    clawwatch::clock::Clock,
) {
    on_pipe_seeded(scenario, None, tweak).await
}

/// [`on_pipe`] with recovery's jitter fixed by `seed`.
pub async fn on_pipe_seeded(
    scenario: &str,
    seed: Option<u64>,
    tweak: impl FnOnce(&mut Config),
) -> (
    clawwatch::simulate::Handle,
    clawwatch::app::Running,
    clawwatch::clock::Clock,
) {
    let clock = clawwatch::clock::Clock::fake(T0);
    let (sim, pipe) = clawwatch::simulate::start_on_pipe(clawwatch::simulate::Options {
        scenario: scenario.into(),
        token: Some(TOKEN.into()),
        clock: clock.clone(),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = config(sim.addr);
    cfg.gateway.poll_interval = Duration::from_secs(1);
    cfg.gateway.probe_interval = OptDuration(Some(Duration::from_secs(5)));
    // Nothing answers there: readiness stays unknown whatever the timing.
    cfg.gateway.readyz_url = Some("http://127.0.0.1:9/readyz".into());
    tweak(&mut cfg);
    let side = clawwatch::app::start_with(
        cfg,
        clawwatch::app::Deps {
            clock: clock.clone(),
            gateway: Some(pipe),
            recovery_seed: seed,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (sim, side, clock)
}

/// One request through the router without a socket: status, headers, body.
pub async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, axum::http::HeaderMap, String) {
    call_from(router, None, method, path, headers, body).await
}

/// Like [`call`], as if from `peer` (what the listener records).
pub async fn call_from(
    router: &axum::Router,
    peer: Option<std::net::SocketAddr>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, axum::http::HeaderMap, String) {
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(p) = peer {
        req = req.extension(clawwatch::server::Peer(p));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router
        .clone()
        .oneshot(req.body(axum::body::Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    // As an HTTP client would: a gzipped body is read decoded.
    if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        use std::io::Read as _;
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .expect("a gzip body decodes");
        body = plain;
    }
    (code, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Parses an exposition with the reference Python parsers
/// (tests/py/check_exposition.py); `None` when prometheus_client is missing
/// outside CI.
pub fn python_check(kind: &str, text: &str) -> Option<Value> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("metrics.txt");
    std::fs::write(&f, text).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/check_exposition.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(kind)
        .arg(&f)
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named 'prometheus_client'") {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install prometheus-client"
        );
        eprintln!("skipped: pip install prometheus-client");
        return None;
    }
    assert!(out.status.success(), "{kind} parse failed: {err}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}
