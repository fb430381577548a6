use diesel::prelude::*;
use diesel::result::Error as DieselError;
use eid_core::account::AccountStatus;
use eid_core::store::{
    AccessTokenRecord, RefreshTokenRecord, Renewal, Rotation, StoreError, TokenStore,
};
use eid_core::time::UnixTime;

use super::logins::{account_status, level, scopes};
use crate::schema::{access_tokens, auth_requests, citizens, devices, refresh_tokens};
use crate::{backend, corrupt, AnyConnection, Database};
use eid_core::ids::{CitizenId, ClientId, DeviceId};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = access_tokens)]
pub(crate) struct AccessTokenRow {
    pub token_hash: Vec<u8>,
    pub request_id: String,
    pub client_id: String,
    pub citizen_id: String,
    pub scope: String,
    pub expires_at: i64,
    pub claims: String,
    pub jkt: Option<String>,
}

impl From<&AccessTokenRecord> for AccessTokenRow {
    fn from(r: &AccessTokenRecord) -> Self {
        Self {
            token_hash: r.token_hash.clone(),
            request_id: r.request_id.clone(),
            client_id: r.client_id.clone().into_string(),
            citizen_id: r.citizen_id.clone().into_string(),
            scope: r.scope.to_string(),
            expires_at: r.expires_at.secs(),
            claims: r.claims.clone(),
            jkt: r.jkt.clone(),
        }
    }
}

impl TryFrom<AccessTokenRow> for AccessTokenRecord {
    type Error = StoreError;
    fn try_from(r: AccessTokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            scope: scopes(&r.scope)?,
            token_hash: r.token_hash,
            request_id: r.request_id,
            client_id: ClientId::from(r.client_id),
            citizen_id: CitizenId::from(r.citizen_id),
            expires_at: UnixTime::from_secs(r.expires_at),
            claims: r.claims,
            jkt: r.jkt,
        })
    }
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub(crate) struct RefreshTokenRow {
    pub token_hash: Vec<u8>,
    pub family_id: String,
    pub client_id: String,
    pub citizen_id: String,
    pub device_id: String,
    pub scope: String,
    pub claims: String,
    pub acr: String,
    pub amr: String,
    pub auth_time: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub family_expires_at: i64,
    pub used_at: Option<i64>,
}

impl From<&RefreshTokenRecord> for RefreshTokenRow {
    fn from(r: &RefreshTokenRecord) -> Self {
        Self {
            token_hash: r.token_hash.clone(),
            family_id: r.family_id.clone(),
            client_id: r.client_id.clone().into_string(),
            citizen_id: r.citizen_id.clone().into_string(),
            device_id: r.device_id.clone().into_string(),
            scope: r.scope.to_string(),
            claims: r.claims.clone(),
            acr: r.acr.as_str().to_owned(),
            amr: r.amr.clone(),
            auth_time: r.auth_time.secs(),
            issued_at: r.issued_at.secs(),
            expires_at: r.expires_at.secs(),
            family_expires_at: r.family_expires_at.secs(),
            used_at: r.used_at.map(UnixTime::secs),
        }
    }
}

impl TryFrom<RefreshTokenRow> for RefreshTokenRecord {
    type Error = StoreError;
    fn try_from(r: RefreshTokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            scope: scopes(&r.scope)?,
            acr: level(Some(r.acr))?.ok_or_else(|| corrupt("acr", "missing"))?,
            token_hash: r.token_hash,
            family_id: r.family_id,
            client_id: ClientId::from(r.client_id),
            citizen_id: CitizenId::from(r.citizen_id),
            device_id: DeviceId::from(r.device_id),
            claims: r.claims,
            amr: r.amr,
            auth_time: UnixTime::from_secs(r.auth_time),
            issued_at: UnixTime::from_secs(r.issued_at),
            expires_at: UnixTime::from_secs(r.expires_at),
            family_expires_at: UnixTime::from_secs(r.family_expires_at),
            used_at: r.used_at.map(UnixTime::from_secs),
        })
    }
}

/// Stores an access token, and a refresh token with it, inside the caller's transaction.
pub(super) fn insert_tokens(
    c: &mut AnyConnection,
    access: &AccessTokenRecord,
    refresh: Option<&RefreshTokenRecord>,
) -> QueryResult<()> {
    diesel::insert_into(access_tokens::table)
        .values(AccessTokenRow::from(access))
        .execute(c)?;
    if let Some(refresh) = refresh {
        diesel::insert_into(refresh_tokens::table)
            .values(RefreshTokenRow::from(refresh))
            .execute(c)?;
    }
    Ok(())
}

/// Deletes every token a client holds for a citizen, inside the caller's transaction.
pub(super) fn delete_grants(
    c: &mut AnyConnection,
    citizen_id: &str,
    client_id: &str,
) -> QueryResult<usize> {
    let access = diesel::delete(
        access_tokens::table
            .filter(access_tokens::citizen_id.eq(citizen_id))
            .filter(access_tokens::client_id.eq(client_id)),
    )
    .execute(c)?;
    let refresh = diesel::delete(
        refresh_tokens::table
            .filter(refresh_tokens::citizen_id.eq(citizen_id))
            .filter(refresh_tokens::client_id.eq(client_id)),
    )
    .execute(c)?;
    Ok(access + refresh)
}

impl TokenStore for Database {
    fn access_token(&self, token_hash: &[u8]) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row: Option<AccessTokenRow> = access_tokens::table
            .find(token_hash)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(AccessTokenRecord::try_from).transpose()
    }

    fn revoke_access_token(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
        let n = diesel::delete(access_tokens::table.find(token_hash))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(RefreshTokenRecord, Option<AccountStatus>)>, StoreError> {
        let row: Option<(RefreshTokenRow, Option<String>)> = refresh_tokens::table
            .left_join(citizens::table)
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select((refresh_tokens::all_columns, citizens::status.nullable()))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        let Some((row, status)) = row else {
            return Ok(None);
        };
        Ok(Some((
            RefreshTokenRecord::try_from(row)?,
            account_status(status)?,
        )))
    }

    fn renew_refresh_token(
        &self,
        old_hash: &[u8],
        now: UnixTime,
        renewal: Renewal<'_>,
        access: &AccessTokenRecord,
    ) -> Result<Rotation, StoreError> {
        let now = now.secs();
        let mut conn = self.writer()?;
        conn.transaction::<Rotation, DieselError, _>(|c| {
            // One statement: the device check is a primary-key lookup inside the
            // compare-and-set, which starts the transaction with a write.
            let unused = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(old_hash))
                .filter(refresh_tokens::used_at.is_null())
                .filter(diesel::dsl::exists(
                    devices::table
                        .filter(devices::device_id.eq(refresh_tokens::device_id))
                        .filter(devices::suspended_at.is_null()),
                ));
            let n = match renewal {
                Renewal::Rotate(_) => diesel::update(unused)
                    .set(refresh_tokens::used_at.eq(Some(now)))
                    .execute(c)?,
                Renewal::Extend(expires_at) => diesel::update(unused)
                    .set(refresh_tokens::expires_at.eq(expires_at.secs()))
                    .execute(c)?,
            };
            if n == 1 {
                let successor = match renewal {
                    Renewal::Rotate(next) => Some(next),
                    Renewal::Extend(_) => None,
                };
                insert_tokens(c, access, successor)?;
                return Ok(Rotation::Rotated);
            }
            let used: Option<Option<i64>> = refresh_tokens::table
                .find(old_hash)
                .select(refresh_tokens::used_at)
                .first(c)
                .optional()?;
            Ok(match used {
                Some(None) => Rotation::DeviceGone,
                _ => Rotation::AlreadyUsed,
            })
        })
        .map_err(backend)
    }

    fn revoke_token_family(&self, family_id: &str) -> Result<usize, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<usize, DieselError, _>(|c| {
            let refresh = diesel::delete(
                refresh_tokens::table.filter(refresh_tokens::family_id.eq(family_id)),
            )
            .execute(c)?;
            let access = diesel::delete(
                access_tokens::table.filter(access_tokens::request_id.eq(family_id)),
            )
            .execute(c)?;
            Ok(refresh + access)
        })
        .map_err(backend)
    }

    fn revoke_access_tokens_of(&self, family_id: &str) -> Result<usize, StoreError> {
        diesel::delete(access_tokens::table.filter(access_tokens::request_id.eq(family_id)))
            .execute(&mut *self.writer()?)
            .map_err(backend)
    }

    fn clients_holding(&self, citizen_id: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        let mut clients: Vec<String> = access_tokens::table
            .filter(access_tokens::citizen_id.eq(citizen_id))
            .select(access_tokens::client_id)
            .distinct()
            .load(&mut *conn)
            .map_err(backend)?;
        let refresh: Vec<String> = refresh_tokens::table
            .filter(refresh_tokens::citizen_id.eq(citizen_id))
            .select(refresh_tokens::client_id)
            .distinct()
            .load(&mut *conn)
            .map_err(backend)?;
        clients.extend(refresh);
        clients.sort();
        clients.dedup();
        Ok(clients)
    }

    fn grants_of_device(&self, device_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.conn()?;
        let mut grants: Vec<(String, String)> = refresh_tokens::table
            .filter(refresh_tokens::device_id.eq(device_id))
            .select((refresh_tokens::client_id, refresh_tokens::family_id))
            .distinct()
            .load(&mut *conn)
            .map_err(backend)?;
        // Access tokens name their login, whose approval names the device.
        let logins: Vec<String> = auth_requests::table
            .filter(auth_requests::device_id.eq(device_id))
            .select(auth_requests::request_id)
            .load(&mut *conn)
            .map_err(backend)?;
        for chunk in logins.chunks(500) {
            let access: Vec<(String, String)> = access_tokens::table
                .filter(access_tokens::request_id.eq_any(chunk))
                .select((access_tokens::client_id, access_tokens::request_id))
                .distinct()
                .load(&mut *conn)
                .map_err(backend)?;
            grants.extend(access);
        }
        grants.sort();
        grants.dedup();
        Ok(grants)
    }
}
