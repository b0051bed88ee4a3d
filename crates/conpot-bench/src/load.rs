//! The load modes and the bare responder.

// guardian (issue 15)
pub mod guardian;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::drive::{self, OnError, StepFuture};

/// Read Holding Registers, address 0, one register, unit 255.
const REQUEST: [u8; 12] = [0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0xFF, 0x03, 0x00, 0x00, 0x00, 0x01];
/// Its reply: MBAP (7) + function, byte count, one register.
const REPLY_LEN: usize = 11;

/// What a throughput run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Mode label.
    pub label: String,
    /// Completed requests.
    pub requests: u64,
    /// Failed requests or connections.
    pub errors: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Latencies in microseconds, sorted.
    pub latencies: Vec<u32>,
}

impl Report {
    /// Requests (or connections) per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency percentile in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies.get(i).copied().unwrap_or(0)) / 1000.0
    }

    /// One-line summary.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} ok, {} errors in {:.1} s = {:.0}/s; latency p50 {:.3} ms, p99 {:.3} ms",
            self.label,
            self.requests,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99)
        )
    }
}

async fn exchange(s: &mut TcpStream, reply: &mut [u8; REPLY_LEN]) -> std::io::Result<()> {
    s.write_all(&REQUEST).await?;
    s.read_exact(reply).await?;
    if reply[7] != 0x03 {
        return Err(std::io::Error::other("unexpected reply"));
    }
    Ok(())
}

pub(crate) fn merge(label: &str, parts: Vec<(u64, u64, Vec<u32>)>, elapsed: Duration) -> Report {
    let mut r = Report {
        label: label.to_owned(),
        elapsed,
        ..Report::default()
    };
    for (ok, err, lat) in parts {
        r.requests += ok;
        r.errors += err;
        r.latencies.extend(lat);
    }
    r.latencies.sort_unstable();
    r
}

/// `connections` connections each sending requests back to back for `duration`.
pub async fn modbus(target: SocketAddr, connections: usize, duration: Duration) -> Report {
    drive::tasks(
        &format!("modbus {connections} conns"),
        connections,
        duration,
        OnError::Stop,
        move |_| async move {
            let s = TcpStream::connect(target).await?;
            let _ = s.set_nodelay(true);
            Ok((s, [0u8; REPLY_LEN]))
        },
        |(s, reply)| Box::pin(exchange(s, reply)),
    )
    .await
}

/// Reads one HTTP response with a `Content-Length` from `s` (`buf` keeps what follows it);
/// returns its status.
/// The status and whole length of the response at the start of `buf`, once its head is
/// in (the body is `Content-Length` bytes).
pub(crate) fn response_head(buf: &[u8]) -> Option<(u16, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned();
    let status = head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Some((status, end + 4 + len))
}

async fn http_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((status, total)) = response_head(buf) {
            while buf.len() < total {
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::other("closed"));
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            buf.drain(..total);
            return Ok(status);
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// `connections` keep-alive connections each sending `GET path` back to back for `duration`.
pub async fn http(target: SocketAddr, path: &str, connections: usize, duration: Duration) -> Report {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: conpot-bench\r\n\r\n").into_bytes();
    let request = std::sync::Arc::new(request);
    drive::tasks(
        &format!("http {connections} conns"),
        connections,
        duration,
        OnError::Stop,
        move |_| {
            let request = std::sync::Arc::clone(&request);
            async move {
                let s = TcpStream::connect(target).await?;
                let _ = s.set_nodelay(true);
                Ok((s, request, Vec::new()))
            }
        },
        |(s, request, buf)| {
            Box::pin(async move {
                s.write_all(request).await?;
                match http_response(s, buf).await? {
                    200 => Ok(()),
                    other => Err(std::io::Error::other(format!("status {other}"))),
                }
            })
        },
    )
    .await
}

/// A source address on the loopback network for worker `i` (spreads per-source limits).
pub(crate) fn source(i: usize) -> SocketAddr {
    let n = (i % 250) as u8 + 1;
    SocketAddr::from(([127, 0, 1, n], 0))
}

pub(crate) async fn connect_from(target: SocketAddr, i: usize) -> std::io::Result<TcpStream> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if target.ip().is_loopback() && target.is_ipv4() {
        sock.bind(source(i))?;
    }
    sock.connect(target).await
}

/// `workers` workers each opening a connection, sending one request, reading the reply
/// and closing, for `duration`.
pub async fn connect(target: SocketAddr, workers: usize, duration: Duration) -> Report {
    sessions(
        &format!("connect {workers} workers"),
        workers,
        duration,
        move |i| async move {
            let mut s = connect_from(target, i).await?;
            let _ = s.set_nodelay(true);
            exchange(&mut s, &mut [0u8; REPLY_LEN]).await
        },
    )
    .await
}

/// Runs `workers` workers, each running `session(i)` back to back for `duration`, and
/// reports how many succeeded and how long each took.
pub(crate) async fn sessions<F, Fut>(label: &str, workers: usize, duration: Duration, session: F) -> Report
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    drive::tasks(
        label,
        workers,
        duration,
        OnError::Next,
        |w| async move { Ok(w) },
        move |i| {
            *i += workers;
            Box::pin(session(*i))
        },
    )
    .await
}

/// COTP connection request (rack 0, slot 2), setup communication, SZL 0x001C read.
const S7_CR: [u8; 22] = [
    3, 0, 0, 22, 17, 0xE0, 0, 0, 0, 1, 0, 0xC1, 2, 1, 0, 0xC2, 2, 1, 2, 0xC0, 1, 0x0A,
];
const S7_SETUP: [u8; 25] = [
    3, 0, 0, 25, 2, 0xF0, 0x80, 0x32, 1, 0, 0, 0, 0, 0, 8, 0, 0, 0xF0, 0, 0, 1, 0, 1, 1, 0xE0,
];
const S7_SZL: [u8; 33] = [
    3, 0, 0, 33, 2, 0xF0, 0x80, 0x32, 7, 0, 0, 0, 1, 0, 8, 0, 8, 0, 1, 0x12, 4, 0x11, 0x44, 1, 0, 0xFF, 9, 0, 4, 0,
    0x1C, 0, 1,
];

async fn read_tpkt(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut rest = vec![0u8; len.saturating_sub(4)];
    s.read_exact(&mut rest).await?;
    Ok(rest)
}

/// `workers` workers each running whole S7 sessions (connect, COTP, setup, one SZL read,
/// close) back to back for `duration`.
pub async fn s7(target: SocketAddr, workers: usize, duration: Duration) -> Report {
    sessions(
        &format!("s7 sessions, {workers} workers"),
        workers,
        duration,
        move |i| async move {
            let mut s = connect_from(target, i).await?;
            let _ = s.set_nodelay(true);
            s.write_all(&S7_CR).await?;
            let cc = read_tpkt(&mut s).await?;
            s.write_all(&S7_SETUP).await?;
            read_tpkt(&mut s).await?;
            s.write_all(&S7_SZL).await?;
            let szl = read_tpkt(&mut s).await?;
            if cc.get(1) != Some(&0xD0) || szl.get(3) != Some(&0x32) {
                return Err(std::io::Error::other("not an S7 answer"));
            }
            Ok(())
        },
    )
    .await
}

/// Reads until what was read ends with `end`; at most 64 KiB.
async fn read_until(s: &mut TcpStream, end: &[u8], buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(end) {
        let n = s.read(&mut chunk).await?;
        if n == 0 || buf.len() > 65_536 {
            return Err(std::io::Error::other("telnet session ended early"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(())
}

/// `workers` workers each running whole Telnet console sessions back to back for
/// `duration`: connect, log in as `user` with `password`, three `show` commands, logout.
pub async fn telnet(target: SocketAddr, workers: usize, duration: Duration, user: String, password: String) -> Report {
    let login = std::sync::Arc::new(format!("{user}\r\n{password}\r\n").into_bytes());
    sessions(
        &format!("telnet sessions, {workers} workers"),
        workers,
        duration,
        move |i| {
            let login = std::sync::Arc::clone(&login);
            async move {
                let mut s = connect_from(target, i).await?;
                let _ = s.set_nodelay(true);
                let mut buf = Vec::with_capacity(4096);
                read_until(&mut s, b"login: ", &mut buf).await?;
                s.write_all(&login).await?;
                read_until(&mut s, b">", &mut buf).await?;
                for cmd in [
                    &b"show version\r\n"[..],
                    b"show ip interface\r\n",
                    b"show interfaces status\r\n",
                ] {
                    s.write_all(cmd).await?;
                    read_until(&mut s, b">", &mut buf).await?;
                }
                s.write_all(b"logout\r\n").await?;
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).await?;
                Ok(())
            }
        },
    )
    .await
}

/// C connections each sending Modbus RTU-over-TCP Read Holding Registers (slave 1,
/// address 0, 2 registers) back to back for `duration`.
pub async fn rtu(target: SocketAddr, connections: usize, duration: Duration) -> Report {
    const REQ: [u8; 8] = [1, 3, 0, 0, 0, 2, 0xC4, 0x0B];
    sessions_persistent(
        &format!("rtu over tcp, {connections} connections"),
        target,
        connections,
        duration,
        |s| {
            Box::pin(async move {
                s.write_all(&REQ).await?;
                let mut reply = [0u8; 9];
                s.read_exact(&mut reply).await?;
                if reply.get(..3) != Some(&[1, 3, 4][..]) {
                    return Err(std::io::Error::other("not an RTU answer"));
                }
                Ok(())
            })
        },
    )
    .await
}

/// `connections` connections (from spread loopback sources), each running `exchange`
/// back to back for `duration`; a failed exchange ends its connection.
pub(crate) async fn sessions_persistent<Step>(
    label: &str,
    target: SocketAddr,
    connections: usize,
    duration: Duration,
    exchange: Step,
) -> Report
where
    Step: for<'a> Fn(&'a mut TcpStream) -> StepFuture<'a> + Clone + Send + 'static,
{
    drive::tasks(
        label,
        connections,
        duration,
        OnError::Stop,
        move |c| async move {
            let s = connect_from(target, c).await?;
            let _ = s.set_nodelay(true);
            Ok(s)
        },
        exchange,
    )
    .await
}

/// An SNMPv2c GET of sysDescr.0 with community `public` (request id patched per send).
const SNMP_GET: [u8; 41] = [
    0x30, 0x27, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xA0, 0x1A, 0x02, 0x02, 0x00, 0x00,
    0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0E, 0x30, 0x0C, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01,
    0x00, 0x05, 0x00,
];

/// Keeps `outstanding` SNMP GETs in flight from one socket for `duration`; counts answers.
pub async fn snmp(target: SocketAddr, outstanding: usize, duration: Duration) -> Report {
    let start = Instant::now();
    let deadline = start + duration;
    let Ok(sock) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else {
        return Report {
            label: "snmp".into(),
            errors: 1,
            ..Report::default()
        };
    };
    let mut sent_at = std::collections::HashMap::new();
    let mut next_id: u16 = 0;
    let (mut ok, mut lost) = (0u64, 0u64);
    let mut lat = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut send = |sock: &tokio::net::UdpSocket, sent_at: &mut std::collections::HashMap<u16, Instant>| {
        next_id = next_id.wrapping_add(1);
        let mut req = SNMP_GET;
        req[17..19].copy_from_slice(&next_id.to_be_bytes());
        sent_at.insert(next_id, Instant::now());
        let _ = sock.try_send_to(&req, target);
    };
    for _ in 0..outstanding {
        send(&sock, &mut sent_at);
    }
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                // The request id sits at the same offset in the answer.
                let id = buf
                    .get(17..19)
                    .filter(|_| n > 19)
                    .map_or(0, |b| u16::from_be_bytes(<[u8; 2]>::try_from(b).unwrap_or_default()));
                if let Some(t) = sent_at.remove(&id) {
                    ok += 1;
                    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
                send(&sock, &mut sent_at);
            }
            _ => {
                lost += sent_at.len() as u64;
                sent_at.clear();
                for _ in 0..outstanding {
                    send(&sock, &mut sent_at);
                }
            }
        }
    }
    merge(
        &format!("snmp {outstanding} outstanding"),
        vec![(ok, lost, lat)],
        start.elapsed(),
    )
}

/// Opens `count` idle connections; returns how many were held and the server's added RSS.
pub async fn idle(target: SocketAddr, count: usize, pid: u32) -> Result<(usize, f64), String> {
    let before = crate::proc_info::rss_mb(pid).ok_or("cannot read the server's memory")?;
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        match connect_from(target, i).await {
            Ok(s) => held.push(s),
            Err(e) => return Err(format!("connection {i} failed: {e}")),
        }
    }
    // Let the server accept and set up every session.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Every connection must still be open and served: one request on a sample of them.
    let mut reply = [0u8; REPLY_LEN];
    for s in held.iter_mut().step_by((count / 50).max(1)) {
        exchange(s, &mut reply)
            .await
            .map_err(|e| format!("a held connection was not served: {e}"))?;
    }
    let after = crate::proc_info::rss_mb(pid).ok_or("cannot read the server's memory")?;
    Ok((held.len(), after - before))
}

/// Skips one BER tag-length header at `at`; returns where its content starts and its length.
fn ber_header(msg: &[u8], at: usize) -> Option<(usize, usize)> {
    let first = usize::from(*msg.get(at + 1)?);
    if first < 0x80 {
        return Some((at + 2, first));
    }
    let n = first & 0x7f;
    if n == 0 || n > 2 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = len << 8 | usize::from(*msg.get(at + 2 + i)?);
    }
    Some((at + 2 + n, len))
}

/// Turns an SNMP request in place into its echo as a GetResponse: the PDU tag after the
/// version and community becomes 0xA2, everything else stays (varbinds and request id as
/// sent). `None` if the message is not shaped as SNMP v1/v2c.
pub fn snmp_echo(msg: &mut [u8]) -> Option<()> {
    if *msg.first()? != 0x30 {
        return None;
    }
    let (version, _) = ber_header(msg, 0)?;
    let (v_body, v_len) = ber_header(msg, version)?;
    let community = v_body + v_len;
    let (c_body, c_len) = ber_header(msg, community)?;
    let pdu = msg.get_mut(c_body + c_len)?;
    if !(0xA0..=0xA5).contains(pdu) {
        return None;
    }
    *pdu = 0xA2;
    Some(())
}

/// The bare SNMP responder: every datagram that looks like SNMP goes back as a GetResponse
/// echo ([`snmp_echo`]), without decoding the varbinds or logging: the ceiling the `snmp`
/// load reaches on this machine, for the ratio conpot's SNMP is held to.
async fn bare_snmp(sock: tokio::net::UdpSocket) {
    let mut buf = [0u8; 2048];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(msg) = buf.get_mut(..n)
            && snmp_echo(msg).is_some()
        {
            let _ = sock.send_to(msg, peer).await;
        }
    }
}

/// The reference responder: for every 12 bytes received, one fixed 11-byte reply; beside it,
/// on a UDP port of its own, the bare SNMP responder ([`bare_snmp`]).
pub async fn bare(listen: SocketAddr) -> std::io::Result<()> {
    let udp = tokio::net::UdpSocket::bind(SocketAddr::new(listen.ip(), 0)).await?;
    // Printed first: the suite reads this line, then waits for the TCP one.
    println!("bare snmp udp {}", udp.local_addr()?);
    tokio::spawn(bare_snmp(udp));
    let l = TcpListener::bind(listen).await?;
    println!("bare responder on {}", l.local_addr()?);
    loop {
        let (mut s, _) = l.accept().await?;
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let reply = [0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0xFF, 0x03, 0x02, 0x00, 0x00];
            let mut buf = [0u8; 4096];
            let mut pending = 0usize;
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                pending += n;
                let mut out = Vec::new();
                while pending >= REQUEST.len() {
                    pending -= REQUEST.len();
                    out.extend_from_slice(&reply);
                }
                if !out.is_empty() && s.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// EtherNet/IP RegisterSession (protocol version 1).
const ENIP_REGISTER: [u8; 28] = [
    0x65, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
];

/// SendRRData with Get_Attributes_All of the Identity object (session handle patched).
const ENIP_GAA: [u8; 46] = [
    0x6f, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0, 2, 0, 0, 0, 0, 0,
    0xb2, 0, 6, 0, 0x01, 0x02, 0x20, 0x01, 0x24, 0x01,
];

async fn read_encap(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 24];
    s.read_exact(&mut head).await?;
    let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    let mut msg = head.to_vec();
    msg.extend_from_slice(&body);
    Ok(msg)
}

/// C workers, each running whole EtherNet/IP sessions (RegisterSession, then
/// Get_Attributes_All of the Identity object) for `duration`.
pub async fn enip(target: SocketAddr, workers: usize, duration: Duration) -> Report {
    sessions(
        &format!("enip sessions, {workers} workers"),
        workers,
        duration,
        move |i| async move {
            let mut s = connect_from(target, i).await?;
            let _ = s.set_nodelay(true);
            s.write_all(&ENIP_REGISTER).await?;
            let reg = read_encap(&mut s).await?;
            let mut gaa = ENIP_GAA;
            gaa[4..8].copy_from_slice(reg.get(4..8).unwrap_or(&[0; 4]));
            s.write_all(&gaa).await?;
            let reply = read_encap(&mut s).await?;
            // The CIP reply (0x81, status 0) after the CPF items.
            if reg.get(8..12) != Some(&[0; 4]) || reply.get(40..43) != Some(&[0x81, 0, 0]) {
                return Err(std::io::Error::other("not an EtherNet/IP answer"));
            }
            Ok(())
        },
    )
    .await
}

/// KMP GetRegister of registers 13, 1054 and 1024 to address 0x3F (as a Kamstrup reading
/// head sends it: the stuffed 0x0D of register 13 included).
const KMP_GET_REGISTER: [u8; 14] = [
    0x80, 0x3F, 0x10, 0x03, 0x00, 0x1B, 0xF2, 0x04, 0x1E, 0x04, 0x00, 0xF6, 0x4D, 0x0D,
];

/// `connections` connections, each sending KMP GetRegister back to back for `duration`
/// (run the meter with `response_time_ms = [0, 0]` to measure the server, not the delay).
pub async fn kmp(target: SocketAddr, connections: usize, duration: Duration) -> Report {
    sessions_persistent(
        &format!("kmp get-register, {connections} connections"),
        target,
        connections,
        duration,
        |s| {
            Box::pin(async move {
                s.write_all(&KMP_GET_REGISTER).await?;
                // A reply ends at its first 0x0D (stuffing escapes every other one).
                let mut buf = [0u8; 256];
                let mut got = 0;
                loop {
                    let n = s.read(buf.get_mut(got..).unwrap_or_default()).await?;
                    if n == 0 {
                        return Err(std::io::Error::other("closed"));
                    }
                    got += n;
                    if buf.get(..got).is_some_and(|b| b.last() == Some(&0x0D)) {
                        break;
                    }
                    if got >= buf.len() {
                        return Err(std::io::Error::other("reply too long"));
                    }
                }
                if buf.first() != Some(&0x40) {
                    return Err(std::io::Error::other("not a KMP reply"));
                }
                Ok(())
            })
        },
    )
    .await
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_bare_snmp_responder_echoes_a_get_as_a_get_response() {
        let mut msg = SNMP_GET;
        assert_eq!(snmp_echo(&mut msg), Some(()));
        assert_eq!(msg[13], 0xA2, "the PDU tag");
        let mut expected = SNMP_GET;
        expected[13] = 0xA2;
        assert_eq!(msg, expected, "nothing else changed");
        // Not SNMP, or cut short: left alone.
        assert_eq!(snmp_echo(&mut [0x30]), None);
        assert_eq!(snmp_echo(&mut [0x31, 0x00]), None);
        let mut short = SNMP_GET[..13].to_vec();
        assert_eq!(snmp_echo(&mut short), None);
        // A long-form length is followed.
        let mut long = vec![0x30, 0x81, 0x27];
        long.extend_from_slice(&SNMP_GET[2..]);
        assert_eq!(snmp_echo(&mut long), Some(()));
        assert_eq!(long[14], 0xA2);
    }
}
