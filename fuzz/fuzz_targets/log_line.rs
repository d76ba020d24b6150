//! Log lines through the parser, the built-in and some user rules, and the
//! state machine.
#![no_main]
use clawwatch::config::RuleConfig;
use clawwatch::logs::rules::RuleSet;
use clawwatch::logs::scan::{Counters, Scanner};
use clawwatch::observation::{LogEffect, LogHit, Observation};
use clawwatch::state::{self, derive::Tuning, Model, StatesFile, Tracker};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn rules() -> RuleSet {
    let rule = |name: &str, regex: &str, state: Option<&str>| RuleConfig {
        name: name.into(),
        regex: Some(regex.into()),
        state: state.map(Into::into),
        reason: state.map(|_| "logged_out".into()),
        ..Default::default()
    };
    RuleSet::new(&[
        rule("user_close", r"close code:? 40(04|1[0-4])", None),
        rule("user_out", r"(?i)logged out", Some("auth_required")),
        rule("user_any", r"status (401|408|428|440|499|515)", None),
    ])
    .expect("the fuzz rules compile")
}

fuzz_target!(|data: &[u8]| {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    let mut scanner = Scanner::new(
        RULES.get_or_init(rules).clone(),
        Box::new(|c| clawwatch::logs::parse::KNOWN_CHANNELS.contains(&c)),
    );
    let mut c = Counters::default();
    let mut hits = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let _ = clawwatch::logs::parse::parse(line);
        scanner.line(line, &mut c, |rules, hit, l| {
            let Some(channel) = hit.channel.clone() else {
                return;
            };
            if let Some((s, r)) = rules.state_of(hit, l) {
                hits.push(LogHit {
                    rule: rules.rules[hit.rule].name.clone(),
                    channel,
                    account: hit.account.clone(),
                    effect: LogEffect::State(s, r),
                });
            }
        });
    }
    let _ = scanner.report(&c, 1, 1.0);
    let _ = scanner.table(&c);
    let now = 1_796_083_200.0;
    let mut model = Model::new(Tracker::new(Tuning::default(), StatesFile::None), true, now);
    let _ = state::step(
        &mut model,
        Observation::Logs {
            hits,
            disconnects: Default::default(),
        },
        now,
    );
});
