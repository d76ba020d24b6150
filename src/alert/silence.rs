//! Silences and maintenance windows. A silence mutes the alerts its
//! matchers select between `startsAt` and `endsAt` (Alertmanager's shape,
//! so its habits carry over); a maintenance window is a silence that recurs
//! every week. Silences persist in `silences.json` in the state dir.

use super::engine::Alert;
use crate::clock::{rfc3339, Ts};
use serde::{Deserialize, Serialize};

/// One label condition.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    /// Label name (`alertname`, `severity`, `channel`, `account`, `integration`).
    pub name: String,
    /// Value or regex (anchored).
    pub value: String,
    /// `value` is a regex.
    #[serde(default)]
    pub is_regex: bool,
    /// `=` (true) or `!=` (false).
    #[serde(default = "yes")]
    pub is_equal: bool,
    #[serde(skip)]
    re: Option<regex::Regex>,
}

fn yes() -> bool {
    true
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        (&self.name, &self.value, self.is_regex, self.is_equal)
            == (&o.name, &o.value, o.is_regex, o.is_equal)
    }
}

/// Why a matcher or silence is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SilenceError {
    /// A matcher that does not parse.
    #[error("matcher {0:?}: {1}")]
    Matcher(String, String),
    /// Start, end or duration wrong.
    #[error("{0}")]
    Time(String),
    /// No silence with this id.
    #[error("no silence {0:?}")]
    NotFound(String),
    /// Too many matchers, or one too long.
    #[error("{0}")]
    Matchers(String),
    /// Too many silences, or one too large.
    #[error("{0}")]
    TooLarge(String),
    /// As many silences as allowed are live.
    #[error("{0}")]
    Full(String),
    /// Could not be saved.
    #[error("{0}")]
    Save(String),
}

/// Matchers a silence may hold.
pub const MAX_MATCHERS: usize = 32;
/// Bytes a matcher's name or value may hold.
pub const MAX_MATCHER_BYTES: usize = 1024;
/// Bytes a silence's comment or author may hold.
pub const MAX_TEXT_BYTES: usize = 1024;

impl SilenceError {
    /// The `clawwatch_http_refused_total` reason of a limit, if it is one.
    pub fn refusal(&self) -> Option<&'static str> {
        match self {
            SilenceError::Matchers(_) => Some("matchers"),
            SilenceError::TooLarge(_) | SilenceError::Full(_) => Some("silences"),
            _ => None,
        }
    }
}

impl Matcher {
    /// A checked matcher.
    pub fn new(
        name: &str,
        value: &str,
        is_regex: bool,
        is_equal: bool,
    ) -> Result<Matcher, SilenceError> {
        let mut m = Matcher {
            name: name.into(),
            value: value.into(),
            is_regex,
            is_equal,
            re: None,
        };
        m.compile()?;
        Ok(m)
    }

    /// Compiles the regex (after deserializing).
    pub fn compile(&mut self) -> Result<(), SilenceError> {
        let bad = |m: &str| SilenceError::Matcher(self.to_string(), m.to_string());
        if !super::engine::LABELS.contains(&self.name.as_str()) {
            return Err(bad(&format!(
                "no label {:?}; labels are {}",
                self.name,
                super::engine::LABELS.join(", ")
            )));
        }
        if self.is_regex {
            let re = regex::Regex::new(&format!("^(?:{})$", self.value))
                .map_err(|e| bad(e.to_string().lines().last().unwrap_or("").trim()))?;
            self.re = Some(re);
        }
        Ok(())
    }

    /// Parses `name=value`, `name!=value`, `name=~regex`, `name!~regex`
    /// (the value may be quoted).
    pub fn parse(s: &str) -> Result<Matcher, SilenceError> {
        let i = s.find(['=', '!']).ok_or_else(|| {
            SilenceError::Matcher(
                s.into(),
                "expected name=value, name!=value, name=~regex or name!~regex".into(),
            )
        })?;
        let (name, rest) = (s[..i].trim(), &s[i..]);
        let (op, value) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
            .ok_or_else(|| SilenceError::Matcher(s.into(), "expected =, !=, =~ or !~".into()))?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Matcher::new(name, value, op.ends_with('~'), op.starts_with('='))
    }

    /// `=`, `!=`, `=~` or `!~`.
    pub fn op(&self) -> &'static str {
        match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        }
    }

    /// True when the alert's label satisfies the matcher.
    pub fn matches(&self, a: &Alert) -> bool {
        let v = a.label(&self.name);
        let hit = match &self.re {
            Some(re) => re.is_match(v),
            None => v == self.value,
        };
        hit == self.is_equal
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op(), self.value)
    }
}

/// A silence (Alertmanager's JSON shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Random id, or `maintenance:<name>` for a window.
    pub id: String,
    /// All must match.
    pub matchers: Vec<Matcher>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Who.
    #[serde(default)]
    pub created_by: String,
    /// `pending`, `active` or `expired`, at the time of the answer.
    #[serde(default)]
    pub status: String,
    #[serde(skip)]
    start: Ts,
    #[serde(skip)]
    end: Ts,
}

/// `POST /api/v1/silences` body: matchers as objects or strings; `endsAt`
/// or `duration`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSilence {
    /// Matchers.
    pub matchers: Vec<MatcherIn>,
    /// Default now.
    pub starts_at: Option<String>,
    /// End time, or ...
    pub ends_at: Option<String>,
    /// ... how long (`"2h"`).
    pub duration: Option<String>,
    /// Why.
    #[serde(default)]
    pub comment: String,
    /// Who.
    #[serde(default)]
    pub created_by: String,
    /// Ignored (Alertmanager clients send it to update).
    pub id: Option<String>,
}

/// A matcher in a request.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MatcherIn {
    /// `channel=whatsapp`.
    Text(String),
    /// Alertmanager's object.
    Object(Matcher),
}

fn parse_time(what: &str, s: &str) -> Result<Ts, SilenceError> {
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| {
            SilenceError::Time(format!(
                "{what} {s:?}: {e} (RFC 3339, like 2026-11-26T18:00:00Z)"
            ))
        })
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .map_err(|_| SilenceError::Time(format!("{what} {s:?} is before 1970")))
        })
}

impl NewSilence {
    /// A checked silence starting at `starts_at` or `now`.
    pub fn build(self, now: Ts) -> Result<Silence, SilenceError> {
        if self.matchers.len() > MAX_MATCHERS {
            return Err(SilenceError::Matchers(format!(
                "{} matchers; a silence may hold at most {MAX_MATCHERS}",
                self.matchers.len()
            )));
        }
        for (what, text) in [("comment", &self.comment), ("createdBy", &self.created_by)] {
            if text.len() > MAX_TEXT_BYTES {
                return Err(SilenceError::TooLarge(format!(
                    "{what} holds {} bytes; at most {MAX_TEXT_BYTES}",
                    text.len()
                )));
            }
        }
        let matchers = self
            .matchers
            .into_iter()
            .map(|m| {
                // Checked before a regex is compiled.
                let long = match &m {
                    MatcherIn::Text(t) => t.len() > 2 * MAX_MATCHER_BYTES + 4,
                    MatcherIn::Object(m) => {
                        m.name.len() > MAX_MATCHER_BYTES || m.value.len() > MAX_MATCHER_BYTES
                    }
                };
                if long {
                    return Err(SilenceError::Matchers(format!(
                        "a matcher is longer than {MAX_MATCHER_BYTES} bytes"
                    )));
                }
                let m = match m {
                    MatcherIn::Text(t) => Matcher::parse(&t)?,
                    MatcherIn::Object(mut m) => m.compile().map(|()| m)?,
                };
                if m.name.len() > MAX_MATCHER_BYTES || m.value.len() > MAX_MATCHER_BYTES {
                    return Err(SilenceError::Matchers(format!(
                        "a matcher is longer than {MAX_MATCHER_BYTES} bytes"
                    )));
                }
                Ok(m)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if matchers.is_empty() {
            return Err(SilenceError::Matcher(
                String::new(),
                "a silence needs at least one matcher (alertname=~\".+\" mutes everything)".into(),
            ));
        }
        let start = match &self.starts_at {
            Some(s) => parse_time("startsAt", s)?,
            None => now,
        };
        let end = match (&self.ends_at, &self.duration) {
            (Some(e), None) => parse_time("endsAt", e)?,
            (None, Some(d)) => {
                start
                    + humantime::parse_duration(d)
                        .map_err(|e| SilenceError::Time(format!("duration {d:?}: {e}")))?
                        .as_secs_f64()
            }
            _ => {
                return Err(SilenceError::Time(
                    "give endsAt or duration (one of them)".into(),
                ))
            }
        };
        if end <= start {
            return Err(SilenceError::Time("endsAt must be after startsAt".into()));
        }
        if end > crate::clock::MAX_TS {
            return Err(SilenceError::Time(
                "the silence would end after 9999-12-31; give a shorter duration".into(),
            ));
        }
        if end <= now {
            return Err(SilenceError::Time("endsAt is in the past".into()));
        }
        let id: u128 = rand::random();
        Ok(Silence {
            id: format!("{:032x}", id),
            matchers,
            starts_at: rfc3339(start),
            ends_at: rfc3339(end),
            comment: self.comment,
            created_by: self.created_by,
            status: String::new(),
            start,
            end,
        })
    }
}

impl Silence {
    /// True while active at `now`.
    pub fn active(&self, now: Ts) -> bool {
        self.start <= now && now < self.end
    }

    /// True when it mutes `a` at `now`.
    pub fn mutes(&self, a: &Alert, now: Ts) -> bool {
        self.active(now) && self.matchers.iter().all(|m| m.matches(a))
    }

    /// With `status` filled in for `now`.
    pub fn with_status(mut self, now: Ts) -> Silence {
        self.status = if now < self.start {
            "pending"
        } else if now < self.end {
            "active"
        } else {
            "expired"
        }
        .into();
        self
    }
}

/// A weekly window from `[[alerting.maintenance]]`.
#[derive(Debug, Clone)]
pub struct Window {
    name: String,
    matchers: Vec<Matcher>,
    /// 0 = Monday.
    days: Vec<u8>,
    start: u32,
    end: u32,
}

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Window {
    /// From the config; the error names the key.
    pub fn new(i: usize, c: &crate::config::MaintenanceConfig) -> Result<Window, String> {
        let p = format!("alerting.maintenance[{i}]");
        let matchers = c
            .matchers
            .iter()
            .map(|m| Matcher::parse(m).map_err(|e| format!("{p}.matchers: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let days = c
            .weekdays
            .iter()
            .map(|d| {
                let d = d.to_ascii_lowercase();
                DAYS.iter()
                    .position(|x| d.starts_with(x))
                    .map(|x| x as u8)
                    .ok_or(format!("{p}.weekdays: {d:?} is not one of mon .. sun"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = |k: &str, v: &str| hhmm(v).ok_or(format!("{p}.{k}: {v:?} is not HH:MM"));
        Ok(Window {
            name: c.name.clone(),
            matchers,
            days,
            start: t("start", &c.start)?,
            end: t("end", &c.end)?,
        })
    }

    /// The occurrence active at `now`, if any, as (start, end).
    fn occurrence(&self, now: Ts) -> Option<(Ts, Ts)> {
        let day = (now / 86400.0).floor();
        let len = if self.end > self.start {
            self.end - self.start
        } else {
            self.end + 1440 - self.start
        };
        // Today's window, or yesterday's running past midnight.
        [day, day - 1.0].into_iter().find_map(|d| {
            let weekday = ((d as i64 + 3).rem_euclid(7)) as u8; // 1970-01-01 was a Thursday.
            if !self.days.is_empty() && !self.days.contains(&weekday) {
                return None;
            }
            let s = d * 86400.0 + f64::from(self.start) * 60.0;
            let e = s + f64::from(len) * 60.0;
            (s <= now && now < e).then_some((s, e))
        })
    }

    /// True when the window is on at `now` and its matchers select `a`.
    pub fn mutes(&self, a: &Alert, now: Ts) -> bool {
        self.occurrence(now).is_some() && self.matchers.iter().all(|m| m.matches(a))
    }

    /// The window as a silence at `now`, when it is on.
    pub fn silence(&self, now: Ts) -> Option<Silence> {
        let (start, end) = self.occurrence(now)?;
        Some(Silence {
            id: format!("maintenance:{}", self.name),
            matchers: self.matchers.clone(),
            starts_at: rfc3339(start),
            ends_at: rfc3339(end),
            comment: format!("maintenance window {:?} (clawwatch.toml)", self.name),
            created_by: "config".into(),
            status: "active".into(),
            start,
            end,
        })
    }
}

/// `silences.json`: versioned; pinned by a literal test.
#[derive(Serialize, Deserialize)]
#[serde(tag = "version")]
enum File {
    #[serde(rename = "1")]
    V1 { silences: Vec<Silence> },
}

/// The silences and the maintenance windows. The dispatcher owns the one
/// that changes (and its file); readers get published copies.
#[derive(Debug, Clone, Default)]
pub struct Silences {
    list: Vec<Silence>,
    windows: Vec<Window>,
}

impl Silences {
    /// From the bytes of `silences.json` (`None`: no file yet).
    pub fn load(bytes: Option<&[u8]>, windows: Vec<Window>) -> Result<Silences, String> {
        let mut list = Vec::new();
        if let Some(b) = bytes {
            let File::V1 { silences } =
                serde_json::from_slice::<File>(b).map_err(|e| e.to_string())?;
            for mut s in silences {
                let ok = s.matchers.iter_mut().all(|m| m.compile().is_ok());
                if let (true, Ok(a), Ok(b)) = (
                    ok,
                    parse_time("startsAt", &s.starts_at),
                    parse_time("endsAt", &s.ends_at),
                ) {
                    (s.start, s.end) = (a, b);
                    list.push(s);
                }
            }
        }
        Ok(Silences { list, windows })
    }

    /// The same silences under other maintenance windows (a reload).
    pub fn with_windows(mut self, windows: Vec<Window>) -> Silences {
        self.windows = windows;
        self
    }

    /// Silences and windows (active ones), newest first.
    pub fn list(&self, now: Ts) -> Vec<Silence> {
        let mut out: Vec<Silence> = self
            .list
            .iter()
            .rev()
            .filter(|s| now - s.end < 86400.0)
            .cloned()
            .map(|s| s.with_status(now))
            .collect();
        out.extend(self.windows.iter().filter_map(|w| w.silence(now)));
        out
    }

    /// True when something mutes `a` at `now`.
    pub fn mutes(&self, a: &Alert, now: Ts) -> bool {
        self.list.iter().any(|s| s.mutes(a, now)) || self.windows.iter().any(|w| w.mutes(a, now))
    }

    /// Silences not yet ended at `now`.
    pub fn live(&self, now: Ts) -> usize {
        self.list.iter().filter(|s| s.end > now).count()
    }

    /// Adds a silence; expired ones older than a day are forgotten.
    pub fn add(&mut self, s: Silence) -> Silence {
        self.list.retain(|x| x.end > s.start - 86400.0);
        self.list.push(s.clone());
        s
    }

    /// Ends a silence now (it stays listed as expired for a day).
    pub fn expire(&mut self, id: &str, now: Ts) -> Result<Silence, SilenceError> {
        let s = self
            .list
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| SilenceError::NotFound(id.into()))?;
        if s.end > now {
            s.end = now;
            s.ends_at = rfc3339(now);
            if s.start > now {
                s.start = now;
                s.starts_at = rfc3339(now);
            }
        }
        Ok(s.clone().with_status(now))
    }

    /// The bytes of `silences.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&File::V1 {
            silences: self.list.clone(),
        })
        .expect("plain data serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(channel: &str) -> Alert {
        Alert {
            name: "OpenClawChannelAuthRequired",
            severity: "critical",
            channel: Some(channel.into()),
            account: Some("default".into()),
            integration: None,
            active_since: 0.0,
            summary: String::new(),
            description: String::new(),
            fix: String::new(),
            runbook: String::new(),
        }
    }

    #[test]
    fn matchers_parse_and_match() {
        let a = alert("whatsapp");
        for (m, want) in [
            ("channel=whatsapp", true),
            ("channel=\"whatsapp\"", true),
            ("channel!=whatsapp", false),
            ("channel=~what.*", true),
            ("channel=~what", false),
            ("channel!~tele.*", true),
            ("alertname=~OpenClaw.+", true),
            ("severity=warning", false),
        ] {
            assert_eq!(Matcher::parse(m).unwrap().matches(&a), want, "{m}");
        }
        assert!(Matcher::parse("chanel=x")
            .unwrap_err()
            .to_string()
            .contains("no label \"chanel\""));
        assert!(Matcher::parse("channel=~(").is_err());
        assert!(Matcher::parse("channel").is_err());
    }

    #[test]
    fn silences_persist_and_expire() {
        let mut s = Silences::load(None, vec![]).unwrap();
        let new = NewSilence {
            matchers: vec![MatcherIn::Text("channel=whatsapp".into())],
            starts_at: None,
            ends_at: None,
            duration: Some("1h".into()),
            comment: "relinking".into(),
            created_by: "me".into(),
            id: None,
        };
        let sil = s.add(new.build(1000.0).unwrap());
        assert!(s.mutes(&alert("whatsapp"), 1000.0));
        assert!(!s.mutes(&alert("telegram"), 1000.0));
        assert!(!s.mutes(&alert("whatsapp"), 4600.0));
        let mut s = Silences::load(Some(&s.to_bytes()), vec![]).unwrap();
        assert_eq!(s.list(2000.0)[0].status, "active");
        s.expire(&sil.id, 2000.0).unwrap();
        assert!(!s.mutes(&alert("whatsapp"), 2000.0));
        let s = Silences::load(Some(&s.to_bytes()), vec![]).unwrap();
        assert_eq!(s.list(2000.0)[0].status, "expired");
        assert!(Silences::load(Some(b"{not json"), vec![]).is_err());
        assert!(matches!(
            Silences::default().expire("nope", 0.0),
            Err(SilenceError::NotFound(_))
        ));
    }

    #[test]
    fn a_silence_past_year_9999_is_refused() {
        let new = |d: &str| NewSilence {
            matchers: vec![MatcherIn::Text("channel=whatsapp".into())],
            starts_at: None,
            ends_at: None,
            duration: Some(d.into()),
            comment: String::new(),
            created_by: String::new(),
            id: None,
        };
        let err = new("8000y").build(1_700_000_000.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the silence would end after 9999-12-31; give a shorter duration"
        );
        let ok = new("10y").build(1_700_000_000.0).unwrap();
        assert_eq!(ok.ends_at, "2033-11-14T10:13:20.000Z");
    }

    #[test]
    fn weekly_window() {
        let w = Window::new(
            0,
            &crate::config::MaintenanceConfig {
                name: "nightly".into(),
                matchers: vec!["channel=whatsapp".into()],
                weekdays: vec!["sun".into()],
                start: "23:30".into(),
                end: "00:30".into(),
            },
        )
        .unwrap();
        // 2026-11-29 is a Sunday.
        let sun = 1_795_910_400.0;
        assert_eq!(rfc3339(sun), "2026-11-29T00:00:00.000Z");
        let at = |h: f64| w.silence(sun + h * 3600.0).is_some();
        assert!(!at(23.0));
        assert!(at(23.5));
        assert!(at(24.25), "runs past midnight into Monday");
        assert!(!at(24.5));
        assert!(!at(-0.25), "Saturday's 23:45 is not in a Sunday window");
    }
}
