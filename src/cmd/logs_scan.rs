//! `clawwatch logs scan`: one pass over log files with the rules of `run`.

use crate::config;
use crate::logs::{parse::KNOWN_CHANNELS, rules::RuleSet, scan};
use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Scans `files`; the table (or JSON) on stdout, the rate on stderr.
pub fn run(config: Option<PathBuf>, json: bool, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let cfg = match &config {
        Some(p) => config::load(p)?,
        None => config::Config::default(),
    };
    let rules = RuleSet::new(&cfg.rules)?;
    for (name, why) in rules.slow() {
        eprintln!("warning: slow rule {name:?}: {why}; add keywords or fixed text to the regex");
    }
    let known = |c: &str| KNOWN_CHANNELS.contains(&c);
    let mut scanner = scan::Scanner::new(rules, Box::new(known));
    let mut counters = scan::Counters::default();
    let clock = crate::clock::Clock::system();
    let started = clock.instant();
    for f in files {
        scanner
            .file(f, &mut counters, cfg.logs.max_line_bytes.max(1024))
            .with_context(|| format!("reading {}", f.display()))?;
    }
    let secs = (clock.instant() - started).as_secs_f64();
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
    if counters.long_lines > 0 {
        eprintln!(
            "{} lines longer than logs.max_line_bytes ({}) were matched on their first {} bytes",
            counters.long_lines,
            cfg.logs.max_line_bytes.max(1024),
            cfg.logs.max_line_bytes.max(1024)
        );
    }
    Ok(ExitCode::SUCCESS)
}
