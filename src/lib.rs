//! clawwatch: a Prometheus exporter and alerting sidecar for the OpenClaw
//! gateway. Sources (the gateway's WebSocket RPC, `/readyz`, its logs) send
//! observations to one state writer; the pure core (`state`) turns each
//! into changes; consumers export metrics, keep history and publish a
//! snapshot; alerting and the HTTP server read snapshots.

#![warn(missing_docs)]

pub mod alert;
pub mod app;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod durable;
pub mod export;
pub mod history;
pub mod logline;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod observation;
pub mod pipe;
pub mod recovery;
pub mod redact;
pub mod serve;
pub mod server;
pub mod simulate;
pub mod snapshot;
pub mod source;
pub mod state;
pub mod supervise;
pub mod tls;
pub mod web;
pub mod webconfig;

/// The captured gateway fixtures, for tests.
#[doc(hidden)]
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openclaw");
