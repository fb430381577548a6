//! The review's slow-body exhaustion, run against the binary on loopback: 20,000 connections
//! that send a request head and part of a body, then nothing. Each is closed (refused at once
//! beyond its address's share, or timed out at the request deadline), and meanwhile the health
//! check and other addresses are answered.

// A test binary: a failed expectation stops the test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SLOW_CONNECTIONS: usize = 20_000;
const DEADLINE_SECS: u64 = 3;
const PER_ADDRESS: usize = 64;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The soft limit on open files (Linux), if it can be read.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request on its own connection from `source`; the status, or `None` if it failed.
async fn status_from(source: &str, server: SocketAddr, path: &str) -> Option<u16> {
    let work = async {
        let socket = tokio::net::TcpSocket::new_v4().ok()?;
        socket.bind(format!("{source}:0").parse().ok()?).ok()?;
        let mut stream = socket.connect(server).await.ok()?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let head = String::from_utf8_lossy(&response);
        head.split(' ').nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .ok()
        .flatten()
}

/// A connection that sends a head and 5 of 100 body bytes, then waits: how it ended (the
/// status the server answered with, 0 for a close without one), or `None` if it was still open
/// after `wait`.
async fn slow_body(server: SocketAddr, wait: Duration) -> Option<u16> {
    let mut stream = match tokio::net::TcpStream::connect(server).await {
        Ok(stream) => stream,
        // The test's own limit, not the server's answer.
        Err(e) => panic!("could not open a test connection ({e}); raise `ulimit -n`"),
    };
    if stream
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n01234",
        )
        .await
        .is_err()
    {
        // Closed before the head was even written: ended by the server.
        return Some(0);
    }
    // Read until the status line has come, or the server closed.
    let ended = async {
        let mut response = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            if response.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&response)
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    tokio::time::timeout(wait, ended).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_are_closed_and_the_health_check_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eid.toml");
    std::fs::write(
        &config,
        format!(
            "request_deadline_secs = {DEADLINE_SECS}\nconnections_per_address = {PER_ADDRESS}\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _child = Server(
        Command::new(env!("CARGO_BIN_EXE_eid-server"))
            .arg("--dev")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--config")
            .arg(&config)
            .args(["--listen", &server.to_string()])
            .args(["--admin-listen", &format!("127.0.0.1:{}", free_port())])
            .env_remove("EID_DATABASE_URL")
            .env("EID_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("eid-server starts"),
    );
    let mut up = false;
    for _ in 0..300 {
        if status_from("127.0.0.1", server, "/healthz").await == Some(200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server did not come up");

    // The slow connections, in waves; each waits up to twice the deadline for the server to
    // end it.
    let wait = Duration::from_secs(DEADLINE_SECS * 2 + 5);
    let mut tasks = tokio::task::JoinSet::new();
    let mut health = Vec::new();
    let mut elsewhere = Vec::new();
    // Waves small enough for this process's own descriptors (each lasts only until the server
    // answers it).
    let wave_size = open_files_limit()
        .map_or(500, |l| l.saturating_sub(PER_ADDRESS + 256) / 2)
        .clamp(50, 500);
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(wave_size));
    for wave in 0..SLOW_CONNECTIONS.div_ceil(wave_size) {
        for _ in 0..wave_size {
            let permit = std::sync::Arc::clone(&in_flight)
                .acquire_owned()
                .await
                .unwrap();
            tasks.spawn(async move {
                let outcome = slow_body(server, wait).await;
                drop(permit);
                outcome
            });
        }
        if wave % (5_000 / wave_size).max(1) == 0 {
            // While they hold on: the health check (same address), and a page from another
            // address.
            health.push(status_from("127.0.0.1", server, "/healthz").await);
            elsewhere
                .push(status_from("127.0.0.2", server, "/.well-known/openid-configuration").await);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (mut refused, mut timed_out, mut still_open, mut other) = (0, 0, 0, 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Some(503) => refused += 1,
            Some(408) => timed_out += 1,
            None => still_open += 1,
            Some(_) => other += 1,
        }
    }
    eprintln!(
        "slow bodies: {refused} refused, {timed_out} timed out, {other} closed otherwise, {still_open} still open"
    );
    assert_eq!(
        still_open, 0,
        "every slow connection was closed by the server"
    );
    assert!(
        timed_out > 0,
        "the connections within the share were timed out"
    );
    assert!(
        health.iter().all(|s| *s == Some(200)),
        "the health check answered throughout: {health:?}"
    );
    assert!(
        elsewhere.iter().all(|s| *s == Some(200)),
        "other addresses were served throughout: {elsewhere:?}"
    );
    // And afterwards, as before.
    assert_eq!(
        status_from("127.0.0.1", server, "/healthz").await,
        Some(200)
    );
}
