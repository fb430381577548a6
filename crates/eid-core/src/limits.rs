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
//! an account), never the value itself. IPv6 addresses count by their /56 (a customer's
//! network: a home gets a /56 or a /48, so counting /64s gave one home 256 addresses).
//!
//! Nothing anonymous callers share is limited: a limit per relying party would let strangers
//! spend it for every citizen (review 2026-12-07, M2). What a relying party's logins cost is
//! bounded instead by evicting its oldest pending logins past a cap
//! ([`Limits::pending_logins_per_client`]), and a rate past [`Limits::authorize_per_client`]
//! only raises a security event.

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
    /// Authorization requests naming one relying party, from anywhere, beyond which the
    /// security event `client.authorize_rate_high` is logged (once a window). Nothing is
    /// refused: citizens share this count with strangers.
    pub authorize_per_client: RateLimit,
    /// Login requests of one relying party waiting for a phone, beyond which the oldest are
    /// dropped (about: counted by each node, checked in batches).
    pub pending_logins_per_client: u64,
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
    /// Requests from one client address to the endpoints clients authenticate at (`/token`,
    /// `/par`, `/revoke`, `/introspect`, the signing API): generous, since a relying party's
    /// servers send all its citizens' code exchanges from few addresses.
    pub token_per_address: RateLimit,
    /// OCSP requests from one client address.
    pub ocsp_per_address: RateLimit,
    /// OCSP answers signed afresh for one client address (a nonce asked for, or nothing
    /// pre-produced for the certificates): each is a signature by the responder's key.
    pub ocsp_fresh_per_address: RateLimit,
    /// Time stamps for one client address (each is a signature by the unit's key).
    pub tsa_per_address: RateLimit,
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
            pending_logins_per_client: 10_000,
            login_pages_per_address: RateLimit::new(600, 60),
            approvals_per_address: RateLimit::new(120, 60),
            approvals_per_account: RateLimit::new(30, 600),
            sessions_per_address: RateLimit::new(60, 60),
            registrations_per_address: RateLimit::new(20, 3_600),
            signing_requests_per_citizen: RateLimit::new(20, 600),
            token_per_address: RateLimit::new(3_000, 60),
            ocsp_per_address: RateLimit::new(600, 60),
            ocsp_fresh_per_address: RateLimit::new(60, 60),
            tsa_per_address: RateLimit::new(60, 60),
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

/// What an address counts as: itself for IPv4, its /56 for IPv6 (one customer's network: a
/// /56 is a common home allocation).
pub fn address_key(address: IpAddr) -> Vec<u8> {
    match address {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..7].to_vec(),
        },
    }
}

/// A window's count in memory.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: UnixTime,
    hits: u64,
    ends: UnixTime,
    /// The shard's tick at the last hit: the least recently used windows go first when the
    /// limiter is full.
    last: u64,
}

/// One shard's windows, and a tick counting its hits (an exact order of use, where seconds
/// would tie).
#[derive(Default)]
struct Shard {
    windows: HashMap<[u8; 16], Window>,
    tick: u64,
}

/// Fixed-window counters in this process's memory, in shards, with a bound on how many
/// buckets it keeps. Past it, windows that ended are dropped, and if none had, the least
/// recently used eighth of the shard: every hit is counted, full or not (failing open would
/// let whoever fills it with new addresses, cheap with IPv6, escape every limit here).
pub struct LocalLimiter {
    shards: Vec<Mutex<Shard>>,
    max_per_shard: usize,
}

impl LocalLimiter {
    /// Keeps at most `max_buckets` buckets.
    pub fn new(max_buckets: usize) -> Self {
        let shards = 16;
        Self {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            max_per_shard: max_buckets.div_ceil(shards).max(1),
        }
    }

    /// Counts a hit on `bucket`; `Err(retry_after)` when its window is full.
    fn hit(&self, bucket: [u8; 16], limit: RateLimit, now: UnixTime) -> Result<(), u64> {
        let (hits, start) = self.count(bucket, limit.window_secs, now);
        if hits > limit.max {
            return Err(((start + limit.window_secs) - now).max(1).unsigned_abs());
        }
        Ok(())
    }

    /// Counts a hit on `bucket` in a window of `window_secs`: the hits in the window so far,
    /// this one included, and when the window started.
    fn count(&self, bucket: [u8; 16], window_secs: i64, now: UnixTime) -> (u64, UnixTime) {
        let mut guard = self.shards[usize::from(bucket[0]) % self.shards.len()].lock();
        let shard = &mut *guard;
        shard.tick += 1;
        let windows = &mut shard.windows;
        if !windows.contains_key(&bucket) && windows.len() >= self.max_per_shard {
            windows.retain(|_, w| w.ends > now);
            if windows.len() >= self.max_per_shard {
                let dropped = drop_least_recent(windows, self.max_per_shard.div_ceil(8));
                tracing::warn!(target: "eid::security", event = "rate_limiter_full", dropped, "rate limiter full: the least recently used buckets were dropped");
            }
        }
        let fresh = Window {
            start: now,
            hits: 0,
            ends: now + window_secs,
            last: shard.tick,
        };
        let window = windows.entry(bucket).or_insert(fresh);
        if window.ends <= now {
            *window = fresh;
        }
        window.hits += 1;
        window.last = shard.tick;
        (window.hits, window.start)
    }

    /// Drops the windows that ended.
    pub fn purge(&self, now: UnixTime) {
        for shard in &self.shards {
            shard.lock().windows.retain(|_, w| w.ends > now);
        }
    }

    /// How many buckets are kept.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().windows.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops the `n` least recently used windows of a shard (their ticks are distinct); how many
/// went.
fn drop_least_recent(windows: &mut HashMap<[u8; 16], Window>, n: usize) -> usize {
    let mut lasts: Vec<u64> = windows.values().map(|w| w.last).collect();
    let n = n.min(lasts.len());
    let Some(index) = n.checked_sub(1) else {
        return 0;
    };
    let (_, cutoff, _) = lasts.select_nth_unstable(index);
    let cutoff = *cutoff;
    let before = windows.len();
    windows.retain(|_, w| w.last > cutoff);
    before - windows.len()
}

impl Provider {
    /// The bucket `kind` of `subject`: a keyed hash, never the value.
    fn local_bucket(&self, kind: &'static str, subject: &[u8]) -> [u8; 16] {
        let mut bucket = [0u8; 16];
        bucket.copy_from_slice(&self.derived.limits.hash(&[kind.as_bytes(), subject])[..16]);
        bucket
    }

    /// Counts one event in this process's memory, in the bucket `kind` of `subject` and a
    /// window of `window_secs`, without refusing anything: how many the window has seen.
    pub(crate) fn count_here(
        &self,
        kind: &'static str,
        subject: &[u8],
        window_secs: i64,
        now: UnixTime,
    ) -> u64 {
        let bucket = self.local_bucket(kind, subject);
        self.local_limits.count(bucket, window_secs, now).0
    }

    /// Counts one event against `limit` in this process's memory (see the module's docs), in
    /// the bucket `kind` of `subject`; refuses when the window is full.
    pub fn limit_here(
        &self,
        kind: &'static str,
        subject: &[u8],
        limit: RateLimit,
        now: UnixTime,
    ) -> Result<(), Error> {
        let bucket = self.local_bucket(kind, subject);
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
    fn a_full_local_limiter_drops_ended_windows() {
        let limiter = LocalLimiter::new(16);
        let limit = RateLimit::new(1, 60);
        for i in 0..=255u8 {
            let _ = limiter.hit([i; 16], limit, UnixTime::from_secs(0));
        }
        assert!(limiter.len() <= 16);
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

    /// Review 2026-12-07, L8: full of live windows, the limiter used to stop counting new
    /// buckets. Now the least recently used go, and every hit is counted.
    #[test]
    fn a_full_local_limiter_drops_the_least_recently_used_and_never_fails_open() {
        // 16 shards of 4; every bucket here is in shard 0.
        let limiter = LocalLimiter::new(64);
        let limit = RateLimit::new(1, 60);
        let at = UnixTime::from_secs;
        let bucket = |n: u8| {
            let mut b = [0u8; 16];
            b[1] = n;
            b
        };
        assert_eq!(limiter.hit(bucket(1), limit, at(0)), Ok(()));
        assert_eq!(limiter.hit(bucket(1), limit, at(1)), Err(59));
        for (n, t) in [(2, 2), (3, 3), (4, 4)] {
            assert_eq!(limiter.hit(bucket(n), limit, at(t)), Ok(()));
        }
        // The busy bucket stays the most recently used.
        assert_eq!(limiter.hit(bucket(1), limit, at(5)), Err(55));
        // Full of live windows: a new bucket is counted, and bucket 2 (idle longest) goes.
        assert_eq!(limiter.hit(bucket(5), limit, at(6)), Ok(()));
        assert_eq!(limiter.hit(bucket(5), limit, at(7)), Err(59), "counted");
        assert_eq!(limiter.hit(bucket(1), limit, at(8)), Err(52), "not dropped");
        assert_eq!(limiter.hit(bucket(2), limit, at(9)), Ok(()), "dropped");
        assert_eq!(limiter.len(), 4);
        // Many new buckets: the busy one is still refused, never let through.
        for n in 10..=200u8 {
            let _ = limiter.hit(bucket(n), limit, at(10));
            assert!(limiter.hit(bucket(1), limit, at(10)).is_err(), "{n}");
        }
        assert!(limiter.len() <= 4);
    }

    #[test]
    fn counting_never_refuses() {
        let limiter = LocalLimiter::new(64);
        let at = UnixTime::from_secs;
        let b = [3u8; 16];
        assert_eq!(limiter.count(b, 60, at(0)), (1, at(0)));
        assert_eq!(limiter.count(b, 60, at(30)), (2, at(0)));
        assert_eq!(limiter.count(b, 60, at(60)), (1, at(60)), "a new window");
    }

    #[test]
    fn ipv6_addresses_count_by_their_56() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        // Another /64 of the same /56 (review 2026-12-07, M2: one home, 256 "addresses").
        let c: IpAddr = "2001:db8:1:ff::1".parse().unwrap();
        let d: IpAddr = "2001:db8:1:100::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a), address_key(c));
        assert_ne!(address_key(a), address_key(d));
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
