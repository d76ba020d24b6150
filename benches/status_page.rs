//! The status page for 50 accounts with 7 days of history at the
//! `flapping` scenario's rate (per account, each minute: five drops to
//! `reconnecting` and back, each with its disconnect), in a store with the
//! default `[history]` cap. Prints the page's bytes, the
//! render time (median and p99 of `/`'s work: timelines, uptime, template)
//! against the budget of 5 ms and 100 KB, and, as a peer in the same run,
//! serialising the same accounts as `/health/detail`-like JSON.
//! `cargo bench --bench status_page`.

use clawwatch::alert::{silence::Silences, Published};
use clawwatch::config::HistoryConfig;
use clawwatch::history::store::{Limits, Store};
use clawwatch::model::{Reason, State};
use clawwatch::snapshot::Snapshot;
use clawwatch::state::{AccountView, Event};
use prometheus_client::metrics::counter::Counter;
use std::sync::Arc;
use std::time::Instant;

const ACCOUNTS: usize = 50;
const DAYS: f64 = 7.0;

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

fn main() {
    let now = 1_796_083_200.0 + DAYS * 86400.0;
    let t0 = now - DAYS * 86400.0;
    let (mut store, _) = Store::open(
        None,
        Limits::of(&HistoryConfig::default()),
        t0,
        Counter::default(),
        None,
    );
    let keys: Vec<(String, String)> = (0..ACCOUNTS)
        .map(|i| {
            (
                ["discord", "telegram", "whatsapp"][i % 3].to_string(),
                format!("acct-{i:02}"),
            )
        })
        .collect();
    let fill = Instant::now();
    let mut n = 0u64;
    let mut minute = t0;
    while minute < now {
        for (i, (ch, acct)) in keys.iter().enumerate() {
            let mut evs = Vec::with_capacity(15);
            for k in 0..5 {
                let at = minute + i as f64 * 0.01 + 10.0 + 3.0 * k as f64;
                evs.push(Event::Transition {
                    at,
                    channel: ch.clone(),
                    account: acct.clone(),
                    from: State::Connected,
                    to: State::Reconnecting,
                    reason: Some(Reason::ServerClosed),
                });
                evs.push(Event::Disconnect {
                    at,
                    channel: ch.clone(),
                    account: acct.clone(),
                    reason: Reason::ServerClosed,
                });
                evs.push(Event::Transition {
                    at: at + 1.5,
                    channel: ch.clone(),
                    account: acct.clone(),
                    from: State::Reconnecting,
                    to: State::Connected,
                    reason: None,
                });
            }
            let refs: Vec<&Event> = evs.iter().collect();
            store.record(&refs, minute + 30.0);
            n += evs.len() as u64;
        }
        minute += 60.0;
    }
    let fill = fill.elapsed().as_secs_f64();
    let mut snap = Snapshot::new("ws://127.0.0.1:18789".into(), t0);
    snap.polled = true;
    snap.version = Some("2026.9.6".into());
    snap.phase = clawwatch::state::Phase::Up;
    snap.accounts = Arc::new(
        keys.iter()
            .enumerate()
            .map(|(i, (ch, acct))| {
                let mut a = AccountView::new(ch, acct, State::Connected, now - 20.0);
                if i % 10 == 3 {
                    a.state = State::AuthRequired;
                    a.reason = Some(Reason::LoggedOut);
                }
                a.last_inbound_at = Some(now - 5.0);
                a
            })
            .collect(),
    );
    let alerts = Published {
        firing: Arc::new(Vec::new()),
        silences: Arc::new(Silences::default()),
    };
    let page = clawwatch::web::index(&snap, &alerts, &store, now).unwrap();

    let runs = 200;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let p = clawwatch::web::index(&snap, &alerts, &store, now).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(p);
    }
    let mut peer = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let j = serde_json::to_string(&*snap.accounts).unwrap();
        peer.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(j);
    }
    let (med, p99) = (pct(&mut times, 0.5), pct(&mut times, 0.99));
    let peer_med = pct(&mut peer, 0.5);
    println!("status page, {ACCOUNTS} accounts, {DAYS} days at the flapping rate: {n} events generated in {fill:.1} s");
    println!(
        "  store keeps {} records, {:.1} MiB (cap {} MiB), oldest {:.1} h back",
        store.len(),
        store.bytes() as f64 / 1048576.0,
        HistoryConfig::default().max_bytes.as_u64() >> 20,
        (now - store.oldest().unwrap()) / 3600.0
    );
    println!(
        "  page weight: {:.1} KB (HTML; the CSS, {:.1} KB, and JS, {:.1} KB, are cached assets); budget 100 KB: {}",
        page.len() as f64 / 1000.0,
        clawwatch::web::CSS.len() as f64 / 1000.0,
        clawwatch::web::JS.len() as f64 / 1000.0,
        if page.len() < 100_000 { "ok" } else { "OVER" }
    );
    println!(
        "  render /: median {med:.2} ms, p99 {p99:.2} ms; budget 5 ms: {}",
        if p99 < 5.0 { "ok" } else { "OVER" }
    );
    println!(
        "  peer (the accounts as JSON): median {peer_med:.3} ms; ratio page/peer {:.1}x",
        med / peer_med
    );
}
