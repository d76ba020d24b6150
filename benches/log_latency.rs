//! From a line appended to the gateway's log to (a) its count in /metrics
//! and (b) its rule match on /api/v1/events. Prints median and p99 over 200
//! lines. `cargo bench --bench log_latency`.

use std::io::Write;
use std::time::{Duration, Instant};

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

async fn lines_total(c: &reqwest::Client, base: &str) -> f64 {
    let m = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .filter(|l| l.starts_with("openclaw_log_lines_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("openclaw-2026-11-26.log");
    std::fs::write(&log, "").unwrap();
    let sim = clawwatch::simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        clawwatch::simulate::Options {
            scenario: "steady".into(),
            token: Some("t".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut cfg = clawwatch::config::Config::default();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.gateway.url = format!("ws://{}", sim.addr);
    cfg.gateway.token = Some(clawwatch::config::Secret::new("t"));
    cfg.logs.paths = vec![dir.path().join("openclaw-*.log").display().to_string()];
    let side = clawwatch::app::start(cfg, Some(dir.path().join("state")))
        .await
        .unwrap();
    let base = format!("http://{}", side.addr);
    let c = reqwest::Client::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sse = c.get(format!("{base}/api/v1/events")).send().await.unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let (mut to_metrics, mut to_sse) = (Vec::new(), Vec::new());
    let mut count = lines_total(&c, &base).await;
    for i in 0..200 {
        let marker = format!("marker-{i:04}");
        let line = format!(
            "{{\"0\":\"{{\\\"subsystem\\\":\\\"channels/telegram\\\"}}\",\"1\":\"[default] {marker} disconnect\",\"_meta\":{{\"logLevelName\":\"INFO\"}},\"message\":\"[default] {marker} disconnect\"}}\n"
        );
        let t0 = Instant::now();
        f.write_all(line.as_bytes()).unwrap();
        let mut got_sse = None;
        let mut got_metrics = None;
        let mut buf = String::new();
        while got_sse.is_none() || got_metrics.is_none() {
            if got_metrics.is_none() && lines_total(&c, &base).await > count {
                got_metrics = Some(t0.elapsed());
            }
            if got_sse.is_none() {
                if let Ok(Ok(Some(chunk))) =
                    tokio::time::timeout(Duration::from_millis(2), sse.chunk()).await
                {
                    buf.push_str(&String::from_utf8_lossy(&chunk));
                    if buf.contains(&marker) {
                        got_sse = Some(t0.elapsed());
                    }
                }
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "line {i} not seen");
        }
        count += 1.0;
        to_metrics.push(got_metrics.unwrap().as_secs_f64() * 1e3);
        to_sse.push(got_sse.unwrap().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "line -> /metrics:        median {:.1} ms  p99 {:.1} ms  (200 lines)",
        pct(&mut to_metrics, 0.5),
        pct(&mut to_metrics, 0.99)
    );
    println!(
        "line -> /api/v1/events:  median {:.1} ms  p99 {:.1} ms  (target: both under 250 ms)",
        pct(&mut to_sse, 0.5),
        pct(&mut to_sse, 0.99)
    );
    side.cancel.cancel();
    sim.cancel.cancel();
}
