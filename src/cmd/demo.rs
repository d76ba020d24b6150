//! `clawwatch demo`: the simulated gateway and a sidecar watching it in one
//! process, with a receiver that prints the notices.

use crate::config;
use anyhow::Context as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// A receiver on `listener` that prints each notice's status and title.
async fn print_notices(listener: tokio::net::TcpListener) {
    let app = axum::Router::new().route(
        "/notice",
        axum::routing::post(|axum::Json(v): axum::Json<serde_json::Value>| async move {
            let line = format!(
                "notice: {} {}\n",
                v["status"].as_str().unwrap_or("").to_uppercase(),
                v["title"].as_str().unwrap_or("")
            );
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
            "ok"
        }),
    );
    let _ = axum::serve(listener, app).await;
}

/// Runs the demo until SIGINT or SIGTERM.
pub async fn run(listen: SocketAddr, scenario: String, speed: f64) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("clawwatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let token = format!("demo-{:016x}", rand::random::<u64>());
    let sim = crate::simulate::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        crate::simulate::Options {
            scenario,
            token: Some(token.clone()),
            log_dir: Some(dir.join("logs")),
            speed,
            repeat: true,
            // Small, so that the demo shows rotations too.
            log_max_bytes: 256 << 10,
            ..Default::default()
        },
    )
    .await?;
    let mut cfg = config::Config::default();
    cfg.server.listen = listen.to_string();
    cfg.gateway.url = format!("ws://{}", sim.addr);
    cfg.gateway.token = Some(config::Secret::new(token));
    cfg.gateway.poll_interval = Duration::from_secs(2);
    cfg.gateway.probe_interval = config::OptDuration(Some(Duration::from_secs(10)));
    cfg.logs.paths = vec![dir.join("logs/openclaw-*.log").display().to_string()];
    cfg.states.stale_after.insert(
        "telegram".into(),
        config::OptDuration(Some(Duration::from_secs(8))),
    );
    // Recovery on, quick: the cycle's stopped WhatsApp account gets a
    // restart each round, and the budget runs out within minutes.
    cfg.recovery.enabled = true;
    cfg.recovery.after = Duration::from_secs(5);
    // The demo's alerts go to a receiver that prints them.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    cfg.integrations = vec![config::IntegrationConfig {
        name: "demo-printer".into(),
        kind: "webhook".into(),
        url: Some(format!("http://{}/notice", receiver.local_addr()?)),
        ..Default::default()
    }];
    tokio::spawn(print_notices(receiver));
    let running = crate::app::start(cfg, Some(dir.join("state"))).await?;
    let a = running.addr;
    let banner = format!(
        "clawwatch demo: simulated gateway ws://{} (logs in {})\n  \
         status page     http://{a}/\n  \
         metrics         http://{a}/metrics\n  \
         health detail   http://{a}/health/detail   (try: curl -s http://{a}/health/detail | jq .channels)\n  \
         history         http://{a}/api/v1/history\n  \
         events          http://{a}/api/v1/events\n  \
         alerts          http://{a}/api/v1/alerts   (notices print below)\n  \
         recovery        http://{a}/api/v1/recovery  (clawwatch recovery status --url http://{a})\n  \
         table           clawwatch status --url http://{a}\n\
         Every state shows within a minute. Ctrl-C stops.\n",
        sim.addr,
        dir.join("logs").display()
    );
    // One write, and a closed stdout is no reason to stop serving.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes()).and_then(|_| out.flush());
    drop(out);
    super::serve_until_signal(running).await;
    sim.cancel.cancel();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
