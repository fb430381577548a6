use serde::{Deserialize, Serialize};

use super::{AuditRecord, StoreError};
use crate::ids::ClientId;
use crate::time::UnixTime;

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: ClientId,
    pub name: String,
    /// SHA-256 of the client secret.
    pub secret_hash: Vec<u8>,
    /// Registered redirect URIs, matched exactly (OAuth 2.0 Security BCP §4.1.3).
    pub redirect_uris: Vec<String>,
    pub id_token_alg: String,
    pub created_at: UnixTime,
    pub metadata: ClientMetadata,
    /// The secret itself, sealed, for a `client_secret_jwt` client (eid verifies HMACs with
    /// it); `None` for every other client.
    pub secret_sealed: Option<Vec<u8>>,
}

/// How a client authenticates at the token, revocation and introspection endpoints
/// (OIDC Core §9, RFC 7591 §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuthMethod {
    /// HTTP Basic with the secret; `client_secret_post` is accepted too.
    #[default]
    ClientSecretBasic,
    /// The secret in the form body; `client_secret_basic` is accepted too.
    ClientSecretPost,
    /// A JWT signed with HMAC under the secret (RFC 7523).
    ClientSecretJwt,
    /// A JWT signed with the client's private key, verified with its registered `jwks`.
    PrivateKeyJwt,
}

impl TokenAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::ClientSecretBasic,
            Self::ClientSecretPost,
            Self::ClientSecretJwt,
            Self::PrivateKeyJwt,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// Whether the client holds a shared secret.
    pub fn uses_secret(self) -> bool {
        !matches!(self, Self::PrivateKeyJwt)
    }
}

/// A client's registered metadata beyond its name and redirect URIs (RFC 7591 §2, OIDC
/// Registration §2), stored as JSON: fields added later read as their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    pub token_endpoint_auth_method: TokenAuthMethod,
    /// The client's public keys (a JWK set), for `private_key_jwt` and signed requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Or where to fetch them (RFC 7591 §2: one or the other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// A document listing the redirect URIs of a group of clients that share their pairwise
    /// subjects (OIDC Core §8.1), and its host: the sector those subjects are computed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Where its request objects may be fetched from (OIDC Core §6.2; the fragment aside).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_uris: Vec<String>,
    /// The grants it may use; empty: `authorization_code` and `refresh_token`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_types: Vec<String>,
    /// Its logo, home page, privacy policy and terms, shown to citizens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// Where RP-initiated logout may send the browser back to, exactly.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    /// Where the browser is sent, in a hidden frame of eid's page, when a session that logged
    /// in to the client ends (OIDC Front-Channel Logout 1.0), if it has no back-channel URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// Whether that URI gets `iss` and `sid`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub frontchannel_logout_session_required: bool,
    /// `RS256` or `ES256`: userinfo answers with a signed JWT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_max_age: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_auth_time: bool,
    /// SHA-256 of the registration access token (RFC 7592), base64url: registered dynamically.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_token_hash: Option<String>,
    /// The security profile eid holds the client to.
    #[serde(skip_serializing_if = "ClientProfile::is_default")]
    pub profile: ClientProfile,
    /// Authorization requests only through PAR (RFC 9126 §6).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// Every access token DPoP-bound: a token request without a proof is refused (RFC 9449
    /// §5.2).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// Access tokens as signed JWTs (RFC 9068) the client's resource servers can verify,
    /// rather than opaque ones.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub jwt_access_tokens: bool,
    /// The response types it registered (OIDC Registration §2); empty means `code` alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_types: Vec<String>,
    /// May ask citizens to sign documents (the `sign` scope; the operator allows it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub signing: bool,
    /// Its entry in the service portal (themes, audiences, deep links), if it is listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<crate::catalogue::CatalogueEntry>,
}

/// The security profile a client is held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientProfile {
    /// OpenID Connect with eid's defaults (PKCE S256, exact redirect URIs).
    #[default]
    Oidc,
    /// The FAPI 2.0 Security Profile: pushed requests only, DPoP-bound tokens,
    /// `private_key_jwt` with PS256 or ES256 assertions addressed to the issuer alone, PS256 or
    /// ES256 request objects, ES256 ID tokens.
    Fapi2,
}

impl ClientProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Fapi2 => "fapi2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Oidc, Self::Fapi2]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    fn is_default(&self) -> bool {
        *self == Self::Oidc
    }
}

impl ClientRecord {
    /// Whether the client may use `grant` (`authorization_code`, `refresh_token`).
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.metadata.grant_types.is_empty() || self.metadata.grant_types.iter().any(|g| g == grant)
    }

    /// Whether the client registered `response_type` (`code` unless it said otherwise).
    pub fn allows_response_type(&self, response_type: crate::oidc::ResponseType) -> bool {
        match self.metadata.response_types.is_empty() {
            true => response_type == crate::oidc::ResponseType::Code,
            false => self
                .metadata
                .response_types
                .iter()
                .any(|t| crate::oidc::ResponseType::parse(t) == Some(response_type)),
        }
    }

    pub fn is_fapi2(&self) -> bool {
        self.metadata.profile == ClientProfile::Fapi2
    }

    /// Whether its authorization requests must come through PAR.
    pub fn requires_par(&self) -> bool {
        self.metadata.require_pushed_authorization_requests || self.is_fapi2()
    }

    /// Whether its tokens must be DPoP-bound.
    pub fn requires_dpop(&self) -> bool {
        self.metadata.dpop_bound_access_tokens || self.is_fapi2()
    }
}

/// Relying parties.
pub trait ClientStore {
    /// Stores a new client with the `events` that record it, in one transaction.
    fn insert_client(
        &self,
        client: &ClientRecord,
        events: &[AuditRecord],
    ) -> Result<(), StoreError>;
    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Removes the client with its access and refresh tokens and its consents, and records
    /// `events`, in one transaction; false (and nothing recorded) when there is no such client.
    fn delete_client(&self, client_id: &str, events: &[AuditRecord]) -> Result<bool, StoreError>;
    /// Replaces a client's name, redirect URIs, algorithm and metadata (its id, secret and
    /// creation time stay) and records `events`, in one transaction; false (and nothing
    /// recorded) when there is no such client.
    fn update_client(
        &self,
        client: &ClientRecord,
        events: &[AuditRecord],
    ) -> Result<bool, StoreError>;
}
