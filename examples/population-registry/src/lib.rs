//! A sandbox population registry: the stand-in for the Immigration Department's records that
//! eid's remote identity proofing asks (see `eid_proto::registry` for the interface).
//!
//! - [`generate`] writes consistent test residents (valid HKID numbers, names in English and
//!   Chinese, dates of birth, a face template each) and, per resident, the template a phone
//!   would compute from a live capture of that face (close to the registry's, not equal).
//! - [`serve`] answers eid's signed queries with signed verdicts, verifying each query with
//!   eid's published connector keys, refusing replays and stale queries.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let dir = std::path::Path::new("registry");
//! population_registry::generate(dir, 10, 7)?;
//! let server = population_registry::serve(population_registry::ServeOptions {
//!     residents: dir.to_path_buf(),
//!     listen: "127.0.0.1:7070".parse()?,
//!     issuer: None,
//!     client_jwks_urls: vec!["http://localhost:8080/connectors/jwks".parse()?],
//!     answer_delay: std::time::Duration::ZERO,
//! })
//! .await?;
//! println!("registry at {}", server.issuer);
//! # Ok(()) }
//! ```

pub mod cli;
mod residents;
mod server;

pub use residents::{
    cosine_similarity, file_stem, generate, load_residents, Capture, Resident, CAPTURES_DIR,
    CAPTURE_ROOT_FILE,
};
pub use server::{serve, RunningRegistry, ServeOptions};
