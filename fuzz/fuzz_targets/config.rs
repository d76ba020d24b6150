//! Config text through parsing and full validation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match clawwatch::config::parse(text) {
        Ok(cfg) => {
            for p in clawwatch::app::validate(&cfg, true) {
                let _ = p.to_string();
            }
            let _ = clawwatch::app::tuning(&cfg.states);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
