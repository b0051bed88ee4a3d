//! TLS loads: new handshakes per second (each worker connects, completes a full
//! handshake, sends close_notify, closes) and keep-alive HTTPS GETs. Blocking rustls
//! clients on threads of their own: the client's share of the crypto is the same whatever
//! runtime drives it, and the server's is what is measured. The certificate is not
//! verified (a honeypot's is self-signed; scanners do not verify either).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use crate::drive::{self, OnError};
use crate::load::Report;

/// A client configuration offering `version` (1.2 or 1.3), without session resumption (every
/// handshake is a full one).
fn client(tls12: bool) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let version: &'static rustls::SupportedProtocolVersion = if tls12 {
        &rustls::version::TLS12
    } else {
        &rustls::version::TLS13
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[version])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(conpot_net::upstream_tls::AnyCertificate(provider)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn connect(
    target: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let name = ServerName::IpAddress(target.ip().into());
    let conn = rustls::ClientConnection::new(Arc::clone(config), name).map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(target)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(rustls::StreamOwned::new(conn, sock))
}

/// New full handshakes: connect, handshake, close_notify, close.
pub fn handshakes(target: SocketAddr, workers: usize, duration: Duration, tls12: bool) -> Result<Report, String> {
    let config = client(tls12)?;
    let label = format!("tls{} handshakes {workers} workers", if tls12 { "1.2" } else { "1.3" });
    let step = move |(): &mut ()| {
        let mut s = connect(target, &config)?;
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        s.conn.send_close_notify();
        let _ = s.conn.complete_io(&mut s.sock);
        Ok(())
    };
    Ok(drive::threads(
        &label,
        workers,
        duration,
        OnError::Next,
        |_| Ok(()),
        step,
    ))
}

/// Keep-alive GETs of `path` over TLS 1.3 on `connections` connections; each operation
/// is one GET answered with 200.
pub fn https(target: SocketAddr, path: &str, connections: usize, duration: Duration) -> Result<Report, String> {
    let config = client(false)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: conpot-bench\r\n\r\n").into_bytes();
    let request = Arc::new(request);
    Ok(drive::threads(
        &format!("https {connections} conns"),
        connections,
        duration,
        OnError::Stop,
        move |_| Ok((connect(target, &config)?, Vec::new())),
        move |(s, buf)| match s.write_all(&request).and_then(|()| response(s, buf)) {
            Ok(200) => Ok(()),
            Ok(other) => Err(std::io::Error::other(format!("status {other}"))),
            Err(e) => Err(e),
        },
    ))
}

/// Reads one response with a `Content-Length`; returns its status.
fn response(s: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((status, total)) = crate::load::response_head(buf) {
            while buf.len() < total {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::Error::other("closed"));
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            buf.drain(..total);
            return Ok(status);
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other("closed"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}
