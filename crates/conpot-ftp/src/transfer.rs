//! Data channels and the transfers over them.
//!
//! A data channel is set up by `PASV`/`EPSV` (the listener opens a data listener that
//! accepts only the control connection's peer) or `PORT`/`EPRT` (the listener connects
//! back when a transfer starts, to the peer only). A transfer takes the channel: a
//! download sends its bytes one chunk at a time, the next when the listener reports the
//! previous one written ([`IoEvent::Drained`](conpot_core::protocol::IoEvent)), so at most
//! one chunk is ever queued; an upload collects what arrives until the client closes,
//! keeping at most the filesystem's largest file (and counting the rest).

use std::net::SocketAddr;
use std::time::SystemTime;

use conpot_core::protocol::ChannelId;
use conpot_core::vfs::{VPath, WriteMode};

/// Bytes handed to the listener per send.
pub const CHUNK: usize = 64 * 1024;
/// Bytes kept that arrive on a data connection before a transfer uses it.
pub const MAX_EARLY: usize = 64 * 1024;

/// How the data connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// The client connects to a listener we opened (`PASV`, `EPSV`).
    Passive,
    /// We connect to the client (`PORT`, `EPRT`) when a transfer starts.
    Active(SocketAddr),
}

/// The data channel prepared for the next transfer.
#[derive(Debug, Clone)]
pub struct DataChannel {
    /// The channel id.
    pub id: ChannelId,
    /// Passive or active.
    pub mode: DataMode,
    /// Passive: where the listener listens, once it does.
    pub local: Option<SocketAddr>,
    /// Whether the connection is established.
    pub connected: bool,
    /// Bytes that arrived before a transfer took the channel.
    pub early: Vec<u8>,
    /// Whether the client closed the connection before a transfer took it.
    pub eof: bool,
    /// Whether the listener was asked to open or connect it (so it must be closed).
    pub opened: bool,
}

impl DataChannel {
    /// A channel `id` in `mode`, not opened yet.
    pub fn new(id: ChannelId, mode: DataMode) -> Self {
        DataChannel {
            id,
            mode,
            local: None,
            connected: false,
            early: Vec::new(),
            eof: false,
            opened: false,
        }
    }

    /// Keeps bytes that arrived early, up to [`MAX_EARLY`].
    pub fn keep_early(&mut self, bytes: &[u8]) {
        let room = MAX_EARLY.saturating_sub(self.early.len());
        self.early
            .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }
}

/// What a download sends.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// Bytes made up front (a listing).
    Bytes(Vec<u8>),
    /// A file, read a chunk at a time as the listener asks for more: a transfer never
    /// holds a copy of the file.
    File {
        /// Where the download started (REST).
        start: u64,
        /// Where the next chunk is read (in the file's own bytes).
        offset: u64,
        /// The last byte sent, for ASCII conversion across chunks.
        prev: u8,
        /// Whether the end of the file was read.
        eof: bool,
        /// SHA-256 of the file's bytes sent so far (the `file.download` event's).
        hash: sha2::Sha256,
    },
}

/// Which way the bytes go.
#[derive(Debug, Clone)]
pub enum Direction {
    /// To the client: a file or a listing.
    Send {
        /// What is sent.
        source: Outgoing,
        /// Bytes handed to the listener (after ASCII conversion).
        sent: u64,
        /// Whether the listener was asked to close after the last chunk.
        closing: bool,
    },
    /// From the client: an upload.
    Receive {
        /// What was kept (at most `cap` bytes).
        buf: Vec<u8>,
        /// Everything that arrived.
        received: u64,
        /// Most bytes kept.
        cap: usize,
        /// How the file is written.
        mode: WriteMode,
    },
}

/// A transfer in progress.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// The data channel it runs on.
    pub channel: DataChannel,
    /// The command (`RETR`, `LIST`, `STOR`, ...).
    pub verb: &'static str,
    /// The file (downloads and uploads), as the client sees it.
    pub path: Option<VPath>,
    /// Bytes in and out.
    pub dir: Direction,
    /// Whether ASCII conversion applies (uploads convert when the transfer ends).
    pub ascii: bool,
    /// When it started.
    pub started: SystemTime,
    /// When bytes last moved (the transfer timeout counts from here).
    pub progress: SystemTime,
    /// Whether the `150` preliminary reply was sent.
    pub announced: bool,
}

impl Transfer {
    /// Takes bytes of an upload (ignored for a download).
    pub fn receive(&mut self, data: &[u8]) {
        if let Direction::Receive { buf, received, cap, .. } = &mut self.dir {
            *received = received.saturating_add(data.len() as u64);
            let room = cap.saturating_sub(buf.len());
            buf.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
        }
    }

    /// Bytes moved so far.
    pub fn bytes(&self) -> u64 {
        match &self.dir {
            Direction::Send { sent, .. } => *sent,
            Direction::Receive { received, .. } => *received,
        }
    }

    /// Whether this is an upload.
    pub fn is_upload(&self) -> bool {
        matches!(self.dir, Direction::Receive { .. })
    }
}

/// Parses `PORT h1,h2,h3,h4,p1,p2`.
pub fn parse_port(arg: &str) -> Option<SocketAddr> {
    let mut n = [0u8; 6];
    let mut parts = arg.trim().split(',');
    for slot in &mut n {
        *slot = parts.next()?.trim().parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let [a, b, c, d, p1, p2] = n;
    Some(SocketAddr::from(([a, b, c, d], u16::from(p1) << 8 | u16::from(p2))))
}

/// Parses `EPRT |proto|addr|port|` (RFC 2428; any delimiter from 33 to 126).
pub fn parse_eprt(arg: &str) -> Option<SocketAddr> {
    let arg = arg.trim();
    let delim = arg.chars().next().filter(|c| ('!'..='~').contains(c))?;
    let fields: Vec<&str> = arg.split(delim).collect();
    let [empty, proto, addr, port, end] = fields.as_slice() else {
        return None;
    };
    if !empty.is_empty() || !end.is_empty() {
        return None;
    }
    let ip: std::net::IpAddr = match *proto {
        "1" => std::net::IpAddr::V4(addr.parse().ok()?),
        "2" => std::net::IpAddr::V6(addr.parse().ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port.parse().ok()?))
}

/// The `227` text for a listener at `local`: its IPv4 address (an IPv4-mapped one as
/// IPv4) and port; `None` over IPv6 (the client must use EPSV).
pub fn pasv_text(local: SocketAddr) -> Option<String> {
    let ip = match local.ip().to_canonical() {
        std::net::IpAddr::V4(v4) => v4,
        std::net::IpAddr::V6(_) => return None,
    };
    let [a, b, c, d] = ip.octets();
    let p = local.port();
    Some(format!(
        "Entering Passive Mode ({a},{b},{c},{d},{},{}).",
        p >> 8,
        p & 0xff
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn port_arguments() {
        assert_eq!(
            parse_port("192,0,2,10,195,80"),
            Some("192.0.2.10:50000".parse().unwrap())
        );
        assert_eq!(parse_port("192,0,2,10,195"), None);
        assert_eq!(parse_port("192,0,2,300,1,1"), None);
        assert_eq!(
            parse_eprt("|1|192.0.2.10|50000|"),
            Some("192.0.2.10:50000".parse().unwrap())
        );
        assert_eq!(parse_eprt("|2|::1|6000|"), Some("[::1]:6000".parse().unwrap()));
        assert_eq!(parse_eprt("|3|x|1|"), None);
        assert_eq!(
            pasv_text("[::ffff:10.0.0.5]:60001".parse().unwrap()).unwrap(),
            "Entering Passive Mode (10,0,0,5,234,97)."
        );
        assert_eq!(pasv_text("[2001:db8::1]:60001".parse().unwrap()), None);
    }

    proptest! {
        #[test]
        fn port_round_trips(a in any::<[u8; 4]>(), port in any::<u16>()) {
            let text = format!("{},{},{},{},{},{}", a[0], a[1], a[2], a[3], port >> 8, port & 0xff);
            prop_assert_eq!(parse_port(&text), Some(SocketAddr::from((a, port))));
        }

        #[test]
        fn port_parsers_never_panic(s in ".{0,64}") {
            let _ = parse_port(&s);
            let _ = parse_eprt(&s);
        }
    }
}
