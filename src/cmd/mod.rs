//! One module per command of SPEC.md; `main` parses the command line and
//! calls the matching `run` here.

pub mod backup;
pub mod check_config;
pub mod client;
pub mod demo;
pub mod doctor;
pub mod logs_scan;
pub mod run;
pub mod simulate;
pub mod table;
pub mod test_alert;

/// Waits for SIGINT or SIGTERM, then stops the sidecar (10 s at most).
pub async fn serve_until_signal(running: crate::app::Running) {
    crate::app::shutdown_signal().await;
    tracing::info!("Shutting down.");
    running.cancel.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), running.done).await;
}
