//! Every committed seed (`seeds/<target>/`) and any local corpus (`corpus/<target>/`), run
//! through its target's property as an ordinary test, so that CI exercises every target on
//! every run.

use std::path::Path;

fn replay(target: &str, property: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in [
        root.join("seeds").join(target),
        root.join("corpus").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap_or_default();
            property(&data);
            count += 1;
        }
    }
    assert!(count > 0, "no seeds for {target} in seeds/{target}");
}

macro_rules! replays {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target), eid_fuzz::$target);
            }
        )*
    };
}

replays!(
    catalogue,
    pdf,
    pki_request,
    authorization_request,
    token_request,
    client_credentials,
    hkid,
    enrolment,
    approval,
    attestation_object,
    sealed,
    jws,
    client_assertion,
    request_object,
    registration_metadata,
    dpop_proof,
    headers,
);
