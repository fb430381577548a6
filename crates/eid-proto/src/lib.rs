//! Wire types for eid: everything that crosses HTTP, as serde structs with no logic.
//!
//! - [`oauth`]: OAuth 2.0 / OpenID Connect messages (RFC 6749, OIDC Core 1.0, Discovery 1.0),
//!   the JWKS document (RFC 7517) and OAuth error bodies.
//! - [`api`]: the REST API that the citizen's wallet speaks (enrolment, device binding,
//!   login approval, device management).
//! - [`capture`]: signed face captures for remote identity proofing.
//! - [`problem`]: RFC 7807 problem details, the error form of the REST API.
//! - [`registry`]: the signed messages between eid and a population registry (identity
//!   proofing's record check and face match).
//! - [`signing`]: document signing: the relying party's back-channel API, the wallet's view
//!   and answer.
//!
//! The server produces these, and the wallet, the test kit and the examples consume them, so a
//! change here is a change to the public protocol.
//!
//! ```
//! let p = eid_proto::problem::Problem::new(400, "invalid-input", "The request was invalid")
//!     .with_invalid_param("hkid", "the check digit does not match");
//! assert_eq!(p.invalid_params[0].name, "hkid");
//! ```

pub mod api;
pub mod capture;
pub mod oauth;
pub mod problem;
pub mod registry;
pub mod signing;
