//! Shared helpers for the loopback integration tests.
#![allow(dead_code)]

use clawwatch::config::{Config, OptDuration, Secret};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "sim-token-0123456789";

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
    let script = scripts().join("oc-mock-telegram.py");
    if !script.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs ../shared/openclaw/oc-mock-telegram.py"
        );
        eprintln!("skipped: no oc-mock-telegram.py");
        return None;
    }
    let port = free_port();
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
