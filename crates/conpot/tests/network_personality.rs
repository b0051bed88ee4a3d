//! The `[network]` personality of the embedded templates on the wire: the sensor is started,
//! its answers captured on loopback with tshark, and the SYN-ACK's TTL, MSS option and
//! window, and the DF bit and TTL of the segments after it, compared with the template.
//! Capturing needs root and tshark; without them each test says so and passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn can_capture() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let tshark = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(root && tshark) {
        eprintln!("skipped: capturing on lo needs root and tshark");
    }
    root && tshark
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("conpot-netpers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `[network]` table of an embedded template, read from its file.
fn network(template: &str) -> toml::Table {
    let path = format!(
        "{}/../../templates/{template}/template.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let t: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    t["network"].as_table().unwrap().clone()
}

fn int(t: &toml::Table, key: &str) -> u32 {
    t[key].as_integer().unwrap() as u32
}

/// A sensor of `template` with every protocol on a free loopback port; stopped on drop.
struct Sensor {
    child: Child,
    listening: Vec<(String, String, SocketAddr)>,
    dir: PathBuf,
}

impl Sensor {
    fn start(template: &str, protocols: &[&str]) -> Sensor {
        let dir = tmpdir(template);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_conpot"));
        cmd.env("CONPOT_ALLOW_ROOT", "1")
            .args(["-q", "-t", template, "--listen-host", "127.0.0.1", "--state-dir"])
            .arg(dir.join("state"))
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for p in protocols {
            cmd.args(["--port", &format!("{p}=0")]);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut listening = Vec::new();
        while listening.len() < protocols.len() {
            let line = lines.next().expect("a listening line").unwrap();
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() == 4 && parts[0] == "listening" {
                listening.push((parts[1].to_owned(), parts[2].to_owned(), parts[3].parse().unwrap()));
            }
        }
        Sensor { child, listening, dir }
    }

    fn addr(&self, protocol: &str) -> SocketAddr {
        self.listening.iter().find(|l| l.0 == protocol).unwrap().2
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Captures what leaves `port` (`proto` tcp or udp) on lo while `drive` runs: one row of
/// fields per packet (ttl, df, syn, window, mss, payload length).
fn capture(proto: &str, port: u16, drive: impl FnOnce()) -> Vec<Vec<String>> {
    let mut tshark = Command::new("tshark")
        .args(["-i", "lo", "-l", "-a", "duration:6", "-c", "4", "-f"])
        .arg(format!("{proto} src port {port}"))
        .args(["-T", "fields", "-E", "separator=,"])
        .args([
            "-e",
            "ip.ttl",
            "-e",
            "ip.flags.df",
            "-e",
            "tcp.flags.syn",
            "-e",
            "tcp.window_size_value",
        ])
        .args(["-e", "tcp.options.mss_val", "-e", "tcp.len"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // tshark says when it has started capturing.
    let mut err = BufReader::new(tshark.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Capturing on") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "tshark stopped before capturing");
    }
    // It says so a little before the filter is in place.
    std::thread::sleep(Duration::from_millis(1000));
    drive();
    let mut out = String::new();
    tshark.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = tshark.wait();
    out.lines().map(|l| l.split(',').map(str::to_owned).collect()).collect()
}

/// A TCP exchange: connect, send `request`, read the answer.
fn tcp_exchange(addr: SocketAddr, request: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = [0u8; 512];
    assert!(s.read(&mut buf).unwrap() > 0);
    // Keep the connection up until the answer's segment is captured.
    std::thread::sleep(Duration::from_millis(300));
}

/// Checks the SYN-ACK and a data segment against `[network]` of `template`.
fn assert_tcp_personality(rows: &[Vec<String>], net: &toml::Table) {
    let (ttl, mss, window) = (int(net, "ttl"), int(net, "mss"), int(net, "window"));
    let syn_ack = rows.iter().find(|r| r[2] == "1").expect("a SYN-ACK");
    assert_eq!(syn_ack[0], ttl.to_string(), "TTL of {syn_ack:?}");
    assert_eq!(syn_ack[4], mss.to_string(), "MSS of {syn_ack:?}");
    // Linux rounds the clamp down to whole segments: of the MSS, or of the MSS less the
    // 12 bytes of timestamps when the client's SYN asked for them.
    let w: u32 = syn_ack[3].parse().unwrap();
    assert!(
        w == window / mss * mss || w == window / (mss - 12) * (mss - 12),
        "window {w} of {syn_ack:?} for a clamp of {window}, MSS {mss}"
    );
    let data = rows
        .iter()
        .find(|r| r[2] == "0" && r[5].parse::<u32>().unwrap_or(0) > 0)
        .expect("a data segment");
    assert_eq!(data[0], ttl.to_string(), "TTL of {data:?}");
    let df = if net["dont_fragment"].as_bool().unwrap() {
        "1"
    } else {
        "0"
    };
    assert_eq!(data[1], df, "DF of {data:?}");
}

#[test]
fn default_template_s7_300_stack_on_modbus() {
    if !can_capture() {
        return;
    }
    let s = Sensor::start(
        "default",
        &["modbus", "s7comm", "snmp", "telnet", "http", "https", "ftp", "tftp"],
    );
    let addr = s.addr("modbus");
    let rows = capture("tcp", addr.port(), || {
        tcp_exchange(addr, &[0, 1, 0, 0, 0, 6, 255, 3, 0, 0, 0, 1]);
    });
    let net = network("default");
    assert_eq!(int(&net, "ttl"), 30, "the test expects the S7-300's TTL");
    assert_tcp_personality(&rows, &net);
}

#[test]
fn kamstrup_meter_stack_on_kmp() {
    if !can_capture() {
        return;
    }
    let s = Sensor::start("kamstrup_382", &["kamstrup_meter", "kamstrup_management"]);
    let addr = s.addr("kamstrup_meter");
    // GetSerialNo to the meter's address 0x3F.
    let request = conpot_kamstrup::kmp::encode_frame(&conpot_kamstrup::kmp::Request::GetSerialNo.to_frame(0x3F));
    let rows = capture("tcp", addr.port(), || tcp_exchange(addr, &request));
    assert_tcp_personality(&rows, &network("kamstrup_382"));
}

#[test]
fn ipmi_bmc_sends_with_df_and_its_ttl() {
    if !can_capture() {
        return;
    }
    let s = Sensor::start("ipmi", &["ipmi"]);
    let addr = s.addr("ipmi");
    let rows = capture("udp", addr.port(), || {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let ping = [
            0x06, 0x00, 0xFF, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xC8, 0x81, 0x00, 0x38, 0x8E, 0x04,
            0xB5,
        ];
        u.send_to(&ping, addr).unwrap();
        let mut buf = [0u8; 512];
        assert!(u.recv(&mut buf).unwrap() > 0);
        std::thread::sleep(Duration::from_millis(300));
    });
    let net = network("ipmi");
    let answer = rows.first().expect("the BMC's answer");
    assert_eq!(answer[0], int(&net, "ttl").to_string(), "{rows:?}");
    assert!(net["dont_fragment"].as_bool().unwrap());
    assert_eq!(answer[1], "1", "DF of {answer:?}");
}
