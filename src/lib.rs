//! clawwatch: a Prometheus exporter and alerting sidecar for the OpenClaw
//! gateway. Sources (the gateway's WebSocket RPC and /readyz) feed one state
//! task; it owns the per-account state machines and publishes metrics and a
//! snapshot that the HTTP server reads.

#![warn(missing_docs)]

pub mod alert;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod derive;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod pipe;
pub mod redact;
pub mod server;
pub mod simulate;
pub mod source;
pub mod state;
pub mod status;

/// The captured gateway fixtures, for tests.
#[doc(hidden)]
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openclaw");
