//! eid-core: the domain of the eid identity platform, free of HTTP and SQL.
//!
//! [`Provider`] is the OpenID Connect provider. Its methods are the flows, each a short
//! synchronous function that takes the current time as a parameter and talks to storage through
//! the [`Store`](store::Store) trait, so the server runs each flow on a blocking thread and
//! tests can drive the flows directly.
//!
//! - [`oidc`]: the authorization code flow with PKCE (OIDC Core 1.0 §3.1, RFC 6749, RFC 7636,
//!   RFC 9207), discovery, ID tokens, userinfo.
//! - [`citizens`]: enrolment, HKID-checked accounts, WebAuthn device binding, login approval
//!   from the phone, device management.
//! - [`clients`]: relying-party registration.
//! - [`hkid`]: Hong Kong Identity Card number validation.
//! - [`keys`]: token-signing keys behind the [`TokenKeys`](keys::TokenKeys) trait, and JWS.
//! - [`crypto`]: the master key, AES-256-GCM sealing at rest, keyed hashes.
//!
//! ```no_run
//! # fn demo(store: std::sync::Arc<dyn eid_core::store::Store>) -> Result<(), eid_core::Error> {
//! use eid_core::{crypto::MasterKey, Provider, ProviderConfig};
//! let config = ProviderConfig::new("http://localhost:8080".parse().unwrap());
//! let provider = Provider::open(store, &MasterKey::generate(), config, 1_700_000_000)?;
//! let metadata = provider.discovery();
//! assert_eq!(metadata.issuer, "http://localhost:8080");
//! # Ok(()) }
//! ```

pub mod citizens;
pub mod clients;
pub mod crypto;
mod error;
pub mod hkid;
pub mod keys;
pub mod oidc;
mod provider;
pub mod store;

pub use error::{Error, OAuthError, OAuthErrorCode};
pub use provider::{Provider, ProviderConfig};
