//! TLS termination for any TCP service: the listener runs the connection's bytes through
//! rustls and the sans-IO session sees plaintext only, exactly as on a plain port. The
//! ClientHello is read by `conpot_core::tls_hello` from the first bytes, before rustls
//! answers, for a `tls.hello` event (SNI, ALPN, versions, JA3 and JA4-style fingerprints);
//! a completed handshake is a `tls.handshake` event and a failed one a `tls.failure` event.

use std::io::{self, Read, Write};
use std::sync::Arc;

use conpot_core::event::EventDraft;
use conpot_core::tls_hello::{self, ClientHello, Scan};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

use crate::cert::Identity;

/// Raw bytes kept for the ClientHello scan: a full hello of [`tls_hello::MAX_HELLO`] in
/// small records and their headers.
const MAX_HELLO_RAW: usize = tls_hello::MAX_HELLO + 4096;
/// Raw bytes quoted in a `tls.failure` event for input that is no TLS.
const QUOTE: usize = 64;

/// The TLS versions a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// TLS 1.2.
    pub tls12: bool,
    /// TLS 1.3.
    pub tls13: bool,
}

impl Default for Versions {
    /// Both, as a current device does.
    fn default() -> Self {
        Versions {
            tls12: true,
            tls13: true,
        }
    }
}

/// A TLS server configuration (certificate, key, versions), shared by every connection of
/// the listeners that use it.
#[derive(Clone)]
pub struct TlsServer {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer").finish_non_exhaustive()
    }
}

impl TlsServer {
    /// A server presenting `identity` with the `versions` given (at least one).
    pub fn new(identity: &Identity, versions: Versions) -> Result<TlsServer, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("certificate PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in the certificate file".into());
        }
        let key =
            PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(|e| format!("private key PEM: {e}"))?;
        let mut list: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if versions.tls13 {
            list.push(&rustls::version::TLS13);
        }
        if versions.tls12 {
            list.push(&rustls::version::TLS12);
        }
        if list.is_empty() {
            return Err("no TLS version enabled".into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&list)
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("certificate and key: {e}"))?;
        // An embedded web server speaks HTTP/1.1 only; a client's ALPN list is logged.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // One ticket-less session cache, bounded by rustls.
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(1024);
        Ok(TlsServer {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration, for a caller that terminates TLS on a stream of its own.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config)
    }

    /// A new server-side connection state.
    pub(crate) fn start(&self) -> io::Result<TlsConn> {
        let conn = rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(io::Error::other)?;
        Ok(TlsConn {
            conn,
            hello: Some(Vec::new()),
            handshaken: false,
            closed: false,
        })
    }
}

/// What became of the bytes given to [`TlsConn::receive`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Read; any plaintext was appended.
    Open,
    /// The client sent close_notify: the stream of plaintext ended.
    Closed,
}

/// One connection's TLS state: rustls's, and the ClientHello bytes until they are read.
pub(crate) struct TlsConn {
    conn: rustls::ServerConnection,
    /// The raw bytes since the start, until the ClientHello is scanned (`None` after).
    hello: Option<Vec<u8>>,
    handshaken: bool,
    closed: bool,
}

impl TlsConn {
    /// Takes `raw` bytes from the socket: plaintext is appended to `plain`, events (the
    /// hello, the handshake) to `events`. An error is a failed connection; its alert (and a
    /// `tls.failure` event) is already queued and `events` holds the event.
    pub(crate) fn receive(
        &mut self,
        raw: &[u8],
        plain: &mut Vec<u8>,
        events: &mut Vec<EventDraft>,
    ) -> Result<Received, String> {
        self.scan_hello(raw, events);
        let mut rest = raw;
        while !rest.is_empty() {
            if let Err(e) = self.conn.read_tls(&mut rest) {
                return Err(self.fail(e.to_string(), raw, events));
            }
            let state = match self.conn.process_new_packets() {
                Ok(s) => s,
                Err(e) => return Err(self.fail(e.to_string(), raw, events)),
            };
            if !self.handshaken && !self.conn.is_handshaking() {
                self.handshaken = true;
                events.push(self.handshake_event());
            }
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = plain.len();
                plain.resize(start + n, 0);
                let mut got = 0;
                while got < n {
                    match self
                        .conn
                        .reader()
                        .read(plain.get_mut(start + got..).unwrap_or_default())
                    {
                        Ok(0) | Err(_) => break,
                        Ok(k) => got += k,
                    }
                }
                plain.truncate(start + got);
            }
            if state.peer_has_closed() {
                self.closed = true;
            }
        }
        Ok(if self.closed { Received::Closed } else { Received::Open })
    }

    /// Encrypts `plain` (buffered by rustls until the handshake is done) and appends every
    /// TLS byte waiting to be sent to `wire`.
    pub(crate) fn seal(&mut self, plain: &[u8], wire: &mut Vec<u8>) {
        if !plain.is_empty() {
            let _ = self.conn.writer().write_all(plain);
        }
        self.pending(wire);
    }

    /// Appends the TLS bytes waiting to be sent (handshake, alerts, records) to `wire`.
    pub(crate) fn pending(&mut self, wire: &mut Vec<u8>) {
        while self.conn.wants_write() {
            match self.conn.write_tls(wire) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Whether TLS bytes wait to be sent.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Queues close_notify (the server ends the connection) and returns the bytes to send.
    pub(crate) fn close(&mut self) -> Vec<u8> {
        let mut wire = Vec::new();
        if self.handshaken {
            self.conn.send_close_notify();
        }
        self.pending(&mut wire);
        wire
    }

    fn scan_hello(&mut self, raw: &[u8], events: &mut Vec<EventDraft>) {
        let Some(buf) = self.hello.as_mut() else { return };
        let room = MAX_HELLO_RAW.saturating_sub(buf.len());
        buf.extend_from_slice(raw.get(..raw.len().min(room)).unwrap_or_default());
        match tls_hello::scan(buf) {
            Scan::NeedMore if buf.len() < MAX_HELLO_RAW => {}
            Scan::NeedMore => {
                self.hello = None;
            }
            Scan::Hello(h) => {
                events.push(hello_event(&h));
                self.hello = None;
            }
            // rustls refuses these too: the failure event says why and quotes the bytes.
            Scan::NotTls(_) | Scan::Malformed(_) => {}
        }
    }

    /// Makes the failure event, queues the alert; returns the reason.
    fn fail(&mut self, reason: String, raw: &[u8], events: &mut Vec<EventDraft>) -> String {
        let stage = if self.handshaken { "record" } else { "handshake" };
        let mut ev = EventDraft::new("tls.failure")
            .with("reason", reason.as_str())
            .with("stage", stage);
        if let Some(buf) = self.hello.take() {
            let scanned = tls_hello::scan(&buf);
            let why = match scanned {
                Scan::NotTls(_) => Some("not TLS"),
                Scan::Malformed(m) => Some(m),
                _ => None,
            };
            if let Some(why) = why {
                ev = ev.with("hello", why);
            }
            let quote = buf.get(..buf.len().min(QUOTE)).unwrap_or_default();
            ev = ev
                .with("first_bytes", conpot_core::hex::encode(quote))
                .with("first_text", String::from_utf8_lossy(quote).into_owned());
        } else if !self.handshaken {
            let quote = raw.get(..raw.len().min(QUOTE)).unwrap_or_default();
            ev = ev.with("first_bytes", conpot_core::hex::encode(quote));
        }
        events.push(ev);
        reason
    }

    fn handshake_event(&self) -> EventDraft {
        let c = &self.conn;
        let version = c
            .protocol_version()
            .map(|v| format!("{v:?}").replace("TLSv1_", "TLSv1."));
        let cipher = c.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()));
        let alpn = c.alpn_protocol().map(|a| String::from_utf8_lossy(a).into_owned());
        let mut ev = EventDraft::new("tls.handshake")
            .with("version", version)
            .with("cipher", cipher)
            .with("alpn", alpn)
            .with("sni", c.server_name().map(str::to_owned));
        if let Some(kx) = c.negotiated_key_exchange_group() {
            ev = ev.with("group", format!("{:?}", kx.name()));
        }
        ev
    }
}

/// The `tls.hello` event of a ClientHello.
pub fn hello_event(h: &ClientHello) -> EventDraft {
    let hex4 = |v: &[u16]| v.iter().map(|x| format!("0x{x:04x}")).collect::<Vec<_>>();
    let versions: Vec<String> = h
        .versions
        .iter()
        .filter(|v| !tls_hello::is_grease(**v))
        .map(|v| tls_hello::version_name(*v))
        .collect();
    EventDraft::new("tls.hello")
        .with("sni", h.sni.clone())
        .with("alpn", json!(h.alpn))
        .with("versions", json!(versions))
        .with("legacy_version", tls_hello::version_name(h.legacy_version))
        .with("max_version", tls_hello::version_name(h.max_version()))
        .with("ciphers", json!(hex4(&h.ciphers)))
        .with("extensions", json!(hex4(&h.extensions)))
        .with("groups", json!(hex4(&h.groups)))
        .with("signature_algorithms", json!(hex4(&h.signature_algorithms)))
        .with("ja3", h.ja3())
        .with("ja3_text", h.ja3_text())
        .with("ja4", h.ja4())
}
