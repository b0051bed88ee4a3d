//! The sensor as a systemd service: the shipped unit passes `systemd-analyze verify`, and the
//! binary speaks the readiness and watchdog protocol on `NOTIFY_SOCKET`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conpot_testkit::process::{self, Proc};

fn tmpdir(name: &str) -> PathBuf {
    process::scratch_dir("service", name)
}

fn unit_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/conpot.service")
}

#[test]
fn the_shipped_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing (tests/setup-deps installs it)"
        );
        eprintln!("skipped: no systemd-analyze");
        return;
    }
    let text = std::fs::read_to_string(unit_file()).unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
        "StateDirectory=conpot",
        "Restart=on-failure",
    ] {
        assert!(text.contains(key), "the unit lacks {key}");
    }
    // verify checks that ExecStart's program exists: point it at the binary just built.
    let dir = tmpdir("verify");
    let unit = dir.join("conpot.service");
    std::fs::write(
        &unit,
        text.replace("/usr/local/bin/conpot", env!("CARGO_BIN_EXE_conpot")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "verify: {stderr}");
    // A broken unit is caught, so the check above means something.
    std::fs::write(&unit, "[Service]\nExecStart=relative/conpot\nType=notify\n").unwrap();
    let bad = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    assert!(!bad.status.success() || !bad.stderr.is_empty());
}

#[test]
fn readiness_watchdog_and_stopping_are_notified() {
    let dir = tmpdir("notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut child = Proc::spawn(
        process::conpot(env!("CARGO_BIN_EXE_conpot"))
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "200000")
            .args(["-q", "--listen-host", "127.0.0.1", "--state-dir"])
            .arg(dir.join("state"))
            .args(process::zero_ports(process::DEFAULT_PROTOCOLS))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 512];
    let mut stopped = false;
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            got.push(msg);
        }
        let watchdogs = got.iter().filter(|m| m.as_str() == "WATCHDOG=1").count();
        if !stopped && got.iter().any(|m| m.starts_with("READY=1")) && watchdogs >= 3 {
            child.signal("-TERM");
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            stopped = true;
        }
        if got.iter().any(|m| m == "STOPPING=1") {
            break;
        }
    }
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let ready = got.iter().position(|m| m.starts_with("READY=1")).expect("READY=1");
    assert!(got[ready].contains("STATUS=serving template default"), "{got:?}");
    let first_watchdog = got.iter().position(|m| m == "WATCHDOG=1").expect("WATCHDOG=1");
    assert!(first_watchdog > ready, "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("STOPPING=1"), "{got:?}");
}
