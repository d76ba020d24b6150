//! The `clawwatch` binary: parses the command line, sets up logging and
//! hands each command to its module under `clawwatch::cmd`.

use clap::Parser as _;
use clawwatch::cli::{Cli, Command, LogFormat, LogsCommand};
use clawwatch::cmd;
use std::process::ExitCode;

// glibc keeps what the blocking threads free in per-thread arenas: a
// 10,000-account exposition (30 MB, re-made on each change) then holds
// its peak for good. jemalloc's background thread returns freed pages.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("clawwatch=info"));
    // Colour only for a person at a terminal, not in journald or files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || clawwatch::logline::Escaping::new(std::io::stderr(), ansi))
        .with_ansi(ansi);
    match format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let res = match cli.command {
        Command::Run {
            config,
            listen,
            web_config_file,
        } => cmd::run::run(config, listen, web_config_file).await,
        Command::Demo {
            listen,
            scenario,
            speed,
        } => cmd::demo::run(listen, scenario, speed).await,
        Command::Simulate(args) => cmd::simulate::run(args).await,
        Command::Status { url, json, client } => cmd::client::status(&url, &client, json).await,
        Command::History {
            url,
            channel,
            account,
            since,
            json,
            page_size,
            client,
        } => {
            let q = cmd::client::HistoryArgs {
                channel,
                account,
                since,
                json,
                page_size: page_size.clamp(1, 10_000),
            };
            cmd::client::history(&url, &client, &q).await
        }
        Command::Silence { remote, command } => {
            cmd::client::silence(&remote.url, &remote.client, command).await
        }
        Command::Recovery { remote, command } => {
            cmd::client::recovery(&remote.url, &remote.client, command).await
        }
        Command::Logs {
            command:
                LogsCommand::Scan {
                    config,
                    json,
                    files,
                },
        } => cmd::logs_scan::run(config, json, &files),
        Command::TestAlert {
            config,
            integration,
        } => cmd::test_alert::run(config, integration).await,
        Command::Backup { config, command } => cmd::backup::run(config, command).await,
        Command::Doctor { config, json } => cmd::doctor::main(config, json).await,
        Command::CheckConfig { file } => Ok(cmd::check_config::run(&file)),
    };
    res.unwrap_or_else(|e| {
        eprintln!("clawwatch: {e:#}");
        ExitCode::FAILURE
    })
}
