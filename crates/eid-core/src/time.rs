//! Time as the core sees it: a [`UnixTime`] the caller passes in (`now`), never read from the
//! clock here (`clippy.toml` forbids `SystemTime::now` outside the server), so every flow can
//! be tested at any moment. Durations stay plain seconds (`i64`): a time plus seconds is a
//! time, a time minus a time is seconds.

use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Serialize};

/// Seconds since 1970-01-01T00:00:00Z, as JWTs (`iat`, `exp`) and the database store them.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(i64);

impl UnixTime {
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    pub const fn secs(self) -> i64 {
        self.0
    }

    /// `2026-12-10 14:00 UTC`: a time as a notice shows it.
    pub fn to_utc_minutes(self) -> String {
        match time::OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            ),
            Err(_) => format!("{} (Unix time)", self.0),
        }
    }
}

impl Add<i64> for UnixTime {
    type Output = Self;
    fn add(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }
}

impl Sub<i64> for UnixTime {
    type Output = Self;
    fn sub(self, secs: i64) -> Self {
        Self(self.0.saturating_sub(secs))
    }
}

/// The seconds from `earlier` to `self` (negative when `earlier` is later).
impl Sub for UnixTime {
    type Output = i64;
    fn sub(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_seconds_add_up() {
        let t = UnixTime::from_secs(1_795_564_800);
        assert_eq!((t + 60).secs(), 1_795_564_860);
        assert_eq!((t + 60) - t, 60);
        assert_eq!(t - (t + 60), -60);
        assert!(t < t + 1);
        assert_eq!(serde_json::json!({ "exp": t + 1 })["exp"], 1_795_564_801);
        assert_eq!(
            UnixTime::from_secs(i64::MAX) + 1,
            UnixTime::from_secs(i64::MAX)
        );
    }
}
