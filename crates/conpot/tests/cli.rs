//! The `conpot` binary as a user runs it: flags, template commands, runs with the
//! embedded default and with Conpot's own template and INI config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use conpot_testkit::modbus::once as modbus;
use conpot_testkit::process::{self, Proc};

/// The binary, allowed to stay root: the tests run as root in CI, and the privilege drop has
/// its own tests (`privilege_*`).
fn bin() -> Command {
    process::conpot(env!("CARGO_BIN_EXE_conpot"))
}

fn tmpdir(name: &str) -> PathBuf {
    process::scratch_dir("cli", name)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_flag_is_a_clear_error() {
    let o = bin().arg("--bogus").output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("--bogus"), "{err}");
    let o = bin().args(["--port", "modbus"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("PROTOCOL=PORT"));
}

#[test]
fn missing_template_is_a_clear_error() {
    let o = bin().args(["-t", "/nonexistent/template"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("not found"), "{}", text(&o).1);
}

#[test]
fn lists_embedded_templates() {
    let o = bin().arg("templates").output().unwrap();
    assert!(o.status.success());
    let (out, _) = text(&o);
    assert!(out.contains("--template default"));
    assert!(out.contains("Siemens"));
    assert!(out.contains("modbus"));
}

#[test]
fn template_check_accepts_good_templates() {
    for t in [
        "default",
        "nport",
        conpot_testkit::conpot_templates().join("default").to_str().unwrap(),
    ] {
        let o = bin().args(["template", "check", t]).output().unwrap();
        assert!(o.status.success(), "{t}: {:?}", text(&o));
        assert!(text(&o).0.contains("is valid"));
    }
}

#[test]
fn template_check_names_file_key_and_expectation() {
    let d = tmpdir("badtemplate");
    std::fs::write(
        d.join("template.toml"),
        r#"
[template]
unit = "X"
vendor = "Y"
[persona]
vendor = "Y"
[databus]
regs = { expr = "__import__('os').system('id')" }
coils = [0, 1]
[protocols.modbus]
port = 70000
mode = "broadcast"
[protocols.modbus.identification]
vendor_name = "{persona.nope}"
[[protocols.modbus.slaves]]
id = 1
blocks = [{ table = "coils", start = 0, size = 2, key = "missing" }]
"#,
    )
    .unwrap();
    let o = bin().args(["template", "check", d.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("template.toml: databus.regs.expr: expected a template expression"),
        "{err}"
    );
    assert!(
        err.contains("protocols.modbus.port: expected an integer from 0 to 65535, found 70000"),
        "{err}"
    );

    // With those fixed, the protocol section's own errors are all reported.
    let fixed = std::fs::read_to_string(d.join("template.toml"))
        .unwrap()
        .replace("__import__('os').system('id')", "[0 for b in range(4)]")
        .replace("70000", "5020");
    std::fs::write(d.join("template.toml"), fixed).unwrap();
    let o = bin().args(["template", "check", d.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("protocols.modbus.mode: expected \"device\" or \"gateway\", found \"broadcast\""),
        "{err}"
    );
    assert!(
        err.contains("protocols.modbus.identification.vendor_name: expected known persona fields only"),
        "{err}"
    );
    assert!(
        err.contains("slave 1 block `missing`: expected a databus key named `missing`"),
        "{err}"
    );
}

#[test]
fn template_check_rejects_code_in_conpot_xml() {
    let d = tmpdir("badxml");
    std::fs::write(
        d.join("template.xml"),
        r#"<core><template><entity name="unit">X</entity></template><databus><key_value_mappings>
        <key name="evil"><value type="value">__import__("os").system("touch /tmp/pwned")</value></key>
        </key_value_mappings></databus></core>"#,
    )
    .unwrap();
    let o = bin().args(["template", "check", d.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("key[@name='evil']/value: expected a template expression"),
        "{}",
        text(&o).1
    );
}

/// A running honeypot, killed on drop unless stopped.
struct Running {
    child: Proc,
    modbus: SocketAddr,
    s7: SocketAddr,
    snmp: Option<SocketAddr>,
    cwd: PathBuf,
}

impl Running {
    /// Starts quietly (warnings only), stderr unread.
    fn start(cwd: &Path, args: &[&str]) -> Running {
        Running::start_logging(cwd, &[args, &["-q"]].concat(), Stdio::piped())
    }

    /// Starts at the default log level, the log on stderr going to `stderr`.
    fn start_logging(cwd: &Path, args: &[&str], stderr: Stdio) -> Running {
        let started = Instant::now();
        // The embedded default also has a Telnet console and HTTPS; Conpot's templates do not.
        let protocols = if args.contains(&"-t") {
            &["modbus", "s7comm", "snmp", "ftp", "tftp", "http"][..]
        } else {
            process::DEFAULT_PROTOCOLS
        };
        let mut child = Proc::spawn(
            bin()
                .args(args)
                .args(["--listen-host", "127.0.0.1"])
                .args(process::zero_ports(protocols))
                .current_dir(cwd)
                .stdout(Stdio::piped())
                .stderr(stderr),
        );
        let found = process::listening(child.stdout(), &["modbus tcp", "s7comm tcp", "snmp udp"]);
        let (modbus, s7, snmp) = (found[0], found[1], Some(found[2]));
        assert!(started.elapsed() < Duration::from_secs(5));
        Running {
            child,
            modbus,
            s7,
            snmp,
            cwd: cwd.to_owned(),
        }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        self.child.terminate(Duration::from_secs(10))
    }
}

fn device_id(addr: SocketAddr, unit: u8) -> String {
    String::from_utf8_lossy(&modbus(addr, &[0, 1, 0, 0, 0, 5, unit, 0x2B, 0x0E, 0x01, 0x00])).into_owned()
}

/// Connects over ISO-on-TCP and reads SZL 0x001C; returns the answer as text.
fn s7_szl_1c(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    for req in [
        "0300001611e00000001400c1020100c2020102c0010a",
        "0300001902f08032010000000000080000f0000001000101e0",
        "0300002102f080320700000000000800080001120411440100ff090004001c0001",
    ] {
        s.write_all(&conpot_core_hex(req)).unwrap();
        let mut head = [0u8; 4];
        s.read_exact(&mut head).unwrap();
        let mut rest = vec![0u8; usize::from(u16::from_be_bytes([head[2], head[3]])) - 4];
        s.read_exact(&mut rest).unwrap();
        answer = rest;
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn conpot_core_hex(s: &str) -> Vec<u8> {
    conpot_core::hex::decode(s).unwrap()
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    process::json_lines(path)
}

#[test]
fn embedded_default_runs_and_keeps_its_persona() {
    let d = tmpdir("default");
    let run = Running::start(&d, &[]);
    let first = device_id(run.modbus, 255);
    assert!(first.contains("Siemens") && first.contains("6ES7 3"), "{first:?}");
    assert!(run.stop().success());
    let persona = std::fs::read_to_string(d.join("conpot-state/persona-default.toml")).unwrap();
    assert!(persona.contains("serial = \"S C-"));
    let events = jsonl(&d.join("conpot-events.jsonl"));
    let types: Vec<&str> = events.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"sensor.start"));
    assert_eq!(types.last(), Some(&"sensor.stop"));
    assert!(
        types.contains(&"session.open") && types.contains(&"modbus.request") && types.contains(&"session.close"),
        "{types:?}"
    );
    let req = events.iter().find(|e| e["event_type"] == "modbus.request").unwrap();
    assert_eq!(req["src_ip"], "127.0.0.1");
    assert_eq!(req["data"]["unit_id"], 255);
    assert_eq!(req["data"]["function_code"], 43);
    assert_eq!(req["raw"], "000100000005ff2b0e0100");

    // Restart in the same folder: the same device.
    let run = Running::start(&d, &[]);
    assert_eq!(device_id(run.modbus, 255), first);
    assert!(run.stop().success());

    // A fresh deployment elsewhere is another device.
    let d2 = tmpdir("default2");
    let run = Running::start(&d2, &[]);
    let serial = |dir: &Path| {
        let p = std::fs::read_to_string(dir.join("conpot-state/persona-default.toml")).unwrap();
        p.lines().find(|l| l.starts_with("serial")).unwrap().to_owned()
    };
    assert_ne!(serial(&d), serial(&run.cwd));
    assert!(run.stop().success());
}

#[test]
fn conpot_template_and_ini_config_write_conpots_json_log() {
    let d = tmpdir("conpot");
    let log = d.join("logs/conpot.json");
    std::fs::write(
        d.join("conpot.cfg"),
        format!(
            "[common]\nsensorid = honeypot-42\n\n[session]\ntimeout = 30\n\n[json]\nenabled = True\nfilename = {}\n\n[sqlite]\nenabled = False\n\n[syslog]\nenabled = False\nsocket = dev        ; udp (sends to host:port), dev (sends to device)\n",
            log.display()
        ),
    )
    .unwrap();
    let template = conpot_testkit::conpot_templates().join("default");
    let run = Running::start(
        &d,
        &["-t", template.to_str().unwrap(), "-c", "conpot.cfg", "--port", "enip=0"],
    );
    // Conpot's serial-mode layout: slave 1 holds coils at PDU address 1.
    let reply = modbus(run.modbus, &[0, 1, 0, 0, 0, 6, 1, 1, 0, 1, 0, 8]);
    assert_eq!(&reply[..9], &[0, 1, 0, 0, 0, 4, 1, 1, 1]);
    let id = device_id(run.modbus, 1);
    assert!(
        id.contains("Siemens") && id.contains("SIMATIC") && id.contains("S7-200"),
        "{id:?}"
    );
    let port = run.modbus.port();
    // S7 answers with the template's component identification.
    let szl = s7_szl_1c(run.s7);
    for v in ["Technodrome", "Mouser Factory", "88111222", "IM151-8 PN/DP CPU"] {
        assert!(szl.contains(v), "{v} in {szl:?}");
    }
    // SNMP answers sysDescr from the template's databus (v2c GET, community public).
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    udp.send_to(
        &conpot_core_hex("302702010104067075626c6963a01a020204d2020100020100300e300c06082b060102010101000500"),
        run.snmp.unwrap(),
    )
    .unwrap();
    let mut buf = [0u8; 1500];
    let n = udp.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("Siemens, SIMATIC, S7-200"));
    assert!(run.stop().success());
    let events = jsonl(&log);
    let expected: std::collections::BTreeSet<&str> = [
        "timestamp",
        "sensorid",
        "id",
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "public_ip",
        "data_type",
        "request",
        "response",
        "event_type",
    ]
    .into_iter()
    .collect();
    for e in &events {
        let keys: std::collections::BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, expected);
        assert_eq!(e["sensorid"], "honeypot-42");
    }
    let modbus_events: Vec<_> = events.iter().filter(|e| e["data_type"] == "modbus").collect();
    assert_eq!(modbus_events[0]["event_type"], "NEW_CONNECTION");
    // Found by what it holds: two connections' requests may be logged in either order (a
    // connection answers before it logs, and the two ran on different threads).
    let req = modbus_events
        .iter()
        .find(|e| e["event_type"].is_null() && e["request"] == "b'000100000006010100010008'")
        .unwrap_or_else(|| panic!("the read coils request in {modbus_events:?}"));
    assert_eq!(req["src_ip"], "127.0.0.1");
    assert_eq!(req["dst_port"], port);
    assert!(req["response"].as_str().unwrap().starts_with("b'0001000000040101"));
}

#[test]
fn sighup_reopens_the_event_log() {
    let d = tmpdir("sighup");
    let run = Running::start(&d, &[]);
    device_id(run.modbus, 255);
    std::thread::sleep(Duration::from_millis(300));
    let log = d.join("conpot-events.jsonl");
    let rotated = d.join("conpot-events.jsonl.1");
    std::fs::rename(&log, &rotated).unwrap();
    Command::new("kill")
        .args(["-HUP", &run.child.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    device_id(run.modbus, 255);
    assert!(run.stop().success(), "SIGHUP does not stop the honeypot");
    let before = jsonl(&rotated);
    let after = jsonl(&log);
    assert!(before.iter().any(|e| e["event_type"] == "modbus.request"));
    assert!(after.iter().any(|e| e["event_type"] == "modbus.request"));
    assert_eq!(after.last().unwrap()["event_type"], "sensor.stop");
}

/// A COTP connection request (the first thing any S7 client sends), with the answer.
fn s7_connect(addr: SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&conpot_core_hex("0300001611e00000001400c1020100c2020102c0010a"))
        .unwrap();
    let mut answer = [0u8; 22];
    s.read_exact(&mut answer).unwrap();
    answer.to_vec()
}

/// Conpot's stock `testing.cfg` enables no JSON log: the traffic must still show in the text
/// log (`-l conpot.log` and stderr), one readable line per event, with no colour codes.
#[test]
fn conpot_testing_cfg_shows_traffic_in_the_text_log() {
    let d = tmpdir("textlog");
    let template = conpot_testkit::conpot_templates().join("default");
    let cfg = conpot_testkit::conpot_testing_cfg();
    let stderr = std::fs::File::create(d.join("stderr.txt")).unwrap();
    let run = Running::start_logging(
        &d,
        &[
            "-t",
            template.to_str().unwrap(),
            "-c",
            cfg.to_str().unwrap(),
            "-l",
            "conpot.log",
            "--port",
            "enip=0",
        ],
        Stdio::from(stderr),
    );
    let reply = modbus(run.modbus, &[0, 7, 0, 0, 0, 6, 1, 1, 0, 1, 0, 8]);
    assert_eq!(&reply[..9], &[0, 7, 0, 0, 0, 4, 1, 1, 1]);
    assert_eq!(s7_connect(run.s7)[5], 0xD0, "a COTP connection confirm");
    std::thread::sleep(Duration::from_millis(300));
    assert!(run.stop().success());
    let log = std::fs::read_to_string(d.join("conpot.log")).unwrap();
    let on_stderr = std::fs::read_to_string(d.join("stderr.txt")).unwrap();
    for text in [&log, &on_stderr] {
        for line in [
            "New modbus session from 127.0.0.1:",
            "modbus.request from 127.0.0.1:",
            "raw=000700000006010100010008",
            "New s7comm session from 127.0.0.1:",
            "s7.cotp_connect from 127.0.0.1:",
            "s7comm session from 127.0.0.1:",
            "events (text) -> this log",
        ] {
            assert!(text.contains(line), "{line:?} in:\n{text}");
        }
        assert!(!text.contains('\u{1b}'), "no colour codes off a terminal:\n{text}");
    }
    let request = log.lines().find(|l| l.contains("modbus.request")).unwrap();
    assert!(
        request.contains(r#"request={"address":1,"function":"read_coils","quantity":8"#),
        "{request}"
    );
}

/// Start-up lines in the operator's words: sink formats by their configuration names, the
/// start time rounded, no colour codes when stderr is a file.
#[test]
fn start_up_log_speaks_the_configurations_words() {
    let d = tmpdir("startlog");
    std::fs::write(
        d.join("c.toml"),
        "[[sinks]]\ntype = \"jsonl\"\npath = \"legacy.json\"\nformat = \"conpot-legacy\"\n[[sinks]]\ntype = \"jsonl\"\npath = \"native.jsonl\"\n",
    )
    .unwrap();
    let stderr = std::fs::File::create(d.join("stderr.txt")).unwrap();
    let run = Running::start_logging(&d, &["-c", "c.toml"], Stdio::from(stderr));
    assert!(run.stop().success());
    let log = std::fs::read_to_string(d.join("stderr.txt")).unwrap();
    assert!(log.contains("events (conpot-legacy) -> legacy.json"), "{log}");
    assert!(log.contains("events (native) -> native.jsonl"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
    let start = jsonl(&d.join("native.jsonl"))
        .into_iter()
        .find(|e| e["event_type"] == "sensor.start")
        .unwrap();
    let ready = start["data"]["ready_ms"].to_string();
    assert!(
        ready.split('.').nth(1).is_none_or(|decimals| decimals.len() <= 1),
        "ready_ms {ready}"
    );
    let text_line = log.lines().find(|l| l.contains("sensor.start: ")).unwrap();
    assert!(text_line.contains(&format!("ready_ms={ready}")), "{text_line}");
}

/// `[sensor] workers` sets the runtime's threads; without it the sensor starts one fewer
/// than the cores it may use (at least one).
#[test]
fn workers_setting_sizes_the_runtime() {
    let d = tmpdir("workers");
    let workers = |config: &str| {
        std::fs::write(
            d.join("c.toml"),
            format!("{config}[[sinks]]\ntype = \"jsonl\"\npath = \"e.jsonl\"\n"),
        )
        .unwrap();
        let _ = std::fs::remove_file(d.join("e.jsonl"));
        let run = Running::start(&d, &["-c", "c.toml"]);
        assert!(run.stop().success());
        let start = jsonl(&d.join("e.jsonl"))
            .into_iter()
            .find(|e| e["event_type"] == "sensor.start")
            .unwrap();
        start["data"]["workers"].as_u64().unwrap()
    };
    assert_eq!(workers("[sensor]\nworkers = 3\n"), 3);
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    assert_eq!(workers(""), cores.saturating_sub(1).max(1));
}

/// Conpot's `default` folder and the embedded `default` are two devices: running one does
/// not change the persona of the other.
#[test]
fn conpot_default_and_embedded_default_keep_apart_personas() {
    let d = tmpdir("twodefaults");
    let run = Running::start(&d, &[]);
    let embedded_id = device_id(run.modbus, 255);
    assert!(run.stop().success());
    let state = d.join("conpot-state");
    let embedded = std::fs::read_to_string(state.join("persona-default.toml")).unwrap();

    let conpot = conpot_testkit::conpot_templates().join("default");
    let run = Running::start(&d, &["-t", conpot.to_str().unwrap(), "--port", "enip=0"]);
    assert!(device_id(run.modbus, 1).contains("S7-200"));
    assert!(run.stop().success());
    assert_eq!(
        std::fs::read_to_string(state.join("persona-default.toml")).unwrap(),
        embedded,
        "the embedded device's persona is untouched"
    );
    let files: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let imported = files.iter().find(|n| *n != "persona-default.toml").unwrap();
    assert!(imported.starts_with("persona-default-"), "{imported}");
    let imported = std::fs::read_to_string(state.join(imported)).unwrap();
    assert!(
        !imported.contains("system_name"),
        "no fields of the embedded persona: {imported}"
    );

    let run = Running::start(&d, &[]);
    assert_eq!(device_id(run.modbus, 255), embedded_id);
    assert!(run.stop().success());
}

/// A template this version can serve nothing of is refused by `template check` and by a
/// run, naming the protocols; one with something to serve names what it skips.
#[test]
fn a_template_with_nothing_to_serve_is_an_error() {
    let d = tmpdir("nothing");
    let head = "[template]\nunit = \"X\"\nvendor = \"Y\"\n[persona]\nvendor = \"Y\"\n";
    for (name, body, expected) in [
        (
            "unserved",
            "[protocols.dnp3]\nport = 20000\n",
            "this version serves none of the template's protocols (dnp3)",
        ),
        ("none", "", "the template enables no protocol"),
        (
            "disabled",
            "[protocols.snmp]\nenabled = false\nport = 16100\n",
            "the template enables no protocol; disabled in the template: snmp",
        ),
    ] {
        let t = d.join(name);
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("template.toml"), format!("{head}{body}")).unwrap();
        let o = bin().args(["template", "check", t.to_str().unwrap()]).output().unwrap();
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}{err}");
        assert!(
            err.contains("has nothing to serve") && err.contains(expected),
            "{name}: {err}"
        );
        assert!(!out.contains("is valid"), "{name}: {out}");
        let o = bin()
            .args(["-t", t.to_str().unwrap(), "--state-dir"])
            .arg(d.join("state"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{name}: {:?}", text(&o));
        assert!(text(&o).1.contains(expected), "{name}: {:?}", text(&o));
    }
    // Conpot's default template: every protocol of it is served now, nothing skipped.
    let o = bin()
        .args(["template", "check"])
        .arg(conpot_testkit::conpot_templates().join("default"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(!text(&o).0.contains("not served by this version"), "{:?}", text(&o));
}

/// `--port` with a name the template has no protocol of is an error listing the valid names
/// (and so is such a name in the configuration's [listen.ports]).
#[test]
fn port_override_for_an_unknown_protocol_is_an_error() {
    let d = tmpdir("badport");
    let o = bin()
        .args(["--port", "s7=11202", "--port", "modbus=0", "--state-dir"])
        .arg(d.join("state"))
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains(
            "--port: template `default` has no protocol named `s7`; its protocols are: ftp, http, modbus, s7comm, snmp, telnet, tftp"
        ),
        "{err}"
    );
    assert!(!out.contains("listening"), "{out}");
    std::fs::write(d.join("c.toml"), "[listen.ports]\nmodbsu = 502\n").unwrap();
    let o = bin().arg("-c").arg(d.join("c.toml")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("[listen.ports] of the configuration: template `default` has no protocol named `modbsu`"),
        "{:?}",
        text(&o)
    );
}
