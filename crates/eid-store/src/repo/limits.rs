use diesel::prelude::*;
use eid_core::store::{RateLimitStore, StoreError, WindowCount};
use eid_core::time::UnixTime;

use crate::schema::rate_limits;
use crate::{backend, is_unique_violation, Database};

impl RateLimitStore for Database {
    fn hit(
        &self,
        bucket: &str,
        window_secs: i64,
        now: UnixTime,
    ) -> Result<WindowCount, StoreError> {
        let now = now.secs();
        let mut conn = self.writer()?;
        // Two tries: a concurrent first hit on a new bucket may insert it first (PostgreSQL
        // then reports a unique violation, and the second try counts into that row).
        for _ in 0..2 {
            let result = conn.transaction::<WindowCount, diesel::result::Error, _>(|c| {
                // Write first: count into the current window if there is one.
                let counted = diesel::update(
                    rate_limits::table
                        .filter(rate_limits::bucket.eq(bucket))
                        .filter(rate_limits::window_secs.eq(window_secs))
                        .filter(rate_limits::window_start.gt(now - window_secs)),
                )
                .set(rate_limits::hits.eq(rate_limits::hits + 1))
                .execute(c)?;
                if counted == 0 {
                    // No current window: start one.
                    diesel::delete(rate_limits::table.find(bucket)).execute(c)?;
                    diesel::insert_into(rate_limits::table)
                        .values((
                            rate_limits::bucket.eq(bucket),
                            rate_limits::window_start.eq(now),
                            rate_limits::window_secs.eq(window_secs),
                            rate_limits::hits.eq(1_i64),
                        ))
                        .execute(c)?;
                }
                let (hits, window_start): (i64, i64) = rate_limits::table
                    .find(bucket)
                    .select((rate_limits::hits, rate_limits::window_start))
                    .first(c)?;
                Ok(WindowCount {
                    hits: hits.unsigned_abs(),
                    window_start: UnixTime::from_secs(window_start),
                })
            });
            match result {
                Ok(count) => return Ok(count),
                Err(e)
                    if is_unique_violation(&e, "bucket")
                        || is_unique_violation(&e, "rate_limits") =>
                {
                    continue
                }
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Conflict("rate limit"))
    }

    fn window(
        &self,
        bucket: &str,
        window_secs: i64,
        now: UnixTime,
    ) -> Result<Option<WindowCount>, StoreError> {
        let now = now.secs();
        let window: Option<(i64, i64)> = rate_limits::table
            .filter(rate_limits::bucket.eq(bucket))
            .filter(rate_limits::window_secs.eq(window_secs))
            .filter(rate_limits::window_start.gt(now - window_secs))
            .select((rate_limits::hits, rate_limits::window_start))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(window.map(|(hits, window_start)| WindowCount {
            hits: hits.unsigned_abs(),
            window_start: UnixTime::from_secs(window_start),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a window counts nothing; an ended window reads as none.
    #[test]
    fn a_window_reads_without_counting() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            &format!("sqlite://{}", dir.path().join("eid.db").display()),
            1,
        )
        .unwrap();
        let at = UnixTime::from_secs;
        assert_eq!(db.window("b", 60, at(1_000)).unwrap(), None);
        db.hit("b", 60, at(1_000)).unwrap();
        db.hit("b", 60, at(1_010)).unwrap();
        let expected = WindowCount {
            hits: 2,
            window_start: at(1_000),
        };
        assert_eq!(db.window("b", 60, at(1_020)).unwrap(), Some(expected));
        assert_eq!(db.window("b", 60, at(1_020)).unwrap(), Some(expected));
        assert_eq!(db.window("b", 60, at(1_060)).unwrap(), None, "ended");
        assert_eq!(
            db.window("b", 600, at(1_020)).unwrap(),
            None,
            "another length"
        );
        assert_eq!(db.hit("b", 60, at(1_060)).unwrap().hits, 1, "a new window");
    }
}
