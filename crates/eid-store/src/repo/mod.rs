//! One file per aggregate: its rows, their conversion to and from the core's records, and the
//! aggregate's store trait implemented for [`Database`](crate::Database).

mod accounts;
mod applications;
mod audit;
mod ceremonies;
mod clients;
mod keys;
mod limits;
mod logins;
mod logouts;
mod officers;
mod pki;
mod replay;
mod sessions;
mod sso;
mod tokens;

pub(crate) use accounts::{CitizenRow, DeviceRow, ProfileRow};
pub(crate) use applications::ApplicationRow;
pub(crate) use ceremonies::CeremonyRow;
pub(crate) use clients::ClientRow;
pub(crate) use keys::SigningKeyRow;
pub(crate) use logins::{AuthRequestRow, ConsentRow};
pub(crate) use logouts::LogoutDeliveryRow;
pub(crate) use officers::{OfficerCredentialRow, OfficerRow};
pub(crate) use pki::{CertificateRow, SigningRequestRow};
pub(crate) use sessions::{OfficerSessionRow, WalletSessionRow};
pub(crate) use sso::{BrowserSessionRow, SessionLoginRow};
pub(crate) use tokens::{AccessTokenRow, RefreshTokenRow};
