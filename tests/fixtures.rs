//! Every capture of a real gateway under tests/fixtures/openclaw goes
//! through the parser, and the derived states are asserted exactly.

use clawwatch::model::{ChannelsStatus, Reason, State};
use clawwatch::source::gateway::explain_rpc_error;
use clawwatch::state::derive::{derive, Tuning};
use clawwatch::state::{StatesFile, Tracker};
use serde_json::Value;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/{name}", clawwatch::FIXTURES)).unwrap()
}

fn json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn states(st: &ChannelsStatus) -> Vec<(String, String, State, Option<Reason>)> {
    let now = st.ts.unwrap();
    let mut out = Vec::new();
    for ch in &st.channel_order {
        for row in st
            .accounts
            .get(ch)
            .into_iter()
            .flatten()
            .filter(|r| r.is_watched())
        {
            let d = derive(ch, row, now, &Tuning::default());
            out.push((ch.clone(), row.account_id.clone(), d.state, d.reason));
        }
    }
    out
}

fn s(ch: &str, st: State, r: Option<Reason>) -> (String, String, State, Option<Reason>) {
    (ch.into(), "default".into(), st, r)
}

/// Live capture: Discord without network (close 1006, retrying), Telegram
/// token rejected at start (401), WhatsApp never linked.
fn no_network_bad_token_unlinked() -> Vec<(String, String, State, Option<Reason>)> {
    vec![
        s("discord", State::Reconnecting, Some(Reason::Network)),
        s("telegram", State::AuthRequired, Some(Reason::AuthFailed)),
        s("whatsapp", State::AuthRequired, Some(Reason::NotLinked)),
    ]
}

#[test]
fn channels_status_captures() {
    for f in [
        "channels-status.json",
        "channels-status-probe.json",
        "cli-channels-status.json",
        "cli-channels-status-probe.json",
    ] {
        let st = ChannelsStatus::from_value(&json(f)).unwrap();
        assert_eq!(
            st.channel_order,
            vec!["discord", "telegram", "whatsapp"],
            "{f}"
        );
        assert_eq!(states(&st), no_network_bad_token_unlinked(), "{f}");
    }
}

#[test]
fn probe_capture_carries_probe_results() {
    let st = ChannelsStatus::from_value(&json("channels-status-probe.json")).unwrap();
    let tg = &st.accounts["telegram"][0];
    let p = tg.probe.as_ref().unwrap();
    assert_eq!((p.ok, p.status), (Some(false), Some(401)));
    let dc = &st.accounts["discord"][0];
    assert_eq!(dc.probe.as_ref().unwrap().ok, Some(false));
}

#[test]
fn health_captures() {
    for f in ["health.json", "health-probe.json", "cli-health.json"] {
        let st = ChannelsStatus::from_health(&json(f)).unwrap();
        assert_eq!(states(&st), no_network_bad_token_unlinked(), "{f}");
    }
}

#[test]
fn status_captures_are_not_channel_rows() {
    for f in ["status.json", "status-admin.json", "cli-status.json"] {
        let err = ChannelsStatus::from_value(&json(f)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a channels.status payload: no channelAccounts object",
            "{f}"
        );
    }
}

#[test]
fn http_captures() {
    let r = json("http-readyz.json");
    assert_eq!(
        (
            r["ready"].as_bool(),
            r["failing"][0].as_str(),
            r["uptimeMs"].as_i64()
        ),
        (Some(false), Some("telegram"), Some(160086))
    );
    assert_eq!(json("http-ready.json")["ready"], false);
    assert_eq!(json("http-healthz.json")["status"], "live");
    assert_eq!(json("http-health.json")["ok"], true);
    assert_eq!(json("http-startupz.json")["version"], "2026.9.6");
}

fn frames(name: &str) -> Vec<Value> {
    fixture(name)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["frame"].clone())
        .collect()
}

#[test]
fn handshake_capture() {
    let f = frames("ws-connect-handshake.jsonl");
    assert_eq!(f[0]["event"], "connect.challenge");
    let hello = f
        .iter()
        .find(|x| x["payload"]["type"] == "hello-ok")
        .unwrap();
    assert_eq!(hello["payload"]["protocol"], 4);
    assert_eq!(hello["payload"]["server"]["version"], "2026.9.6");
    assert_eq!(hello["payload"]["policy"]["tickIntervalMs"], 30000);
    assert_eq!(
        hello["payload"]["auth"]["scopes"],
        serde_json::json!(["operator.read"])
    );
    // hello-ok's snapshot carries a health payload with the same rows.
    let st = ChannelsStatus::from_health(&hello["payload"]["snapshot"]["health"]).unwrap();
    assert_eq!(st.accounts.len(), 3);
}

#[test]
fn no_scopes_capture_is_missing_scope() {
    let f = frames("ws-connect-no-scopes.jsonl");
    let hello = f
        .iter()
        .find(|x| x["payload"]["type"] == "hello-ok")
        .unwrap();
    assert_eq!(hello["payload"]["auth"]["scopes"], serde_json::json!([]));
    let err = f.iter().find(|x| x["ok"] == false).unwrap();
    let e = explain_rpc_error("ws://x", &err["error"]);
    assert_eq!(e.kind.as_str(), "missing_scope");
}

#[test]
fn error_captures() {
    let kinds: Vec<(&str, &str)> = vec![
        ("ws-error-bad-token.jsonl", "auth"),
        ("ws-error-protocol-mismatch.jsonl", "protocol"),
        ("ws-error-no-auth-no-device.jsonl", "not_paired"),
        ("ws-error-invalid-client-id.jsonl", "rpc"),
        (
            "ws-error-missing-scope-and-invalid-params.jsonl",
            "missing_scope",
        ),
        ("ws-unknown-method-and-probe.jsonl", "rpc"),
    ];
    for (f, kind) in kinds {
        let fr = frames(f);
        let err = fr
            .iter()
            .find(|x| x["ok"] == false)
            .unwrap_or_else(|| panic!("{f}"));
        assert_eq!(
            explain_rpc_error("ws://x", &err["error"]).kind.as_str(),
            kind,
            "{f}"
        );
    }
    // The close codes the reference lists.
    let closes: Vec<i64> = fixture("ws-error-bad-token.jsonl")
        .lines()
        .chain(fixture("ws-error-protocol-mismatch.jsonl").lines())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["dir"] == "close")
        .filter_map(|l| l["frame"]["code"].as_i64())
        .collect();
    assert_eq!(closes, vec![1008, 1002]);
}

#[test]
fn events_and_rpc_frames() {
    let f = frames("ws-events-sample.jsonl");
    let mut names: Vec<&str> = f.iter().filter_map(|x| x["event"].as_str()).collect();
    names.dedup();
    assert!(
        names.contains(&"tick") && names.contains(&"health"),
        "{names:?}"
    );
    let health = f.iter().find(|x| x["event"] == "health").unwrap();
    let st = ChannelsStatus::from_health(&health["payload"]).unwrap();
    assert_eq!(states(&st), no_network_bad_token_unlinked());
    let rpc = frames("ws-frames-oc-rpc-channels-status.jsonl");
    let res = rpc
        .iter()
        .find(|x| x["payload"]["channelAccounts"].is_object())
        .unwrap();
    let st = ChannelsStatus::from_value(&res["payload"]).unwrap();
    assert_eq!(states(&st), no_network_bad_token_unlinked());
}

/// Replays a captured `channels.status` sequence through the tracker and
/// returns the distinct (state, reason) runs of one account.
fn replay(name: &str, channel: &str) -> Vec<(State, Option<Reason>)> {
    let mut t = Tracker::new(Tuning::default(), StatesFile::None);
    let mut runs: Vec<(State, Option<Reason>)> = Vec::new();
    let mut skipped = 0;
    for line in fixture(&format!("sequences/{name}.status.jsonl")).lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let Ok(st) = ChannelsStatus::from_value(&rec["payload"]) else {
            skipped += 1; // refused connection, UNAVAILABLE while starting
            continue;
        };
        t.apply(&st, false, rec["t"].as_f64().unwrap() / 1000.0);
        let v = t
            .views()
            .into_iter()
            .find(|v| v.channel == channel)
            .unwrap();
        if runs.last() != Some(&(v.state, v.reason)) {
            runs.push((v.state, v.reason));
        }
    }
    assert!(
        skipped > 0,
        "{name}: the capture starts before the gateway is ready"
    );
    runs
}

#[test]
fn sequence_telegram_healthy() {
    assert_eq!(
        replay("telegram-healthy-inbound", "telegram"),
        vec![(State::Connecting, None), (State::Connected, None)]
    );
}

#[test]
fn sequence_telegram_token_revoked() {
    assert_eq!(
        replay("telegram-token-revoked", "telegram"),
        vec![
            (State::Connecting, None),
            (State::Connected, None),
            (State::AuthRequired, Some(Reason::AuthFailed))
        ]
    );
}

#[test]
fn sequence_discord_healthy_and_4014() {
    assert_eq!(
        replay("discord-healthy", "discord"),
        vec![(State::Connected, None)]
    );
    assert_eq!(
        replay("discord-close-4014", "discord"),
        vec![
            (State::Connected, None),
            (State::Error, Some(Reason::DisallowedIntents))
        ]
    );
}

#[test]
fn sequence_discord_rest_401() {
    assert_eq!(
        replay("discord-rest-401-at-start", "discord"),
        vec![(State::AuthRequired, Some(Reason::AuthFailed))]
    );
}

#[test]
fn token_revoked_counts_one_disconnect() {
    let mut t = Tracker::new(Tuning::default(), StatesFile::None);
    let mut disconnects = 0;
    for line in fixture("sequences/telegram-token-revoked.status.jsonl").lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        if let Ok(st) = ChannelsStatus::from_value(&rec["payload"]) {
            let up = t.apply(&st, false, rec["t"].as_f64().unwrap() / 1000.0);
            disconnects += up
                .events
                .iter()
                .filter(|e| matches!(e, clawwatch::state::Event::Disconnect { .. }))
                .count();
        }
    }
    assert_eq!(disconnects, 1);
}
