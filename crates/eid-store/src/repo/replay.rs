use diesel::prelude::*;
use eid_core::store::{ReplayStore, StoreError};
use eid_core::time::UnixTime;

use crate::schema::seen_jtis;
use crate::{backend, is_unique_violation, Database};

impl ReplayStore for Database {
    fn first_use(&self, scope: &str, jti: &str, expires_at: UnixTime) -> Result<bool, StoreError> {
        let expires_at = expires_at.secs();
        let inserted = diesel::insert_into(seen_jtis::table)
            .values((
                seen_jtis::scope.eq(scope),
                seen_jtis::jti.eq(jti),
                seen_jtis::expires_at.eq(expires_at),
            ))
            .execute(&mut *self.writer()?);
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e, "seen_jtis") => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }
}
