//! A software FIDO2 authenticator bound to this wallet (WebAuthn Level 2 §6): one P-256
//! credential, user presence and user verification flags set (a phone app would unlock it with
//! the citizen's biometric; this command-line wallet does not verify anyone).
//!
//! It is a **software key**, and says so: its key lives in the wallet file, its AAGUID is
//! zero and its attestation is "none", so eid reports `amr` `swk` for it. Given an
//! [`AttestationKey`] (a test kit's, under a test root) it attests its credential in the
//! "packed" format with a certificate chain instead, as a hardware authenticator does.

use std::collections::BTreeMap;

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde_cbor_2::Value;
use sha2::{Digest, Sha256};
use webauthn_rs_proto::{
    AuthenticationExtensionsClientOutputs, AuthenticatorAssertionResponseRaw,
    AuthenticatorAttestationResponseRaw, CreationChallengeResponse, PublicKeyCredential,
    RegisterPublicKeyCredential, RegistrationExtensionsClientOutputs, RequestChallengeResponse,
};

use crate::{b64url, WalletError};

/// Authenticator data flags (WebAuthn §6.1).
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_AT: u8 = 0x40;
/// COSE algorithm ES256 (RFC 8152 §8.1).
const COSE_ES256: i64 = -7;

/// An authenticator model's attestation key, with its certificate chain (leaf first, DER) and
/// AAGUID: what a hardware authenticator's maker installs.
#[derive(Clone)]
pub struct AttestationKey {
    pub key: p256::ecdsa::SigningKey,
    pub chain: Vec<Vec<u8>>,
    pub aaguid: [u8; 16],
}

/// The credential a wallet holds: private key, id and signature counter.
pub struct Credential {
    pub(crate) key: p256::ecdsa::SigningKey,
    pub(crate) id: Vec<u8>,
    pub(crate) sign_count: u32,
    pub(crate) user_handle: Vec<u8>,
}

impl Credential {
    /// The private key as PKCS#8 DER, for the wallet file.
    pub(crate) fn pkcs8(&self) -> Result<Vec<u8>, WalletError> {
        Ok(self
            .key
            .to_pkcs8_der()
            .map_err(|e| WalletError::Protocol(format!("encoding key: {e}")))?
            .as_bytes()
            .to_vec())
    }

    pub(crate) fn from_pkcs8(
        der: &[u8],
        id: Vec<u8>,
        sign_count: u32,
        user_handle: Vec<u8>,
    ) -> Result<Self, WalletError> {
        let key = p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .map_err(|e| WalletError::Protocol(format!("wallet key: {e}")))?;
        Ok(Self {
            key,
            id,
            sign_count,
            user_handle,
        })
    }
}

fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    // WebAuthn §5.8.1 CollectedClientData, serialised as the browser would.
    serde_json::json!({
        "type": kind,
        "challenge": b64url(challenge),
        "origin": origin,
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes()
}

fn cose_key(key: &p256::ecdsa::SigningKey) -> Result<Vec<u8>, WalletError> {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    if bytes.len() != 65 {
        return Err(WalletError::Protocol(
            "unexpected public key encoding".into(),
        ));
    }
    // RFC 8152 §13.1.1: kty EC2 (2), alg ES256, crv P-256 (1), x, y.
    let map: BTreeMap<Value, Value> = [
        (Value::Integer(1), Value::Integer(2)),
        (Value::Integer(3), Value::Integer(i128::from(COSE_ES256))),
        (Value::Integer(-1), Value::Integer(1)),
        (Value::Integer(-2), Value::Bytes(bytes[1..33].to_vec())),
        (Value::Integer(-3), Value::Bytes(bytes[33..65].to_vec())),
    ]
    .into_iter()
    .collect();
    serde_cbor_2::to_vec(&Value::Map(map)).map_err(|e| WalletError::Protocol(e.to_string()))
}

/// `authenticatorMakeCredential`: creates the credential and its attestation for `origin`:
/// "none", or "packed" with `attestation`'s chain.
pub fn make_credential(
    options: &CreationChallengeResponse,
    origin: &str,
    attestation: Option<&AttestationKey>,
) -> Result<(Credential, RegisterPublicKeyCredential), WalletError> {
    let pk = &options.public_key;
    if !pk.pub_key_cred_params.iter().any(|p| p.alg == COSE_ES256) {
        return Err(WalletError::Protocol(
            "the server does not accept ES256 credentials".into(),
        ));
    }
    check_rp_id(&pk.rp.id, origin)?;
    let key = <p256::ecdsa::SigningKey as p256::elliptic_curve::Generate>::generate_from_rng(
        &mut rand::rng(),
    );
    let mut id = vec![0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut id);
    let mut auth_data = Sha256::digest(pk.rp.id.as_bytes()).to_vec();
    auth_data.push(FLAG_UP | FLAG_UV | FLAG_AT);
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    // AAGUID: the model's when attested, zero (no model claimed) otherwise.
    auth_data.extend_from_slice(&attestation.map_or([0u8; 16], |a| a.aaguid));
    auth_data.extend_from_slice(&u16::try_from(id.len()).unwrap_or(32).to_be_bytes());
    auth_data.extend_from_slice(&id);
    auth_data.extend_from_slice(&cose_key(&key)?);
    let client_data_json = client_data("webauthn.create", &pk.challenge, origin);
    let (fmt, statement) = match attestation {
        None => ("none", BTreeMap::new()),
        Some(attestation) => {
            // WebAuthn §8.2: the attestation key signs authData || SHA-256(clientDataJSON).
            let mut signed = auth_data.clone();
            signed.extend_from_slice(&Sha256::digest(&client_data_json));
            let signature: p256::ecdsa::Signature = attestation.key.sign(&signed);
            let statement: BTreeMap<Value, Value> = [
                (
                    Value::Text("alg".into()),
                    Value::Integer(i128::from(COSE_ES256)),
                ),
                (
                    Value::Text("sig".into()),
                    Value::Bytes(signature.to_der().as_bytes().to_vec()),
                ),
                (
                    Value::Text("x5c".into()),
                    Value::Array(
                        attestation
                            .chain
                            .iter()
                            .map(|c| Value::Bytes(c.clone()))
                            .collect(),
                    ),
                ),
            ]
            .into_iter()
            .collect();
            ("packed", statement)
        }
    };
    let attestation: BTreeMap<Value, Value> = [
        (Value::Text("fmt".into()), Value::Text(fmt.into())),
        (Value::Text("attStmt".into()), Value::Map(statement)),
        (Value::Text("authData".into()), Value::Bytes(auth_data)),
    ]
    .into_iter()
    .collect();
    let attestation_object = serde_cbor_2::to_vec(&Value::Map(attestation))
        .map_err(|e| WalletError::Protocol(e.to_string()))?;
    let credential = RegisterPublicKeyCredential {
        id: b64url(&id),
        raw_id: id.clone(),
        response: AuthenticatorAttestationResponseRaw {
            attestation_object,
            client_data_json,
            transports: None,
        },
        type_: "public-key".into(),
        extensions: RegistrationExtensionsClientOutputs::default(),
    };
    Ok((
        Credential {
            key,
            id,
            sign_count: 0,
            user_handle: pk.user.id.clone(),
        },
        credential,
    ))
}

/// Deliberate departures from WebAuthn in an assertion, to check that a server refuses them
/// (the conformance suite's `eid-fido` plan). [`get_assertion`] never makes any of them.
#[derive(Debug, Clone, Default)]
pub struct AssertionFaults {
    /// The origin written into clientDataJSON instead of the server's.
    pub origin: Option<String>,
    /// The RP ID hashed into authenticatorData instead of the one asked for.
    pub rp_id: Option<String>,
    /// The signature counter reported instead of the next one (the credential's own counter is
    /// left as it was).
    pub counter: Option<u32>,
    /// Clear the user-verified flag (UV).
    pub without_user_verification: bool,
}

/// `authenticatorGetAssertion`: signs the challenge; the counter goes up by one.
pub fn get_assertion(
    credential: &mut Credential,
    options: &RequestChallengeResponse,
    origin: &str,
) -> Result<PublicKeyCredential, WalletError> {
    get_assertion_with_faults(credential, options, origin, &AssertionFaults::default())
}

/// [`get_assertion`] with `faults` (none: the same).
pub fn get_assertion_with_faults(
    credential: &mut Credential,
    options: &RequestChallengeResponse,
    origin: &str,
    faults: &AssertionFaults,
) -> Result<PublicKeyCredential, WalletError> {
    let pk = &options.public_key;
    check_rp_id(&pk.rp_id, origin)?;
    if !pk.allow_credentials.is_empty()
        && !pk
            .allow_credentials
            .iter()
            .any(|c| AsRef::<[u8]>::as_ref(&c.id) == credential.id.as_slice())
    {
        return Err(WalletError::Protocol(
            "this device's credential is not among those allowed".into(),
        ));
    }
    let counter = match faults.counter {
        Some(counter) => counter,
        None => {
            credential.sign_count = credential.sign_count.saturating_add(1);
            credential.sign_count
        }
    };
    let rp_id = faults.rp_id.as_deref().unwrap_or(&pk.rp_id);
    let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
    auth_data.push(if faults.without_user_verification {
        FLAG_UP
    } else {
        FLAG_UP | FLAG_UV
    });
    auth_data.extend_from_slice(&counter.to_be_bytes());
    let client_data_json = client_data(
        "webauthn.get",
        &pk.challenge,
        faults.origin.as_deref().unwrap_or(origin),
    );
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&Sha256::digest(&client_data_json));
    let signature: p256::ecdsa::Signature = credential.key.sign(&signed);
    Ok(PublicKeyCredential {
        id: b64url(&credential.id),
        raw_id: credential.id.clone(),
        response: AuthenticatorAssertionResponseRaw {
            authenticator_data: auth_data,
            client_data_json,
            signature: signature.to_der().as_bytes().to_vec(),
            user_handle: Some(credential.user_handle.clone()),
        },
        extensions: AuthenticationExtensionsClientOutputs::default(),
        type_: "public-key".into(),
    })
}

/// WebAuthn §5.1.3 step 8 / §5.1.4.1 step 7: the RP ID must be the origin's host or a
/// registrable suffix of it. A phishing origin cannot borrow another site's RP ID.
fn check_rp_id(rp_id: &str, origin: &str) -> Result<(), WalletError> {
    let host = url::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or_else(|| WalletError::Protocol(format!("origin {origin} has no host")))?;
    if host == rp_id || host.ends_with(&format!(".{rp_id}")) {
        Ok(())
    } else {
        Err(WalletError::Protocol(format!(
            "the server at {host} asked for a credential of {rp_id}; refusing"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rp_id_must_match_the_origin() {
        assert!(check_rp_id("localhost", "http://localhost:8080").is_ok());
        assert!(check_rp_id("eid.gov.hk", "https://login.eid.gov.hk").is_ok());
        assert!(check_rp_id("eid.gov.hk", "https://eid.gov.hk.evil.example").is_err());
        assert!(check_rp_id("bank.hk", "https://eid.gov.hk").is_err());
    }

    #[test]
    fn cose_key_is_a_five_entry_map() {
        let key = <p256::ecdsa::SigningKey as p256::elliptic_curve::Generate>::generate_from_rng(
            &mut rand::rng(),
        );
        let bytes = cose_key(&key).unwrap();
        let value: Value = serde_cbor_2::from_slice(&bytes).unwrap();
        let Value::Map(map) = value else {
            panic!("not a map")
        };
        assert_eq!(map.len(), 5);
        assert_eq!(map.get(&Value::Integer(3)), Some(&Value::Integer(-7)));
    }
}
