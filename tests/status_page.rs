//! The status page in a real browser: headless Chromium, driven over the
//! DevTools protocol, against `clawwatch demo`. Every account of
//! `/health/detail` is on the page with its state, a transition arrives
//! without a reload, each state change has its timeline segment, the page
//! fits a phone, and without JavaScript the HTML holds the same rows.
//! Screenshots go to `target/status-page*.png`.

mod common;
use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const CHROMIUM: &str = "/usr/bin/chromium";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A DevTools session on one page.
struct Cdp {
    ws: Ws,
    next: u64,
    session: Option<String>,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer"))
                .unwrap()
                .unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `expr` in the page and returns its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r["exceptionDetails"].is_null(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    async fn screenshot(&mut self, name: &str) {
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }
}

/// Headless Chromium with nothing but loopback to talk to.
fn chromium(profile: &std::path::Path) -> (Kill, String) {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,1000",
            "about:blank",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let stderr = child.stderr.take().unwrap();
    let kill = Kill(child);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let ws = lines
        .find_map(|l| {
            l.strip_prefix("DevTools listening on ")
                .map(|u| u.trim().to_owned())
        })
        .expect("chromium prints its DevTools address");
    std::thread::spawn(move || lines.for_each(drop));
    (kill, ws)
}

async fn open(browser: &str, url: &str, no_script: bool) -> Cdp {
    let (ws, _) = tokio_tungstenite::connect_async(browser).await.unwrap();
    let mut cdp = Cdp {
        ws,
        next: 0,
        session: None,
    };
    let t = cdp
        .call("Target.createTarget", json!({"url": "about:blank"}))
        .await;
    let s = cdp
        .call(
            "Target.attachToTarget",
            json!({"targetId": t["targetId"], "flatten": true}),
        )
        .await;
    cdp.session = Some(s["sessionId"].as_str().unwrap().to_owned());
    cdp.call("Page.enable", json!({})).await;
    if no_script {
        cdp.call(
            "Emulation.setScriptExecutionDisabled",
            json!({"value": true}),
        )
        .await;
    }
    cdp.call("Page.navigate", json!({"url": url})).await;
    for _ in 0..200 {
        if cdp.eval("document.readyState").await == "complete" {
            return cdp;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not load");
}

const ROWS: &str = "[...document.querySelectorAll('tbody.acct')].map(t => [t.dataset.channel + '/' + t.dataset.account, t.dataset.state])";

fn health_rows(doc: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (ch, list) in doc["accounts"].as_object().unwrap() {
        for a in list.as_array().unwrap() {
            out.insert(
                format!("{ch}/{}", a["account"].as_str().unwrap()),
                a["state"].as_str().unwrap().to_owned(),
            );
        }
    }
    out
}

fn page_rows(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Rows of served HTML, read without a browser.
fn html_rows(html: &str) -> BTreeMap<String, String> {
    let re = regex::Regex::new(
        r#"<tbody class="acct st-[a-z_]+" data-channel="([^"]*)" data-account="([^"]*)" data-state="([a-z_]+)">"#,
    )
    .unwrap();
    re.captures_iter(html)
        .map(|c| (format!("{}/{}", &c[1], &c[2]), c[3].to_owned()))
        .collect()
}

fn ms(at: &str) -> i64 {
    humantime::parse_rfc3339(at)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_headless_chromium() {
    if !std::path::Path::new(CHROMIUM).exists() {
        assert!(std::env::var("CI").is_err(), "CI must install chromium");
        eprintln!("skipped: no {CHROMIUM}");
        return;
    }
    let (_demo, base) = demo();
    wait_for(Duration::from_secs(15), "three channels", || {
        let b = base.clone();
        async move {
            let (_, d) = try_health(&b).await?;
            (d["accounts"].as_object()?.len() == 3).then_some(())
        }
    })
    .await;

    let profile = tempfile::tempdir().unwrap();
    let (_browser, ws) = chromium(profile.path());
    let mut page = open(&ws, &format!("{base}/"), false).await;

    // Every account of /health/detail, with its state (read both until
    // they agree: the demo moves on its own).
    let mut agreed = None;
    for _ in 0..100 {
        let want = health_rows(&health(&base).await.1);
        let got = page_rows(&page.eval(ROWS).await);
        if want == got && !want.is_empty() {
            agreed = Some(got);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let first = agreed.expect("the page shows every account of /health/detail with its state");
    assert_eq!(first.len(), 3, "{first:?}");
    let links = page
        .eval("[...document.querySelectorAll('tbody.acct td.name a')].map(a => a.href)")
        .await;
    assert!(
        links
            .as_array()
            .unwrap()
            .contains(&json!(format!("{base}/account/whatsapp/default"))),
        "{links}"
    );

    // Live: the EventSource is open, and a transition of the demo's cycle
    // changes a row while the page is never reloaded.
    let mut live = false;
    for _ in 0..100 {
        if page.eval("document.body.dataset.live").await == "on" {
            live = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(live, "the page's EventSource opened");
    page.eval("window.__same_page = 42").await;
    let mut changed = None;
    for _ in 0..600 {
        let now = page_rows(&page.eval(ROWS).await);
        if now != first {
            changed = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let changed = changed.expect("a transition reaches the page within a minute");
    assert_eq!(page.eval("window.__same_page").await, 42, "no reload");
    assert_eq!(
        page.eval("performance.getEntriesByType('navigation').length")
            .await,
        1
    );
    assert_eq!(page.eval("document.body.dataset.live").await, "on");
    eprintln!("without a reload: {first:?} -> {changed:?}");

    // Let the cycle run, then: a segment per state change of each
    // account's timeline, at the change's millisecond.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let hist: Value = serde_json::from_str(
        &get(&format!("{base}/api/v1/history?since=10m&limit=10000"))
            .await
            .1,
    )
    .unwrap();
    page.eval("new Promise(r => setTimeout(r, 1500))").await;
    // Fresh data: the page fetches itself on each event; force one now.
    page.call("Page.reload", json!({})).await;
    for _ in 0..200 {
        if page.eval("document.readyState").await == "complete" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut total = 0;
    for key in first.keys() {
        let (ch, acct) = key.split_once('/').unwrap();
        let starts: Vec<i64> = hist
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "transition" && e["channel"] == ch && e["account"] == acct)
            .map(|e| ms(e["at"].as_str().unwrap()))
            .collect();
        let sel = format!(
            "[...document.querySelectorAll('tbody.acct[data-channel=\"{ch}\"][data-account=\"{acct}\"] svg.tl rect[data-t]')].map(r => [Number(r.dataset.t), r.getAttribute('class')])"
        );
        let rects = page.eval(&sel).await;
        let rects: Vec<(i64, String)> = rects
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_i64().unwrap(), r[1].as_str().unwrap().to_owned()))
            .collect();
        for t in &starts {
            assert!(
                rects.iter().any(|(x, _)| x == t),
                "{key}: no segment starts at the change at {t}: {rects:?}"
            );
        }
        assert!(
            rects.len() <= starts.len() + 2,
            "{key}: {} segments for {} changes",
            rects.len(),
            starts.len()
        );
        // The last segment has the account's current state.
        let state = page
            .eval(&format!(
                "document.querySelector('tbody.acct[data-channel=\"{ch}\"][data-account=\"{acct}\"]').dataset.state"
            ))
            .await;
        assert_eq!(
            rects.last().unwrap().1,
            format!("s-{}", state.as_str().unwrap()),
            "{key}"
        );
        total += starts.len();
    }
    assert!(total >= 6, "the cycle changed states {total} times");
    page.screenshot("status-page.png").await;
    page.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    )
    .await;
    page.screenshot("status-page-dark.png").await;

    // A phone: nothing wider than the screen.
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    )
    .await;
    page.call("Page.reload", json!({})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let width = page.eval("document.documentElement.scrollWidth").await;
    assert!(width.as_i64().unwrap() <= 390, "scroll width {width}");
    page.screenshot("status-page-phone.png").await;

    // One account's page.
    let mut acct = open(&ws, &format!("{base}/account/whatsapp/default"), false).await;
    let svgs = acct
        .eval("document.querySelectorAll('svg.tl').length")
        .await;
    assert_eq!(svgs, 3, "hour, day and week timelines");
    assert_eq!(
        acct.eval("document.querySelector('h2.acct').dataset.channel")
            .await,
        "whatsapp"
    );

    // Without JavaScript: the browser's page and the served HTML hold the
    // same rows and states as /health/detail.
    let mut plain = open(&ws, &format!("{base}/"), true).await;
    assert_eq!(plain.eval("document.body.dataset.live").await, "off");
    let mut same = false;
    for _ in 0..100 {
        let want = health_rows(&health(&base).await.1);
        let html = get(&format!("{base}/")).await.1;
        assert!(html.contains(r#"<noscript><meta http-equiv="refresh" content="10"></noscript>"#));
        let browser = page_rows(&plain.eval(ROWS).await);
        if html_rows(&html) == want && browser.keys().eq(want.keys()) {
            same = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(same, "served HTML rows equal /health/detail");
}
