//! End-to-end tests: the real server over HTTP, the wallet library as the phone, the
//! `openidconnect` crate as the relying party, on SQLite and (with DATABASE_URL) PostgreSQL.

// This is a test binary: a failed expectation should stop the test with its message, also in
// the async helpers that clippy does not recognise as tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod accounts;
mod api;
mod attestation;
mod authority;
mod authority_cells;
mod authorize;
mod browser;
mod client_auth;
mod dpop;
mod example_portal;
mod expiry;
mod implicit;
mod journey;
mod keys;
mod limits;
mod logout;
mod officer;
mod passkeys;
mod phishing;
mod portal;
mod proofing;
mod refusals;
mod registration;
mod request_objects;
mod rp_libraries;
mod sessions;
mod signing;
mod store;
mod tokens;
