//! The administrator's command line, run as the binary: officers, citizens, the audit trail.

// A test binary: a failed expectation stops the test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

fn eid(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eid-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("EID_MASTER_KEY")
        .env_remove("EID_DATABASE_URL")
        .env("EID_LOG", "warn")
        .output()
        .expect("eid-server runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn officers_citizens_and_the_audit_trail_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    // A development start creates the key; later commands find it.
    let out = eid(
        dir.path(),
        &["--dev", "officer", "add", "--name", "WONG Officer"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let link = stdout
        .lines()
        .find_map(|l| l.strip_prefix("enrolment link: "))
        .expect("an enrolment link");
    assert!(link.starts_with("http://localhost:8081/enrol/"), "{link}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("officer_id: "))
        .expect("the officer's id")
        .to_owned();

    let out = eid(dir.path(), &["officer", "list"]);
    assert!(text(&out.stdout).contains(&format!("{id}\tactive\tWONG Officer\tno key")));
    // Nothing to confirm before the officer registers a key.
    let out = eid(
        dir.path(),
        &["officer", "confirm", &id, "--fingerprint", "K7Q2-M9XD"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no key waiting for confirmation"),
        "{}",
        text(&out.stderr)
    );
    // A new link (which would revoke the officer's key, had they one).
    let out = eid(dir.path(), &["officer", "invite", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("enrolment link: http://localhost:8081/enrol/"));
    assert!(
        text(&out.stderr).contains(&format!("officer confirm {id}")),
        "{}",
        text(&out.stderr)
    );

    // An account that does not exist: a clear error, not a crash.
    let out = eid(
        dir.path(),
        &[
            "citizen",
            "suspend",
            "--reference",
            "K7Q2-M9XD",
            "--reason",
            "court-order",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("account not found"),
        "{}",
        text(&out.stderr)
    );
    // Neither a reference nor an HKID number: refused by the argument parser.
    let out = eid(dir.path(), &["citizen", "close", "--reason", "other"]);
    assert_eq!(out.status.code(), Some(2));
    let out = eid(
        dir.path(),
        &[
            "citizen",
            "resume",
            "--hkid",
            "A123456(4)",
            "--reason",
            "other",
        ],
    );
    assert!(
        text(&out.stderr).contains("check digit"),
        "{}",
        text(&out.stderr)
    );

    let out = eid(dir.path(), &["officer", "remove", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = eid(dir.path(), &["officer", "list"]);
    assert!(text(&out.stdout).contains(&format!("{id}\tremoved")));

    // The audit trail, as JSON lines.
    let out = eid(dir.path(), &["audit"]);
    let actions: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["action"].to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "\"officer.created\"",
            "\"officer.invited\"",
            "\"officer.removed\""
        ]
    );
}

#[test]
fn the_pki_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    // Set up once: four certificates, the root first.
    let out = eid(dir.path(), &["--dev", "pki", "init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("-----BEGIN CERTIFICATE-----").count(), 4);
    for what in [
        "# root CA",
        "# issuing CA",
        "# OCSP responder",
        "# time-stamping unit",
    ] {
        assert!(stdout.contains(what), "{stdout}");
    }
    let serial_of = |what: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {what}, serial ")))
            .expect("a serial")
            .to_owned()
    };
    let out = eid(dir.path(), &["pki", "init"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already set up"),
        "{}",
        text(&out.stderr)
    );
    let out = eid(dir.path(), &["pki", "show"]);
    assert_eq!(text(&out.stdout), stdout);

    // An operator revokes the OCSP responder's certificate, once; a CA's is not revoked here.
    let ocsp = serial_of("OCSP responder");
    let out = eid(
        dir.path(),
        &[
            "pki",
            "revoke",
            "--serial",
            &ocsp,
            "--reason",
            "key-compromise",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("revoked {ocsp} (ocsp)")));
    let out = eid(dir.path(), &["pki", "revoke", "--serial", &ocsp]);
    assert!(
        text(&out.stderr).contains("already revoked"),
        "{}",
        text(&out.stderr)
    );
    let out = eid(
        dir.path(),
        &["pki", "revoke", "--serial", &serial_of("root CA")],
    );
    assert!(!out.status.success());
    let out = eid(
        dir.path(),
        &["pki", "revoke", "--serial", &ocsp, "--reason", "whim"],
    );
    assert!(!out.status.success());

    // What is not a signature is NOT VALID, with a non-zero exit.
    std::fs::write(dir.path().join("doc.txt"), "a document").unwrap();
    std::fs::write(dir.path().join("sig.der"), "not a signature").unwrap();
    let doc = dir.path().join("doc.txt");
    let sig = dir.path().join("sig.der");
    let out = eid(
        dir.path(),
        &[
            "verify",
            "--document",
            doc.to_str().unwrap(),
            "--signature",
            sig.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("NOT VALID"),
        "{}",
        text(&out.stderr)
    );
    let out = eid(dir.path(), &["verify", "--document", doc.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no signature"),
        "{}",
        text(&out.stderr)
    );

    // A client allowed to sign.
    let out = eid(
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "Lands Department",
            "--redirect-uri",
            "https://lands.example/callback",
            "--allow-signing",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("signing: allowed"));
}

#[test]
fn the_portal_catalogue_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = eid(
        dir.path(),
        &[
            "--dev",
            "client",
            "add",
            "--name",
            "Transport Department",
            "--redirect-uri",
            "https://td.example/callback",
            "--initiate-login-uri",
            "https://td.example/initiate-login",
            "--frontchannel-logout-uri",
            "https://td.example/fc-logout",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let client_id = text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("client_id: ").map(str::to_owned))
        .expect("a client_id");
    let file = dir.path().join("catalogue.toml");
    let catalogue = |target: &str| {
        format!(
            "[[service]]\nclient_id = \"{client_id}\"\nname_zh = \"運輸署\"\n\
             description_en = \"Licences\"\ndescription_zh = \"牌照\"\n\
             themes = [\"transport\"]\naudiences = [\"everyone\", \"elderly\"]\n\
             [[service.link]]\nid = \"renew-licence\"\ntitle_en = \"Renew a driving licence\"\n\
             title_zh = \"續領駕駛執照\"\ntarget_link_uri = \"{target}\"\n"
        )
    };
    // A deep link to another site, an unknown theme, an unknown client: refused, nothing listed.
    std::fs::write(&file, catalogue("https://evil.example/renew")).unwrap();
    let out = eid(dir.path(), &["portal", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("origin"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        &file,
        catalogue("https://td.example/licences/renew").replace("transport", "teleportation"),
    )
    .unwrap();
    let out = eid(dir.path(), &["portal", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("teleportation"));
    let out = eid(dir.path(), &["portal", "list"]);
    assert!(text(&out.stdout).trim().is_empty(), "{}", text(&out.stdout));

    std::fs::write(&file, catalogue("https://td.example/licences/renew")).unwrap();
    let out = eid(dir.path(), &["portal", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = eid(dir.path(), &["portal", "list"]);
    let listed = text(&out.stdout);
    assert!(
        listed.contains(&format!(
            "{client_id}\tTransport Department\ttransport\teveryone,elderly\tRenew a driving licence"
        )),
        "{listed}"
    );
    let out = eid(dir.path(), &["portal", "remove", &client_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = eid(dir.path(), &["portal", "list"]);
    assert!(text(&out.stdout).trim().is_empty());
    // Only what was written is audited: the refused imports left no event.
    let actions: Vec<String> = audit(dir.path())
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["client.registered", "portal.listed", "portal.removed"]
    );
}

/// The audit trail's events, oldest first.
fn audit(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let out = eid(dir, &["audit"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Security review 2026-12-07, L3: every operator command that changes something writes an
/// audit event naming the operator (the account that ran it) and what changed, no secret.
#[test]
fn operator_commands_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let out = eid(
        dir.path(),
        &[
            "--dev",
            "client",
            "add",
            "--name",
            "Housing Department",
            "--redirect-uri",
            "https://housing.example/callback",
            "--allow-signing",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            .unwrap()
    };
    let (client_id, secret) = (field("client_id"), field("client_secret"));
    for args in [
        &["pki", "init"][..],
        &["keys", "rotate"],
        &["officer", "add", "--name", "WONG Officer"],
    ] {
        let out = eid(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let out = eid(dir.path(), &["officer", "list"]);
    let officer_id = text(&out.stdout).split('\t').next().unwrap().to_owned();
    for args in [
        &["officer", "invite", officer_id.as_str()][..],
        &["client", "remove", client_id.as_str()],
    ] {
        let out = eid(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }

    let events = audit(dir.path());
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "client.registered",
            "pki.initialised",
            "keys.rotated",
            "officer.created",
            "officer.invited",
            "client.removed"
        ]
    );
    for event in &events {
        assert_eq!(event["actor"], "operator", "{event}");
        let who = event["actor_id"].as_str().unwrap_or_default();
        assert!(who.starts_with("uid "), "the operator is named: {event}");
    }
    let changes = |i: usize| -> Vec<String> {
        events[i]["detail"]["changes"]
            .as_array()
            .map(|a| a.iter().map(|c| c.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let registered = changes(0);
    assert_eq!(events[0]["detail"]["client_id"], client_id.as_str());
    for line in [
        "name: Housing Department",
        "redirect_uris: https://housing.example/callback",
        "signing: true",
    ] {
        assert!(registered.iter().any(|c| c == line), "{registered:?}");
    }
    let pki = changes(1);
    assert!(
        pki.iter().any(|c| c.starts_with("root: serial ")),
        "{pki:?}"
    );
    assert!(pki.iter().any(|c| c == "custody: sealed"), "{pki:?}");
    assert_eq!(changes(2).len(), 2, "two new keys: {:?}", changes(2));
    assert_eq!(events[4]["detail"]["officer_id"], officer_id.as_str());
    assert_eq!(events[5]["detail"]["client_id"], client_id.as_str());
    // No secret: the client's secret appears nowhere in the trail.
    let trail = text(&eid(dir.path(), &["audit"]).stdout);
    assert!(!trail.contains(&secret));
}
