//! The shape of the house, checked on the source text: what the layer tool
//! (`.ci/layers.toml`) cannot see because it reads only `crate::` paths.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The text without comments (a `//` line and the rest of a line after `//`).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split_once("//").map_or(l, |(c, _)| c))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_state_modules_do_no_io_and_read_no_clock() {
    let banned = [
        "std::fs",
        "tokio",
        "SystemTime",
        "Instant",
        "reqwest",
        "hyper",
        "axum",
        "std::net",
        "std::thread",
        "std::env",
        "tracing",
    ];
    let files = rust_files(&src().join("state"));
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        let text = code(&f);
        for b in banned {
            assert!(!text.contains(b), "{} names {b}", f.display());
        }
    }
}

#[test]
fn only_the_clock_reads_the_time() {
    for f in rust_files(&src()) {
        if f.ends_with("clock.rs") {
            continue;
        }
        let text = code(&f);
        for b in ["SystemTime::now", "Instant::now", ".elapsed()"] {
            assert!(
                !text.contains(b),
                "{} reads the time with {b}; use the injected clock",
                f.display()
            );
        }
    }
}

#[test]
fn every_module_says_what_it_owns() {
    for f in rust_files(&src()) {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not open with a //! line",
            f.display()
        );
    }
}

#[test]
fn main_only_parses_and_dispatches() {
    let main = code(&src().join("main.rs"));
    assert!(main.lines().count() < 110, "main.rs grew");
    for b in ["reqwest", "std::fs", "Notification", "axum"] {
        assert!(!main.contains(b), "main.rs names {b}");
    }
}

/// The unit's descriptor limit leaves room over the log-file cap.
#[test]
fn systemd_limit_nofile_covers_the_log_file_cap() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/systemd/clawwatch.service"
    ))
    .unwrap();
    let limit: usize = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE in the unit")
        .parse()
        .unwrap();
    let cap = clawwatch::config::Config::default().logs.max_open_files;
    assert_eq!((cap, limit), (256, 1024));
}
