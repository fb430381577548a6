//! The sandbox population registry (`population-registry`'s command line), so that the test
//! kit's tests can start it as a process of its own.

fn main() -> std::process::ExitCode {
    population_registry::cli::main()
}
