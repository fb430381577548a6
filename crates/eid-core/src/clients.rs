//! Relying-party registration (the operator's `eid-server client` commands).

use url::Url;

use jsonwebtoken::jwk::JwkSet;

use crate::audit::{Actor, Detail, Event};
use crate::crypto::{b64url, random_bytes, random_token, sha256, Aad};
use crate::ids::ClientId;
use crate::keys::JwsAlg;
use crate::oidc::ResponseType;
use crate::store::{ClientMetadata, ClientProfile, ClientRecord, TokenAuthMethod};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// A client as registered, with its secret: shown once, stored only as a hash.
#[derive(Debug)]
pub struct NewClient {
    pub client: ClientRecord,
    pub client_secret: String,
}

/// What an operator registers for a client.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub id_token_alg: JwsAlg,
    pub auth_method: TokenAuthMethod,
    /// The client's public keys (a JWK set), or where to fetch them: one is required for
    /// `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// Where RP-initiated logout may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where eid posts back-channel logout tokens.
    pub backchannel_logout_uri: Option<String>,
    /// The page eid loads (in a hidden frame, with `iss` and `sid`) when a session that logged
    /// in to the client ends, if it has no back-channel URI.
    pub frontchannel_logout_uri: Option<String>,
    /// Where a third party (eid's portal) starts a login at the client (OIDC Core §4).
    pub initiate_login_uri: Option<String>,
    /// The security profile: FAPI 2.0 needs `private_key_jwt` and ES256 ID tokens.
    pub profile: ClientProfile,
    /// DPoP-bound tokens (RFC 9449 §5.2) without the rest of FAPI 2.0.
    pub dpop_bound_access_tokens: bool,
    /// Authorization requests only through PAR (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// Access tokens as signed JWTs (RFC 9068).
    pub jwt_access_tokens: bool,
    /// The response types it may use; empty means `code` alone. The implicit ones only where
    /// the operator set `danger_implicit_flow`.
    pub response_types: Vec<ResponseType>,
    /// May ask citizens to sign documents (the `sign` scope).
    pub signing: bool,
}

impl ClientRegistration {
    /// A client that authenticates with its secret (HTTP Basic or the form).
    pub fn new(name: &str, redirect_uris: &[String], id_token_alg: JwsAlg) -> Self {
        Self {
            name: name.to_owned(),
            redirect_uris: redirect_uris.to_vec(),
            id_token_alg,
            auth_method: TokenAuthMethod::ClientSecretBasic,
            jwks: None,
            jwks_uri: None,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            initiate_login_uri: None,
            profile: ClientProfile::Oidc,
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: false,
            jwt_access_tokens: false,
            response_types: Vec::new(),
            signing: false,
        }
    }
}

/// Checks a client's public key set: a JWK set of at least one key, none of them private.
pub fn validate_jwks(jwks: &serde_json::Value) -> Result<JwkSet, String> {
    let set: JwkSet = serde_json::from_value(jwks.clone())
        .map_err(|e| format!("jwks is not a JWK set eid can use: {e}"))?;
    if set.keys.is_empty() {
        return Err("jwks has no keys".into());
    }
    let private = jwks["keys"].as_array().is_some_and(|keys| {
        keys.iter()
            .any(|k| ["d", "p", "q", "k"].iter().any(|m| k.get(m).is_some()))
    });
    if private {
        return Err("jwks holds private or secret key material: register public keys only".into());
    }
    Ok(set)
}

/// The client id and secret of an `Authorization: Basic` value (RFC 7617), each form-decoded
/// (RFC 6749 §2.3.1). `None` when the value is not valid Basic credentials.
pub fn decode_basic_credentials(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let form_decode = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((form_decode(id), form_decode(secret)))
}

/// Checks a redirect URI for registration: absolute, no fragment (RFC 6749 §3.1.2), and https
/// unless it points at the registering developer's own machine (RFC 8252 §7.3).
pub fn validate_redirect_uri(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{uri:?} has a fragment, which redirect URIs may not have"
        ));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "{uri:?} must use https (http is allowed only for localhost)"
        )),
        other => Err(format!("{uri:?} has scheme {other:?}; use https")),
    }
}

impl Provider {
    /// Registers a relying party that authenticates with its secret, and returns its
    /// credentials.
    pub fn add_client(
        &self,
        name: &str,
        redirect_uris: &[String],
        id_token_alg: JwsAlg,
        now: UnixTime,
    ) -> Result<NewClient, Error> {
        self.register_client(
            &ClientRegistration::new(name, redirect_uris, id_token_alg),
            now,
        )
    }

    /// Registers a relying party and returns its credentials (a `private_key_jwt` client's
    /// secret is of no use to it, and is stored only as a hash like the others).
    pub fn register_client(
        &self,
        registration: &ClientRegistration,
        now: UnixTime,
    ) -> Result<NewClient, Error> {
        // Shown on the login page and the phone: the rule of every displayed name.
        let name = crate::names::display_name(&registration.name, 100)
            .map_err(|e| Error::invalid("name", e.to_string()))?;
        let name = name.as_str();
        if registration.redirect_uris.is_empty() {
            return Err(Error::invalid("redirect_uri", "at least one is required"));
        }
        let mut uris = Vec::with_capacity(registration.redirect_uris.len());
        for uri in &registration.redirect_uris {
            validate_redirect_uri(uri).map_err(|reason| Error::invalid("redirect_uri", reason))?;
            // Stored exactly as given: matching is exact string comparison.
            uris.push(uri.clone());
        }
        if let Some(jwks) = &registration.jwks {
            validate_jwks(jwks).map_err(|reason| Error::invalid("jwks", reason))?;
        }
        for uri in registration
            .post_logout_redirect_uris
            .iter()
            .chain(&registration.backchannel_logout_uri)
            .chain(&registration.frontchannel_logout_uri)
            .chain(&registration.initiate_login_uri)
        {
            validate_redirect_uri(uri).map_err(|reason| Error::invalid("logout_uri", reason))?;
        }
        if let Some(uri) = &registration.jwks_uri {
            if registration.jwks.is_some() {
                return Err(Error::invalid(
                    "jwks_uri",
                    "give the keys or their URL, not both",
                ));
            }
            validate_redirect_uri(uri).map_err(|reason| Error::invalid("jwks_uri", reason))?;
        }
        if registration.auth_method == TokenAuthMethod::PrivateKeyJwt
            && registration.jwks.is_none()
            && registration.jwks_uri.is_none()
        {
            return Err(Error::invalid(
                "jwks",
                "private_key_jwt needs the client's public keys (or their URL)",
            ));
        }
        if registration.profile == ClientProfile::Fapi2 {
            // FAPI 2.0 Security Profile §5.3.2.1 and §5.4.1.
            if registration.auth_method != TokenAuthMethod::PrivateKeyJwt {
                return Err(Error::invalid(
                    "auth_method",
                    "a FAPI 2.0 client authenticates with private_key_jwt",
                ));
            }
            if registration.id_token_alg != JwsAlg::Es256 {
                return Err(Error::invalid(
                    "id_token_alg",
                    "a FAPI 2.0 client's ID tokens are signed ES256",
                ));
            }
        }
        if registration.response_types.iter().any(|t| t.is_implicit()) {
            if !self.config.danger_implicit_flow {
                return Err(Error::invalid(
                    "response_type",
                    "the implicit flow is switched off ([oidc] danger_implicit_flow)",
                ));
            }
            if registration.profile == ClientProfile::Fapi2 {
                return Err(Error::invalid(
                    "response_type",
                    "a FAPI 2.0 client uses the code flow alone",
                ));
            }
        }
        let (client_id, client_secret, secret_sealed) =
            self.new_client_credentials(registration.auth_method)?;
        let client = ClientRecord {
            client_id: ClientId::from(client_id),
            name: name.to_owned(),
            secret_hash: sha256(client_secret.as_bytes()).to_vec(),
            redirect_uris: uris,
            id_token_alg: registration.id_token_alg.as_str().to_owned(),
            created_at: now,
            metadata: ClientMetadata {
                token_endpoint_auth_method: registration.auth_method,
                jwks: registration.jwks.clone(),
                jwks_uri: registration.jwks_uri.clone(),
                post_logout_redirect_uris: registration.post_logout_redirect_uris.clone(),
                backchannel_logout_uri: registration.backchannel_logout_uri.clone(),
                frontchannel_logout_uri: registration.frontchannel_logout_uri.clone(),
                frontchannel_logout_session_required: registration
                    .frontchannel_logout_uri
                    .is_some(),
                initiate_login_uri: registration.initiate_login_uri.clone(),
                profile: registration.profile,
                dpop_bound_access_tokens: registration.dpop_bound_access_tokens,
                require_pushed_authorization_requests: registration
                    .require_pushed_authorization_requests,
                jwt_access_tokens: registration.jwt_access_tokens,
                response_types: match registration.response_types.as_slice() {
                    [] | [ResponseType::Code] => Vec::new(),
                    types => types.iter().map(|t| t.as_str().to_owned()).collect(),
                },
                signing: registration.signing,
                ..ClientMetadata::default()
            },
            secret_sealed,
        };
        // L3 of the security review 2026-12-07: what the operator registered (`signing: true`
        // is a client that may ask citizens for signatures), in the registration's transaction.
        let event = self.record(
            Event::new("client.registered", &Actor::Operator).detail(Detail {
                client_id: Some(client.client_id.to_string()),
                changes: client_audit_lines(&client),
                ..Detail::default()
            }),
            now,
        )?;
        self.store.insert_client(&client, &[event])?;
        tracing::info!(target: "eid::security", event = "client.registered", client_id = %client.client_id, signing = client.metadata.signing, "an operator registered a client");
        Ok(NewClient {
            client,
            client_secret,
        })
    }

    /// A new client's id and secret, and the secret sealed for a `client_secret_jwt` client
    /// (which eid must be able to compute HMACs with); every other secret is kept only as a
    /// hash.
    pub(crate) fn new_client_credentials(
        &self,
        method: TokenAuthMethod,
    ) -> Result<(String, String, Option<Vec<u8>>), Error> {
        let client_id = b64url(&random_bytes::<16>());
        let client_secret = random_token();
        let sealed = match method {
            TokenAuthMethod::ClientSecretJwt => Some(self.derived.data.seal(
                &Aad::ClientSecret(&client_id).bytes(),
                client_secret.as_bytes(),
            )?),
            _ => None,
        };
        Ok((client_id, client_secret, sealed))
    }

    /// All registered clients.
    pub fn clients(&self) -> Result<Vec<ClientRecord>, Error> {
        Ok(self.store.clients()?)
    }

    /// Removes a client (an operator's act, audited); its outstanding tokens stop working at
    /// the userinfo endpoint.
    pub fn remove_client(&self, client_id: &str, now: UnixTime) -> Result<(), Error> {
        let event = self.record(
            Event::new("client.removed", &Actor::Operator).detail(Detail {
                client_id: Some(client_id.to_owned()),
                ..Detail::default()
            }),
            now,
        )?;
        if self.store.delete_client(client_id, &[event])? {
            tracing::info!(target: "eid::security", event = "client.removed", client_id, "an operator removed a client");
            Ok(())
        } else {
            Err(Error::NotFound("client"))
        }
    }
}

/// A client's registration as `name: value` lines for the audit trail: its name, redirect
/// URIs, algorithm and every metadata field set, with public keys named by their `kid` and
/// the registration access token's hash left out (no secret is in a client record, but the
/// trail need not repeat what only proves possession).
pub(crate) fn client_audit_lines(client: &ClientRecord) -> Vec<String> {
    let mut lines = vec![
        format!("name: {}", client.name),
        format!("redirect_uris: {}", client.redirect_uris.join(" ")),
        format!("id_token_signed_response_alg: {}", client.id_token_alg),
    ];
    if let Ok(serde_json::Value::Object(metadata)) = serde_json::to_value(&client.metadata) {
        for (name, value) in metadata {
            let value = match (name.as_str(), value) {
                ("registration_token_hash", _) => continue,
                ("jwks", jwks) => {
                    let kids: Vec<String> = jwks["keys"]
                        .as_array()
                        .map(|keys| {
                            keys.iter()
                                .map(|k| k["kid"].as_str().unwrap_or("(no kid)").to_owned())
                                .collect()
                        })
                        .unwrap_or_default();
                    format!("{} keys ({})", kids.len(), kids.join(", "))
                }
                (_, serde_json::Value::String(s)) => s,
                (_, other) => other.to_string(),
            };
            lines.push(format!("{name}: {value}"));
        }
    }
    lines
}

/// What an update changed: the audit lines of `after` that `before` lacks, and the fields
/// `before` had that `after` dropped (`name: false` for a flag, which unset is not stored;
/// `name: (none)` for anything else).
pub(crate) fn client_audit_changes(before: &ClientRecord, after: &ClientRecord) -> Vec<String> {
    let (old, new) = (client_audit_lines(before), client_audit_lines(after));
    let name = |line: &str| line.split(": ").next().unwrap_or_default().to_owned();
    let mut changes: Vec<String> = new.iter().filter(|l| !old.contains(l)).cloned().collect();
    for line in &old {
        let field = name(line);
        if !new.iter().any(|l| name(l) == field) {
            let unset = match line.ends_with(": true") {
                true => "false",
                false => "(none)",
            };
            changes.push(format!("{field}: {unset}"));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        // RFC 6749 §2.3.1: "a b" and "s:%" form-encoded before Basic.
        let value = format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a+b:s%3A%25")
        );
        assert_eq!(
            decode_basic_credentials(&value),
            Some(("a b".into(), "s:%".into()))
        );
        assert_eq!(decode_basic_credentials("Bearer abc"), None);
        assert_eq!(decode_basic_credentials("Basic !!!"), None);
        assert_eq!(decode_basic_credentials("basic Zm9v"), None);
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback_without_fragment() {
        for ok in [
            "https://rp.example.gov.hk/cb",
            "http://localhost:3000/callback",
            "http://127.0.0.1/cb?x=1",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://rp.example/cb",
            "https://rp.example/cb#frag",
            "/relative",
            "javascript:alert(1)",
            "",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    fn client() -> ClientRecord {
        ClientRecord {
            client_id: ClientId::from("bank".to_owned()),
            name: "Example Bank".into(),
            secret_hash: vec![7; 32],
            redirect_uris: vec!["https://bank.example/cb".into()],
            id_token_alg: "ES256".into(),
            created_at: UnixTime::from_secs(1),
            metadata: ClientMetadata {
                token_endpoint_auth_method: TokenAuthMethod::PrivateKeyJwt,
                jwks: Some(serde_json::json!({"keys": [{"kty": "EC", "kid": "k1", "x": "…"}]})),
                registration_token_hash: Some("hash-of-the-registration-token".into()),
                signing: true,
                ..ClientMetadata::default()
            },
            secret_sealed: Some(vec![9; 40]),
        }
    }

    /// The audit trail names what a registration set (security review 2026-12-07, L3): keys
    /// by `kid`, never the registration token's hash or a secret.
    #[test]
    fn a_clients_audit_lines_name_what_it_may_do_and_no_secret() {
        let lines = client_audit_lines(&client());
        for expected in [
            "name: Example Bank",
            "redirect_uris: https://bank.example/cb",
            "id_token_signed_response_alg: ES256",
            "token_endpoint_auth_method: private_key_jwt",
            "jwks: 1 keys (k1)",
            "signing: true",
        ] {
            assert!(lines.iter().any(|l| l == expected), "{expected}: {lines:?}");
        }
        assert!(!lines.iter().any(|l| l.contains("registration_token")));
    }

    #[test]
    fn an_update_lists_only_what_changed() {
        let before = client();
        let mut after = client();
        after.name = "Example Bank (HK)".into();
        after.metadata.signing = false;
        after.metadata.post_logout_redirect_uris = vec!["https://bank.example/bye".into()];
        let mut changes = client_audit_changes(&before, &after);
        changes.sort();
        assert_eq!(
            changes,
            [
                "name: Example Bank (HK)",
                "post_logout_redirect_uris: [\"https://bank.example/bye\"]",
                "signing: false",
            ]
        );
        assert!(client_audit_changes(&before, &before).is_empty());
    }
}
