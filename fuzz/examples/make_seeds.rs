//! Writes the seeds that need real cryptography into `seeds/`: a registration (attestation
//! object, and the JSON it travels in), an approval (a decision and its assertion), a sealed
//! value and a signed JWS. `cargo run --example make_seeds` (the others are written by hand).

use std::path::Path;

use base64::Engine as _;
use eid_core::crypto::MasterKey;
use eid_core::jose::sign_es256;
use eid_proto::api::{ApprovalDecision, ApprovalSubmission};
use webauthn_rs::prelude::{Url, Uuid};
use webauthn_rs::WebauthnBuilder;

fn write(target: &str, name: &str, data: &[u8]) -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), data)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let origin = "http://localhost:8080";
    let webauthn = WebauthnBuilder::new("localhost", &Url::parse(origin)?)?.build()?;
    let (options, _state) =
        webauthn.start_passkey_registration(Uuid::new_v4(), "eid citizen", "eid", None)?;
    let (mut credential, registration) =
        eid_wallet::authenticator::make_credential(&options, origin, None)?;
    write(
        "attestation_object",
        "none-attestation.cbor",
        registration.response.attestation_object.as_ref(),
    )?;
    write(
        "attestation_object",
        "registration.json",
        serde_json::to_string(&registration)?.as_bytes(),
    )?;
    let (options, _state) = webauthn.start_discoverable_authentication()?;
    let decision = ApprovalDecision {
        request_id: "Gq3Xv0aLrM2kq9sW4tY7uA".into(),
        answer: "approve".into(),
        number: Some(42),
        claims: vec!["name".into(), "birthdate".into()],
        remember: true,
        stay_signed_in: true,
        purpose: None,
    };
    let assertion = eid_wallet::authenticator::get_assertion(&mut credential, &options, origin)?;
    write(
        "approval",
        "approve.json",
        serde_json::to_string(&ApprovalSubmission {
            decision: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&decision)?),
            credential: assertion,
        })?
        .as_bytes(),
    )?;
    let keys = MasterKey::from_bytes([7; 32]).derive_keys();
    write(
        "sealed",
        "sealed-profile.bin",
        &keys
            .data
            .seal(b"citizen:1", br#"{"english_name":"CHAN Tai Man"}"#)?,
    )?;
    let key = p256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into())?;
    let claims = serde_json::json!({"iss": "http://127.0.0.1:7070", "aud": "http://localhost:8080",
        "verdict": "match", "iat": 1_795_564_800, "exp": 1_795_564_860});
    write(
        "jws",
        "verdict.jws",
        sign_es256(&key, "k1", "JWT", &claims).as_bytes(),
    )?;
    write("jws", "claims.json", claims.to_string().as_bytes())?;
    // Client assertions: a good one at the fuzz targets' fixed time, an expired one, its
    // claims alone (the target signs them), and an HS256 one under the fixed secret.
    let now: i64 = 1_795_564_800;
    let assertion = serde_json::json!({
        "iss": "client", "sub": "client", "aud": "https://eid.example",
        "jti": "j1", "iat": now, "exp": now + 60
    });
    write(
        "client_assertion",
        "es256.jwt",
        sign_es256(&key, "k1", "JWT", &assertion).as_bytes(),
    )?;
    let mut expired = assertion.clone();
    expired["exp"] = serde_json::json!(now - 3600);
    write(
        "client_assertion",
        "expired.jwt",
        sign_es256(&key, "k1", "JWT", &expired).as_bytes(),
    )?;
    write(
        "client_assertion",
        "claims.json",
        assertion.to_string().as_bytes(),
    )?;
    write(
        "client_assertion",
        "hs256.jwt",
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &assertion,
            &jsonwebtoken::EncodingKey::from_secret(b"client secret"),
        )?
        .as_bytes(),
    )?;

    // DPoP proofs for the fuzz target's request: a good one, its claims alone, one with a
    // private key in its header, one for another method.
    let ath = eid_core::crypto::b64url(&eid_core::crypto::sha256(
        eid_fuzz::DPOP_ACCESS_TOKEN.as_bytes(),
    ));
    let proof = serde_json::json!({
        "jti": "p1", "htm": "GET", "htu": eid_fuzz::DPOP_HTU, "iat": now, "ath": ath,
        "nonce": "n"
    });
    let none = serde_json::json!({});
    write(
        "dpop_proof",
        "es256.jwt",
        eid_fuzz::dpop_sign(&proof, &none).as_bytes(),
    )?;
    write("dpop_proof", "claims.json", proof.to_string().as_bytes())?;
    let mut post = proof.clone();
    post["htm"] = serde_json::json!("POST");
    write(
        "dpop_proof",
        "post.jwt",
        eid_fuzz::dpop_sign(&post, &none).as_bytes(),
    )?;
    let private =
        serde_json::json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "", "y": "", "d": ""}});
    write(
        "dpop_proof",
        "private.jwt",
        eid_fuzz::dpop_sign(&proof, &private).as_bytes(),
    )?;
    Ok(())
}
