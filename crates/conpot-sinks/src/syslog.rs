//! The syslog transport (Conpot's `[syslog]`): RFC 5424 messages carrying the event's
//! envelope as structured data, or the BSD form (RFC 3164) Conpot's Python handler sends;
//! over UDP (one datagram each), TCP with octet-counting framing (RFC 6587), TLS with the
//! same framing (RFC 5425), or a local datagram socket such as `/dev/log`.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use conpot_core::time::Civil;

use crate::record::Record;
use crate::spec::{SyslogFormat, SyslogProtocol, SyslogSpec};
use crate::tls::{self, TlsStream};

/// The SD-ID of our structured data. 32473 is the private enterprise number RFC 5612
/// reserves for documentation; a deployment that owns a number can filter on the name.
pub const SD_ID: &str = "conpot@32473";

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Printable ASCII without spaces, at most `max` characters, `-` when nothing is left
/// (the header fields of RFC 5424 allow nothing else).
fn header_word(s: &str, max: usize) -> String {
    let w: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if w.is_empty() { "-".into() } else { w }
}

/// An SD-PARAM value with `"`, `\` and `]` escaped.
fn sd_value(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Cuts `msg` to at most `max` bytes on a character boundary.
fn cut(msg: &mut String, max: usize) {
    if msg.len() > max {
        let mut end = max;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
    }
}

/// The syslog message of `r` in `spec`'s format.
pub fn message(spec: &SyslogSpec, r: &Record) -> String {
    let pri = u32::from(spec.facility) * 8 + u32::from(spec.severity);
    let pid = std::process::id();
    let mut m = String::with_capacity(r.body.len() + 256);
    let t = Civil::from_system(UNIX_EPOCH + Duration::from_micros(u64::try_from(r.time_us).unwrap_or(0)));
    match spec.framing {
        SyslogFormat::Rfc5424 => {
            m.push_str(&format!(
                "<{pri}>1 {} {} {} {pid} {} [{SD_ID}",
                r.time,
                header_word(&r.sensor, 255),
                header_word(&spec.app_name, 48),
                header_word(&r.event_type, 32),
            ));
            let mut param = |name: &str, v: &str| {
                m.push_str(&format!(" {name}=\""));
                sd_value(&mut m, v);
                m.push('"');
            };
            param("event_id", &r.id);
            param("session_id", &r.session);
            param("sensor_id", &r.sensor);
            param("protocol", &r.protocol);
            param("transport", &r.transport);
            param("event_type", &r.event_type);
            if let (Some(ip), Some(port)) = (&r.src_ip, r.src_port) {
                param("src_ip", ip);
                param("src_port", &port.to_string());
            }
            if let (Some(ip), Some(port)) = (&r.dst_ip, r.dst_port) {
                param("dst_ip", ip);
                param("dst_port", &port.to_string());
            }
            m.push_str("] ");
        }
        SyslogFormat::Rfc3164 => {
            let month = MONTHS.get(t.month.saturating_sub(1) as usize).copied().unwrap_or("Jan");
            // A local socket's messages carry no HOSTNAME (syslog(3) sends none; the
            // daemon adds its own).
            let host = if spec.protocol == SyslogProtocol::Unix {
                String::new()
            } else {
                format!("{} ", header_word(&r.sensor, 255))
            };
            m.push_str(&format!(
                "<{pri}>{month} {:>2} {:02}:{:02}:{:02} {host}{}[{pid}]: ",
                t.day,
                t.hour,
                t.minute,
                t.second,
                header_word(&spec.app_name, 32),
            ));
        }
    }
    m.push_str(&r.body);
    cut(&mut m, spec.max_message);
    m
}

enum Socket {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
    Unix(UnixDatagram),
}

/// A syslog destination.
pub struct Syslog {
    spec: SyslogSpec,
    socket: Option<Socket>,
    out: Vec<u8>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syslog").field("spec", &self.spec).finish()
    }
}

impl Syslog {
    /// A sender to `spec`'s destination; the socket is made on the first batch (the TLS
    /// trust roots are read now, so a bad CA file stops the start).
    pub fn new(spec: SyslogSpec) -> io::Result<Syslog> {
        let tls = if spec.protocol == SyslogProtocol::Tls {
            Some(tls::client_config(spec.ca_file.as_deref())?)
        } else {
            None
        };
        Ok(Syslog {
            spec,
            socket: None,
            out: Vec::new(),
            tls,
        })
    }

    fn connect(&self) -> io::Result<Socket> {
        let s = &self.spec;
        match s.protocol {
            SyslogProtocol::Unix => {
                let sock = UnixDatagram::unbound()?;
                sock.connect(&s.path)?;
                Ok(Socket::Unix(sock))
            }
            SyslogProtocol::Udp | SyslogProtocol::Tcp | SyslogProtocol::Tls => {
                let addr = (s.host.as_str(), s.port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {}", s.host)))?;
                if s.protocol == SyslogProtocol::Udp {
                    let local: std::net::SocketAddr = if addr.is_ipv4() {
                        ([0, 0, 0, 0], 0).into()
                    } else {
                        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                    };
                    let sock = UdpSocket::bind(local)?;
                    sock.connect(addr)?;
                    Ok(Socket::Udp(sock))
                } else {
                    let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
                    sock.set_write_timeout(Some(Duration::from_secs(5)))?;
                    sock.set_nodelay(true)?;
                    match &self.tls {
                        Some(config) => {
                            sock.set_read_timeout(Some(Duration::from_secs(5)))?;
                            Ok(Socket::Tls(Box::new(tls::connect(config, &s.host, sock)?)))
                        }
                        None => Ok(Socket::Tcp(sock)),
                    }
                }
            }
        }
    }

    /// Whether a kept TCP connection was closed by the receiver: writing into it would
    /// seem to succeed while the data goes nowhere.
    fn closed(stream: &TcpStream) -> bool {
        let mut b = [0u8; 1];
        if stream.set_nonblocking(true).is_err() {
            return true;
        }
        let gone = match stream.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        gone || stream.set_nonblocking(false).is_err()
    }

    /// The batch with octet-counting framing, in `self.out`.
    fn framed(&mut self, batch: &[Record]) {
        self.out.clear();
        for r in batch {
            let m = message(&self.spec, r);
            self.out.extend_from_slice(format!("{} ", m.len()).as_bytes());
            self.out.extend_from_slice(m.as_bytes());
        }
    }

    /// Whether the receiver sent anything on `stream` (without taking it).
    fn readable(stream: &TcpStream) -> bool {
        let mut b = [0u8; 1];
        if stream.set_nonblocking(true).is_err() {
            return true;
        }
        let got = matches!(stream.peek(&mut b), Ok(n) if n > 0);
        got || stream.set_nonblocking(false).is_err()
    }

    fn send(&mut self, socket: &mut Socket, batch: &[Record]) -> io::Result<()> {
        match socket {
            Socket::Tcp(stream) => {
                self.framed(batch);
                stream.write_all(&self.out)?;
                stream.flush()
            }
            Socket::Tls(stream) => {
                self.framed(batch);
                stream.write_all(&self.out)?;
                stream.flush()
            }
            Socket::Udp(sock) => {
                for r in batch {
                    sock.send(message(&self.spec, r).as_bytes())?;
                }
                Ok(())
            }
            Socket::Unix(sock) => {
                for r in batch {
                    sock.send(message(&self.spec, r).as_bytes())?;
                }
                Ok(())
            }
        }
    }
}

impl crate::Deliver for Syslog {
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        let mut socket = match self.socket.take() {
            Some(Socket::Tcp(s)) if Self::closed(&s) => self.connect()?,
            // A receiver sends nothing over syslog-TLS but its close_notify alert: anything
            // to read means the session is ending.
            Some(Socket::Tls(s)) if Self::closed(&s.sock) || Self::readable(&s.sock) => self.connect()?,
            Some(s) => s,
            None => self.connect()?,
        };
        self.send(&mut socket, batch)?;
        self.socket = Some(socket);
        Ok(())
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.socket = None;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            id: "0190f0c2-0000-7000-8000-000000000001".into(),
            time: "2026-11-25T13:01:42.444137Z".into(),
            time_us: 1_795_611_702_444_137,
            sensor: "sensor 7".into(),
            session: "s".into(),
            protocol: "modbus".into(),
            transport: "tcp".into(),
            event_type: "modbus.request".into(),
            src_ip: Some("198.51.100.4".into()),
            src_port: Some(40001),
            dst_ip: None,
            dst_port: None,
            file: None,
            body: "{\"a\":\"]\\\"\"}".into(),
        }
    }

    fn spec(framing: SyslogFormat) -> SyslogSpec {
        SyslogSpec {
            protocol: SyslogProtocol::Udp,
            host: "localhost".into(),
            port: 514,
            path: Default::default(),
            framing,
            facility: 16,
            severity: 6,
            app_name: "conpot".into(),
            max_message: 8192,
            ca_file: None,
        }
    }

    #[test]
    fn rfc5424_header_and_structured_data() {
        let m = message(&spec(SyslogFormat::Rfc5424), &record());
        let pid = std::process::id();
        assert_eq!(
            m,
            format!(
                "<134>1 2026-11-25T13:01:42.444137Z sensor7 conpot {pid} modbus.request [conpot@32473 event_id=\"0190f0c2-0000-7000-8000-000000000001\" session_id=\"s\" sensor_id=\"sensor 7\" protocol=\"modbus\" transport=\"tcp\" event_type=\"modbus.request\" src_ip=\"198.51.100.4\" src_port=\"40001\"] {{\"a\":\"]\\\"\"}}"
            )
        );
    }

    #[test]
    fn rfc3164_form_and_cut() {
        let mut s = spec(SyslogFormat::Rfc3164);
        let m = message(&s, &record());
        assert!(
            m.starts_with(&format!(
                "<134>Nov 25 13:01:42 sensor7 conpot[{}]: {{",
                std::process::id()
            )),
            "{m}"
        );
        s.protocol = SyslogProtocol::Unix;
        let local = message(&s, &record());
        assert!(
            local.starts_with(&format!("<134>Nov 25 13:01:42 conpot[{}]: {{", std::process::id())),
            "{local}"
        );
        s.max_message = 480;
        let mut r = record();
        r.body = "é".repeat(1000);
        assert!(message(&s, &r).len() <= 480);
    }
}
