//! Rate limits on what anonymous callers and applicants can repeat: fixed windows counted in
//! the store, so that every node of a deployment counts together.
//!
//! Buckets are named after a keyed hash of what they count (a client address, an HKID number),
//! never the value itself.

use std::net::IpAddr;
use std::str::FromStr;

use crate::crypto::b64url;
use crate::{Error, Provider};

/// At most `max` events per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u64,
    pub window_secs: i64,
}

impl RateLimit {
    pub const fn new(max: u64, window_secs: i64) -> Self {
        Self { max, window_secs }
    }
}

impl FromStr for RateLimit {
    type Err = String;

    /// `5/1d`, `30/1h`, `100/10m`, `10/30s`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a rate like 5/1d, 30/1h, 100/10m or 10/30s");
        let (max, window) = s.trim().split_once('/').ok_or_else(bad)?;
        let max: u64 = max.trim().parse().map_err(|_| bad())?;
        let window = window.trim();
        let (count, unit) = window.split_at(window.len().saturating_sub(1));
        let count: i64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad())?
        };
        let unit = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        if max == 0 || count <= 0 {
            return Err(bad());
        }
        Ok(Self::new(max, count.saturating_mul(unit)))
    }
}

/// The limits a deployment enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Remote proofing attempts on one application.
    pub proofing_per_application: RateLimit,
    /// Remote proofing attempts naming one HKID number, over all applications.
    pub proofing_per_hkid: RateLimit,
    /// Remote proofing attempts from one client address.
    pub proofing_per_address: RateLimit,
    /// Applications made from one client address.
    pub applications_per_address: RateLimit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            proofing_per_application: RateLimit::new(5, 86_400),
            proofing_per_hkid: RateLimit::new(10, 86_400),
            proofing_per_address: RateLimit::new(30, 3_600),
            applications_per_address: RateLimit::new(20, 3_600),
        }
    }
}

/// Who is calling, as far as the server can tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caller {
    /// The client's address (the peer, or the first untrusted hop behind trusted proxies).
    pub address: Option<IpAddr>,
}

impl Caller {
    pub fn from_address(address: IpAddr) -> Self {
        Self {
            address: Some(address),
        }
    }
}

impl Provider {
    /// Counts one event against `limit` in the bucket `kind` of `subject`; refuses when the
    /// window is full.
    pub(crate) fn limit(
        &self,
        kind: &'static str,
        subject: &[u8],
        limit: RateLimit,
        now: i64,
    ) -> Result<(), Error> {
        let bucket = format!(
            "{kind}:{}",
            b64url(&self.derived.limits.hash(&[kind.as_bytes(), subject])[..18])
        );
        let count = self.store.hit(&bucket, limit.window_secs, now)?;
        if count.hits > limit.max {
            let retry_after = (count.window_start + limit.window_secs - now).max(1);
            tracing::warn!(bucket = kind, retry_after, "rate limit reached");
            return Err(Error::RateLimited {
                what: kind,
                retry_after: retry_after.unsigned_abs(),
            });
        }
        Ok(())
    }

    /// Counts one event from the caller's address, if the server knows it.
    pub(crate) fn limit_address(
        &self,
        kind: &'static str,
        caller: &Caller,
        limit: RateLimit,
        now: i64,
    ) -> Result<(), Error> {
        match caller.address {
            Some(address) => self.limit(kind, address.to_string().as_bytes(), limit, now),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!("5/1d".parse(), Ok(RateLimit::new(5, 86_400)));
        assert_eq!("30/h".parse(), Ok(RateLimit::new(30, 3_600)));
        assert_eq!(" 100 / 10m ".parse(), Ok(RateLimit::new(100, 600)));
        assert_eq!("10/30s".parse(), Ok(RateLimit::new(10, 30)));
        for bad in ["", "5", "0/1d", "5/0d", "5/1w", "x/1d", "5/-1d", "5/d1"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }
}
