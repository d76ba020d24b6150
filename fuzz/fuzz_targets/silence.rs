//! Silence requests and `silences.json` through parsing, building, muting
//! and a save/load round trip.
#![no_main]
use clawwatch::alert::silence::{Matcher, NewSilence, Silences};
use libfuzzer_sys::fuzz_target;

const NOW: f64 = 1_796_083_200.0;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Matcher::parse(text);
    let mut set = Silences::load(Some(data), Vec::new()).unwrap_or_default();
    if let Ok(req) = serde_json::from_str::<NewSilence>(text) {
        match req.build(NOW) {
            Ok(s) => {
                set.add(s);
            }
            Err(e) => {
                let _ = (e.refusal(), e.to_string());
            }
        }
    }
    let bytes = set.to_bytes();
    let again = Silences::load(Some(&bytes), Vec::new()).expect("a saved file loads");
    assert_eq!(again.live(NOW), set.live(NOW), "a save keeps every live silence");
    for s in set.list(NOW) {
        let _ = set.expire(&s.id, NOW + 1.0);
    }
});
