//! Row types and their conversion to and from the core's records.

use diesel::prelude::*;
use eid_core::store::*;

use crate::schema::*;

#[derive(Queryable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub created_at: i64,
}

impl From<SigningKeyRecord> for SigningKeyRow {
    fn from(r: SigningKeyRecord) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            private_key: r.private_key,
            created_at: r.created_at,
        }
    }
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(r: SigningKeyRow) -> Self {
        Self {
            kid: r.kid,
            alg: r.alg,
            private_key: r.private_key,
            created_at: r.created_at,
        }
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    /// One URI per line: URIs cannot contain a line break.
    pub redirect_uris: String,
    pub id_token_alg: String,
    pub created_at: i64,
}

impl From<ClientRecord> for ClientRow {
    fn from(r: ClientRecord) -> Self {
        Self {
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: r.redirect_uris.join("\n"),
            id_token_alg: r.id_token_alg,
            created_at: r.created_at,
        }
    }
}

impl From<ClientRow> for ClientRecord {
    fn from(r: ClientRow) -> Self {
        Self {
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: r.redirect_uris.lines().map(str::to_owned).collect(),
            id_token_alg: r.id_token_alg,
            created_at: r.created_at,
        }
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = citizens)]
pub struct CitizenRow {
    pub citizen_id: String,
    pub hkid_index: Vec<u8>,
    pub profile: Vec<u8>,
    pub created_at: i64,
}

impl From<CitizenRecord> for CitizenRow {
    fn from(r: CitizenRecord) -> Self {
        Self {
            citizen_id: r.citizen_id,
            hkid_index: r.hkid_index,
            profile: r.profile,
            created_at: r.created_at,
        }
    }
}

impl From<CitizenRow> for CitizenRecord {
    fn from(r: CitizenRow) -> Self {
        Self {
            citizen_id: r.citizen_id,
            hkid_index: r.hkid_index,
            profile: r.profile,
            created_at: r.created_at,
        }
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = devices)]
pub struct DeviceRow {
    pub device_id: String,
    pub citizen_id: String,
    pub credential_id: String,
    pub name: String,
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<DeviceRecord> for DeviceRow {
    fn from(r: DeviceRecord) -> Self {
        Self {
            device_id: r.device_id,
            citizen_id: r.citizen_id,
            credential_id: r.credential_id,
            name: r.name,
            passkey: r.passkey,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

impl From<DeviceRow> for DeviceRecord {
    fn from(r: DeviceRow) -> Self {
        Self {
            device_id: r.device_id,
            citizen_id: r.citizen_id,
            credential_id: r.credential_id,
            name: r.name,
            passkey: r.passkey,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = ceremonies)]
pub struct CeremonyRow {
    pub ceremony_id: String,
    pub purpose: String,
    pub citizen_id: Option<String>,
    pub state: Vec<u8>,
    pub expires_at: i64,
}

impl From<CeremonyRecord> for CeremonyRow {
    fn from(r: CeremonyRecord) -> Self {
        Self {
            ceremony_id: r.ceremony_id,
            purpose: r.purpose.as_str().to_owned(),
            citizen_id: r.citizen_id,
            state: r.state,
            expires_at: r.expires_at,
        }
    }
}

impl TryFrom<CeremonyRow> for CeremonyRecord {
    type Error = StoreError;
    fn try_from(r: CeremonyRow) -> Result<Self, StoreError> {
        let purpose = match r.purpose.as_str() {
            "register" => CeremonyPurpose::Register,
            "session" => CeremonyPurpose::Session,
            "link" => CeremonyPurpose::Link,
            other => {
                return Err(StoreError::Backend(format!(
                    "unknown ceremony purpose {other:?}"
                )))
            }
        };
        Ok(Self {
            ceremony_id: r.ceremony_id,
            purpose,
            citizen_id: r.citizen_id,
            state: r.state,
            expires_at: r.expires_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = auth_requests)]
pub struct AuthRequestRow {
    pub request_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub browser_hash: Vec<u8>,
    pub csrf_token: String,
    pub approval_state: Option<Vec<u8>>,
    pub status: String,
    pub citizen_id: Option<String>,
    pub device_id: Option<String>,
    pub auth_time: Option<i64>,
    pub code_hash: Option<Vec<u8>>,
    pub code_expires_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<AuthRequestRecord> for AuthRequestRow {
    fn from(r: AuthRequestRecord) -> Self {
        Self {
            request_id: r.request_id,
            client_id: r.client_id,
            redirect_uri: r.redirect_uri,
            scope: r.scope,
            state: r.state,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            browser_hash: r.browser_hash,
            csrf_token: r.csrf_token,
            approval_state: r.approval_state,
            status: r.status.as_str().to_owned(),
            citizen_id: r.citizen_id,
            device_id: r.device_id,
            auth_time: r.auth_time,
            code_hash: r.code_hash,
            code_expires_at: r.code_expires_at,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

impl TryFrom<AuthRequestRow> for AuthRequestRecord {
    type Error = StoreError;
    fn try_from(r: AuthRequestRow) -> Result<Self, StoreError> {
        let status = RequestStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Backend(format!("unknown request status {:?}", r.status)))?;
        Ok(Self {
            request_id: r.request_id,
            client_id: r.client_id,
            redirect_uri: r.redirect_uri,
            scope: r.scope,
            state: r.state,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            browser_hash: r.browser_hash,
            csrf_token: r.csrf_token,
            approval_state: r.approval_state,
            status,
            citizen_id: r.citizen_id,
            device_id: r.device_id,
            auth_time: r.auth_time,
            code_hash: r.code_hash,
            code_expires_at: r.code_expires_at,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = access_tokens)]
pub struct AccessTokenRow {
    pub token_hash: Vec<u8>,
    pub request_id: String,
    pub client_id: String,
    pub citizen_id: String,
    pub scope: String,
    pub expires_at: i64,
}

impl From<AccessTokenRecord> for AccessTokenRow {
    fn from(r: AccessTokenRecord) -> Self {
        Self {
            token_hash: r.token_hash,
            request_id: r.request_id,
            client_id: r.client_id,
            citizen_id: r.citizen_id,
            scope: r.scope,
            expires_at: r.expires_at,
        }
    }
}

impl From<AccessTokenRow> for AccessTokenRecord {
    fn from(r: AccessTokenRow) -> Self {
        Self {
            token_hash: r.token_hash,
            request_id: r.request_id,
            client_id: r.client_id,
            citizen_id: r.citizen_id,
            scope: r.scope,
            expires_at: r.expires_at,
        }
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub citizen_id: String,
    pub client_id: String,
    pub scope: String,
    pub granted_at: i64,
}

impl From<ConsentRecord> for ConsentRow {
    fn from(r: ConsentRecord) -> Self {
        Self {
            citizen_id: r.citizen_id,
            client_id: r.client_id,
            scope: r.scope,
            granted_at: r.granted_at,
        }
    }
}

impl From<ConsentRow> for ConsentRecord {
    fn from(r: ConsentRow) -> Self {
        Self {
            citizen_id: r.citizen_id,
            client_id: r.client_id,
            scope: r.scope,
            granted_at: r.granted_at,
        }
    }
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = wallet_sessions)]
pub struct WalletSessionRow {
    pub token_hash: Vec<u8>,
    pub citizen_id: String,
    pub device_id: String,
    pub expires_at: i64,
}

impl From<WalletSessionRecord> for WalletSessionRow {
    fn from(r: WalletSessionRecord) -> Self {
        Self {
            token_hash: r.token_hash,
            citizen_id: r.citizen_id,
            device_id: r.device_id,
            expires_at: r.expires_at,
        }
    }
}

impl From<WalletSessionRow> for WalletSessionRecord {
    fn from(r: WalletSessionRow) -> Self {
        Self {
            token_hash: r.token_hash,
            citizen_id: r.citizen_id,
            device_id: r.device_id,
            expires_at: r.expires_at,
        }
    }
}
