//! The hpfeeds transport (Conpot's `[hpfriends]`): the hpfeeds3 wire protocol. A message
//! is a 32-bit big-endian length (of the whole message), an opcode byte and a payload;
//! the broker opens with `info` (its name and a nonce), the client answers `auth` with its
//! ident and SHA-1 of nonce and secret, then `publish`es every record to every configured
//! channel. The broker acknowledges nothing, so a sink with `confirm` also subscribes to
//! its first channel and counts a batch delivered only once the broker has sent its last
//! record back: without it, records in flight when the broker dies are lost unseen.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use crate::record::Record;
use crate::spec::HpfeedsSpec;

/// `error`: the broker refuses something (its text says what) and closes.
pub const OP_ERROR: u8 = 0;
/// `info`: the broker's name and the nonce of the authentication.
pub const OP_INFO: u8 = 1;
/// `auth`: ident and SHA-1(nonce + secret).
pub const OP_AUTH: u8 = 2;
/// `publish`: ident, channel, payload.
pub const OP_PUBLISH: u8 = 3;
/// `subscribe`: ident, channel.
pub const OP_SUBSCRIBE: u8 = 4;

/// Largest payload the reference broker takes (1 MiB); larger records are not sent.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// Length of the message header (length and opcode).
pub const HEADER: usize = 5;

/// How long the broker's `info`, and the echo of a confirmed batch, may take.
const READ_WAIT: Duration = Duration::from_secs(10);

/// How long a refused `auth` takes to be answered, at most (a connection is made once per
/// outage, so the wait costs little).
const AUTH_SETTLE: Duration = Duration::from_millis(500);

/// One message read from the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Opcode.
    pub op: u8,
    /// Payload (after the header).
    pub payload: Vec<u8>,
}

/// What a `publish` message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Ident of the publisher.
    pub ident: &'a [u8],
    /// Channel.
    pub channel: &'a [u8],
    /// Data.
    pub data: &'a [u8],
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Appends a length-prefixed (one byte) string, cut to 255 bytes (the form allows no more).
fn str8(out: &mut Vec<u8>, s: &[u8]) {
    let s = s.get(..255).unwrap_or(s);
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

/// Appends a message with `op` and the payload built by `body`.
fn message(out: &mut Vec<u8>, op: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, op]);
    body(out);
    let len = (out.len() - start) as u32;
    if let Some(h) = out.get_mut(start..start + 4) {
        h.copy_from_slice(&len.to_be_bytes());
    }
}

/// SHA-1 of `nonce` followed by `secret`: the proof of the secret `auth` carries.
pub fn auth_hash(nonce: &[u8], secret: &[u8]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(secret);
    h.finalize().into()
}

/// Appends an `auth` message.
pub fn auth(out: &mut Vec<u8>, ident: &str, nonce: &[u8], secret: &str) {
    message(out, OP_AUTH, |o| {
        str8(o, ident.as_bytes());
        o.extend_from_slice(&auth_hash(nonce, secret.as_bytes()));
    });
}

/// Appends a `publish` message.
pub fn publish(out: &mut Vec<u8>, ident: &str, channel: &str, data: &[u8]) {
    message(out, OP_PUBLISH, |o| {
        str8(o, ident.as_bytes());
        str8(o, channel.as_bytes());
        o.extend_from_slice(data);
    });
}

/// Appends a `subscribe` message.
pub fn subscribe(out: &mut Vec<u8>, ident: &str, channel: &str) {
    message(out, OP_SUBSCRIBE, |o| {
        str8(o, ident.as_bytes());
        o.extend_from_slice(channel.as_bytes());
    });
}

/// Splits a length-prefixed string off the front of `b`.
fn take_str8(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&n, rest) = b.split_first()?;
    let n = usize::from(n);
    Some((rest.get(..n)?, rest.get(n..)?))
}

/// The broker's name and nonce from an `info` payload.
pub fn read_info(payload: &[u8]) -> Option<(&[u8], &[u8])> {
    take_str8(payload)
}

/// The parts of a `publish` payload.
pub fn read_publish(payload: &[u8]) -> Option<Publish<'_>> {
    let (ident, rest) = take_str8(payload)?;
    let (channel, data) = take_str8(rest)?;
    Some(Publish { ident, channel, data })
}

/// Takes one whole message off the front of `buf`: `Ok(None)` while it is incomplete, an
/// error when its length is impossible (under the header, or a payload over `max`).
pub fn parse(buf: &mut Vec<u8>, max: usize) -> io::Result<Option<Message>> {
    let Some(&[a, b, c, d, op]) = buf.get(..HEADER) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if len < HEADER || len - HEADER > max {
        return Err(invalid(format!("hpfeeds message of {len} bytes")));
    }
    let Some(payload) = buf.get(HEADER..len) else {
        return Ok(None);
    };
    let payload = payload.to_vec();
    buf.drain(..len);
    Ok(Some(Message { op, payload }))
}

/// An hpfeeds publisher.
pub struct Hpfeeds {
    spec: HpfeedsSpec,
    conn: Option<Conn>,
    out: Vec<u8>,
}

struct Conn {
    stream: TcpStream,
    /// Bytes read and not parsed yet.
    inbuf: Vec<u8>,
}

impl std::fmt::Debug for Hpfeeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hpfeeds")
            .field("host", &self.spec.host)
            .field("port", &self.spec.port)
            .field("ident", &self.spec.ident)
            .field("channels", &self.spec.channels)
            .finish()
    }
}

impl Conn {
    /// Reads the next message, waiting until `deadline`.
    fn read(&mut self, deadline: Instant) -> io::Result<Message> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(m) = parse(&mut self.inbuf, MAX_PAYLOAD)? {
                return Ok(m);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "hpfeeds broker did not answer"));
            }
            self.stream.set_read_timeout(Some(left))?;
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "hpfeeds broker closed"));
            }
            self.inbuf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// Reads what the broker sent without waiting: an error when it closed or sent `error`
    /// (a refused ident or channel), so a dead connection is not written into.
    fn check(&mut self, confirm: bool) -> io::Result<()> {
        self.stream.set_nonblocking(true)?;
        let mut chunk = [0u8; 16 * 1024];
        let got = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break Err(io::Error::new(io::ErrorKind::UnexpectedEof, "hpfeeds broker closed")),
                Ok(n) => {
                    self.inbuf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    if self.inbuf.len() > 2 * MAX_PAYLOAD {
                        break Err(invalid("hpfeeds broker sends more than it should"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        got?;
        while let Some(m) = parse(&mut self.inbuf, MAX_PAYLOAD)? {
            match m.op {
                OP_ERROR => return Err(broker_error(&m.payload)),
                // Our own records coming back on the confirmed channel, from before.
                OP_PUBLISH if confirm => {}
                op => return Err(invalid(format!("unexpected hpfeeds message {op}"))),
            }
        }
        Ok(())
    }
}

fn broker_error(payload: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("hpfeeds broker: {}", String::from_utf8_lossy(payload)),
    )
}

impl Hpfeeds {
    /// A publisher to `spec`'s broker; it connects on the first batch.
    pub fn new(spec: HpfeedsSpec) -> Hpfeeds {
        Hpfeeds {
            spec,
            conn: None,
            out: Vec::new(),
        }
    }

    fn connect(&self) -> io::Result<Conn> {
        let s = &self.spec;
        let addr = (s.host.as_str(), s.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {}", s.host)))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            inbuf: Vec::new(),
        };
        let info = conn.read(Instant::now() + READ_WAIT)?;
        match info.op {
            OP_INFO => {}
            OP_ERROR => return Err(broker_error(&info.payload)),
            op => return Err(invalid(format!("hpfeeds broker opened with message {op}, not info"))),
        }
        let (_name, nonce) = read_info(&info.payload).ok_or_else(|| invalid("short hpfeeds info message"))?;
        let mut hello = Vec::new();
        auth(&mut hello, &s.ident, nonce, &s.secret);
        if s.confirm
            && let Some(first) = s.channels.first()
        {
            subscribe(&mut hello, &s.ident, first);
        }
        conn.stream.write_all(&hello)?;
        // The broker answers a good `auth` with silence and a bad one with `error` and a
        // close: wait a moment for that, so a wrong secret fails here rather than losing
        // the first batch into a closing connection.
        match conn.read(Instant::now() + AUTH_SETTLE) {
            Err(e) if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock => Ok(conn),
            Err(e) => Err(e),
            Ok(m) if m.op == OP_ERROR => Err(broker_error(&m.payload)),
            Ok(m) if m.op == OP_PUBLISH && s.confirm => Ok(conn),
            Ok(m) => Err(invalid(format!("unexpected hpfeeds message {} after auth", m.op))),
        }
    }

    /// Waits for the broker to send `last` back on the first channel.
    fn confirm(&self, conn: &mut Conn, last: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + READ_WAIT;
        let first = self.spec.channels.first().map(String::as_bytes).unwrap_or_default();
        loop {
            let m = conn.read(deadline)?;
            match m.op {
                OP_ERROR => return Err(broker_error(&m.payload)),
                OP_PUBLISH => {
                    if let Some(p) = read_publish(&m.payload)
                        && p.channel == first
                        && p.ident == self.spec.ident.as_bytes()
                        && p.data == last
                    {
                        return Ok(());
                    }
                }
                op => return Err(invalid(format!("unexpected hpfeeds message {op}"))),
            }
        }
    }
}

impl crate::Deliver for Hpfeeds {
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        self.publish_batch(batch)
    }
    fn reopen(&mut self) -> io::Result<()> {
        self.conn = None;
        Ok(())
    }
}
impl Hpfeeds {
    /// Publishes `batch` on a live connection (made anew when the last one is gone).
    fn publish_batch(&mut self, batch: &[Record]) -> io::Result<()> {
        let mut conn = match self.conn.take() {
            Some(mut c) => match c.check(self.spec.confirm) {
                Ok(()) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "hpfeeds connection lost; connecting again");
                    self.connect()?
                }
            },
            None => self.connect()?,
        };
        self.out.clear();
        let mut last: Option<&[u8]> = None;
        for r in batch {
            let data = r.body.as_bytes();
            if data.len() + 2 * 256 > MAX_PAYLOAD {
                tracing::warn!(event_id = %r.id, bytes = data.len(), "event too large for hpfeeds, not sent");
                continue;
            }
            for c in &self.spec.channels {
                publish(&mut self.out, &self.spec.ident, c, data);
            }
            last = Some(data);
        }
        conn.stream.write_all(&self.out)?;
        if self.spec.confirm
            && let Some(last) = last
        {
            self.confirm(&mut conn, last)?;
        }
        self.conn = Some(conn);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn auth_hashes_nonce_then_secret() {
        // SHA-1 of "abcdsecret", computed apart with sha1sum.
        let mut out = Vec::new();
        auth(&mut out, "bob", b"abcd", "secret");
        assert_eq!(&out[..5], &[0, 0, 0, 29, OP_AUTH]);
        assert_eq!(&out[5..9], b"\x03bob");
        assert_eq!(
            conpot_core::hex::encode(&out[9..]),
            "ee895c4fcd00f02507835e0e9554441bd8888388"
        );
        assert_eq!(out[9..], auth_hash(b"abcd", b"secret"));
        assert_ne!(auth_hash(b"abcd", b"secret"), auth_hash(b"secret", b"abcd"));
    }

    #[test]
    fn publish_round_trips_and_frames_split_anywhere_reassemble() {
        let mut out = Vec::new();
        publish(&mut out, "conpot", "conpot.events", b"{\"a\":1}");
        publish(&mut out, "conpot", "other", b"");
        for cut in 0..out.len() {
            let mut buf = out[..cut].to_vec();
            let mut got = Vec::new();
            while let Some(m) = parse(&mut buf, MAX_PAYLOAD).unwrap() {
                got.push(m);
            }
            buf.extend_from_slice(&out[cut..]);
            while let Some(m) = parse(&mut buf, MAX_PAYLOAD).unwrap() {
                got.push(m);
            }
            assert_eq!(got.len(), 2);
            assert!(buf.is_empty());
            let p = read_publish(&got[0].payload).unwrap();
            assert_eq!(
                (p.ident, p.channel, p.data),
                (&b"conpot"[..], &b"conpot.events"[..], &b"{\"a\":1}"[..])
            );
            assert_eq!(read_publish(&got[1].payload).unwrap().channel, b"other");
        }
    }

    #[test]
    fn impossible_lengths_are_refused() {
        let mut short = vec![0, 0, 0, 4, OP_INFO];
        assert!(parse(&mut short, MAX_PAYLOAD).is_err());
        let mut huge = vec![0xff, 0xff, 0xff, 0xff, OP_PUBLISH];
        assert!(parse(&mut huge, MAX_PAYLOAD).is_err());
        let mut info = Vec::new();
        message(&mut info, OP_INFO, |o| {
            str8(o, b"hpfeeds");
            o.extend_from_slice(&[1, 2, 3, 4]);
        });
        let m = parse(&mut info, 300).unwrap().unwrap();
        assert_eq!(read_info(&m.payload), Some((&b"hpfeeds"[..], &[1u8, 2, 3, 4][..])));
        assert_eq!(read_info(&[9, b'x']), None, "name longer than the payload");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_never_takes_more_than_it_has(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = bytes.clone();
            if let Ok(Some(m)) = parse(&mut buf, 32) {
                prop_assert_eq!(buf.len() + HEADER + m.payload.len(), bytes.len());
                let _ = read_publish(&m.payload);
                let _ = read_info(&m.payload);
            }
        }
    }
}
