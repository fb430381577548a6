use diesel::prelude::*;
use eid_core::account::AccountStatus;
use eid_core::store::{OfficerSessionRecord, SessionStore, StoreError, WalletSessionRecord};
use eid_core::time::UnixTime;

use crate::schema::{citizens, devices, officer_sessions, wallet_sessions};
use crate::{backend, Database};
use eid_core::ids::{CitizenId, DeviceId};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = wallet_sessions)]
pub(crate) struct WalletSessionRow {
    pub token_hash: Vec<u8>,
    pub citizen_id: String,
    pub device_id: String,
    pub expires_at: i64,
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = officer_sessions)]
pub(crate) struct OfficerSessionRow {
    pub token_hash: Vec<u8>,
    pub officer_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl SessionStore for Database {
    fn insert_wallet_session(&self, s: &WalletSessionRecord) -> Result<(), StoreError> {
        diesel::insert_into(wallet_sessions::table)
            .values(WalletSessionRow {
                token_hash: s.token_hash.clone(),
                citizen_id: s.citizen_id.clone().into_string(),
                device_id: s.device_id.clone().into_string(),
                expires_at: s.expires_at.secs(),
            })
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }

    fn wallet_session(&self, token_hash: &[u8]) -> Result<Option<WalletSessionRecord>, StoreError> {
        // One query: the session, only while its device is bound and not suspended and its
        // account active.
        let row: Option<WalletSessionRow> = wallet_sessions::table
            .inner_join(devices::table.on(devices::device_id.eq(wallet_sessions::device_id)))
            .inner_join(citizens::table.on(citizens::citizen_id.eq(wallet_sessions::citizen_id)))
            .filter(wallet_sessions::token_hash.eq(token_hash))
            .filter(devices::suspended_at.is_null())
            .filter(citizens::status.eq(AccountStatus::Active.as_str()))
            .select(wallet_sessions::all_columns)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(|r| WalletSessionRecord {
            token_hash: r.token_hash,
            citizen_id: CitizenId::from(r.citizen_id),
            device_id: DeviceId::from(r.device_id),
            expires_at: UnixTime::from_secs(r.expires_at),
        }))
    }

    fn insert_officer_session(&self, s: &OfficerSessionRecord) -> Result<(), StoreError> {
        diesel::insert_into(officer_sessions::table)
            .values(OfficerSessionRow {
                token_hash: s.token_hash.clone(),
                officer_id: s.officer_id.clone(),
                csrf_token: s.csrf_token.clone(),
                created_at: s.created_at.secs(),
                expires_at: s.expires_at.secs(),
            })
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }

    fn officer_session(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<OfficerSessionRecord>, StoreError> {
        let row: Option<OfficerSessionRow> = officer_sessions::table
            .find(token_hash)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(|r| OfficerSessionRecord {
            token_hash: r.token_hash,
            officer_id: r.officer_id,
            csrf_token: r.csrf_token,
            created_at: UnixTime::from_secs(r.created_at),
            expires_at: UnixTime::from_secs(r.expires_at),
        }))
    }

    fn delete_officer_session(&self, token_hash: &[u8]) -> Result<bool, StoreError> {
        Ok(diesel::delete(officer_sessions::table.find(token_hash))
            .execute(&mut *self.writer()?)
            .map_err(backend)?
            == 1)
    }
}
