//! `clawwatch doctor`: the article's manual checks as one command. Each
//! check says `ok`, `warn` or `fail`, why, and the exact fix. Every network
//! check has its own timeout and all run at once: doctor reports, it never
//! hangs.

use crate::backup::{gateway_config_path, openclaw_state_dir, read_gateway_config, whatsapp_dirs};
use crate::clock::Clock;
use crate::config::{Config, Severity};
use serde::Serialize;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but will bite.
    Warn,
    /// Broken.
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable id, e.g. `sysctl.net.ipv4.tcp_keepalive_time`.
    pub check: String,
    /// The outcome.
    pub status: Status,
    /// One line of why.
    pub why: String,
    /// The exact fix (`None` when ok).
    pub fix: Option<String>,
}

fn ok(check: impl Into<String>, why: impl Into<String>) -> Check {
    Check {
        check: check.into(),
        status: Status::Ok,
        why: why.into(),
        fix: None,
    }
}

fn bad(
    status: Status,
    check: impl Into<String>,
    why: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        check: check.into(),
        status,
        why: why.into(),
        fix: Some(fix.into()),
    }
}

/// The article's keepalive values: (name, at most).
pub const KEEPALIVE: [(&str, u64); 3] = [
    ("net.ipv4.tcp_keepalive_time", 60),
    ("net.ipv4.tcp_keepalive_intvl", 10),
    ("net.ipv4.tcp_keepalive_probes", 6),
];

/// Key paths the gateway's config schema defines (`*`: any key of a map,
/// `**`: anything below); generated from `openclaw config schema` by
/// tools/openclaw-config-keys.py.
pub const SCHEMA_KEYS: &str = include_str!("../../data/openclaw-config-keys.txt");

/// The keys of `config` that the gateway's schema does not define, as
/// dotted paths of the file's own keys.
pub fn ignored_keys(config: &Value) -> Vec<String> {
    let known: std::collections::HashSet<&str> = SCHEMA_KEYS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let mut out = Vec::new();
    fn walk(
        v: &Value,
        pattern: &str,
        real: &str,
        known: &std::collections::HashSet<&str>,
        out: &mut Vec<String>,
    ) {
        let Some(obj) = v.as_object() else {
            if let Some(items) = v.as_array() {
                for (i, it) in items.iter().enumerate().take(1000) {
                    walk(it, pattern, &format!("{real}[{i}]"), known, out);
                }
            }
            return;
        };
        let join = |a: &str, b: &str| {
            if a.is_empty() {
                b.to_string()
            } else {
                format!("{a}.{b}")
            }
        };
        for (k, sub) in obj {
            let exact = join(pattern, k);
            let real_k = join(real, k);
            if known.contains(exact.as_str()) {
                walk(sub, &exact, &real_k, known, out);
            } else if known.contains(join(pattern, "*").as_str()) {
                walk(sub, &join(pattern, "*"), &real_k, known, out);
            } else if known.contains(join(pattern, "**").as_str()) {
                continue;
            } else if out.len() < 200 {
                out.push(real_k);
            }
        }
    }
    walk(config, "", "", &known, &mut out);
    out
}

/// The schema's OpenClaw version (its first line).
fn schema_version() -> &'static str {
    SCHEMA_KEYS
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# openclaw "))
        .and_then(|l| l.split(':').next())
        .unwrap_or("?")
}

fn openclaw_config(cfg: &Config, gw: Option<&(PathBuf, Result<Value, String>)>) -> Vec<Check> {
    let Some((path, parsed)) = gw else {
        let p = gateway_config_path(cfg)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return vec![bad(Status::Warn, "openclaw.config", format!("no gateway config at {p}: its keys and sessions cannot be checked"), "set [gateway] openclaw_config (or OPENCLAW_CONFIG_PATH) to the gateway's openclaw.json")];
    };
    let p = path.display();
    let v = match parsed {
        Ok(v) => v,
        Err(e) => {
            return vec![bad(
                Status::Fail,
                "openclaw.config",
                format!("{p} is not valid JSON5: {e}"),
                format!("fix {p}: `openclaw config validate` names the line"),
            )]
        }
    };
    let mut out = Vec::new();
    let ignored = ignored_keys(v);
    out.push(if ignored.is_empty() {
        ok("openclaw.config.keys", format!("every key of {p} is one the gateway (openclaw {}) reads", schema_version()))
    } else {
        bad(
            Status::Warn,
            "openclaw.config.keys",
            format!("{p}: the gateway (openclaw {}) has no such key, so these do nothing: {}", schema_version(), ignored.join(", ")),
            "remove them; troubleshooting guides invent keys (sessionPath, keepAliveInterval, autoReconnect, connection.*): the gateway's only health knob is channels.<channel>.healthMonitor.enabled (docs/doctor.md)",
        )
    });
    let secret = ["/gateway/auth/token", "/gateway/auth/password"]
        .iter()
        .any(|k| v.pointer(k).is_some())
        || v.get("channels")
            .and_then(Value::as_object)
            .is_some_and(|chs| {
                chs.values().any(|c| {
                    c.get("botToken").or_else(|| c.get("token")).is_some()
                        || c.get("accounts")
                            .and_then(Value::as_object)
                            .is_some_and(|a| {
                                a.values()
                                    .any(|x| x.get("botToken").or_else(|| x.get("token")).is_some())
                            })
                })
            });
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    out.push(if secret && mode & 0o044 != 0 {
        bad(
            Status::Fail,
            "openclaw.config.mode",
            format!("{p} holds tokens and is mode {mode:o}: other users can read them"),
            format!("chmod 600 {p}"),
        )
    } else {
        ok("openclaw.config.mode", format!("{p} is mode {mode:o}"))
    });
    // The gateway's own restarts, off where someone turned them off.
    let mut off = Vec::new();
    if let Some(chs) = v.get("channels").and_then(Value::as_object) {
        for (ch, c) in chs {
            if c.pointer("/healthMonitor/enabled") == Some(&Value::Bool(false)) {
                off.push(ch.clone());
            }
            for (a, x) in c
                .get("accounts")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if x.pointer("/healthMonitor/enabled") == Some(&Value::Bool(false)) {
                    off.push(format!("{ch}:{a}"));
                }
            }
        }
    }
    out.push(if off.is_empty() {
        ok("openclaw.health_monitor", "the gateway's health monitor is on for every channel")
    } else {
        bad(Status::Warn, "openclaw.health_monitor", format!("the gateway's health monitor is off for {}: it will not restart them", off.join(", ")), "remove healthMonitor.enabled = false there, or turn on clawwatch's [recovery] for them (docs/recovery.md)")
    });
    out
}

/// Runs every check; the order is stable.
pub async fn run(cfg: &Config, config_file: Option<&Path>) -> Vec<Check> {
    let t = cfg.doctor.timeout;
    let gw = read_gateway_config(cfg);
    let gv = gw.as_ref().and_then(|(_, v)| v.as_ref().ok());
    let mut out = Vec::new();
    out.push(own_config(cfg, config_file));
    out.push(state_dir(&cfg.logs.state_dir));
    out.extend(logs(cfg));
    out.extend(keepalive(&cfg.doctor.proc_sys));
    out.extend(openclaw_config(cfg, gw.as_ref()));
    let sessions = whatsapp_dirs(cfg, gv);
    out.extend(whatsapp(cfg, gv, &sessions));
    out.extend(backups(cfg, &sessions));
    let upstream = cfg
        .doctor
        .upstream
        .clone()
        .unwrap_or_else(|| default_upstream(gv));
    let gateway = gateway(cfg, t);
    // One async resolver for all: a DNS server that never answers costs
    // its timeout, not a blocked thread.
    let resolver = hickory_resolver::TokioResolver::builder_tokio().map(|mut b| {
        b.options_mut().timeout = t;
        b.options_mut().attempts = 1;
        b.build()
    });
    let resolver = resolver.map_err(|e| e.to_string());
    let probes = futures_util::future::join_all(
        upstream
            .iter()
            .map(|u| reach(u, t, resolver.as_ref().map_err(|e| e.as_str()))),
    );
    let hooks = telegram(
        gw.as_ref()
            .and_then(|(p, v)| Some((p.clone(), v.as_ref().ok()?.clone()))),
        t,
    );
    let (g, reached, hooks) = tokio::join!(gateway, probes, hooks);
    out.push(g);
    out.extend(reached);
    out.extend(hooks);
    out
}

fn own_config(cfg: &Config, file: Option<&Path>) -> Check {
    let problems = crate::app::validate(cfg, false);
    let name = file
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "the built-in config".into());
    let errors: Vec<String> = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| p.to_string())
        .collect();
    let warnings = problems.len() - errors.len();
    let fix = format!(
        "clawwatch check-config {}",
        file.map(|f| f.display().to_string())
            .unwrap_or_else(|| "FILE".into())
    );
    if !errors.is_empty() {
        return bad(
            Status::Fail,
            "clawwatch.config",
            format!("{name}: {}", errors.join("; ")),
            fix,
        );
    }
    if warnings > 0 {
        return bad(
            Status::Warn,
            "clawwatch.config",
            format!("{name}: {warnings} warning(s)"),
            fix,
        );
    }
    ok("clawwatch.config", format!("{name} is valid"))
}

fn state_dir(dir: &Path) -> Check {
    let probe = dir.join(".clawwatch-doctor");
    let made = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&probe, b"ok"));
    let _ = std::fs::remove_file(&probe);
    match made {
        Ok(()) => ok("clawwatch.state_dir", format!("{} is writable", dir.display())),
        Err(e) => bad(
            Status::Fail,
            "clawwatch.state_dir",
            format!("{} is not writable ({e}): states, silences, the outbox and recovery budgets would not survive a restart", dir.display()),
            format!("mkdir -p {0} && chown \"$(id -un)\" {0}   (or set [logs] state_dir)", dir.display()),
        ),
    }
}

fn logs(cfg: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    for pat in &cfg.logs.paths {
        let id = format!("logs.{pat}");
        let Ok(p) = crate::logs::tail::Pattern::new(pat) else {
            out.push(bad(
                Status::Fail,
                id,
                format!("{pat:?} is not a glob"),
                "clawwatch check-config FILE",
            ));
            continue;
        };
        let files = p.expand();
        let Some(newest) = files
            .iter()
            .filter_map(|f| Some((f.clone(), std::fs::metadata(f).ok()?)))
            .max_by_key(|(_, m)| m.mtime())
        else {
            out.push(bad(
                Status::Warn,
                id,
                format!("no file matches {pat}"),
                "point [logs] paths at the gateway's file log (`logging.file` in openclaw.json; default /tmp/openclaw/openclaw-YYYY-MM-DD.log)",
            ));
            continue;
        };
        if let Err(e) = std::fs::File::open(&newest.0) {
            out.push(bad(
                Status::Fail,
                id,
                format!("{} cannot be read ({e})", newest.0.display()),
                format!(
                    "run clawwatch as the gateway's user, or: setfacl -m u:\"$(id -un)\":r {}",
                    newest.0.display()
                ),
            ));
            continue;
        }
        let now = Clock::system().now();
        let age = Duration::from_secs_f64((now - newest.1.mtime() as f64).max(0.0));
        if age > Duration::from_secs(3600) {
            out.push(bad(
                Status::Warn,
                id,
                format!("the newest file, {}, was last written {} ago", newest.0.display(), humantime::format_duration(Duration::from_secs(age.as_secs()))),
                "check that the gateway runs and logs to this path (`logging.file`), or update [logs] paths",
            ));
            continue;
        }
        out.push(ok(
            id,
            format!("{} is readable and recent", newest.0.display()),
        ));
    }
    out
}

fn keepalive(proc_sys: &Path) -> Vec<Check> {
    KEEPALIVE
        .iter()
        .map(|(name, max)| {
            let id = format!("sysctl.{name}");
            let file = proc_sys.join(name.replace('.', "/"));
            let fix = format!("sysctl -w {name}={max}   (and keep it: echo '{name} = {max}' > /etc/sysctl.d/60-openclaw.conf)");
            match std::fs::read_to_string(&file).ok().and_then(|s| s.trim().parse::<u64>().ok()) {
                None => bad(Status::Warn, id, format!("cannot read {}", file.display()), fix),
                Some(v) if v > *max => bad(
                    Status::Warn,
                    id,
                    format!("{name} is {v}; above {max}, a dead connection to a channel goes unnoticed longer"),
                    fix,
                ),
                Some(v) => ok(id, format!("{name} is {v}")),
            }
        })
        .collect()
}

fn whatsapp(cfg: &Config, gw: Option<&Value>, dirs: &[(String, PathBuf)]) -> Vec<Check> {
    let configured = gw.and_then(|v| v.pointer("/channels/whatsapp")).is_some();
    if dirs.is_empty() {
        if configured {
            return vec![bad(
                Status::Fail,
                "whatsapp.session",
                "WhatsApp is configured but no session directory exists: it is not linked",
                "openclaw channels login --channel whatsapp",
            )];
        }
        return Vec::new();
    }
    let owner = openclaw_state_dir(cfg)
        .and_then(|d| std::fs::metadata(d).ok())
        .map(|m| m.uid());
    dirs.iter()
        .map(|(acct, dir)| {
            let id = format!("whatsapp.session.{acct}");
            let d = dir.display();
            let Ok(meta) = std::fs::metadata(dir) else {
                return bad(Status::Fail, id, format!("{d} does not exist: not linked"), format!("openclaw channels login --channel whatsapp --account {acct}"));
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return bad(Status::Fail, id, format!("{d} is mode {mode:o}: others can read the session and take over the account"), format!("chmod 700 {d}"));
            }
            if owner.is_some_and(|u| u != meta.uid()) {
                return bad(Status::Warn, id, format!("{d} is owned by uid {}, not by the gateway's user (uid {})", meta.uid(), owner.unwrap_or(0)), format!("chown -R {} {d}", owner.unwrap_or(0)));
            }
            let creds = dir.join("creds.json");
            match std::fs::read(&creds) {
                Err(_) => bad(Status::Fail, id, format!("{} is missing: the session is not linked", creds.display()), format!("openclaw channels login --channel whatsapp --account {acct}")),
                Ok(b) if serde_json::from_slice::<Value>(&b).is_err() => bad(
                    Status::Fail,
                    id,
                    format!("{} is not JSON (a torn write?)", creds.display()),
                    format!("restore it from a backup (creds.json.bak beside it), or relink: openclaw channels login --channel whatsapp --account {acct}"),
                ),
                Ok(_) => ok(id, format!("{d} is 700, owned by the gateway's user, creds.json parses")),
            }
        })
        .collect()
}

/// The newest backup of each session against `[backup] stale_after`.
fn backups(cfg: &Config, sessions: &[(String, PathBuf)]) -> Vec<Check> {
    let root = cfg.backup.dir_in(&cfg.logs.state_dir);
    let newest = crate::backup::newest(&root);
    let now = Clock::system().now();
    let stale = cfg.backup.stale_after;
    sessions
        .iter()
        .map(|(acct, _)| {
            let id = format!("backup.whatsapp.{acct}");
            match newest.get(acct) {
                None => bad(Status::Warn, id, format!("no backup of this session in {}", root.display()), "clawwatch backup now --config FILE, and [backup] enabled = true for the sidecar to take them on schedule"),
                Some(t) if now - t > stale.as_secs_f64() => bad(
                    Status::Warn,
                    id,
                    format!("the newest backup was taken at {}, longer ago than [backup] stale_after ({})", crate::clock::rfc3339(*t), humantime::format_duration(stale)),
                    "clawwatch backup now --config FILE; if the sidecar should take them, check its log for \"Session backup failed\"",
                ),
                Some(t) => ok(id, format!("the newest backup was taken at {}", crate::clock::rfc3339(*t))),
            }
        })
        .collect()
}

/// The channels' real upstreams, for those the gateway config enables
/// (all three when it cannot be read).
pub fn default_upstream(gw: Option<&Value>) -> Vec<String> {
    let on = |ch: &str| gw.is_none_or(|v| v.pointer(&format!("/channels/{ch}")).is_some());
    let mut out = Vec::new();
    if on("telegram") {
        let root = gw
            .and_then(|v| v.pointer("/channels/telegram/apiRoot"))
            .and_then(Value::as_str)
            .and_then(|r| reqwest::Url::parse(r).ok())
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)));
        out.push(root.unwrap_or_else(|| "api.telegram.org:443".into()));
    }
    if on("discord") {
        out.push("discord.com:443".into());
        out.push("gateway.discord.gg:443".into());
    }
    if on("whatsapp") {
        out.push("web.whatsapp.com:443".into());
    }
    out
}

async fn reach(
    target: &str,
    t: Duration,
    resolver: Result<&hickory_resolver::TokioResolver, &str>,
) -> Check {
    let id = format!("upstream.{target}");
    let fix =
        format!("check DNS (/etc/resolv.conf) and that the firewall lets this host reach {target}");
    let parsed = target.rsplit_once(':').and_then(|(h, p)| {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        Some((h, p.parse::<u16>().ok()?))
    });
    let Some((host, port)) = parsed else {
        return bad(
            Status::Fail,
            id,
            format!("{target:?} is not host:port"),
            "write [doctor] upstream as [\"host:port\", ...]",
        );
    };
    let resolver = match resolver {
        Ok(r) => r,
        Err(e) => {
            return bad(
                Status::Fail,
                id,
                format!("no resolver: {e}"),
                "check /etc/resolv.conf",
            )
        }
    };
    let ip = match tokio::time::timeout(t, resolver.lookup_ip(host)).await {
        Err(_) => {
            return bad(
                Status::Fail,
                id,
                format!(
                    "resolving {host} took longer than {}",
                    humantime::format_duration(t)
                ),
                fix,
            )
        }
        Ok(Err(e)) => return bad(Status::Fail, id, format!("cannot resolve {host}: {e}"), fix),
        Ok(Ok(a)) => a.iter().next(),
    };
    let Some(ip) = ip else {
        return bad(
            Status::Fail,
            id,
            format!("{host} resolves to no address"),
            fix,
        );
    };
    let first = std::net::SocketAddr::new(ip, port);
    match tokio::time::timeout(t, tokio::net::TcpStream::connect(first)).await {
        Err(_) => {
            return bad(
                Status::Fail,
                id,
                format!(
                    "no TCP connection to {first} within {}",
                    humantime::format_duration(t)
                ),
                fix,
            )
        }
        Ok(Err(e)) => {
            return bad(
                Status::Fail,
                id,
                format!("cannot connect to {first}: {e}"),
                fix,
            )
        }
        Ok(Ok(_)) => {}
    }
    // Any HTTPS answer, even an error status, is an answer: a firewall or
    // proxy that accepts and swallows traffic is not.
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    let client = reqwest::Client::builder()
        .timeout(t)
        .resolve(host, first)
        .danger_accept_invalid_certs(true)
        .build();
    let answered = match client {
        Ok(c) => c
            .head(format!("https://{target}/"))
            .send()
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match answered {
        Ok(()) => ok(id, format!("{target} resolves, accepts TCP ({first}) and answers HTTPS")),
        Err(e) if e.is_timeout() => bad(Status::Fail, id, format!("{first} accepts TCP but sends nothing back within {} (a firewall or proxy swallowing traffic?)", humantime::format_duration(t)), fix),
        Err(e) => bad(Status::Fail, id, format!("{first} accepts TCP but no HTTPS: {}", e.without_url()), fix),
    }
}

async fn gateway(cfg: &Config, t: Duration) -> Check {
    let mut s = crate::app::live::gateway_settings(cfg, None);
    s.connect_timeout = t;
    s.rpc_timeout = t;
    let url = crate::redact::display_url(&cfg.gateway.url);
    let clock = Clock::system();
    // The whole handshake, not only each step, within the limit.
    match tokio::time::timeout(
        t + Duration::from_millis(200),
        crate::source::gateway::greet(&s, &clock),
    )
    .await
    {
        Err(_) => bad(
            Status::Fail,
            "gateway",
            format!(
                "the gateway at {url} did not complete the handshake within {}",
                humantime::format_duration(t)
            ),
            "is `openclaw gateway run` running, and is [gateway] url its port?",
        ),
        Ok(Err(e)) => {
            let (why, fix) = match e.message.split_once("; fix: ") {
                Some((w, f)) => (w.to_string(), f.to_string()),
                None => (
                    e.message.clone(),
                    "is `openclaw gateway run` running, and is [gateway] url its port?".to_string(),
                ),
            };
            bad(Status::Fail, "gateway", why, fix)
        }
        Ok(Ok(g)) => ok(
            "gateway",
            format!(
                "the gateway at {url} answers, accepts the token, protocol {}, version {}",
                g.protocol
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "?".into()),
                g.version.as_deref().unwrap_or("?")
            ),
        ),
    }
}

/// `getWebhookInfo` of each Telegram bot the gateway config holds: a
/// webhook set while the gateway polls, updates piling up, the last error.
/// The token goes only into the request.
async fn telegram(gw: Option<(PathBuf, Value)>, t: Duration) -> Vec<Check> {
    let Some((path, v)) = gw else {
        return Vec::new();
    };
    let bots =
        crate::source::telegram_webhook::bots_from(&v, path.parent().unwrap_or(Path::new(".")));
    let Ok(client) = reqwest::Client::builder().timeout(t).build() else {
        return Vec::new();
    };
    let tg = &v["channels"]["telegram"];
    let checks = bots.accounts.iter().map(|(acct, (root, token))| {
        let client = client.clone();
        let webhook_mode = tg.pointer(&format!("/accounts/{acct}/webhookUrl")).or_else(|| tg.get("webhookUrl")).is_some_and(|u| u.as_str().is_some_and(|s| !s.is_empty()));
        let url = format!("{}/bot{}/getWebhookInfo", root.trim_end_matches('/'), token.expose());
        let id = format!("telegram.webhook.{acct}");
        async move {
            let answer = client.get(url).send().await;
            let body: Option<Value> = match answer {
                Err(e) => {
                    let why = if e.is_timeout() { format!("the Bot API did not answer getWebhookInfo within {}", humantime::format_duration(t)) } else { "the Bot API cannot be reached for getWebhookInfo".to_string() };
                    return bad(Status::Fail, id, why, "check the host's route to the Bot API (channels.telegram.apiRoot) and the upstream check above");
                }
                Ok(r) => r.json().await.ok(),
            };
            let Some(b) = body.filter(|b| b["ok"] == Value::Bool(true)) else {
                return bad(Status::Fail, id, "the Bot API refused getWebhookInfo: the bot token is wrong or revoked", "put the bot's current token (from @BotFather) in channels.telegram.botToken or tokenFile");
            };
            let r = &b["result"];
            let hook = r["url"].as_str().unwrap_or("");
            let pending = r["pending_update_count"].as_u64().unwrap_or(0);
            if !hook.is_empty() && !webhook_mode {
                return bad(Status::Fail, id, format!("a webhook is set at Telegram while the gateway polls: getUpdates is refused (409) and {pending} update(s) wait"), "restart the account (`openclaw channels start`): it calls deleteWebhook at start; or set channels.telegram.webhookUrl to use the webhook");
            }
            if let Some(err) = r["last_error_message"].as_str() {
                return bad(Status::Warn, id, format!("Telegram's last delivery error: {} ({pending} pending)", crate::redact::redact(err)), "check that the webhook URL is reachable from the internet with a valid certificate");
            }
            if pending > 100 {
                return bad(Status::Warn, id, format!("{pending} updates wait at Telegram"), "look at the gateway's log for the Telegram account; the updates are delivered once it takes them");
            }
            ok(id, format!("{} mode, {pending} pending, no error", if webhook_mode { "webhook" } else { "polling" }))
        }
    });
    futures_util::future::join_all(checks).await
}

/// The text report.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!(
            "{:<5} {}: {}\n",
            c.status.as_str(),
            c.check,
            c.why
        ));
        if let Some(f) = &c.fix {
            out.push_str(&format!("      fix: {f}\n"));
        }
    }
    let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "{} ok, {} warn, {} fail\n",
        n(Status::Ok),
        n(Status::Warn),
        n(Status::Fail)
    ));
    out
}

/// `clawwatch doctor`: loads the config (file, environment), runs every
/// check, prints them; exit 1 on any `fail`.
pub async fn main(config: Option<PathBuf>, json: bool) -> anyhow::Result<std::process::ExitCode> {
    let mut cfg = match &config {
        Some(p) => crate::config::load(p)?,
        None => Config::default(),
    };
    crate::config::apply_env(&mut cfg);
    if let Err(e) = crate::config::resolve_secrets(&mut cfg) {
        // Reported by the config check; the gateway check then goes without.
        tracing::debug!(error = %e, "secrets");
    }
    let checks = run(&cfg, config.as_deref()).await;
    if json {
        println!("{}", serde_json::to_string_pretty(&to_json(&checks))?);
    } else {
        print!("{}", render(&checks));
    }
    Ok(if checks.iter().any(|c| c.status == Status::Fail) {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// The `--json` report: `{"checks": [...], "ok": n, "warn": n, "fail": n}`.
pub fn to_json(checks: &[Check]) -> Value {
    let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
    serde_json::json!({"checks": checks, "ok": n(Status::Ok), "warn": n(Status::Warn), "fail": n(Status::Fail)})
}
