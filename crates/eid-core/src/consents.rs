//! A citizen's standing consents: what they share with which service, recorded only from the
//! phone (an approval with "remember"), listed and withdrawn from the wallet.
//!
//! Withdrawing takes effect on the next login request (the phone asks again) and at once for
//! what the service already holds: its access tokens for the citizen are revoked.

use eid_proto::api::{Consent, ConsentList};

use crate::audit::{Actor, Detail, Event};
use crate::ids::{CitizenId, ClientId};
use crate::login::Choices;
use crate::store::WalletSessionRecord;
use crate::time::UnixTime;
use crate::{Error, Provider};

impl Provider {
    /// The citizen's standing consents, with the services' names.
    pub fn consents(
        &self,
        session: &WalletSessionRecord,
        now: UnixTime,
    ) -> Result<ConsentList, Error> {
        self.wallet_may(session, crate::authority::Action::ChangeConsents, now)?;
        self.consents_of(&session.citizen_id)
    }

    /// A citizen's standing consents (the wallet's list; the account page's).
    pub fn consents_of(&self, citizen_id: &CitizenId) -> Result<ConsentList, Error> {
        let consents = self
            .store
            .consents(citizen_id)?
            .into_iter()
            .map(|c| {
                let service = self.store.client(&c.client_id)?.map(|client| client.name);
                Ok(Consent {
                    service,
                    claims: Choices::parse(&c.claims).shared.into_iter().collect(),
                    client_id: c.client_id.into_string(),
                    granted_at: c.granted_at.secs(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(ConsentList { consents })
    }

    /// Withdraws the standing consent given to a service, revokes the service's access and
    /// refresh tokens for the citizen, and tells the service by back-channel logout.
    pub fn withdraw_consent(
        &self,
        session: &WalletSessionRecord,
        client_id: &str,
        now: UnixTime,
    ) -> Result<(), Error> {
        self.wallet_may(session, crate::authority::Action::ChangeConsents, now)?;
        let actor = Actor::Citizen {
            device_id: Some(session.device_id.clone().into_string()),
        };
        self.withdraw_consent_of(&session.citizen_id, client_id, &actor, now)
    }

    /// Withdraws a citizen's consent (from the wallet, or the account page of a signed-in
    /// browser).
    pub fn withdraw_consent_of(
        &self,
        citizen_id: &CitizenId,
        client_id: &str,
        actor: &Actor,
        now: UnixTime,
    ) -> Result<(), Error> {
        let event = self.record(
            Event::new("consent.withdrawn", actor)
                .citizen(citizen_id)
                .detail(Detail {
                    client_id: Some(client_id.to_owned()),
                    ..Detail::default()
                }),
            now,
        )?;
        if !self
            .store
            .withdraw_consent(citizen_id, &ClientId::from(client_id), &event)?
        {
            return Err(Error::NotFound("consent"));
        }
        tracing::info!(target: "eid::security", event = "consent.withdrawn", client_id = %client_id, "standing consent withdrawn");
        // The service's logins for the citizen ended with its tokens: tell it.
        if let Some(client) = self.store.client(client_id)? {
            self.queue_backchannel_logouts(&[(&client, citizen_id, None)], now)?;
        }
        Ok(())
    }
}
