//! eid-core: the domain of the eid identity platform, free of HTTP and SQL.
//!
//! [`Provider`] is the OpenID Connect provider and citizen registry. Its methods are the flows,
//! each a short synchronous function that takes the current time as a parameter and talks to
//! storage through the [`Store`](store::Store) traits, so the server runs each flow on a
//! blocking thread and tests can drive the flows directly.
//!
//! The flows, a module each:
//! - [`enrolment`]: applications (particulars + the applying phone's credential + a reference);
//!   they claim nothing until proven.
//! - [`proofing`]: identity proofing, remote against the population registry (level `basic`)
//!   and the binding that creates, recovers or upgrades an account.
//! - [`officers`]: registration officers and in-person proofing at a counter (level `plus`).
//! - [`login`]: a login request from its opening to the code: the phone's approval, the
//!   browser's page and answer.
//! - [`sso`]: single sign-on sessions: opened by a login, answering later requests without the
//!   phone, listed and ended (sign out here or everywhere, telling every relying party).
//! - [`oidc`]: the provider's endpoints, a module each: the authorization request, client
//!   authentication, the token grants, ID tokens with `acr` and `amr`, userinfo, discovery
//!   (OIDC Core 1.0, RFC 6749, RFC 7636, RFC 9207).
//! - [`devices`]: wallet sessions, device listing, removal and linking, account history.
//! - [`admin`]: an operator's suspension, resumption and closure of accounts.
//! - [`clients`]: relying-party registration.
//! - [`catalogue`]: the service portal's catalogue (themes, audiences, deep links), and
//!   [`portal`]: the account page of a signed-in browser.
//!
//! And what they share: [`time`] (`UnixTime`: the core is given the time, never reads the
//! clock), [`ids`] (citizen, device and client ids as types), [`account`] (levels, statuses, profiles), [`claims`] (what a scope
//! releases), [`audit`] (the audit trail), [`limits`] (rate limits), [`ceremony`] (single-use
//! challenges, committed WebAuthn challenges), [`hkid`] (identity card numbers), [`jose`]
//! (JWS for messages with other services), [`keys`] (signing keys), [`crypto`] (the master key,
//! sealing at rest, keyed hashes).
//!
//! ```no_run
//! # fn demo(store: std::sync::Arc<dyn eid_core::store::Store>) -> Result<(), eid_core::Error> {
//! use eid_core::{crypto::MasterKey, Provider, ProviderConfig, UnixTime};
//! let config = ProviderConfig::new("http://localhost:8080".parse().unwrap());
//! let now = UnixTime::from_secs(1_700_000_000);
//! let provider = Provider::open(store, &MasterKey::generate(), config, now)?;
//! let metadata = provider.discovery();
//! assert_eq!(metadata.issuer, "http://localhost:8080");
//! # Ok(()) }
//! ```

pub mod account;
pub mod admin;
pub mod attestation;
pub mod audit;
pub mod authority;
pub mod capture;
pub mod catalogue;
pub mod ceremony;
pub mod claims;
pub mod clients;
pub mod consents;
pub mod counter;
pub mod crypto;
pub mod custody;
pub mod devices;
pub mod enrolment;
mod error;
pub mod fetch;
pub mod hkid;
pub mod ids;
pub mod jose;
pub mod jwt;
pub mod keys;
pub mod limits;
pub mod locale;
pub mod login;
pub mod names;
pub mod notices;
pub mod officers;
pub mod oidc;
pub mod passkeys;
pub mod pki;
pub mod portal;
pub mod proofing;
mod provider;
pub mod signing;
pub mod sso;
pub mod store;
pub mod time;

pub use error::{AccountRefusal, Error, OAuthError, OAuthErrorCode, ProofingFailure};
pub use provider::{Provider, ProviderConfig, RegistryConfig, KEY_RELOAD_SECS};
pub use time::UnixTime;
