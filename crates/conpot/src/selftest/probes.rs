//! The built-in clients of `conpot selftest`: one small probe per protocol, each sending
//! the request a scanner or an engineering tool sends first and summing up, in one line,
//! what came back. Where a protocol crate has an encoder or decoder (SNMP, Kamstrup KMP,
//! Modbus RTU's CRC) the probe uses it; the other requests are a few fixed bytes.

use std::net::SocketAddr;
use std::time::Duration;

use conpot_core::template::{ProtocolSection, SectionBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The most a probe reads of one answer: every first answer of these protocols is smaller.
const MAX_ANSWER: usize = 64 * 1024;

/// How long a probe waits for more bytes of an answer that has started.
const QUIET: Duration = Duration::from_millis(300);

/// What a probe found: `Ok(summary)` when the service answered, `Err(why)` otherwise.
pub type Outcome = Result<String, String>;

fn io(e: std::io::Error) -> String {
    e.to_string()
}

/// Bytes as one printable line: control characters become spaces, runs of spaces one.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}

/// Reads until `done` says the bytes so far are a whole answer, the peer closes, or the
/// answer has been quiet for [`QUIET`] after it started.
async fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    loop {
        if done(buf) {
            return Ok(());
        }
        let read = if buf.is_empty() {
            s.read(&mut chunk).await
        } else {
            match tokio::time::timeout(QUIET, s.read(&mut chunk)).await {
                Ok(r) => r,
                Err(_) => return Ok(()),
            }
        };
        let n = read.map_err(io)?;
        if n == 0 {
            return if buf.is_empty() {
                Err("closed without answering".into())
            } else {
                Ok(())
            };
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_ANSWER {
            return Err(format!("answer longer than {MAX_ANSWER} bytes"));
        }
    }
}

/// Sends `request` and reads the answer until `done`.
async fn ask(s: &mut TcpStream, request: &[u8], done: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, String> {
    s.write_all(request).await.map_err(io)?;
    let mut buf = Vec::new();
    read_until(s, &mut buf, done).await?;
    Ok(buf)
}

/// A frame with a big-endian length at `at` (of `width` bytes) counting from `base`.
fn framed(b: &[u8], at: usize, base: usize) -> bool {
    match (b.get(at), b.get(at + 1)) {
        (Some(&h), Some(&l)) => b.len() >= base + usize::from(u16::from_be_bytes([h, l])),
        _ => false,
    }
}

/// A whole TPKT (RFC 1006) packet.
fn tpkt_done(b: &[u8]) -> bool {
    framed(b, 2, 0)
}

/// A whole Modbus/TCP answer (MBAP length counts from byte 6).
fn mbap_done(b: &[u8]) -> bool {
    framed(b, 4, 6)
}

/// A UDP exchange: one datagram out, the first one back.
async fn udp_ask(addr: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| "address")?
    } else {
        "[::]:0".parse().map_err(|_| "address")?
    };
    let sock = UdpSocket::bind(local).await.map_err(io)?;
    sock.connect(addr).await.map_err(io)?;
    sock.send(request).await.map_err(io)?;
    let mut buf = vec![0u8; 65_536];
    let n = sock.recv(&mut buf).await.map_err(io)?;
    buf.truncate(n);
    Ok(buf)
}

/// A TOML value of the section at a dotted path (`slaves.0.id`), if the section is TOML.
fn setting<'a>(section: &'a ProtocolSection, path: &str) -> Option<&'a toml::Value> {
    let SectionBody::Toml(t) = &section.body else {
        return None;
    };
    let mut parts = path.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = match p.parse::<usize>() {
            Ok(i) => v.as_array()?.get(i)?,
            Err(_) => v.as_table()?.get(p)?,
        };
    }
    Some(v)
}

/// Runs the probe of `section` (over `transport`) against `addr`.
pub async fn probe(section: &ProtocolSection, udp: bool, addr: SocketAddr) -> Outcome {
    let family = section.name.split_once('.').map_or(section.name.as_str(), |(f, _)| f);
    if udp {
        return match family {
            "snmp" => snmp(section, addr).await,
            "tftp" => tftp(addr).await,
            "ipmi" => ipmi(addr).await,
            "bacnet" => bacnet(addr).await,
            "enip" => enip_identity(udp_ask(addr, &ENIP_LIST_IDENTITY).await?),
            _ => Err("no built-in UDP client for this protocol".into()),
        };
    }
    let mut s = TcpStream::connect(addr).await.map_err(io)?;
    let _ = s.set_nodelay(true);
    match family {
        "modbus" => modbus(section, &mut s).await,
        "s7comm" => s7(&mut s).await,
        "http" => http(&mut s, addr).await,
        "ftp" => ftp(&mut s).await,
        "telnet" | "kamstrup_management" => banner(&mut s).await,
        "IEC104" => iec104(&mut s).await,
        "enip" => enip_identity(ask(&mut s, &ENIP_LIST_IDENTITY, enip_done).await?),
        "kamstrup_meter" => kamstrup(section, &mut s).await,
        "guardian_ast" => guardian(&mut s).await,
        "serial" => serial(section, &mut s).await,
        _ => Ok("accepted the connection (no built-in client for this protocol)".into()),
    }
}

// ---- Modbus/TCP ----

async fn modbus(section: &ProtocolSection, s: &mut TcpStream) -> Outcome {
    let unit = modbus_unit(section);
    // Read Holding Registers 0, one register.
    let read = [0, 1, 0, 0, 0, 6, unit, 0x03, 0, 0, 0, 1];
    let a = ask(s, &read, mbap_done).await?;
    let register = match (a.get(7), a.get(8), a.get(9), a.get(10)) {
        (Some(0x03), _, Some(&h), Some(&l)) => format!("HR0={}", u16::from_be_bytes([h, l])),
        (Some(&f), Some(&code), ..) if f & 0x80 != 0 => format!("HR0: exception {code}"),
        _ => {
            return Err(format!(
                "not a Modbus answer: {:02x?}",
                a.get(..a.len().min(12)).unwrap_or_default()
            ));
        }
    };
    // Read Device Identification (MEI 0x0E), basic objects.
    let ident = [0, 2, 0, 0, 0, 5, unit, 0x2B, 0x0E, 0x01, 0x00];
    let a = ask(s, &ident, mbap_done).await?;
    Ok(format!("unit {unit} {register}; {}", device_identification(&a)))
}

/// The unit id to ask: 255 (what a Modbus/TCP server answers as itself) when the template
/// has a slave of that id or names none, else its first slave.
fn modbus_unit(section: &ProtocolSection) -> u8 {
    let ids: Vec<u8> = match &section.body {
        SectionBody::Toml(_) => setting(section, "slaves")
            .and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.get("id")?.as_integer())
                    .filter_map(|v| u8::try_from(v).ok())
                    .collect()
            })
            .unwrap_or_default(),
        // Conpot's modbus.xml: `<slave id="N">`.
        SectionBody::ConpotXml(xml) => xml
            .split("<slave id=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect(),
    };
    if ids.is_empty() || ids.contains(&255) {
        255
    } else {
        ids.first().copied().unwrap_or(255)
    }
}

/// The objects of a Read Device Identification answer, space separated.
fn device_identification(a: &[u8]) -> String {
    if a.get(7) != Some(&0x2B) {
        return match a.get(8) {
            Some(code) => format!("device identification: exception {code}"),
            None => "device identification: no answer".into(),
        };
    }
    let count = a.get(13).copied().unwrap_or(0);
    let mut at = 14;
    let mut objects = Vec::new();
    for _ in 0..count {
        let (Some(_id), Some(&len)) = (a.get(at), a.get(at + 1)) else {
            break;
        };
        let Some(value) = a.get(at + 2..at + 2 + usize::from(len)) else {
            break;
        };
        objects.push(printable(value));
        at += 2 + usize::from(len);
    }
    objects.join(" / ")
}

// ---- S7comm ----

/// COTP connection request to rack 0 slot 2 (TSAP 0x0102), as STEP 7 sends.
const S7_COTP_CR: [u8; 22] = [
    3, 0, 0, 22, 0x11, 0xE0, 0, 0, 0, 1, 0, 0xC0, 1, 0x0A, 0xC1, 2, 1, 0, 0xC2, 2, 1, 2,
];
/// S7 Setup Communication (PDU 480).
const S7_SETUP: [u8; 25] = [
    3, 0, 0, 25, 2, 0xF0, 0x80, 0x32, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0xF0, 0, 0, 1, 0, 1, 1, 0xE0,
];
/// Read SZL 0x001C (component identification), index 0: every component.
const S7_SZL_1C: [u8; 33] = [
    3, 0, 0, 33, 2, 0xF0, 0x80, 0x32, 7, 0, 0, 0, 1, 0, 8, 0, 8, 0, 1, 0x12, 4, 0x11, 0x44, 1, 0, 0xFF, 9, 0, 4, 0,
    0x1C, 0, 0,
];

async fn s7(s: &mut TcpStream) -> Outcome {
    let cc = ask(s, &S7_COTP_CR, tpkt_done).await?;
    if cc.get(5) != Some(&0xD0) {
        return Err(format!("no COTP connection confirm: {}", printable(&cc)));
    }
    let setup = ask(s, &S7_SETUP, tpkt_done).await?;
    if setup.get(8) != Some(&3) {
        return Err("no Setup Communication ack".into());
    }
    let szl = ask(s, &S7_SZL_1C, tpkt_done).await?;
    let names = szl_1c(&szl).ok_or("no SZL 0x001C in the answer")?;
    let get = |i: u16| names.iter().find(|(n, _)| *n == i).map_or("?", |(_, s)| s.as_str());
    Ok(format!("module {}, system {}, serial {}", get(2), get(1), get(5)))
}

/// The entries of an SZL 0x001C answer: (index, text).
fn szl_1c(a: &[u8]) -> Option<Vec<(u16, String)>> {
    let params = usize::from(u16::from_be_bytes([*a.get(13)?, *a.get(14)?]));
    let data = 17 + params;
    if a.get(data) != Some(&0xFF) {
        return None;
    }
    let entry = usize::from(u16::from_be_bytes([*a.get(data + 8)?, *a.get(data + 9)?]));
    let count = usize::from(u16::from_be_bytes([*a.get(data + 10)?, *a.get(data + 11)?]));
    let mut out = Vec::new();
    let mut at = data + 12;
    // A long list comes in several fragments: the records of this first one are enough.
    for _ in 0..count.min(32) {
        let Some(e) = a.get(at..at + entry) else { break };
        let index = u16::from_be_bytes([*e.first()?, *e.get(1)?]);
        let text = e.get(2..).unwrap_or_default();
        let text = text.split(|&b| b == 0).next().unwrap_or_default();
        out.push((index, printable(text)));
        at += entry;
    }
    Some(out)
}

// ---- HTTP ----

async fn http(s: &mut TcpStream, addr: SocketAddr) -> Outcome {
    let (status, location, rest) = http_get(s, "/").await?;
    // A start page that redirects (as a PLC's web server does to its portal) is followed
    // once, on a new connection, for the page's title.
    let Some(path) = location.filter(|l| l.starts_with('/') && status.contains(" 30")) else {
        return Ok(format!("{status}{rest}"));
    };
    let mut s2 = TcpStream::connect(addr).await.map_err(io)?;
    let (status2, _, rest2) = http_get(&mut s2, &path).await?;
    Ok(format!("{status} -> {path}: {status2}{rest2}"))
}

/// GET `path`: the status line, the Location, and the Server and title as text.
async fn http_get(s: &mut TcpStream, path: &str) -> Result<(String, Option<String>, String), String> {
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: conpot-selftest\r\n\r\n");
    let a = ask(s, request.as_bytes(), |_| false).await?;
    let text = String::from_utf8_lossy(&a);
    let status = text.lines().next().unwrap_or_default().trim().to_owned();
    if !status.starts_with("HTTP/") {
        return Err(format!("not HTTP: {}", printable(status.as_bytes())));
    }
    let header = |name: &str| {
        text.lines()
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.trim().to_owned())
    };
    let lower = text.to_ascii_lowercase();
    let title = lower
        .find("<title>")
        .and_then(|i| text.get(i + 7..).and_then(|t| t.split("</").next()))
        .map(|t| printable(t.as_bytes()));
    let mut rest = String::new();
    if let Some(s) = header("server") {
        rest.push_str(&format!(", Server: {s}"));
    }
    if let Some(t) = title {
        rest.push_str(&format!(", title: {t}"));
    }
    Ok((status, header("location"), rest))
}

// ---- FTP ----

/// A whole FTP reply: its last line is `NNN text`.
fn ftp_done(b: &[u8]) -> bool {
    let text = String::from_utf8_lossy(b);
    text.ends_with('\n')
        && text
            .lines()
            .last()
            .is_some_and(|l| l.len() >= 4 && l.as_bytes().get(3) == Some(&b' '))
}

async fn ftp(s: &mut TcpStream) -> Outcome {
    let mut banner = Vec::new();
    read_until(s, &mut banner, ftp_done).await?;
    if !banner.starts_with(b"220") {
        return Err(format!("no 220 greeting: {}", printable(&banner)));
    }
    let user = ask(s, b"USER anonymous\r\n", ftp_done).await?;
    let mut out = printable(&banner);
    out.push_str(&format!("; USER: {}", printable(user.get(..3).unwrap_or_default())));
    if user.starts_with(b"331") {
        let pass = ask(s, b"PASS selftest@example.org\r\n", ftp_done).await?;
        out.push_str(&format!("; PASS: {}", printable(&pass)));
    }
    let _ = s.write_all(b"QUIT\r\n").await;
    Ok(out)
}

// ---- Telnet and consoles: the banner ----

async fn banner(s: &mut TcpStream) -> Outcome {
    let mut got = Vec::new();
    // Up to the first prompt (`login:`, `Password:`, `>`), or what came before a pause.
    read_until(s, &mut got, |b| {
        let t = String::from_utf8_lossy(b);
        let t = t.trim_end_matches([' ', '\0']);
        b.len() >= 2048 || t.ends_with(':') || t.ends_with('>') || t.ends_with('#')
    })
    .await?;
    // Telnet option negotiation (IAC ...) is not text.
    let mut text = Vec::new();
    let mut i = 0;
    while let Some(&b) = got.get(i) {
        if b == 0xFF {
            i += if got.get(i + 1).is_some_and(|&c| (0xFB..=0xFE).contains(&c)) {
                3
            } else {
                2
            };
            continue;
        }
        text.push(b);
        i += 1;
    }
    let line = printable(&text);
    if line.is_empty() {
        Ok(format!("{} bytes of option negotiation", got.len()))
    } else {
        Ok(line)
    }
}

// ---- IEC 60870-5-104 ----

async fn iec104(s: &mut TcpStream) -> Outcome {
    let a = ask(s, &[0x68, 4, 0x07, 0, 0, 0], |b| b.len() >= 6).await?;
    match a.get(..6) {
        Some([0x68, 4, 0x0B, 0, 0, 0]) => {
            let more = a.len() - 6;
            Ok(if more > 0 {
                format!("STARTDT con, then {more} bytes (end of initialisation)")
            } else {
                "STARTDT con".into()
            })
        }
        _ => Err(format!(
            "no STARTDT con: {:02x?}",
            a.get(..a.len().min(8)).unwrap_or_default()
        )),
    }
}

// ---- EtherNet/IP ----

/// List Identity: the 24-byte encapsulation header alone.
const ENIP_LIST_IDENTITY: [u8; 24] = [
    0x63, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn enip_done(b: &[u8]) -> bool {
    match (b.get(2), b.get(3)) {
        (Some(&l), Some(&h)) => b.len() >= 24 + usize::from(u16::from_le_bytes([l, h])),
        _ => false,
    }
}

fn enip_identity(a: Vec<u8>) -> Outcome {
    let le16 = |i: usize| -> Option<u16> { Some(u16::from_le_bytes([*a.get(i)?, *a.get(i + 1)?])) };
    if le16(0) != Some(0x63) {
        return Err("not a List Identity answer".into());
    }
    let parse = || -> Option<String> {
        let vendor = le16(48)?;
        let product = le16(52)?;
        let (major, minor) = (*a.get(54)?, *a.get(55)?);
        let serial = u32::from_le_bytes([*a.get(58)?, *a.get(59)?, *a.get(60)?, *a.get(61)?]);
        let len = usize::from(*a.get(62)?);
        let name = printable(a.get(63..63 + len)?);
        Some(format!(
            "{name}, vendor {vendor}, product code {product}, rev {major}.{minor}, serial {serial:08X}"
        ))
    };
    parse().ok_or_else(|| "List Identity answer too short".into())
}

// ---- Kamstrup KMP ----

async fn kamstrup(section: &ProtocolSection, s: &mut TcpStream) -> Outcome {
    use conpot_kamstrup::kmp;
    let address = setting(section, "address")
        .and_then(toml::Value::as_integer)
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(0x3F);
    let request = kmp::encode_frame(&kmp::Request::GetSerialNo.to_frame(address));
    let a = ask(s, &request, |b| {
        matches!(kmp::scan(b, kmp::Direction::Response), kmp::Scan::Frame { .. })
    })
    .await?;
    let kmp::Scan::Frame { start, end } = kmp::scan(&a, kmp::Direction::Response) else {
        return Err(format!(
            "no KMP answer frame: {:02x?}",
            a.get(..a.len().min(16)).unwrap_or_default()
        ));
    };
    let frame = kmp::decode_frame(a.get(start..end).unwrap_or_default()).map_err(|e| e.as_str().to_owned())?;
    match kmp::Response::parse(frame.command, &frame.payload) {
        Ok(kmp::Response::SerialNo(n)) => Ok(format!("GetSerialNo: {n} (address 0x{:02X})", frame.address)),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(e.as_str().to_owned()),
    }
}

// ---- Guardian AST (TLS-350) ----

async fn guardian(s: &mut TcpStream) -> Outcome {
    let a = ask(s, b"\x01I20100\n", |b| b.last() == Some(&0x03)).await?;
    let text = String::from_utf8_lossy(&a);
    let lines: Vec<String> = text
        .lines()
        .map(|l| printable(l.as_bytes()))
        .filter(|l| !l.is_empty())
        .collect();
    if !lines.first().is_some_and(|l| l.contains("I20100")) {
        return Err(format!("no I20100 report: {}", printable(&a)));
    }
    // The report's header: the station lines after the command echo and the date.
    Ok(format!(
        "I20100: {}",
        lines.get(2..lines.len().min(6)).unwrap_or_default().join(" / ")
    ))
}

// ---- Serial device server: Modbus RTU over TCP to slave 1 ----

async fn serial(section: &ProtocolSection, s: &mut TcpStream) -> Outcome {
    let slave = setting(section, "modbus.slaves.0.id")
        .and_then(toml::Value::as_integer)
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(1);
    let mut req = vec![slave, 0x03, 0, 0, 0, 1];
    let crc = conpot_serial::rtu::crc16(&req);
    req.extend_from_slice(&crc.to_le_bytes());
    let a = ask(s, &req, |b| b.len() >= 7).await?;
    match (a.first(), a.get(1), a.get(3), a.get(4)) {
        (Some(&id), Some(0x03), Some(&h), Some(&l)) => Ok(format!("RTU slave {id} HR0={}", u16::from_be_bytes([h, l]))),
        (Some(&id), Some(&f), Some(&code), _) if f & 0x80 != 0 => Ok(format!("RTU slave {id} exception {code}")),
        _ => Err(format!(
            "no RTU answer: {:02x?}",
            a.get(..a.len().min(8)).unwrap_or_default()
        )),
    }
}

// ---- UDP protocols ----

async fn snmp(section: &ProtocolSection, addr: SocketAddr) -> Outcome {
    use conpot_snmp::message::{Message, Pdu, SnmpValue, VarBind, encode_community};
    let community = setting(section, "communities.0.name")
        .and_then(toml::Value::as_str)
        .unwrap_or("public")
        .to_owned();
    let pdu = Pdu {
        kind: 0xA0,
        request_id: 4242,
        error_status: 0,
        error_index: 0,
        varbinds: vec![VarBind {
            oid: vec![1, 3, 6, 1, 2, 1, 1, 1, 0],
            value: SnmpValue::Null,
        }],
        dropped_varbinds: 0,
    };
    let a = udp_ask(addr, &encode_community(1, community.as_bytes(), &pdu)).await?;
    match Message::decode(&a) {
        Ok(Message::Community { pdu, .. }) => match pdu.varbinds.first().map(|v| &v.value) {
            Some(SnmpValue::Octets(d)) => Ok(format!("sysDescr: {}", printable(d))),
            Some(other) => Err(format!("sysDescr is {other:?} (error status {})", pdu.error_status)),
            None => Err(format!("no binding (error status {})", pdu.error_status)),
        },
        Ok(_) => Err("an SNMPv3 answer to a v2c request".into()),
        Err(e) => Err(format!("not SNMP: {e:?}")),
    }
}

async fn tftp(addr: SocketAddr) -> Outcome {
    // RRQ for a name no device holds: the ERROR answer shows the server is there without
    // transferring anything (a DATA answer is acknowledged as well).
    let a = udp_ask(addr, b"\x00\x01conpot-selftest.txt\x00octet\x00").await?;
    match (a.first(), a.get(1)) {
        (Some(0), Some(3)) => Ok(format!("RRQ: DATA block 1, {} bytes", a.len().saturating_sub(4))),
        (Some(0), Some(5)) => Ok(format!(
            "RRQ: ERROR {}: {}",
            a.get(3).copied().unwrap_or(0),
            printable(a.get(4..).unwrap_or_default())
        )),
        _ => Err(format!(
            "not TFTP: {:02x?}",
            a.get(..a.len().min(8)).unwrap_or_default()
        )),
    }
}

/// RMCP + IPMI 1.5 session-less Get Channel Authentication Capabilities (channel: this
/// one, administrator, asking for the IPMI 2.0 extensions), as ipmitool and scanners send.
const IPMI_AUTH_CAPS: [u8; 23] = [
    0x06, 0x00, 0xFF, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xC8, 0x81, 0x00, 0x38, 0x8E, 0x04, 0xB5,
];

async fn ipmi(addr: SocketAddr) -> Outcome {
    let a = udp_ask(addr, &IPMI_AUTH_CAPS).await?;
    // RMCP (4), auth type (1), sequence (4), session id (4), length (1), then the message.
    let msg = a.get(14..).ok_or("answer too short")?;
    match (msg.get(5), msg.get(6), msg.get(7), msg.get(8), msg.get(10)) {
        (Some(0x38), Some(0), Some(&channel), Some(&auth), ext) => {
            let names: Vec<&str> = [
                (0x01, "none"),
                (0x02, "MD2"),
                (0x04, "MD5"),
                (0x10, "password"),
                (0x20, "OEM"),
            ]
            .iter()
            .filter(|(bit, _)| auth & bit != 0)
            .map(|(_, n)| *n)
            .collect();
            let v2 = if ext.is_some_and(|e| e & 0x02 != 0) {
                ", IPMI 2.0"
            } else {
                ""
            };
            Ok(format!("channel {channel}, auth {}{v2}", names.join("+")))
        }
        (Some(0x38), Some(&cc), ..) => Ok(format!("completion code 0x{cc:02X}")),
        _ => Err(format!(
            "not an IPMI answer: {:02x?}",
            a.get(..a.len().min(16)).unwrap_or_default()
        )),
    }
}

async fn bacnet(addr: SocketAddr) -> Outcome {
    // BVLC original-unicast, NPDU without routing, unconfirmed Who-Is without a range.
    let a = udp_ask(addr, &[0x81, 0x0A, 0x00, 0x08, 0x01, 0x00, 0x10, 0x08]).await?;
    // I-Am: ... 0x10 0x00, then the device's object identifier (application tag 12).
    let at = a
        .windows(3)
        .position(|w| w == [0x10, 0x00, 0xC4])
        .ok_or("no I-Am in the answer")?;
    let id = a.get(at + 3..at + 7).ok_or("I-Am too short")?;
    let oid = u32::from_be_bytes([
        *id.first().unwrap_or(&0),
        *id.get(1).unwrap_or(&0),
        *id.get(2).unwrap_or(&0),
        *id.get(3).unwrap_or(&0),
    ]);
    Ok(format!("I-Am device {}", oid & 0x3F_FFFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_folds_control_characters() {
        assert_eq!(
            printable(b"\r\n220 plc-123 FTP\r\n  ready\x00"),
            "220 plc-123 FTP ready"
        );
    }

    #[test]
    fn frames_are_whole_only_when_their_length_arrived() {
        assert!(!tpkt_done(&[3, 0, 0, 7, 1, 2]));
        assert!(tpkt_done(&[3, 0, 0, 7, 1, 2, 3]));
        assert!(!mbap_done(&[0, 1, 0, 0, 0, 5, 255, 3, 2, 0]));
        assert!(mbap_done(&[0, 1, 0, 0, 0, 5, 255, 3, 2, 0, 7]));
        assert!(ftp_done(b"220-hello\r\n220 ready\r\n"));
        assert!(!ftp_done(b"220-hello\r\n"));
    }

    #[test]
    fn device_identification_lists_objects() {
        let a = [
            0, 2, 0, 0, 0, 0, 255, 0x2B, 0x0E, 1, 1, 0, 0, 2, 0, 7, b'S', b'i', b'e', b'm', b'e', b'n', b's', 1, 2,
            b'X', b'1',
        ];
        assert_eq!(device_identification(&a), "Siemens / X1");
        assert_eq!(
            device_identification(&[0, 2, 0, 0, 0, 3, 255, 0xAB, 2]),
            "device identification: exception 2"
        );
    }

    fn section(body: SectionBody) -> ProtocolSection {
        ProtocolSection {
            name: "modbus".into(),
            enabled: true,
            host: "127.0.0.1".into(),
            port: 0,
            file: "t".into(),
            body,
        }
    }

    #[test]
    fn modbus_unit_prefers_255_then_the_first_slave() {
        let toml = |t: &str| section(SectionBody::Toml(t.parse().unwrap()));
        assert_eq!(modbus_unit(&toml("")), 255);
        assert_eq!(modbus_unit(&toml("slaves = [{ id = 3 }, { id = 255 }]")), 255);
        assert_eq!(modbus_unit(&toml("slaves = [{ id = 7 }, { id = 9 }]")), 7);
        let xml = section(SectionBody::ConpotXml(
            r#"<slaves><slave id="1"></slave><slave id="2"/></slaves>"#.into(),
        ));
        assert_eq!(modbus_unit(&xml), 1);
    }

    #[test]
    fn enip_identity_reads_the_name() {
        let mut a = vec![0u8; 63];
        a[0] = 0x63;
        a[48] = 1;
        a[52] = 0x37;
        a[54] = 20;
        a[55] = 11;
        a[58..62].copy_from_slice(&0x00C0FFEEu32.to_le_bytes());
        a[62] = 4;
        a.extend_from_slice(b"1756");
        assert_eq!(
            enip_identity(a).unwrap(),
            "1756, vendor 1, product code 55, rev 20.11, serial 00C0FFEE"
        );
        assert!(enip_identity(vec![0x63, 0]).is_err());
    }
}
