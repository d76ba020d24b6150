//! Command line: the commands of SPEC.md.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Prometheus exporter and alerting sidecar for the OpenClaw gateway.
#[derive(Debug, Parser)]
#[command(name = "clawwatch", version, about, propagate_version = true)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sidecar: watch the gateway, serve /metrics and /health/detail.
    /// SIGHUP or `POST /-/reload` re-reads the config (a bad one keeps the
    /// old; docs/configuration.md says which keys apply how).
    Run {
        /// Config file (TOML). Without one, defaults and environment apply.
        #[arg(long, short, env = "CLAWWATCH_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address; overrides server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The exporter toolkit's web config (TLS, basic auth, headers);
        /// overrides server.web_config_file.
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config_file: Option<PathBuf>,
    },
    /// Start the built-in simulated gateway and a sidecar watching it.
    Demo {
        /// Where the sidecar listens (the simulator takes a free port).
        #[arg(long, default_value = "127.0.0.1:28789")]
        listen: SocketAddr,
        /// Scenario to loop.
        #[arg(long, default_value = "cycle")]
        scenario: String,
        /// Time compression of the scenario.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// Run the simulated gateway alone (WebSocket RPC, HTTP and JSON logs).
    Simulate(SimulateArgs),
    /// Show every channel's state at a glance, from a running sidecar.
    Status {
        /// Sidecar URL.
        #[arg(long, default_value = "http://127.0.0.1:28789", env = "CLAWWATCH_URL")]
        url: String,
        /// Print the /health/detail JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// How to reach a secured sidecar.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Transitions and disconnects from a running sidecar's history, and
    /// the disconnects counted per channel and reason.
    History {
        /// Sidecar URL.
        #[arg(long, default_value = "http://127.0.0.1:28789", env = "CLAWWATCH_URL")]
        url: String,
        /// Only this channel.
        #[arg(long)]
        channel: Option<String>,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// From this far back (`24h`, `7d`) or this RFC 3339 time.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Print the events and counts as JSON.
        #[arg(long)]
        json: bool,
        /// Events asked for per request.
        #[arg(long, default_value_t = 1000, hide = true)]
        page_size: usize,
        /// How to reach a secured sidecar.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Send a test notification through each configured integration and
    /// report each result (exit 1 if any failed).
    TestAlert {
        /// Config file with [[integrations]].
        #[arg(long, short, env = "CLAWWATCH_CONFIG")]
        config: Option<PathBuf>,
        /// Only this integration.
        #[arg(long)]
        integration: Option<String>,
    },
    /// Manage silences and maintenance windows on a running sidecar.
    Silence {
        /// Where the sidecar is, and how to reach it.
        #[command(flatten)]
        remote: Remote,
        /// What to do.
        #[command(subcommand)]
        command: SilenceCommand,
    },
    /// Recovery on a running sidecar: what it does per account, and
    /// clearing a spent budget.
    Recovery {
        /// Where the sidecar is, and how to reach it.
        #[command(flatten)]
        remote: Remote,
        /// What to do.
        #[command(subcommand)]
        command: RecoveryCommand,
    },
    /// Work with the gateway's log files.
    Logs {
        /// What to do.
        #[command(subcommand)]
        command: LogsCommand,
    },
    /// Check the host before anything breaks: session directory, keepalive
    /// sysctls, the gateway and its token, logs, upstream reachability, the
    /// config; each `ok`, `warn` or `fail` with the fix (exit 1 on a fail).
    Doctor {
        /// Config file.
        #[arg(long, short, env = "CLAWWATCH_CONFIG")]
        config: Option<PathBuf>,
        /// Print `{"checks": [{"check", "status", "why", "fix"}], "ok", "warn", "fail"}`.
        #[arg(long)]
        json: bool,
    },
    /// Session backups of the WhatsApp auth directories, on the host that
    /// holds them (the sidecar takes them on schedule with [backup] enabled).
    Backup {
        /// Config file.
        #[arg(long, short, global = true, env = "CLAWWATCH_CONFIG")]
        config: Option<PathBuf>,
        /// What to do.
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Validate a config file; print every problem with its key path.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
}

/// A running sidecar: its URL and how to reach it (`silence`, `recovery`).
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// Sidecar URL.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:28789",
        env = "CLAWWATCH_URL"
    )]
    pub url: String,
    /// How to reach a secured sidecar.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Credentials and TLS for the commands that call a running sidecar
/// (`status`, `silence`). Secrets come from files, never from the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientArgs {
    /// Basic auth user (the web config's basic_auth_users).
    #[arg(
        long,
        global = true,
        env = "CLAWWATCH_USERNAME",
        requires = "password_file"
    )]
    pub username: Option<String>,
    /// File holding the basic auth password.
    #[arg(
        long,
        global = true,
        env = "CLAWWATCH_PASSWORD_FILE",
        requires = "username"
    )]
    pub password_file: Option<PathBuf>,
    /// File holding the bearer token (`[server] bearer_token_file`); also
    /// CLAWWATCH_SERVER_TOKEN.
    #[arg(long, global = true, env = "CLAWWATCH_BEARER_TOKEN_FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// CA certificate(s), PEM, that signed the sidecar's certificate
    /// (instead of the built-in roots).
    #[arg(long, global = true, env = "CLAWWATCH_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate, PEM, when the sidecar requires one.
    #[arg(long, global = true, requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Key of --cert-file, PEM.
    #[arg(long, global = true, requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Accept any certificate (tests only: anyone in between can read and
    /// change what is sent).
    #[arg(long, global = true)]
    pub insecure_skip_verify: bool,
}

/// `clawwatch silence ...`
#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Mute the alerts the matchers select, e.g.
    /// `clawwatch silence add channel=whatsapp --duration 2h --comment relinking`.
    Add {
        /// `label=value`, `label!=value`, `label=~regex` or `label!~regex`;
        /// labels: alertname, severity, channel, account, integration.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, from the start.
        #[arg(long, short, default_value = "1h")]
        duration: String,
        /// Start later (RFC 3339), for a maintenance window.
        #[arg(long)]
        start: Option<String>,
        /// Why (shown in the list).
        #[arg(long, short, default_value = "")]
        comment: String,
        /// Who (default: $USER).
        #[arg(long, env = "USER", default_value = "")]
        author: String,
    },
    /// List silences and maintenance windows.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Expire {
        /// Silence id (from `list`).
        id: String,
    },
}

/// `clawwatch recovery ...`
#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Per account: status, attempts this hour, next attempt, last action.
    Status {
        /// Print the /api/v1/recovery JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clear budget, backoff and exhaustion: all accounts, one channel
    /// (`telegram`) or one account (`telegram:default`); `gateway` for the
    /// gateway's own restart command.
    Reset {
        /// `CHANNEL` or `CHANNEL:ACCOUNT`.
        target: Option<String>,
    },
}

/// `clawwatch backup ...`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a verified snapshot of every session now; prints each id.
    Now,
    /// The backups kept, newest first per account.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup back in place. Refuses while the gateway runs, or when
    /// the session there is newer than the backup, unless --force; the
    /// session replaced is kept beside it.
    Restore {
        /// `ACCOUNT/ID` from `list`.
        id: String,
        /// Restore even so.
        #[arg(long)]
        force: bool,
    },
}

/// `clawwatch logs ...`
#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// One pass over log files with the same rules as `run`: matches per
    /// rule and channel; lines read and lines/s on stderr.
    Scan {
        /// Config file whose [[rules]] apply (built-in rules always do).
        #[arg(long, short, env = "CLAWWATCH_CONFIG")]
        config: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// `clawwatch simulate` options.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address for the WebSocket RPC and HTTP endpoints.
    #[arg(long, default_value = "127.0.0.1:18789")]
    pub listen: SocketAddr,
    /// Write OpenClaw-style JSON logs here.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// steady, whatsapp-logged-out, discord-disallowed-intents,
    /// telegram-reconnect-storm, flapping, fleet, cycle.
    #[arg(long, default_value = "cycle")]
    pub scenario: String,
    /// Gateway token clients must present (any token when unset).
    #[arg(long, env = "OPENCLAW_GATEWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Time compression: 10 runs the scenario ten times faster.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Repeat the scenario timeline forever.
    #[arg(long)]
    pub repeat: bool,
    /// Accounts in the fleet scenario.
    #[arg(long, default_value_t = 1000)]
    pub fleet_size: usize,
    /// tickIntervalMs announced to clients.
    #[arg(long, default_value_t = 30_000)]
    pub tick_ms: u64,
    /// Answer UNAVAILABLE this long after start, like a starting gateway.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub startup_delay: std::time::Duration,
    /// Rotate the log at this size, keeping 5 archives (as the gateway does).
    #[arg(long, default_value_t = 100 << 20)]
    pub log_max_bytes: u64,
    /// Telegram accounts' mode.
    #[arg(long, default_value = "polling", value_parser = ["polling", "webhook"])]
    pub telegram_mode: String,
}
