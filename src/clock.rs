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

/// The latest time accepted from outside (gateway, files, API), epoch ms:
/// 9999-12-31T23:59:59.999Z, the last instant RFC 3339 can write.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// The latest time accepted from outside, epoch seconds.
pub const MAX_TS: Ts = MAX_EPOCH_MS as f64 / 1000.0;

/// An outside epoch-ms time if it lies in 1970..=9999, else `None`.
pub fn checked_ms(ms: i64) -> Option<i64> {
    (0..=MAX_EPOCH_MS).contains(&ms).then_some(ms)
}

/// An outside epoch-seconds time if it lies in 1970..=9999, else `None`.
pub fn checked_ts(ts: Ts) -> Option<Ts> {
    (0.0..=MAX_TS).contains(&ts).then_some(ts)
}

/// Epoch ms from the gateway to seconds.
pub fn ms_to_ts(ms: i64) -> Ts {
    ms as f64 / 1000.0
}

/// RFC 3339 with milliseconds, UTC. Total: a time outside 1970..=9999 (or
/// not a number) is written as the nearest end of that range.
pub fn rfc3339(ts: Ts) -> String {
    if ts >= MAX_TS {
        return "9999-12-31T23:59:59.999Z".into();
    }
    let ts = if ts.is_nan() { 0.0 } else { ts.max(0.0) };
    let d = std::time::Duration::try_from_secs_f64(ts).unwrap_or_default();
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + d).to_string()
}

/// Parses RFC 3339 (1970 on) so that [`rfc3339`] writes the same
/// millisecond back: it truncates, and the nearest f64 of a millisecond may
/// lie just below it, so half a microsecond is added.
pub fn parse_rfc3339(s: &str) -> Result<Ts, humantime::TimestampError> {
    let t = humantime::parse_rfc3339_weak(s)?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        + 5e-7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rfc3339_round_trips_every_millisecond() {
        for ms in 0..2000u64 {
            let text = rfc3339(1_796_664_958.0 + ms as f64 / 1000.0 + 1e-4);
            let ts = parse_rfc3339(&text).unwrap();
            assert_eq!(rfc3339(ts), text);
        }
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
        assert!(parse_rfc3339("soon").is_err());
    }

    #[test]
    fn rfc3339_is_total() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1.5), "1970-01-01T00:00:01.500Z");
        for far in [1e20, f64::INFINITY, MAX_TS + 1.0] {
            assert_eq!(rfc3339(far), "9999-12-31T23:59:59.999Z");
        }
        for before in [-1.0, f64::NEG_INFINITY, f64::NAN] {
            assert_eq!(rfc3339(before), "1970-01-01T00:00:00.000Z");
        }
    }

    #[test]
    fn outside_times_are_range_checked() {
        assert_eq!(checked_ms(MAX_EPOCH_MS), Some(MAX_EPOCH_MS));
        assert_eq!(checked_ms(MAX_EPOCH_MS + 1), None);
        assert_eq!(checked_ms(-1), None);
        assert_eq!(checked_ts(1.0e12), None);
        assert_eq!(checked_ts(f64::NAN), None);
        assert_eq!(checked_ts(1_700_000_000.0), Some(1_700_000_000.0));
    }
}
