//! What an operator does to an account: suspend it, resume it, close it (acting on a court
//! order, a death registration, or the citizen's request). Each act is in the audit trail with
//! its reason.
//!
//! - Suspended: no login, no token works, no wallet session; resumable.
//! - Closed: the particulars, devices, sessions, tokens and consents are erased; the account's
//!   row stays, without a level, as the HKID number's tombstone, so that proofing reopens the
//!   same account (a relying party then sees the same pairwise `sub` again).

use crate::account::AccountStatus;
use crate::audit::{Actor, Detail, Event};
use crate::crypto::normalise_reference;
use crate::hkid::Hkid;
use crate::store::CitizenRecord;
use crate::time::UnixTime;
use crate::{Error, Provider};

/// How an operator names an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSelector {
    /// The account's reference (`K7Q2-M9XD`).
    Reference(String),
    /// The holder's identity card number (as a court order or death registration gives it).
    Hkid(String),
}

/// Why an operator acts; recorded with the act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminReason {
    CourtOrder,
    DeathRegistration,
    CitizenRequest,
    SuspectedCompromise,
    Other,
}

impl AdminReason {
    pub const ALL: [AdminReason; 5] = [
        Self::CourtOrder,
        Self::DeathRegistration,
        Self::CitizenRequest,
        Self::SuspectedCompromise,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CourtOrder => "court-order",
            Self::DeathRegistration => "death-registration",
            Self::CitizenRequest => "citizen-request",
            Self::SuspectedCompromise => "suspected-compromise",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl Provider {
    /// Finds an account by reference or HKID number.
    pub fn find_account(&self, selector: &AccountSelector) -> Result<CitizenRecord, Error> {
        let found = match selector {
            AccountSelector::Reference(r) => {
                let reference = normalise_reference(r)
                    .ok_or_else(|| Error::invalid("reference", "is not an account reference"))?;
                self.store.citizen_by_reference(&reference)?
            }
            AccountSelector::Hkid(h) => {
                let hkid = Hkid::parse(h).map_err(|e| Error::invalid("hkid", e.to_string()))?;
                self.store
                    .citizen_by_hkid(&self.hkid_index(hkid.canonical()))?
            }
        };
        found.ok_or(Error::NotFound("account"))
    }

    fn set_status(
        &self,
        selector: &AccountSelector,
        from: &[AccountStatus],
        to: AccountStatus,
        action: &'static str,
        reason: AdminReason,
        now: UnixTime,
    ) -> Result<CitizenRecord, Error> {
        let account = self.find_account(selector)?;
        let event = self.record(
            Event::new(action, &Actor::Operator)
                .citizen(&account.citizen_id)
                .detail(Detail {
                    reason: Some(reason.as_str().to_owned()),
                    ..Detail::default()
                }),
            now,
        )?;
        if !self
            .store
            .set_account_status(&account.citizen_id, from, to, &event)?
        {
            return Err(Error::Conflict(format!(
                "the account is {}",
                account.status.as_str()
            )));
        }
        tracing::info!(citizen_id = %account.citizen_id, action, reason = reason.as_str(), "account status changed");
        Ok(CitizenRecord {
            status: to,
            ..account
        })
    }

    /// Suspends an active account: its logins, tokens and wallet sessions stop working, and
    /// the services holding its tokens are told by back-channel logout.
    pub fn suspend_account(
        &self,
        selector: &AccountSelector,
        reason: AdminReason,
        now: UnixTime,
    ) -> Result<CitizenRecord, Error> {
        let holders = self.holders_of(selector)?;
        let account = self.set_status(
            selector,
            &[AccountStatus::Active],
            AccountStatus::Suspended,
            "account.suspended",
            reason,
            now,
        )?;
        self.revoke_signing_certificates(
            &account.citizen_id,
            crate::store::RevocationReason::CertificateHold,
            now,
        )?;
        // Its browsers' sessions go for good: a resumed account approves on the phone again.
        self.drop_sessions_of(&account.citizen_id)?;
        self.log_out_everywhere(&account.citizen_id, &holders, now)?;
        Ok(account)
    }

    /// The clients holding tokens of the account `selector` names.
    fn holders_of(&self, selector: &AccountSelector) -> Result<Vec<String>, Error> {
        let account = self.find_account(selector)?;
        Ok(self.store.clients_holding(&account.citizen_id)?)
    }

    /// Tells each of `clients` that the citizen's logins there have ended.
    fn log_out_everywhere(
        &self,
        citizen_id: &str,
        clients: &[String],
        now: UnixTime,
    ) -> Result<(), Error> {
        let mut records = Vec::new();
        for id in clients {
            if let Some(client) = self.store.client(id)? {
                records.push(client);
            }
        }
        let ended: Vec<_> = records.iter().map(|c| (c, citizen_id, None)).collect();
        self.queue_backchannel_logouts(&ended, now)
    }

    /// Resumes a suspended account.
    pub fn resume_account(
        &self,
        selector: &AccountSelector,
        reason: AdminReason,
        now: UnixTime,
    ) -> Result<CitizenRecord, Error> {
        self.set_status(
            selector,
            &[AccountStatus::Suspended],
            AccountStatus::Active,
            "account.resumed",
            reason,
            now,
        )
    }

    /// Closes an account and erases what it holds; the HKID index stays as a tombstone. The
    /// services that held its tokens are told by back-channel logout.
    pub fn close_account(
        &self,
        selector: &AccountSelector,
        reason: AdminReason,
        now: UnixTime,
    ) -> Result<CitizenRecord, Error> {
        let account = self.find_account(selector)?;
        let holders = self.store.clients_holding(&account.citizen_id)?;
        if account.status == AccountStatus::Closed {
            return Err(Error::Conflict("the account is already closed".into()));
        }
        let event = self.record(
            Event::new("account.closed", &Actor::Operator)
                .citizen(&account.citizen_id)
                .detail(Detail {
                    reason: Some(reason.as_str().to_owned()),
                    ..Detail::default()
                }),
            now,
        )?;
        if !self.store.close_account(&account.citizen_id, &event)? {
            return Err(Error::Conflict("the account changed; try again".into()));
        }
        tracing::info!(citizen_id = %account.citizen_id, reason = reason.as_str(), "account closed");
        self.revoke_signing_certificates(
            &account.citizen_id,
            crate::store::RevocationReason::CessationOfOperation,
            now,
        )?;
        self.log_out_everywhere(&account.citizen_id, &holders, now)?;
        Ok(CitizenRecord {
            status: AccountStatus::Closed,
            level: None,
            ..account
        })
    }
}
