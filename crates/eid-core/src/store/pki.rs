use super::{AuditRecord, SigningKeyRecord, StoreError};
use crate::ids::{CitizenId, ClientId, DeviceId};
use crate::pki::CertKind;
use crate::time::UnixTime;

/// Why a certificate was revoked (RFC 5280 §5.3.1 `CRLReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// An operator revoked it without a more specific reason.
    Unspecified,
    /// The key may be compromised: the device that approved its use was reported lost.
    KeyCompromise,
    /// The account was recovered onto a new device, or the certificate replaced.
    Superseded,
    /// The account was closed.
    CessationOfOperation,
    /// The account was suspended.
    CertificateHold,
}

impl RevocationReason {
    /// The `CRLReason` code.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
        }
    }

    /// Parses the names the CLI takes (`key-compromise`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unspecified" => Self::Unspecified,
            "key-compromise" => Self::KeyCompromise,
            "superseded" => Self::Superseded,
            "cessation-of-operation" => Self::CessationOfOperation,
            "certificate-hold" => Self::CertificateHold,
            _ => return None,
        })
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Unspecified,
            1 => Self::KeyCompromise,
            4 => Self::Superseded,
            5 => Self::CessationOfOperation,
            6 => Self::CertificateHold,
            _ => return None,
        })
    }
}

/// A certificate eid issued, with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Lowercase hex.
    pub serial: String,
    pub kind: CertKind,
    /// The certified key (in `signing_keys`).
    pub kid: String,
    /// The citizen a signing certificate belongs to.
    pub citizen_id: Option<CitizenId>,
    pub der: Vec<u8>,
    pub not_before: UnixTime,
    pub not_after: UnixTime,
    pub revoked_at: Option<UnixTime>,
    pub revocation_reason: Option<RevocationReason>,
}

/// The certificates eid issued.
pub trait PkiStore {
    /// Stores the hierarchy's keys and certificates at once, with the `events` that record
    /// it, unless a root exists; returns whether it did.
    fn insert_hierarchy(
        &self,
        keys: &[SigningKeyRecord],
        certificates: &[CertificateRecord],
        events: &[AuditRecord],
    ) -> Result<bool, StoreError>;
    /// Stores a key and the certificate that certifies it (a citizen's, a replacement).
    fn insert_certificate(
        &self,
        key: &SigningKeyRecord,
        certificate: &CertificateRecord,
    ) -> Result<(), StoreError>;
    /// Certificates of one kind, oldest first.
    fn certificates(&self, kind: CertKind) -> Result<Vec<CertificateRecord>, StoreError>;
    fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError>;
    /// A citizen's signing certificates, oldest first.
    fn signer_certificates(
        &self,
        citizen: &CitizenId,
    ) -> Result<Vec<CertificateRecord>, StoreError>;
    /// The key a certificate certifies.
    fn signing_key(&self, kid: &str) -> Result<Option<SigningKeyRecord>, StoreError>;
    /// Revokes a citizen's unrevoked signing certificates; returns their serials.
    fn revoke_signer_certificates(
        &self,
        citizen: &CitizenId,
        reason: RevocationReason,
        now: UnixTime,
    ) -> Result<Vec<String>, StoreError>;
    /// Revokes one certificate unless it already is; returns whether it did.
    fn revoke_certificate(
        &self,
        serial: &str,
        reason: RevocationReason,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Every revoked certificate that has not expired at `now` (the CRL's entries).
    fn revoked_certificates(&self, now: UnixTime) -> Result<Vec<CertificateRecord>, StoreError>;
    /// Revoked signing certificates (of `citizen`, or anyone's) whose key is still stored, with
    /// that key: the keys to destroy. At most `limit`.
    fn revoked_signer_keys(
        &self,
        citizen: Option<&CitizenId>,
        limit: usize,
    ) -> Result<Vec<(CertificateRecord, SigningKeyRecord)>, StoreError>;
    /// Deletes a stored key (its custody destroyed it, or it was the sealed key itself) and
    /// records `events`, in one transaction; false (nothing recorded) when it was gone already.
    /// The certificates that named it stay.
    fn delete_signing_key(&self, kid: &str, events: &[AuditRecord]) -> Result<bool, StoreError>;
}

/// Where a signing request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningStatus {
    /// Waiting for the citizen (expired past `expires_at`).
    Pending,
    /// Approved and signed: the result is stored.
    Signed,
    /// The citizen declined.
    Declined,
}

impl SigningStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Signed => "signed",
            Self::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "signed" => Self::Signed,
            "declined" => Self::Declined,
            _ => return None,
        })
    }
}

/// A relying party's request that a citizen sign a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRequestRecord {
    pub request_id: String,
    pub client_id: ClientId,
    pub citizen_id: CitizenId,
    /// The document (name, digest, PDF), sealed (AAD: the request id).
    pub document: Vec<u8>,
    pub verification_code: String,
    pub status: SigningStatus,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub decided_at: Option<UnixTime>,
    /// The device that answered.
    pub device_id: Option<DeviceId>,
    pub certificate_serial: Option<String>,
    /// The signature (and signed PDF), sealed (AAD: the request id).
    pub result: Option<Vec<u8>>,
}

/// How a pending signing request ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningOutcome<'a> {
    pub status: SigningStatus,
    pub device_id: &'a DeviceId,
    pub certificate_serial: Option<&'a str>,
    pub result: Option<&'a [u8]>,
    pub now: UnixTime,
}

/// Signing requests.
pub trait SigningStore {
    fn insert_signing_request(&self, request: &SigningRequestRecord) -> Result<(), StoreError>;
    fn signing_request(&self, request_id: &str)
        -> Result<Option<SigningRequestRecord>, StoreError>;
    /// A citizen's pending requests not expired at `now`, oldest first.
    fn pending_signing_requests(
        &self,
        citizen: &CitizenId,
        now: UnixTime,
    ) -> Result<Vec<SigningRequestRecord>, StoreError>;
    /// Ends a request that is still pending and not expired at `outcome.now`, with its audit
    /// events, in one transaction; returns whether it did.
    fn finish_signing_request(
        &self,
        request_id: &str,
        outcome: &SigningOutcome<'_>,
        events: &[AuditRecord],
    ) -> Result<bool, StoreError>;
}
