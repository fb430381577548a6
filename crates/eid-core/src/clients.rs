//! Relying-party registration (the operator's `eid-server client` commands).

use url::Url;

use crate::crypto::{b64url, random_bytes, random_token, sha256};
use crate::keys::JwsAlg;
use crate::store::ClientRecord;
use crate::{Error, Provider};

/// A client as registered, with its secret: shown once, stored only as a hash.
#[derive(Debug)]
pub struct NewClient {
    pub client: ClientRecord,
    pub client_secret: String,
}

/// Checks a redirect URI for registration: absolute, no fragment (RFC 6749 §3.1.2), and https
/// unless it points at the registering developer's own machine (RFC 8252 §7.3).
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
    /// Registers a relying party and returns its credentials.
    pub fn add_client(
        &self,
        name: &str,
        redirect_uris: &[String],
        id_token_alg: JwsAlg,
        now: i64,
    ) -> Result<NewClient, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(Error::invalid("name", "must be 1 to 100 characters"));
        }
        if redirect_uris.is_empty() {
            return Err(Error::invalid("redirect_uri", "at least one is required"));
        }
        let mut uris = Vec::with_capacity(redirect_uris.len());
        for uri in redirect_uris {
            validate_redirect_uri(uri).map_err(|reason| Error::invalid("redirect_uri", reason))?;
            // Stored exactly as given: matching is exact string comparison.
            uris.push(uri.clone());
        }
        let client_secret = random_token();
        let client = ClientRecord {
            client_id: b64url(&random_bytes::<16>()),
            name: name.to_owned(),
            secret_hash: sha256(client_secret.as_bytes()).to_vec(),
            redirect_uris: uris,
            id_token_alg: id_token_alg.as_str().to_owned(),
            created_at: now,
        };
        self.store.insert_client(&client)?;
        Ok(NewClient {
            client,
            client_secret,
        })
    }

    /// All registered clients.
    pub fn clients(&self) -> Result<Vec<ClientRecord>, Error> {
        Ok(self.store.clients()?)
    }

    /// Removes a client; its outstanding tokens stop working at the userinfo endpoint.
    pub fn remove_client(&self, client_id: &str) -> Result<(), Error> {
        if self.store.delete_client(client_id)? {
            Ok(())
        } else {
            Err(Error::NotFound("client"))
        }
    }
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
}
