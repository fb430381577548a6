//! End-to-end tests: the real server over HTTP, the wallet library as the phone, the
//! `openidconnect` crate as the relying party, on SQLite and (with DATABASE_URL) PostgreSQL.

mod api;
mod journey;
mod refusals;
mod support;
