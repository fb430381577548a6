//! Rate limits on what anonymous callers, applicants and citizens can repeat, in fixed windows.
//!
//! Two counters, for two kinds of endpoint:
//! - [`Provider::limit`]: counted in the store, so that every node of a deployment counts
//!   together. For what is rare and costly to abuse: applications, proofing attempts (a write
//!   per attempt is nothing next to a registry query). Some of these count failures only:
//!   [`Provider::refuse_if_full`] checks the window before the attempt, and
//!   [`Provider::count`] counts the attempt once it failed.
//! - [`Provider::limit_here`]: counted in this process's memory ([`LocalLimiter`]). For what
//!   every login passes through (authorization requests, login pages, the phone's requests),
//!   where a database write per hit would cost more than the login. Each node counts alone:
//!   behind a balancer that spreads one address over N nodes, an address gets up to N times the
//!   limit (operations guide: divide, or balance by address).
//!
//! Buckets are named after a keyed hash of what they count (a client address, an HKID number,
//! an account), never the value itself. IPv6 addresses count by their /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;

use parking_lot::Mutex;

use crate::crypto::b64url;
use crate::store::WindowCount;
use crate::time::UnixTime;
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
        // The unit is the last character, whatever its width (a non-ASCII one is refused
        // below, not split inside).
        let unit_len = window.chars().last().map_or(0, char::len_utf8);
        let (count, unit) = window.split_at(window.len() - unit_len);
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
    /// Failed remote proofing attempts on one application.
    pub proofing_per_application: RateLimit,
    /// Failed remote proofing attempts by one device (its credential), over all the
    /// applications it made.
    pub proofing_per_device: RateLimit,
    /// Failed remote proofing attempts from one client address.
    pub proofing_failures_per_address: RateLimit,
    /// Failed remote proofing attempts naming one HKID number, over all applicants: an alert
    /// threshold, never a refusal (anyone can name a number; strangers' failures must not lock
    /// its holder out).
    pub proofing_per_hkid: RateLimit,
    /// Remote proofing challenges from one client address.
    pub proofing_per_address: RateLimit,
    /// Applications made from one client address.
    pub applications_per_address: RateLimit,
    /// Authorization requests from one client address (each starts a login that waits for a
    /// phone: with the window as long as the approval window, this bounds the logins one
    /// address has pending).
    pub authorize_per_address: RateLimit,
    /// Authorization requests naming one relying party, from anywhere.
    pub authorize_per_client: RateLimit,
    /// Login page loads, status polls and QR refreshes from one client address.
    pub login_pages_per_address: RateLimit,
    /// Phones' reads and answers of login requests from one client address.
    pub approvals_per_address: RateLimit,
    /// Answers to login requests by one account's devices.
    pub approvals_per_account: RateLimit,
    /// Wallet session challenges and device-link redemptions from one client address.
    pub sessions_per_address: RateLimit,
    /// Dynamic client registrations from one client address.
    pub registrations_per_address: RateLimit,
    /// Signing requests one service makes to one citizen (each buzzes the citizen's phone).
    pub signing_requests_per_citizen: RateLimit,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            proofing_per_application: RateLimit::new(5, 86_400),
            proofing_per_device: RateLimit::new(5, 86_400),
            proofing_failures_per_address: RateLimit::new(20, 3_600),
            proofing_per_hkid: RateLimit::new(10, 86_400),
            proofing_per_address: RateLimit::new(30, 3_600),
            applications_per_address: RateLimit::new(20, 3_600),
            authorize_per_address: RateLimit::new(30, 120),
            authorize_per_client: RateLimit::new(3_000, 60),
            login_pages_per_address: RateLimit::new(600, 60),
            approvals_per_address: RateLimit::new(120, 60),
            approvals_per_account: RateLimit::new(30, 600),
            sessions_per_address: RateLimit::new(60, 60),
            registrations_per_address: RateLimit::new(20, 3_600),
            signing_requests_per_citizen: RateLimit::new(20, 600),
        }
    }
}

/// Who is calling, as far as the server can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The client's address (the peer, or the first untrusted hop behind trusted proxies).
    pub address: Option<IpAddr>,
    /// The `User-Agent` it sent (a login request shows the browser to the phone).
    pub user_agent: Option<String>,
}

impl Caller {
    pub fn from_address(address: IpAddr) -> Self {
        Self {
            address: Some(address),
            user_agent: None,
        }
    }
}

/// What an address counts as: itself for IPv4, its /64 for IPv6 (one customer's network).
pub fn address_key(address: IpAddr) -> Vec<u8> {
    match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..8].to_vec(),
        },
    }
}

/// A window's count in memory.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: UnixTime,
    hits: u64,
    ends: UnixTime,
}

/// Fixed-window counters in this process's memory, in shards, with a bound on how many
/// buckets it keeps (past it, windows that ended are dropped; if none had, a new bucket is not
/// counted: the limiter fails open rather than refusing everyone).
pub struct LocalLimiter {
    shards: Vec<Mutex<HashMap<[u8; 16], Window>>>,
    max_per_shard: usize,
}

impl LocalLimiter {
    /// Keeps at most `max_buckets` buckets.
    pub fn new(max_buckets: usize) -> Self {
        let shards = 16;
        Self {
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            max_per_shard: max_buckets.div_ceil(shards).max(1),
        }
    }

    /// Counts a hit on `bucket`; `Err(retry_after)` when its window is full.
    fn hit(&self, bucket: [u8; 16], limit: RateLimit, now: UnixTime) -> Result<(), u64> {
        let mut shard = self.shards[usize::from(bucket[0]) % self.shards.len()].lock();
        if !shard.contains_key(&bucket) && shard.len() >= self.max_per_shard {
            shard.retain(|_, w| w.ends > now);
            if shard.len() >= self.max_per_shard {
                tracing::warn!(target: "eid::security", event = "rate_limiter_full", "rate limiter full: a new address is not counted");
                return Ok(());
            }
        }
        let window = shard.entry(bucket).or_insert(Window {
            start: now,
            hits: 0,
            ends: now + limit.window_secs,
        });
        if window.ends <= now {
            *window = Window {
                start: now,
                hits: 0,
                ends: now + limit.window_secs,
            };
        }
        window.hits += 1;
        if window.hits > limit.max {
            return Err(((window.start + limit.window_secs) - now)
                .max(1)
                .unsigned_abs());
        }
        Ok(())
    }

    /// Drops the windows that ended.
    pub fn purge(&self, now: UnixTime) {
        for shard in &self.shards {
            shard.lock().retain(|_, w| w.ends > now);
        }
    }

    /// How many buckets are kept.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Provider {
    /// Counts one event against `limit` in this process's memory (see the module's docs), in
    /// the bucket `kind` of `subject`; refuses when the window is full.
    pub fn limit_here(
        &self,
        kind: &'static str,
        subject: &[u8],
        limit: RateLimit,
        now: UnixTime,
    ) -> Result<(), Error> {
        let mut bucket = [0u8; 16];
        bucket.copy_from_slice(&self.derived.limits.hash(&[kind.as_bytes(), subject])[..16]);
        self.local_limits
            .hit(bucket, limit, now)
            .map_err(|retry_after| {
                tracing::warn!(target: "eid::security", event = "rate_limited", limit = kind, retry_after, "rate limit reached");
                Error::RateLimited {
                    what: kind,
                    retry_after,
                }
            })
    }

    /// [`Provider::limit_here`] for the caller's address, if the server knows it.
    pub fn limit_address_here(
        &self,
        kind: &'static str,
        caller: &Caller,
        limit: RateLimit,
        now: UnixTime,
    ) -> Result<(), Error> {
        match caller.address {
            Some(address) => self.limit_here(kind, &address_key(address), limit, now),
            None => Ok(()),
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// The stored bucket `kind` of `subject`: the kind, then a keyed hash of the subject, so
    /// that neither the store nor a log holds the value counted (an address, an HKID number).
    pub(crate) fn bucket(&self, kind: &'static str, subject: &[u8]) -> String {
        format!(
            "{kind}:{}",
            b64url(&self.derived.limits.hash(&[kind.as_bytes(), subject])[..18])
        )
    }

    /// Counts one event against `limit` in the bucket `kind` of `subject`; refuses when the
    /// window is full.
    pub(crate) fn limit(
        &self,
        kind: &'static str,
        subject: &[u8],
        limit: RateLimit,
        now: UnixTime,
    ) -> Result<(), Error> {
        let count = self
            .store
            .hit(&self.bucket(kind, subject), limit.window_secs, now)?;
        if count.hits > limit.max {
            return Err(rate_limited(kind, count, limit, now));
        }
        Ok(())
    }

    /// Refuses when the bucket `kind` of `subject` already holds `limit.max` events, counting
    /// nothing: for limits on failures, which [`Provider::count`] counts once an attempt
    /// failed.
    pub(crate) fn refuse_if_full(
        &self,
        kind: &'static str,
        subject: &[u8],
        limit: RateLimit,
        now: UnixTime,
    ) -> Result<(), Error> {
        match self
            .store
            .window(&self.bucket(kind, subject), limit.window_secs, now)?
        {
            Some(count) if count.hits >= limit.max => Err(rate_limited(kind, count, limit, now)),
            _ => Ok(()),
        }
    }

    /// Counts one event in the bucket `kind` of `subject` and returns the window's count;
    /// refuses nothing.
    pub(crate) fn count(
        &self,
        kind: &'static str,
        subject: &[u8],
        limit: RateLimit,
        now: UnixTime,
    ) -> Result<u64, Error> {
        Ok(self
            .store
            .hit(&self.bucket(kind, subject), limit.window_secs, now)?
            .hits)
    }

    /// Counts one event from the caller's address, if the server knows it.
    pub(crate) fn limit_address(
        &self,
        kind: &'static str,
        caller: &Caller,
        limit: RateLimit,
        now: UnixTime,
    ) -> Result<(), Error> {
        match caller.address {
            Some(address) => self.limit(kind, &address_key(address), limit, now),
            None => Ok(()),
        }
    }
}

/// The refusal of a full window (logged as a security event).
fn rate_limited(kind: &'static str, count: WindowCount, limit: RateLimit, now: UnixTime) -> Error {
    let retry_after = (count.window_start + limit.window_secs - now)
        .max(1)
        .unsigned_abs();
    tracing::warn!(target: "eid::security", event = "rate_limited", limit = kind, retry_after, "rate limit reached");
    Error::RateLimited {
        what: kind,
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_windows_count_then_start_again() {
        let limiter = LocalLimiter::new(64);
        let limit = RateLimit::new(2, 60);
        let a = [1u8; 16];
        assert_eq!(limiter.hit(a, limit, UnixTime::from_secs(1_000)), Ok(()));
        assert_eq!(limiter.hit(a, limit, UnixTime::from_secs(1_010)), Ok(()));
        assert_eq!(limiter.hit(a, limit, UnixTime::from_secs(1_020)), Err(40));
        assert_eq!(
            limiter.hit([2u8; 16], limit, UnixTime::from_secs(1_020)),
            Ok(()),
            "another bucket"
        );
        assert_eq!(
            limiter.hit(a, limit, UnixTime::from_secs(1_060)),
            Ok(()),
            "a new window"
        );
        limiter.purge(UnixTime::from_secs(2_000));
        assert!(limiter.is_empty());
    }

    #[test]
    fn a_full_local_limiter_drops_ended_windows_then_fails_open() {
        let limiter = LocalLimiter::new(16);
        let limit = RateLimit::new(1, 60);
        for i in 0..=255u8 {
            let _ = limiter.hit([i; 16], limit, UnixTime::from_secs(0));
        }
        assert!(limiter.len() <= 16);
        // Full of live windows: a new bucket is let through, uncounted.
        assert_eq!(
            limiter.hit([7u8; 16].map(|b| b ^ 0x55), limit, UnixTime::from_secs(1)),
            Ok(())
        );
        // Once the windows ended, new buckets are counted again.
        assert_eq!(
            limiter.hit([9u8; 16], limit, UnixTime::from_secs(100)),
            Ok(())
        );
        assert_eq!(
            limiter.hit([9u8; 16], limit, UnixTime::from_secs(101)),
            Err(59)
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), vec![192, 0, 2, 1]);
    }

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

    #[test]
    fn a_rate_ending_in_a_wide_character_is_refused_not_a_panic() {
        // Found by the `headers` fuzz target (fuzz/seeds/headers/rate-wide-unit.txt).
        for bad in ["30/1m'1ط", "5/1日", "5/ط"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }
}
