//! Who may do what to an account: the authority of each kind of credential, in one place.
//!
//! Every flow that acts on an account names the credential it was presented and the action,
//! and calls [`permit`] with the facts it knows; nothing else grants authority. The table this
//! module encodes is `docs/security.md`'s "Authority" table, and a unit test below reads that
//! table and compares it with [`rule`] cell by cell, so the two cannot drift apart.
//!
//! The principles the cells follow:
//! - **A credential does only what it was issued for.** A browser passkey answers logins in
//!   its own browser; a single sign-on session answers later logins in its browser and shows
//!   the account page; neither opens a wallet session, manages devices, mints link codes or
//!   approves signatures.
//! - **A session may take authority away, never add it.** From a signed-in browser the citizen
//!   ends sessions, withdraws consents and removes browser passkeys; adding an authenticator
//!   needs a phone approval for that action, which the phone names and signs (see
//!   [`crate::passkeys`]), never a login's approval.
//! - **New phones wait.** A phone joined by link code cannot, during its cooling-off, remove an
//!   older device, add an authenticator, mint link codes or approve signatures.
//! - **Signatures need a key that deserves them**: a phone whose key protection meets the
//!   signing policy, at level `plus`.
//! - **A service asks for a signature only with the citizen's say-so**: an access token from
//!   the citizen's login at that service that carries the `sign` scope, which ends with the
//!   login (revoked, signed out, consent withdrawn); its own credentials alone never do.

use crate::Error;

/// A credential a request comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A phone's key bound by identity proofing (remotely, at a counter, or a recovery).
    ProofedPhone,
    /// A phone's key joined with a link code, past its cooling-off.
    LinkedPhone,
    /// A phone's key joined with a link code, within its cooling-off.
    CoolingLinkedPhone,
    /// A passkey a browser added.
    BrowserPasskey,
    /// A browser's single sign-on session (its cookie).
    BrowserSession,
    /// The wallet's account-management session (a bearer token from the wallet API).
    WalletSession,
    /// A registration officer's security key (the console's session).
    Officer,
    /// A relying party's own credentials (client authentication).
    Client,
    /// An access token a relying party holds for a citizen.
    CitizenAccessToken,
    /// The operator at the command line.
    Operator,
    /// The key of an application's phone, not bound to an account yet: it proves its holder
    /// (remote proofing, or its answer at a counter), which creates or recovers an account.
    ApplicationKey,
}

impl Credential {
    /// Every credential, in the table's row order.
    pub const ALL: [Credential; 11] = [
        Self::ProofedPhone,
        Self::LinkedPhone,
        Self::CoolingLinkedPhone,
        Self::BrowserPasskey,
        Self::BrowserSession,
        Self::WalletSession,
        Self::Officer,
        Self::Client,
        Self::CitizenAccessToken,
        Self::Operator,
        Self::ApplicationKey,
    ];

    /// The row's name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::ProofedPhone => "phone key joined by proofing",
            Self::LinkedPhone => "phone key joined by link",
            Self::CoolingLinkedPhone => "phone key joined by link, cooling off",
            Self::BrowserPasskey => "browser passkey",
            Self::BrowserSession => "SSO browser session",
            Self::WalletSession => "wallet session",
            Self::Officer => "officer key",
            Self::Client => "client credentials",
            Self::CitizenAccessToken => "citizen's access token",
            Self::Operator => "operator",
            Self::ApplicationKey => "application's phone key",
        }
    }

    /// A device's key: its kind, and for a linked phone whether it is still cooling off.
    pub fn of_device(joined_by: crate::account::JoinedBy, cooling_off: bool) -> Credential {
        use crate::account::JoinedBy;
        match joined_by {
            JoinedBy::Proofing => Self::ProofedPhone,
            JoinedBy::Link if cooling_off => Self::CoolingLinkedPhone,
            JoinedBy::Link => Self::LinkedPhone,
            JoinedBy::Browser => Self::BrowserPasskey,
        }
    }
}

/// An action on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Approve a login request for a service.
    AnswerLogin,
    /// Open a wallet session (the account-management API).
    OpenWalletSession,
    /// List the account's devices.
    ListDevices,
    /// Add an authenticator: a browser passkey, or a phone by link code.
    AddAuthenticator,
    /// Remove a device.
    RemoveDevice,
    /// Mint a one-time link code for another phone.
    MintLinkCode,
    /// Withdraw a standing consent.
    ChangeConsents,
    /// End single sign-on sessions.
    EndSessions,
    /// Approve a document signature.
    ApproveSignature,
    /// Start recovering an account on a new device.
    StartRecovery,
    /// Cancel a pending recovery.
    CancelRecovery,
    /// Close the account.
    CloseAccount,
    /// Ask the citizen to sign a document (a service's signing request).
    RequestSignature,
}

impl Action {
    /// Every action, in the table's column order.
    pub const ALL: [Action; 13] = [
        Self::AnswerLogin,
        Self::OpenWalletSession,
        Self::ListDevices,
        Self::AddAuthenticator,
        Self::RemoveDevice,
        Self::MintLinkCode,
        Self::ChangeConsents,
        Self::EndSessions,
        Self::ApproveSignature,
        Self::StartRecovery,
        Self::CancelRecovery,
        Self::CloseAccount,
        Self::RequestSignature,
    ];

    /// The column's name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::AnswerLogin => "answer a login",
            Self::OpenWalletSession => "open a wallet session",
            Self::ListDevices => "list devices",
            Self::AddAuthenticator => "add an authenticator",
            Self::RemoveDevice => "remove a device",
            Self::MintLinkCode => "mint a link code",
            Self::ChangeConsents => "withdraw consents",
            Self::EndSessions => "end sessions",
            Self::ApproveSignature => "approve a signature",
            Self::StartRecovery => "start a recovery",
            Self::CancelRecovery => "cancel a recovery",
            Self::CloseAccount => "close the account",
            Self::RequestSignature => "ask for a signature",
        }
    }

    /// What a refusal says the credential cannot do.
    fn refusal(self) -> &'static str {
        match self {
            Self::AnswerLogin => "answer this login",
            Self::OpenWalletSession => "open a wallet session",
            Self::ListDevices => "list the account's devices",
            Self::AddAuthenticator => "add an authenticator",
            Self::RemoveDevice => "remove this device",
            Self::MintLinkCode => "add another phone",
            Self::ChangeConsents => "change consents",
            Self::EndSessions => "end these sessions",
            Self::ApproveSignature => "approve signatures",
            Self::StartRecovery => "recover an account",
            Self::CancelRecovery => "cancel a recovery",
            Self::CloseAccount => "close the account",
            Self::RequestSignature => "ask for signatures",
        }
    }
}

/// The condition under which a credential may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Only a login started in the browser the passkey lives in (its login page).
    OwnBrowser,
    /// Only later logins in its browser, within `max_age`, `acr_values` and the standing consent.
    SilentLogin,
    /// Only with the phone's approval of this very action (purpose-named, signed).
    PurposeApproval,
    /// Only browser passkeys, never a phone.
    PasskeysOnly,
    /// Only itself or a device that joined after it.
    ItselfOrNewer,
    /// Only with a key whose protection meets `[signing] min_key_protection`, at level `plus`.
    SigningKey,
    /// Only the logins of this client (RP-initiated logout with its ID token).
    OwnLogins,
    /// Only by proofing the applicant's device (in person, with the device present).
    AtCounter,
    /// As the phone that opened it (its row).
    AsItsPhone,
    /// Only by proving its holder: remote proofing, or its answer to a counter's challenge
    /// before an officer approves.
    ByProofing,
    /// Only a token whose granted scope includes `sign`, presented by the client it was
    /// issued to.
    SignScope,
}

/// A cell of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    Allowed,
    Only(Condition),
    Denied,
}

impl Rule {
    /// The cell's text in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Allowed => "yes",
            Self::Denied => "no",
            Self::Only(c) => match c {
                Condition::OwnBrowser => "own browser only",
                Condition::SilentLogin => "silently, in its browser",
                Condition::PurposeApproval => "with a purpose approval",
                Condition::PasskeysOnly => "passkeys only",
                Condition::ItselfOrNewer => "itself or newer",
                Condition::SigningKey => "signing key, plus",
                Condition::OwnLogins => "its own logins",
                Condition::AtCounter => "at a counter",
                Condition::AsItsPhone => "as its phone",
                Condition::ByProofing => "by proofing",
                Condition::SignScope => "with the sign scope, its client",
            },
        }
    }
}

/// The table: what `credential` may do about `action`.
pub fn rule(credential: Credential, action: Action) -> Rule {
    use Action as A;
    use Condition as C;
    use Credential as K;
    use Rule::{Allowed, Denied, Only};
    match (credential, action) {
        // A service asks with the access token of the citizen's login at it; nothing else
        // asks, the citizen's own credentials included (they answer requests, not make them).
        (K::CitizenAccessToken, A::RequestSignature) => Only(C::SignScope),
        (_, A::RequestSignature) => Denied,
        // Phones joined by proofing, and linked phones once their cooling-off is over.
        (K::ProofedPhone | K::LinkedPhone, a) => match a {
            A::AddAuthenticator => Only(C::PurposeApproval),
            A::ApproveSignature => Only(C::SigningKey),
            // A bound phone's account exists: recovery starts from a new application.
            A::StartRecovery => Denied,
            // A held recovery is the account's business: its phones hear of it and may stop it.
            A::CancelRecovery => Allowed,
            A::CloseAccount => Denied,
            _ => Allowed,
        },
        (K::CoolingLinkedPhone, a) => match a {
            A::AnswerLogin
            | A::OpenWalletSession
            | A::ListDevices
            | A::ChangeConsents
            | A::EndSessions => Allowed,
            A::RemoveDevice => Only(C::ItselfOrNewer),
            _ => Denied,
        },
        (K::BrowserPasskey, A::AnswerLogin) => Only(C::OwnBrowser),
        (K::BrowserPasskey, _) => Denied,
        (K::BrowserSession, a) => match a {
            A::AnswerLogin => Only(C::SilentLogin),
            A::ListDevices | A::ChangeConsents | A::EndSessions => Allowed,
            A::AddAuthenticator => Only(C::PurposeApproval),
            A::RemoveDevice => Only(C::PasskeysOnly),
            _ => Denied,
        },
        (K::WalletSession, A::OpenWalletSession) => Denied,
        (K::WalletSession, A::AnswerLogin) => Denied,
        (K::WalletSession, _) => Only(C::AsItsPhone),
        // Proving the holder in person recovers the account, and supersedes any held remote
        // recovery of it.
        (K::Officer, A::StartRecovery | A::CancelRecovery) => Only(C::AtCounter),
        (K::Officer, _) => Denied,
        (K::Client, A::EndSessions) => Only(C::OwnLogins),
        (K::Client, _) => Denied,
        (K::CitizenAccessToken, _) => Denied,
        (K::Operator, A::CloseAccount | A::EndSessions) => Allowed,
        (K::Operator, _) => Denied,
        (K::ApplicationKey, A::StartRecovery) => Only(C::ByProofing),
        (K::ApplicationKey, _) => Denied,
    }
}

/// What a flow knows when it asks: each condition is judged on these facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The login was started in the passkey's own browser (its login page).
    pub own_browser: bool,
    /// The phone approved this very action (its purpose), recently.
    pub purpose_approved: bool,
    /// The device to remove is a browser passkey.
    pub target_is_passkey: bool,
    /// The device to remove is the acting one, or joined after it.
    pub target_is_self_or_newer: bool,
    /// The key's protection meets the signing policy and the approval reaches `plus`.
    pub signing_key: bool,
    /// The sessions are this client's logins only.
    pub own_logins: bool,
    /// The silent-login conditions hold (checked by the session flow).
    pub silent_login: bool,
    /// The applicant's device is proved present at the counter.
    pub at_counter: bool,
    /// The application's holder was proven (remote proofing's verdict, or an officer's
    /// approval after the key answered at the counter).
    pub proven: bool,
    /// The access token's granted scope includes `sign`, and the client presenting it is the
    /// one it was issued to.
    pub sign_scope: bool,
}

/// May `credential` do `action`, given `facts`? The one check every flow calls.
pub fn permit(credential: Credential, action: Action, facts: &Facts) -> Result<(), Error> {
    let allowed = match rule(credential, action) {
        Rule::Allowed => true,
        Rule::Denied => false,
        Rule::Only(condition) => match condition {
            Condition::OwnBrowser => facts.own_browser,
            Condition::SilentLogin => facts.silent_login,
            Condition::PurposeApproval => facts.purpose_approved,
            Condition::PasskeysOnly => facts.target_is_passkey,
            Condition::ItselfOrNewer => facts.target_is_self_or_newer,
            Condition::SigningKey => facts.signing_key,
            Condition::OwnLogins => facts.own_logins,
            Condition::AtCounter => facts.at_counter,
            // The caller resolved the phone and asks again with its credential.
            Condition::AsItsPhone => false,
            Condition::ByProofing => facts.proven,
            Condition::SignScope => facts.sign_scope,
        },
    };
    if allowed {
        return Ok(());
    }
    tracing::warn!(target: "eid::security", event = "authority.refused", credential = credential.label(), action = action.label(), "a credential tried an action it has no authority for");
    Err(Error::Forbidden(format!(
        "a {} cannot {}{}",
        credential.label(),
        action.refusal(),
        match rule(credential, action) {
            Rule::Only(Condition::PurposeApproval) =>
                ": approve this action on your phone first (it names it)",
            Rule::Only(Condition::SigningKey) =>
                ": signing needs a phone whose key meets the signing policy, at level plus",
            Rule::Only(Condition::SignScope) =>
                ": the citizen's access token must carry the sign scope, presented by its own client",
            Rule::Only(Condition::ItselfOrNewer) | Rule::Denied
                if credential == Credential::CoolingLinkedPhone =>
                " during its cooling-off after joining with a link code",
            _ => "",
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "Authority" table of `docs/security.md`, parsed: row label, then one cell per
    /// column.
    fn documented_table() -> Vec<(String, Vec<String>)> {
        let doc = include_str!("../../../docs/security.md");
        let start = doc
            .find("<!-- authority-table -->")
            .expect("docs/security.md has the authority table marker");
        doc[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim()
                    .trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().trim_matches('*').to_owned())
                    .collect::<Vec<_>>()
            })
            .map(|mut cells| {
                let first = cells.remove(0);
                (first, cells)
            })
            .collect()
    }

    #[test]
    fn the_documented_authority_table_is_the_enforced_one_cell_by_cell() {
        let table = documented_table();
        let (header, columns) = &table[0];
        assert_eq!(header, "credential \\ action");
        let expected: Vec<_> = Action::ALL.iter().map(|a| a.label().to_owned()).collect();
        assert_eq!(columns, &expected, "the columns are the actions, in order");
        let rows = &table[2..];
        assert_eq!(
            rows.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
            Credential::ALL
                .iter()
                .map(|c| c.label())
                .collect::<Vec<_>>(),
            "the rows are the credentials, in order"
        );
        for ((label, cells), credential) in rows.iter().zip(Credential::ALL) {
            for (cell, action) in cells.iter().zip(Action::ALL) {
                assert_eq!(
                    cell,
                    rule(credential, action).label(),
                    "docs/security.md says {label} × {} is {cell:?}",
                    action.label()
                );
            }
        }
    }

    /// Every fact true: what no condition can ask more of.
    const EVERYTHING: Facts = Facts {
        own_browser: true,
        purpose_approved: true,
        target_is_passkey: true,
        target_is_self_or_newer: true,
        signing_key: true,
        own_logins: true,
        silent_login: true,
        at_counter: true,
        proven: true,
        sign_scope: true,
    };

    #[test]
    fn a_browser_passkey_answers_logins_in_its_browser_and_does_nothing_else() {
        let own = EVERYTHING;
        assert!(permit(Credential::BrowserPasskey, Action::AnswerLogin, &own).is_ok());
        assert!(permit(
            Credential::BrowserPasskey,
            Action::AnswerLogin,
            &Facts::default()
        )
        .is_err());
        for action in Action::ALL
            .into_iter()
            .filter(|a| *a != Action::AnswerLogin)
        {
            assert!(
                permit(Credential::BrowserPasskey, action, &own).is_err(),
                "{action:?}"
            );
        }
    }

    #[test]
    fn no_session_or_login_adds_authority_without_the_phone_approving_that_action() {
        for credential in Credential::ALL {
            let allowed = permit(credential, Action::AddAuthenticator, &Facts::default()).is_ok();
            assert!(!allowed, "{credential:?} adds an authenticator unasked");
        }
    }

    #[test]
    fn a_cooling_linked_phone_cannot_grow_or_evict() {
        let facts = Facts {
            purpose_approved: true,
            signing_key: true,
            ..Facts::default()
        };
        for action in [
            Action::AddAuthenticator,
            Action::MintLinkCode,
            Action::ApproveSignature,
            Action::RemoveDevice,
        ] {
            assert!(permit(Credential::CoolingLinkedPhone, action, &facts).is_err());
        }
        let own = Facts {
            target_is_self_or_newer: true,
            ..Facts::default()
        };
        assert!(permit(Credential::CoolingLinkedPhone, Action::RemoveDevice, &own).is_ok());
    }

    #[test]
    fn only_a_citizens_access_token_with_the_sign_scope_asks_for_a_signature() {
        let scoped = Facts {
            sign_scope: true,
            ..Facts::default()
        };
        assert!(permit(
            Credential::CitizenAccessToken,
            Action::RequestSignature,
            &scoped
        )
        .is_ok());
        assert!(permit(
            Credential::CitizenAccessToken,
            Action::RequestSignature,
            &Facts::default()
        )
        .is_err());
        let everything = EVERYTHING;
        for credential in Credential::ALL
            .into_iter()
            .filter(|c| *c != Credential::CitizenAccessToken)
        {
            assert!(
                permit(credential, Action::RequestSignature, &everything).is_err(),
                "{credential:?} asks for a signature"
            );
        }
        // The sign scope grants nothing else.
        for action in Action::ALL
            .into_iter()
            .filter(|a| *a != Action::RequestSignature)
        {
            assert!(permit(Credential::CitizenAccessToken, action, &everything).is_err());
        }
    }

    #[test]
    fn signatures_need_the_signing_key_condition() {
        assert!(permit(
            Credential::ProofedPhone,
            Action::ApproveSignature,
            &Facts::default()
        )
        .is_err());
        let ok = Facts {
            signing_key: true,
            ..Facts::default()
        };
        assert!(permit(Credential::ProofedPhone, Action::ApproveSignature, &ok).is_ok());
        for credential in [
            Credential::BrowserPasskey,
            Credential::BrowserSession,
            Credential::Officer,
            Credential::Client,
        ] {
            assert!(permit(credential, Action::ApproveSignature, &ok).is_err());
        }
    }
}
