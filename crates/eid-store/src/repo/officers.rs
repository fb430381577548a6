use diesel::prelude::*;
use eid_core::store::{
    AuditRecord, CeremonyPurpose, OfficerCredentialRecord, OfficerRecord, OfficerStore, StoreError,
};
use eid_core::time::UnixTime;

use super::audit::insert_events;
use crate::schema::{ceremonies, officer_credentials, officer_sessions, officers};
use crate::{backend, is_unique_violation, Database, TxError};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = officers)]
pub(crate) struct OfficerRow {
    pub officer_id: String,
    pub name: String,
    pub active: bool,
    pub created_at: i64,
}

impl From<OfficerRow> for OfficerRecord {
    fn from(r: OfficerRow) -> Self {
        Self {
            officer_id: r.officer_id,
            name: r.name,
            active: r.active,
            created_at: UnixTime::from_secs(r.created_at),
        }
    }
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = officer_credentials)]
pub(crate) struct OfficerCredentialRow {
    pub credential_id: String,
    pub officer_id: String,
    pub user_handle: String,
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub attestation: Option<String>,
    pub confirmed_at: Option<i64>,
}

impl From<OfficerCredentialRow> for OfficerCredentialRecord {
    fn from(r: OfficerCredentialRow) -> Self {
        Self {
            credential_id: r.credential_id,
            officer_id: r.officer_id,
            user_handle: r.user_handle,
            passkey: r.passkey,
            created_at: UnixTime::from_secs(r.created_at),
            last_used_at: r.last_used_at.map(UnixTime::from_secs),
            attestation: r.attestation,
            confirmed_at: r.confirmed_at.map(UnixTime::from_secs),
        }
    }
}

/// Deletes an officer's keys, console sessions, and enrolment links and registrations under
/// way; how many keys.
fn delete_officer_access(
    c: &mut crate::AnyConnection,
    officer_id: &str,
) -> Result<usize, diesel::result::Error> {
    let keys = diesel::delete(
        officer_credentials::table.filter(officer_credentials::officer_id.eq(officer_id)),
    )
    .execute(c)?;
    diesel::delete(officer_sessions::table.filter(officer_sessions::officer_id.eq(officer_id)))
        .execute(c)?;
    diesel::delete(
        ceremonies::table
            .filter(ceremonies::subject_id.eq(officer_id))
            .filter(ceremonies::purpose.eq_any([
                CeremonyPurpose::OfficerInvite.as_str(),
                CeremonyPurpose::OfficerRegister.as_str(),
            ])),
    )
    .execute(c)?;
    Ok(keys)
}

impl OfficerStore for Database {
    fn insert_officer(&self, o: &OfficerRecord, event: &AuditRecord) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<(), diesel::result::Error, _>(|c| {
            diesel::insert_into(officers::table)
                .values(OfficerRow {
                    officer_id: o.officer_id.clone(),
                    name: o.name.clone(),
                    active: o.active,
                    created_at: o.created_at.secs(),
                })
                .execute(c)?;
            insert_events(c, std::slice::from_ref(event))
        })
        .map_err(backend)
    }

    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, StoreError> {
        let row: Option<OfficerRow> = officers::table
            .find(officer_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn officers(&self) -> Result<Vec<OfficerRecord>, StoreError> {
        let rows: Vec<OfficerRow> = officers::table
            .order((officers::created_at.asc(), officers::officer_id.asc()))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn remove_officer(&self, officer_id: &str, events: &[AuditRecord]) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let n = diesel::update(
                officers::table
                    .filter(officers::officer_id.eq(officer_id))
                    .filter(officers::active.eq(true)),
            )
            .set(officers::active.eq(false))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            delete_officer_access(c, officer_id)?;
            insert_events(c, events)?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn insert_officer_credential(
        &self,
        r: &OfficerCredentialRecord,
        event: &AuditRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<(), TxError<StoreError>, _>(|c| {
            diesel::insert_into(officer_credentials::table)
                .values(OfficerCredentialRow {
                    credential_id: r.credential_id.clone(),
                    officer_id: r.officer_id.clone(),
                    user_handle: r.user_handle.clone(),
                    passkey: r.passkey.clone(),
                    created_at: r.created_at.secs(),
                    last_used_at: r.last_used_at.map(UnixTime::secs),
                    attestation: r.attestation.clone(),
                    confirmed_at: r.confirmed_at.map(UnixTime::secs),
                })
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e, "officer_credentials") {
                        TxError::Abort(StoreError::Duplicate("credential_id"))
                    } else {
                        TxError::Db(e)
                    }
                })?;
            // One key per officer: a new enrolment link revokes the old key first.
            let keys: i64 = officer_credentials::table
                .filter(officer_credentials::officer_id.eq(&r.officer_id))
                .count()
                .get_result(c)?;
            if keys > 1 {
                return Err(TxError::Abort(StoreError::Duplicate("officer_key")));
            }
            insert_events(c, std::slice::from_ref(event))?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn officer_credentials(
        &self,
        officer_id: &str,
    ) -> Result<Vec<OfficerCredentialRecord>, StoreError> {
        let rows: Vec<OfficerCredentialRow> = officer_credentials::table
            .filter(officer_credentials::officer_id.eq(officer_id))
            .order((
                officer_credentials::created_at.asc(),
                officer_credentials::credential_id.asc(),
            ))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn confirm_officer_credential(
        &self,
        credential_id: &str,
        now: UnixTime,
        event: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let n = diesel::update(
                officer_credentials::table
                    .filter(officer_credentials::credential_id.eq(credential_id))
                    .filter(officer_credentials::confirmed_at.is_null()),
            )
            .set(officer_credentials::confirmed_at.eq(Some(now.secs())))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            insert_events(c, std::slice::from_ref(event))?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn revoke_officer_credentials(
        &self,
        officer_id: &str,
        events: &[AuditRecord],
    ) -> Result<usize, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<usize, diesel::result::Error, _>(|c| {
            let keys = delete_officer_access(c, officer_id)?;
            insert_events(c, events)?;
            Ok(keys)
        })
        .map_err(backend)
    }

    fn officer_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<OfficerCredentialRecord>, StoreError> {
        let row: Option<OfficerCredentialRow> = officer_credentials::table
            .find(credential_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn touch_officer_credential(
        &self,
        credential_id: &str,
        passkey: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let now = now.secs();
        diesel::update(officer_credentials::table.find(credential_id))
            .set((
                officer_credentials::passkey.eq(passkey),
                officer_credentials::last_used_at.eq(Some(now)),
            ))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }
}
