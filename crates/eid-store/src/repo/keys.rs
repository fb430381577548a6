use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use eid_core::custody::Custody;
use eid_core::store::{AuditRecord, KeyPurpose, KeyStore, SigningKeyRecord, StoreError};
use eid_core::time::UnixTime;

use crate::repo::audit::insert_events;
use crate::schema::signing_keys;
use crate::{backend, corrupt, AnyConnection, Database, TxError};
use diesel::connection::SimpleConnection as _;

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = signing_keys)]
pub(crate) struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub purpose: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
    pub custody: String,
}

impl From<&SigningKeyRecord> for SigningKeyRow {
    fn from(r: &SigningKeyRecord) -> Self {
        Self {
            kid: r.kid.clone(),
            alg: r.alg.clone(),
            purpose: r.purpose.as_str().to_owned(),
            private_key: r.private_key.clone(),
            created_at: r.created_at.secs(),
            custody: r.custody.as_str().to_owned(),
        }
    }
}

impl TryFrom<SigningKeyRow> for SigningKeyRecord {
    type Error = StoreError;
    fn try_from(r: SigningKeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            purpose: KeyPurpose::parse(&r.purpose)
                .ok_or_else(|| corrupt("key purpose", &r.purpose))?,
            custody: Custody::parse(&r.custody)
                .ok_or_else(|| corrupt("key custody", &r.custody))?,
            kid: r.kid,
            alg: r.alg,
            private_key: r.private_key,
            created_at: UnixTime::from_secs(r.created_at),
        })
    }
}

impl KeyStore for Database {
    fn signing_keys(&self, purpose: KeyPurpose) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows: Vec<SigningKeyRow> = signing_keys::table
            .filter(signing_keys::purpose.eq(purpose.as_str()))
            .order(signing_keys::created_at.asc())
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    fn insert_signing_keys_if_none(
        &self,
        purpose: KeyPurpose,
        keys: &[SigningKeyRecord],
    ) -> Result<bool, StoreError> {
        /// Rolls back when another node's keys were already there.
        struct Existing;
        let mut conn = self.writer()?;
        // Write first (see `remove_device`), then check nobody else had written. On PostgreSQL
        // a concurrent transaction's rows are invisible until it commits, so nodes starting at
        // once take turns here under a transaction-scoped advisory lock.
        let result = conn.transaction::<bool, TxError<Existing>, _>(|c| {
            if matches!(&*c, AnyConnection::Postgresql(_)) {
                c.batch_execute("SELECT pg_advisory_xact_lock(4245612)")?;
            }
            for key in keys {
                diesel::insert_into(signing_keys::table)
                    .values(SigningKeyRow::from(key))
                    .execute(c)?;
            }
            let total: i64 = signing_keys::table
                .filter(signing_keys::purpose.eq(purpose.as_str()))
                .count()
                .get_result(c)?;
            if usize::try_from(total).unwrap_or(usize::MAX) > keys.len() {
                return Err(TxError::Abort(Existing));
            }
            Ok(true)
        });
        match result {
            Ok(inserted) => Ok(inserted),
            Err(TxError::Abort(Existing)) => Ok(false),
            // Another node inserted the same kid concurrently (PostgreSQL's unique index).
            Err(TxError::Db(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))) => {
                Ok(false)
            }
            Err(TxError::Db(e)) => Err(backend(e)),
        }
    }

    fn insert_signing_keys(
        &self,
        keys: &[SigningKeyRecord],
        events: &[AuditRecord],
    ) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<(), diesel::result::Error, _>(|c| {
            for key in keys {
                diesel::insert_into(signing_keys::table)
                    .values(SigningKeyRow::from(key))
                    .execute(c)?;
            }
            insert_events(c, events)
        })
        .map_err(backend)
    }
}
