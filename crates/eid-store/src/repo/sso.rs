use diesel::prelude::*;
use diesel::result::Error as DieselError;
use eid_core::account::{AccountStatus, Level};
use eid_core::ids::{CitizenId, ClientId, DeviceId};
use eid_core::store::{
    AuditRecord, AuthRequestRecord, BrowserSessionRecord, SessionChange, SessionLoginRecord,
    SsoStore, StoreError,
};
use eid_core::time::UnixTime;

use super::audit::insert_events;
use super::logins::AuthRequestRow;
use crate::schema::{
    access_tokens, auth_requests, browser_sessions, citizens, devices, session_logins,
};
use crate::{backend, corrupt, AnyConnection, Database};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = browser_sessions)]
pub(crate) struct BrowserSessionRow {
    pub session_id: String,
    pub token_hash: Vec<u8>,
    pub citizen_id: String,
    pub device_id: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub context: Option<Vec<u8>>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = session_logins)]
pub(crate) struct SessionLoginRow {
    pub request_id: String,
    pub session_id: String,
    pub client_id: String,
    pub created_at: i64,
}

impl From<&BrowserSessionRecord> for BrowserSessionRow {
    fn from(s: &BrowserSessionRecord) -> Self {
        Self {
            session_id: s.session_id.clone(),
            token_hash: s.token_hash.clone(),
            citizen_id: s.citizen_id.clone().into_string(),
            device_id: s.device_id.clone().into_string(),
            auth_time: s.auth_time.secs(),
            acr: s.acr.as_str().to_owned(),
            amr: s.amr.clone(),
            context: s.context.clone(),
            created_at: s.created_at.secs(),
            last_seen_at: s.last_seen_at.secs(),
            expires_at: s.expires_at.secs(),
        }
    }
}

impl TryFrom<BrowserSessionRow> for BrowserSessionRecord {
    type Error = StoreError;
    fn try_from(r: BrowserSessionRow) -> Result<Self, StoreError> {
        Ok(Self {
            acr: Level::parse(&r.acr).ok_or_else(|| corrupt("level", &r.acr))?,
            session_id: r.session_id,
            token_hash: r.token_hash,
            citizen_id: CitizenId::from(r.citizen_id),
            device_id: DeviceId::from(r.device_id),
            auth_time: UnixTime::from_secs(r.auth_time),
            amr: r.amr,
            context: r.context,
            created_at: UnixTime::from_secs(r.created_at),
            last_seen_at: UnixTime::from_secs(r.last_seen_at),
            expires_at: UnixTime::from_secs(r.expires_at),
        })
    }
}

impl From<SessionLoginRow> for SessionLoginRecord {
    fn from(r: SessionLoginRow) -> Self {
        Self {
            request_id: r.request_id,
            session_id: r.session_id,
            client_id: ClientId::from(r.client_id),
            created_at: UnixTime::from_secs(r.created_at),
        }
    }
}

/// Opens or rotates the browser's session and records the login as its, with its event, inside
/// the caller's transaction (issuing a code). A rotation whose session ended meanwhile opens it
/// again.
pub(crate) fn apply_session_change(
    c: &mut AnyConnection,
    change: &SessionChange<'_>,
    request_id: &str,
) -> QueryResult<()> {
    let Some(session) = change.session else {
        // The citizen did not sign this browser in to eid: the login's event only.
        return insert_events(c, std::slice::from_ref(change.event));
    };
    let rotated = match change.rotates {
        Some(old_token_hash) => diesel::update(
            browser_sessions::table
                .filter(browser_sessions::session_id.eq(&session.session_id))
                .filter(browser_sessions::token_hash.eq(old_token_hash))
                .filter(browser_sessions::citizen_id.eq(session.citizen_id.as_str())),
        )
        .set((
            browser_sessions::token_hash.eq(&session.token_hash),
            browser_sessions::device_id.eq(session.device_id.as_str()),
            browser_sessions::auth_time.eq(session.auth_time.secs()),
            browser_sessions::acr.eq(session.acr.as_str()),
            browser_sessions::amr.eq(&session.amr),
            browser_sessions::context.eq(&session.context),
            browser_sessions::last_seen_at.eq(session.last_seen_at.secs()),
            browser_sessions::expires_at.eq(session.expires_at.secs()),
        ))
        .execute(c)?,
        None => 0,
    };
    if rotated == 0 {
        diesel::insert_into(browser_sessions::table)
            .values(BrowserSessionRow::from(session))
            .execute(c)?;
    }
    diesel::insert_into(session_logins::table)
        .values(SessionLoginRow {
            request_id: request_id.to_owned(),
            session_id: session.session_id.clone(),
            client_id: change.client_id.as_str().to_owned(),
            created_at: session.last_seen_at.secs(),
        })
        .execute(c)?;
    insert_events(c, std::slice::from_ref(change.event))
}

impl SsoStore for Database {
    fn browser_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<BrowserSessionRecord>, StoreError> {
        // One query: the session, only while its device is bound and not suspended and its
        // account active.
        let row: Option<BrowserSessionRow> = browser_sessions::table
            .inner_join(devices::table.on(devices::device_id.eq(browser_sessions::device_id)))
            .inner_join(citizens::table.on(citizens::citizen_id.eq(browser_sessions::citizen_id)))
            .filter(browser_sessions::token_hash.eq(token_hash))
            .filter(devices::suspended_at.is_null())
            .filter(citizens::status.eq(AccountStatus::Active.as_str()))
            .select(browser_sessions::all_columns)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(BrowserSessionRecord::try_from).transpose()
    }

    fn browser_sessions_of(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<BrowserSessionRecord>, StoreError> {
        // Only sessions that can still be used: their device bound and not suspended, the
        // account active (a removed passkey's session is not listed, nor ended again).
        let rows: Vec<BrowserSessionRow> = browser_sessions::table
            .inner_join(devices::table.on(devices::device_id.eq(browser_sessions::device_id)))
            .inner_join(citizens::table.on(citizens::citizen_id.eq(browser_sessions::citizen_id)))
            .filter(browser_sessions::citizen_id.eq(citizen_id.as_str()))
            .filter(devices::suspended_at.is_null())
            .filter(citizens::status.eq(AccountStatus::Active.as_str()))
            .select(browser_sessions::all_columns)
            .order((
                browser_sessions::last_seen_at.desc(),
                browser_sessions::session_id,
            ))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter()
            .map(BrowserSessionRecord::try_from)
            .collect()
    }

    fn session_of_login(
        &self,
        request_id: &str,
    ) -> Result<Option<BrowserSessionRecord>, StoreError> {
        let row: Option<BrowserSessionRow> = session_logins::table
            .inner_join(browser_sessions::table)
            .filter(session_logins::request_id.eq(request_id))
            .select(browser_sessions::all_columns)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(BrowserSessionRecord::try_from).transpose()
    }

    fn session_logins(&self, session_id: &str) -> Result<Vec<SessionLoginRecord>, StoreError> {
        let rows: Vec<SessionLoginRow> = session_logins::table
            .filter(session_logins::session_id.eq(session_id))
            .order((session_logins::created_at, session_logins::request_id))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn insert_session_login(
        &self,
        request: &AuthRequestRecord,
        session_id: &str,
        event: &AuditRecord,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            // The write first (SQLite never upgrades a read lock): the session's use, which
            // also says whether it still exists.
            let n = diesel::update(browser_sessions::table.find(session_id))
                .set(browser_sessions::last_seen_at.eq(now.secs()))
                .execute(c)?;
            if n == 0 {
                return Ok(false);
            }
            diesel::insert_into(auth_requests::table)
                .values(AuthRequestRow::from(request))
                .execute(c)?;
            diesel::insert_into(session_logins::table)
                .values(SessionLoginRow {
                    request_id: request.request_id.clone(),
                    session_id: session_id.to_owned(),
                    client_id: request.client_id.as_str().to_owned(),
                    created_at: now.secs(),
                })
                .execute(c)?;
            insert_events(c, std::slice::from_ref(event))?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn touch_browser_session(&self, session_id: &str, now: UnixTime) -> Result<(), StoreError> {
        diesel::update(browser_sessions::table.find(session_id))
            .set(browser_sessions::last_seen_at.eq(now.secs()))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }

    fn delete_browser_sessions_of(&self, citizen_id: &CitizenId) -> Result<usize, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<usize, DieselError, _>(|c| {
            let sessions = browser_sessions::table
                .filter(browser_sessions::citizen_id.eq(citizen_id.as_str()))
                .select(browser_sessions::session_id);
            diesel::delete(
                session_logins::table.filter(session_logins::session_id.eq_any(sessions)),
            )
            .execute(c)?;
            diesel::delete(
                browser_sessions::table
                    .filter(browser_sessions::citizen_id.eq(citizen_id.as_str())),
            )
            .execute(c)
        })
        .map_err(backend)
    }

    fn end_browser_session(
        &self,
        citizen_id: &CitizenId,
        session_id: &str,
        event: Option<&AuditRecord>,
    ) -> Result<Option<Vec<SessionLoginRecord>>, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<Option<Vec<SessionLoginRecord>>, DieselError, _>(|c| {
            // The write first (SQLite never upgrades a read lock); its logins are read before
            // the session goes (they go with it, ON DELETE CASCADE).
            let n = diesel::update(
                browser_sessions::table
                    .filter(browser_sessions::session_id.eq(session_id))
                    .filter(browser_sessions::citizen_id.eq(citizen_id.as_str())),
            )
            .set(browser_sessions::expires_at.eq(0))
            .execute(c)?;
            if n == 0 {
                return Ok(None);
            }
            let logins: Vec<SessionLoginRow> = session_logins::table
                .filter(session_logins::session_id.eq(session_id))
                .order((session_logins::created_at, session_logins::request_id))
                .load(c)?;
            let ids: Vec<&str> = logins.iter().map(|l| l.request_id.as_str()).collect();
            diesel::delete(access_tokens::table.filter(access_tokens::request_id.eq_any(&ids)))
                .execute(c)?;
            diesel::delete(session_logins::table.filter(session_logins::session_id.eq(session_id)))
                .execute(c)?;
            diesel::delete(browser_sessions::table.find(session_id)).execute(c)?;
            if let Some(event) = event {
                insert_events(c, std::slice::from_ref(event))?;
            }
            Ok(Some(logins.into_iter().map(Into::into).collect()))
        })
        .map_err(backend)
    }
}
