//! Running an action: the gateway's `channels.stop` + `channels.start` over
//! a short session of its own with `operator.admin`, or an argv (never a
//! shell) with a timeout, killed with its whole process group on expiry.

use super::record::Outcome;
use crate::clock::Clock;
use crate::source::gateway;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Bytes of stderr kept.
pub const STDERR_TAIL: usize = 2048;

/// How an action went.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    /// The result label.
    pub outcome: Outcome,
    /// What was sent and answered, or the argv, exit code and stderr tail.
    pub detail: Value,
    /// Why it failed, in one line.
    pub error: Option<String>,
    /// Seconds it took.
    pub duration: f64,
}

/// Restarts one account: `channels.stop`, then `channels.start`, both with
/// `{"channel": C, "accountId": A}`.
pub async fn rpc(s: &gateway::Settings, clock: &Clock, channel: &str, account: &str) -> Done {
    let started = clock.instant();
    let params = json!({"channel": channel, "accountId": account});
    let calls = [
        ("channels.stop", params.clone()),
        ("channels.start", params),
    ];
    let r = gateway::call(s, clock, &calls).await;
    let duration = (clock.instant() - started).as_secs_f64();
    match r {
        Err(e) => Done {
            outcome: if e.kind == crate::model::GatewayErrorKind::Timeout {
                Outcome::Timeout
            } else {
                Outcome::Failed
            },
            detail: json!({"calls": []}),
            error: Some(e.message),
            duration,
        },
        Ok(answers) => {
            let mut error = None;
            let detail: Vec<Value> = calls
                .iter()
                .zip(&answers)
                .map(|((method, _), a)| match a {
                    Ok(p) => json!({"method": method, "ok": true, "answer": brief(p)}),
                    Err(e) => {
                        let msg = e
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("refused");
                        error.get_or_insert_with(|| {
                            crate::redact::redact(&format!("{method}: {msg}"))
                        });
                        json!({"method": method, "ok": false, "error": brief(e)})
                    }
                })
                .collect();
            let started_flag = answers
                .get(1)
                .and_then(|a| a.as_ref().ok())
                .and_then(|p| p.get("started"))
                .and_then(Value::as_bool);
            if error.is_none() && started_flag == Some(false) {
                error = Some(
                    "channels.start answered started: false; the account did not start".into(),
                );
            }
            Done {
                outcome: if error.is_none() {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                },
                detail: json!({"calls": detail}),
                error,
                duration,
            }
        }
    }
}

/// The fields of an answer worth keeping: small scalars, redacted.
fn brief(v: &Value) -> Value {
    let Some(o) = v.as_object() else {
        return Value::Null;
    };
    o.iter()
        .filter(|(k, _)| k.len() <= 32)
        .take(12)
        .filter_map(|(k, v)| {
            let v = match v {
                Value::Bool(_) | Value::Number(_) => v.clone(),
                Value::String(s) => json!(crate::redact::redact(
                    &s.chars().take(200).collect::<String>()
                )),
                Value::Object(_) if k == "outcome" || k == "details" => brief(v),
                _ => return None,
            };
            Some((k.clone(), v))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Runs `argv` with `env`, killed (with its process group) after `timeout`.
pub async fn command(
    argv: &[String],
    env: &[(&str, &str)],
    timeout: Duration,
    clock: &Clock,
) -> Done {
    let started = clock.instant();
    let elapsed = |clock: &Clock| (clock.instant() - started).as_secs_f64();
    let Some((program, args)) = argv.split_first() else {
        return Done {
            outcome: Outcome::Failed,
            detail: json!({"argv": []}),
            error: Some("no recovery.command configured".into()),
            duration: 0.0,
        };
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Done {
                outcome: Outcome::Failed,
                detail: json!({"argv": argv, "exit_code": null, "stderr_tail": ""}),
                error: Some(format!("cannot run {program:?}: {e}")),
                duration: elapsed(clock),
            }
        }
    };
    let pid = child.id();
    let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let reader = child.stderr.take().map(|mut s| {
        let tail = tail.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.extend_from_slice(&buf[..n]);
                if t.len() > STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
        })
    });
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(s) => (s.ok(), false),
        Err(_) => {
            kill_group(pid);
            let _ = child.kill().await;
            (child.wait().await.ok(), true)
        }
    };
    // Something the command started may hold stderr open: read briefly on.
    if let Some(r) = reader {
        let abort = r.abort_handle();
        if tokio::time::timeout(Duration::from_secs(1), r)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let tail = tail.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let code = status.and_then(|s| s.code());
    let text = crate::redact::redact(&String::from_utf8_lossy(&tail));
    let (outcome, error) = match (timed_out, code) {
        (true, _) => (
            Outcome::Timeout,
            Some(format!(
                "{program:?} ran longer than recovery.command_timeout ({}) and was killed",
                humantime::format_duration(timeout)
            )),
        ),
        (false, Some(0)) => (Outcome::Ok, None),
        (false, Some(c)) => (
            Outcome::Failed,
            Some(format!("{program:?} exited with {c}")),
        ),
        (false, None) => (
            Outcome::Failed,
            Some(format!("{program:?} was killed by a signal")),
        ),
    };
    Done {
        outcome,
        detail: json!({"argv": argv, "exit_code": code, "timed_out": timed_out, "stderr_tail": text}),
        error,
        duration: elapsed(clock),
    }
}

#[cfg(unix)]
fn kill_group(pid: Option<u32>) {
    // The child leads its own group: end what it started too.
    if let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_: Option<u32>) {}
