//! The Prometheus side end to end: `clawwatch demo` scraped by a real
//! Prometheus evaluating `alerts/openclaw.rules.yml`, which sends to a real
//! Alertmanager running `alerts/alertmanager.example.yml` with its receivers
//! pointed at a webhook here. The `cycle` scenario's WhatsApp logout must
//! arrive as `OpenClawChannelAuthRequired`; then every dashboard panel's
//! query must return data from that Prometheus.

mod common;
use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn need(bin: &str) -> bool {
    if std::path::Path::new(bin).exists() {
        return true;
    }
    assert!(std::env::var("CI").is_err(), "CI must install {bin}");
    eprintln!("skipped: no {bin}");
    false
}

async fn any_sink() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Default::default();
    let g = got.clone();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/am", l.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/am",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

/// The example Alertmanager config with its receivers sending here.
fn am_config(hook: &str) -> String {
    let example = std::fs::read_to_string(root().join("alerts/alertmanager.example.yml")).unwrap();
    let head = &example[..example.find("\nreceivers:").expect("receivers section")];
    format!(
        "{head}\nreceivers:\n  - name: ops-mail\n    webhook_configs: [{{url: \"{hook}\"}}]\n  - name: ops-telegram\n    webhook_configs: [{{url: \"{hook}\"}}]\n"
    )
}

async fn query(prom: &str, expr: &str) -> Option<Value> {
    reqwest::Client::new()
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// Each panel target's expression, with the dashboard variables filled in.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = stack.pop() {
        if let Some(inner) = p["panels"].as_array() {
            stack.extend(inner);
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                let e = e
                    .replace("$channel", ".+")
                    .replace("$instance", ".+")
                    .replace("$job", ".+")
                    .replace("$account", ".+")
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "15s")
                    .replace("$__range", "5m");
                out.push((p["title"].as_str().unwrap_or("").to_string(), e));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_to_prometheus_to_alertmanager_and_every_panel_has_data() {
    let (prom_bin, am_bin) = ("/usr/bin/prometheus", "/usr/bin/prometheus-alertmanager");
    if !need(prom_bin) || !need(am_bin) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (demo_port, prom_port, am_port) = (free_port(), free_port(), free_port());

    let _demo = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_clawwatch"))
            .args(["demo", "--listen", &format!("127.0.0.1:{demo_port}")])
            .args(["--scenario", "cycle", "--speed", "2"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );

    let (hook, got) = any_sink().await;
    std::fs::write(d.join("am.yml"), am_config(&hook)).unwrap();
    let _am = Kill(
        std::process::Command::new(am_bin)
            .arg(format!("--config.file={}", d.join("am.yml").display()))
            .arg(format!("--storage.path={}", d.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );

    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files: [\"{rules}\"]\n\
             alerting:\n  alertmanagers:\n    - static_configs: [{{targets: [\"127.0.0.1:{am_port}\"]}}]\n\
             scrape_configs:\n  - job_name: clawwatch\n    static_configs: [{{targets: [\"127.0.0.1:{demo_port}\"]}}]\n",
            rules = root().join("alerts/openclaw.rules.yml").display()
        ),
    )
    .unwrap();
    let prom_log = d.join("prometheus.log");
    let _prom = Kill(
        std::process::Command::new(prom_bin)
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&prom_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");

    // Prometheus scrapes the demo and loaded every rule.
    wait_for(
        Duration::from_secs(30),
        "Prometheus scraping clawwatch",
        || {
            let prom = prom.clone();
            async move {
                let v = query(&prom, "up{job=\"clawwatch\"}").await?;
                (v["data"]["result"][0]["value"][1] == "1").then_some(())
            }
        },
    )
    .await;
    let rules: Value = reqwest::get(format!("{prom}/api/v1/rules"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 14, "{names:?}");
    for n in clawwatch::alert::engine::ALERTS {
        assert!(names.contains(&n), "{n} not in the Prometheus rules");
    }

    // The cycle's WhatsApp logout reaches the Alertmanager webhook.
    let alert = wait_for(
        Duration::from_secs(120),
        "OpenClawChannelAuthRequired at the Alertmanager receiver",
        || {
            let got = got.clone();
            async move {
                got.lock()
                    .unwrap()
                    .iter()
                    .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
                    .find(|a| {
                        a["labels"]["alertname"] == "OpenClawChannelAuthRequired"
                            && a["status"] == "firing"
                    })
            }
        },
    )
    .await;
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["job"], "clawwatch");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .ends_with("needs a person to re-authenticate"),
        "{alert}"
    );
    assert!(alert["annotations"]["runbook_url"]
        .as_str()
        .unwrap()
        .starts_with("docs/runbooks.md#"));

    // The example's inhibition: AuthRequired silences Down for the same
    // account, not for another one.
    let am = format!("http://127.0.0.1:{am_port}");
    let fake = |name: &str, account: &str| {
        serde_json::json!({"labels": {"alertname": name, "severity": "critical", "job": "clawwatch",
            "instance": "inhibit-test", "channel": "discord", "account": account},
            "annotations": {"summary": format!("{name} {account}")}})
    };
    let r = reqwest::Client::new()
        .post(format!("{am}/api/v2/alerts"))
        .json(&serde_json::json!([
            fake("OpenClawChannelAuthRequired", "a"),
            fake("OpenClawChannelDown", "a"),
            fake("OpenClawChannelDown", "b"),
        ]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let seen = |got: &Arc<Mutex<Vec<Value>>>| -> Vec<String> {
        let mut v: Vec<String> = got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["labels"]["instance"] == "inhibit-test")
            .map(|a| {
                format!(
                    "{} {}",
                    a["labels"]["alertname"].as_str().unwrap(),
                    a["labels"]["account"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    wait_for(Duration::from_secs(30), "the uninhibited alerts", || {
        let got = got.clone();
        async move { (seen(&got).len() >= 2).then_some(()) }
    })
    .await;
    // Group wait is 5 s; anything inhibited-but-leaking would be here by now.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        seen(&got),
        ["OpenClawChannelAuthRequired a", "OpenClawChannelDown b"]
    );

    // Every dashboard panel's query returns data.
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let dash: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        // Each query variable (label_values(selector, label)) has values.
        for v in dash["templating"]["list"].as_array().unwrap() {
            let Some(q) = v["query"]["query"].as_str() else {
                continue;
            };
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap_or_else(|| panic!("unexpected variable query {q}"));
            let (selector, label) = inner.rsplit_once(',').unwrap();
            let selector = selector
                .replace("$instance", ".+")
                .replace("$channel", ".+")
                .replace("$job", ".+");
            let label = label.trim();
            let vals: Value = reqwest::Client::new()
                .get(format!("{prom}/api/v1/label/{label}/values"))
                .query(&[("match[]", selector.as_str())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(
                vals["data"].as_array().is_some_and(|a| !a.is_empty()),
                "variable {} ({q}) has no values: {vals}",
                v["name"]
            );
            checked += 1;
        }
        for (title, expr) in panel_queries(&dash) {
            let v = wait_for(
                Duration::from_secs(60),
                &format!("data for {title:?} in {}", path.display()),
                || {
                    let (prom, expr) = (prom.clone(), expr.clone());
                    async move {
                        let v = query(&prom, &expr).await?;
                        assert_eq!(v["status"], "success", "{expr}: {v}");
                        v["data"]["result"]
                            .as_array()
                            .is_some_and(|r| !r.is_empty())
                            .then_some(v)
                    }
                },
            )
            .await;
            assert_eq!(v["status"], "success");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} panel and variable queries");
}
