//! Dynamic client registration (RFC 7591, OIDC Dynamic Client Registration 1.0) and its
//! management (RFC 7592). The operator chooses whether anyone may register, only holders of
//! an initial access token, or nobody ([`RegistrationPolicy`]); `eid-server client add` works
//! in every case. Every registered value is checked as the operator's command checks it:
//! redirect URIs exact, https and without fragments; public keys only; algorithms eid offers;
//! names by the rule of every displayed name. A self-registered client's name is shown as
//! unverified and may not be an operator-registered client's (`names.rs`).

use eid_proto::oauth::{RegistrationMetadata, RegistrationResponse};

use crate::audit::{Actor, Detail, Event};
use crate::clients::{validate_jwks, validate_redirect_uri};
use crate::crypto::{b64url, ct_eq, random_token, sha256};
use crate::ids::ClientId;
use crate::keys::JwsAlg;
use crate::limits::Caller;
use crate::oidc::{oauth, ResponseType};
use crate::store::{ClientMetadata, ClientProfile, ClientRecord, TokenAuthMethod};
use crate::time::UnixTime;
use crate::{Error, OAuthError, OAuthErrorCode, Provider};

/// Who may register clients at the registration endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RegistrationPolicy {
    /// Nobody: the endpoint is not offered (the operator registers clients).
    #[default]
    Off,
    /// Anyone (rate-limited per address).
    Open,
    /// Holders of one of these initial access tokens (their SHA-256 hashes), RFC 7591 §3.
    Token(Vec<[u8; 32]>),
}

fn metadata_error(description: impl Into<String>) -> OAuthError {
    oauth(OAuthErrorCode::InvalidClientMetadata, description)
}

fn redirect_error(description: impl Into<String>) -> OAuthError {
    oauth(OAuthErrorCode::InvalidRedirectUri, description)
}

fn unauthorized() -> Error {
    oauth(
        OAuthErrorCode::InvalidToken,
        "the registration access token is missing, wrong or for another client",
    )
    .into()
}

/// A URL shown to citizens or called by eid: absolute, https (or http on this machine).
fn check_url(name: &str, value: &Option<String>) -> Result<(), OAuthError> {
    if let Some(uri) = value {
        validate_redirect_uri(uri).map_err(|reason| metadata_error(format!("{name}: {reason}")))?;
    }
    Ok(())
}

/// The record a registration describes, checked.
struct Checked {
    name: String,
    redirect_uris: Vec<String>,
    id_token_alg: JwsAlg,
    metadata: ClientMetadata,
}

fn check(m: &RegistrationMetadata) -> Result<Checked, OAuthError> {
    if m.redirect_uris.is_empty() {
        return Err(redirect_error("redirect_uris is required"));
    }
    for uri in &m.redirect_uris {
        validate_redirect_uri(uri).map_err(redirect_error)?;
    }
    let mut response_types = Vec::new();
    for value in m.response_types.iter().flatten() {
        let parsed = ResponseType::parse(value).ok_or_else(|| {
            metadata_error(format!(
                "response type {value} is not offered (code; id_token and id_token token where the implicit flow is allowed)"
            ))
        })?;
        if !response_types.contains(&parsed) {
            response_types.push(parsed);
        }
    }
    let grant_types = m.grant_types.clone().unwrap_or_default();
    if let Some(other) = grant_types.iter().find(|g| {
        !matches!(
            g.as_str(),
            "authorization_code" | "refresh_token" | "implicit"
        )
    }) {
        return Err(metadata_error(format!("grant type {other} is not offered")));
    }
    // OIDC Registration §2: the response types need their grant types.
    for (response_type, grant) in [
        (ResponseType::Code, "authorization_code"),
        (ResponseType::IdToken, "implicit"),
        (ResponseType::IdTokenToken, "implicit"),
    ] {
        if response_types.contains(&response_type)
            && !grant_types.is_empty()
            && !grant_types.iter().any(|g| g == grant)
        {
            return Err(metadata_error(format!(
                "the response type {} needs the grant type {grant}",
                response_type.as_str()
            )));
        }
    }
    let method = match m.token_endpoint_auth_method.as_deref() {
        None => TokenAuthMethod::ClientSecretBasic,
        Some(name) => TokenAuthMethod::parse(name).ok_or_else(|| {
            metadata_error(format!("token_endpoint_auth_method {name} is not offered"))
        })?,
    };
    if m.jwks_uri.is_some() && m.jwks.is_some() {
        return Err(metadata_error(
            "jwks and jwks_uri may not both be given (RFC 7591 §2)",
        ));
    }
    check_url("jwks_uri", &m.jwks_uri)?;
    check_url("sector_identifier_uri", &m.sector_identifier_uri)?;
    // The sector is the document's host (OIDC Core §8.1).
    let sector = m
        .sector_identifier_uri
        .as_deref()
        .and_then(|uri| url::Url::parse(uri).ok())
        .and_then(|url| url.host_str().map(str::to_owned));
    let request_uris = m.request_uris.clone().unwrap_or_default();
    for uri in &request_uris {
        validate_redirect_uri(uri)
            .map_err(|reason| metadata_error(format!("request_uris: {reason}")))?;
    }
    if let Some(jwks) = &m.jwks {
        validate_jwks(jwks).map_err(metadata_error)?;
    }
    if method == TokenAuthMethod::PrivateKeyJwt && m.jwks.is_none() && m.jwks_uri.is_none() {
        return Err(metadata_error(
            "private_key_jwt needs the client's public keys (jwks or jwks_uri)",
        ));
    }
    let id_token_alg = match m.id_token_signed_response_alg.as_deref() {
        None => JwsAlg::Rs256,
        Some(alg) => JwsAlg::parse(alg).ok_or_else(|| {
            metadata_error(format!(
                "id_token_signed_response_alg {alg} is not offered (RS256, ES256)"
            ))
        })?,
    };
    if let Some(alg) = m.userinfo_signed_response_alg.as_deref() {
        if JwsAlg::parse(alg).is_none() {
            return Err(metadata_error(format!(
                "userinfo_signed_response_alg {alg} is not offered (RS256, ES256)"
            )));
        }
    }
    if let Some(subject) = m.subject_type.as_deref() {
        if !matches!(subject, "pairwise" | "public") {
            return Err(metadata_error(format!("subject_type {subject} is unknown")));
        }
    }
    for (name, value) in [
        ("logo_uri", &m.logo_uri),
        ("client_uri", &m.client_uri),
        ("policy_uri", &m.policy_uri),
        ("tos_uri", &m.tos_uri),
        ("backchannel_logout_uri", &m.backchannel_logout_uri),
        ("frontchannel_logout_uri", &m.frontchannel_logout_uri),
        ("initiate_login_uri", &m.initiate_login_uri),
    ] {
        check_url(name, value)?;
    }
    let post_logout = m.post_logout_redirect_uris.clone().unwrap_or_default();
    for uri in &post_logout {
        validate_redirect_uri(uri)
            .map_err(|reason| metadata_error(format!("post_logout_redirect_uris: {reason}")))?;
    }
    let name = match m.client_name.as_deref().map(str::trim) {
        // The rule of every displayed name (review 2026-12-07, L5: bidi overrides and
        // zero-width characters made one name pass for another).
        Some(name) if !name.is_empty() => crate::names::display_name(name, 100).map_err(|e| {
            metadata_error(format!(
                "client_name {e} (1 to 100 characters, shown to citizens)"
            ))
        })?,
        // Citizens are shown where the login goes: the redirect URI's host.
        _ => url::Url::parse(&m.redirect_uris[0])
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Unnamed service".into()),
    };
    Ok(Checked {
        name,
        redirect_uris: m.redirect_uris.clone(),
        id_token_alg,
        metadata: ClientMetadata {
            token_endpoint_auth_method: method,
            jwks: m.jwks.clone(),
            jwks_uri: m.jwks_uri.clone(),
            sector_identifier_uri: m.sector_identifier_uri.clone(),
            sector,
            request_uris,
            grant_types,
            logo_uri: m.logo_uri.clone(),
            client_uri: m.client_uri.clone(),
            policy_uri: m.policy_uri.clone(),
            tos_uri: m.tos_uri.clone(),
            contacts: m.contacts.clone().unwrap_or_default(),
            post_logout_redirect_uris: post_logout,
            backchannel_logout_uri: m.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: m
                .backchannel_logout_session_required
                .unwrap_or(false),
            frontchannel_logout_uri: m.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: m
                .frontchannel_logout_session_required
                .unwrap_or(false),
            userinfo_signed_response_alg: m.userinfo_signed_response_alg.clone(),
            initiate_login_uri: m.initiate_login_uri.clone(),
            default_max_age: m.default_max_age,
            require_auth_time: m.require_auth_time.unwrap_or(false),
            registration_token_hash: None,
            profile: ClientProfile::Oidc,
            require_pushed_authorization_requests: m
                .require_pushed_authorization_requests
                .unwrap_or(false),
            dpop_bound_access_tokens: m.dpop_bound_access_tokens.unwrap_or(false),
            // An operator's choice (`client add --jwt-access-tokens`), not registration metadata.
            jwt_access_tokens: false,
            // `code` alone is the default, stored as nothing.
            response_types: match response_types.as_slice() {
                [] | [ResponseType::Code] => Vec::new(),
                types => types.iter().map(|t| t.as_str().to_owned()).collect(),
            },
            // Only the operator allows a client to ask for signatures, or lists it in the portal.
            signing: false,
            catalogue: None,
        },
    })
}

/// Checks registration metadata as the registration endpoint does. (Public for the fuzz
/// targets: it reads untrusted input.)
pub fn validate_registration(metadata: &RegistrationMetadata) -> Result<(), OAuthError> {
    check(metadata).map(|_| ())
}

/// The metadata of a registered client, as eid answers with it.
fn describe(client: &ClientRecord) -> RegistrationMetadata {
    let m = &client.metadata;
    let some_list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    RegistrationMetadata {
        redirect_uris: client.redirect_uris.clone(),
        response_types: Some(if m.response_types.is_empty() {
            vec!["code".into()]
        } else {
            m.response_types.clone()
        }),
        grant_types: Some(if m.grant_types.is_empty() {
            vec!["authorization_code".into(), "refresh_token".into()]
        } else {
            m.grant_types.clone()
        }),
        client_name: Some(client.name.clone()),
        token_endpoint_auth_method: Some(m.token_endpoint_auth_method.as_str().into()),
        jwks: m.jwks.clone(),
        jwks_uri: m.jwks_uri.clone(),
        sector_identifier_uri: m.sector_identifier_uri.clone(),
        request_uris: some_list(&m.request_uris),
        id_token_signed_response_alg: Some(client.id_token_alg.clone()),
        userinfo_signed_response_alg: m.userinfo_signed_response_alg.clone(),
        // Every subject is pairwise (OIDC Core §8.1), whatever was asked.
        subject_type: Some("pairwise".into()),
        logo_uri: m.logo_uri.clone(),
        client_uri: m.client_uri.clone(),
        policy_uri: m.policy_uri.clone(),
        tos_uri: m.tos_uri.clone(),
        contacts: some_list(&m.contacts),
        post_logout_redirect_uris: some_list(&m.post_logout_redirect_uris),
        backchannel_logout_uri: m.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: m
            .backchannel_logout_uri
            .as_ref()
            .map(|_| m.backchannel_logout_session_required),
        frontchannel_logout_uri: m.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: m
            .frontchannel_logout_uri
            .as_ref()
            .map(|_| m.frontchannel_logout_session_required),
        initiate_login_uri: m.initiate_login_uri.clone(),
        default_max_age: m.default_max_age,
        require_auth_time: m.require_auth_time.then_some(true),
        require_pushed_authorization_requests: client.requires_par().then_some(true),
        dpop_bound_access_tokens: client.requires_dpop().then_some(true),
        ..RegistrationMetadata::default()
    }
}

impl Provider {
    /// The implicit response types (and grant type) only where the operator allows the
    /// implicit flow.
    fn check_implicit(&self, metadata: &ClientMetadata) -> Result<(), OAuthError> {
        let implicit = metadata
            .response_types
            .iter()
            .any(|t| ResponseType::parse(t).is_some_and(ResponseType::is_implicit))
            || metadata.grant_types.iter().any(|g| g == "implicit");
        match implicit && !self.config.danger_implicit_flow {
            true => Err(metadata_error(
                "the implicit flow is switched off here: register the response type code",
            )),
            false => Ok(()),
        }
    }

    /// A `jwks_uri` must answer with public signing keys now, or the registration is refused.
    fn check_jwks_uri(&self, metadata: &ClientMetadata) -> Result<(), OAuthError> {
        match &metadata.jwks_uri {
            Some(uri) => self
                .fetch_jwks(uri)
                .map(|_| ())
                .map_err(|reason| metadata_error(format!("jwks_uri: {reason}"))),
            None => Ok(()),
        }
    }

    /// A `sector_identifier_uri` must list every redirect URI the client registers (OIDC
    /// Registration §5), or another client could claim a sector to correlate its subjects.
    fn check_sector(&self, checked: &Checked) -> Result<(), OAuthError> {
        let Some(uri) = &checked.metadata.sector_identifier_uri else {
            return Ok(());
        };
        let listed: Vec<String> = self
            .fetch_document(uri, crate::fetch::Document::SectorIdentifier)
            .and_then(|body| {
                serde_json::from_slice(&body)
                    .map_err(|_| "the document is not a JSON array of URIs".to_owned())
            })
            .map_err(|reason| metadata_error(format!("sector_identifier_uri: {reason}")))?;
        match checked.redirect_uris.iter().find(|r| !listed.contains(r)) {
            Some(missing) => Err(metadata_error(format!(
                "sector_identifier_uri does not list the redirect URI {missing}"
            ))),
            None => Ok(()),
        }
    }

    /// The registration endpoint's URL, when registration is on.
    pub fn registration_endpoint(&self) -> Option<String> {
        (self.config.registration != RegistrationPolicy::Off)
            .then(|| format!("{}/register", self.config.issuer_str()))
    }

    fn registration_client_uri(&self, client_id: &str) -> String {
        format!("{}/register/{client_id}", self.config.issuer_str())
    }

    /// Registers a client (RFC 7591 §3). `initial_token` is the bearer token the request
    /// carried, if any.
    pub fn register(
        &self,
        initial_token: Option<&str>,
        metadata: &RegistrationMetadata,
        caller: &Caller,
        now: UnixTime,
    ) -> Result<RegistrationResponse, Error> {
        match &self.config.registration {
            RegistrationPolicy::Off => return Err(Error::NotFound("registration endpoint")),
            RegistrationPolicy::Open => {}
            RegistrationPolicy::Token(hashes) => {
                let presented = initial_token.map(|t| sha256(t.as_bytes()));
                let known = presented
                    .is_some_and(|p| hashes.iter().fold(false, |found, h| found | ct_eq(&p, h)));
                if !known {
                    return Err(Error::Unauthenticated);
                }
            }
        }
        self.limit_address_here(
            "registrations_per_address",
            caller,
            self.config.limits.registrations_per_address,
            now,
        )?;
        let checked = check(metadata)?;
        self.check_name_is_free(&checked.name, None)?;
        self.check_implicit(&checked.metadata)?;
        self.check_jwks_uri(&checked.metadata)?;
        self.check_sector(&checked)?;
        let method = checked.metadata.token_endpoint_auth_method;
        let (client_id, client_secret, secret_sealed) = self.new_client_credentials(method)?;
        let registration_token = random_token();
        let client = ClientRecord {
            client_id: ClientId::from(client_id.clone()),
            name: checked.name,
            secret_hash: sha256(client_secret.as_bytes()).to_vec(),
            redirect_uris: checked.redirect_uris,
            id_token_alg: checked.id_token_alg.as_str().to_owned(),
            created_at: now,
            metadata: ClientMetadata {
                registration_token_hash: Some(b64url(&sha256(registration_token.as_bytes()))),
                ..checked.metadata
            },
            secret_sealed,
        };
        // Security review 2026-12-07, L3: dynamic registrations are audited like the
        // operator's, the client as the actor (and how it was let in).
        let actor = Actor::Client {
            client_id: client_id.clone(),
        };
        let event = self.record(
            Event::new("client.registered", &actor).detail(Detail {
                client_id: Some(client_id.clone()),
                reason: Some(
                    match &self.config.registration {
                        RegistrationPolicy::Token(_) => "initial_access_token",
                        _ => "open_registration",
                    }
                    .to_owned(),
                ),
                changes: crate::clients::client_audit_lines(&client),
                ..Detail::default()
            }),
            now,
        )?;
        self.store.insert_client(&client, &[event])?;
        tracing::info!(target: "eid::security", event = "client.registered", client_id = %client_id, "a client registered itself");
        Ok(RegistrationResponse {
            client_id: client_id.clone(),
            client_secret: method.uses_secret().then_some(client_secret),
            client_id_issued_at: now.secs(),
            client_secret_expires_at: method.uses_secret().then_some(0),
            registration_access_token: Some(registration_token),
            registration_client_uri: self.registration_client_uri(&client_id),
            metadata: describe(&client),
        })
    }

    /// A dynamically registered client, for the holder of its registration access token.
    fn registered_client(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<ClientRecord, Error> {
        let token = token.ok_or(Error::Unauthenticated)?;
        let client = self.store.client(client_id)?.ok_or_else(unauthorized)?;
        let expected = client
            .metadata
            .registration_token_hash
            .as_deref()
            .ok_or_else(unauthorized)?;
        if !ct_eq(
            b64url(&sha256(token.as_bytes())).as_bytes(),
            expected.as_bytes(),
        ) {
            return Err(unauthorized());
        }
        Ok(client)
    }

    /// Reads a registration (RFC 7592 §2.1).
    pub fn read_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
    ) -> Result<RegistrationResponse, Error> {
        let client = self.registered_client(client_id, token)?;
        Ok(RegistrationResponse {
            client_id: client.client_id.clone().into_string(),
            client_secret: None,
            client_id_issued_at: client.created_at.secs(),
            client_secret_expires_at: None,
            registration_access_token: None,
            registration_client_uri: self.registration_client_uri(&client.client_id),
            metadata: describe(&client),
        })
    }

    /// Replaces a registration's metadata (RFC 7592 §2.2); the credentials stay.
    pub fn update_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
        metadata: &RegistrationMetadata,
        now: UnixTime,
    ) -> Result<RegistrationResponse, Error> {
        let client = self.registered_client(client_id, token)?;
        let checked = check(metadata)?;
        self.check_name_is_free(&checked.name, Some(client_id))?;
        self.check_implicit(&checked.metadata)?;
        self.check_jwks_uri(&checked.metadata)?;
        self.check_sector(&checked)?;
        let method = client.metadata.token_endpoint_auth_method;
        if checked.metadata.token_endpoint_auth_method != method {
            return Err(metadata_error(
                "token_endpoint_auth_method cannot change: register a new client",
            )
            .into());
        }
        let updated = ClientRecord {
            name: checked.name,
            redirect_uris: checked.redirect_uris,
            id_token_alg: checked.id_token_alg.as_str().to_owned(),
            metadata: ClientMetadata {
                registration_token_hash: client.metadata.registration_token_hash.clone(),
                profile: client.metadata.profile,
                jwt_access_tokens: client.metadata.jwt_access_tokens,
                ..checked.metadata
            },
            ..client.clone()
        };
        let actor = Actor::Client {
            client_id: client_id.to_owned(),
        };
        let event = self.record(
            Event::new("client.updated", &actor).detail(Detail {
                client_id: Some(client_id.to_owned()),
                changes: crate::clients::client_audit_changes(&client, &updated),
                ..Detail::default()
            }),
            now,
        )?;
        if !self.store.update_client(&updated, &[event])? {
            return Err(unauthorized());
        }
        tracing::info!(target: "eid::security", event = "client.updated", client_id = %client_id, "a client changed its registration");
        self.read_registration(client_id, token)
    }

    /// Removes a registration (RFC 7592 §2.3), with its tokens and consents.
    pub fn delete_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.registered_client(client_id, token)?;
        let actor = Actor::Client {
            client_id: client_id.to_owned(),
        };
        let event = self.record(
            Event::new("client.deregistered", &actor).detail(Detail {
                client_id: Some(client_id.to_owned()),
                ..Detail::default()
            }),
            now,
        )?;
        self.store.delete_client(client_id, &[event])?;
        tracing::info!(target: "eid::security", event = "client.deregistered", client_id = %client_id, "a client removed its registration");
        Ok(())
    }
}
