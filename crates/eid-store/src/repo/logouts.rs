use diesel::prelude::*;
use eid_core::store::{LogoutDeliveryRecord, LogoutStore, StoreError};
use eid_core::time::UnixTime;

use crate::schema::logout_deliveries;
use crate::{backend, Database};
use eid_core::ids::ClientId;

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = logout_deliveries)]
pub(crate) struct LogoutDeliveryRow {
    pub delivery_id: String,
    pub client_id: String,
    pub uri: String,
    pub logout_token: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub created_at: i64,
}

impl From<&LogoutDeliveryRecord> for LogoutDeliveryRow {
    fn from(r: &LogoutDeliveryRecord) -> Self {
        Self {
            delivery_id: r.delivery_id.clone(),
            client_id: r.client_id.clone().into_string(),
            uri: r.uri.clone(),
            logout_token: r.logout_token.clone(),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at.secs(),
            created_at: r.created_at.secs(),
        }
    }
}

impl From<LogoutDeliveryRow> for LogoutDeliveryRecord {
    fn from(r: LogoutDeliveryRow) -> Self {
        Self {
            delivery_id: r.delivery_id,
            client_id: ClientId::from(r.client_id),
            uri: r.uri,
            logout_token: r.logout_token,
            attempts: r.attempts,
            next_attempt_at: UnixTime::from_secs(r.next_attempt_at),
            created_at: UnixTime::from_secs(r.created_at),
        }
    }
}

impl LogoutStore for Database {
    fn queue_logouts(&self, deliveries: &[LogoutDeliveryRecord]) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer()?;
        conn.transaction::<(), diesel::result::Error, _>(|c| {
            for delivery in deliveries {
                diesel::insert_into(logout_deliveries::table)
                    .values(LogoutDeliveryRow::from(delivery))
                    .execute(c)?;
            }
            Ok(())
        })
        .map_err(backend)
    }

    fn due_logouts(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<LogoutDeliveryRecord>, StoreError> {
        let now = now.secs();
        let rows: Vec<LogoutDeliveryRow> = logout_deliveries::table
            .filter(logout_deliveries::next_attempt_at.le(now))
            .order(logout_deliveries::next_attempt_at.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn lease_logout(
        &self,
        delivery_id: &str,
        expected: UnixTime,
        lease_until: UnixTime,
    ) -> Result<bool, StoreError> {
        let expected = expected.secs();
        let lease_until = lease_until.secs();
        let n = diesel::update(
            logout_deliveries::table
                .filter(logout_deliveries::delivery_id.eq(delivery_id))
                .filter(logout_deliveries::next_attempt_at.eq(expected)),
        )
        .set(logout_deliveries::next_attempt_at.eq(lease_until))
        .execute(&mut *self.writer()?)
        .map_err(backend)?;
        Ok(n == 1)
    }

    fn logout_attempt_failed(
        &self,
        delivery_id: &str,
        attempts: i64,
        next_attempt_at: UnixTime,
    ) -> Result<(), StoreError> {
        let next_attempt_at = next_attempt_at.secs();
        diesel::update(logout_deliveries::table.find(delivery_id))
            .set((
                logout_deliveries::attempts.eq(attempts),
                logout_deliveries::next_attempt_at.eq(next_attempt_at),
            ))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }

    fn remove_logout(&self, delivery_id: &str) -> Result<(), StoreError> {
        diesel::delete(logout_deliveries::table.find(delivery_id))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }
}
