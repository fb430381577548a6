//! The process-wide state of PKCS#11 modules: a module is loaded and initialised once per
//! process (`C_Initialize` may be called only once), and login state is per application, so
//! every custody of the process shares it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use parking_lot::{Mutex, MutexGuard, RwLock};

use eid_core::Error;

/// The loaded and initialised modules, by path (as given, and canonical when it resolves).
static MODULES: LazyLock<Mutex<HashMap<PathBuf, Pkcs11>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// For each token (module and slot) this process logged in to: the SHA-256 of the PIN that
/// succeeded. A token accepts a login only once per application and answers any later one,
/// whatever its PIN, with `CKR_USER_ALREADY_LOGGED_IN`; comparing with this keeps a wrong PIN
/// from passing unnoticed because another custody of the process logged in first.
static LOGINS: LazyLock<Mutex<HashMap<TokenKey, PinDigest>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A token: its module (canonical path) and slot id.
pub(crate) type TokenKey = (PathBuf, u64);
/// The SHA-256 of a PIN.
pub(crate) type PinDigest = [u8; 32];

/// Taken to write (create or change objects) or read (use them) a SoftHSM2 token. SoftHSM2's
/// file object store is not safe for writes concurrent with other operations:
/// `C_GenerateKeyPair` then fails now and then with `CKR_GENERAL_ERROR` (softhsm/SoftHSMv2#573).
/// Key generation is rare: it goes alone, signatures run side by side.
pub(crate) static SOFTHSM_OBJECTS: RwLock<()> = RwLock::new(());

/// Whether the module is SoftHSM2, whose operations [`SOFTHSM_OBJECTS`] orders.
pub(crate) fn is_softhsm(ctx: &Pkcs11) -> bool {
    ctx.get_library_info()
        .is_ok_and(|info| info.manufacturer_id().starts_with("SoftHSM"))
}

fn key(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

/// Whether the module at `path` was already loaded by this process.
pub(crate) fn is_loaded(path: &Path) -> bool {
    MODULES.lock().contains_key(&key(path))
}

/// The module at `path`, loaded and initialised (with OS locking) on first use.
pub(crate) fn context(path: &Path) -> Result<Pkcs11, Error> {
    let key = key(path);
    let mut modules = MODULES.lock();
    if let Some(ctx) = modules.get(&key) {
        return Ok(ctx.clone());
    }
    if !path.exists() {
        return Err(Error::Config(format!(
            "the PKCS#11 module {} does not exist",
            path.display()
        )));
    }
    let ctx = Pkcs11::new(path).map_err(|e| {
        Error::Config(format!(
            "cannot load the PKCS#11 module {}: {e}",
            path.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Another part of the process initialised it (through another path): fine.
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot initialise the PKCS#11 module {}: {e}",
                path.display()
            )))
        }
    }
    modules.insert(key, ctx.clone());
    Ok(ctx)
}

/// The PINs this process logged in to tokens with, locked: hold the guard across `C_Login`, so
/// that a login that finds the user already logged in sees the PIN of the one that did it.
pub(crate) fn logins() -> MutexGuard<'static, HashMap<TokenKey, PinDigest>> {
    LOGINS.lock()
}

/// The key of a token in [`logins`].
pub(crate) fn token_key(module: &Path, slot: u64) -> TokenKey {
    (key(module), slot)
}
