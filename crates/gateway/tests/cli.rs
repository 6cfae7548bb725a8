//! The `portcullis-gateway` binary as an operator starts it: a bad
//! configuration stops it before it listens, with the setting named, and a
//! good one serves `/healthz` and refuses calls (503) until it has a bundle.
//! (This test also makes `cargo test` build the binary that the browser
//! tests and `make run` start.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn gateway() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis-gateway"));
    cmd.env("NO_COLOR", "1");
    // Nothing from the caller's environment configures it.
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_GATEWAY_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn bad_configuration_names_the_setting_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cases = [
        // (file, expected setting named)
        (
            format!("state_dir = {state:?}\n[console]\ncredential = \"pcg_x\"\n"),
            "console.url: required",
        ),
        (
            format!(
                "state_dir = {state:?}\n[console]\nurl = \"http://127.0.0.1:1\"\ncredential = \"pcg_x\"\n\
                 [[upstream]]\nresource = \"http://127.0.0.1:9/a\"\nurl = \"ftp://x\"\n"
            ),
            "upstream[0].url",
        ),
        (
            format!(
                "state_dir = {state:?}\nallowed_origins = [\"not an origin\"]\n[console]\nurl = \"http://127.0.0.1:1\"\n\
                 credential = \"pcg_x\"\n[[upstream]]\nresource = \"http://127.0.0.1:9/a\"\nurl = \"http://127.0.0.1:9/mcp\"\n"
            ),
            "allowed_origins[0]",
        ),
        (
            format!("state_dir = {state:?}\nlisten_on = \"x\"\n"),
            "unknown field `listen_on`",
        ),
    ];
    for (text, named) in cases {
        let path = write_config(&dir, &text);
        let out = gateway().arg("--config").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}\n{stderr}");
        assert!(stderr.contains(named), "{named:?} not in {stderr:?}");
    }
    assert!(
        !state.exists(),
        "nothing was written for a refused configuration"
    );
}

#[test]
fn starts_without_a_console_and_refuses_calls_until_it_has_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    // A console that is not there: the gateway starts, is alive, not ready.
    let path = write_config(
        &dir,
        &format!(
            "listen = \"127.0.0.1:0\"\nstate_dir = {:?}\nlog_format = \"text\"\n[console]\nurl = \"http://127.0.0.1:9\"\n\
             credential = \"pcg_nothing\"\npoll_wait_secs = 0\n[[upstream]]\nresource = \"http://127.0.0.1:9/a\"\n\
             url = \"http://127.0.0.1:9/mcp\"\n",
            dir.path().join("state")
        ),
    );
    let mut child = gateway()
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for pipe in [
        Box::new(stderr) as Box<dyn std::io::Read + Send>,
        Box::new(stdout),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the gateway printed where it listens");
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let get = |path: &str| -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        (status, text)
    };
    assert_eq!(get("/healthz").0, 200);
    let (status, body) = get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"ready\":false"), "{body}");
    let (status, body) = get("/a");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no access policy yet"), "{body}");
    child.kill().unwrap();
    child.wait().unwrap();
}
