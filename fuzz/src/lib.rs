//! The properties eid's fuzz targets check, one function per target (`fuzz_targets/<name>.rs`
//! calls `eid_fuzz::<name>`). Each takes arbitrary bytes, as an attacker would send them, and
//! asserts: no panic; what is accepted satisfies what the rest of eid relies on; what round-trips
//! comes back the same. `tests/replay.rs` runs every committed seed through them.

use std::sync::OnceLock;

use base64::Engine as _;
use eid_core::ceremony::refuse_cross_origin;
use eid_core::claims::{Scope, Scopes};
use eid_core::clients::decode_basic_credentials;
use eid_core::crypto::{b64url_decode, normalise_reference, DerivedKeys, MasterKey};
use eid_core::enrolment::validate_enrolment;
use eid_core::hkid::Hkid;
use eid_core::jose::{es256_jwk, sign_es256, verify_es256};
use eid_core::limits::RateLimit;
use eid_core::login::describe_user_agent;
use eid_core::oidc::{check_authorization_params, AuthorizationParams, TokenParams};
use eid_core::time::UnixTime;
use eid_proto::api::{ApprovalDecision, ApprovalSubmission, EnrolmentRequest};
use eid_proto::oauth::Jwks;
use webauthn_rs_core::internals::{AttestationObject, AuthenticatorData};
use webauthn_rs_core::proto::{
    Authentication, PublicKeyCredential, RegisterPublicKeyCredential, Registration,
};

/// A fixed "now" (2026-11-25) for validations that read the date.
const NOW: UnixTime = UnixTime::from_secs(1_795_564_800);

/// `/authorize`'s query string or form body: parsed as eid parses it, then checked. An accepted
/// request asks for `openid`, carries an S256 challenge of 43 characters (or, in the implicit
/// flow, a nonce and no query response mode), and its scopes are already normal.
pub fn authorization_request(data: &[u8]) {
    let Ok(params) = serde_urlencoded::from_bytes::<AuthorizationParams>(data) else {
        return;
    };
    if let Ok(request) = check_authorization_params(&params) {
        assert!(
            request.scopes.contains(Scope::OpenId),
            "accepted without openid"
        );
        if request.response_type.is_implicit() {
            // No code, so no PKCE; the nonce ties the tokens to the browser instead.
            assert!(params.nonce.as_deref().is_some_and(|n| !n.is_empty()));
            assert_ne!(request.response_mode.as_str(), "query", "tokens in a query");
        } else {
            assert_eq!(
                params.code_challenge.as_deref().map(str::len),
                Some(43),
                "accepted without a 43-character challenge"
            );
            assert_eq!(params.code_challenge_method.as_deref(), Some("S256"));
            assert_eq!(request.code_challenge.len(), 43);
        }
        assert_eq!(
            Scopes::from_stored(&request.scopes.to_string()),
            Some(request.scopes),
            "scopes do not read back as written"
        );
    }
}

/// `/token`'s form body.
pub fn token_request(data: &[u8]) {
    if let Ok(params) = serde_urlencoded::from_bytes::<TokenParams>(data) {
        // Whatever parsed is plain strings: encoding it again parses the same.
        let _ = format!("{params:?}");
    }
}

/// An `Authorization: Basic` header value. Decoded credentials, encoded again the way RFC 6749
/// §2.3.1 says, decode to the same.
pub fn client_credentials(data: &[u8]) {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((id, secret)) = decode_basic_credentials(value) {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let again = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                enc(&id),
                enc(&secret)
            ))
        );
        assert_eq!(decode_basic_credentials(&again), Some((id, secret)));
    }
}

/// An HKID number as typed. An accepted number's canonical form parses to itself.
pub fn hkid(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(hkid) = Hkid::parse(text) {
        let again = Hkid::parse(hkid.canonical());
        assert_eq!(
            again.as_ref().map(Hkid::canonical).ok(),
            Some(hkid.canonical()),
            "the canonical form does not parse to itself"
        );
        // Its Debug never shows the number.
        assert!(!format!("{hkid:?}").contains(hkid.canonical()));
    }
}

/// The wallet's enrolment request (JSON). An accepted one has a printable device name of at
/// most 64 characters.
pub fn enrolment(data: &[u8]) {
    let Ok(request) = serde_json::from_slice::<EnrolmentRequest>(data) else {
        return;
    };
    if let Ok((_particulars, _contact, device_name)) = validate_enrolment(&request, NOW) {
        assert!(device_name.chars().count() <= 64, "device name too long");
        assert!(
            !device_name.chars().any(char::is_control),
            "control characters kept"
        );
    }
}

/// The phone's answer to a login request (JSON): the decision, base64url JSON, and the WebAuthn
/// assertion, whose client data and authenticator data eid reads.
pub fn approval(data: &[u8]) {
    let Ok(submission) = serde_json::from_slice::<ApprovalSubmission>(data) else {
        return;
    };
    if let Some(bytes) = b64url_decode(&submission.decision) {
        let _ = serde_json::from_slice::<ApprovalDecision>(&bytes);
    }
    let _ = refuse_cross_origin(&submission.credential);
    let _ = AuthenticatorData::<Authentication>::try_from(
        submission.credential.response.authenticator_data.as_ref(),
    );
    // The same assertion as the other ceremonies receive it.
    let _ = serde_json::from_slice::<PublicKeyCredential>(data);
}

/// A registration's attestation object (CBOR) and the JSON it travels in.
pub fn attestation_object(data: &[u8]) {
    let _ = AttestationObject::<Registration>::try_from(data);
    let _ = AuthenticatorData::<Registration>::try_from(data);
    if let Ok(credential) = serde_json::from_slice::<RegisterPublicKeyCredential>(data) {
        let _ = AttestationObject::<Registration>::try_from(
            credential.response.attestation_object.as_ref(),
        );
    }
}

fn keys() -> &'static DerivedKeys {
    static KEYS: OnceLock<DerivedKeys> = OnceLock::new();
    KEYS.get_or_init(|| MasterKey::from_bytes([7; 32]).derive_keys())
}

/// A sealed value as read back from storage: opening anything never panics; what is sealed
/// opens to itself under its own associated data only.
pub fn sealed(data: &[u8]) {
    let sealer = &keys().data;
    let _ = sealer.open(b"citizen:1", data);
    let Ok(sealed) = sealer.seal(b"citizen:1", data) else {
        panic!("sealing failed");
    };
    assert_eq!(
        sealer.open(b"citizen:1", &sealed).ok().as_deref(),
        Some(data)
    );
    assert!(
        sealer.open(b"citizen:2", &sealed).is_err(),
        "opened under another row"
    );
}

fn jws_key() -> &'static (p256::ecdsa::SigningKey, Jwks) {
    static KEY: OnceLock<(p256::ecdsa::SigningKey, Jwks)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = p256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into())
            .unwrap_or_else(|_| panic!("a fixed valid scalar"));
        let jwks = Jwks {
            keys: vec![es256_jwk("k1", key.verifying_key())],
        };
        (key, jwks)
    })
}

/// A compact JWS (the population registry's signed verdicts). Verifying anything never panics;
/// claims signed with the key verify to themselves.
pub fn jws(data: &[u8]) {
    let (key, jwks) = jws_key();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_es256(text, jwks, "JWT");
    }
    if let Ok(claims @ serde_json::Value::Object(_)) = serde_json::from_slice(data) {
        let token = sign_es256(key, "k1", "JWT", &claims);
        let verified = verify_es256(&token, jwks, "JWT").map(serde_json::Value::Object);
        // What was signed is the claims' serialisation (JSON numbers of more digits than an
        // f64 holds read back rounded, so compare with the claims as serialised).
        let signed: serde_json::Value =
            serde_json::from_str(&claims.to_string()).unwrap_or(serde_json::Value::Null);
        assert_eq!(verified.ok(), Some(signed));
    }
}

/// The fixed key as a client's registered JWK set.
fn client_keys() -> &'static jsonwebtoken::jwk::JwkSet {
    static KEYS: OnceLock<jsonwebtoken::jwk::JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| {
        serde_json::to_value(&jws_key().1)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_else(|| panic!("the fixed key set reads as a JWK set"))
    })
}

/// A client assertion (RFC 7523) as the token endpoint verifies it: any text, and claims signed
/// with the client's registered key. Verification never panics; an accepted assertion has an
/// allowed algorithm, is the client's, addressed to eid and unexpired at `NOW`; and signed
/// claims are accepted exactly when they say so.
pub fn client_assertion(data: &[u8]) {
    use eid_core::jwt::{verify, Expect, Keys, LEEWAY};
    use eid_core::oidc::client_auth::{ASSERTION_KEY_ALGS, ASSERTION_SECRET_ALGS};
    let (key, set) = (&jws_key().0, client_keys());
    let audiences = ["https://eid.example".to_owned()];
    let expect = |algs| Expect::strict(algs, &audiences, Some("client"), 300, NOW);
    let holds = |claims: &serde_json::Map<String, serde_json::Value>| {
        let exp = claims.get("exp").and_then(|v| v.as_f64()).unwrap_or(0.0);
        exp > (NOW - LEEWAY).secs() as f64
            && claims.get("iss").and_then(|v| v.as_str()) == Some("client")
    };
    if let Ok(text) = std::str::from_utf8(data) {
        for (keys, algs) in [
            (Keys::Jwks(set), ASSERTION_KEY_ALGS),
            (Keys::Secret(b"client secret"), ASSERTION_SECRET_ALGS),
        ] {
            if let Ok((header, claims)) = verify(text, &keys, &expect(algs)) {
                assert!(algs.contains(&header.alg), "accepted {:?}", header.alg);
                assert!(holds(&claims), "accepted claims that do not hold");
            }
        }
    }
    if let Ok(claims @ serde_json::Value::Object(_)) = serde_json::from_slice(data) {
        let token = sign_es256(key, "k1", "JWT", &claims);
        if let Ok((_, verified)) = verify(&token, &Keys::Jwks(set), &expect(ASSERTION_KEY_ALGS)) {
            assert!(holds(&verified));
        }
    }
}

/// A request object (RFC 9101) as `/authorize` and `/par` read it: verified with the client's
/// key, its parameters taken (the outer ones only checked against them), then checked.
/// Nothing panics; what is accepted was signed by the key, and carries no further request;
/// signed claims' string parameters appear in the parameters as given.
pub fn request_object(data: &[u8]) {
    use eid_core::jwt::{verify, Expect, Keys};
    use eid_core::oidc::request_object::{object_parameters, REQUEST_OBJECT_ALGS};
    let (key, set) = (&jws_key().0, client_keys());
    let audiences = ["https://eid.example".to_owned()];
    let expect = Expect {
        require_aud: false,
        ..Expect::strict(REQUEST_OBJECT_ALGS, &audiences, None, 3_600, NOW)
    };
    let outer = AuthorizationParams {
        client_id: Some("client".into()),
        response_type: Some("code".into()),
        ..AuthorizationParams::default()
    };
    let check = |claims: serde_json::Map<String, serde_json::Value>| {
        let given = claims.clone();
        if let Ok(merged) = object_parameters(&outer, claims) {
            assert!(merged.request.is_none() && merged.request_uri.is_none());
            if let (Some(serde_json::Value::String(state)), Some(merged_state)) =
                (given.get("state"), &merged.state)
            {
                assert_eq!(state, merged_state, "the object's state counts");
            }
            let _ = check_authorization_params(&merged);
        }
    };
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((header, claims)) = verify(text, &Keys::Jwks(set), &expect) {
            assert!(REQUEST_OBJECT_ALGS.contains(&header.alg));
            check(claims);
        }
    }
    if let Ok(claims @ serde_json::Value::Object(_)) = serde_json::from_slice(data) {
        // The parameters' reading needs no signature (and no `exp`, which verifying asks).
        if let serde_json::Value::Object(map) = &claims {
            check(map.clone());
        }
        let token = sign_es256(key, "k1", "oauth-authz-req+jwt", &claims);
        if let Ok((_, verified)) = verify(&token, &Keys::Jwks(set), &expect) {
            check(verified);
        }
    }
}

/// Client metadata as the registration endpoint reads it (RFC 7591). Nothing panics; accepted
/// metadata has redirect URIs without fragments, https unless on this machine, and no private
/// key material.
pub fn registration_metadata(data: &[u8]) {
    use eid_core::oidc::registration::validate_registration;
    use eid_proto::oauth::RegistrationMetadata;
    let Ok(metadata) = serde_json::from_slice::<RegistrationMetadata>(data) else {
        return;
    };
    if validate_registration(&metadata).is_ok() {
        assert!(!metadata.redirect_uris.is_empty());
        for uri in &metadata.redirect_uris {
            let url = url::Url::parse(uri).unwrap_or_else(|_| panic!("accepted {uri:?}"));
            assert!(url.fragment().is_none(), "accepted a fragment: {uri}");
            let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            assert!(url.scheme() == "https" || (url.scheme() == "http" && local));
        }
        if let Some(keys) = metadata.jwks.as_ref().and_then(|j| j["keys"].as_array()) {
            assert!(
                keys.iter().all(|k| k.get("d").is_none()),
                "accepted a private key"
            );
        }
    }
}

/// Small header and configuration parsers: the User-Agent (shown to the citizen), a reference
/// as typed at a counter, a rate as written in the configuration.
pub fn headers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = describe_user_agent(text);
    if let Some(reference) = normalise_reference(text) {
        assert_eq!(
            normalise_reference(&reference).as_deref(),
            Some(reference.as_str())
        );
    }
    if let Ok(rate) = text.parse::<RateLimit>() {
        assert!(rate.max > 0 && rate.window_secs > 0);
    }
}

/// The fixed key's public JWK, as a DPoP proof's header carries it.
fn dpop_jwk() -> serde_json::Value {
    let jwk = &jws_key().1.keys[0];
    serde_json::json!({"kty": "EC", "crv": "P-256", "x": jwk.x, "y": jwk.y})
}

/// `claims` signed into a DPoP proof (RFC 9449 §4.2) by the fixed key, with `header`'s members
/// over the usual ones (`typ`, `alg`, `jwk`).
pub fn dpop_sign(claims: &serde_json::Value, header: &serde_json::Value) -> String {
    use p256::ecdsa::signature::Signer as _;
    let mut full = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": dpop_jwk()});
    if let (Some(full), Some(extra)) = (full.as_object_mut(), header.as_object()) {
        full.extend(extra.clone());
    }
    let input = format!(
        "{}.{}",
        eid_core::crypto::b64url(full.to_string().as_bytes()),
        eid_core::crypto::b64url(claims.to_string().as_bytes())
    );
    let signature: p256::ecdsa::Signature = jws_key().0.sign(input.as_bytes());
    format!(
        "{input}.{}",
        eid_core::crypto::b64url(&signature.to_bytes())
    )
}

/// The request the DPoP target's proofs are checked for.
pub const DPOP_HTU: &str = "https://eid.example/userinfo";
pub const DPOP_ACCESS_TOKEN: &str = "an-access-token";

/// A DPoP proof (RFC 9449) as `/token`, `/par` and userinfo check it, before eid's own state
/// (nonce, replay): any text, and claims the fixed key signs into a proof. Nothing panics; an
/// accepted proof names this request (`htm`, `htu`, `ath`), is recent at `NOW`, has a `jti`,
/// and the thumbprint returned is its key's.
pub fn dpop_proof(data: &[u8]) {
    use eid_core::jwt::LEEWAY;
    use eid_core::oidc::dpop::{check_proof, CheckedProof, PROOF_MAX_AGE};
    let check = |proof: &str| check_proof(proof, "GET", DPOP_HTU, Some(DPOP_ACCESS_TOKEN), NOW);
    let recent = |checked: &CheckedProof| {
        checked.iat >= (NOW - PROOF_MAX_AGE).secs()
            && checked.iat <= (NOW + LEEWAY).secs()
            && !checked.jti.is_empty()
            && checked.jkt.len() == 43
    };
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(checked) = check(text) {
            assert!(recent(&checked), "accepted {checked:?}");
        }
    }
    if let Ok(claims @ serde_json::Value::Object(_)) = serde_json::from_slice(data) {
        if let Ok(checked) = check(&dpop_sign(&claims, &serde_json::json!({}))) {
            assert!(recent(&checked), "accepted {checked:?}");
            assert_eq!(claims["htm"], "GET");
            assert_eq!(
                claims["ath"],
                eid_core::crypto::b64url(&eid_core::crypto::sha256(DPOP_ACCESS_TOKEN.as_bytes()))
            );
            let reference = dpop_sign(
                &serde_json::json!({"jti": "j", "htm": "GET", "htu": DPOP_HTU, "iat": NOW,
                    "ath": claims["ath"]}),
                &serde_json::json!({}),
            );
            assert_eq!(
                check(&reference).map(|c| c.jkt).ok(),
                Some(checked.jkt),
                "the thumbprint is not the signing key's"
            );
        }
    }
}

/// A PDF a service sends to be signed. Reading it never panics; a PDF accepted for signing
/// gets an incremental update that keeps every byte of it, whose byte range leaves out
/// exactly the signature's hex string, and which reads back as a PDF.
pub fn pdf(data: &[u8]) {
    use eid_core::pki::pdf::{check, prepare, SignatureInfo};
    if check(data).is_err() {
        return;
    }
    let info = SignatureInfo {
        name: "CHAN Tai Man",
        reason: "fuzz",
        time: NOW.secs(),
    };
    let Ok(prepared) = prepare(data, &info) else {
        return;
    };
    let covered = prepared.signed_bytes();
    assert!(covered.starts_with(data), "the update keeps the original");
    let signed = prepared
        .finish(&[0x30, 0x00])
        .expect("a two-byte signature fits");
    assert!(signed.starts_with(data));
    assert_eq!(
        signed.len() - covered.len(),
        2 + 2 * eid_core::pki::pdf::SIGNATURE_SPACE,
        "only the hex string is left out"
    );
}

/// A DER request to the OCSP responder or the time-stamping unit: decoding anything never
/// panics, and what decodes encodes to a request that decodes to the same value. (Not always
/// to the same bytes: the decoder takes an explicitly encoded DEFAULT, such as `certReq FALSE`,
/// which DER leaves out; a fuzzing find, kept as a seed.)
pub fn pki_request(data: &[u8]) {
    use der::{Decode, Encode};
    if let Ok(request) = eid_core::pki::status::OcspRequest::from_der(data) {
        let again = request.to_der().expect("re-encodes");
        let decoded = eid_core::pki::status::OcspRequest::from_der(&again).expect("decodes");
        assert_eq!(decoded, request);
    }
    if let Ok(request) = eid_core::pki::tsp::TimeStampReq::from_der(data) {
        let again = request.to_der().expect("re-encodes");
        let decoded = eid_core::pki::tsp::TimeStampReq::from_der(&again).expect("decodes");
        assert_eq!(decoded, request);
    }
}

/// A portal catalogue entry (as a catalogue file's `[[service]]`, here in JSON) checked against
/// an initiate-login URI: an accepted entry never links to another origin, has themes and
/// audiences, and unique, well-formed link ids.
pub fn catalogue(data: &[u8]) {
    use eid_core::catalogue::{validate_entry, CatalogueFileService};
    let Ok(service) = serde_json::from_slice::<CatalogueFileService>(data) else {
        return;
    };
    let Ok(entry) = service.to_entry() else {
        return;
    };
    let initiate = service
        .initiate_login_uri
        .clone()
        .unwrap_or_else(|| "https://service.example/initiate-login".into());
    if validate_entry(&entry, &initiate).is_ok() {
        let origin = url::Url::parse(&initiate)
            .unwrap_or_else(|_| panic!("accepted {initiate:?}"))
            .origin();
        assert!(!entry.themes.is_empty() && !entry.audiences.is_empty());
        for (i, link) in entry.links.iter().enumerate() {
            let target = url::Url::parse(&link.target_link_uri)
                .unwrap_or_else(|_| panic!("accepted {:?}", link.target_link_uri));
            assert_eq!(target.origin(), origin, "a link to another origin");
            assert!(
                !entry.links[..i].iter().any(|l| l.id == link.id),
                "an id twice"
            );
            assert!(link
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
    }
}
