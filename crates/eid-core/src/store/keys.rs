use super::StoreError;
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
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Connector => "connector",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "token" => Some(Self::Token),
            "connector" => Some(Self::Connector),
            _ => None,
        }
    }
}

/// A private key, sealed under the master key (AAD: the kid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub purpose: KeyPurpose,
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
    /// Adds keys (a rotation).
    fn insert_signing_keys(&self, keys: &[SigningKeyRecord]) -> Result<(), StoreError>;
}
