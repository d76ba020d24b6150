//! Gateway frames and the states file, through decoding, the state machine
//! and the `/health/detail` document. First byte: which input it is.
#![no_main]
use clawwatch::model::ChannelsStatus;
use clawwatch::observation::Observation;
use clawwatch::snapshot::{Publisher, Snapshot};
use clawwatch::state::{self, derive::Tuning, Model, StatesFile, Tracker};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::Arc;

const NOW: f64 = 1_796_083_200.0;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kept = if mode % 2 == 1 {
        serde_json::from_str::<StatesFile>(text).unwrap_or_default()
    } else {
        StatesFile::None
    };
    let mut model = Model::new(Tracker::new(Tuning::default(), kept), true, NOW);
    let obs = match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            if let Some(err) = v.get("error") {
                let _ = clawwatch::source::gateway::explain_rpc_error("ws://127.0.0.1:1", err);
            }
            let payload = v.get("payload").unwrap_or(&v);
            let decoded = ChannelsStatus::from_value(payload)
                .or_else(|_| ChannelsStatus::from_health(payload));
            match decoded {
                Ok(mut s) => {
                    s.cap_accounts(64);
                    let _ = s.decode_errors();
                    let _ = s.bad_fields();
                    Observation::Status {
                        status: s,
                        probed: mode & 2 != 0,
                    }
                }
                Err(e) => Observation::Down {
                    kind: clawwatch::model::GatewayErrorKind::MalformedFrame,
                    message: e.0.to_string(),
                },
            }
        }
        Err(_) => return,
    };
    let (mut published, rx) = Publisher::new(Snapshot::new("ws://127.0.0.1:1".into(), NOW));
    for now in [NOW, NOW + 1.0, NOW + 3600.0] {
        let _ = state::step(&mut model, obs.clone(), now);
        published.publish(&model, true, Some(Arc::new(Vec::new())));
    }
    let snap = rx.borrow().clone();
    let doc = clawwatch::server::health_document(&snap, NOW + 3600.0);
    let _ = serde_json::to_string(&doc).unwrap();
    let _ = model.tracker.kept();
});
