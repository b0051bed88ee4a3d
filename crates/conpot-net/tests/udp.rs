//! The UDP listener over real sockets: sessions per source, idle expiry, the answer
//! budget, the amplification cap and the session limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::bus::SinkReceiver;
use conpot_core::config::Limits;
use conpot_core::event::Transport;
use conpot_core::event::{Event, EventDraft};
use conpot_core::protocol::{IoEvent, IoRequest, Output, Service, Session, SessionCtx};
use conpot_net::{Sensor, UdpLimits, bind_udp, serve_udp};
use tokio::net::UdpSocket;

/// Answers a datagram `[x, ...]` with the datagram repeated `x` times (a 1-byte request
/// can ask for a lot). Keeps per-source state: `c` answers how many datagrams this source
/// sent, `w` asks to be woken 100 ms later (answering `tick`), `t` opens a transfer port
/// (answering its port number, then echoing on it with a `T` prefix), `q` answers `bye`
/// and ends the session.
struct Echo;
#[derive(Default)]
struct EchoSession {
    seen: u32,
}

impl Service for Echo {
    fn protocol(&self) -> &'static str {
        "echo"
    }
    fn transports(&self) -> &'static [Transport] {
        &[Transport::Tcp, Transport::Udp]
    }
    fn new_session(&self, _: &SessionCtx) -> Box<dyn Session> {
        Box::new(EchoSession::default())
    }
}

impl Session for EchoSession {
    fn on_input(&mut self, d: &[u8], now: SystemTime, out: &mut Output) -> usize {
        self.seen += 1;
        out.events.push(EventDraft::new("echo.request"));
        match d.first().copied() {
            Some(b'c') => out.bytes.extend_from_slice(format!("count {}", self.seen).as_bytes()),
            Some(b'w') => out.set_deadline(now + Duration::from_millis(100)),
            Some(b'q') => {
                out.bytes.extend_from_slice(b"bye");
                out.close = true;
            }
            Some(b't') => out.request(IoRequest::NewUdpPort { channel: 9 }),
            _ => {
                let times = usize::from(d.first().copied().unwrap_or(1)).max(1);
                out.bytes.extend_from_slice(&d.repeat(times));
                // The event describes the answer, as SNMP's do.
                if let Some(ev) = out.events.last_mut() {
                    ev.body.response = Some(serde_json::json!({"times": times}));
                    ev.body.raw_response = Some(d.repeat(times));
                }
            }
        }
        d.len()
    }
    fn on_timeout(&mut self, _now: SystemTime, out: &mut Output) {
        out.bytes.extend_from_slice(b"tick");
    }
    fn on_io(&mut self, event: IoEvent, _now: SystemTime, out: &mut Output) {
        match event {
            IoEvent::Listening { local, .. } => out.bytes.extend_from_slice(local.port().to_string().as_bytes()),
            IoEvent::Data { channel, bytes } => {
                let mut r = b"T".to_vec();
                r.extend_from_slice(&bytes);
                if bytes == b"big" {
                    // A TFTP block asked for by a 4-byte ACK.
                    r = vec![b'B'; 2000];
                }
                out.request(IoRequest::Send { channel, bytes: r });
            }
            _ => {}
        }
    }
}

async fn start(limits: UdpLimits, timeout: Duration) -> (Arc<Sensor>, SocketAddr, SinkReceiver) {
    start_on("127.0.0.1:0", limits, timeout).await
}

async fn start_on(at: &str, limits: UdpLimits, timeout: Duration) -> (Arc<Sensor>, SocketAddr, SinkReceiver) {
    let (sensor, rx) = Sensor::standalone(Limits::default(), timeout, None, 100_000);
    let sock = bind_udp(at.parse().unwrap()).unwrap();
    let addr = sock.local_addr().unwrap();
    serve_udp(Arc::clone(&sensor), sock, Arc::new(Echo), limits);
    (sensor, addr, rx)
}

async fn recv(s: &UdpSocket) -> Option<Vec<u8>> {
    let mut b = [0u8; 4096];
    match tokio::time::timeout(Duration::from_millis(300), s.recv(&mut b)).await {
        Ok(Ok(n)) => Some(b[..n].to_vec()),
        _ => None,
    }
}

async fn events(rx: &mut SinkReceiver) -> Vec<Arc<Event>> {
    let mut v = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        v.push(e);
    }
    v
}

#[tokio::test]
async fn budget_and_amplification() {
    let limits = UdpLimits {
        answers_per_source: 5,
        amplification: 4,
        max_sessions: 100,
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(30)).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // 40 times the request (80 bytes): over the cap (4 times, at least 64 bytes), never sent.
    c.send_to(&[40, 0], addr).await.unwrap();
    assert_eq!(recv(&c).await, None);
    assert_eq!(
        sensor
            .metrics
            .limit_amplification
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Twenty allowed requests in one burst: at most five answers (two if a second turns).
    for _ in 0..20 {
        c.send_to(&[2, 7], addr).await.unwrap();
    }
    let mut got = 0;
    while let Some(r) = recv(&c).await {
        assert_eq!(r, vec![2, 7, 2, 7]);
        got += 1;
    }
    assert!((1..=10).contains(&got), "{got}");
    assert!(
        sensor
            .metrics
            .limit_udp_budget
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 10
    );
    // Over-budget requests are summarised once a second: wait for the summary.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.send_to(&[2, 7], addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ev = events(&mut rx).await;
    assert_eq!(
        ev.iter().filter(|e| e.event_type == "session.open").count(),
        1,
        "one session per source"
    );
    let logged = ev.iter().filter(|e| e.event_type == "echo.request").count() as u64;
    let summarised: u64 = ev
        .iter()
        .filter(|e| e.event_type == "udp.suppressed")
        .map(|e| e.data["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(logged + summarised, 22, "every datagram logged or summarised");
    assert!(summarised > 0);
    assert!(
        ev.iter()
            .any(|e| e.event_type == "limit.hit" && e.data["limit"] == "answers_per_source")
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn a_fresh_source_gets_at_most_the_budget_in_its_first_second() {
    let limits = UdpLimits {
        answers_per_source: 250,
        ..UdpLimits::default()
    };
    let (sensor, addr, _rx) = start(limits, Duration::from_secs(30)).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let first = tokio::time::Instant::now();
    // 900 requests in nine bursts over 0.8 s: all inside the source's first second, and
    // (with a calendar-second window) most runs would straddle a second boundary.
    for burst in 0..9u64 {
        tokio::time::sleep_until(first + Duration::from_millis(100 * burst)).await;
        for _ in 0..100 {
            c.send_to(&[1], addr).await.unwrap();
        }
    }
    let mut got = 0;
    let mut b = [0u8; 64];
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(300), c.recv(&mut b)).await {
        got += 1;
    }
    assert!(got <= 250, "{got} answers in the first second, budget 250");
    assert!(got >= 100, "the bucket refills within the second: {got}");
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn idle_sessions_close_and_the_table_is_bounded() {
    let limits = UdpLimits {
        answers_per_source: 100,
        amplification: 8,
        max_sessions: 2,
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_millis(500)).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(&[1], addr).await.unwrap();
        assert_eq!(recv(&c).await, Some(vec![1]));
        clients.push(c);
    }
    let ev = events(&mut rx).await;
    assert_eq!(ev.iter().filter(|e| e.event_type == "session.open").count(), 3);
    let limited: Vec<_> = ev.iter().filter(|e| e.event_type == "session.close").collect();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].data["reason"], "session_limit");
    assert!(
        ev.iter()
            .any(|e| e.event_type == "limit.hit" && e.data["limit"] == "session_limit"),
        "an eviction is a limit hit"
    );
    // The other two expire after the idle timeout.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ev = events(&mut rx).await;
    let idle = ev
        .iter()
        .filter(|e| e.event_type == "session.close" && e.data["reason"] == "idle_timeout")
        .count();
    assert_eq!(idle, 2);
    assert_eq!(
        sensor.metrics.idle_timeouts.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "UDP idle closes are counted"
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn datagrams_sent_at_once_are_all_answered_in_order() {
    // Two sources each put 100 requests on the socket before reading any answer: the
    // listener takes them in bursts and holds the answers to the end of each burst. (Both
    // sources are 127.0.0.1: the answer budget is raised, as for a load test.)
    let limits = UdpLimits {
        answers_per_source: 1_000_000,
        ..UdpLimits::default()
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(30)).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // (100 each: 200 small datagrams stay well inside a socket's default receive buffer.)
    for _ in 0..100 {
        a.send_to(b"c", addr).await.unwrap();
        b.send_to(b"c", addr).await.unwrap();
    }
    for (name, s) in [("a", &a), ("b", &b)] {
        for i in 1..=100 {
            let got = recv(s).await.unwrap_or_else(|| panic!("{name}: answer {i} missing"));
            assert_eq!(got, format!("count {i}").into_bytes(), "{name}: answers in order");
        }
        assert_eq!(recv(s).await, None, "{name}: one answer per request");
    }
    let evs = events(&mut rx).await;
    assert_eq!(evs.iter().filter(|e| e.event_type == "echo.request").count(), 200);
    sensor.shutdown.cancel();
}

/// The events of a burst's requests are published after its answers are sent, but always
/// before what closes their session.
#[tokio::test]
async fn requests_are_logged_before_the_close_they_cause() {
    let (sensor, addr, mut rx) = start(UdpLimits::default(), Duration::from_secs(30)).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.send_to(b"c", addr).await.unwrap();
    a.send_to(b"q", addr).await.unwrap();
    assert_eq!(recv(&a).await.unwrap(), b"count 1");
    assert_eq!(recv(&a).await.unwrap(), b"bye");
    let types: Vec<String> = events(&mut rx).await.iter().map(|e| e.event_type.to_string()).collect();
    assert_eq!(
        types,
        ["session.open", "echo.request", "echo.request", "session.close"],
        "in the order they happened"
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn each_source_keeps_its_own_state() {
    let (sensor, addr, _rx) = start(UdpLimits::default(), Duration::from_secs(30)).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 1..=3 {
        a.send_to(b"c", addr).await.unwrap();
        assert_eq!(recv(&a).await.unwrap(), format!("count {i}").into_bytes());
    }
    b.send_to(b"c", addr).await.unwrap();
    assert_eq!(recv(&b).await.unwrap(), b"count 1", "a new source gets a new session");
    a.send_to(b"c", addr).await.unwrap();
    assert_eq!(recv(&a).await.unwrap(), b"count 4");
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn udp_sessions_are_woken() {
    let (sensor, addr, _rx) = start(UdpLimits::default(), Duration::from_secs(30)).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let asked = std::time::Instant::now();
    a.send_to(b"w", addr).await.unwrap();
    assert_eq!(recv(&a).await.unwrap(), b"tick");
    assert!(asked.elapsed() >= Duration::from_millis(90));
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn transfer_ports_carry_a_session() {
    let (sensor, addr, _rx) = start(UdpLimits::default(), Duration::from_secs(30)).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.send_to(b"t", addr).await.unwrap();
    let port: u16 = String::from_utf8(recv(&a).await.unwrap()).unwrap().parse().unwrap();
    assert_ne!(port, addr.port());
    a.send_to(b"block", ("127.0.0.1", port)).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), a.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"Tblock");
    assert_eq!(from.port(), port, "answered from the transfer port");
    // Answers on a transfer port are paced by the peer, not cut by the amplification cap.
    a.send_to(b"big", ("127.0.0.1", port)).await.unwrap();
    let mut big = [0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), a.recv_from(&mut big))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 2000);
    // Someone else writing to the transfer port is ignored.
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    b.send_to(b"intruder", ("127.0.0.1", port)).await.unwrap();
    assert_eq!(recv(&b).await, None);
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn wildcard_bind_records_the_real_destination() {
    let (sensor, addr, mut rx) = start_on("0.0.0.0:0", UdpLimits::default(), Duration::from_secs(30)).await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    a.send_to(b"c", ("127.0.0.1", addr.port())).await.unwrap();
    assert_eq!(recv(&a).await.unwrap(), b"count 1");
    let ev = events(&mut rx).await;
    let open = ev.iter().find(|e| e.event_type == "session.open").unwrap();
    assert_eq!(open.dst, Some(SocketAddr::from(([127, 0, 0, 1], addr.port()))));
    assert_eq!(open.src, Some(a.local_addr().unwrap()));
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn one_service_on_tcp_and_udp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (sensor, mut rx) = Sensor::standalone(Limits::default(), Duration::from_secs(30), None, 1000);
    // Find a port free on both transports, then bind the service's plan there.
    let (bound, port) = loop {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let service = Echo;
        let plan: Vec<conpot_net::BindSpec> = service
            .transports()
            .iter()
            .map(|&transport| conpot_net::BindSpec {
                name: "echo".into(),
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                transport,
                optional: false,
            })
            .collect();
        if let Ok((bound, _)) = conpot_net::bind_all(&plan) {
            break (bound, port);
        }
    };
    assert_eq!(bound.len(), 2);
    let service: Arc<dyn Service> = Arc::new(Echo);
    for (_, b) in bound {
        conpot_net::serve(Arc::clone(&sensor), b, Arc::clone(&service), UdpLimits::default());
    }
    let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    u.send_to(b"c", ("127.0.0.1", port)).await.unwrap();
    assert_eq!(recv(&u).await.unwrap(), b"count 1");
    let mut t = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    t.write_all(b"c").await.unwrap();
    let mut b = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), t.read(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&b[..n], b"count 1");
    let ev = events(&mut rx).await;
    let transports: Vec<_> = ev
        .iter()
        .filter(|e| e.event_type == "session.open")
        .map(|e| e.transport)
        .collect();
    assert!(
        transports.contains(&Transport::Udp) && transports.contains(&Transport::Tcp),
        "{transports:?}"
    );
    sensor.shutdown.cancel();
}

#[test]
fn bind_all_names_every_conflict() {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plan: Vec<conpot_net::BindSpec> = [("s7comm", &a), ("modbus", &b)]
        .iter()
        .map(|(name, l)| conpot_net::BindSpec {
            name: (*name).into(),
            addr: l.local_addr().unwrap(),
            transport: Transport::Tcp,
            optional: false,
        })
        .collect();
    let failures = conpot_net::bind_all(&plan).unwrap_err();
    assert_eq!(failures.len(), 2);
    let text: Vec<String> = failures.iter().map(ToString::to_string).collect();
    assert!(
        text[0].contains("s7comm") && text[0].contains("--port s7comm=PORT"),
        "{}",
        text[0]
    );
    assert!(
        text[1].contains("modbus") && text[1].contains("--port modbus=PORT"),
        "{}",
        text[1]
    );
}

/// Logs what it was sent as a decoded field (as SNMP logs its community string).
struct Decoder;
struct DecoderSession;

impl Service for Decoder {
    fn protocol(&self) -> &'static str {
        "decoder"
    }
    fn transports(&self) -> &'static [Transport] {
        &[Transport::Udp]
    }
    fn new_session(&self, _: &SessionCtx) -> Box<dyn Session> {
        Box::new(DecoderSession)
    }
}

impl Session for DecoderSession {
    fn on_input(&mut self, d: &[u8], _now: SystemTime, out: &mut Output) -> usize {
        let mut ev = EventDraft::new("decoder.request").with("community", String::from_utf8_lossy(d).into_owned());
        ev.body.raw = Some(d.to_vec());
        out.events.push(ev);
        d.len()
    }
}

#[tokio::test]
async fn a_60_kb_community_is_logged_truncated_and_flagged() {
    let limits = Limits {
        field_limit: 256,
        ..Limits::default()
    };
    let (sensor, mut rx) = Sensor::standalone(limits, Duration::from_secs(30), None, 1000);
    let sock = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = sock.local_addr().unwrap();
    serve_udp(Arc::clone(&sensor), sock, Arc::new(Decoder), UdpLimits::default());
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(&vec![b'p'; 60_000], addr).await.unwrap();
    let ev = events(&mut rx).await;
    let req = ev.iter().find(|e| e.event_type == "decoder.request").unwrap();
    assert_eq!(req.data["community"].as_str().unwrap().len(), 256);
    assert_eq!(req.data["truncated_fields"], serde_json::json!(["community"]));
    let raw = req.raw.as_ref().unwrap();
    assert_eq!(raw.len, 60_000, "raw_len says what was received");
    assert!(raw.truncated());
    assert_eq!(
        sensor
            .metrics
            .fields_truncated
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn an_over_budget_flood_is_marked_and_summarised() {
    let limits = UdpLimits {
        answers_per_source: 50,
        amplification: 8,
        max_sessions: 100,
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(30)).await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // 2,000 requests of 20 bytes, each asking for a 40-byte answer, in bursts.
    let mut request = vec![2u8];
    request.extend_from_slice(&[b'q'; 19]);
    let reader = {
        let c = Arc::new(c);
        let r = Arc::clone(&c);
        let handle = tokio::spawn(async move {
            let mut got = 0u64;
            let mut b = [0u8; 128];
            while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(800), r.recv(&mut b)).await {
                got += 1;
            }
            got
        });
        for _ in 0..20 {
            for _ in 0..100 {
                c.send_to(&request, addr).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        handle
    };
    let answered = reader.await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sensor.shutdown.cancel();
    let ev = events(&mut rx).await;
    let requests: Vec<_> = ev.iter().filter(|e| e.event_type == "echo.request").collect();
    let sent: Vec<_> = requests.iter().filter(|e| e.data["answer"] == "sent").collect();
    let suppressed: Vec<_> = requests.iter().filter(|e| e.data["answer"] == "suppressed").collect();
    assert_eq!(
        sent.len() as u64,
        answered,
        "an answer is logged as sent only if it left"
    );
    assert!(sent.iter().all(|e| e.response.is_some()));
    assert!(!suppressed.is_empty());
    for e in &suppressed {
        assert_eq!(e.data["suppressed_by"], "budget");
        assert!(
            e.response.is_none() && e.raw_response.is_none(),
            "no response that never left"
        );
    }
    assert!(
        suppressed.len() <= 4,
        "one sample per source per second: {}",
        suppressed.len()
    );
    let summarised: u64 = ev
        .iter()
        .filter(|e| e.event_type == "udp.suppressed")
        .map(|e| e.data["requests"].as_u64().unwrap())
        .sum();
    let close = ev.iter().find(|e| e.event_type == "session.close").unwrap();
    let received = close.data["datagrams"].as_u64().unwrap();
    assert_eq!(
        requests.len() as u64 + summarised,
        received,
        "every request logged or counted"
    );
    // The log stays small: at most the answers plus two events per second of flood.
    assert!(
        ev.len() as u64 <= answered + 12,
        "{} events for {received} requests",
        ev.len()
    );
    assert_eq!(
        sensor
            .metrics
            .events_summarised
            .load(std::sync::atomic::Ordering::Relaxed),
        summarised
    );
}
