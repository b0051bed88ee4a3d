//! `conpot selftest` as an operator runs it: each embedded template served on free loopback
//! ports and probed by the built-in clients, every row answered, and the summaries carry
//! the identity of the persona kept in the state folder; a port in use fails with exit 1 and
//! a row saying why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// A fresh folder per run: tests of the same template run side by side.
fn tmpdir(name: &str) -> PathBuf {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("conpot-selftest-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A run's exit code, its table rows (protocol, transport, answered, summary) and the
/// persona it used.
struct Run {
    code: i32,
    stdout: String,
    rows: Vec<(String, String, bool, String)>,
    persona: BTreeMap<String, String>,
}

fn selftest(template: &str, extra: &[&str]) -> Run {
    let dir = tmpdir(template);
    let out = Command::new(env!("CARGO_BIN_EXE_conpot"))
        .env("CONPOT_ALLOW_ROOT", "1")
        .args(["selftest", "-t", template, "--state-dir"])
        .arg(&dir)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in stdout.lines() {
        if line.starts_with("PROTOCOL") {
            in_table = true;
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if !in_table || cols.len() < 5 || !matches!(cols[1], "tcp" | "udp") {
            continue;
        }
        // PROTOCOL TRANSPORT ADDRESS ANSWERED LATENCY(2 words or "-") SUMMARY...
        let skip = if cols[4] == "-" { 5 } else { 6 };
        rows.push((
            cols[0].to_owned(),
            cols[1].to_owned(),
            cols[3] == "yes",
            cols.get(skip..).unwrap_or_default().join(" "),
        ));
    }
    let mut persona = BTreeMap::new();
    let file = dir.join(format!("persona-{template}.toml"));
    if let Ok(text) = std::fs::read_to_string(&file) {
        let t: toml::Table = text.parse().unwrap();
        for (k, v) in t["values"].as_table().unwrap() {
            persona.insert(k.clone(), v.as_str().unwrap().to_owned());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        rows,
        persona,
    }
}

impl Run {
    /// Asserts exit 0 and that every one of `protocols` (`name/transport`) has a row that
    /// answered; returns a lookup of the summaries.
    fn all_answered(&self, protocols: &[&str]) {
        assert_eq!(self.code, 0, "{}", self.stdout);
        let got: Vec<String> = self.rows.iter().map(|r| format!("{}/{}", r.0, r.1)).collect();
        let mut want: Vec<String> = protocols.iter().map(|s| (*s).to_owned()).collect();
        want.sort();
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, want, "{}", self.stdout);
        assert!(self.rows.iter().all(|r| r.2), "{}", self.stdout);
    }

    fn summary(&self, protocol: &str, transport: &str) -> &str {
        &self
            .rows
            .iter()
            .find(|r| r.0 == protocol && r.1 == transport)
            .unwrap_or_else(|| panic!("no {protocol}/{transport} row in\n{}", self.stdout))
            .3
    }

    fn p(&self, key: &str) -> &str {
        self.persona
            .get(key)
            .unwrap_or_else(|| panic!("persona has no {key}: {:?}", self.persona))
    }

    fn carries(&self, protocol: &str, transport: &str, keys: &[&str]) {
        let s = self.summary(protocol, transport);
        for k in keys {
            assert!(
                s.contains(self.p(k)),
                "{protocol} summary `{s}` lacks persona {k} `{}`",
                self.p(k)
            );
        }
    }
}

#[test]
fn default_template_every_protocol_answers_as_the_s7_300() {
    let r = selftest("default", &[]);
    r.all_answered(&[
        "ftp/tcp",
        "http/tcp",
        "modbus/tcp",
        "s7comm/tcp",
        "snmp/udp",
        "telnet/tcp",
        "tftp/udp",
    ]);
    r.carries("s7comm", "tcp", &["module_type", "system_name", "serial"]);
    r.carries("snmp", "udp", &["module_type", "order_code", "firmware"]);
    r.carries("modbus", "tcp", &["vendor", "order_code", "firmware"]);
    r.carries("ftp", "tcp", &["hostname"]);
    r.carries("http", "tcp", &["system_name"]);
    assert!(r.summary("ftp", "tcp").contains("230"), "{}", r.stdout);
    assert!(r.summary("telnet", "tcp").contains("SCALANCE"), "{}", r.stdout);
    assert!(r.summary("tftp", "udp").starts_with("RRQ:"), "{}", r.stdout);
    assert!(r.stdout.contains("not probed (TLS listeners): https"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("network personality: ttl 30, mss 1460, window 5840, DF clear"),
        "{}",
        r.stdout
    );
}

#[test]
fn iec104_template_starts_data_transfer() {
    let r = selftest("IEC104", &[]);
    r.all_answered(&["IEC104/tcp", "snmp/udp"]);
    assert!(r.summary("IEC104", "tcp").starts_with("STARTDT con"), "{}", r.stdout);
    r.carries("snmp", "udp", &["module_type", "order_code"]);
}

#[test]
fn guardian_template_reports_its_station() {
    let r = selftest("guardian_ast", &[]);
    r.all_answered(&["guardian_ast/tcp"]);
    r.carries("guardian_ast", "tcp", &["station", "street", "phone"]);
}

#[test]
fn ipmi_template_offers_its_authentication() {
    let r = selftest("ipmi", &[]);
    r.all_answered(&["ipmi/udp"]);
    assert!(r.summary("ipmi", "udp").contains("IPMI 2.0"), "{}", r.stdout);
}

#[test]
fn kamstrup_template_gives_the_meter_serial() {
    let r = selftest("kamstrup_382", &[]);
    r.all_answered(&["kamstrup_management/tcp", "kamstrup_meter/tcp"]);
    r.carries("kamstrup_meter", "tcp", &["meter_serial"]);
    r.carries("kamstrup_management", "tcp", &["mac"]);
}

#[test]
fn logix_template_lists_its_identity_over_tcp_and_udp() {
    let r = selftest("logix", &[]);
    r.all_answered(&["enip/tcp", "enip/udp"]);
    r.carries("enip", "tcp", &["catalog", "serial"]);
    r.carries("enip", "udp", &["catalog", "serial"]);
}

#[test]
fn nport_template_answers_on_console_and_serial_port() {
    let r = selftest("nport", &[]);
    r.all_answered(&["serial/tcp", "telnet/tcp"]);
    assert!(
        r.summary("serial", "tcp").starts_with("RTU slave 1 HR0="),
        "{}",
        r.stdout
    );
    assert!(r.summary("telnet", "tcp").contains("password"), "{}", r.stdout);
}

#[test]
fn a_port_in_use_fails_with_a_clear_row() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let r = selftest("default", &["--port", &format!("modbus={port}")]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let modbus = r.rows.iter().find(|x| x.0 == "modbus").expect("a modbus row");
    assert!(!modbus.2, "{}", r.stdout);
    assert!(
        modbus.3.contains("cannot listen") && modbus.3.contains("--port modbus=PORT"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("127.0.0.1:{port}")), "{}", r.stdout);
    // The others were still served and probed.
    assert!(r.rows.iter().filter(|x| x.0 != "modbus").all(|x| x.2), "{}", r.stdout);
    assert!(
        r.stdout.contains("1 of 7 protocol listeners did not answer"),
        "{}",
        r.stdout
    );
    drop(taken);
}

#[test]
fn an_address_that_cannot_be_bound_is_a_row_not_a_crash() {
    // 192.0.2.1 (TEST-NET-1) is on no interface of the test machine.
    let r = selftest("ipmi", &["--listen-host", "192.0.2.1"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.rows.len(), 1, "{}", r.stdout);
    assert!(!r.rows[0].2);
    assert!(r.rows[0].3.starts_with("cannot listen:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("1 of 1 protocol listeners did not answer"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unknown_port_name_is_refused() {
    let r = selftest("ipmi", &["--port", "s7=102"]);
    assert_eq!(r.code, 1);
    assert!(r.rows.is_empty());
}
