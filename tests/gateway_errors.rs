//! Every way talking to the gateway can fail gives one clear message naming
//! the fix, `openclaw_gateway_up 0`, a counted error kind, and no hang.

mod common;
use clawwatch::simulate::{self, Options};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

async fn sidecar(cfg: clawwatch::config::Config) -> (String, clawwatch::app::Running) {
    let r = clawwatch::app::start(cfg, None).await.unwrap();
    (format!("http://{}", r.addr), r)
}

/// Waits for /health/detail to report `status` and returns the document.
async fn wait_status(base: &str, status: &str) -> Value {
    let base = base.to_string();
    let status = status.to_string();
    wait_for(Duration::from_secs(10), &format!("status {status}"), || {
        let (base, status) = (base.clone(), status.clone());
        async move {
            let (code, d) = try_health(&base).await?;
            (d["status"] == status.as_str()).then(|| {
                let want = if matches!(status.as_str(), "down" | "starting") {
                    503
                } else {
                    200
                };
                assert_eq!(code, want);
                d
            })
        }
    })
    .await
}

async fn error_count(base: &str, kind: &str) -> f64 {
    sample(
        &metrics(base).await,
        "clawwatch_gateway_errors_total",
        &[("kind", kind)],
    )
    .unwrap_or(0.0)
}

async fn sim(token: &str, opts: Options) -> simulate::Handle {
    simulate::start(
        "127.0.0.1:0".parse().unwrap(),
        Options {
            token: Some(token.into()),
            scenario: "steady".into(),
            ..opts
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn wrong_token_names_the_fix() {
    let s = sim(TOKEN, Options::default()).await;
    let mut cfg = config(s.addr);
    cfg.gateway.token = Some(clawwatch::config::Secret::new("wrong-token-4242"));
    let (base, r) = sidecar(cfg).await;
    let doc = wait_status(&base, "down").await;
    let err = doc["gateway"]["error"].as_str().unwrap();
    assert!(
        err.contains("refused clawwatch's token (AUTH_TOKEN_MISMATCH)")
            && err.contains("CLAWWATCH_GATEWAY_TOKEN"),
        "{err}"
    );
    assert_eq!(doc["gateway"]["up"], false);
    let m = metrics(&base).await;
    assert_eq!(sample(&m, "openclaw_gateway_up", &[]), Some(0.0));
    assert!(error_count(&base, "auth").await >= 1.0);
    for body in [doc.to_string(), m] {
        assert!(!body.contains("wrong-token-4242") && !body.contains(TOKEN));
    }
    r.cancel.cancel();
    s.cancel.cancel();
}

#[tokio::test]
async fn no_token_is_not_paired() {
    let s = sim(TOKEN, Options::default()).await;
    let mut cfg = config(s.addr);
    cfg.gateway.token = None;
    let (base, r) = sidecar(cfg).await;
    let doc = wait_status(&base, "down").await;
    assert!(doc["gateway"]["error"]
        .as_str()
        .unwrap()
        .contains("NOT_PAIRED"));
    assert!(error_count(&base, "not_paired").await >= 1.0);
    r.cancel.cancel();
    s.cancel.cancel();
}

#[tokio::test]
async fn unreachable_gateway() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let (base, r) = sidecar(config(addr)).await;
    let doc = wait_status(&base, "down").await;
    let err = doc["gateway"]["error"].as_str().unwrap();
    assert!(
        err.contains("cannot talk to the gateway") && err.contains("openclaw gateway run"),
        "{err}"
    );
    assert!(error_count(&base, "connect").await >= 1.0);
    // Readiness never came: /readyz says so.
    assert_eq!(get(&format!("{base}/readyz")).await.0, 503);
    r.cancel.cancel();
}

#[tokio::test]
async fn tcp_accepted_but_silent() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let mut cfg = config(addr);
    cfg.gateway.connect_timeout = Duration::from_millis(300);
    let (base, r) = sidecar(cfg).await;
    let doc = wait_status(&base, "down").await;
    assert!(
        doc["gateway"]["error"]
            .as_str()
            .unwrap()
            .contains("no WebSocket connection"),
        "{doc}"
    );
    assert!(error_count(&base, "timeout").await >= 1.0);
    r.cancel.cancel();
}

#[derive(Clone)]
enum Fake {
    /// Upgrade, then never send the challenge.
    NoChallenge,
    /// Answer connect with these frames, then close with a code.
    Refuse(Vec<Value>, u16),
    /// hello-ok granting these scopes.
    Scopes(Vec<&'static str>),
    /// hello-ok with a tick of `ms`, then silence.
    Silent(u64),
    /// hello-ok, then the n-th channels.status answer is payload n (the
    /// last one repeats), each after the text frame given, if any; a payload
    /// `{"__error": e}` answers with the error `e`. `health` gets an empty
    /// answer.
    Status(Option<String>, Vec<Value>),
}

fn hello(scopes: Vec<&str>, tick_ms: u64) -> Value {
    json!({"type": "hello-ok", "protocol": 4, "server": {"version": "2026.9.6"}, "auth": {"scopes": scopes}, "policy": {"tickIntervalMs": tick_ms}})
}

fn status_payload() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{}/channels-status.json", clawwatch::FIXTURES)).unwrap(),
    )
    .unwrap()
}

async fn fake(kind: Fake) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let kind = kind.clone();
            tokio::spawn(async move {
                // /readyz polls are plain HTTP: not for this fake.
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                if matches!(kind, Fake::NoChallenge) {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                }
                let ch = json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 1}});
                ws.send(Message::text(ch.to_string())).await.unwrap();
                let Some(Ok(Message::Text(t))) = ws.next().await else {
                    return;
                };
                let req: Value = serde_json::from_str(t.as_str()).unwrap();
                let id = req["id"].clone();
                let ok = |p: Value| {
                    Message::text(
                        json!({"type": "res", "id": id, "ok": true, "payload": p}).to_string(),
                    )
                };
                match kind {
                    Fake::NoChallenge => {}
                    Fake::Refuse(frames, code) => {
                        for mut f in frames {
                            f["id"] = id.clone();
                            let _ = ws.send(Message::text(f.to_string())).await;
                        }
                        let _ = ws
                            .send(Message::Close(Some(CloseFrame {
                                code: CloseCode::from(code),
                                reason: "".into(),
                            })))
                            .await;
                    }
                    Fake::Scopes(s) => {
                        let _ = ws.send(ok(hello(s, 30_000))).await;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    Fake::Silent(tick) => {
                        let _ = ws.send(ok(hello(vec!["operator.read"], tick))).await;
                        while ws.next().await.is_some() {}
                    }
                    Fake::Status(before, payloads) => {
                        let _ = ws.send(ok(hello(vec!["operator.read"], 30_000))).await;
                        let mut n = 0;
                        while let Some(Ok(Message::Text(t))) = ws.next().await {
                            let r: Value = serde_json::from_str(t.as_str()).unwrap();
                            let payload = if r["method"] == "channels.status" {
                                n += 1;
                                payloads[(n - 1).min(payloads.len() - 1)].clone()
                            } else {
                                json!({})
                            };
                            let res = match payload.get("__error") {
                                Some(e) => {
                                    json!({"type": "res", "id": r["id"], "ok": false, "error": e})
                                }
                                None => {
                                    json!({"type": "res", "id": r["id"], "ok": true, "payload": payload})
                                }
                            };
                            for m in before.iter().cloned().chain([res.to_string()]) {
                                if ws.send(Message::text(m)).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

fn captured_error(fixture: &str) -> Value {
    std::fs::read_to_string(format!("{}/{fixture}", clawwatch::FIXTURES))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|l| l["frame"].clone())
        .find(|f| f["ok"] == false)
        .unwrap()
}

#[tokio::test]
async fn upgraded_but_no_challenge() {
    let addr = fake(Fake::NoChallenge).await;
    let mut cfg = config(addr);
    cfg.gateway.connect_timeout = Duration::from_millis(300);
    let (base, r) = sidecar(cfg).await;
    let doc = wait_status(&base, "down").await;
    assert!(
        doc["gateway"]["error"]
            .as_str()
            .unwrap()
            .contains("sent no connect.challenge"),
        "{doc}"
    );
    r.cancel.cancel();
}

#[tokio::test]
async fn protocol_mismatch_from_the_capture() {
    let addr = fake(Fake::Refuse(
        vec![captured_error("ws-error-protocol-mismatch.jsonl")],
        1002,
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    let doc = wait_status(&base, "down").await;
    assert_eq!(
        doc["gateway"]["error"],
        format!("the gateway at ws://{addr} speaks protocol 4, clawwatch asked for 5 (PROTOCOL_MISMATCH); fix: upgrade clawwatch or the gateway to matching versions")
    );
    assert!(error_count(&base, "protocol").await >= 1.0);
    r.cancel.cancel();
}

#[tokio::test]
async fn bad_token_from_the_capture() {
    let addr = fake(Fake::Refuse(
        vec![captured_error("ws-error-bad-token.jsonl")],
        1008,
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    wait_status(&base, "down").await;
    assert!(error_count(&base, "auth").await >= 1.0);
    r.cancel.cancel();
}

#[tokio::test]
async fn granted_no_scopes() {
    let addr = fake(Fake::Scopes(vec![])).await;
    let (base, r) = sidecar(config(addr)).await;
    let doc = wait_status(&base, "down").await;
    assert_eq!(
        doc["gateway"]["error"],
        format!("the gateway at ws://{addr} accepted the token but granted no operator.read (scopes []); fix: run clawwatch on the gateway's host so it connects over loopback, or pair a device with operator.read")
    );
    assert!(error_count(&base, "missing_scope").await >= 1.0);
    r.cancel.cancel();
}

#[tokio::test]
async fn malformed_frames_are_counted_and_skipped() {
    let addr = fake(Fake::Status(
        Some("{not json".into()),
        vec![status_payload()],
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    let doc = wait_status(&base, "degraded").await;
    assert_eq!(doc["channels"]["telegram"], "auth_required");
    assert!(error_count(&base, "malformed_frame").await >= 1.0);
    r.cancel.cancel();
}

#[tokio::test]
async fn a_10_mb_frame_is_refused() {
    let addr = fake(Fake::Status(
        Some(format!("\"{}\"", "x".repeat(10 << 20))),
        vec![status_payload()],
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    let doc = wait_status(&base, "down").await;
    // The frame: a JSON string of 10 MiB of x.
    assert_eq!(
        doc["gateway"]["error"],
        format!("the gateway at ws://{addr} sent a frame of {} bytes, over gateway.max_frame_bytes (8388608); raise it if the gateway really reports that much", (10 << 20) + 2)
    );
    assert!(error_count(&base, "oversized_frame").await >= 1.0);
    r.cancel.cancel();
}

#[tokio::test]
async fn silence_past_two_ticks_reconnects() {
    let addr = fake(Fake::Silent(200)).await;
    let (base, r) = sidecar(config(addr)).await;
    let doc = wait_status(&base, "down").await;
    assert_eq!(
        doc["gateway"]["error"],
        format!(
            "the gateway at ws://{addr} sent nothing for 400ms (2 x tickIntervalMs); reconnecting"
        )
    );
    assert!(error_count(&base, "closed").await >= 1.0);
    r.cancel.cancel();
}

#[tokio::test]
async fn starting_gateway_is_starting_then_ok() {
    let s = sim(
        TOKEN,
        Options {
            startup_delay: Duration::from_millis(1500),
            ..Options::default()
        },
    )
    .await;
    let (base, r) = sidecar(config(s.addr)).await;
    let b = base.clone();
    let doc = wait_for(Duration::from_secs(10), "UNAVAILABLE", || {
        let b = b.clone();
        async move {
            let (code, d) = try_health(&b).await?;
            d["gateway"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("is starting"))
                .then_some((code, d))
        }
    })
    .await;
    assert_eq!((doc.0, doc.1["status"].as_str()), (503, Some("starting")));
    assert_eq!(
        sample(&metrics(&base).await, "openclaw_gateway_up", &[]),
        Some(0.0)
    );
    wait_status(&base, "ok").await;
    assert!(error_count(&base, "unavailable").await >= 1.0);
    r.cancel.cancel();
    s.cancel.cancel();
}

/// The captured payload with `f` applied.
fn edited(f: impl FnOnce(&mut Value)) -> Value {
    let mut p = status_payload();
    f(&mut p);
    p
}

/// Waits until /health/detail lists decode errors and returns the document.
async fn wait_decode_errors(base: &str) -> (u16, Value) {
    let b = base.to_string();
    wait_for(Duration::from_secs(10), "decode errors", || {
        let b = b.clone();
        async move {
            let (code, d) = try_health(&b).await?;
            (!d["gateway"]["decode_errors"].as_array()?.is_empty()).then_some((code, d))
        }
    })
    .await
}

fn accounts(doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (ch, list) in doc["accounts"].as_object().unwrap() {
        for a in list.as_array().unwrap() {
            out.push((
                ch.clone(),
                a["account"].as_str().unwrap().to_string(),
                a["state"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn far_future_times_are_decode_errors_while_health_detail_answers() {
    let addr = fake(Fake::Status(
        None,
        vec![edited(|p| {
            p["ts"] = json!(9_000_000_000_000_000_i64);
            p["channelAccounts"]["discord"][0]["lastConnectedAt"] = json!(1e300);
            p["channelAccounts"]["whatsapp"][0]["lastDisconnect"] =
                json!({"at": 253_402_300_800_000_i64, "error": "x"});
        })],
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    let (code, doc) = wait_decode_errors(&base).await;
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["status"], "degraded");
    assert_eq!(
        doc["gateway"]["decode_errors"],
        json!([
            {"channel": "", "account": "", "problem": "ts is out of range or mistyped"},
            {"channel": "discord", "account": "default", "problem": "lastConnectedAt is out of range or mistyped"},
            {"channel": "whatsapp", "account": "default", "problem": "at is out of range or mistyped"},
        ])
    );
    assert_eq!(
        accounts(&doc),
        vec![
            ("discord".into(), "default".into(), "reconnecting".into()),
            ("telegram".into(), "default".into(), "auth_required".into()),
            ("whatsapp".into(), "default".into(), "auth_required".into()),
        ]
    );
    let n = error_count(&base, "bad_field").await;
    assert!(n >= 3.0 && n % 3.0 == 0.0, "3 per answer, got {n}");
    r.cancel.cancel();
}

#[tokio::test]
async fn an_undecodable_status_is_down_not_the_last_good_state() {
    let addr = fake(Fake::Status(
        None,
        vec![
            status_payload(),
            status_payload(),
            json!({"channelAccounts": 7}),
        ],
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    wait_status(&base, "degraded").await;
    let doc = wait_status(&base, "down").await;
    assert_eq!(
        doc["gateway"]["error"],
        format!("the gateway at ws://{addr} answered channels.status with an unexpected shape (not a channels.status payload: no channelAccounts object)")
    );
    assert_eq!(doc["gateway"]["up"], false);
    assert!(error_count(&base, "malformed_frame").await >= 1.0);
    assert_eq!(
        sample(&metrics(&base).await, "openclaw_gateway_up", &[]),
        Some(0.0)
    );
    r.cancel.cancel();
}

#[tokio::test]
async fn an_undecodable_row_keeps_its_account() {
    let addr = fake(Fake::Status(
        None,
        vec![
            status_payload(),
            status_payload(),
            edited(|p| p["channelAccounts"]["discord"] = json!([42])),
        ],
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    let before = accounts(&wait_status(&base, "degraded").await);
    let (code, doc) = wait_decode_errors(&base).await;
    assert_eq!(code, 200);
    assert_eq!(
        doc["gateway"]["decode_errors"],
        json!([{"channel": "discord", "account": "", "problem": "row is not an object"}])
    );
    assert_eq!(accounts(&doc), before);
    assert_eq!(
        before[0],
        ("discord".into(), "default".into(), "reconnecting".into())
    );
    r.cancel.cancel();
}

#[tokio::test]
async fn hostile_ids_are_replaced_kept_apart_and_parse_everywhere() {
    let row = |id: &str| {
        let mut r = status_payload()["channelAccounts"]["discord"][0].clone();
        r["accountId"] = json!(id);
        r
    };
    let addr = fake(Fake::Status(
        None,
        vec![edited(|p| {
            p["channelAccounts"]["discord"] = json!([
                row("a\rb"),
                row("a\nb"),
                row("a\u{0}b"),
                row("a\u{fffd}b"),
                row("\u{1b}[31mred"),
            ]);
            p["channelOrder"] = json!(["discord", "tele\u{7}gram"]);
            let tg = p["channelAccounts"]["telegram"].take();
            p["channelAccounts"]["tele\u{7}gram"] = tg;
            p["channelAccounts"]
                .as_object_mut()
                .unwrap()
                .remove("telegram");
            p["channelAccounts"]
                .as_object_mut()
                .unwrap()
                .remove("whatsapp");
        })],
    ))
    .await;
    let (base, r) = sidecar(config(addr)).await;
    let doc = wait_status(&base, "degraded").await;
    let f = '\u{fffd}';
    // The clean `a\u{fffd}b` keeps its name; the hostile ones step aside.
    let want: Vec<(String, String)> = vec![
        ("discord".into(), format!("a{f}b")),
        ("discord".into(), format!("a{f}b{f}2")),
        ("discord".into(), format!("a{f}b{f}3")),
        ("discord".into(), format!("a{f}b{f}4")),
        ("discord".into(), format!("{f}[31mred")),
        (format!("tele{f}gram"), "default".into()),
    ];
    let mut got: Vec<(String, String)> =
        accounts(&doc).into_iter().map(|(c, a, _)| (c, a)).collect();
    got.sort();
    assert_eq!(got, want, "{doc}");
    let text = metrics(&base).await;
    assert!(!text.contains('\r') && !text.contains('\u{0}') && !text.contains('\u{1b}'));
    assert_eq!(
        sample(&text, "clawwatch_ids_sanitized_total", &[]),
        Some(5.0)
    );
    let om = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (kind, text) in [("prometheus", &text), ("openmetrics", &om)] {
        let Some(parsed) = python_check(kind, text) else {
            break;
        };
        let mut keys: Vec<String> = parsed["states"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        let mut expect: Vec<String> = want.iter().map(|(c, a)| format!("{c}/{a}")).collect();
        expect.sort();
        assert_eq!(keys, expect, "{kind}");
        for (k, v) in parsed["states"].as_object().unwrap() {
            assert_eq!(v, &json!([6, 1.0]), "{kind} {k}: six state series, one set");
        }
    }
    r.cancel.cancel();
}

#[tokio::test]
async fn accounts_past_the_cap_are_dropped_and_counted() {
    let addr = fake(Fake::Status(None, vec![status_payload()])).await;
    let mut cfg = config(addr);
    cfg.states.max_accounts = 2;
    let (base, r) = sidecar(cfg).await;
    let doc = wait_status(&base, "degraded").await;
    assert_eq!(
        accounts(&doc),
        vec![
            ("discord".into(), "default".into(), "reconnecting".into()),
            ("telegram".into(), "default".into(), "auth_required".into()),
        ]
    );
    // Several answers, one account over the cap: counted once.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let text = metrics(&base).await;
    assert_eq!(
        sample(&text, "clawwatch_accounts_dropped_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "openclaw_channel_state",
            &[
                ("channel", "whatsapp"),
                ("account", "default"),
                ("state", "connected")
            ]
        ),
        None
    );
    r.cancel.cancel();
}

#[tokio::test]
async fn a_hostile_retry_after_waits_the_backoff_cap_not_forever() {
    let addr = fake(Fake::Status(
        None,
        vec![
            json!({"__error": {"code": "UNAVAILABLE", "message": "gateway starting; retry shortly", "retryable": true, "retryAfterMs": u64::MAX}}),
            status_payload(),
        ],
    ))
    .await;
    let started = std::time::Instant::now();
    let (base, r) = sidecar(config(addr)).await;
    let b = base.clone();
    let doc = wait_for(Duration::from_secs(10), "UNAVAILABLE", || {
        let b = b.clone();
        async move {
            let (code, d) = try_health(&b).await?;
            (!d["gateway"]["error"].is_null()).then_some((code, d))
        }
    })
    .await;
    assert_eq!((doc.0, doc.1["status"].as_str()), (503, Some("starting")));
    let doc = doc.1;
    assert_eq!(
        doc["gateway"]["error"],
        format!(
            "the gateway at ws://{addr} is starting (gateway starting; retry shortly); retrying"
        )
    );
    // The hint is capped at the backoff's 30 s: the next poll comes then.
    let b = base.clone();
    wait_for(
        Duration::from_secs(45),
        "degraded after the capped wait",
        || {
            let b = b.clone();
            async move { (try_health(&b).await?.1["status"] == "degraded").then_some(()) }
        },
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(29) && waited < Duration::from_secs(40),
        "{waited:?}"
    );
    assert_eq!(error_count(&base, "unavailable").await, 1.0);
    r.cancel.cancel();
}
