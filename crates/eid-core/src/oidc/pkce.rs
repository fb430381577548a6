//! Proof Key for Code Exchange (RFC 7636), S256 only.

use crate::crypto::{b64url, ct_eq, sha256};

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub(crate) fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A well-formed S256 challenge: the 43-character base64url SHA-256 of a verifier.
pub(crate) fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && is_pkce_value(challenge)
}

/// The S256 challenge of a verifier (RFC 7636 §4.2).
pub fn challenge_of(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge, in constant time.
pub(crate) fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    is_pkce_value(verifier)
        && ct_eq(
            b64url(&sha256(verifier.as_bytes())).as_bytes(),
            challenge.as_bytes(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_s256_challenge(challenge));
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(&verifier.replace('d', "e"), challenge));
    }

    #[test]
    fn pkce_values_have_bounded_length_and_alphabet() {
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(is_pkce_value(&"a".repeat(128)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
        assert!(!is_s256_challenge(&"a".repeat(44)));
    }
}
