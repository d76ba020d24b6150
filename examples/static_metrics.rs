//! The peer of bench/run.sh's /metrics figures: the same bytes from a file,
//! served by axum on the runtime clawwatch uses (current thread), gzipped
//! when the scraper asks as clawwatch decides it.
//! usage: static_metrics ADDR PLAIN_FILE GZIP_FILE

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use bytes::Bytes;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, plain, gz] = &args[..] else {
        anyhow::bail!("usage: static_metrics ADDR PLAIN_FILE GZIP_FILE");
    };
    let plain = Bytes::from(std::fs::read(plain)?);
    let gz = Bytes::from(std::fs::read(gz)?);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |h: HeaderMap| async move {
            let gzip = clawwatch::server::accepts_gzip(
                h.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()),
            );
            let ct = HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            );
            if gzip {
                (
                    [
                        (header::CONTENT_TYPE, ct),
                        (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                    ],
                    gz.clone(),
                )
                    .into_response()
            } else {
                ([(header::CONTENT_TYPE, ct)], plain.clone()).into_response()
            }
        }),
    );
    let l = tokio::net::TcpListener::bind(addr.as_str()).await?;
    axum::serve(l, app).await?;
    Ok(())
}
