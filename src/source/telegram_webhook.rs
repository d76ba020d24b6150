//! `openclaw_telegram_webhook_pending_updates`: for Telegram accounts in
//! webhook mode, asks the Bot API's `getWebhookInfo` how many updates wait.
//! The bot token and API root come from the gateway's own config (JSON5,
//! read only); the token never leaves this module, not even in errors.

use crate::config::Secret;
use crate::observation::Observation;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Where the gateway keeps its config, as the gateway finds it.
pub fn default_config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OPENCLAW_CONFIG_PATH") {
        return Some(PathBuf::from(p));
    }
    if let Some(d) = std::env::var_os("OPENCLAW_STATE_DIR") {
        return Some(PathBuf::from(d).join("openclaw.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".openclaw/openclaw.json"))
}

/// Telegram bots of the gateway config: API root and a token per account.
#[derive(Debug, Clone, PartialEq)]
pub struct Bots {
    /// Per account: the Bot API root and the token.
    pub accounts: BTreeMap<String, (String, Secret)>,
}

/// Why the gateway config gave no bot.
#[derive(Debug, thiserror::Error)]
pub enum BotsError {
    /// Unreadable file.
    #[error("cannot read the gateway config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Not JSON5.
    #[error("the gateway config {path} is not valid JSON5: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message (no content of the file).
        message: String,
    },
}

fn token_of(v: &Value, dir: &Path) -> Option<Secret> {
    if let Some(t) = v.get("botToken").and_then(Value::as_str) {
        return Some(Secret::new(t));
    }
    let f = v.get("tokenFile").and_then(Value::as_str)?;
    crate::config::read_secret_file(&dir.join(f)).ok()
}

/// Reads the Telegram accounts of the gateway config at `path`.
pub fn read_bots(path: &Path) -> Result<Bots, BotsError> {
    let text = std::fs::read_to_string(path).map_err(|source| BotsError::Read {
        path: path.into(),
        source,
    })?;
    let v: Value = json5::from_str(&text).map_err(|e| BotsError::Parse {
        path: path.into(),
        message: e
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect(),
    })?;
    Ok(bots_from(&v, path.parent().unwrap_or(Path::new("."))))
}

/// The Telegram accounts of a parsed gateway config.
pub fn bots_from(cfg: &Value, dir: &Path) -> Bots {
    let mut accounts = BTreeMap::new();
    let tg = &cfg["channels"]["telegram"];
    let root = |v: &Value, dflt: &str| {
        v.get("apiRoot")
            .and_then(Value::as_str)
            .unwrap_or(dflt)
            .trim_end_matches('/')
            .to_string()
    };
    let top_root = root(tg, "https://api.telegram.org");
    let top_token =
        token_of(tg, dir).or_else(|| std::env::var("TELEGRAM_BOT_TOKEN").ok().map(Secret::new));
    if let Some(t) = &top_token {
        accounts.insert("default".to_string(), (top_root.clone(), t.clone()));
    }
    if let Some(m) = tg.get("accounts").and_then(Value::as_object) {
        for (id, a) in m {
            if let Some(t) =
                token_of(a, dir).or_else(|| (id == "default").then(|| top_token.clone()).flatten())
            {
                accounts.insert(id.clone(), (root(a, &top_root), t));
            }
        }
    }
    Bots { accounts }
}

/// `pending_update_count` from a `getWebhookInfo` answer.
pub fn pending_of(body: &Value) -> Option<u64> {
    if body.get("ok")?.as_bool()? {
        body.pointer("/result/pending_update_count")?.as_u64()
    } else {
        None
    }
}

/// Polls `getWebhookInfo` for the webhook-mode Telegram accounts in the
/// latest snapshot, every `interval`.
pub async fn run(
    config_path: Option<PathBuf>,
    interval: Duration,
    timeout: Duration,
    mut accounts: watch::Receiver<Vec<String>>,
    tx: mpsc::Sender<Observation>,
    cancel: CancellationToken,
) {
    let Ok(client) = reqwest::Client::builder().timeout(timeout).build() else {
        return;
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_err: Option<String> = None;
    let mut warn_once = |msg: String| {
        if last_err.as_deref() != Some(msg.as_str()) {
            tracing::warn!("{msg}");
            last_err = Some(msg);
        }
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
            r = accounts.changed() => if r.is_err() { return },
        }
        let wanted = accounts.borrow_and_update().clone();
        if wanted.is_empty() {
            continue;
        }
        let Some(path) = config_path.clone() else {
            warn_once("Telegram webhook accounts found, but no gateway config to read the bot token from; set gateway.openclaw_config".into());
            continue;
        };
        let bots = match read_bots(&path) {
            Ok(b) => b,
            Err(e) => {
                warn_once(format!(
                    "{e}; openclaw_telegram_webhook_pending_updates is not available"
                ));
                continue;
            }
        };
        for account in wanted {
            let pending = match bots.accounts.get(&account) {
                None => {
                    warn_once(format!(
                        "no bot token for Telegram account {account:?} in {}",
                        path.display()
                    ));
                    None
                }
                Some((root, token)) => {
                    let url = format!("{root}/bot{}/getWebhookInfo", token.expose());
                    match client.get(url).send().await {
                        Ok(r) => r.json::<Value>().await.ok().as_ref().and_then(pending_of),
                        Err(e) => {
                            // without_url: the URL holds the bot token.
                            warn_once(format!(
                                "getWebhookInfo for Telegram account {account:?} failed: {}",
                                e.without_url()
                            ));
                            None
                        }
                    }
                }
            };
            if tx
                .send(Observation::WebhookPending { account, pending })
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bots_per_account_with_api_root() {
        let cfg: Value = json5::from_str(
            r#"{ // JSON5, as users write it
              channels: { telegram: { enabled: true, botToken: '123:AAA', apiRoot: 'http://127.0.0.1:9/',
                accounts: { ops: { botToken: "456:BBB" }, default: {} } } } }"#,
        )
        .unwrap();
        let b = bots_from(&cfg, Path::new("/"));
        assert_eq!(
            b.accounts,
            BTreeMap::from([
                (
                    "default".to_string(),
                    ("http://127.0.0.1:9".to_string(), Secret::new("123:AAA"))
                ),
                (
                    "ops".to_string(),
                    ("http://127.0.0.1:9".to_string(), Secret::new("456:BBB"))
                ),
            ])
        );
    }

    #[test]
    fn pending_count() {
        assert_eq!(
            pending_of(
                &json!({"ok": true, "result": {"url": "https://x", "pending_update_count": 7}})
            ),
            Some(7)
        );
        assert_eq!(
            pending_of(&json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
            None
        );
    }

    #[test]
    fn parse_errors_do_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("openclaw.json");
        std::fs::write(&p, "{ channels: { telegram: { botToken: '123:SECRET' ").unwrap();
        let e = read_bots(&p).unwrap_err().to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }
}
