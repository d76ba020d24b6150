//! The commands that talk to a running sidecar over HTTP: `status` and
//! `silence add|list|expire`.

use crate::cli::SilenceCommand;
use anyhow::Context as _;
use std::process::ExitCode;

/// A client with a timeout, and the bearer token from the environment.
fn client() -> anyhow::Result<(reqwest::Client, Option<String>)> {
    let c = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    Ok((c, std::env::var("CLAWWATCH_SERVER_TOKEN").ok()))
}

/// Sends `req`; the answer's status and JSON body.
async fn send(
    base: &str,
    req: reqwest::RequestBuilder,
    token: Option<&str>,
) -> anyhow::Result<(reqwest::StatusCode, serde_json::Value)> {
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    let resp = req
        .send()
        .await
        .map_err(|e| e.without_url())
        .with_context(|| {
            format!("cannot reach clawwatch at {base}; is `clawwatch run` running there?")
        })?;
    let code = resp.status();
    let doc = resp
        .json()
        .await
        .with_context(|| format!("{base} answered HTTP {code} without JSON"))?;
    Ok((code, doc))
}

/// `clawwatch status`: the table, or the JSON with `--json`.
pub async fn status(url: &str, json: bool) -> anyhow::Result<ExitCode> {
    let base = url.trim_end_matches('/');
    let (c, token) = client()?;
    let (_, doc) = send(
        base,
        c.get(format!("{base}/health/detail")),
        token.as_deref(),
    )
    .await?;
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

/// `clawwatch silence add|list|expire`.
pub async fn silence(url: &str, command: SilenceCommand) -> anyhow::Result<ExitCode> {
    let base = url.trim_end_matches('/');
    let (c, token) = client()?;
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
    let (code, doc) = send(base, req, token.as_deref()).await?;
    if !code.is_success() {
        anyhow::bail!(
            "{}",
            doc["error"].as_str().unwrap_or(&format!("HTTP {code}"))
        );
    }
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
