//! Built-in alerting. `engine` decides which alerts fire from the state
//! machine's view and the log counters; delivery (routes, silences, the
//! outbox and the integrations) builds on it.

pub mod engine;
pub mod outbox;
pub mod webhook;
