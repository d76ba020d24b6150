//! The commands that talk to a running sidecar over HTTP: `status`,
//! `silence add|list|expire` and `recovery status|reset`.

use crate::cli::{ClientArgs, RecoveryCommand, SilenceCommand};
use anyhow::Context as _;
use std::process::ExitCode;

/// How a request proves who sends it.
enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

fn secret_file(flag: &str, path: &std::path::Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("{flag} {}: cannot read it", path.display()))?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(
        !s.is_empty(),
        "{flag} {}: the file is empty",
        path.display()
    );
    crate::redact::learn(&s);
    Ok(s)
}

/// A client with a timeout and the TLS settings of `args`, and how it
/// authenticates (flags, then CLAWWATCH_SERVER_TOKEN).
fn client(args: &ClientArgs) -> anyhow::Result<(reqwest::Client, Auth)> {
    let mut b = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5));
    if let Some(f) = &args.ca_file {
        let pem = std::fs::read(f).with_context(|| format!("--ca-file {}", f.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("--ca-file {}: not PEM certificates", f.display()))?;
        anyhow::ensure!(
            !certs.is_empty(),
            "--ca-file {}: no certificate in it",
            f.display()
        );
        b = b.tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&args.cert_file, &args.key_file) {
        let mut pem =
            std::fs::read(cert).with_context(|| format!("--cert-file {}", cert.display()))?;
        pem.push(b'\n');
        pem.extend(std::fs::read(key).with_context(|| format!("--key-file {}", key.display()))?);
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| e.without_url())
            .context("--cert-file/--key-file: not a PEM certificate and key")?;
        b = b.identity(id);
    }
    if args.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    let auth = if let (Some(user), Some(f)) = (&args.username, &args.password_file) {
        Auth::Basic(user.clone(), secret_file("--password-file", f)?)
    } else if let Some(f) = &args.bearer_token_file {
        Auth::Bearer(secret_file("--bearer-token-file", f)?)
    } else if let Ok(t) = std::env::var("CLAWWATCH_SERVER_TOKEN") {
        crate::redact::learn(&t);
        Auth::Bearer(t)
    } else {
        Auth::None
    };
    Ok((b.build()?, auth))
}

/// Sends `req`; the answer's status and JSON body.
async fn send(
    base: &str,
    req: reqwest::RequestBuilder,
    auth: &Auth,
) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
    let req = match auth {
        Auth::None => req,
        Auth::Bearer(t) => req.bearer_auth(t),
        Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
    };
    let resp = req.send().await.map_err(|e| e.without_url()).with_context(|| {
        format!("cannot reach clawwatch at {base}; is `clawwatch run` running there (and is it https with --ca-file)?")
    })?;
    let code = resp.status();
    if code == reqwest::StatusCode::UNAUTHORIZED {
        let how = match auth {
            Auth::None => {
                "it needs credentials: --username with --password-file, or --bearer-token-file"
            }
            _ => "the credentials were refused",
        };
        anyhow::bail!("clawwatch at {base} answered HTTP 401: {how}");
    }
    let doc = resp
        .json()
        .await
        .with_context(|| format!("{base} answered HTTP {code} without JSON"))?;
    Ok((code, doc))
}

/// [`send`] for a write or a listing: an error status is the command's error.
async fn send_ok(
    base: &str,
    req: reqwest::RequestBuilder,
    auth: &Auth,
) -> anyhow::Result<serde_json::Value> {
    let (code, doc) = send(base, req, auth).await?;
    if !code.is_success() {
        anyhow::bail!(
            "{}",
            doc["error"].as_str().unwrap_or(&format!("HTTP {code}"))
        );
    }
    Ok(doc)
}

/// `clawwatch status`: the table, or the JSON with `--json`.
pub async fn status(url: &str, args: &ClientArgs, json: bool) -> anyhow::Result<ExitCode> {
    let base = url.trim_end_matches('/');
    let (c, auth) = client(args)?;
    let (_, doc) = send(base, c.get(format!("{base}/health/detail")), &auth).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!(
            "{}",
            super::table::render(&doc, crate::clock::Clock::system().now())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `clawwatch history` asks for.
#[derive(Debug, Clone)]
pub struct HistoryArgs {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this account.
    pub account: Option<String>,
    /// RFC 3339 or a duration back.
    pub since: String,
    /// JSON out.
    pub json: bool,
    /// Events read per request.
    pub page_size: usize,
}

/// `clawwatch history`: every event since `--since`, paged back with
/// `before=`, then the counts.
pub async fn history(url: &str, args: &ClientArgs, q: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let base = url.trim_end_matches('/');
    let (c, auth) = client(args)?;
    let mut events: Vec<serde_json::Value> = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let mut params: Vec<(&str, String)> = vec![
            ("since", q.since.clone()),
            ("limit", q.page_size.to_string()),
        ];
        if let Some(ch) = &q.channel {
            params.push(("channel", ch.clone()));
        }
        if let Some(a) = &q.account {
            params.push(("account", a.clone()));
        }
        if let Some(b) = before {
            params.push(("before", b.to_string()));
        }
        let req = c.get(format!("{base}/api/v1/history")).query(&params);
        let page = send_ok(base, req, &auth).await?;
        let page = page.as_array().cloned().unwrap_or_default();
        let n = page.len();
        before = page.last().and_then(|e| e["id"].as_u64());
        events.extend(page);
        if n < q.page_size || before.is_none() {
            break;
        }
    }
    let counts = history_counts(&events);
    if q.json {
        let doc = serde_json::json!({"since": q.since, "events": events, "counts": counts});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", history_table(&events, &counts));
    }
    Ok(ExitCode::SUCCESS)
}

/// Disconnects per channel and reason, most first (the article's
/// `grep disconnect | awk | sort | uniq -c | sort -rn`), and transitions
/// per channel.
pub fn history_counts(events: &[serde_json::Value]) -> serde_json::Value {
    use std::collections::BTreeMap;
    let mut disconnects: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut transitions: BTreeMap<String, u64> = BTreeMap::new();
    for e in events {
        let ch = e["channel"].as_str().unwrap_or("").to_owned();
        match e["kind"].as_str() {
            Some("disconnect") => {
                let r = e["reason"].as_str().unwrap_or("unknown").to_owned();
                *disconnects.entry((ch, r)).or_default() += 1;
            }
            Some("transition") => *transitions.entry(ch).or_default() += 1,
            _ => {}
        }
    }
    let mut d: Vec<_> = disconnects.into_iter().collect();
    d.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    serde_json::json!({
        "disconnects": d.into_iter().map(|((channel, reason), count)| {
            serde_json::json!({"channel": channel, "reason": reason, "count": count})
        }).collect::<Vec<_>>(),
        "transitions": transitions,
    })
}

fn history_table(events: &[serde_json::Value], counts: &serde_json::Value) -> String {
    use super::table::clean;
    use std::fmt::Write as _;
    let mut out = String::new();
    let s = |e: &serde_json::Value, k: &str| clean(e[k].as_str().unwrap_or(""));
    let mut shown = 0;
    for e in events.iter().rev() {
        let what = match e["kind"].as_str() {
            Some("transition") => {
                let r = s(e, "reason");
                format!(
                    "{} -> {}{}",
                    s(e, "from"),
                    s(e, "to"),
                    if r.is_empty() { r } else { format!(" ({r})") }
                )
            }
            Some("disconnect") => format!("disconnect ({})", s(e, "reason")),
            _ => continue,
        };
        let _ = writeln!(
            out,
            "{}  {}/{}  {what}",
            s(e, "at"),
            s(e, "channel"),
            s(e, "account")
        );
        shown += 1;
    }
    if shown == 0 {
        out.push_str("No transitions or disconnects in that time.\n");
    }
    out.push_str("\nDisconnects by channel and reason:\n");
    let d = counts["disconnects"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if d.is_empty() {
        out.push_str("  none\n");
    }
    for c in d {
        let _ = writeln!(
            out,
            "{:>7}  {} {}",
            c["count"],
            s(&c, "channel"),
            s(&c, "reason")
        );
    }
    out
}

/// `clawwatch silence add|list|expire`.
pub async fn silence(
    url: &str,
    args: &ClientArgs,
    command: SilenceCommand,
) -> anyhow::Result<ExitCode> {
    let base = url.trim_end_matches('/');
    let (c, auth) = client(args)?;
    let req = match &command {
        SilenceCommand::Add {
            matchers,
            duration,
            start,
            comment,
            author,
        } => c
            .post(format!("{base}/api/v1/silences"))
            .json(&serde_json::json!({
                "matchers": matchers, "duration": duration, "startsAt": start,
                "comment": comment, "createdBy": author,
            })),
        SilenceCommand::List { .. } => c.get(format!("{base}/api/v1/silences")),
        SilenceCommand::Expire { id } => c.delete(format!("{base}/api/v1/silences/{id}")),
    };
    let doc = send_ok(base, req, &auth).await?;
    match command {
        SilenceCommand::Add { .. } => println!("{}", doc["silenceID"].as_str().unwrap_or("")),
        SilenceCommand::Expire { id } => println!("expired {id}"),
        SilenceCommand::List { json: true } => println!("{}", serde_json::to_string_pretty(&doc)?),
        SilenceCommand::List { json: false } => print!("{}", silence_table(&doc)),
    }
    Ok(ExitCode::SUCCESS)
}

fn silence_table(doc: &serde_json::Value) -> String {
    let mut out = format!(
        "{:<34} {:<8} {:<24} {:<24} {:<30} COMMENT\n",
        "ID", "STATUS", "STARTS", "ENDS", "MATCHERS"
    );
    for s in doc.as_array().into_iter().flatten() {
        let m: Vec<String> =
            serde_json::from_value::<Vec<crate::alert::silence::Matcher>>(s["matchers"].clone())
                .unwrap_or_default()
                .iter()
                .map(|m| format!("{}{}{}", m.name, m.op(), m.value))
                .collect();
        let t = |k: &str| {
            s[k].as_str()
                .unwrap_or("")
                .chars()
                .take(19)
                .collect::<String>()
        };
        out.push_str(&format!(
            "{:<34} {:<8} {:<24} {:<24} {:<30} {}\n",
            s["id"].as_str().unwrap_or(""),
            s["status"].as_str().unwrap_or(""),
            t("startsAt"),
            t("endsAt"),
            m.join(","),
            s["comment"].as_str().unwrap_or("")
        ));
    }
    out
}

/// `clawwatch recovery status|reset`.
pub async fn recovery(
    url: &str,
    args: &ClientArgs,
    command: RecoveryCommand,
) -> anyhow::Result<ExitCode> {
    let base = url.trim_end_matches('/');
    let (c, auth) = client(args)?;
    let req = match &command {
        RecoveryCommand::Status { .. } => c.get(format!("{base}/api/v1/recovery")),
        RecoveryCommand::Reset { target } => {
            let body = match target.as_deref() {
                None => serde_json::json!({}),
                Some("gateway") => serde_json::json!({"channel": ""}),
                Some(t) => match t.split_once(':') {
                    Some((ch, acct)) => serde_json::json!({"channel": ch, "account": acct}),
                    None => serde_json::json!({"channel": t}),
                },
            };
            c.post(format!("{base}/api/v1/recovery/reset")).json(&body)
        }
    };
    let doc = send_ok(base, req, &auth).await?;
    match command {
        RecoveryCommand::Status { json: true } => {
            println!("{}", serde_json::to_string_pretty(&doc)?)
        }
        RecoveryCommand::Status { json: false } => print!("{}", recovery_table(&doc)),
        RecoveryCommand::Reset { .. } => {
            let reset = doc["reset"].as_array().cloned().unwrap_or_default();
            if reset.is_empty() {
                println!("nothing to reset");
            }
            for r in reset {
                let (ch, acct) = (
                    r["channel"].as_str().unwrap_or(""),
                    r["account"].as_str().unwrap_or(""),
                );
                if ch.is_empty() {
                    println!("reset the gateway");
                } else {
                    println!(
                        "reset {}:{}",
                        super::table::clean(ch),
                        super::table::clean(acct)
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn recovery_table(doc: &serde_json::Value) -> String {
    use super::table::clean;
    if doc["enabled"] == serde_json::json!(false) {
        return "recovery is off ([recovery] enabled = false)\n".into();
    }
    let mut out = format!(
        "{:<10} {:<14} {:<14} {:<8} {:<24} {:<30} RULE\n",
        "CHANNEL", "ACCOUNT", "STATUS", "HOUR", "NEXT", "LAST ACTION"
    );
    let rows = doc["accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .chain(
            doc["gateway"]
                .as_object()
                .map(|g| serde_json::Value::Object(g.clone())),
        );
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let ch = if s("channel").is_empty() {
            "(gateway)".to_string()
        } else {
            clean(&s("channel"))
        };
        let last = match r["last_action"].as_object() {
            Some(l) => format!(
                "{} {} {}",
                l["at"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(19)
                    .collect::<String>(),
                l["action"].as_str().unwrap_or(""),
                l["result"].as_str().unwrap_or("running")
            ),
            None => "-".into(),
        };
        let next: String = r["next_attempt_at"]
            .as_str()
            .unwrap_or("-")
            .chars()
            .take(19)
            .collect();
        out.push_str(&format!(
            "{:<10} {:<14} {:<14} {:<8} {:<24} {:<30} {}\n",
            ch,
            clean(&s("account")),
            s("status"),
            format!("{}/{}", r["attempts_this_hour"], r["budget_per_hour"]),
            next,
            last,
            s("rule"),
        ));
    }
    out
}
