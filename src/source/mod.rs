//! The gateway sources: its WebSocket RPC, its `/readyz`, and Telegram's
//! `getWebhookInfo` for webhook-mode bots. Each sends
//! [`Observation`](crate::observation::Observation)s to the state writer
//! and knows nothing of state, alerts or the server.

pub mod gateway;
pub mod readyz;
pub mod telegram_webhook;
