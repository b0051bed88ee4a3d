//! TLS termination in front of a plain session: a rustls client that trusts the
//! deployment's certificate talks to an echo session over TLS 1.2 and 1.3; the hello,
//! the handshake and failures are events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::bus::SinkReceiver;
use conpot_core::config::Limits;
use conpot_core::event::Event;
use conpot_core::protocol::{Output, Service, Session, SessionCtx};
use conpot_net::cert::{CertSpec, Identity, KeyType, generate};
use conpot_net::{Sensor, TlsServer, Versions, bind_tcp, serve_tcp_tls};

/// Echoes every line in upper case.
struct Upper;
struct UpperSession;

impl Service for Upper {
    fn protocol(&self) -> &'static str {
        "upper"
    }
    fn new_session(&self, _: &SessionCtx) -> Box<dyn Session> {
        Box::new(UpperSession)
    }
}

impl Session for UpperSession {
    fn on_input(&mut self, input: &[u8], _now: SystemTime, out: &mut Output) -> usize {
        let Some(end) = input.iter().position(|b| *b == b'\n') else {
            return 0;
        };
        out.bytes.extend(input[..=end].iter().map(u8::to_ascii_uppercase));
        end + 1
    }
}

fn identity() -> Identity {
    generate(&CertSpec {
        common_name: "plc-7".into(),
        organization: Some("Siemens".into()),
        organizational_unit: None,
        subject_serial: None,
        dns_names: vec!["plc-7".into()],
        ip_addresses: vec![],
        not_before: SystemTime::now() - Duration::from_secs(86_400),
        valid_days: 365,
        key: KeyType::EcdsaP256,
    })
    .unwrap()
}

fn start(id: &Identity, versions: Versions) -> (Arc<Sensor>, SocketAddr, SinkReceiver) {
    let (sensor, rx) = Sensor::standalone(Limits::default(), Duration::from_secs(10), None, 10_000);
    let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = TlsServer::new(id, versions).unwrap();
    serve_tcp_tls(Arc::clone(&sensor), listener, Arc::new(Upper), tls);
    (sensor, addr, rx)
}

/// A client trusting `id`'s certificate, offering only `version`.
fn client(id: &Identity, version: &'static rustls::SupportedProtocolVersion) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(id.cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One line over TLS in a blocking thread; returns the answer.
async fn exchange(addr: SocketAddr, config: Arc<rustls::ClientConfig>, line: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let name = "plc-7".try_into().unwrap();
        let conn = rustls::ClientConnection::new(config, name).unwrap();
        let sock = std::net::TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(line.as_bytes()).unwrap();
        let mut got = vec![0u8; line.len()];
        tls.read_exact(&mut got).unwrap();
        tls.conn.send_close_notify();
        let _ = tls.flush();
        String::from_utf8(got).unwrap()
    })
    .await
    .unwrap()
}

async fn next_event(rx: &mut SinkReceiver, ty: &str) -> Arc<Event> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("event in time")
            .expect("bus open");
        if ev.event_type == ty {
            return ev;
        }
    }
}

fn field<'a>(ev: &'a Event, key: &str) -> &'a serde_json::Value {
    ev.data.get(key).unwrap_or(&serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls13_and_tls12_carry_the_session_and_are_events() {
    let id = identity();
    let (_sensor, addr, mut rx) = start(&id, Versions::default());
    for (version, name) in [
        (&rustls::version::TLS13, "TLSv1.3"),
        (&rustls::version::TLS12, "TLSv1.2"),
    ] {
        assert_eq!(exchange(addr, client(&id, version), "hello plc\n").await, "HELLO PLC\n");
        let hello = next_event(&mut rx, "tls.hello").await;
        assert_eq!(field(&hello, "sni"), "plc-7");
        assert_eq!(field(&hello, "alpn"), &serde_json::json!(["h2", "http/1.1"]));
        assert_eq!(field(&hello, "max_version"), name);
        assert_eq!(field(&hello, "ja3").as_str().unwrap().len(), 32);
        let ja4 = field(&hello, "ja4").as_str().unwrap().to_owned();
        assert!(
            ja4.starts_with(if name == "TLSv1.3" { "t13d" } else { "t12d" }),
            "{ja4}"
        );
        let hs = next_event(&mut rx, "tls.handshake").await;
        assert_eq!(field(&hs, "version"), name);
        assert_eq!(field(&hs, "alpn"), "http/1.1");
        assert_eq!(field(&hs, "sni"), "plc-7");
        assert_eq!(hs.session_id, hello.session_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_listener_refuses_and_plain_text_are_failures() {
    let id = identity();
    let only13 = Versions {
        tls12: false,
        tls13: true,
    };
    let (_sensor, addr, mut rx) = start(&id, only13);
    let config = client(&id, &rustls::version::TLS12);
    let refused = tokio::task::spawn_blocking(move || {
        let conn = rustls::ClientConnection::new(config, "plc-7".try_into().unwrap()).unwrap();
        let sock = std::net::TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(b"x\n").and_then(|_| tls.read(&mut [0u8; 4]))
    })
    .await
    .unwrap();
    assert!(refused.is_err());
    let hello = next_event(&mut rx, "tls.hello").await;
    assert_eq!(field(&hello, "max_version"), "TLSv1.2");
    let fail = next_event(&mut rx, "tls.failure").await;
    assert_eq!(field(&fail, "stage"), "handshake");
    assert!(
        field(&fail, "reason")
            .as_str()
            .unwrap()
            .contains("Tls12NotOfferedOrEnabled"),
        "{fail:?}"
    );

    // An HTTP request on the TLS port.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let fail = next_event(&mut rx, "tls.failure").await;
    assert_eq!(field(&fail, "hello"), "not TLS");
    assert!(
        field(&fail, "first_text")
            .as_str()
            .unwrap()
            .starts_with("GET / HTTP/1.1")
    );
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    // The answer is a TLS alert record, then the connection closes.
    assert_eq!(rest.first(), Some(&21), "{rest:?}");
}
