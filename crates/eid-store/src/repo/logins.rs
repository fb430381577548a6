use diesel::prelude::*;
use diesel::result::Error as DieselError;
use eid_core::account::{AccountStatus, Level};
use eid_core::claims::{ClaimsRequest, Scopes};
use eid_core::oidc::{ResponseMode, ResponseType};
use eid_core::store::{
    AccessTokenRecord, Approval, ApprovalRecord, AuditRecord, AuthRequestRecord, ConsentRecord,
    IssueCode, LoginState, LoginStore, RefreshTokenRecord, RequestStatus, SessionChange,
    StoreError,
};
use eid_core::time::UnixTime;
use eid_core::OAuthErrorCode;

use super::audit::insert_events;
use super::sso::apply_session_change;
use super::tokens::{delete_grants, insert_tokens};
use crate::schema::{auth_requests, citizen_profiles, citizens, consents, devices};
use crate::{backend, corrupt, AnyConnection, Database};
use eid_core::ids::{CitizenId, ClientId};

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = auth_requests)]
pub(crate) struct AuthRequestRow {
    pub request_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub browser_hash: Vec<u8>,
    pub context: Option<Vec<u8>>,
    pub required_level: Option<String>,
    pub status: String,
    pub citizen_id: Option<String>,
    pub device_id: Option<String>,
    pub auth_time: Option<i64>,
    pub acr: Option<String>,
    pub amr: Option<String>,
    pub error_code: Option<String>,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub prompt: Option<String>,
    pub granted: Option<String>,
    pub response_mode: Option<String>,
    pub claims_request: Option<String>,
    pub expected_sub: Option<String>,
    pub dpop_jkt: Option<String>,
    pub par_id: Option<String>,
    pub response_type: Option<String>,
}

impl From<&AuthRequestRecord> for AuthRequestRow {
    fn from(r: &AuthRequestRecord) -> Self {
        let approval = r.login.approval();
        let (error_code, code_hash, code_expires_at) = match &r.login {
            LoginState::Denied(code) => (Some(code.as_str().to_owned()), None, None),
            LoginState::CodeIssued {
                code_hash,
                code_expires_at,
                ..
            } => (None, Some(code_hash.clone()), Some(*code_expires_at)),
            LoginState::Redeemed { code_hash, .. } => (None, Some(code_hash.clone()), None),
            LoginState::Pending | LoginState::Approved(_) => (None, None, None),
        };
        Self {
            request_id: r.request_id.clone(),
            client_id: r.client_id.clone().into_string(),
            redirect_uri: r.redirect_uri.clone(),
            scope: r.scope.to_string(),
            state: r.state.clone(),
            nonce: r.nonce.clone(),
            code_challenge: r.code_challenge.clone(),
            browser_hash: r.browser_hash.clone(),
            context: r.context.clone(),
            required_level: r.required_level.map(|l| l.as_str().to_owned()),
            status: r.status().as_str().to_owned(),
            citizen_id: approval.map(|a| a.citizen_id.to_string()),
            device_id: approval.map(|a| a.device_id.to_string()),
            auth_time: approval.map(|a| a.auth_time).map(UnixTime::secs),
            acr: approval.map(|a| a.acr.as_str().to_owned()),
            amr: approval.map(|a| a.amr.clone()),
            error_code,
            code_hash,
            code_expires_at: code_expires_at.map(UnixTime::secs),
            created_at: r.created_at.secs(),
            expires_at: r.expires_at.secs(),
            prompt: r.prompt.clone(),
            granted: approval.map(|a| a.granted.clone()),
            response_mode: match r.response_mode {
                ResponseMode::Query => None,
                mode => Some(mode.as_str().to_owned()),
            },
            expected_sub: r.expected_sub.clone(),
            dpop_jkt: r.dpop_jkt.clone(),
            par_id: r.par_id.clone(),
            response_type: match r.response_type {
                ResponseType::Code => None,
                other => Some(other.as_str().to_owned()),
            },
            claims_request: match r.claims.is_empty() {
                true => None,
                false => serde_json::to_string(&r.claims).ok(),
            },
        }
    }
}

pub(super) fn level(value: Option<String>) -> Result<Option<Level>, StoreError> {
    value
        .map(|v| Level::parse(&v).ok_or_else(|| corrupt("level", &v)))
        .transpose()
}

/// An account's stored status, if the row joined one.
pub(super) fn account_status(value: Option<String>) -> Result<Option<AccountStatus>, StoreError> {
    value
        .map(|s| AccountStatus::parse(&s).ok_or_else(|| corrupt("status", &s)))
        .transpose()
}

pub(super) fn scopes(value: &str) -> Result<Scopes, StoreError> {
    Scopes::from_stored(value).ok_or_else(|| corrupt("scope", value))
}

/// A column a stage of the login must have.
fn required<T>(value: Option<T>, column: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| corrupt(column, "missing"))
}

impl AuthRequestRow {
    /// The approval the row records, for the stages that have one.
    fn approval(&mut self) -> Result<Approval, StoreError> {
        Ok(Approval {
            citizen_id: required(self.citizen_id.take(), "citizen_id")?.into(),
            device_id: required(self.device_id.take(), "device_id")?.into(),
            auth_time: UnixTime::from_secs(required(self.auth_time, "auth_time")?),
            acr: required(level(self.acr.take())?, "acr")?,
            amr: required(self.amr.take(), "amr")?,
            granted: required(self.granted.take(), "granted")?,
        })
    }

    fn login(&mut self) -> Result<LoginState, StoreError> {
        let status = RequestStatus::parse(&self.status)
            .ok_or_else(|| corrupt("request status", &self.status))?;
        Ok(match status {
            RequestStatus::Pending => LoginState::Pending,
            RequestStatus::Approved => LoginState::Approved(self.approval()?),
            RequestStatus::Denied => {
                let code = required(self.error_code.take(), "error_code")?;
                LoginState::Denied(
                    OAuthErrorCode::parse(&code).ok_or_else(|| corrupt("error_code", &code))?,
                )
            }
            RequestStatus::CodeIssued => LoginState::CodeIssued {
                approval: self.approval()?,
                code_hash: required(self.code_hash.take(), "code_hash")?,
                code_expires_at: UnixTime::from_secs(required(
                    self.code_expires_at,
                    "code_expires_at",
                )?),
            },
            RequestStatus::Redeemed => LoginState::Redeemed {
                approval: self.approval()?,
                code_hash: required(self.code_hash.take(), "code_hash")?,
            },
        })
    }
}

impl TryFrom<AuthRequestRow> for AuthRequestRecord {
    type Error = StoreError;
    fn try_from(mut r: AuthRequestRow) -> Result<Self, StoreError> {
        Ok(Self {
            login: r.login()?,
            required_level: level(r.required_level)?,
            scope: scopes(&r.scope)?,
            request_id: r.request_id,
            client_id: ClientId::from(r.client_id),
            redirect_uri: r.redirect_uri,
            state: r.state,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            browser_hash: r.browser_hash,
            context: r.context,
            created_at: UnixTime::from_secs(r.created_at),
            expires_at: UnixTime::from_secs(r.expires_at),
            prompt: r.prompt,
            expected_sub: r.expected_sub,
            dpop_jkt: r.dpop_jkt,
            par_id: r.par_id,
            claims: match r.claims_request.as_deref() {
                None => ClaimsRequest::default(),
                Some(json) => {
                    serde_json::from_str(json).map_err(|_| corrupt("claims_request", json))?
                }
            },
            response_type: match r.response_type.as_deref() {
                None => ResponseType::Code,
                Some(t) => ResponseType::parse(t).ok_or_else(|| corrupt("response_type", t))?,
            },
            response_mode: match r.response_mode.as_deref() {
                None => ResponseMode::Query,
                Some(mode) => {
                    ResponseMode::parse(mode).ok_or_else(|| corrupt("response_mode", mode))?
                }
            },
        })
    }
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub(crate) struct ConsentRow {
    pub citizen_id: String,
    pub client_id: String,
    pub claims: String,
    pub granted_at: i64,
}

impl From<ConsentRow> for ConsentRecord {
    fn from(r: ConsentRow) -> Self {
        Self {
            citizen_id: CitizenId::from(r.citizen_id),
            client_id: ClientId::from(r.client_id),
            claims: r.claims,
            granted_at: UnixTime::from_secs(r.granted_at),
        }
    }
}

/// Inserts or replaces a standing consent inside the caller's transaction.
fn upsert_consent(c: &mut AnyConnection, consent: &ConsentRecord) -> QueryResult<()> {
    let n = diesel::update(
        consents::table.find((consent.citizen_id.as_str(), consent.client_id.as_str())),
    )
    .set((
        consents::claims.eq(&consent.claims),
        consents::granted_at.eq(consent.granted_at.secs()),
    ))
    .execute(c)?;
    if n == 0 {
        diesel::insert_into(consents::table)
            .values(ConsentRow {
                citizen_id: consent.citizen_id.clone().into_string(),
                client_id: consent.client_id.clone().into_string(),
                claims: consent.claims.clone(),
                granted_at: consent.granted_at.secs(),
            })
            .execute(c)?;
    }
    Ok(())
}

impl LoginStore for Database {
    fn insert_auth_request(&self, request: &AuthRequestRecord) -> Result<(), StoreError> {
        diesel::insert_into(auth_requests::table)
            .values(AuthRequestRow::from(request))
            .execute(&mut *self.writer()?)
            .map_err(backend)?;
        Ok(())
    }

    fn auth_request(&self, request_id: &str) -> Result<Option<AuthRequestRecord>, StoreError> {
        let row: Option<AuthRequestRow> = auth_requests::table
            .find(request_id)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        row.map(AuthRequestRecord::try_from).transpose()
    }

    fn auth_request_by_code(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<(AuthRequestRecord, Option<AccountStatus>)>, StoreError> {
        let row: Option<(AuthRequestRow, Option<String>)> = auth_requests::table
            .left_join(citizens::table)
            .filter(auth_requests::code_hash.eq(code_hash))
            .select((auth_requests::all_columns, citizens::status.nullable()))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        let Some((row, status)) = row else {
            return Ok(None);
        };
        Ok(Some((
            AuthRequestRecord::try_from(row)?,
            account_status(status)?,
        )))
    }

    fn approve_auth_request(
        &self,
        request_id: &str,
        approval: &ApprovalRecord,
        now: UnixTime,
        consent: Option<(&ConsentRecord, &AuditRecord)>,
    ) -> Result<bool, StoreError> {
        let now = now.secs();
        let approve = |c: &mut AnyConnection| {
            diesel::update(
                auth_requests::table
                    .filter(auth_requests::request_id.eq(request_id))
                    .filter(auth_requests::status.eq(RequestStatus::Pending.as_str()))
                    .filter(auth_requests::expires_at.gt(now)),
            )
            .set((
                auth_requests::status.eq(RequestStatus::Approved.as_str()),
                auth_requests::citizen_id.eq(Some(approval.approval.citizen_id.as_str())),
                auth_requests::device_id.eq(Some(approval.approval.device_id.as_str())),
                auth_requests::auth_time.eq(Some(approval.approval.auth_time.secs())),
                auth_requests::acr.eq(Some(approval.approval.acr.as_str())),
                auth_requests::amr.eq(Some(&approval.approval.amr)),
                auth_requests::granted.eq(Some(&approval.approval.granted)),
                auth_requests::context.eq(&approval.context),
            ))
            .execute(c)
        };
        let mut conn = self.writer()?;
        if consent.is_none() && approval.device_use.is_none() {
            return approve(&mut conn).map(|n| n == 1).map_err(backend);
        }
        // One transaction, so one commit: the device's use, the approval, the consent.
        conn.transaction::<Result<bool, StoreError>, DieselError, _>(|c| {
            if let Some((expected, passkey)) = &approval.device_use {
                let used = diesel::update(
                    devices::table
                        .filter(devices::device_id.eq(approval.approval.device_id.as_str()))
                        .filter(devices::passkey.eq(expected))
                        .filter(devices::suspended_at.is_null()),
                )
                .set((
                    devices::passkey.eq(passkey),
                    devices::last_used_at.eq(Some(now)),
                ))
                .execute(c)?;
                if used != 1 {
                    return Ok(Err(StoreError::Conflict("device")));
                }
            }
            if approve(c)? != 1 {
                return Ok(Ok(false));
            }
            if let Some((consent, event)) = consent {
                upsert_consent(c, consent)?;
                insert_events(c, std::slice::from_ref(event))?;
            }
            Ok(Ok(true))
        })
        .map_err(backend)?
    }

    fn deny_auth_request(
        &self,
        request_id: &str,
        from: RequestStatus,
        error: OAuthErrorCode,
        event: Option<&AuditRecord>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            let n = diesel::update(
                auth_requests::table
                    .filter(auth_requests::request_id.eq(request_id))
                    .filter(auth_requests::status.eq(from.as_str())),
            )
            .set((
                auth_requests::status.eq(RequestStatus::Denied.as_str()),
                auth_requests::error_code.eq(Some(error.as_str())),
                auth_requests::context.eq(None::<Vec<u8>>),
            ))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            if let Some(event) = event {
                insert_events(c, std::slice::from_ref(event))?;
            }
            Ok(true)
        })
        .map_err(backend)
    }

    fn renew_auth_request(
        &self,
        request_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
        created_after: UnixTime,
    ) -> Result<bool, StoreError> {
        let expires_at = expires_at.secs();
        let now = now.secs();
        let created_after = created_after.secs();
        let n = diesel::update(
            auth_requests::table
                .filter(auth_requests::request_id.eq(request_id))
                .filter(auth_requests::status.eq(RequestStatus::Pending.as_str()))
                .filter(auth_requests::expires_at.le(now))
                .filter(auth_requests::created_at.gt(created_after)),
        )
        .set(auth_requests::expires_at.eq(expires_at))
        .execute(&mut *self.writer()?)
        .map_err(backend)?;
        Ok(n == 1)
    }

    fn issue_code(
        &self,
        request_id: &str,
        code_hash: &[u8],
        code_expires_at: UnixTime,
        approved_after: UnixTime,
        session: Option<SessionChange<'_>>,
    ) -> Result<IssueCode, StoreError> {
        let code_expires_at = code_expires_at.secs();
        let approved_after = approved_after.secs();
        let mut conn = self.writer()?;
        conn.transaction::<IssueCode, DieselError, _>(|c| {
            // One statement: the device check is a primary-key lookup inside the
            // compare-and-set.
            let n = diesel::update(
                auth_requests::table
                    .filter(auth_requests::request_id.eq(request_id))
                    .filter(auth_requests::status.eq(RequestStatus::Approved.as_str()))
                    .filter(auth_requests::auth_time.ge(approved_after))
                    .filter(diesel::dsl::exists(
                        devices::table
                            .filter(devices::device_id.nullable().eq(auth_requests::device_id))
                            .filter(devices::suspended_at.is_null()),
                    )),
            )
            .set((
                auth_requests::status.eq(RequestStatus::CodeIssued.as_str()),
                auth_requests::code_hash.eq(Some(code_hash)),
                auth_requests::code_expires_at.eq(Some(code_expires_at)),
            ))
            .execute(c)?;
            if n == 1 {
                if let Some(change) = &session {
                    apply_session_change(c, change, request_id)?;
                }
                return Ok(IssueCode::Issued);
            }
            let row: Option<(String, Option<i64>)> = auth_requests::table
                .find(request_id)
                .select((auth_requests::status, auth_requests::auth_time))
                .first(c)
                .optional()?;
            Ok(match row {
                Some((status, auth_time)) if status == RequestStatus::Approved.as_str() => {
                    if auth_time.is_none_or(|t| t < approved_after) {
                        IssueCode::TooLate
                    } else {
                        IssueCode::DeviceGone
                    }
                }
                _ => IssueCode::NotApproved,
            })
        })
        .map_err(backend)
    }

    fn redeem_code(
        &self,
        request_id: &str,
        access: Option<&AccessTokenRecord>,
        refresh: Option<&RefreshTokenRecord>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.writer()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            let n = diesel::update(
                auth_requests::table
                    .filter(auth_requests::request_id.eq(request_id))
                    .filter(auth_requests::status.eq(RequestStatus::CodeIssued.as_str())),
            )
            .set((
                auth_requests::status.eq(RequestStatus::Redeemed.as_str()),
                auth_requests::state.eq(None::<String>),
                auth_requests::nonce.eq(None::<String>),
            ))
            .execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            if let Some(access) = access {
                insert_tokens(c, access, refresh)?;
            }
            Ok(true)
        })
        .map_err(backend)
    }

    fn consent(
        &self,
        citizen_id: &CitizenId,
        client_id: &ClientId,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let (citizen_id, client_id) = (citizen_id.as_str(), client_id.as_str());
        let row: Option<ConsentRow> = consents::table
            .find((citizen_id, client_id))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(row.map(Into::into))
    }

    fn profile_and_consent(
        &self,
        citizen_id: &CitizenId,
        client_id: &ClientId,
    ) -> Result<(Option<Vec<u8>>, Option<ConsentRecord>), StoreError> {
        let (citizen_id, client_id) = (citizen_id.as_str(), client_id.as_str());
        let row: Option<(Vec<u8>, Option<ConsentRow>)> = citizen_profiles::table
            .left_join(
                consents::table.on(consents::citizen_id
                    .eq(citizen_profiles::citizen_id)
                    .and(consents::client_id.eq(client_id))),
            )
            .filter(citizen_profiles::citizen_id.eq(citizen_id))
            .select((citizen_profiles::profile, consents::all_columns.nullable()))
            .first(&mut *self.conn()?)
            .optional()
            .map_err(backend)?;
        Ok(match row {
            Some((profile, consent)) => (Some(profile), consent.map(Into::into)),
            None => (None, None),
        })
    }

    fn consents(&self, citizen_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        let rows: Vec<ConsentRow> = consents::table
            .filter(consents::citizen_id.eq(citizen_id))
            .order((consents::granted_at, consents::client_id))
            .load(&mut *self.conn()?)
            .map_err(backend)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    fn withdraw_consent(
        &self,
        citizen_id: &CitizenId,
        client_id: &ClientId,
        event: &AuditRecord,
    ) -> Result<bool, StoreError> {
        let (citizen_id, client_id) = (citizen_id.as_str(), client_id.as_str());
        let mut conn = self.writer()?;
        conn.transaction::<bool, DieselError, _>(|c| {
            let n = diesel::delete(consents::table.find((citizen_id, client_id))).execute(c)?;
            if n != 1 {
                return Ok(false);
            }
            delete_grants(c, citizen_id, client_id)?;
            insert_events(c, std::slice::from_ref(event))?;
            Ok(true)
        })
        .map_err(backend)
    }

    fn drop_oldest_pending_auth_requests(
        &self,
        client_id: &ClientId,
        keep: u64,
    ) -> Result<u64, StoreError> {
        let pending = RequestStatus::Pending.as_str();
        let mut c = self.writer()?;
        // The first request beyond the newest `keep` (newest first, ties by id): it and every
        // older one go. Two statements, no transaction: a request added meanwhile is newer.
        let cut: Option<(i64, String)> = auth_requests::table
            .filter(auth_requests::client_id.eq(client_id.as_str()))
            .filter(auth_requests::status.eq(pending))
            .order((
                auth_requests::created_at.desc(),
                auth_requests::request_id.desc(),
            ))
            .select((auth_requests::created_at, auth_requests::request_id))
            .offset(i64::try_from(keep).unwrap_or(i64::MAX))
            .limit(1)
            .first(&mut *c)
            .optional()
            .map_err(backend)?;
        let Some((created_at, request_id)) = cut else {
            return Ok(0);
        };
        let n = diesel::delete(
            auth_requests::table
                .filter(auth_requests::client_id.eq(client_id.as_str()))
                .filter(auth_requests::status.eq(pending))
                .filter(
                    auth_requests::created_at
                        .lt(created_at)
                        .or(auth_requests::created_at
                            .eq(created_at)
                            .and(auth_requests::request_id.le(&request_id))),
                ),
        )
        .execute(&mut *c)
        .map_err(backend)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
