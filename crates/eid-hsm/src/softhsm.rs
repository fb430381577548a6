//! A SoftHSM2 token for tests and the sandbox; not for production (SoftHSM2 keeps its keys in
//! files, here in a temporary directory that lives as long as the process, and the PINs are
//! the public constants below).
//!
//! [`test_token`] gives every caller in the process the same initialised token. The first call
//! writes a `softhsm2.conf` in a new temporary directory, points `SOFTHSM2_CONF` at it (even if
//! the user had set it: tests are hermetic), then loads the module and initialises the token
//! through PKCS#11. The module is the first of [`MODULE_PATHS`] that exists, or the one named by
//! `EID_PKCS11_MODULE`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use parking_lot::Mutex;

use eid_core::Error;

use crate::{module, Pkcs11Config};

/// The label of the token [`test_token`] gives.
pub const TEST_TOKEN_LABEL: &str = "eid-test";
/// The security officer's PIN of the test tokens.
pub const TEST_SO_PIN: &str = "12345678";
/// The user PIN of the test tokens.
pub const TEST_USER_PIN: &str = "1234";
/// The environment variable naming the SoftHSM2 module to use instead of the usual places.
pub const MODULE_ENV: &str = "EID_PKCS11_MODULE";
/// Where Debian and others install SoftHSM2's PKCS#11 module.
pub const MODULE_PATHS: [&str; 3] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 module: `EID_PKCS11_MODULE` if set, else the first of [`MODULE_PATHS`] that
/// exists.
pub fn module_path() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os(MODULE_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.exists() {
            Ok(path)
        } else {
            Err(Error::Config(format!(
                "{MODULE_ENV} names {}, which does not exist",
                path.display()
            )))
        };
    }
    MODULE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            Error::Config(format!(
                "no SoftHSM2 PKCS#11 module in {} (or set {MODULE_ENV}): install Debian's softhsm2 \
                 (apt-get install softhsm2)",
                MODULE_PATHS.join(", ")
            ))
        })
}

/// The process's SoftHSM2 token, initialised on first call (with [`TEST_SO_PIN`] and
/// [`TEST_USER_PIN`], labelled [`TEST_TOKEN_LABEL`]); every caller gets the same one.
pub fn test_token() -> Result<Pkcs11Config, Error> {
    static TOKEN: OnceLock<Result<Pkcs11Config, String>> = OnceLock::new();
    TOKEN
        .get_or_init(|| new_token(TEST_TOKEN_LABEL).map_err(message))
        .clone()
        .map_err(Error::Config)
}

/// Another token in the process's SoftHSM2 store, for a test that needs one of its own (never
/// logged in, say). `label` (at most 32 bytes) must not be taken.
pub fn new_token(label: &str) -> Result<Pkcs11Config, Error> {
    // One initialisation at a time: each takes the store's free slot.
    static INIT: Mutex<()> = Mutex::new(());
    let _guard = INIT.lock();
    let module = store()?;
    let ctx = module::context(&module)?;
    let _alone = module::SOFTHSM_OBJECTS.write();
    let failed = |what: &str, e: cryptoki::error::Error| {
        Error::Config(format!("SoftHSM2: {what} for token {label}: {e}"))
    };
    let mut free = None;
    for slot in ctx
        .get_slots_with_token()
        .map_err(|e| failed("listing slots", e))?
    {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| failed("reading a token's info", e))?;
        if !info.token_initialized() {
            free = free.or(Some(slot));
        } else if info.label() == label {
            return Err(Error::Config(format!(
                "SoftHSM2: a token labelled {label} exists already"
            )));
        }
    }
    let free =
        free.ok_or_else(|| Error::Config("SoftHSM2 has no free slot for a new token".to_owned()))?;
    let so_pin = AuthPin::from(TEST_SO_PIN.to_owned());
    ctx.init_token(free, &so_pin, label)
        .map_err(|e| failed("initialising", e))?;
    // Find the token again by label: a module may give an initialised token another slot id
    // (SoftHSM2 does, in the next process that loads it).
    let mut slot = None;
    for candidate in ctx
        .get_slots_with_token()
        .map_err(|e| failed("listing slots", e))?
    {
        let info = ctx
            .get_token_info(candidate)
            .map_err(|e| failed("reading a token's info", e))?;
        if info.token_initialized() && info.label() == label {
            slot = Some(candidate);
        }
    }
    let slot = slot.ok_or_else(|| {
        Error::Config(format!(
            "SoftHSM2: the token {label} is not found after its initialisation"
        ))
    })?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| failed("opening a session", e))?;
    session
        .login(UserType::So, Some(&so_pin))
        .map_err(|e| failed("logging in as security officer", e))?;
    session
        .init_pin(&AuthPin::from(TEST_USER_PIN.to_owned()))
        .map_err(|e| failed("setting the user PIN", e))?;
    session
        .logout()
        .map_err(|e| failed("logging out the security officer", e))?;
    drop(session);
    Ok(Pkcs11Config {
        module,
        token_label: label.to_owned(),
        pin: TEST_USER_PIN.to_owned(),
    })
}

/// Sets up the process's SoftHSM2 store (once) and loads the module; returns its path.
fn store() -> Result<PathBuf, Error> {
    static STORE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    STORE
        .get_or_init(|| set_up().map_err(message))
        .clone()
        .map_err(Error::Config)
}

fn set_up() -> Result<PathBuf, Error> {
    let module = module_path()?;
    // SoftHSM2 reads SOFTHSM2_CONF in C_Initialize, which happens once per process.
    if module::is_loaded(&module) {
        return Err(Error::Config(format!(
            "the SoftHSM2 module {} was loaded before softhsm::test_token: its configuration \
             cannot be set any more",
            module.display()
        )));
    }
    let dir = tempfile::Builder::new()
        .prefix("eid-softhsm-")
        .tempdir()
        .map_err(|e| Error::Config(format!("cannot create a temporary directory: {e}")))?
        .keep();
    let conf = write_conf(&dir)?;
    std::env::set_var("SOFTHSM2_CONF", &conf);
    module::context(&module)?;
    tracing::debug!(dir = %dir.display(), "SoftHSM2 test store");
    Ok(module)
}

fn write_conf(dir: &Path) -> Result<PathBuf, Error> {
    let io = |e: std::io::Error| Error::Config(format!("cannot write the SoftHSM2 store: {e}"));
    let tokens = dir.join("tokens");
    std::fs::create_dir(&tokens).map_err(io)?;
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .map_err(io)?;
    Ok(conf)
}

fn message(e: Error) -> String {
    match e {
        Error::Config(m) | Error::Crypto(m) => m,
        other => other.to_string(),
    }
}
