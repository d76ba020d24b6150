//! Requests through the whole router of a running sidecar (on the simulated
//! gateway), without a socket. Input: `METHOD PATH`, header lines, a blank
//! line, the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;
use tower::ServiceExt as _;

struct Side {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
}

fn side() -> &'static Side {
    static SIDE: OnceLock<Side> = OnceLock::new();
    SIDE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let router = rt.block_on(async {
            let (sim, pipe) = clawwatch::simulate::start_on_pipe(clawwatch::simulate::Options {
                token: Some("fuzz-token".into()),
                ..Default::default()
            })
            .unwrap();
            std::mem::forget(sim);
            let mut cfg = clawwatch::config::Config::default();
            cfg.server.listen = "127.0.0.1:0".into();
            cfg.gateway.token = Some(clawwatch::config::Secret::new("fuzz-token"));
            let running = clawwatch::app::start_with(
                cfg,
                clawwatch::app::Deps {
                    gateway: Some(pipe),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let router = running.router.clone();
            std::mem::forget(running);
            router
        });
        Side { rt, router }
    })
}

fuzz_target!(|data: &[u8]| {
    let side = side();
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let (method, path) = first.split_once(' ').unwrap_or(("GET", first));
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(if path.is_empty() { "/" } else { path });
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            req = req.header(k.trim(), v.trim());
        }
    }
    let Ok(req) = req.body(axum::body::Body::from(body.to_vec())) else {
        return;
    };
    side.rt.block_on(async {
        let resp = side.router.clone().oneshot(req).await.unwrap();
        let _ = resp.status();
        // Streams (`/api/v1/events`) never end: read what comes at once.
        let _ = tokio::time::timeout(
            Duration::from_millis(20),
            axum::body::to_bytes(resp.into_body(), 1 << 24),
        )
        .await;
    });
});
