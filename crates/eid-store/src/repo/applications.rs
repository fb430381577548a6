use diesel::prelude::*;
use eid_core::store::{
    ApplicationKind, ApplicationRecord, ApplicationStatus, ApplicationStore, AuditRecord,
    CounterPresence, Hold, StoreError,
};
use eid_core::time::UnixTime;

use super::audit::insert_events;
use crate::schema::applications;
use crate::{backend, corrupt, is_unique_violation, Database, TxError};
use eid_core::ids::{CitizenId, DeviceId};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = applications)]
pub(crate) struct ApplicationRow {
    pub application_id: String,
    pub reference: String,
    pub kind: String,
    pub status: String,
    pub token_hash: Vec<u8>,
    pub citizen_id: Option<String>,
    pub particulars: Option<Vec<u8>>,
    pub credential_id: Option<String>,
    pub passkey: Option<String>,
    pub user_handle: Option<String>,
    pub outcome: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub present_at: Option<i64>,
    pub present_officer_id: Option<String>,
    pub present_device_id: Option<String>,
    pub held_until: Option<i64>,
    pub held_proof: Option<Vec<u8>>,
}

impl From<&ApplicationRecord> for ApplicationRow {
    fn from(r: &ApplicationRecord) -> Self {
        Self {
            application_id: r.application_id.clone(),
            reference: r.reference.clone(),
            kind: r.kind.as_str().to_owned(),
            status: r.status.as_str().to_owned(),
            token_hash: r.token_hash.clone(),
            citizen_id: r.citizen_id.clone().map(CitizenId::into_string),
            particulars: r.particulars.clone(),
            credential_id: r.credential_id.clone(),
            passkey: r.passkey.clone(),
            user_handle: r.user_handle.clone(),
            outcome: r.outcome.clone(),
            created_at: r.created_at.secs(),
            expires_at: r.expires_at.secs(),
            present_at: r.presence.as_ref().map(|p| p.at.secs()),
            present_officer_id: r.presence.as_ref().map(|p| p.officer_id.clone()),
            present_device_id: r
                .presence
                .as_ref()
                .and_then(|p| p.device_id.clone())
                .map(DeviceId::into_string),
            held_until: r.hold.as_ref().map(|h| h.until.secs()),
            held_proof: r.hold.as_ref().map(|h| h.proof.clone()),
        }
    }
}

impl TryFrom<ApplicationRow> for ApplicationRecord {
    type Error = StoreError;
    fn try_from(r: ApplicationRow) -> Result<Self, StoreError> {
        Ok(Self {
            kind: ApplicationKind::parse(&r.kind)
                .ok_or_else(|| corrupt("application kind", &r.kind))?,
            status: ApplicationStatus::parse(&r.status)
                .ok_or_else(|| corrupt("application status", &r.status))?,
            application_id: r.application_id,
            reference: r.reference,
            token_hash: r.token_hash,
            citizen_id: r.citizen_id.map(CitizenId::from),
            particulars: r.particulars,
            credential_id: r.credential_id,
            passkey: r.passkey,
            user_handle: r.user_handle,
            outcome: r.outcome,
            created_at: UnixTime::from_secs(r.created_at),
            expires_at: UnixTime::from_secs(r.expires_at),
            presence: match (r.present_at, r.present_officer_id) {
                (Some(at), Some(officer_id)) => Some(CounterPresence {
                    at: UnixTime::from_secs(at),
                    officer_id,
                    device_id: r.present_device_id.map(DeviceId::from),
                }),
                _ => None,
            },
            hold: match (r.held_until, r.held_proof) {
                (Some(until), Some(proof)) => Some(Hold {
                    until: UnixTime::from_secs(until),
                    proof,
                }),
                _ => None,
            },
        })
    }
}

macro_rules! application_where {
    ($db:expr, $predicate:expr) => {{
        let row: Option<ApplicationRow> = applications::table
            .filter($predicate)
            .first(&mut *$db.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }};
}

impl ApplicationStore for Database {
    fn insert_application(
        &self,
        application: &ApplicationRecord,
        event: &AuditRecord,
    ) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<(), TxError<StoreError>, _>(|c| {
            diesel::insert_into(applications::table)
                .values(ApplicationRow::from(application))
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e, "reference") {
                        TxError::Abort(StoreError::Duplicate("reference"))
                    } else if is_unique_violation(&e, "credential_id") {
                        TxError::Abort(StoreError::Duplicate("credential_id"))
                    } else {
                        TxError::Db(e)
                    }
                })?;
            insert_events(c, std::slice::from_ref(event))?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn application(&self, application_id: &str) -> Result<Option<ApplicationRecord>, StoreError> {
        application_where!(self, applications::application_id.eq(application_id))
    }

    fn application_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        application_where!(self, applications::reference.eq(reference))
    }

    fn application_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        application_where!(self, applications::credential_id.eq(credential_id))
    }

    fn record_presence(
        &self,
        application_id: &str,
        presence: &CounterPresence,
        passkey: Option<(&str, &str)>,
        event: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let open = applications::table
                .filter(applications::application_id.eq(application_id))
                .filter(applications::status.eq(ApplicationStatus::Open.as_str()));
            let presence_columns = (
                applications::present_at.eq(Some(presence.at.secs())),
                applications::present_officer_id.eq(Some(presence.officer_id.as_str())),
                applications::present_device_id.eq(presence.device_id.as_ref().map(|d| d.as_str())),
            );
            // Compare-and-set on the key: of two answers carrying one signature counter,
            // one lands.
            let n = match passkey {
                Some((expected, raised)) => {
                    diesel::update(open.filter(applications::passkey.eq(expected)))
                        .set((presence_columns, applications::passkey.eq(Some(raised))))
                        .execute(c)?
                }
                None => diesel::update(open).set(presence_columns).execute(c)?,
            };
            if n != 1 {
                return Ok(false);
            }
            insert_events(c, std::slice::from_ref(event))?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn hold_application(
        &self,
        application_id: &str,
        citizen_id: &CitizenId,
        hold: &Hold,
        passkey: &str,
        expires_at: UnixTime,
        events: &[AuditRecord],
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let n = diesel::update(
                applications::table
                    .filter(applications::application_id.eq(application_id))
                    .filter(applications::status.eq(ApplicationStatus::Open.as_str())),
            )
            .set((
                applications::status.eq(ApplicationStatus::Held.as_str()),
                applications::citizen_id.eq(Some(citizen_id.as_str())),
                applications::held_until.eq(Some(hold.until.secs())),
                applications::held_proof.eq(Some(&hold.proof)),
                applications::passkey.eq(Some(passkey)),
                applications::expires_at.eq(expires_at.secs()),
            ))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            insert_events(c, events)?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn held_applications(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        let rows: Vec<ApplicationRow> = applications::table
            .filter(applications::citizen_id.eq(citizen_id.as_str()))
            .filter(applications::status.eq(ApplicationStatus::Held.as_str()))
            .order((
                applications::held_until.asc(),
                applications::application_id.asc(),
            ))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    fn reject_application(
        &self,
        application_id: &str,
        reason: &str,
        event: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let n = diesel::update(
                applications::table
                    .filter(applications::application_id.eq(application_id))
                    .filter(applications::status.eq_any([
                        ApplicationStatus::Open.as_str(),
                        ApplicationStatus::Held.as_str(),
                    ])),
            )
            .set((
                applications::status.eq(ApplicationStatus::Rejected.as_str()),
                applications::outcome.eq(Some(reason)),
                applications::particulars.eq(None::<Vec<u8>>),
                applications::passkey.eq(None::<String>),
                applications::held_proof.eq(None::<Vec<u8>>),
            ))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            insert_events(c, std::slice::from_ref(event))?;
            Ok(true)
        })
        .map_err(backend)
    }
}
