use std::sync::Arc;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use eid_core::custody::{key_id, verify, KeyCustody, PrivateKey};
use eid_core::keys::JwsAlg;
use eid_core::Error;

use super::*;

/// SoftHSM2 is a Debian package (`softhsm2`): without it these tests are skipped, unless
/// EID_REQUIRE_SOFTHSM=1 (CI sets it) makes that a failure.
fn softhsm_missing() -> bool {
    match softhsm::module_path() {
        Ok(_) => false,
        Err(e) if std::env::var("EID_REQUIRE_SOFTHSM").is_ok_and(|v| v == "1" || v == "true") => {
            panic!("{e}")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            true
        }
    }
}

fn custody() -> Pkcs11Custody {
    Pkcs11Custody::open(&softhsm::test_token().unwrap()).unwrap()
}

#[test]
fn keys_generated_in_the_token_reopen_and_sign_verifiably() {
    if softhsm_missing() {
        return;
    }
    let custody = custody();
    assert_eq!(custody.custody(), Custody::Pkcs11);
    for alg in [JwsAlg::Es256, JwsAlg::Rs256] {
        let generated = custody.generate(alg, "test").unwrap();
        assert!(generated.kid.starts_with("test-"));
        assert_eq!(
            generated.kid,
            key_id("test", generated.key.public_key_der())
        );
        assert_eq!(generated.stored, generated.kid.as_bytes());
        assert_eq!(generated.key.alg(), alg);
        let sig = generated.key.sign(b"message").unwrap();
        assert!(verify(
            alg,
            generated.key.public_key_der(),
            b"message",
            &sig
        ));

        let opened = custody
            .open(alg, &generated.kid, &generated.stored)
            .unwrap();
        assert_eq!(opened.alg(), alg);
        assert_eq!(opened.public_key_der(), generated.key.public_key_der());
        let sig = opened.sign(b"message").unwrap();
        if alg == JwsAlg::Es256 {
            assert_eq!(sig.len(), 64);
        } else {
            assert_eq!(sig.len(), 256);
        }
        assert!(verify(alg, opened.public_key_der(), b"message", &sig));
        assert!(!verify(alg, opened.public_key_der(), b"other", &sig));
    }
}

#[test]
fn ecdsa_keys_sign_digests_computed_elsewhere() {
    if softhsm_missing() {
        return;
    }
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::pkcs8::DecodePublicKey;
    let custody = custody();
    let key = custody.generate(JwsAlg::Es256, "digest").unwrap().key;
    let verifying = p256::ecdsa::VerifyingKey::from_public_key_der(key.public_key_der()).unwrap();
    let sha256 = sha2::Sha256::digest(b"document");
    let sha384 = sha2::Sha384::digest(b"document");
    let sha512 = sha2::Sha512::digest(b"document");
    for digest in [&sha256[..], &sha384[..], &sha512[..]] {
        let raw = key.sign_digest(digest).unwrap();
        assert_eq!(raw.len(), 64);
        let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
        verifying.verify_prehash(digest, &sig).unwrap();
    }
    // Over SHA-256, the same as signing the message.
    let raw = key.sign_digest(&sha256).unwrap();
    assert!(verify(
        JwsAlg::Es256,
        key.public_key_der(),
        b"document",
        &raw
    ));
    assert!(key.sign_digest(&[]).is_err());

    let rsa = custody.generate(JwsAlg::Rs256, "digest").unwrap().key;
    assert!(rsa.sign_digest(&sha256).is_err());
}

#[test]
fn an_unknown_or_mismatched_key_does_not_open() {
    if softhsm_missing() {
        return;
    }
    let custody = custody();
    let err = custody
        .open(JwsAlg::Es256, "es256-nothere", b"es256-nothere")
        .err()
        .unwrap();
    assert!(
        matches!(&err, Error::Crypto(m) if m.contains("the key es256-nothere is not in token eid-test")),
        "{err}"
    );

    let es = custody.generate(JwsAlg::Es256, "mixed").unwrap();
    let err = custody
        .open(JwsAlg::Rs256, &es.kid, &es.stored)
        .err()
        .unwrap();
    assert!(err.to_string().contains("is not an RS256 key"), "{err}");

    // The stored id must name the public key it finds.
    let other = custody.generate(JwsAlg::Es256, "mixed").unwrap();
    let err = custody
        .open(JwsAlg::Es256, &other.kid, &es.stored)
        .err()
        .unwrap();
    assert!(err.to_string().contains("does not match its id"), "{err}");
}

#[test]
fn private_keys_cannot_leave_the_token() {
    if softhsm_missing() {
        return;
    }
    let custody = custody();
    for alg in [JwsAlg::Es256, JwsAlg::Rs256] {
        let generated = custody.generate(alg, "secret").unwrap();
        let attributes = custody
            .token
            .with_session(|session| {
                let private = custody
                    .token
                    .find(session, ObjectClass::PRIVATE_KEY, &generated.stored)?
                    .unwrap();
                session
                    .get_attributes(
                        private,
                        &[
                            AttributeType::Value,
                            AttributeType::PrivateExponent,
                            AttributeType::Extractable,
                            AttributeType::Sensitive,
                            AttributeType::NeverExtractable,
                            AttributeType::Token,
                            AttributeType::Label,
                        ],
                    )
                    .map_err(|e| custody.token.error("reading", e))
            })
            .unwrap();
        // cryptoki leaves out the attributes the token refuses to give (CKR_ATTRIBUTE_SENSITIVE).
        assert!(!attributes
            .iter()
            .any(|a| matches!(a, Attribute::Value(_) | Attribute::PrivateExponent(_))));
        assert!(attributes.contains(&Attribute::Extractable(false)));
        assert!(attributes.contains(&Attribute::Sensitive(true)));
        assert!(attributes.contains(&Attribute::NeverExtractable(true)));
        assert!(attributes.contains(&Attribute::Token(true)));
        assert!(attributes.contains(&Attribute::Label(generated.kid.as_bytes().to_vec())));
    }
}

#[test]
fn two_custodies_in_one_process_share_the_token() {
    if softhsm_missing() {
        return;
    }
    let first = custody();
    let second = custody();
    let generated = first.generate(JwsAlg::Es256, "shared").unwrap();
    let opened = second
        .open(JwsAlg::Es256, &generated.kid, &generated.stored)
        .unwrap();
    let sig = opened.sign(b"m").unwrap();
    assert!(verify(JwsAlg::Es256, opened.public_key_der(), b"m", &sig));
    drop(first);
    // The first custody's sessions are closed; the key it made still signs.
    let sig = generated.key.sign(b"m").unwrap();
    assert!(verify(JwsAlg::Es256, opened.public_key_der(), b"m", &sig));
}

#[test]
fn keys_sign_from_many_threads_at_once() {
    if softhsm_missing() {
        return;
    }
    let custody = custody();
    let keys: Vec<Arc<dyn PrivateKey>> = [JwsAlg::Es256, JwsAlg::Rs256]
        .into_iter()
        .map(|alg| custody.generate(alg, "threads").unwrap().key)
        .collect();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let keys = &keys;
            scope.spawn(move || {
                for i in 0..20 {
                    let key = &keys[(t + i) % keys.len()];
                    let message = format!("thread {t} message {i}");
                    let sig = key.sign(message.as_bytes()).unwrap();
                    assert!(verify(
                        key.alg(),
                        key.public_key_der(),
                        message.as_bytes(),
                        &sig
                    ));
                }
            });
        }
    });
    assert!(custody.token.sessions.lock().len() <= POOL_MAX);
}

#[test]
fn a_stale_object_handle_is_looked_up_again() {
    if softhsm_missing() {
        return;
    }
    let custody = custody();
    let generated = custody.generate(JwsAlg::Es256, "stale").unwrap();
    let key = custody
        .token
        .with_session(|session| {
            custody.open_in(session, JwsAlg::Es256, &generated.kid, &generated.stored)
        })
        .unwrap();
    // A handle that was valid and is no more: a destroyed session object's.
    let stale = custody
        .token
        .with_session(|session| {
            let object = session
                .create_object(&[
                    Attribute::Class(ObjectClass::DATA),
                    Attribute::Token(false),
                    Attribute::Value(b"x".to_vec()),
                ])
                .map_err(|e| custody.token.error("creating", e))?;
            session
                .destroy_object(object)
                .map_err(|e| custody.token.error("destroying", e))?;
            Ok(object)
        })
        .unwrap();
    let good = *key.handle.lock();
    *key.handle.lock() = stale;
    let sig = key.sign(b"m").unwrap();
    assert!(verify(JwsAlg::Es256, key.public_key_der(), b"m", &sig));
    assert_eq!(*key.handle.lock(), good);
}

#[test]
fn a_wrong_pin_is_a_configuration_error_that_does_not_show_it() {
    if softhsm_missing() {
        return;
    }
    const WRONG: &str = "98765";
    // On a token this process never logged in to, the token checks the PIN.
    let fresh = softhsm::new_token("eid-test-wrong-pin").unwrap();
    let wrong = Pkcs11Config {
        pin: WRONG.to_owned(),
        ..fresh.clone()
    };
    assert!(!format!("{wrong:?}").contains(WRONG));
    let err = Pkcs11Custody::open(&wrong).err().unwrap();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("PIN")),
        "{err}"
    );
    assert!(!err.to_string().contains(WRONG), "{err}");
    Pkcs11Custody::open(&fresh).unwrap();

    // On a token this process is logged in to, the token checks nothing; the custody does.
    let _open = custody();
    let wrong = Pkcs11Config {
        pin: WRONG.to_owned(),
        ..softhsm::test_token().unwrap()
    };
    let err = Pkcs11Custody::open(&wrong).err().unwrap();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("PIN")),
        "{err}"
    );
    assert!(!err.to_string().contains(WRONG), "{err}");
}

#[test]
fn an_unknown_token_or_module_is_a_clear_configuration_error() {
    if softhsm_missing() {
        return;
    }
    let config = Pkcs11Config {
        token_label: "no-such-token".to_owned(),
        ..softhsm::test_token().unwrap()
    };
    let err = Pkcs11Custody::open(&config).err().unwrap();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("no token labelled \"no-such-token\"") && m.contains("\"eid-test\"")),
        "{err}"
    );

    let config = Pkcs11Config {
        token_label: String::new(),
        ..softhsm::test_token().unwrap()
    };
    assert!(matches!(
        Pkcs11Custody::open(&config),
        Err(Error::Config(_))
    ));

    let config = Pkcs11Config {
        module: "/nonexistent/libpkcs11.so".into(),
        ..softhsm::test_token().unwrap()
    };
    let err = Pkcs11Custody::open(&config).err().unwrap();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("/nonexistent/libpkcs11.so")),
        "{err}"
    );
}

#[test]
fn test_tokens_are_one_per_process() {
    if softhsm_missing() {
        return;
    }
    let a = softhsm::test_token().unwrap();
    let b = softhsm::test_token().unwrap();
    assert_eq!(a, b);
    assert_eq!(a.token_label, softhsm::TEST_TOKEN_LABEL);
    let conf = std::env::var_os("SOFTHSM2_CONF").unwrap();
    assert!(std::path::Path::new(&conf).exists());
    // SoftHSM2 is recognised, so that its writes go alone.
    assert!(custody().token.softhsm);
}

#[test]
fn ec_points_are_read_wrapped_or_bare() {
    if softhsm_missing() {
        return;
    }
    let key = p256::SecretKey::from_slice(&[7u8; 32])
        .unwrap()
        .public_key();
    let bare = key.to_sec1_bytes().to_vec();
    assert_eq!(bare.len(), 65);
    let mut wrapped = vec![0x04, 0x41];
    wrapped.extend_from_slice(&bare);
    let expected = key.to_public_key_der().unwrap().into_vec();
    assert_eq!(ec_spki(&wrapped).unwrap(), expected);
    assert_eq!(ec_spki(&bare).unwrap(), expected);
    assert!(ec_spki(&[0x04, 0x01, 0x00]).is_err());
    assert_eq!(
        der_octet_string(&[0x04, 0x81, 0x01, 0xaa]),
        Some(&[0xaa][..])
    );
    assert_eq!(der_octet_string(&[0x04, 0x02, 0xaa]), None);
}

/// L7 (security review 2026-12-07): a destroyed key is gone from the token (private and
/// public objects), so it neither opens nor signs again; destroying it again is no error.
#[test]
fn destroyed_keys_are_gone_from_the_token() {
    if softhsm_missing() {
        return;
    }
    let custody = custody();
    let generated = custody.generate(JwsAlg::Es256, "destroy").unwrap();
    let other = custody.generate(JwsAlg::Es256, "destroy").unwrap();
    custody.destroy(&generated.kid, &generated.stored).unwrap();
    let err = custody
        .open(JwsAlg::Es256, &generated.kid, &generated.stored)
        .err()
        .expect("destroyed");
    assert!(err.to_string().contains("not in token"), "{err}");
    // The handle held before fails too, rather than signing.
    assert!(generated.key.sign(b"message").is_err());
    custody.destroy(&generated.kid, &generated.stored).unwrap();
    // Other keys stay.
    let opened = custody
        .open(JwsAlg::Es256, &other.kid, &other.stored)
        .unwrap();
    assert!(opened.sign(b"message").is_ok());
}
