//! `population-registry`: a sandbox population registry for eid's remote identity proofing.
//!
//! ```text
//! population-registry generate --count 20 --out data/registry
//! population-registry serve --residents data/registry --listen 127.0.0.1:7070 \
//!     [--client-jwks-url http://localhost:8080/connectors/jwks]
//! ```

fn main() -> std::process::ExitCode {
    population_registry::cli::main()
}
