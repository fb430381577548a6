//! Small cryptographic building blocks: the master key and the keys derived from it,
//! AES-256-GCM sealing for data at rest, keyed hashes, random tokens, constant-time comparison.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Error;

const NONCE_LEN: usize = 12;

/// The deployment's root secret (32 bytes). Every key that protects data at rest is derived
/// from it with HKDF-SHA256 under a distinct label, so one key never serves two purposes.
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Wraps 32 bytes of key material.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Fresh random key material, for `eid-server keygen` and the dev start.
    pub fn generate() -> Self {
        Self(random_bytes())
    }

    /// The key as standard base64 (the form of the key file and `EID_MASTER_KEY`).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Parses the base64 form; whitespace around it is ignored.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Error::Config("the master key is not valid base64".into()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Config("the master key must be exactly 32 bytes".into()))?;
        Ok(Self(bytes))
    }

    /// HKDF-SHA256 (RFC 5869) with `label` as the info string.
    fn derive(&self, label: &str) -> [u8; 32] {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"eid master key v1"), &self.0);
        let mut out = [0u8; 32];
        // Fail closed: a key of zeros must never be used. 32 bytes is far below
        // HKDF-SHA256's 255 * 32-byte limit, so `expand` cannot refuse this length.
        #[allow(clippy::expect_used)]
        hk.expand(label.as_bytes(), &mut out)
            .expect("HKDF-SHA256 expands to 32 bytes");
        out
    }

    /// The keys this deployment uses, derived once at start-up.
    pub fn derive_keys(&self) -> DerivedKeys {
        DerivedKeys {
            data: Sealer::new(&self.derive("eid data encryption")),
            hkid_index: KeyedHash(self.derive("eid hkid index")),
            pairwise: KeyedHash(self.derive("eid pairwise subject")),
            limits: KeyedHash(self.derive("eid rate limit buckets")),
            logins: KeyedHash(self.derive("eid login requests")),
            dpop_nonces: KeyedHash(self.derive("eid dpop nonces")),
        }
    }
}

/// The purpose-specific keys derived from the [`MasterKey`].
pub struct DerivedKeys {
    /// Seals personal data, private keys and ceremony state at rest.
    pub data: Sealer,
    /// Indexes citizens by HKID number without storing it in clear.
    pub hkid_index: KeyedHash,
    /// Computes pairwise subject identifiers (OIDC Core §8.1).
    pub pairwise: KeyedHash,
    /// Names rate-limit buckets after client addresses and HKID numbers without storing them.
    pub limits: KeyedHash,
    /// Derives a login request's values from its id: the approval challenge's nonce, the
    /// rotating QR codes, the numbers to match, the browser's CSRF token.
    pub logins: KeyedHash,
    /// Mints and checks the DPoP nonces eid hands out (RFC 9449 §8), with no state to share
    /// between nodes.
    pub dpop_nonces: KeyedHash,
}

/// Where a sealed value lives: the associated data that binds it to its row, so that a value
/// copied into another row (or another table) does not open.
#[derive(Debug, Clone, Copy)]
pub enum Aad<'a> {
    /// A citizen's profile.
    Citizen(&'a str),
    /// A ceremony's state.
    Ceremony(&'a str),
    /// A login request's context (where it was started).
    AuthRequest(&'a str),
    /// An application's particulars.
    Application(&'a str),
    /// An audit event's detail.
    Event(&'a str),
    /// A private key (by kid).
    Key(&'a str),
    /// A client's secret (`client_secret_jwt` clients only).
    ClientSecret(&'a str),
    /// A signing request's document, and its result.
    SigningRequest(&'a str),
    /// Where a single sign-on session was opened.
    BrowserSession(&'a str),
    /// What proofing established for a held recovery (by application id).
    HeldProof(&'a str),
}

impl Aad<'_> {
    /// The associated data's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Citizen(id) => format!("citizen:{id}"),
            Self::Ceremony(id) => format!("ceremony:{id}"),
            Self::AuthRequest(id) => format!("auth-request:{id}"),
            Self::Application(id) => format!("application:{id}"),
            Self::Event(id) => format!("event:{id}"),
            Self::ClientSecret(id) => format!("client-secret:{id}"),
            Self::SigningRequest(id) => format!("signing-request:{id}"),
            Self::BrowserSession(id) => format!("browser-session:{id}"),
            Self::HeldProof(id) => format!("held-proof:{id}"),
            // Keys were sealed under their bare kid from the start.
            Self::Key(kid) => (*kid).to_owned(),
        }
        .into_bytes()
    }
}

/// AES-256-GCM with a random 96-bit nonce per message; output is `nonce || ciphertext || tag`.
/// The associated data binds a sealed value to where it is stored (table, row), so a value
/// copied into another row does not open.
#[derive(Clone)]
pub struct Sealer(Aes256Gcm);

impl Sealer {
    fn new(key: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(key.into()))
    }

    /// Encrypts `plaintext`, binding it to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let ct = self
            .0
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Crypto("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts what [`Sealer::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Error> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Crypto("sealed value is truncated".into()));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| Error::Crypto("sealed value is truncated".into()))?;
        self.0
            .decrypt(&nonce.into(), Payload { msg: ct, aad })
            .map_err(|_| {
                Error::Crypto(
                    "a sealed value did not open: wrong master key or tampered data".into(),
                )
            })
    }

    /// Seals a serde value as JSON.
    pub fn seal_json<T: serde::Serialize>(
        &self,
        aad: Aad<'_>,
        value: &T,
    ) -> Result<Vec<u8>, Error> {
        let json = serde_json::to_vec(value)
            .map_err(|e| Error::Internal(format!("serialising a sealed value: {e}")))?;
        self.seal(&aad.bytes(), &json)
    }

    /// Opens a value sealed by [`Sealer::seal_json`].
    pub fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        aad: Aad<'_>,
        sealed: &[u8],
    ) -> Result<T, Error> {
        let json = self.open(&aad.bytes(), sealed)?;
        serde_json::from_slice(&json)
            .map_err(|e| Error::Internal(format!("a sealed value is not the expected JSON: {e}")))
    }
}

/// HMAC-SHA256 under a derived key: a deterministic, non-reversible index or identifier.
pub struct KeyedHash([u8; 32]);

impl KeyedHash {
    /// HMAC-SHA256 over the parts, each length-prefixed so that `("ab","c")` and `("a","bc")` differ.
    pub fn hash(&self, parts: &[&[u8]]) -> [u8; 32] {
        // Fail closed: a constant output would make every index collide. HMAC accepts keys of
        // any length, so construction cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 takes a 32-byte key");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// SHA-256 of `data`. Used to store bearer secrets (codes, tokens, client secrets) as hashes:
/// they are 256-bit random values, so a fast hash is enough and a leaked table reveals nothing.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `N` bytes from the thread-local CSPRNG (ChaCha seeded from the OS).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// A 256-bit random secret in base64url without padding (43 characters).
pub fn random_token() -> String {
    b64url(&random_bytes::<32>())
}

/// 128 random bits, base64url (22 characters): an identifier that is also a capability but
/// must stay short, such as a login request's id inside its QR code.
pub fn random_id() -> String {
    b64url(&random_bytes::<16>())
}

/// Crockford's base32 alphabet: digits and capitals without I, L, O and U, so that a code read
/// aloud or typed from a phone's screen is not misread.
const REFERENCE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A short random reference a person reads out or types: `K7Q2-M9XD` (40 bits).
pub fn reference_code() -> String {
    reference_of(&random_bytes::<8>())
}

/// A reference made of eight bytes (five bits of each): the same form as [`reference_code`],
/// for a value derived from something (a key's fingerprint), read out and compared with
/// [`normalise_reference`].
pub fn reference_of(bytes: &[u8; 8]) -> String {
    let chars: String = bytes
        .iter()
        .map(|b| char::from(REFERENCE_ALPHABET[usize::from(b & 31)]))
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// Normalises a reference as typed (`k7q2m9xd`, `K7Q2 M9XD`, `k7q2-m9xd`) to `K7Q2-M9XD`, or
/// `None` if it cannot be one. Crockford's look-alikes are read as what they look like.
pub fn normalise_reference(input: &str) -> Option<String> {
    let chars: Vec<char> = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    if chars.len() != 8
        || !chars
            .iter()
            .all(|c| c.is_ascii() && REFERENCE_ALPHABET.contains(&(*c as u8)))
    {
        return None;
    }
    let s: String = chars.into_iter().collect();
    Some(format!("{}-{}", &s[..4], &s[4..]))
}

/// base64url without padding (RFC 4648 §5), as JOSE and OAuth use it.
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decodes base64url without padding.
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> DerivedKeys {
        MasterKey::from_bytes([7u8; 32]).derive_keys()
    }

    #[test]
    fn sealed_values_open_only_with_the_same_aad() {
        let k = keys();
        let sealed = k.data.seal(b"citizens:1", b"secret").unwrap();
        assert_eq!(k.data.open(b"citizens:1", &sealed).unwrap(), b"secret");
        assert!(k.data.open(b"citizens:2", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(k.data.open(b"citizens:1", &tampered).is_err());
        assert!(k.data.open(b"citizens:1", &sealed[..5]).is_err());
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let k = keys();
        assert_ne!(
            k.data.seal(b"", b"x").unwrap(),
            k.data.seal(b"", b"x").unwrap()
        );
    }

    #[test]
    fn another_master_key_cannot_open() {
        let sealed = keys().data.seal(b"a", b"x").unwrap();
        let other = MasterKey::from_bytes([8u8; 32]).derive_keys();
        assert!(other.data.open(b"a", &sealed).is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let k = keys();
        assert_ne!(k.hkid_index.hash(&[b"x"]), k.pairwise.hash(&[b"x"]));
        assert_ne!(
            k.pairwise.hash(&[b"ab", b"c"]),
            k.pairwise.hash(&[b"a", b"bc"])
        );
    }

    #[test]
    fn master_key_base64_round_trips_and_rejects_bad_lengths() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&format!(" {}\n", key.to_base64())).unwrap();
        assert_eq!(key.0, again.0);
        assert!(MasterKey::from_base64("AAAA").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn sha256_matches_fips_180_2_vector() {
        // FIPS 180-2, Appendix B.1: SHA-256("abc").
        assert_eq!(
            b64url(&sha256(b"abc")),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn references_are_short_unambiguous_and_normalised() {
        for _ in 0..100 {
            let r = reference_code();
            assert_eq!(r.len(), 9);
            assert_eq!(normalise_reference(&r).as_deref(), Some(r.as_str()));
            assert!(!r.contains(['I', 'L', 'O', 'U']));
        }
        assert_eq!(
            normalise_reference(" k7q2 m9xd ").as_deref(),
            Some("K7Q2-M9XD")
        );
        assert_eq!(
            normalise_reference("K7Q2-M9XO").as_deref(),
            Some("K7Q2-M9X0")
        );
        assert_eq!(normalise_reference("K7Q2-M9X"), None);
        assert_eq!(normalise_reference("K7Q2-M9XU"), None);
        assert_eq!(normalise_reference("K7Q2-M9XÉ"), None);
    }

    #[test]
    fn aad_names_its_row() {
        assert_eq!(Aad::Citizen("1").bytes(), b"citizen:1");
        assert_eq!(Aad::Key("es256-x").bytes(), b"es256-x");
        assert_ne!(Aad::Application("1").bytes(), Aad::Event("1").bytes());
    }

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
