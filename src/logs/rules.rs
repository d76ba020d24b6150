//! Log rules: built-in and `[[rules]]`. One aho-corasick pass over the
//! decoded message finds every keyword of every rule, and for a rule with a
//! regex and no keywords the literals its matches must hold
//! ([`super::prefilter`]); a regex runs only for rules whose patterns hit.
//! Most lines cost one scan. A regex without such literals runs on every
//! line and is reported by [`RuleSet::slow`].

use super::parse::{attribute, Level, Line};
use super::prefilter::{self, Slow};
use crate::config::RuleConfig;
use crate::model::{Reason, State};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::Regex;

/// What a match does besides being counted.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Counted only.
    Count,
    /// Puts the attributed account into a state before the next poll.
    State(State, Reason),
    /// Discord close code in the text decides the state (4014, 4004, ...).
    DiscordClose,
    /// A socket reconnect the gateway's counters do not show.
    Reconnect,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Label value.
    pub name: String,
    /// Case-insensitive keywords; any one matches.
    pub keywords: Vec<String>,
    /// Must also match when set.
    pub regex: Option<Regex>,
    /// Only lines of this level.
    pub level: Option<Level>,
    /// Only lines attributed to this channel.
    pub channel: Option<String>,
    /// What a match does.
    pub effect: Effect,
}

/// A rule that matched a line, with the line's attribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Index into [`RuleSet::rules`].
    pub rule: usize,
    /// Attributed channel.
    pub channel: Option<String>,
    /// Attributed account.
    pub account: Option<String>,
}

/// Why a rule could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Bad regex.
    #[error("rules[{index}].regex: {message}")]
    Regex {
        /// Position in `[[rules]]`.
        index: usize,
        /// What the regex parser said.
        message: String,
    },
    /// Keyword automaton.
    #[error("rules: cannot build the keyword matcher: {0}")]
    Keywords(String),
}

fn rule(
    name: &str,
    keywords: &[&str],
    regex: Option<&str>,
    channel: Option<&str>,
    effect: Effect,
) -> Rule {
    Rule {
        name: name.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        regex: regex.map(|r| Regex::new(r).expect("built-in regex is valid")),
        level: None,
        channel: channel.map(str::to_owned),
        effect,
    }
}

/// The built-in rules.
pub fn builtin() -> Vec<Rule> {
    vec![
        // The article's keyword, exactly as users grep it.
        rule("disconnect", &["disconnect"], None, None, Effect::Count),
        rule(
            "connection_closed",
            &["websocket closed", "connection closed"],
            None,
            None,
            Effect::Count,
        ),
        rule(
            "auth_required",
            &[
                "unauthorized",
                "qr code",
                "scan the qr",
                "returned 401",
                "returned 404",
                "failed (401)",
                "relink",
                "re-authenticate",
            ],
            None,
            None,
            Effect::Count,
        ),
        rule(
            "logged_out",
            &["logged out"],
            None,
            Some("whatsapp"),
            Effect::State(State::AuthRequired, Reason::LoggedOut),
        ),
        rule(
            "token_rejected",
            &[
                "bot token unauthorized",
                "channel exited: unauthorized",
                "fatal gateway close code: 4004",
            ],
            None,
            None,
            Effect::State(State::AuthRequired, Reason::AuthFailed),
        ),
        rule(
            "discord_close_code",
            &["close code", "closed with code", "websocket closed"],
            Some(r"(?i)(?:close code:?|closed with code|websocket closed:?) (\d{4})"),
            Some("discord"),
            Effect::DiscordClose,
        ),
        rule(
            "telegram_getupdates",
            &[
                "getupdates conflict",
                "polling stall detected",
                "'getupdates' failed",
                "getupdates failed",
            ],
            None,
            Some("telegram"),
            Effect::Count,
        ),
        rule(
            "reconnect_scheduled",
            &[
                "reconnect scheduled",
                "auto-restart attempt",
                "scheduling retry",
            ],
            None,
            None,
            Effect::Reconnect,
        ),
    ]
}

/// Compiled rules.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Built-in rules first, then `[[rules]]`.
    pub rules: Vec<Rule>,
    ac: AhoCorasick,
    pattern_rule: Vec<usize>,
    always: Vec<usize>,
    slow: Vec<(usize, Slow)>,
}

impl RuleSet {
    /// Built-in rules plus the configured ones.
    pub fn new(config: &[RuleConfig]) -> Result<RuleSet, RuleError> {
        let mut rules = builtin();
        for (index, r) in config.iter().enumerate() {
            let regex = r
                .regex
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| RuleError::Regex {
                    index,
                    message: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                })?;
            let effect = match (
                r.state.as_deref().and_then(State::parse),
                r.reason.as_deref().and_then(Reason::parse),
            ) {
                (Some(s), reason) => Effect::State(s, reason.unwrap_or(Reason::Unknown)),
                _ => Effect::Count,
            };
            rules.push(Rule {
                name: r.name.clone(),
                keywords: r.keywords.clone(),
                regex,
                level: r.level.as_deref().map(|l| Level::parse(l.as_bytes())),
                channel: r.channel.clone(),
                effect,
            });
        }
        RuleSet::from_rules(rules)
    }

    /// Compiles a list of rules.
    pub fn from_rules(rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        let mut patterns = Vec::new();
        let mut pattern_rule = Vec::new();
        let mut always = Vec::new();
        let mut slow = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let mut add = |p: Vec<u8>| {
                patterns.push(p);
                pattern_rule.push(i);
            };
            match (&r.regex, r.keywords.is_empty()) {
                (_, false) => r.keywords.iter().for_each(|k| add(k.as_bytes().to_vec())),
                (Some(re), true) => match prefilter::required(re.as_str()) {
                    Ok(lits) => lits.into_iter().for_each(add),
                    Err(why) => {
                        always.push(i);
                        slow.push((i, why));
                    }
                },
                (None, true) => always.push(i),
            }
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| RuleError::Keywords(e.to_string()))?;
        Ok(RuleSet {
            rules,
            ac,
            pattern_rule,
            always,
            slow,
        })
    }

    /// Rules whose regex runs on every line, by name, and why.
    pub fn slow(&self) -> impl Iterator<Item = (&str, &Slow)> {
        self.slow
            .iter()
            .map(|(i, why)| (self.rules[*i].name.as_str(), why))
    }

    /// Rules that match `line`; `known` tells channel ids apart.
    /// `scratch` is a reusable buffer of per-rule flags.
    pub fn matches(
        &self,
        line: &Line<'_>,
        known: &dyn Fn(&str) -> bool,
        scratch: &mut Vec<bool>,
        out: &mut Vec<Hit>,
    ) {
        out.clear();
        scratch.clear();
        scratch.resize(self.rules.len(), false);
        let mut any = false;
        for m in self.ac.find_overlapping_iter(&line.message[..]) {
            scratch[self.pattern_rule[m.pattern().as_usize()]] = true;
            any = true;
        }
        for &i in &self.always {
            scratch[i] = true;
            any = true;
        }
        if !any {
            return;
        }
        let mut attribution: Option<(Option<String>, Option<String>)> = None;
        for (i, r) in self.rules.iter().enumerate() {
            if !scratch[i] || r.level.is_some_and(|l| l != line.level) {
                continue;
            }
            if let Some(re) = &r.regex {
                if !re.is_match(&line.message) {
                    continue;
                }
            }
            let (ch, acct) = attribution
                .get_or_insert_with(|| attribute(line, known))
                .clone();
            if r.channel
                .as_deref()
                .is_some_and(|want| ch.as_deref() != Some(want))
            {
                continue;
            }
            out.push(Hit {
                rule: i,
                channel: ch,
                account: acct,
            });
        }
    }

    /// The state a hit implies, if any.
    pub fn state_of(&self, hit: &Hit, line: &Line<'_>) -> Option<(State, Reason)> {
        match &self.rules[hit.rule].effect {
            Effect::State(s, r) => Some((*s, *r)),
            Effect::DiscordClose => {
                let re = self.rules[hit.rule].regex.as_ref()?;
                let code: i64 = std::str::from_utf8(re.captures(&line.message)?.get(1)?.as_bytes())
                    .ok()?
                    .parse()
                    .ok()?;
                match crate::state::derive::discord_close(code)? {
                    Reason::AuthFailed => Some((State::AuthRequired, Reason::AuthFailed)),
                    r @ (Reason::DisallowedIntents | Reason::Protocol) => Some((State::Error, r)),
                    _ => None,
                }
            }
            Effect::Count | Effect::Reconnect => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::parse::{parse, KNOWN_CHANNELS};

    fn hits(rs: &RuleSet, line: &[u8]) -> Vec<(String, Option<String>)> {
        let known = |c: &str| KNOWN_CHANNELS.contains(&c);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        let l = parse(line);
        rs.matches(&l, &known, &mut scratch, &mut out);
        out.iter()
            .map(|h| (rs.rules[h.rule].name.clone(), h.channel.clone()))
            .collect()
    }

    #[test]
    fn discord_4014_line() {
        let rs = RuleSet::new(&[]).unwrap();
        let line = br#"{"0":"{\"subsystem\":\"channels/discord\"}","1":"discord: gateway closed with code 4014 (missing privileged gateway intents).","_meta":{"logLevelName":"ERROR"},"message":"discord: gateway closed with code 4014 (missing privileged gateway intents)."}"#;
        assert_eq!(
            hits(&rs, line),
            vec![(
                "discord_close_code".to_string(),
                Some("discord".to_string())
            )]
        );
        let l = parse(line);
        let known = |c: &str| KNOWN_CHANNELS.contains(&c);
        let (mut s, mut out) = (Vec::new(), Vec::new());
        rs.matches(&l, &known, &mut s, &mut out);
        assert_eq!(
            rs.state_of(&out[0], &l),
            Some((State::Error, Reason::DisallowedIntents))
        );
    }

    #[test]
    fn config_rules_with_regex_and_filters() {
        let cfg = vec![
            RuleConfig {
                name: "whatsapp-qr".into(),
                keywords: vec!["QR".into()],
                channel: Some("whatsapp".into()),
                ..Default::default()
            },
            RuleConfig {
                name: "fatal".into(),
                regex: Some(
                    "(close code:?|closed with code|websocket closed:) 40(04|1[0-4])".into(),
                ),
                ..Default::default()
            },
            RuleConfig {
                name: "errors".into(),
                keywords: vec!["failed".into()],
                level: Some("error".into()),
                ..Default::default()
            },
        ];
        let rs = RuleSet::new(&cfg).unwrap();
        assert_eq!(
            hits(&rs, b"Gateway websocket closed: 4014"),
            vec![
                ("connection_closed".to_string(), None),
                ("fatal".to_string(), None)
            ]
        );
        assert!(hits(
            &rs,
            br#"{"0":"{\"subsystem\":\"channels/telegram\"}","message":"scan the QR"}"#
        )
        .iter()
        .all(|(n, _)| n != "whatsapp-qr"));
        assert!(hits(
            &rs,
            br#"{"_meta":{"logLevelName":"INFO"},"message":"x failed"}"#
        )
        .is_empty());
        assert_eq!(
            hits(
                &rs,
                br#"{"_meta":{"logLevelName":"ERROR"},"message":"x failed"}"#
            ),
            vec![("errors".to_string(), None)]
        );
        let bad = RuleSet::new(&[RuleConfig {
            name: "b".into(),
            regex: Some("(".into()),
            ..Default::default()
        }])
        .unwrap_err();
        assert!(bad.to_string().starts_with("rules[0].regex: "), "{bad}");
    }
}
