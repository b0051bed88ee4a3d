//! TLS for the network transports that take it (syslog over TLS, RFC 5425; TAXII over
//! HTTPS): a blocking rustls client stream over a TCP connection, checking the server's
//! certificate against a CA file the configuration names, or the system's roots.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Most bytes of a CA file read (a bundle of a few hundred roots fits many times).
const MAX_CA_FILE: u64 = 4 << 20;

/// A TLS client stream over TCP.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The client configuration trusting the certificates of `ca_file` (PEM), or the system's
/// roots when there is none. Made once per sink, when it is opened, so a missing or bad
/// file is reported at start rather than at the first event.
pub fn client_config(ca_file: Option<&Path>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let mut pem = Vec::new();
            std::fs::File::open(path)?.take(MAX_CA_FILE).read_to_end(&mut pem)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                roots
                    .add(cert.map_err(|e| invalid(format!("{}: {e}", path.display())))?)
                    .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(invalid(format!("{}: no certificate in the file", path.display())));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A root the library cannot use is skipped, as browsers do.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(invalid("no system root certificates found; name a ca_file"));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Starts TLS over `tcp` with `host` as the name the certificate must carry, and completes
/// the handshake (bounded by the socket's timeouts), so a refused certificate is an error
/// here and not at the first write.
pub fn connect(config: &Arc<ClientConfig>, host: &str, tcp: TcpStream) -> io::Result<TlsStream> {
    let name = ServerName::try_from(host.to_owned()).map_err(invalid)?;
    let conn = ClientConnection::new(Arc::clone(config), name).map_err(invalid)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    stream.flush()?;
    Ok(stream)
}
