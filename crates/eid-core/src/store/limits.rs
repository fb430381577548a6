use super::StoreError;
use crate::time::UnixTime;

/// A fixed-window counter (after one more hit, when it was hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window (after a hit: this one included).
    pub hits: u64,
    /// When the current window began (Unix seconds).
    pub window_start: UnixTime,
}

/// Shared counters for rate limits, so that every node of a deployment counts together.
pub trait RateLimitStore {
    /// Counts a hit on `bucket` in a window of `window_secs` that began at most that long
    /// ago (a new window begins at `now` otherwise).
    fn hit(&self, bucket: &str, window_secs: i64, now: UnixTime)
        -> Result<WindowCount, StoreError>;

    /// The current window of `bucket` (one of `window_secs` that began at most that long ago),
    /// if it has one, without counting anything.
    fn window(
        &self,
        bucket: &str,
        window_secs: i64,
        now: UnixTime,
    ) -> Result<Option<WindowCount>, StoreError>;
}
