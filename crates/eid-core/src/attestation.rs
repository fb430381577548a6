//! What kind of key a device holds, and what that allows.
//!
//! A key whose attestation (WebAuthn §6.5) chains to a root the operator trusts is a hardware
//! key: its maker vouches that the private key cannot leave the authenticator and that it
//! verifies its user. Any other key (no attestation, self attestation, or a chain to no
//! trusted root) is a software key: possession of it is all eid knows. The policy says which
//! kinds are accepted, and the highest level an approval with a software key reaches; `amr`
//! says `hwk` (with `user` and `mfa`: the authenticator verified its user) only for hardware
//! keys, `swk` otherwise.

use std::time::{Duration, SystemTime};

use webauthn_rs::prelude::{AttestationCaList, Credential, ParsedAttestationData, Passkey};
use webauthn_rs_proto::AttestationConveyancePreference;

use crate::account::Level;
use crate::time::UnixTime;
use crate::{Error, Provider};

/// Which keys a deployment accepts, at which level.
#[derive(Debug, Clone)]
pub struct AttestationPolicy {
    /// Attestation roots trusted to vouch for hardware keys (FIDO metadata roots, a vendor's
    /// root). Empty: every key is a software key, and none is asked to attest.
    pub roots: Option<AttestationCaList>,
    /// Whether devices whose keys are not attested by a trusted root may register.
    pub accept_software_keys: bool,
    /// The highest level an approval with a software key reaches: an account proven at a
    /// higher level logs in at this one with such a key.
    pub software_key_max_level: Level,
    /// The least key protection that approves a document signature (`[signing]
    /// min_key_protection`): a signature is the citizen's sole-control act, so by default only
    /// a key its maker attests (hardware) approves one.
    pub signing_min_key_protection: MinKeyProtection,
}

/// Which keys registration officers may sign in with (`[officers]`): a separate, strict list of
/// attestation roots, since an officer's key makes `plus` accounts (which sign documents) for
/// anyone.
#[derive(Debug, Clone, Default)]
pub struct OfficerKeyPolicy {
    /// Attestation roots trusted to vouch for officers' security keys (`[officers]
    /// attestation_roots`). `None`: no key is attested, so only the development allowance
    /// lets any key register.
    pub roots: Option<AttestationCaList>,
    /// Development (`--dev`) and tests only: any key may become an officer's, software keys
    /// included.
    pub danger_accept_software_keys: bool,
}

impl OfficerKeyPolicy {
    /// Development (`--dev`) and tests: any key, attested or not.
    pub fn danger_dev() -> Self {
        Self {
            roots: None,
            danger_accept_software_keys: true,
        }
    }
}

/// The least protection a key must have for an act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinKeyProtection {
    /// Any key (development and the sandbox: the wallet's key is a file).
    Software,
    /// A key attested by a trusted root.
    Hardware,
}

impl MinKeyProtection {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "software" => Some(Self::Software),
            "hardware" => Some(Self::Hardware),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Hardware => "hardware",
        }
    }

    /// Whether a key protected so meets this minimum.
    pub fn met_by(self, protection: &KeyProtection) -> bool {
        match self {
            Self::Software => true,
            Self::Hardware => matches!(protection, KeyProtection::Hardware { .. }),
        }
    }
}

/// Secure by default: software keys (which may be copied files) log in at `basic` at most and
/// approve no signature.
impl Default for AttestationPolicy {
    fn default() -> Self {
        Self {
            roots: None,
            accept_software_keys: true,
            software_key_max_level: Level::Basic,
            signing_min_key_protection: MinKeyProtection::Hardware,
        }
    }
}

impl AttestationPolicy {
    /// Development (`--dev`) and the sandbox, where phones are the reference wallet's software
    /// keys: they reach `plus` and approve signatures, and the phone and `docs/signing.md` say
    /// that signatures are then backed by software keys.
    pub fn danger_dev() -> Self {
        Self {
            software_key_max_level: Level::Plus,
            signing_min_key_protection: MinKeyProtection::Software,
            ..Self::default()
        }
    }
}

impl AttestationPolicy {
    /// Trusted roots from PEM text, several certificates to a file allowed.
    pub fn roots_from_pem(pem: &str) -> Result<AttestationCaList, Error> {
        let mut list: Option<AttestationCaList> = None;
        let mut rest = pem;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let end_marker = "-----END CERTIFICATE-----";
            let end = rest[start..]
                .find(end_marker)
                .map(|e| start + e + end_marker.len())
                .ok_or_else(|| Error::Config("an attestation root's PEM is truncated".into()))?;
            let one = AttestationCaList::try_from(&rest.as_bytes()[start..end])
                .map_err(|e| Error::Config(format!("an attestation root does not parse: {e:?}")))?;
            match &mut list {
                Some(list) => list.union(&one),
                None => list = Some(one),
            }
            rest = &rest[end..];
        }
        list.ok_or_else(|| Error::Config("no certificate in the attestation roots".into()))
    }
}

/// How a device's key is protected, as far as eid can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProtection {
    /// Attested by a trusted root (its subject, for the record).
    Hardware {
        root: String,
    },
    Software,
}

impl KeyProtection {
    /// As stored with the device: the trusted root's subject, or nothing.
    pub fn stored(&self) -> Option<String> {
        match self {
            Self::Hardware { root } => Some(root.clone()),
            Self::Software => None,
        }
    }

    pub fn from_stored(attestation: Option<&str>) -> Self {
        match attestation {
            Some(root) => Self::Hardware {
                root: root.to_owned(),
            },
            None => Self::Software,
        }
    }

    /// The authentication methods (RFC 8176) an approval with this key verifies. User
    /// verification is always required; only an attested authenticator's word for it counts.
    pub fn amr(&self) -> &'static str {
        match self {
            Self::Hardware { .. } => "hwk user mfa",
            Self::Software => "swk",
        }
    }
}

impl Provider {
    /// Asks authenticators to attest their keys, when there are roots to check them against.
    pub(crate) fn ask_attestation(
        &self,
        options: &mut webauthn_rs::prelude::CreationChallengeResponse,
    ) {
        if self.config.attestation.roots.is_some() {
            options.public_key.attestation = Some(AttestationConveyancePreference::Direct);
        }
    }

    /// What protects a registered key: a chain from its attestation to a trusted root makes
    /// it a hardware key.
    pub(crate) fn key_protection(&self, passkey: &Passkey, now: UnixTime) -> KeyProtection {
        protection_under(self.config.attestation.roots.as_ref(), passkey, now)
    }

    /// What protects an officer's key, under `[officers] attestation_roots` (not the citizens'
    /// roots).
    pub(crate) fn officer_key_protection(&self, passkey: &Passkey, now: UnixTime) -> KeyProtection {
        protection_under(self.config.officers.roots.as_ref(), passkey, now)
    }

    /// A newly registered key's protection, refused if the policy takes hardware keys only.
    pub(crate) fn accept_key(
        &self,
        passkey: &Passkey,
        now: UnixTime,
    ) -> Result<KeyProtection, Error> {
        let protection = self.key_protection(passkey, now);
        if protection == KeyProtection::Software && !self.config.attestation.accept_software_keys {
            return Err(Error::DeviceRefused(
                "this service accepts only keys whose maker attests them (a hardware security key or a phone's secure element)".into(),
            ));
        }
        Ok(protection)
    }

    /// The level an approval reaches: the account's, capped for a software key.
    pub(crate) fn approval_level(&self, account_level: Level, protection: &KeyProtection) -> Level {
        level_with_key(
            account_level,
            protection,
            self.config.attestation.software_key_max_level,
        )
    }
}

/// What protects a key under a list of trusted roots: a chain from its attestation to one of
/// them makes it a hardware key (the root's subject, for the record).
fn protection_under(
    roots: Option<&AttestationCaList>,
    passkey: &Passkey,
    now: UnixTime,
) -> KeyProtection {
    let Some(roots) = roots else {
        return KeyProtection::Software;
    };
    let credential: Credential = passkey.clone().into();
    if matches!(
        credential.attestation.data,
        ParsedAttestationData::None
            | ParsedAttestationData::Self_
            | ParsedAttestationData::Uncertain
            | ParsedAttestationData::ECDAA
    ) {
        return KeyProtection::Software;
    }
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(now.secs().max(0).unsigned_abs());
    match webauthn_rs_core::attestation::verify_attestation_ca_chain(
        &credential.attestation.data,
        roots,
        at,
    ) {
        Ok(Some(ca)) => KeyProtection::Hardware {
            root: ca.ca().tbs_certificate().subject().to_string(),
        },
        Ok(None) => KeyProtection::Software,
        Err(e) => {
            tracing::info!(error = ?e, "a key's attestation does not chain to a trusted root: a software key");
            KeyProtection::Software
        }
    }
}

/// An account's level as an approval with this key reaches it.
fn level_with_key(account_level: Level, protection: &KeyProtection, software_max: Level) -> Level {
    match protection {
        KeyProtection::Hardware { .. } => account_level,
        KeyProtection::Software => account_level.min(software_max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_software_key_reaches_at_most_the_configured_level() {
        let hardware = KeyProtection::Hardware {
            root: "CN=root".into(),
        };
        let software = KeyProtection::Software;
        assert_eq!(
            level_with_key(Level::Plus, &software, Level::Basic),
            Level::Basic
        );
        assert_eq!(
            level_with_key(Level::Plus, &software, Level::Plus),
            Level::Plus
        );
        assert_eq!(
            level_with_key(Level::Plus, &hardware, Level::Basic),
            Level::Plus
        );
        assert_eq!(
            level_with_key(Level::Basic, &hardware, Level::Basic),
            Level::Basic
        );
    }

    #[test]
    fn only_hardware_keys_claim_more_than_possession() {
        assert_eq!(KeyProtection::Software.amr(), "swk");
        let hardware = KeyProtection::from_stored(Some("CN=root"));
        assert_eq!(hardware.amr(), "hwk user mfa");
        assert_eq!(hardware.stored().as_deref(), Some("CN=root"));
        assert_eq!(KeyProtection::from_stored(None), KeyProtection::Software);
    }

    #[test]
    fn roots_load_from_pem_and_refuse_garbage() {
        assert!(AttestationPolicy::roots_from_pem("no certificate here").is_err());
        assert!(AttestationPolicy::roots_from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
        )
        .is_err());
    }
}
