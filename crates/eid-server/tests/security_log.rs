//! The security event log: JSON lines an operator ships, with the client's address, at info
//! level whatever `EID_LOG` says, and no secret in them.

// A test binary: a failed expectation stops the test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn security_events_are_json_lines_with_the_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("security.jsonl");
    let eid = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eid-server"));
        c.arg("--dev")
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("EID_DATABASE_URL")
            .env("EID_LOG", "error");
        c
    };
    let out = eid()
        .args([
            "client",
            "add",
            "--name",
            "Logged",
            "--redirect-uri",
            "http://localhost:3000/cb",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .to_owned()
    };
    let (client_id, secret) = (field("client_id"), field("client_secret"));
    let port = free_port();
    let _server = Server(
        eid()
            .arg("--security-log")
            .arg(&log)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--admin-listen", &format!("127.0.0.1:{}", free_port())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..300 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A wrong client secret at the token endpoint.
    let wrong = "not-the-secret-at-all";
    let response = http
        .post(format!("{base}/token"))
        .basic_auth(&client_id, Some(wrong))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Authorization requests past the address's limit.
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcb&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    );
    let mut limited = false;
    for _ in 0..40 {
        let status = http.get(&authorize).send().await.unwrap().status();
        limited |= status == 429;
    }
    assert!(limited);

    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["fields"]["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event in {text}"))
    };
    let failed = find("client_authentication_failed");
    assert_eq!(failed["fields"]["client_id"], client_id.as_str());
    assert_eq!(failed["span"]["client"], "127.0.0.1");
    assert_eq!(failed["level"], "WARN");
    let limit = find("rate_limited");
    assert_eq!(limit["fields"]["limit"], "authorize_per_address");
    assert_eq!(limit["span"]["client"], "127.0.0.1");
    // Only security events, and no secret.
    assert!(events.iter().all(|e| e["target"] == "eid::security"));
    assert!(!text.contains(&secret) && !text.contains(wrong));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
