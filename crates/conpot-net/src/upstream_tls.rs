//! TLS towards a proxy's upstream (`upstream_tls = true`): the upstream channel connects,
//! completes a rustls client handshake, and then carries plaintext to and from the session
//! exactly as a plain channel does. The client configuration is made once per distinct
//! setting and shared (loading the system's roots is not a per-connection cost).
//!
//! Without verification (`verify = false`, for the self-signed certificate most devices
//! have) any certificate is accepted, but the handshake's signatures are still checked, so
//! the peer holds the key of the certificate it shows.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use conpot_core::event::EventDraft;
use conpot_core::protocol::UpstreamTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Most bytes of a CA file read.
const MAX_CA_FILE: u64 = 4 << 20;
/// Distinct upstream TLS settings whose configurations are kept (one per proxy in practice).
const MAX_CONFIGS: usize = 64;

/// Accepts any certificate; checks the handshake's signatures with the provider's
/// algorithms. For an upstream whose certificate the operator chose not to verify, and for
/// the load generator's clients (a honeypot's certificate is self-signed), whose handshakes
/// then cost what a real client's do.
#[derive(Debug)]
pub struct AnyCertificate(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn roots(ca_file: Option<&std::path::Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let mut pem = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_CA_FILE).read_to_end(&mut pem))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A root the library cannot use is skipped.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate to verify the upstream with".into());
    }
    Ok(roots)
}

/// The client configuration of `tls`, made on first use and kept.
pub(crate) fn client_config(tls: &UpstreamTls) -> Result<Arc<ClientConfig>, String> {
    static CONFIGS: OnceLock<Mutex<HashMap<UpstreamTls, Arc<ClientConfig>>>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(c) = configs.lock().ok().and_then(|m| m.get(tls).cloned()) {
        return Ok(c);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = if tls.verify {
        builder
            .with_root_certificates(roots(tls.ca_file.as_deref())?)
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    let config = Arc::new(config);
    if let Ok(mut m) = configs.lock()
        && m.len() < MAX_CONFIGS
    {
        m.insert(tls.clone(), Arc::clone(&config));
    }
    Ok(config)
}

/// Completes the TLS handshake over `tcp` to `addr`; the `proxy.upstream_tls` event says
/// what was negotiated (version, cipher suite, whether the certificate was verified).
pub(crate) async fn connect(
    tls: &UpstreamTls,
    addr: SocketAddr,
    tcp: TcpStream,
) -> Result<(TlsStream<TcpStream>, EventDraft), String> {
    let config = client_config(tls)?;
    let name = match &tls.server_name {
        Some(n) => ServerName::try_from(n.clone()).map_err(|e| format!("server name `{n}`: {e}"))?,
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, conn) = stream.get_ref();
    let version = conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    let mut ev = EventDraft::new("proxy.upstream_tls")
        .with("upstream", addr.to_string())
        .with("version", version)
        .with("cipher_suite", suite)
        .with("verified", tls.verify);
    if let Some(n) = &tls.server_name {
        ev = ev.with("server_name", n.clone());
    }
    Ok((stream, ev))
}
