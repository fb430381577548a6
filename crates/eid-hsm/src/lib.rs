//! Key custody in a PKCS#11 token (a hardware security module), through `cryptoki`.
//!
//! [`Pkcs11Custody`] implements eid's [`KeyCustody`]: each key pair is generated *in the token*
//! (`C_GenerateKeyPair`) as token objects; the private key is `CKA_SENSITIVE` and not
//! `CKA_EXTRACTABLE`, so it never leaves the token, and every signature is made by the token
//! (`CKM_ECDSA` over a SHA-256 digest computed here for ES256, `CKM_SHA256_RSA_PKCS` for
//! RS256). Both halves of a pair get `CKA_ID` = `CKA_LABEL` = the key id
//! ([`eid_core::custody::key_id`] of the public key). What eid's store keeps for such a key is
//! only that `CKA_ID`: opening the key finds the private and public objects by it again, reads
//! the public key (as a DER `SubjectPublicKeyInfo`) from the token and checks it matches the
//! key id.
//!
//! A PKCS#11 module is loaded and initialised once per process and its login state is per
//! application, so custodies opened on the same module share it (see `module.rs`). Each custody
//! keeps one session open for its lifetime (so that the application stays logged in and object
//! handles stay valid) and a small pool of read-write sessions, one per operation at a time.
//! With SoftHSM2, key generation waits for other operations on the module to end (its file
//! store is not safe for concurrent writes); with other modules everything runs side by side.
//!
//! [`softhsm`] gives tests and the sandbox a SoftHSM2 token in a temporary directory.

mod module;
pub mod softhsm;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use p256::pkcs8::EncodePublicKey;
use parking_lot::{Mutex, RwLockReadGuard, RwLockWriteGuard};
use sha2::{Digest, Sha256};

use eid_core::custody::{key_id, Custody, GeneratedKey, KeyCustody, PrivateKey};
use eid_core::keys::JwsAlg;
use eid_core::Error;

/// Where the token is: the PKCS#11 module (shared library), the token's label and the user PIN.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token (`CKA_LABEL` of the token, at most 32 bytes).
    pub token_label: String,
    /// The user PIN (never shown by `Debug` nor in error messages).
    pub pin: String,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// The DER encoding of the OID of prime256v1 (1.2.840.10045.3.1.7): `CKA_EC_PARAMS` for P-256.
const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// The size of a P-256 scalar (and of the largest digest ECDSA P-256 uses).
const P256_BYTES: usize = 32;
const RSA_BITS: u64 = 2048;
const RSA_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];
/// Sessions kept open for reuse; more may be open at once under load, and are closed after.
const POOL_MAX: usize = 32;

/// Keys generated and used in a PKCS#11 token.
pub struct Pkcs11Custody {
    token: Arc<Token>,
}

impl fmt::Debug for Pkcs11Custody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Custody")
            .field("module", &self.token.module)
            .field("token_label", &self.token.label)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Custody {
    /// Loads the module (once per process), finds the token labelled `config.token_label` and
    /// logs in to it with the PIN. A missing module or token and a wrong PIN are
    /// [`Error::Config`].
    pub fn open(config: &Pkcs11Config) -> Result<Self, Error> {
        let label = config.token_label.trim_end();
        if label.is_empty() {
            return Err(Error::Config(
                "no PKCS#11 token label is configured".to_owned(),
            ));
        }
        let ctx = module::context(&config.module)?;
        let softhsm = module::is_softhsm(&ctx);
        let _reading = softhsm.then(|| module::SOFTHSM_OBJECTS.read());
        let slot = find_token(&ctx, config, label)?;
        // The anchor session (see `Token`), logged in now: a wrong PIN shows at start, not at
        // the first signature.
        let anchor = ctx
            .open_rw_session(slot)
            .map_err(|e| Error::Crypto(format!("PKCS#11 token {label}: opening a session: {e}")))?;
        let token = Token {
            anchor: Mutex::new(anchor),
            softhsm,
            ctx,
            module: config.module.clone(),
            slot,
            label: label.to_owned(),
            pin: AuthPin::from(config.pin.clone()),
            pin_digest: Sha256::digest(config.pin.as_bytes()).into(),
            sessions: Mutex::new(Vec::new()),
        };
        token.login(&token.anchor.lock())?;
        Ok(Self {
            token: Arc::new(token),
        })
    }

    /// The label of the token the keys are in.
    pub fn token_label(&self) -> &str {
        &self.token.label
    }

    fn generate_in(
        &self,
        session: &Session,
        alg: JwsAlg,
        prefix: &str,
    ) -> Result<(Pkcs11Key, Vec<u8>), Error> {
        let token = &self.token;
        let (mechanism, mut public_template) = match alg {
            JwsAlg::Es256 => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(P256_EC_PARAMS.to_vec())],
            ),
            JwsAlg::Rs256 => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::ModulusBits(Ulong::from(RSA_BITS)),
                    Attribute::PublicExponent(RSA_EXPONENT.to_vec()),
                ],
            ),
        };
        public_template.extend([
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
        ]);
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        let (public, private) = session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(|e| token.error(&format!("generating an {} key pair", alg.as_str()), e))?;
        match name_pair(token, session, alg, prefix, public, private) {
            Ok((kid, spki)) => {
                tracing::info!(kid, token = %token.label, alg = alg.as_str(), "generated a key in the PKCS#11 token");
                let id = kid.as_bytes().to_vec();
                Ok((
                    Pkcs11Key {
                        token: self.token.clone(),
                        alg,
                        kid,
                        id: id.clone(),
                        public: spki,
                        handle: Mutex::new(private),
                    },
                    id,
                ))
            }
            Err(e) => {
                // Leave no unnamed pair behind.
                for handle in [public, private] {
                    if let Err(destroy) = session.destroy_object(handle) {
                        tracing::warn!(token = %token.label, "cannot destroy a half-made key: {destroy}");
                    }
                }
                Err(e)
            }
        }
    }

    fn open_in(
        &self,
        session: &Session,
        alg: JwsAlg,
        kid: &str,
        stored: &[u8],
    ) -> Result<Pkcs11Key, Error> {
        let token = &self.token;
        let not_here = || Error::Crypto(format!("the key {kid} is not in token {}", token.label));
        let private = token
            .find(session, ObjectClass::PRIVATE_KEY, stored)?
            .ok_or_else(not_here)?;
        let public = token
            .find(session, ObjectClass::PUBLIC_KEY, stored)?
            .ok_or_else(|| {
                Error::Crypto(format!(
                    "the public half of key {kid} is not in token {}",
                    token.label
                ))
            })?;
        let expected = match alg {
            JwsAlg::Es256 => KeyType::EC,
            JwsAlg::Rs256 => KeyType::RSA,
        };
        for handle in [private, public] {
            let key_type = session
                .get_attributes(handle, &[AttributeType::KeyType])
                .map_err(|e| token.error(&format!("reading the type of key {kid}"), e))?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::KeyType(t) => Some(t),
                    _ => None,
                });
            if key_type != Some(expected) {
                return Err(Error::Crypto(format!(
                    "the key {kid} in token {} is not an {} key",
                    token.label,
                    alg.as_str()
                )));
            }
        }
        let spki = public_key_der(token, session, alg, public)?;
        // The id names the public key: a mismatch means the token's objects were tampered with.
        if !kid.ends_with(&key_id("", &spki)) {
            return Err(Error::Crypto(format!(
                "the public key of {kid} in token {} does not match its id",
                token.label
            )));
        }
        Ok(Pkcs11Key {
            token: self.token.clone(),
            alg,
            kid: kid.to_owned(),
            id: stored.to_vec(),
            public: spki,
            handle: Mutex::new(private),
        })
    }
}

impl KeyCustody for Pkcs11Custody {
    fn custody(&self) -> Custody {
        Custody::Pkcs11
    }

    fn generate(&self, alg: JwsAlg, prefix: &str) -> Result<GeneratedKey, Error> {
        let _alone = self.token.writing();
        let (key, stored) = self
            .token
            .with_session(|session| self.generate_in(session, alg, prefix))?;
        Ok(GeneratedKey {
            kid: key.kid.clone(),
            stored,
            key: Arc::new(key),
        })
    }

    fn open(&self, alg: JwsAlg, kid: &str, stored: &[u8]) -> Result<Arc<dyn PrivateKey>, Error> {
        let _reading = self.token.reading();
        let key = self
            .token
            .with_session(|session| self.open_in(session, alg, kid, stored))?;
        Ok(Arc::new(key))
    }

    /// `C_DestroyObject` on the key pair's private and public objects (found by `CKA_ID`):
    /// the private key can never sign again. A pair already gone is not an error.
    fn destroy(&self, kid: &str, stored: &[u8]) -> Result<(), Error> {
        let _alone = self.token.writing();
        let token = &self.token;
        token.with_session(|session| {
            let mut destroyed = 0;
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                while let Some(handle) = token.find(session, class, stored)? {
                    session
                        .destroy_object(handle)
                        .map_err(|e| token.error(&format!("destroying key {kid}"), e))?;
                    destroyed += 1;
                }
            }
            tracing::info!(kid, token = %token.label, destroyed, "destroyed a key in the PKCS#11 token");
            Ok(())
        })
    }
}

/// Gives the generated pair its id and label (the key id); returns the id and the public key.
fn name_pair(
    token: &Token,
    session: &Session,
    alg: JwsAlg,
    prefix: &str,
    public: ObjectHandle,
    private: ObjectHandle,
) -> Result<(String, Vec<u8>), Error> {
    let spki = public_key_der(token, session, alg, public)?;
    let kid = key_id(prefix, &spki);
    let template = [
        Attribute::Id(kid.as_bytes().to_vec()),
        Attribute::Label(kid.as_bytes().to_vec()),
    ];
    for handle in [public, private] {
        session
            .update_attributes(handle, &template)
            .map_err(|e| token.error(&format!("naming the key {kid}"), e))?;
    }
    Ok((kid, spki))
}

/// The slot whose token is labelled `label`.
fn find_token(ctx: &Pkcs11, config: &Pkcs11Config, label: &str) -> Result<Slot, Error> {
    let module = config.module.display();
    let slots = ctx.get_slots_with_token().map_err(|e| {
        Error::Config(format!(
            "cannot list the slots of the PKCS#11 module {module}: {e}"
        ))
    })?;
    let mut labels = Vec::new();
    for slot in slots {
        let info = match ctx.get_token_info(slot) {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(slot = slot.id(), "cannot read a PKCS#11 token's info: {e}");
                continue;
            }
        };
        if !info.token_initialized() {
            continue;
        }
        if info.label() == label {
            return Ok(slot);
        }
        labels.push(format!("{:?}", info.label()));
    }
    let present = if labels.is_empty() {
        "none".to_owned()
    } else {
        labels.join(", ")
    };
    Err(Error::Config(format!(
        "no token labelled {label:?} in the PKCS#11 module {module} (tokens present: {present})"
    )))
}

/// The public key of `handle` as a DER `SubjectPublicKeyInfo`.
fn public_key_der(
    token: &Token,
    session: &Session,
    alg: JwsAlg,
    handle: ObjectHandle,
) -> Result<Vec<u8>, Error> {
    let types: &[AttributeType] = match alg {
        JwsAlg::Es256 => &[AttributeType::EcPoint],
        JwsAlg::Rs256 => &[AttributeType::Modulus, AttributeType::PublicExponent],
    };
    let attributes = session
        .get_attributes(handle, types)
        .map_err(|e| token.error("reading a public key", e))?;
    let (mut point, mut modulus, mut exponent) = (None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::EcPoint(v) => point = Some(v),
            Attribute::Modulus(v) => modulus = Some(v),
            Attribute::PublicExponent(v) => exponent = Some(v),
            _ => {}
        }
    }
    let missing = |what: &str| Error::Crypto(format!("token {}: no {what}", token.label));
    match alg {
        JwsAlg::Es256 => ec_spki(&point.ok_or_else(|| missing("CKA_EC_POINT"))?),
        JwsAlg::Rs256 => rsa_spki(
            &modulus.ok_or_else(|| missing("CKA_MODULUS"))?,
            &exponent.ok_or_else(|| missing("CKA_PUBLIC_EXPONENT"))?,
        ),
    }
}

/// The SPKI of a P-256 `CKA_EC_POINT`: PKCS#11 wraps the SEC1 point in a DER OCTET STRING,
/// though some modules give it bare.
fn ec_spki(ec_point: &[u8]) -> Result<Vec<u8>, Error> {
    for candidate in [der_octet_string(ec_point), Some(ec_point)]
        .into_iter()
        .flatten()
    {
        if let Ok(key) = p256::PublicKey::from_sec1_bytes(candidate) {
            return Ok(key
                .to_public_key_der()
                .map_err(|e| Error::Crypto(format!("public key encoding failed: {e}")))?
                .into_vec());
        }
    }
    Err(Error::Crypto(
        "the token's CKA_EC_POINT is not a P-256 point".to_owned(),
    ))
}

/// The content of a DER OCTET STRING that is the whole of `der`.
fn der_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, content) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => {
            let (&len, rest) = rest.split_first()?;
            (usize::from(len), rest)
        }
        0x82 => {
            let (len, rest) = rest.split_at_checked(2)?;
            (usize::from(u16::from_be_bytes([len[0], len[1]])), rest)
        }
        _ => return None,
    };
    (content.len() == len).then_some(content)
}

/// The SPKI of an RSA public key from its big-endian modulus and exponent.
fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>, Error> {
    let uint = |bytes: &[u8]| {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let bytes = &bytes[start..];
        let bits = u32::try_from(bytes.len() * 8)
            .map_err(|_| Error::Crypto("RSA key component too long".to_owned()))?;
        rsa::BoxedUint::from_be_slice(bytes, bits.max(64))
            .map_err(|e| Error::Crypto(format!("bad RSA key component: {e:?}")))
    };
    let key = rsa::RsaPublicKey::new(uint(modulus)?, uint(exponent)?)
        .map_err(|e| Error::Crypto(format!("the token's RSA public key is invalid: {e}")))?;
    Ok(key
        .to_public_key_der()
        .map_err(|e| Error::Crypto(format!("public key encoding failed: {e}")))?
        .into_vec())
}

/// An open token: its module, slot, PIN and pool of logged-in sessions.
struct Token {
    /// A session kept open, unused, as long as the token is: PKCS#11 logs the application out
    /// when its last session with a token closes, and some modules (SoftHSM2) then forget the
    /// handles they gave to token objects, and may give them anew.
    anchor: Mutex<Session>,
    /// Whether the module is SoftHSM2, whose writes go alone.
    softhsm: bool,
    ctx: Pkcs11,
    module: PathBuf,
    slot: Slot,
    label: String,
    pin: AuthPin,
    pin_digest: [u8; 32],
    sessions: Mutex<Vec<Session>>,
}

impl Token {
    /// Opens a read-write session and makes sure the application is logged in as the user.
    fn new_session(&self) -> Result<Session, Error> {
        let session = self
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| self.error("opening a session", e))?;
        self.login(&session)?;
        Ok(session)
    }

    fn login(&self, session: &Session) -> Result<(), Error> {
        let wrong_pin =
            || Error::Config(format!("the PIN for PKCS#11 token {} is wrong", self.label));
        let token = module::token_key(&self.module, self.slot.id());
        let mut logins = module::logins();
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) => {
                logins.insert(token, self.pin_digest);
                Ok(())
            }
            // Login state is per application: another session (perhaps of another custody) of
            // this process logged in already. The token checked no PIN: compare with the one
            // that succeeded, when this process knows it.
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => match logins.get(&token) {
                Some(digest) if *digest != self.pin_digest => Err(wrong_pin()),
                _ => Ok(()),
            },
            Err(CkError::Pkcs11(
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
                _,
            )) => Err(wrong_pin()),
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Error::Config(format!(
                "the user PIN of PKCS#11 token {} is locked",
                self.label
            ))),
            Err(CkError::Pkcs11(RvError::PinExpired, _)) => Err(Error::Config(format!(
                "the user PIN of PKCS#11 token {} has expired",
                self.label
            ))),
            Err(e) => Err(self.error("logging in", e)),
        }
    }

    /// A session from the pool, or a new one.
    fn take(&self) -> Result<Session, Error> {
        let pooled = self.sessions.lock().pop();
        match pooled {
            Some(session) => Ok(session),
            None => self.new_session(),
        }
    }

    /// Returns a session to the pool if it is `healthy` (its last operation succeeded), else
    /// closes it: a failed session may be broken, a new one is cheap.
    fn release(&self, session: Session, healthy: bool) {
        if healthy {
            let mut pool = self.sessions.lock();
            if pool.len() < POOL_MAX {
                pool.push(session);
            }
        }
    }

    /// Orders this operation after writes to a SoftHSM2 token (see `module.rs`).
    fn reading(&self) -> Option<RwLockReadGuard<'static, ()>> {
        self.softhsm.then(|| module::SOFTHSM_OBJECTS.read())
    }

    /// Makes this write the only operation on a SoftHSM2 token (see `module.rs`).
    fn writing(&self) -> Option<RwLockWriteGuard<'static, ()>> {
        self.softhsm.then(|| module::SOFTHSM_OBJECTS.write())
    }

    fn with_session<T>(&self, f: impl FnOnce(&Session) -> Result<T, Error>) -> Result<T, Error> {
        let session = self.take()?;
        let result = f(&session);
        self.release(session, result.is_ok());
        result
    }

    /// The object of `class` whose `CKA_ID` is `id`.
    fn find(
        &self,
        session: &Session,
        class: ObjectClass,
        id: &[u8],
    ) -> Result<Option<ObjectHandle>, Error> {
        let found = session
            .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
            .map_err(|e| self.error("finding a key", e))?;
        if found.len() > 1 {
            tracing::warn!(token = %self.label, "{} objects of class {class} share an id", found.len());
        }
        Ok(found.first().copied())
    }

    fn error(&self, what: &str, e: CkError) -> Error {
        Error::Crypto(format!("PKCS#11 token {}: {what}: {e}", self.label))
    }
}

/// A key pair in the token: the private key's handle, and the public key read at opening.
struct Pkcs11Key {
    token: Arc<Token>,
    alg: JwsAlg,
    kid: String,
    /// `CKA_ID` of both objects.
    id: Vec<u8>,
    public: Vec<u8>,
    /// Token objects' handles are valid in every session of the application; looked up again
    /// if the token says one is not (after the token was reset, say).
    handle: Mutex<ObjectHandle>,
}

impl Pkcs11Key {
    fn sign_once(
        &self,
        mechanism: &Mechanism<'_>,
        data: &[u8],
    ) -> Result<Result<Vec<u8>, CkError>, Error> {
        let _reading = self.token.reading();
        let handle = *self.handle.lock();
        let session = self.token.take()?;
        let result = session.sign(mechanism, handle, data);
        self.token.release(session, result.is_ok());
        Ok(result)
    }

    /// Signs `data` with `mechanism`; once more after finding the key again if its handle is
    /// stale, or with a new session if the session broke.
    fn sign_raw(&self, mechanism: &Mechanism<'_>, data: &[u8]) -> Result<Vec<u8>, Error> {
        let signature = match self.sign_once(mechanism, data)? {
            Err(CkError::Pkcs11(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid, _)) => {
                let reading = self.token.reading();
                let handle = self
                    .token
                    .with_session(|session| {
                        self.token.find(session, ObjectClass::PRIVATE_KEY, &self.id)
                    })?
                    .ok_or_else(|| {
                        Error::Crypto(format!(
                            "the key {} is not in token {}",
                            self.kid, self.token.label
                        ))
                    })?;
                *self.handle.lock() = handle;
                drop(reading);
                self.sign_once(mechanism, data)?
            }
            // The session broke (the token was removed, the module restarted): the failed
            // session was closed, try once more with a new one.
            Err(CkError::Pkcs11(
                RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved,
                _,
            )) => self.sign_once(mechanism, data)?,
            other => other,
        }
        .map_err(|e| self.token.error(&format!("signing with {}", self.kid), e))?;
        // The token gives ECDSA signatures as `r || s`, as JWS wants them.
        if self.alg == JwsAlg::Es256 && signature.len() != 2 * P256_BYTES {
            return Err(Error::Crypto(format!(
                "PKCS#11 token {}: a {}-byte ES256 signature",
                self.token.label,
                signature.len()
            )));
        }
        Ok(signature)
    }
}

impl PrivateKey for Pkcs11Key {
    fn alg(&self) -> JwsAlg {
        self.alg
    }

    fn public_key_der(&self) -> &[u8] {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match self.alg {
            JwsAlg::Es256 => self.sign_raw(&Mechanism::Ecdsa, &Sha256::digest(message)),
            JwsAlg::Rs256 => self.sign_raw(&Mechanism::Sha256RsaPkcs, message),
        }
    }

    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, Error> {
        if self.alg != JwsAlg::Es256 {
            return Err(Error::Crypto(
                "RSA keys sign messages, not digests, here".to_owned(),
            ));
        }
        if digest.is_empty() {
            return Err(Error::Crypto("an empty digest to sign".to_owned()));
        }
        // ECDSA uses the leftmost bits of a digest longer than the curve's order: truncate here
        // rather than trust every token to.
        self.sign_raw(&Mechanism::Ecdsa, &digest[..digest.len().min(P256_BYTES)])
    }
}

#[cfg(test)]
mod tests;
