use diesel::prelude::*;
use eid_core::account::{AccountStatus, JoinedBy, Level};
use eid_core::store::{
    AccountChange, AccountProfile, AccountStore, AuditRecord, CitizenRecord, DeleteDevice,
    DeviceRecord, ProvenBinding, StoreError,
};
use eid_core::time::UnixTime;

use super::audit::insert_events;
use crate::schema::{
    access_tokens, applications, citizen_profiles, citizens, consents, devices, wallet_sessions,
};
use crate::{backend, corrupt, is_unique_violation, AnyConnection, Database, TxError};
use eid_core::ids::{CitizenId, DeviceId};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = citizens)]
pub(crate) struct CitizenRow {
    pub citizen_id: String,
    pub reference: String,
    pub hkid_index: Vec<u8>,
    pub level: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&CitizenRecord> for CitizenRow {
    fn from(r: &CitizenRecord) -> Self {
        Self {
            citizen_id: r.citizen_id.clone().into_string(),
            reference: r.reference.clone(),
            hkid_index: r.hkid_index.clone(),
            level: r.level.map(|l| l.as_str().to_owned()),
            status: r.status.as_str().to_owned(),
            created_at: r.created_at.secs(),
            updated_at: r.updated_at.secs(),
        }
    }
}

impl TryFrom<CitizenRow> for CitizenRecord {
    type Error = StoreError;
    fn try_from(r: CitizenRow) -> Result<Self, StoreError> {
        let level = match r.level.as_deref() {
            None => None,
            Some(l) => Some(Level::parse(l).ok_or_else(|| corrupt("level", l))?),
        };
        Ok(Self {
            status: AccountStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?,
            level,
            citizen_id: CitizenId::from(r.citizen_id),
            reference: r.reference,
            hkid_index: r.hkid_index,
            created_at: UnixTime::from_secs(r.created_at),
            updated_at: UnixTime::from_secs(r.updated_at),
        })
    }
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = citizen_profiles)]
pub(crate) struct ProfileRow {
    pub citizen_id: String,
    pub profile: Vec<u8>,
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = devices)]
pub(crate) struct DeviceRow {
    pub device_id: String,
    pub citizen_id: String,
    pub credential_id: String,
    pub user_handle: String,
    pub name: String,
    pub passkey: String,
    pub joined_by: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub suspended_at: Option<i64>,
    pub attestation: Option<String>,
}

impl From<&DeviceRecord> for DeviceRow {
    fn from(r: &DeviceRecord) -> Self {
        Self {
            device_id: r.device_id.clone().into_string(),
            citizen_id: r.citizen_id.clone().into_string(),
            credential_id: r.credential_id.clone(),
            user_handle: r.user_handle.clone(),
            name: r.name.clone(),
            passkey: r.passkey.clone(),
            joined_by: r.joined_by.as_str().to_owned(),
            created_at: r.created_at.secs(),
            last_used_at: r.last_used_at.map(UnixTime::secs),
            suspended_at: r.suspended_at.map(UnixTime::secs),
            attestation: r.attestation.clone(),
        }
    }
}

impl TryFrom<DeviceRow> for DeviceRecord {
    type Error = StoreError;
    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        Ok(Self {
            joined_by: JoinedBy::parse(&r.joined_by)
                .ok_or_else(|| corrupt("joined_by", &r.joined_by))?,
            device_id: DeviceId::from(r.device_id),
            citizen_id: CitizenId::from(r.citizen_id),
            credential_id: r.credential_id,
            user_handle: r.user_handle,
            name: r.name,
            passkey: r.passkey,
            created_at: UnixTime::from_secs(r.created_at),
            last_used_at: r.last_used_at.map(UnixTime::from_secs),
            suspended_at: r.suspended_at.map(UnixTime::from_secs),
            attestation: r.attestation,
        })
    }
}

fn put_profile(c: &mut AnyConnection, citizen_id: &str, profile: &[u8]) -> QueryResult<()> {
    diesel::delete(citizen_profiles::table.find(citizen_id)).execute(c)?;
    diesel::insert_into(citizen_profiles::table)
        .values(ProfileRow {
            citizen_id: citizen_id.to_owned(),
            profile: profile.to_vec(),
        })
        .execute(c)?;
    Ok(())
}

impl AccountStore for Database {
    fn citizen(&self, citizen_id: &str) -> Result<Option<CitizenRecord>, StoreError> {
        let row: Option<CitizenRow> = citizens::table
            .find(citizen_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }

    fn citizen_by_hkid(&self, hkid_index: &[u8]) -> Result<Option<CitizenRecord>, StoreError> {
        let row: Option<CitizenRow> = citizens::table
            .filter(citizens::hkid_index.eq(hkid_index))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }

    fn citizen_by_reference(&self, reference: &str) -> Result<Option<CitizenRecord>, StoreError> {
        let row: Option<CitizenRow> = citizens::table
            .filter(citizens::reference.eq(reference))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }

    fn profile(&self, citizen_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        citizen_profiles::table
            .find(citizen_id)
            .select(citizen_profiles::profile)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)
    }

    fn account_profile(&self, citizen_id: &str) -> Result<Option<AccountProfile>, StoreError> {
        let row: Option<(String, Option<Vec<u8>>)> = citizens::table
            .left_join(citizen_profiles::table)
            .filter(citizens::citizen_id.eq(citizen_id))
            .select((citizens::status, citizen_profiles::profile.nullable()))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(|(status, profile)| {
            AccountStatus::parse(&status)
                .map(|s| (s, profile))
                .ok_or_else(|| corrupt("status", &status))
        })
        .transpose()
    }

    fn bind_proven(&self, b: &ProvenBinding) -> Result<(), StoreError> {
        let citizen_id = match &b.account {
            AccountChange::Create(c) => c.citizen_id.clone(),
            AccountChange::Update { citizen_id, .. } => citizen_id.clone(),
        };
        let level = match &b.account {
            AccountChange::Create(c) => c.level,
            AccountChange::Update { level, .. } => Some(*level),
        };
        let mut conn = self.writer()?;
        conn.transaction::<(), TxError<StoreError>, _>(|c| {
            // Write first: the application must still be open, and this claims it.
            let n = diesel::update(
                applications::table
                    .filter(applications::application_id.eq(&b.application_id))
                    .filter(applications::status.eq_any(["open", "held"])),
            )
            .set((
                applications::status.eq("proven"),
                applications::held_proof.eq(None::<Vec<u8>>),
                applications::citizen_id.eq(Some(citizen_id.as_str())),
                applications::particulars.eq(None::<Vec<u8>>),
                applications::passkey.eq(None::<String>),
                applications::outcome.eq(level.map(|l| l.as_str())),
            ))
            .execute(c)?;
            if n != 1 {
                return Err(TxError::Abort(StoreError::Conflict("application")));
            }
            match &b.account {
                AccountChange::Create(record) => {
                    diesel::insert_into(citizens::table)
                        .values(CitizenRow::from(record))
                        .execute(c)
                        .map_err(|e| {
                            if is_unique_violation(&e, "hkid_index") {
                                TxError::Abort(StoreError::Duplicate("hkid"))
                            } else if is_unique_violation(&e, "reference") {
                                TxError::Abort(StoreError::Duplicate("reference"))
                            } else {
                                TxError::Db(e)
                            }
                        })?;
                }
                AccountChange::Update {
                    citizen_id,
                    expected_status,
                    level,
                    status,
                    revoke_devices,
                } => {
                    let n = diesel::update(
                        citizens::table
                            .filter(citizens::citizen_id.eq(citizen_id.as_str()))
                            .filter(citizens::status.eq(expected_status.as_str())),
                    )
                    .set((
                        citizens::level.eq(Some(level.as_str())),
                        citizens::status.eq(status.as_str()),
                        citizens::updated_at.eq(b.now.secs()),
                    ))
                    .execute(c)?;
                    if n != 1 {
                        return Err(TxError::Abort(StoreError::Conflict("account")));
                    }
                    // What the account can release changed (new proven particulars, maybe an
                    // address): standing consents were given for what was shown then, so the
                    // citizen is asked again.
                    diesel::delete(
                        consents::table.filter(consents::citizen_id.eq(citizen_id.as_str())),
                    )
                    .execute(c)?;
                    if *revoke_devices {
                        // The logins these devices approved die with them (`issue_code`).
                        diesel::delete(
                            wallet_sessions::table
                                .filter(wallet_sessions::citizen_id.eq(citizen_id.as_str())),
                        )
                        .execute(c)?;
                        diesel::delete(
                            devices::table.filter(devices::citizen_id.eq(citizen_id.as_str())),
                        )
                        .execute(c)?;
                    }
                }
            }
            put_profile(c, &citizen_id, &b.profile)?;
            if let Some(device) = &b.device {
                diesel::insert_into(devices::table)
                    .values(DeviceRow::from(device))
                    .execute(c)
                    .map_err(|e| {
                        if is_unique_violation(&e, "credential_id") {
                            TxError::Abort(StoreError::Duplicate("credential_id"))
                        } else {
                            TxError::Db(e)
                        }
                    })?;
            }
            insert_events(c, &b.events)?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn set_account_status(
        &self,
        citizen_id: &str,
        from: &[AccountStatus],
        to: AccountStatus,
        event: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let n = diesel::update(
                citizens::table
                    .filter(citizens::citizen_id.eq(citizen_id))
                    .filter(citizens::status.eq_any(&from)),
            )
            .set((
                citizens::status.eq(to.as_str()),
                citizens::updated_at.eq(event.at.secs()),
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

    fn close_account(&self, citizen_id: &str, event: &AuditRecord) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let n = diesel::update(
                citizens::table
                    .filter(citizens::citizen_id.eq(citizen_id))
                    .filter(citizens::status.ne(AccountStatus::Closed.as_str())),
            )
            .set((
                citizens::status.eq(AccountStatus::Closed.as_str()),
                citizens::level.eq(None::<String>),
                citizens::updated_at.eq(event.at.secs()),
            ))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            diesel::delete(citizen_profiles::table.find(citizen_id)).execute(c)?;
            diesel::delete(
                wallet_sessions::table.filter(wallet_sessions::citizen_id.eq(citizen_id)),
            )
            .execute(c)?;
            diesel::delete(devices::table.filter(devices::citizen_id.eq(citizen_id))).execute(c)?;
            diesel::delete(access_tokens::table.filter(access_tokens::citizen_id.eq(citizen_id)))
                .execute(c)?;
            diesel::delete(consents::table.filter(consents::citizen_id.eq(citizen_id)))
                .execute(c)?;
            diesel::delete(applications::table.filter(applications::citizen_id.eq(citizen_id)))
                .execute(c)?;
            insert_events(c, std::slice::from_ref(event))?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn insert_device(&self, device: &DeviceRecord, event: &AuditRecord) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<(), TxError<StoreError>, _>(|c| {
            // Write first, then check the account can still take a device.
            diesel::insert_into(devices::table)
                .values(DeviceRow::from(device))
                .execute(c)
                .map_err(|e| {
                    if is_unique_violation(&e, "credential_id") {
                        TxError::Abort(StoreError::Duplicate("credential_id"))
                    } else {
                        TxError::Db(e)
                    }
                })?;
            let status: Option<String> = citizens::table
                .find(device.citizen_id.as_str())
                .select(citizens::status)
                .first(c)
                .optional()?;
            if status.as_deref() != Some(AccountStatus::Active.as_str()) {
                return Err(TxError::Abort(StoreError::Conflict("account")));
            }
            insert_events(c, std::slice::from_ref(event))?;
            Ok(())
        })
        .map_err(Into::into)
    }

    fn devices(&self, citizen_id: &str) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows: Vec<DeviceRow> = devices::table
            .filter(devices::citizen_id.eq(citizen_id))
            .order((devices::created_at.asc(), devices::device_id.asc()))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let row: Option<DeviceRow> = devices::table
            .find(device_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(TryInto::try_into).transpose()
    }

    fn device_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<(DeviceRecord, CitizenRecord)>, StoreError> {
        let row: Option<(DeviceRow, CitizenRow)> = devices::table
            .inner_join(citizens::table)
            .filter(devices::credential_id.eq(credential_id))
            .select((devices::all_columns, citizens::all_columns))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        match row {
            Some((d, c)) => Ok(Some((d.try_into()?, c.try_into()?))),
            None => Ok(None),
        }
    }

    fn touch_device(
        &self,
        device_id: &str,
        expected: &str,
        passkey: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let now = now.secs();
        let n = diesel::update(
            devices::table
                .filter(devices::device_id.eq(device_id))
                .filter(devices::passkey.eq(expected))
                .filter(devices::suspended_at.is_null()),
        )
        .set((
            devices::passkey.eq(passkey),
            devices::last_used_at.eq(Some(now)),
        ))
        .execute(&mut *self.writer()?)
        .map_err(backend)?;
        Ok(n == 1)
    }

    fn suspend_device(
        &self,
        device_id: &str,
        now: UnixTime,
        event: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let now = now.secs();
        let mut conn = self.writer()?;
        conn.transaction::<bool, diesel::result::Error, _>(|c| {
            let n = diesel::update(
                devices::table
                    .filter(devices::device_id.eq(device_id))
                    .filter(devices::suspended_at.is_null()),
            )
            .set(devices::suspended_at.eq(Some(now)))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            diesel::delete(wallet_sessions::table.filter(wallet_sessions::device_id.eq(device_id)))
                .execute(c)?;
            insert_events(c, std::slice::from_ref(event))?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn remove_device(
        &self,
        citizen_id: &CitizenId,
        device_id: &DeviceId,
        event: &AuditRecord,
    ) -> Result<DeleteDevice, StoreError> {
        let (citizen_id, device_id) = (citizen_id.as_str(), device_id.as_str());
        /// Rolls the transaction back when the device was the last one.
        struct Last;
        let mut conn = self.writer()?;
        // Write first: the transaction takes the write lock with its first statement, so that
        // SQLite never has to upgrade a read lock (which fails at once under contention).
        let result = conn.transaction::<DeleteDevice, TxError<Last>, _>(|c| {
            let deleted = diesel::delete(
                devices::table
                    .filter(devices::device_id.eq(device_id))
                    .filter(devices::citizen_id.eq(citizen_id)),
            )
            .execute(c)?;
            if deleted == 0 {
                return Ok(DeleteDevice::NotFound);
            }
            let remaining: i64 = devices::table
                .filter(devices::citizen_id.eq(citizen_id))
                .count()
                .get_result(c)?;
            if remaining == 0 {
                return Err(TxError::Abort(Last));
            }
            diesel::delete(wallet_sessions::table.filter(wallet_sessions::device_id.eq(device_id)))
                .execute(c)?;
            insert_events(c, std::slice::from_ref(event))?;
            Ok(DeleteDevice::Deleted)
        });
        match result {
            Ok(outcome) => Ok(outcome),
            Err(TxError::Abort(Last)) => Ok(DeleteDevice::LastDevice),
            Err(TxError::Db(e)) => Err(backend(e)),
        }
    }
}
