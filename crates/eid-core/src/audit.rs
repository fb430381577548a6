//! The audit trail: who did what, when, to which application, account or device.
//!
//! Events are written in the same transaction as the change they record. Their clear columns
//! hold ids and the action's name; anything more (the evidence an officer saw, a device's name,
//! a reason) is sealed, and nothing in an event is a particular of the citizen.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::Aad;
use crate::ids::{CitizenId, DeviceId};
use crate::store::{ActorKind, AuditRecord};
use crate::time::UnixTime;
use crate::{Error, Provider};

/// Who acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The citizen, through a device of theirs (none yet while applying).
    Citizen {
        device_id: Option<String>,
    },
    Officer {
        officer_id: String,
    },
    /// An operator at the command line; recorded with the operator the provider was opened
    /// for ([`crate::ProviderConfig::operator`]).
    Operator,
    /// A relying party, through the registration endpoint (RFC 7591/7592).
    Client {
        client_id: String,
    },
    System,
}

impl Actor {
    fn parts(&self) -> (ActorKind, Option<String>) {
        match self {
            Self::Citizen { device_id } => (ActorKind::Citizen, device_id.clone()),
            Self::Officer { officer_id } => (ActorKind::Officer, Some(officer_id.clone())),
            Self::Operator => (ActorKind::Operator, None),
            Self::Client { client_id } => (ActorKind::Client, Some(client_id.clone())),
            Self::System => (ActorKind::System, None),
        }
    }
}

/// An event's sealed detail. Every field optional; only what the action needs is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Kinds of evidence an officer recorded seeing (`hkid_card`, `proof_of_address`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// A reason code (a rejection, a suspension, a proofing failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The assurance level reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// How many devices a recovery revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_devices: Option<u32>,
    /// The officer an operator's act is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_id: Option<String>,
    /// The application's or account's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The service a login or a consent is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Claims shared or withdrawn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
    /// A signing request (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_request: Option<String>,
    /// The signed document's digest, `ALG:base64url` (never the document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_digest: Option<String>,
    /// The serial of the certificate that signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<String>,
    /// The single sign-on session a login opened in its browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The browser a session was opened in, as its `User-Agent` says (`Chrome on Windows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// An officer's key, by its fingerprint (`K7Q2-M9XD`, as the console showed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What attests a key: its attestation root's subject, or `software`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    /// A rate-limit bucket (its kind and a keyed hash, never the value counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// What an operator's or a client's act set or changed, as `name: value` lines (a
    /// client's registration, keys made, certificates issued), never a secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Until when something waits (a held recovery), Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

impl Detail {
    fn is_empty(&self) -> bool {
        self == &Detail::default()
    }
}

/// An event about to be recorded.
#[derive(Debug, Clone)]
pub(crate) struct Event<'a> {
    pub action: &'static str,
    pub actor: &'a Actor,
    pub citizen_id: Option<&'a str>,
    pub application_id: Option<&'a str>,
    pub device_id: Option<&'a str>,
    pub detail: Detail,
}

impl<'a> Event<'a> {
    pub fn new(action: &'static str, actor: &'a Actor) -> Self {
        Self {
            action,
            actor,
            citizen_id: None,
            application_id: None,
            device_id: None,
            detail: Detail::default(),
        }
    }

    pub fn citizen(mut self, id: &'a str) -> Self {
        self.citizen_id = Some(id);
        self
    }

    pub fn application(mut self, id: &'a str) -> Self {
        self.application_id = Some(id);
        self
    }

    pub fn device(mut self, id: &'a str) -> Self {
        self.device_id = Some(id);
        self
    }

    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }
}

/// A recorded event, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub event_id: String,
    pub at: UnixTime,
    pub action: String,
    pub actor_kind: ActorKind,
    pub actor_id: Option<String>,
    pub citizen_id: Option<String>,
    pub application_id: Option<String>,
    pub device_id: Option<String>,
    pub detail: Detail,
}

impl Provider {
    /// Builds the record of an event, sealing its detail.
    pub(crate) fn record(&self, event: Event<'_>, now: UnixTime) -> Result<AuditRecord, Error> {
        let event_id = Uuid::new_v4().to_string();
        let (actor_kind, actor_id) = event.actor.parts();
        // An operator is named by the account that ran the command, as the command line found
        // it: attribution for the trail, not authentication.
        let actor_id = match actor_kind {
            ActorKind::Operator => actor_id.or_else(|| self.config.operator.clone()),
            _ => actor_id,
        };
        let detail = if event.detail.is_empty() {
            None
        } else {
            Some(
                self.derived
                    .data
                    .seal_json(Aad::Event(&event_id), &event.detail)?,
            )
        };
        Ok(AuditRecord {
            event_id,
            at: now,
            action: event.action.to_owned(),
            actor_kind,
            actor_id,
            citizen_id: event.citizen_id.map(str::to_owned).map(CitizenId::from),
            application_id: event.application_id.map(str::to_owned),
            device_id: event.device_id.map(str::to_owned).map(DeviceId::from),
            detail,
        })
    }

    /// Records events that change nothing else (a refusal, a lookup).
    pub(crate) fn audit(&self, event: Event<'_>, now: UnixTime) -> Result<(), Error> {
        let record = self.record(event, now)?;
        self.store.record_events(&[record])?;
        Ok(())
    }

    /// Records an operator's act whose flow writes no event of its own (a new enrolment link
    /// for an officer), just after it: the one kind of event not written in the act's own
    /// transaction.
    pub fn audit_operator_act(
        &self,
        action: &'static str,
        detail: Detail,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.audit(Event::new(action, &Actor::Operator).detail(detail), now)
    }

    pub(crate) fn open_entry(&self, record: AuditRecord) -> Result<AuditEntry, Error> {
        let detail = match &record.detail {
            Some(sealed) => self
                .derived
                .data
                .open_json(Aad::Event(&record.event_id), sealed)?,
            None => Detail::default(),
        };
        Ok(AuditEntry {
            event_id: record.event_id,
            at: record.at,
            action: record.action,
            actor_kind: record.actor_kind,
            actor_id: record.actor_id,
            citizen_id: record.citizen_id.map(CitizenId::into_string),
            application_id: record.application_id,
            device_id: record.device_id.map(DeviceId::into_string),
            detail,
        })
    }

    /// The audit trail from `since` (Unix seconds), oldest first: for auditors and operators.
    pub fn audit_log(&self, since: UnixTime, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        self.store
            .events_since(since, limit)?
            .into_iter()
            .map(|r| self.open_entry(r))
            .collect()
    }
}
