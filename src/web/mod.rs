//! The status page (`/`) and one account's page (`/account/{channel}/{account}`):
//! server-rendered from the snapshot, the alerts and the history store, every
//! asset embedded. The page is complete without JavaScript; `status.js` only
//! fetches it again when `/api/v1/events` says something happened.

use crate::alert::Published;
use crate::clock::{rfc3339, Ts};
use crate::history::store::{Query, Store};
use crate::history::timeline::{self, Segment};
use crate::model::State;
use crate::snapshot::Snapshot;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

/// The stylesheet, served at `/assets/status.css`.
pub const CSS: &str = include_str!("status.css");
/// The live updates, served at `/assets/status.js`.
pub const JS: &str = include_str!("status.js");

const DAY: f64 = 86400.0;
/// Segments drawn per timeline at most; more are folded into buckets.
const MAX_SEGMENTS: usize = 96;

static PAGES: std::sync::LazyLock<minijinja::Environment<'static>> =
    std::sync::LazyLock::new(|| {
        let mut env = minijinja::Environment::new();
        for (name, src) in [
            ("base.html", include_str!("base.html")),
            ("status.html", include_str!("status.html")),
            ("account.html", include_str!("account.html")),
        ] {
            env.add_template(name, src)
                .expect("the page templates are valid");
        }
        env
    });

/// HTML-escapes `s` as the templates do.
fn escape(s: &str) -> String {
    minijinja::HtmlEscape(s).to_string()
}

/// A fix text as HTML: its `code` spans in `<code>`.
fn fix_html(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

fn hms(ts: Ts) -> String {
    let t = rfc3339(ts);
    t.get(11..19).unwrap_or("").to_owned()
}

fn day_hm(ts: Ts) -> String {
    let t = rfc3339(ts);
    format!(
        "{} {}",
        t.get(5..10).unwrap_or(""),
        t.get(11..16).unwrap_or("")
    )
}

/// `3h 2m` style, two units at most.
pub fn ago(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    let (d, h, m) = (s / 86400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn pct(u: Option<(f64, f64)>) -> String {
    match u {
        Some((share, _)) if share >= 0.99995 => "100%".into(),
        Some((share, _)) => format!("{:.2}%", share * 100.0),
        None => "–".into(),
    }
}

/// The timeline of `[t0, t1]` as inline SVG: one `rect` per segment,
/// coloured by state (`class="s-<state>"`), with the span and reason in a
/// `<title>` shown on hover.
pub fn svg(segs: &[Segment], t0: Ts, t1: Ts, label: &str) -> String {
    let span = (t1 - t0).max(1.0);
    let mut out = format!(
        "<svg class=\"tl\" viewBox=\"0 0 1000 12\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\"><rect class=\"s-none\" width=\"1000\" height=\"12\"/>",
        escape(label)
    );
    for s in segs {
        let Some(state) = s.state else { continue };
        let x = (s.from - t0) / span * 1000.0;
        let w = ((s.to - s.from) / span * 1000.0).max(0.4);
        let what = match (s.changes, s.reason) {
            (0 | 1, Some(r)) => format!("{} ({})", state.as_str(), r.as_str()),
            (0 | 1, None) => state.as_str().to_owned(),
            (n, Some(r)) => format!("{n} changes, worst {} ({})", state.as_str(), r.as_str()),
            (n, None) => format!("{n} changes, worst {}", state.as_str()),
        };
        let _ = write!(
            out,
            "<rect class=\"s-{}\" x=\"{x:.1}\" width=\"{w:.1}\" height=\"12\" data-t=\"{}\"><title>{}–{} {what}</title></rect>",
            state.as_str(),
            (s.from * 1000.0) as i64,
            if span > 2.0 * DAY { day_hm(s.from) } else { hms(s.from) },
            if span > 2.0 * DAY { day_hm(s.to) } else { hms(s.to) },
        );
    }
    out.push_str("</svg>");
    out
}

#[derive(Serialize)]
struct Row {
    channel: String,
    account: String,
    href: String,
    state: &'static str,
    since: String,
    since_ago: String,
    reason: &'static str,
    error: String,
    reconnects_24h: usize,
    last_inbound: String,
    recovery: &'static str,
    uptime_24h: String,
    uptime_7d: String,
    timeline: String,
    fix: String,
}

/// An id as one URL path segment.
fn path_segment(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

/// Where a timeline of `window` starts: no earlier than anything is known
/// (a young history fills the bar), and at least a minute back.
fn start(snap: &Snapshot, store: &Store, now: Ts, window: f64) -> Ts {
    let known = snap
        .accounts
        .iter()
        .map(|a| a.since)
        .chain(store.oldest())
        .fold(snap.started_at, f64::min);
    (now - window).max(known.min(now - 60.0))
}

/// The account's last week, from which every shorter span is cut.
fn week(a: &crate::state::AccountView, store: &Store, now: Ts) -> Vec<Segment> {
    let changes = store.changes(&a.channel, &a.account);
    timeline::segments(changes, (a.state, a.reason, a.since), now - 7.0 * DAY, now)
}

/// The timeline from `t0`, cut from `week`, in at most `max` segments.
fn drawn(week: &[Segment], t0: Ts, now: Ts, max: usize, label: &str) -> String {
    svg(&timeline::coalesce(week, max, t0, now), t0, now, label)
}

/// One account's row, with the timeline of the last `window`.
fn row(
    snap: &Snapshot,
    a: &crate::state::AccountView,
    store: &Store,
    now: Ts,
    week: &[Segment],
    window: f64,
) -> Row {
    let t0 = start(snap, store, now, window);
    let changes = store.changes(&a.channel, &a.account);
    let reconnects_24h = changes.map_or(0, |c| {
        let from = c.partition_point(|c| c.at < now - DAY);
        c.range(from..)
            .filter(|c| c.to == State::Reconnecting)
            .count()
    });
    let recovery = snap
        .recovery
        .views
        .get(&(a.channel.clone(), a.account.clone()))
        .map_or("disabled", |v| v.status.as_str());
    Row {
        href: format!(
            "account/{}/{}",
            path_segment(&a.channel),
            path_segment(&a.account)
        ),
        channel: a.channel.clone(),
        account: a.account.clone(),
        state: a.state.as_str(),
        since: rfc3339(a.since),
        since_ago: ago(now - a.since),
        reason: a.reason.map_or("", |r| r.as_str()),
        error: a.last_error.clone().unwrap_or_default(),
        reconnects_24h,
        last_inbound: a
            .last_inbound_at
            .map_or_else(|| "–".into(), |t| format!("{} ago", ago(now - t))),
        recovery,
        uptime_24h: pct(timeline::uptime(week, now - DAY)),
        uptime_7d: pct(timeline::uptime(week, now - 7.0 * DAY)),
        timeline: drawn(
            week,
            t0,
            now,
            MAX_SEGMENTS,
            &format!(
                "{} {} over the last {}",
                a.channel,
                a.account,
                ago(now - t0)
            ),
        ),
        fix: if matches!(
            a.state,
            State::Connected | State::Connecting | State::Reconnecting
        ) {
            String::new()
        } else {
            fix_html(&crate::alert::engine::fix_for(
                &a.channel, a.state, a.reason,
            ))
        },
    }
}

#[derive(Serialize)]
struct EventRow {
    at: String,
    time: String,
    channel: String,
    account: String,
    kind: String,
    text: String,
}

fn event_rows(items: Vec<Value>) -> Vec<EventRow> {
    items
        .into_iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            let text = match v["kind"].as_str().unwrap_or("") {
                "transition" => {
                    let r = s("reason");
                    let r = if r.is_empty() { r } else { format!(" ({r})") };
                    format!("{} → {}{r}", s("from"), s("to"))
                }
                "disconnect" => format!("disconnect: {}", s("reason")),
                "notice" => format!("{} {}: {}", s("status"), s("alert"), s("integration")),
                "log_rule" => format!("log rule {}: {} ({})", s("rule"), s("to"), s("reason")),
                k => {
                    let why = s("why");
                    if why.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{k}: {why}")
                    }
                }
            };
            let at = s("at");
            EventRow {
                time: at.get(11..19).unwrap_or("").to_owned(),
                at,
                channel: s("channel"),
                account: s("account"),
                kind: s("kind"),
                text,
            }
        })
        .collect()
}

fn render(name: &str, ctx: &Value) -> Result<String, minijinja::Error> {
    PAGES
        .get_template(name)?
        .render(minijinja::Value::from(minijinja::value::Serde(ctx)))
}

fn header(snap: &Snapshot, now: Ts, base: &str) -> Value {
    serde_json::json!({
        "base": base,
        "url": snap.gateway_url,
        "status": snap.status(),
        "version": snap.version.as_deref().unwrap_or("?"),
        "gateway_error": snap.gateway_error.as_deref().unwrap_or(""),
        "now": rfc3339(now),
    })
}

/// `/`.
pub fn index(
    snap: &Snapshot,
    alerts: &Published,
    store: &Store,
    now: Ts,
) -> Result<String, minijinja::Error> {
    let rows: Vec<Row> = snap
        .accounts
        .iter()
        .map(|a| row(snap, a, store, now, &week(a, store, now), DAY))
        .collect();
    let connected = snap
        .accounts
        .iter()
        .filter(|a| a.state == State::Connected)
        .count();
    let firing: Vec<Value> = alerts
        .firing
        .iter()
        .map(|a| {
            serde_json::json!({
                "name": a.name, "severity": a.severity,
                "channel": a.channel.as_deref().unwrap_or(""),
                "account": a.account.as_deref().unwrap_or(""),
                "summary": a.summary, "since": ago(now - a.active_since),
            })
        })
        .collect();
    let silences: Vec<Value> = alerts
        .silences
        .list(now)
        .into_iter()
        .filter(|s| s.status == "active")
        .map(|s| {
            let matchers: Vec<String> = s
                .matchers
                .iter()
                .map(|m| {
                    let op = match (m.is_equal, m.is_regex) {
                        (true, false) => "=",
                        (false, false) => "!=",
                        (true, true) => "=~",
                        (false, true) => "!~",
                    };
                    format!("{}{op}{:?}", m.name, m.value)
                })
                .collect();
            serde_json::json!({
                "id": s.id, "matchers": matchers.join(", "), "ends_at": s.ends_at,
                "comment": s.comment,
            })
        })
        .collect();
    let events = event_rows(store.query(&Query {
        limit: 20,
        ..Default::default()
    }));
    let mut ctx = header(snap, now, "");
    ctx["rows"] = serde_json::json!(rows);
    ctx["connected"] = connected.into();
    ctx["total"] = rows.len().into();
    ctx["firing"] = firing.into();
    ctx["silences"] = silences.into();
    ctx["events"] = serde_json::json!(events);
    ctx["oldest"] = store.oldest().map(rfc3339).into();
    ctx["span"] = ago(now - start(snap, store, now, DAY)).into();
    render("status.html", &ctx)
}

/// `/account/{channel}/{account}`: `None` when the account is unknown.
pub fn account(
    snap: &Snapshot,
    store: &Store,
    channel: &str,
    account: &str,
    now: Ts,
) -> Option<Result<String, minijinja::Error>> {
    let a = snap
        .accounts
        .iter()
        .find(|a| a.channel == channel && a.account == account)?;
    let segs = week(a, store, now);
    let day = row(snap, a, store, now, &segs, DAY);
    let t0 = start(snap, store, now, 7.0 * DAY);
    let label = format!("{channel} {account} over the last {}", ago(now - t0));
    let week = drawn(&segs, t0, now, MAX_SEGMENTS, &label);
    let t0 = start(snap, store, now, 3600.0);
    let hour = drawn(&segs, t0, now, MAX_SEGMENTS * 2, "last hour");
    let events = event_rows(store.query(&Query {
        channel: Some(channel.into()),
        account: Some(account.into()),
        limit: 200,
        ..Default::default()
    }));
    let mut ctx = header(snap, now, "../../");
    ctx["row"] = serde_json::json!(day);
    ctx["week"] = week.into();
    ctx["hour"] = hour.into();
    ctx["events"] = serde_json::json!(events);
    Some(render("account.html", &ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::silence::Silences;
    use crate::history::store::Limits;
    use crate::state::AccountView;
    use std::sync::Arc;

    fn page_for(channel: &str, account: &str, state: State) -> String {
        let now = 1_796_083_200.0;
        let (store, _) = Store::open(
            None,
            Limits {
                retention: 7.0 * DAY,
                max_bytes: 1 << 20,
            },
            now,
            Default::default(),
            None,
        );
        let mut snap = Snapshot::new("ws://127.0.0.1:18789".into(), now - 100.0);
        snap.accounts = Arc::new(vec![AccountView::new(channel, account, state, now - 50.0)]);
        let alerts = Published {
            firing: Arc::new(Vec::new()),
            silences: Arc::new(Silences::default()),
        };
        index(&snap, &alerts, &store, now).unwrap()
    }

    #[test]
    fn hostile_ids_are_escaped_everywhere() {
        let evil = r#"<script>alert(1)</script>"' onmouseover="x"#;
        let html = page_for("discord", evil, State::Error);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains(r#"" onmouseover"#));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
        // The link to the account page: the id is one path segment,
        // percent-encoded (and the attribute HTML-escaped).
        assert!(html.contains("href=\"account&#x2f;discord&#x2f;%3Cscript%3Ealert%281%29%3C%2Fscript%3E%22%27%20onmouseover%3D%22x\""), "{html}");
        // The only scripts are the embedded asset.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(r#"<script src="assets/status.js""#));
    }

    #[test]
    fn each_row_has_its_state_timeline_and_fix() {
        let html = page_for("whatsapp", "default", State::AuthRequired);
        assert!(html.contains(
            r#"data-channel="whatsapp" data-account="default" data-state="auth_required""#
        ));
        assert!(html.contains(r#"<rect class="s-auth_required""#), "{html}");
        assert!(
            html.contains("<b>Fix:</b> Re-authenticate the whatsapp account"),
            "{html}"
        );
        let html = page_for("telegram", "default", State::Connected);
        assert!(!html.contains("<b>Fix:</b>"));
        assert!(html.contains("100% / 100%"), "{html}");
    }

    #[test]
    fn fix_text_code_spans() {
        assert_eq!(
            fix_html("run `a <b>` now"),
            "run <code>a &lt;b&gt;</code> now"
        );
    }
}
