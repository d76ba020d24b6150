//! The pure step: unit tests (no runtime, no clock) and property tests of
//! its invariants over random observation sequences.

use super::*;
use crate::model::{ChannelsStatus, GatewayErrorKind, Reason, State};
use crate::observation::{LogEffect, LogHit};
use proptest::prelude::*;
use serde_json::{json, Value};

fn model() -> Model {
    Model::new(
        Tracker::new(derive::Tuning::default(), StatesFile::None),
        false,
        0.0,
    )
}

fn status(rows: Value, ts: i64) -> Observation {
    Observation::Status {
        status: ChannelsStatus::from_value(&json!({
            "ts": ts, "channelOrder": ["whatsapp", "telegram"],
            "channelAccounts": {"whatsapp": rows, "telegram": []},
        }))
        .unwrap(),
        probed: false,
    }
}

fn key() -> Key {
    ("whatsapp".into(), "default".into())
}

#[test]
fn a_logout_line_then_the_poll() {
    let mut m = model();
    let ready = json!([{"accountId": "default", "linked": true, "running": true, "connected": true, "lastStartAt": 10}]);
    let first = step(&mut m, status(ready.clone(), 1000), 1.0);
    assert_eq!(
        first,
        vec![
            Change::Gateway,
            Change::ChannelOrder(vec!["whatsapp".into(), "telegram".into()]),
            Change::Accounts,
            Change::Kept,
        ]
    );
    assert_eq!(m.gateway.checked_at, Some(1.0));
    let hit = LogHit {
        rule: "logged_out".into(),
        channel: "whatsapp".into(),
        account: None,
        effect: LogEffect::State(State::AuthRequired, Reason::LoggedOut),
    };
    let got = step(
        &mut m,
        Observation::Logs {
            hits: vec![hit],
            disconnects: [("whatsapp".to_string(), 1)].into(),
        },
        2.0,
    );
    assert_eq!(
        got,
        vec![
            Change::LogCounts,
            Change::LogRule {
                key: ("whatsapp".into(), "default".into()),
                rule: "logged_out".into(),
                state: State::AuthRequired,
                reason: Reason::LoggedOut,
            },
            Change::Event(Event::Transition {
                at: 2.0,
                channel: "whatsapp".into(),
                account: "default".into(),
                from: State::Connected,
                to: State::AuthRequired,
                reason: Some(Reason::LoggedOut),
            }),
            Change::Event(Event::Disconnect {
                at: 2.0,
                channel: "whatsapp".into(),
                account: "default".into(),
                reason: Reason::LoggedOut,
            }),
            Change::Accounts,
            Change::Kept,
        ]
    );
    assert_eq!(m.last_log_line, Some(2.0));
    // The next poll still says connected: the log line holds for a minute.
    let same = step(&mut m, status(ready, 3000), 3.0);
    assert_eq!(same, vec![Change::Gateway, Change::Accounts]);
    assert_eq!(m.tracker.get(&key()).unwrap().state, State::AuthRequired);
    assert_eq!(m.tracker.get(&key()).unwrap().since, 2.0);
}

#[test]
fn gateway_phases_and_scrubbed_errors() {
    let mut m = model();
    let got = step(
        &mut m,
        Observation::Down {
            kind: GatewayErrorKind::Auth,
            message: "refused token 123456789:AAFakeTelegramTokenForTesting_0000000".into(),
        },
        5.0,
    );
    assert_eq!(got, vec![Change::Gateway]);
    assert_eq!(m.gateway.phase, Phase::Down);
    assert_eq!(
        m.gateway.error.as_deref(),
        Some("refused token <redacted-token>")
    );
    step(
        &mut m,
        Observation::Starting {
            message: "starting".into(),
        },
        6.0,
    );
    assert_eq!(m.gateway.phase, Phase::Starting);
    step(
        &mut m,
        Observation::Ready {
            ready: Some(true),
            uptime_ms: Some(1500),
        },
        7.0,
    );
    assert_eq!(
        (m.gateway.ready, m.gateway.uptime),
        (Some(true), Some((1.5, 7.0)))
    );
}

#[test]
fn restarts_removals_and_webhook_accounts() {
    let mut m = model();
    let tg = |start: i64, mode: &str| {
        Observation::Status {
            status: ChannelsStatus::from_value(&json!({
                "ts": 1000, "channelOrder": ["telegram"],
                "channelAccounts": {"telegram": [{"accountId": "ops", "running": true, "connected": true, "mode": mode, "lastStartAt": start}]},
            }))
            .unwrap(),
            probed: false,
        }
    };
    let first = step(&mut m, tg(10, "webhook"), 1.0);
    assert!(first.contains(&Change::WebhookAccounts {
        now: vec!["ops".into()],
        gone: vec![]
    }));
    let again = step(&mut m, tg(20, "polling"), 2.0);
    let ops: Key = ("telegram".into(), "ops".into());
    assert!(again.contains(&Change::Restart(ops.clone(), false)));
    assert!(again.contains(&Change::WebhookAccounts {
        now: vec![],
        gone: vec!["ops".into()]
    }));
    assert_eq!(m.tracker.get(&ops).unwrap().counts.restarts, 1);
    let pending = step(
        &mut m,
        Observation::WebhookPending {
            account: "ops".into(),
            pending: Some(3),
        },
        3.0,
    );
    // No longer in webhook mode: the count is not shown.
    assert_eq!(pending, vec![Change::WebhookPending("ops".into(), None)]);
    let gone = step(&mut m, status(json!([]), 1000), 4.0);
    assert!(gone.contains(&Change::Removed(ops.clone())));
    assert!(m.tracker.get(&ops).is_none());
}

// Random observation sequences.

const CHANNELS: [&str; 3] = ["whatsapp", "telegram", "discord"];
const ACCOUNTS: [&str; 2] = ["default", "ops"];
const ERRORS: [Option<&str>; 5] = [
    None,
    Some("fetch failed"),
    Some("Unauthorized"),
    Some("Gateway websocket closed: 4014"),
    Some("Polling stall detected"),
];
const LIFECYCLES: [Option<&str>; 5] = [
    None,
    Some("starting"),
    Some("ready"),
    Some("recovering"),
    Some("blocked"),
];

fn row() -> impl Strategy<Value = Option<Value>> {
    (
        any::<bool>(),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        0usize..LIFECYCLES.len(),
        0u64..14,
        0usize..ERRORS.len(),
        proptest::option::of(0i64..100_000),
        proptest::option::of(0i64..100_000),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
    )
        .prop_map(
            |(present, running, connected, lc, attempts, err, start, act, pending, linked)| {
                present.then(|| {
                    json!({
                        "running": running, "connected": connected,
                        "lifecycle": LIFECYCLES[lc], "reconnectAttempts": attempts,
                        "lastError": ERRORS[err], "lastStartAt": start,
                        "lastTransportActivityAt": act, "restartPending": pending,
                        "linked": linked,
                        "lastDisconnect": ERRORS[err].map(|_| json!({"at": start.unwrap_or(0)})),
                    })
                })
            },
        )
}

fn observation() -> impl Strategy<Value = Observation> {
    prop_oneof![
        4 => (proptest::collection::vec(row(), 6), 0i64..200_000).prop_map(|(rows, ts)| {
            let mut ca = serde_json::Map::new();
            for (i, r) in rows.into_iter().enumerate() {
                let (ch, acct) = (CHANNELS[i / 2], ACCOUNTS[i % 2]);
                let list = ca.entry(ch).or_insert_with(|| json!([]));
                if let Some(mut r) = r {
                    r["accountId"] = json!(acct);
                    list.as_array_mut().unwrap().push(r);
                }
            }
            Observation::Status {
                status: ChannelsStatus::from_value(
                    &json!({"ts": ts, "channelOrder": CHANNELS, "channelAccounts": ca}),
                )
                .unwrap(),
                probed: false,
            }
        }),
        2 => (0usize..3, proptest::option::of(0usize..2), 0usize..State::ALL.len(), any::<bool>())
            .prop_map(|(c, a, s, reconnect)| Observation::Logs {
                hits: vec![LogHit {
                    rule: "r".into(),
                    channel: CHANNELS[c].into(),
                    account: a.map(|a| ACCOUNTS[a].to_string()),
                    effect: if reconnect {
                        LogEffect::Reconnect
                    } else {
                        LogEffect::State(State::ALL[s], Reason::Unknown)
                    },
                }],
                disconnects: Default::default(),
            }),
        1 => Just(Observation::Down { kind: GatewayErrorKind::Closed, message: "closed".into() }),
        1 => Just(Observation::Starting { message: "starting".into() }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One state per account, `since` never moves backwards, counters never
    /// decrease, and every transition starts from the state before it.
    #[test]
    fn invariants_hold_over_random_sequences(
        ops in proptest::collection::vec((observation(), 0.0f64..120.0), 1..40)
    ) {
        let mut m = model();
        let mut now = 1000.0;
        let mut before: std::collections::BTreeMap<Key, AccountView> = Default::default();
        for (obs, dt) in ops {
            now += dt;
            let changes = step(&mut m, obs, now);
            let views = m.tracker.views();
            let keys: std::collections::BTreeSet<Key> =
                views.iter().map(|v| (v.channel.clone(), v.account.clone())).collect();
            prop_assert_eq!(keys.len(), views.len(), "one view per account");
            // Transitions chain from the previous state of their account.
            let mut cur: std::collections::BTreeMap<Key, State> =
                before.iter().map(|(k, v)| (k.clone(), v.state)).collect();
            for c in &changes {
                if let Change::Event(Event::Transition { channel, account, from, to, at, .. }) = c {
                    let k = (channel.clone(), account.clone());
                    if let Some(prev) = cur.get(&k) {
                        prop_assert_eq!(prev, from);
                    }
                    prop_assert_ne!(from, to);
                    prop_assert_eq!(*at, now);
                    cur.insert(k, *to);
                }
            }
            for v in &views {
                let k = (v.channel.clone(), v.account.clone());
                prop_assert!(v.since <= now, "since in the future");
                if let Some(b) = before.get(&k) {
                    prop_assert!(v.since >= b.since, "since moved back: {} -> {}", b.since, v.since);
                    prop_assert!(v.counts.transitions >= b.counts.transitions);
                    prop_assert!(v.counts.disconnects >= b.counts.disconnects);
                    prop_assert!(v.counts.reconnect_attempts >= b.counts.reconnect_attempts);
                    prop_assert!(v.counts.restarts >= b.counts.restarts);
                    let moved = changes.iter().any(|c| matches!(c,
                        Change::Event(Event::Transition { channel, account, .. })
                            if *channel == v.channel && *account == v.account));
                    if b.state != v.state {
                        prop_assert!(moved, "state changed without a transition");
                    }
                }
            }
            before = views.into_iter().map(|v| ((v.channel.clone(), v.account.clone()), v)).collect();
        }
    }
}
