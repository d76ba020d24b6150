//! `clawwatch simulate`: the simulated gateway alone.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Serves the simulator on `listen` until SIGINT or SIGTERM.
pub async fn run(listen: SocketAddr, opts: crate::simulate::Options) -> anyhow::Result<ExitCode> {
    let scenario = opts.scenario.clone();
    let sim = crate::simulate::start(listen, opts).await?;
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
