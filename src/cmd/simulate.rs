//! `clawwatch simulate`: the simulated gateway alone.

use crate::cli::SimulateArgs;
use std::io::Write as _;
use std::process::ExitCode;

/// Serves the simulator on `--listen` until SIGINT or SIGTERM.
pub async fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let opts = crate::simulate::Options {
        scenario: args.scenario,
        token: args.token,
        log_dir: args.log_dir,
        speed: args.speed,
        repeat: args.repeat,
        fleet_size: args.fleet_size,
        tick_ms: args.tick_ms,
        startup_delay: args.startup_delay,
        telegram_mode: args.telegram_mode,
        log_max_bytes: args.log_max_bytes,
        clock: crate::clock::Clock::system(),
    };
    let scenario = opts.scenario.clone();
    let sim = crate::simulate::start(args.listen, opts).await?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "simulated OpenClaw gateway on ws://{} (scenario {scenario})",
        sim.addr
    )
    .and_then(|_| out.flush());
    drop(out);
    crate::app::shutdown_signal().await;
    sim.cancel.cancel();
    Ok(ExitCode::SUCCESS)
}
