use super::StoreError;

/// A registered relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the client secret.
    pub secret_hash: Vec<u8>,
    /// Registered redirect URIs, matched exactly (OAuth 2.0 Security BCP §4.1.3).
    pub redirect_uris: Vec<String>,
    pub id_token_alg: String,
    pub created_at: i64,
}

/// Relying parties.
pub trait ClientStore {
    fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError>;
    fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError>;
    fn clients(&self) -> Result<Vec<ClientRecord>, StoreError>;
    /// Removes the client with its access and refresh tokens and its consents.
    fn delete_client(&self, client_id: &str) -> Result<bool, StoreError>;
}
