use anyhow::Context as _;
use clap::Parser as _;
use clawwatch::cli::{Cli, Command, LogFormat, LogsCommand};
use clawwatch::config::{self, Severity};
use std::io::Write as _;
use std::process::ExitCode;

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("clawwatch=info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not in journald or files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match run(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("clawwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Run { config, listen } => {
            let mut cfg = match &config {
                Some(p) => config::load(p)?,
                None => config::Config::default(),
            };
            config::apply_env(&mut cfg);
            if let Some(l) = listen {
                cfg.server.listen = l.to_string();
            }
            let problems = config::validate(&cfg, true);
            for p in &problems {
                eprintln!("{p}");
            }
            if problems.iter().any(|p| p.severity == Severity::Error) {
                anyhow::bail!("invalid config; `clawwatch check-config FILE` lists the problems");
            }
            config::resolve_secrets(&mut cfg)?;
            if cfg.gateway.token.as_ref().is_none_or(|t| t.is_empty()) {
                tracing::warn!("No gateway token set (CLAWWATCH_GATEWAY_TOKEN or gateway.token_file); the gateway will refuse the connection.");
            }
            // The default /var/lib/clawwatch needs root; a user's own state
            // dir keeps restarts exact without it.
            let writable = |d: &std::path::Path| {
                let probe = d.join(".write-test");
                std::fs::create_dir_all(d)
                    .and_then(|_| std::fs::write(&probe, b""))
                    .and_then(|_| std::fs::remove_file(&probe))
                    .is_ok()
            };
            if cfg.logs.state_dir == config::LogsConfig::default().state_dir
                && !writable(&cfg.logs.state_dir)
            {
                let home = std::env::var_os("XDG_STATE_HOME")
                    .map(std::path::PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME")
                            .map(|h| std::path::PathBuf::from(h).join(".local/state"))
                    });
                if let Some(dir) = home.map(|h| h.join("clawwatch")) {
                    tracing::info!(path = %dir.display(), "Cannot write /var/lib/clawwatch; keeping state in the user's state dir (set logs.state_dir to choose).");
                    cfg.logs.state_dir = dir;
                }
            }
            let state_dir = Some(cfg.logs.state_dir.clone());
            let running = clawwatch::app::start(cfg, state_dir).await?;
            tracing::info!(addr = %running.addr, "Serving /metrics and /health/detail.");
            wait(running).await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            listen,
            scenario,
            speed,
        } => {
            let dir = tempfile_dir()?;
            let token = format!("demo-{:016x}", rand::random::<u64>());
            let sim = clawwatch::simulate::start(
                "127.0.0.1:0".parse().expect("literal address"),
                clawwatch::simulate::Options {
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
            cfg.gateway.poll_interval = std::time::Duration::from_secs(2);
            cfg.gateway.probe_interval =
                config::OptDuration(Some(std::time::Duration::from_secs(10)));
            cfg.logs.paths = vec![dir.join("logs/openclaw-*.log").display().to_string()];
            cfg.states.stale_after.insert(
                "telegram".into(),
                config::OptDuration(Some(std::time::Duration::from_secs(8))),
            );
            // The demo's alerts go to a receiver that prints them.
            let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            cfg.integrations = vec![config::IntegrationConfig {
                name: "demo-printer".into(),
                kind: "webhook".into(),
                url: Some(format!("http://{}/notice", receiver.local_addr()?)),
                ..Default::default()
            }];
            tokio::spawn(async move {
                let app = axum::Router::new().route(
                    "/notice",
                    axum::routing::post(
                        |axum::Json(v): axum::Json<serde_json::Value>| async move {
                            let line = format!(
                                "notice: {} {}\n",
                                v["status"].as_str().unwrap_or("").to_uppercase(),
                                v["title"].as_str().unwrap_or("")
                            );
                            let _ = std::io::stdout().lock().write_all(line.as_bytes());
                            "ok"
                        },
                    ),
                );
                let _ = axum::serve(receiver, app).await;
            });
            let running = clawwatch::app::start(cfg, Some(dir.join("state"))).await?;
            let a = running.addr;
            let banner = format!(
                "clawwatch demo: simulated gateway ws://{} (logs in {})\n  \
                 status page     http://{a}/\n  \
                 metrics         http://{a}/metrics\n  \
                 health detail   http://{a}/health/detail   (try: curl -s http://{a}/health/detail | jq .channels)\n  \
                 history         http://{a}/api/v1/history\n  \
                 events          http://{a}/api/v1/events\n  \
                 alerts          http://{a}/api/v1/alerts   (notices print below)\n  \
                 table           clawwatch status --url http://{a}\n\
                 Every state shows within a minute. Ctrl-C stops.\n",
                sim.addr,
                dir.join("logs").display()
            );
            // One write, and a closed stdout is no reason to stop serving.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(banner.as_bytes()).and_then(|_| out.flush());
            drop(out);
            wait(running).await;
            sim.cancel.cancel();
            let _ = std::fs::remove_dir_all(&dir);
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate {
            listen,
            log_dir,
            scenario,
            token,
            speed,
            repeat,
            fleet_size,
            tick_ms,
            startup_delay,
            telegram_mode,
            log_max_bytes,
        } => {
            let sim = clawwatch::simulate::start(
                listen,
                clawwatch::simulate::Options {
                    scenario: scenario.clone(),
                    token,
                    log_dir,
                    speed,
                    repeat,
                    fleet_size,
                    tick_ms,
                    startup_delay,
                    telegram_mode,
                    log_max_bytes,
                    clock: clawwatch::clock::Clock::system(),
                },
            )
            .await?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "simulated OpenClaw gateway on ws://{} (scenario {scenario})",
                sim.addr
            )
            .and_then(|_| out.flush());
            drop(out);
            clawwatch::app::shutdown_signal().await;
            sim.cancel.cancel();
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { url, json } => {
            let base = url.trim_end_matches('/');
            let mut req = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?
                .get(format!("{base}/health/detail"));
            if let Ok(t) = std::env::var("CLAWWATCH_SERVER_TOKEN") {
                req = req.bearer_auth(t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| e.without_url())
                .with_context(|| {
                    format!("cannot reach clawwatch at {base}; is `clawwatch run` running there?")
                })?;
            let code = resp.status();
            let doc: serde_json::Value = resp.json().await.with_context(|| {
                format!("{base}/health/detail answered HTTP {code} without JSON")
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!(
                    "{}",
                    clawwatch::status::render(&doc, clawwatch::clock::Clock::system().now())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Silence { url, command } => silence(&url, command).await,
        Command::Logs {
            command:
                LogsCommand::Scan {
                    config,
                    json,
                    files,
                },
        } => {
            let cfg = match &config {
                Some(p) => config::load(p)?,
                None => config::Config::default(),
            };
            let rules = clawwatch::logs::rules::RuleSet::new(&cfg.rules)?;
            let known = |c: &str| clawwatch::logs::parse::KNOWN_CHANNELS.contains(&c);
            let mut scanner = clawwatch::logs::scan::Scanner::new(rules, Box::new(known));
            let mut counters = clawwatch::logs::scan::Counters::default();
            let started = std::time::Instant::now();
            for f in &files {
                scanner
                    .file(f, &mut counters)
                    .with_context(|| format!("reading {}", f.display()))?;
            }
            let secs = started.elapsed().as_secs_f64();
            if json {
                println!("{}", scanner.report(&counters, files.len(), secs));
            } else {
                print!("{}", scanner.table(&counters));
            }
            let lines = counters.total_lines();
            eprintln!(
                "{lines} lines, {} bytes in {secs:.3} s ({:.0} lines/s)",
                counters.bytes,
                lines as f64 / secs.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::TestAlert {
            config,
            integration,
        } => {
            let Some(path) = config else {
                anyhow::bail!("test-alert needs a config with [[integrations]] (--config FILE or CLAWWATCH_CONFIG)");
            };
            let cfg = config::load(&path)?;
            let sinks = clawwatch::alert::sinks(&cfg).map_err(anyhow::Error::msg)?;
            let chosen: Vec<_> = sinks
                .iter()
                .filter(|(n, _)| integration.as_deref().is_none_or(|w| w == n))
                .collect();
            if chosen.is_empty() {
                anyhow::bail!(
                    "no integration {}",
                    integration
                        .as_deref()
                        .map(|i| format!("named {i:?}"))
                        .unwrap_or_else(|| "configured".into())
                );
            }
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()?;
            let now = clawwatch::clock::Clock::system().now();
            let mut failed = 0;
            for (name, sink) in chosen {
                let n = clawwatch::alert::outbox::Notification {
                    id: format!("test-{}", now as u64),
                    integration: name.clone(),
                    status: "firing".into(),
                    route: "test-alert".into(),
                    group: String::new(),
                    alerts: vec![clawwatch::alert::outbox::Item {
                        alert: "ClawwatchTestAlert".into(),
                        status: "firing".into(),
                        severity: "warning".into(),
                        channel: None,
                        account: None,
                        integration: Some(name.clone()),
                        summary: "clawwatch test notification".into(),
                        description: format!("Sent by `clawwatch test-alert` to integration {name:?}: if you read this, alerts reach you."),
                        fix: "Nothing: this is a test.".into(),
                        runbook: "docs/runbooks.md".into(),
                        active_since: now,
                    }],
                    created: now,
                    attempts: 0,
                    next_at: now,
                    failing_since: None,
                    fallback: Vec::new(),
                };
                match sink.send(&client, &n, now).await {
                    Ok(()) => println!("{name}: ok"),
                    Err(e) => {
                        println!("{name}: failed: {e}");
                        failed += 1;
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::CheckConfig { file } => {
            let cfg = match config::load(&file) {
                Ok(c) => c,
                Err(e) => {
                    println!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let problems = config::validate(&cfg, false);
            for p in &problems {
                println!("{p}");
            }
            if problems.iter().any(|p| p.severity == Severity::Error) {
                return Ok(ExitCode::FAILURE);
            }
            println!("ok: {} is valid", file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn wait(running: clawwatch::app::Running) {
    clawwatch::app::shutdown_signal().await;
    tracing::info!("Shutting down.");
    running.cancel.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), running.done).await;
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("clawwatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `clawwatch silence add|list|expire` against a running sidecar.
async fn silence(url: &str, command: clawwatch::cli::SilenceCommand) -> anyhow::Result<ExitCode> {
    use clawwatch::cli::SilenceCommand;
    let base = url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    let auth = |r: reqwest::RequestBuilder| match std::env::var("CLAWWATCH_SERVER_TOKEN") {
        Ok(t) => r.bearer_auth(t),
        Err(_) => r,
    };
    let req = match &command {
        SilenceCommand::Add {
            matchers,
            duration,
            start,
            comment,
            author,
        } => auth(client.post(format!("{base}/api/v1/silences"))).json(&serde_json::json!({
            "matchers": matchers, "duration": duration, "startsAt": start,
            "comment": comment, "createdBy": author,
        })),
        SilenceCommand::List { .. } => auth(client.get(format!("{base}/api/v1/silences"))),
        SilenceCommand::Expire { id } => {
            auth(client.delete(format!("{base}/api/v1/silences/{id}")))
        }
    };
    let resp = req
        .send()
        .await
        .map_err(|e| e.without_url())
        .with_context(|| {
            format!("cannot reach clawwatch at {base}; is `clawwatch run` running there?")
        })?;
    let code = resp.status();
    let doc: serde_json::Value = resp
        .json()
        .await
        .with_context(|| format!("{base} answered HTTP {code} without JSON"))?;
    if !code.is_success() {
        anyhow::bail!(
            "{}",
            doc["error"].as_str().unwrap_or(&format!("HTTP {code}"))
        );
    }
    match command {
        SilenceCommand::Add { .. } => println!("{}", doc["silenceID"].as_str().unwrap_or("")),
        SilenceCommand::Expire { id } => println!("expired {id}"),
        SilenceCommand::List { json: true } => println!("{}", serde_json::to_string_pretty(&doc)?),
        SilenceCommand::List { json: false } => {
            println!(
                "{:<34} {:<8} {:<24} {:<24} {:<30} COMMENT",
                "ID", "STATUS", "STARTS", "ENDS", "MATCHERS"
            );
            for s in doc.as_array().into_iter().flatten() {
                let m: Vec<String> = serde_json::from_value::<
                    Vec<clawwatch::alert::silence::Matcher>,
                >(s["matchers"].clone())
                .unwrap_or_default()
                .iter()
                .map(|m| format!("{}{}{}", m.name, m.op(), m.value))
                .collect();
                let t = |k: &str| {
                    s[k].as_str()
                        .unwrap_or("")
                        .chars()
                        .take(19)
                        .collect::<String>()
                };
                println!(
                    "{:<34} {:<8} {:<24} {:<24} {:<30} {}",
                    s["id"].as_str().unwrap_or(""),
                    s["status"].as_str().unwrap_or(""),
                    t("startsAt"),
                    t("endsAt"),
                    m.join(","),
                    s["comment"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
