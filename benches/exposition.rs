//! Encoding 1,000 accounts' metrics on every scrape versus serving the bytes
//! cached after the last update. Prints both and the ratio (same run, same
//! machine). `cargo bench --bench exposition`.

use clawwatch::metrics::{
    AccountLabels, Exposition, Format, Initiator, Metrics, ReasonLabels, RestartLabels, StateLabels,
};
use clawwatch::model::{Reason, State};
use clawwatch::state::derive::Tuning;
use prometheus_client::registry::Registry;
use std::time::Instant;

fn build(accounts: usize) -> Exposition {
    let mut reg = Registry::default();
    let m = Metrics::new(&mut reg);
    // The series the exporter keeps for each account (see export.rs).
    for i in 0..accounts {
        let (channel, account): (std::sync::Arc<str>, std::sync::Arc<str>) = (
            ["discord", "telegram", "whatsapp"][i % 3].into(),
            format!("acct-{i:04}").into(),
        );
        for s in State::ALL {
            m.channel_state
                .get_or_create(&StateLabels {
                    channel: channel.clone(),
                    account: account.clone(),
                    state: s,
                })
                .set(i64::from(s == State::Connected));
        }
        for reason in Reason::ALL {
            let _ = m.disconnects.get_or_create(&ReasonLabels {
                channel: channel.clone(),
                account: account.clone(),
                reason,
            });
        }
        for initiator in [Initiator::Gateway, Initiator::Clawwatch] {
            let _ = m.restarts.get_or_create(&RestartLabels {
                channel: channel.clone(),
                account: account.clone(),
                initiator,
            });
        }
        let l = AccountLabels { channel, account };
        m.channel_up.get_or_create(&l).set(1);
        m.state_since.get_or_create(&l).set(1.795e9);
        m.last_event.get_or_create(&l).set(1.795e9);
        m.recovery_exhausted.get_or_create(&l).set(0);
        m.probe_success.get_or_create(&l).set(1);
        m.reconnect_attempts.get_or_create(&l).inc();
        m.heartbeat_latency.get_or_create(&l).observe(0.05);
    }
    let _ = Tuning::default();
    Exposition::new(reg)
}

/// Resident set size of this process, in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn time<F: FnMut()>(n: usize, mut f: F) -> Vec<f64> {
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// Accounts to build, from the arguments (cargo adds `--bench`): default 1,000.
fn sizes() -> Vec<usize> {
    let v: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    if v.is_empty() {
        vec![1000]
    } else {
        v
    }
}

fn main() {
    for n in sizes() {
        one(n);
    }
}

fn one(accounts: usize) {
    let before = rss_kib();
    let e = build(accounts);
    let registry = rss_kib().saturating_sub(before);
    e.refresh();
    let encoded = rss_kib().saturating_sub(before);
    let runs = (50_000 / accounts).clamp(10, 200);
    let bytes = e.get(Format::OpenMetrics).len();
    let fresh = time(runs, || {
        e.touch();
        e.refresh();
        std::hint::black_box(e.get(Format::OpenMetrics));
    });
    let cached = time(5000, || {
        std::hint::black_box(e.get(Format::OpenMetrics));
    });
    let text = String::from_utf8(e.get(Format::OpenMetrics).to_vec()).expect("utf-8");
    let sort = time(runs, || {
        std::hint::black_box(clawwatch::metrics::sort_samples(&text));
    });
    let gz_bytes = e.get_gzip(Format::OpenMetrics).len();
    let gzip = time(runs, || {
        e.touch();
        e.refresh();
        std::hint::black_box(e.get_gzip(Format::OpenMetrics));
    });
    let p = |v: &[f64], q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    println!("exposition of {accounts} accounts: {bytes} bytes, {gz_bytes} gzipped");
    println!(
        "memory: registry {} B/account, with one encoding {} B/account; wire {} B/account plain, {} gzipped",
        registry * 1024 / accounts as u64,
        encoded * 1024 / accounts as u64,
        bytes / accounts,
        gz_bytes / accounts
    );
    println!(
        "encode on every scrape: p50 {:.3} ms  p99 {:.3} ms",
        p(&fresh, 0.5),
        p(&fresh, 0.99)
    );
    println!(
        "  of which sorting samples: p50 {:.3} ms  p99 {:.3} ms",
        p(&sort, 0.5),
        p(&sort, 0.99)
    );
    println!(
        "encode and gzip:        p50 {:.3} ms  p99 {:.3} ms",
        p(&gzip, 0.5),
        p(&gzip, 0.99)
    );
    println!(
        "cached bytes:           p50 {:.4} ms  p99 {:.4} ms",
        p(&cached, 0.5),
        p(&cached, 0.99)
    );
    println!(
        "ratio (encode / cached, p50): {:.0}x",
        p(&fresh, 0.5) / p(&cached, 0.5)
    );
}
