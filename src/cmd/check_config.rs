//! `clawwatch check-config FILE`: every problem with its key path.

use crate::config::{self, Severity};
use std::path::Path;
use std::process::ExitCode;

/// Prints the problems of `file`; exit 1 when any is an error.
pub fn run(file: &Path) -> ExitCode {
    let cfg = match config::load(file) {
        Ok(c) => c,
        Err(e) => {
            println!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let problems = crate::app::validate(&cfg, false);
    for p in &problems {
        println!("{p}");
    }
    if problems.iter().any(|p| p.severity == Severity::Error) {
        return ExitCode::FAILURE;
    }
    println!("ok: {} is valid", file.display());
    ExitCode::SUCCESS
}
