use super::{AuditRecord, StoreError};
use crate::custody::Custody;
use crate::time::UnixTime;

/// What a stored private key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// ID tokens (published at the JWKS endpoint).
    Token,
    /// Requests to outside services such as the population registry (published at the
    /// connector JWKS endpoint). Never used for tokens, so a signed query can never pass as an
    /// ID token and the other way round.
    Connector,
    /// The certificate authorities (root, issuing).
    Ca,
    /// The OCSP responder.
    Ocsp,
    /// The time-stamping unit.
    Tsa,
    /// A citizen's document-signing key (its certificate names the citizen).
    Signer,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Connector => "connector",
            Self::Ca => "ca",
            Self::Ocsp => "ocsp",
            Self::Tsa => "tsa",
            Self::Signer => "signer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "token" => Some(Self::Token),
            "connector" => Some(Self::Connector),
            "ca" => Some(Self::Ca),
            "ocsp" => Some(Self::Ocsp),
            "tsa" => Some(Self::Tsa),
            "signer" => Some(Self::Signer),
            _ => None,
        }
    }
}

/// A private key as its custody stored it ([`crate::custody`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub purpose: KeyPurpose,
    /// Which custody holds the key.
    pub custody: Custody,
    /// What the custody keeps: PKCS#8 sealed under the master key (AAD: the kid), or a
    /// PKCS#11 object's `CKA_ID`.
    pub private_key: Vec<u8>,
    pub created_at: UnixTime,
}

/// The provider's private keys.
pub trait KeyStore {
    /// The keys of one purpose, oldest first.
    fn signing_keys(&self, purpose: KeyPurpose) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Inserts keys of one purpose unless some of that purpose exist (another node may have
    /// won); returns whether it did.
    fn insert_signing_keys_if_none(
        &self,
        purpose: KeyPurpose,
        keys: &[SigningKeyRecord],
    ) -> Result<bool, StoreError>;
    /// Adds keys (a rotation) with the `events` that record it, in one transaction.
    fn insert_signing_keys(
        &self,
        keys: &[SigningKeyRecord],
        events: &[AuditRecord],
    ) -> Result<(), StoreError>;
}
