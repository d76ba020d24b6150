//! The literals every match of a regex must contain, found as ripgrep finds
//! them (regex-syntax's extractor). They join the keywords in the one
//! case-insensitive aho-corasick pass, so a rule's regex runs only on lines
//! that hold one of them.

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Capture, Class, ClassBytes, ClassUnicode, Hir, HirKind, Repetition};

/// Why a regex has no literals to prefilter by: it runs on every line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Slow {
    /// Some match contains no fixed text (`.*`, `\d+`, `^`).
    #[error("some match of it contains no fixed text, so it runs on every line")]
    NoLiteral,
    /// The pattern does not parse (the regex crate reports the error).
    #[error("it does not parse: {0}")]
    Parse(String),
}

/// At least one of these byte strings (compared ASCII case-insensitively)
/// occurs in every text the regex matches.
pub fn required(pattern: &str) -> Result<Vec<Vec<u8>>, Slow> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| Slow::Parse(e.to_string()))?;
    best(&fold_ascii_case(hir)).ok_or(Slow::NoLiteral)
}

/// The best of: every match's prefixes, its suffixes, or the prefixes of one
/// part of a concatenation that every match holds (`.*foo.*`).
fn best(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut candidates = vec![
        extract(ExtractKind::Prefix, hir),
        extract(ExtractKind::Suffix, hir),
    ];
    if let HirKind::Concat(parts) = unwrap_captures(hir).kind() {
        for p in parts {
            candidates.push(extract(ExtractKind::Prefix, p));
        }
    }
    candidates
        .into_iter()
        .flatten()
        // Longer literals hit fewer lines (past 16 bytes, rarely fewer); then
        // fewer patterns.
        .max_by_key(|lits| {
            let shortest = lits.iter().map(Vec::len).min().unwrap_or(usize::MAX);
            (shortest.min(16), std::cmp::Reverse(lits.len()))
        })
}

fn unwrap_captures(mut hir: &Hir) -> &Hir {
    while let HirKind::Capture(c) = hir.kind() {
        hir = &c.sub;
    }
    hir
}

/// A finite set of non-empty literals, or `None`. A finite empty set means
/// the regex matches nothing, which is a valid (never hitting) prefilter.
fn extract(kind: ExtractKind, hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let mut seq: Seq = Extractor::new().kind(kind).extract(hir);
    seq.dedup();
    let lits = seq.literals()?;
    if lits.iter().any(|l| l.is_empty()) {
        return None;
    }
    let mut out: Vec<Vec<u8>> = lits
        .iter()
        .map(|l| l.as_bytes().to_ascii_lowercase())
        .collect();
    out.sort();
    out.dedup();
    Some(out)
}

/// Drops from each small class the ASCII capitals whose small letter it
/// holds: the pass ignores ASCII case, and `(?i)disconnect` then reads as
/// one literal instead of 1,024 spellings the extractor would cut short.
fn fold_ascii_case(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Class(Class::Unicode(c)) => Hir::class(Class::Unicode(fold_unicode(c))),
        HirKind::Class(Class::Bytes(c)) => Hir::class(Class::Bytes(fold_bytes(c))),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(fold_ascii_case(*r.sub)),
            ..r
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(fold_ascii_case(*c.sub)),
            ..c
        }),
        HirKind::Concat(v) => Hir::concat(v.into_iter().map(fold_ascii_case).collect()),
        HirKind::Alternation(v) => Hir::alternation(v.into_iter().map(fold_ascii_case).collect()),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Look(l) => Hir::look(l),
    }
}

/// Classes this size or smaller are case spellings worth folding.
const SMALL: u32 = 4;

fn fold_unicode(c: ClassUnicode) -> ClassUnicode {
    let size: u32 = c.ranges().iter().map(|r| r.len() as u32).sum();
    if size > SMALL {
        return c;
    }
    let chars: Vec<char> = c.iter().flat_map(|r| r.start()..=r.end()).collect();
    let kept = chars
        .iter()
        .filter(|ch| !(ch.is_ascii_uppercase() && chars.contains(&ch.to_ascii_lowercase())));
    ClassUnicode::new(kept.map(|&ch| regex_syntax::hir::ClassUnicodeRange::new(ch, ch)))
}

fn fold_bytes(c: ClassBytes) -> ClassBytes {
    let size: u32 = c.ranges().iter().map(|r| r.len() as u32).sum();
    if size > SMALL {
        return c;
    }
    let bytes: Vec<u8> = c.iter().flat_map(|r| r.start()..=r.end()).collect();
    let kept = bytes
        .iter()
        .filter(|b| !(b.is_ascii_uppercase() && bytes.contains(&b.to_ascii_lowercase())));
    ClassBytes::new(kept.map(|&b| regex_syntax::hir::ClassBytesRange::new(b, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &str) -> Vec<String> {
        required(p)
            .unwrap()
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
    }

    #[test]
    fn the_benchmark_rules_reduce_to_literals() {
        // Unicode case folding adds the long s and the Kelvin sign.
        assert_eq!(lits("(?i)disconnect"), ["disconnect", "di\u{17f}connect"]);
        assert_eq!(
            lits("(?i)relink|channels login"),
            [
                "channels login",
                "channel\u{17f} login",
                "relink",
                "relin\u{212a}"
            ]
        );
        assert_eq!(lits("(?i-u)relink"), ["relink"]);
        assert_eq!(
            lits("status (401|408|428|440|499|515)"),
            [
                "status 401",
                "status 408",
                "status 428",
                "status 440",
                "status 499",
                "status 515"
            ]
        );
        assert_eq!(
            lits("auto-restart attempt [0-9]+/[0-9]+"),
            ["auto-restart attempt "]
        );
        assert_eq!(lits(r".*giving up.*"), ["giving up"]);
        assert_eq!(lits(r"\d+ ms late"), [" ms late"]);
    }

    #[test]
    fn regexes_without_fixed_text_are_slow() {
        for p in [".*", r"\d+", "^", "a?", "(?i)x*|y", r"\w{3,}"] {
            assert_eq!(required(p), Err(Slow::NoLiteral), "{p}");
        }
        assert!(matches!(required("("), Err(Slow::Parse(_))));
    }
}
