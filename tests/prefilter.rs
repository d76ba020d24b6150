//! The literal prefilter never changes what a rule matches: each regex run
//! plainly on every line and through the rule set's one keyword pass must
//! agree on every line of the real fixtures and of generated lines.

use clawwatch::logs::parse::{parse, KNOWN_CHANNELS};
use clawwatch::logs::rules::{Effect, Rule, RuleSet};
use proptest::prelude::*;
use regex::bytes::Regex;

/// The ten user rules of the speed benchmark, and harder ones.
const RULES: &[&str] = &[
    "(?i)disconnect",
    "(?i)logged out",
    "(?i)relink|channels login",
    "(?i)reconnect scheduled",
    "close code:? 40(04|1[0-4])",
    "(?i)unauthorized",
    "(?i)polling stall",
    "auto-restart attempt [0-9]+/[0-9]+",
    "(?i)giving up|max attempts reached",
    "status (401|408|428|440|499|515)",
    r".*\bgateway\b.*closed",
    r"(?i)(web)?socket (closed|error)\s*:?\s*\d{4}",
    r"\d+ ?ms",
    r"(?i)[a-z]+ failed \(\d+\)",
    r"(?i)ſtall|KELVIN",
    r"(?-u:(?i)\xff|abc)",
    r"^\[[a-z]+\]",
    r"(?i)q(r|uit)\b",
    ".*",
    "x?",
];

fn one_rule(pattern: &str) -> (Regex, RuleSet) {
    let re = Regex::new(pattern).unwrap();
    let rs = RuleSet::from_rules(vec![Rule {
        name: "r".into(),
        keywords: vec![],
        regex: Some(re.clone()),
        level: None,
        channel: None,
        effect: Effect::Count,
    }])
    .unwrap();
    (re, rs)
}

/// Lines where the regex matches: (plainly, through the rule set).
fn counts(pattern: &str, lines: &[Vec<u8>]) -> (usize, usize) {
    let (re, rs) = one_rule(pattern);
    let known = |c: &str| KNOWN_CHANNELS.contains(&c);
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    let (mut plain, mut through) = (0, 0);
    for l in lines {
        let line = parse(l);
        let a = re.is_match(&line.message);
        rs.matches(&line, &known, &mut scratch, &mut out);
        let b = !out.is_empty();
        assert_eq!(
            a,
            b,
            "{pattern:?} on {:?}",
            String::from_utf8_lossy(&line.message)
        );
        plain += a as usize;
        through += b as usize;
    }
    (plain, through)
}

fn fixture_lines() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openclaw");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .chain(std::fs::read_dir(format!("{dir}/sequences")).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy().ends_with(".jsonl") || p.to_string_lossy().ends_with(".log")
        })
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read(f)
                .unwrap()
                .split(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn every_rule_matches_the_same_fixture_lines_with_and_without_the_prefilter() {
    let lines = fixture_lines();
    assert!(lines.len() > 1500, "{} lines", lines.len());
    let mut total = 0;
    for p in RULES {
        let (plain, through) = counts(p, &lines);
        assert_eq!(plain, through, "{p}");
        total += plain;
    }
    // The fixtures do hold matches: a prefilter that dropped them would show.
    let (disconnect, _) = counts("(?i)disconnect", &lines);
    assert!(disconnect > 0 && total > disconnect, "{disconnect} {total}");
}

#[test]
fn only_regexes_without_fixed_text_are_slow() {
    let slow: Vec<&str> = RULES
        .iter()
        .copied()
        .filter(|p| one_rule(p).1.slow().count() > 0)
        .collect();
    // `^\[[a-z]+\]` is prefiltered by "[": weak, but not every line.
    assert_eq!(slow, [".*", "x?"]);
}

/// Pieces of lines: the rules' words in any case, Unicode case folds
/// (long s, Kelvin, dotted I), digits, separators and JSON escapes.
fn token() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "disconnect",
        "logged out",
        "relink",
        "channels login",
        "reconnect scheduled",
        "close code",
        "close code: ",
        "40",
        "4014",
        "4004",
        "unauthorized",
        "polling stall",
        "auto-restart attempt ",
        "/",
        "giving up",
        "max attempts reached",
        "status ",
        "401",
        "515",
        "gateway",
        "closed",
        "websocket",
        "socket error",
        "failed (",
        ")",
        "ms",
        "qr",
        "quit",
        "ſ",
        "K",
        "İ",
        "é",
        "\u{0}",
        "\n",
        "\\",
        "\"",
        " ",
        ":",
        "[",
        "]",
        "abc",
        "\u{ff}",
    ]);
    (words, any::<u32>(), 0u32..10).prop_map(|(w, flips, n)| {
        let w: String = w
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if flips >> (i % 32) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        if n == 0 {
            format!("{w}{flips}")
        } else {
            w
        }
    })
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(token(), 0..12), any::<bool>()).prop_map(|(parts, json)| {
        let text = parts.concat();
        if json {
            serde_json::json!({ "0": "{\"subsystem\":\"gateway\"}", "message": text })
                .to_string()
                .into_bytes()
        } else {
            text.into_bytes()
        }
    })
}

/// Small regexes over the same words: alternations, classes, repeats,
/// groups and case flags.
fn pattern() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "disconnect",
        "logged out",
        "close code",
        "40",
        "status ",
        "giving up",
        "ſ",
        "K",
        "é",
        "a",
        r"\d",
        "[0-9]",
        ".",
        r"\s",
        r"\b",
        "[a-c]",
        "[Qq]",
        r"\(",
        "x",
    ])
    .prop_map(str::to_owned);
    let tree = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| format!("(?:{})", v.join("|"))),
            (
                inner.clone(),
                prop::sample::select(vec!["?", "*", "+", "{1,3}", "{2}"])
            )
                .prop_map(|(s, q)| format!("(?:{s}){q}")),
            inner.clone().prop_map(|s| format!("(?i:{s})")),
            inner.prop_map(|s| format!("({s})")),
        ]
    });
    (tree, any::<bool>()).prop_map(|(t, ci)| if ci { format!("(?i){t}") } else { t })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn generated_rules_on_generated_lines_agree(
        p in pattern(),
        lines in prop::collection::vec(line(), 1..48),
    ) {
        let (plain, through) = counts(&p, &lines);
        prop_assert_eq!(plain, through);
    }

    #[test]
    fn the_benchmark_rules_on_generated_lines_agree(
        lines in prop::collection::vec(line(), 1..64),
    ) {
        for p in RULES {
            let (plain, through) = counts(p, &lines);
            prop_assert_eq!(plain, through);
        }
    }
}
