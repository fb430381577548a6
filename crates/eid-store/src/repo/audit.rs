use diesel::prelude::*;
use eid_core::store::{ActorKind, AuditRecord, AuditStore, StoreError};
use eid_core::time::UnixTime;

use crate::schema::audit_events;
use crate::{backend, corrupt, AnyConnection, Database};
use eid_core::ids::{CitizenId, DeviceId};

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
struct NewAuditRow<'a> {
    event_id: &'a str,
    at: i64,
    action: &'a str,
    actor_kind: &'a str,
    actor_id: Option<&'a str>,
    citizen_id: Option<&'a str>,
    application_id: Option<&'a str>,
    device_id: Option<&'a str>,
    detail: Option<&'a [u8]>,
}

#[derive(Debug, Queryable)]
#[diesel(table_name = audit_events)]
pub(crate) struct AuditRow {
    /// Orders the trail; the records carry no sequence of their own.
    #[allow(dead_code, reason = "read by the query, ordered by, never used")]
    pub seq: i64,
    pub event_id: String,
    pub at: i64,
    pub action: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub citizen_id: Option<String>,
    pub application_id: Option<String>,
    pub device_id: Option<String>,
    pub detail: Option<Vec<u8>>,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            actor_kind: ActorKind::parse(&r.actor_kind)
                .ok_or_else(|| corrupt("actor kind", &r.actor_kind))?,
            event_id: r.event_id,
            at: UnixTime::from_secs(r.at),
            action: r.action,
            actor_id: r.actor_id,
            citizen_id: r.citizen_id.map(CitizenId::from),
            application_id: r.application_id,
            device_id: r.device_id.map(DeviceId::from),
            detail: r.detail,
        })
    }
}

/// Appends events inside the caller's transaction.
pub(crate) fn insert_events(c: &mut AnyConnection, events: &[AuditRecord]) -> QueryResult<()> {
    for e in events {
        diesel::insert_into(audit_events::table)
            .values(NewAuditRow {
                event_id: &e.event_id,
                at: e.at.secs(),
                action: &e.action,
                actor_kind: e.actor_kind.as_str(),
                actor_id: e.actor_id.as_deref(),
                citizen_id: e.citizen_id.as_deref(),
                application_id: e.application_id.as_deref(),
                device_id: e.device_id.as_deref(),
                detail: e.detail.as_deref(),
            })
            .execute(c)?;
    }
    Ok(())
}

impl AuditStore for Database {
    fn record_events(&self, events: &[AuditRecord]) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<(), diesel::result::Error, _>(|c| insert_events(c, events))
            .map_err(backend)
    }

    fn account_events(
        &self,
        citizen_id: &str,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows: Vec<AuditRow> = audit_events::table
            .filter(audit_events::citizen_id.eq(citizen_id))
            .order(audit_events::seq.desc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    fn events_since(&self, since: UnixTime, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let since = since.secs();
        let rows: Vec<AuditRow> = audit_events::table
            .filter(audit_events::at.ge(since))
            .order(audit_events::seq.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
