//! The one clock. Every read of the time, wall or monotonic, goes through a
//! [`Clock`] that the wiring hands out, so a test can run a whole sidecar on
//! a fake clock (tokio's paused clock alone does not stop `SystemTime`).
//! Also the plain time helpers ([`Ts`], [`rfc3339`]) the pure core uses.

use std::sync::Arc;

/// Seconds since the epoch, fractional.
pub type Ts = f64;

/// A source of wall and monotonic time; cheap to clone.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    System,
    /// Wall time follows tokio's clock from a fixed start, so pausing or
    /// advancing tokio's clock moves both readings together.
    Fake {
        wall0: Ts,
        mono0: tokio::time::Instant,
    },
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The machine's clocks.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that reads `wall0` now and then moves with tokio's clock
    /// (pause it with `start_paused` to stop time). Make it inside the runtime.
    pub fn fake(wall0: Ts) -> Clock {
        Clock(Arc::new(Source::Fake {
            wall0,
            mono0: tokio::time::Instant::now(),
        }))
    }

    /// Wall clock now.
    pub fn now(&self) -> Ts {
        match &*self.0 {
            Source::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            Source::Fake { wall0, mono0 } => {
                wall0
                    + tokio::time::Instant::now()
                        .saturating_duration_since(*mono0)
                        .as_secs_f64()
            }
        }
    }

    /// Wall clock now, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        (self.now() * 1000.0) as i64
    }

    /// Monotonic now (tokio's, which tests can pause).
    pub fn instant(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }
}

/// Epoch ms from the gateway to seconds.
pub fn ms_to_ts(ms: i64) -> Ts {
    ms as f64 / 1000.0
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ts: Ts) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(ts.max(0.0));
    humantime::format_rfc3339_millis(t).to_string()
}
