//! The TCP listener over real sockets: limits, idle timeout, buffer bound, graceful
//! shutdown, IPv6, session timers, I/O requests (data listeners, connect-back, upstream),
//! captured files, and the events each produces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::bus::SinkReceiver;
use conpot_core::config::Limits;
use conpot_core::event::{Event, EventDraft};
use conpot_core::protocol::{Capture, IoEvent, IoRequest, Output, Service, Session, SessionCtx};
use conpot_net::{Sensor, bind_tcp, serve_tcp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A line protocol: answers each complete line with "ok <line>", consumes nothing
/// until a newline arrives, and closes on "quit".
struct Lines;
#[derive(Default)]
struct LineSession {
    back: Option<SocketAddr>,
}

impl Service for Lines {
    fn protocol(&self) -> &'static str {
        "lines"
    }
    fn new_session(&self, _: &SessionCtx) -> Box<dyn Session> {
        Box::new(LineSession::default())
    }
    fn upstream_targets(&self) -> &[SocketAddr] {
        &[]
    }
}

fn reply(out: &mut Output, text: &str) {
    out.bytes.extend_from_slice(text.as_bytes());
    out.bytes.push(b'\n');
}

impl Session for LineSession {
    fn on_open(&mut self, _now: SystemTime, out: &mut Output) {
        out.bytes.extend_from_slice(b"hello\n");
    }
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let Some(n) = input.iter().position(|&b| b == b'\n') else {
            return 0;
        };
        let line = String::from_utf8_lossy(&input[..n]).into_owned();
        out.events
            .push(EventDraft::new("lines.request").with("line", line.clone()));
        let (cmd, arg) = line.split_once(' ').unwrap_or((&line, ""));
        match cmd {
            // Asks to be woken after `arg` milliseconds.
            "wake" => {
                let ms: u64 = arg.parse().unwrap();
                out.set_deadline(now + Duration::from_millis(ms));
                reply(out, "armed");
            }
            // Answers after `arg` milliseconds (a session's response delay).
            "slow" => {
                out.delay = Duration::from_millis(arg.parse().unwrap());
                reply(out, "slow");
            }
            "unwake" => {
                out.clear_deadline();
                reply(out, "disarmed");
            }
            // FTP PASV: a data listener from a port range.
            "pasv" => {
                let (lo, hi) = arg.split_once('-').unwrap();
                out.request(IoRequest::OpenDataListener {
                    channel: 1,
                    ports: (lo.parse().unwrap(), hi.parse().unwrap()),
                });
            }
            // FTP PORT: connect back to `arg`.
            "port" => {
                let addr: SocketAddr = arg.parse().unwrap();
                self.back = Some(addr);
                out.request(IoRequest::ConnectBack { channel: 2, addr });
            }
            "close" => out.request(IoRequest::Close {
                channel: arg.parse().unwrap(),
            }),
            "upstream" => out.request(IoRequest::Upstream {
                channel: 3,
                addr: arg.parse().unwrap(),
            }),
            "upload" => out.files.push(Capture {
                name: "upload.bin".into(),
                bytes: arg.as_bytes().to_vec(),
                original_len: arg.len(),
                data: Default::default(),
            }),
            _ => {
                reply(out, &format!("ok {line}"));
                if line == "quit" {
                    out.close = true;
                }
            }
        }
        n + 1
    }
    fn on_timeout(&mut self, _now: SystemTime, out: &mut Output) {
        reply(out, "tick");
    }
    fn on_io(&mut self, event: IoEvent, _now: SystemTime, out: &mut Output) {
        match event {
            IoEvent::Listening { local, .. } => reply(out, &format!("listening {}", local.port())),
            IoEvent::Connected { channel, .. } => {
                out.request(IoRequest::Send {
                    channel,
                    bytes: b"payload".to_vec(),
                });
                out.request(IoRequest::Close { channel });
            }
            IoEvent::Closed { .. } => reply(out, "transfer complete"),
            IoEvent::Failed { reason, .. } => reply(out, &format!("failed {reason}")),
            IoEvent::Data { .. } | IoEvent::Drained { .. } => {}
        }
    }
    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !rest.is_empty() {
            let mut ev = EventDraft::new("lines.malformed");
            ev.body.raw = Some(rest.to_vec());
            out.events.push(ev);
        }
    }
}

fn start(limits: Limits, timeout: Duration, addr: &str) -> (Arc<Sensor>, SocketAddr, SinkReceiver) {
    let dir = std::env::temp_dir().join(format!("conpot-net-test-{}-{}", std::process::id(), uuid_like()));
    let store = conpot_core::capture::FileStore::new(dir, 1 << 20, 1 << 16);
    let (sensor, rx) = Sensor::standalone(limits, timeout, Some(store), 10_000);
    let listener = bind_tcp(addr.parse().unwrap()).unwrap();
    let bound = listener.local_addr().unwrap();
    serve_tcp(Arc::clone(&sensor), listener, Arc::new(Lines));
    (sensor, bound, rx)
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

async fn read_line(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
        .await
        .expect("read in time")
        .unwrap()
        == 1
    {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8(out).unwrap()
}

async fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// The events of a request go out after its reply, except when the reply waits for a
/// response delay: then they are logged at once (a sensor stopped during the delay loses
/// nothing).
#[tokio::test]
async fn a_delayed_reply_is_logged_before_the_delay() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    let asked = tokio::time::Instant::now();
    s.write_all(b"slow 1500\n").await.unwrap();
    let req = next_event(&mut rx, "lines.request").await;
    assert_eq!(req.data["line"], "slow 1500");
    assert!(asked.elapsed() < Duration::from_millis(1000), "logged during the delay");
    assert_eq!(read_line(&mut s).await, "slow");
    assert!(asked.elapsed() >= Duration::from_millis(1400), "answered after it");
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn session_events_and_split_segments() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    let open = next_event(&mut rx, "session.open").await;
    assert_eq!(open.src, Some(s.local_addr().unwrap()));
    assert_eq!(&*open.protocol, "lines");
    // One request split over three segments, then two in one segment.
    for part in [&b"ab"[..], b"c", b"d\nx\ny\n"] {
        s.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(read_line(&mut s).await, "ok abcd");
    assert_eq!(read_line(&mut s).await, "ok x");
    assert_eq!(read_line(&mut s).await, "ok y");
    let req = next_event(&mut rx, "lines.request").await;
    assert_eq!(req.data["line"], "abcd");
    assert_eq!(req.session_id, open.session_id);
    s.write_all(b"quit\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "ok quit");
    assert!(closed(&mut s).await);
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "server");
    assert_eq!(close.session_id, open.session_id);
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn per_source_and_global_limits() {
    let limits = Limits {
        max_connections: 3,
        max_connections_per_ip: 2,
        ..Limits::default()
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(30), "127.0.0.1:0");
    let mut a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut a).await, "hello");
    assert_eq!(read_line(&mut b).await, "hello");
    let mut c = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed(&mut c).await,
        "third connection from one address must be refused"
    );
    let hit = next_event(&mut rx, "limit.hit").await;
    assert_eq!(hit.data["limit"], "max_connections_per_ip");
    assert_eq!(
        sensor.metrics.limit_per_ip.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Another source address (127.0.0.2) still gets in until the global limit.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut d = sock.connect(addr).await.unwrap();
    assert_eq!(read_line(&mut d).await, "hello");
    // b is active (a request answered), a has been idle since it opened.
    tokio::time::sleep(Duration::from_millis(5)).await;
    b.write_all(b"ping\n").await.unwrap();
    assert_eq!(read_line(&mut b).await, "ok ping");
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.3:0".parse().unwrap()).unwrap();
    let mut e = sock.connect(addr).await.unwrap();
    // The fourth overall is served: the idlest connection of the biggest source (a, the
    // older of 127.0.0.1's two) makes room.
    assert_eq!(read_line(&mut e).await, "hello");
    assert!(
        closed(&mut a).await,
        "the idlest connection of the biggest source is evicted"
    );
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "evicted");
    assert_eq!(close.src, Some(a.local_addr().unwrap()));
    assert_eq!(
        sensor
            .metrics
            .limit_evictions
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    b.write_all(b"still here\n").await.unwrap();
    assert_eq!(read_line(&mut b).await, "ok still here");
    // Closing one frees its place.
    drop(a);
    drop(e);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut f = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut f).await, "hello");
    assert_eq!(
        sensor
            .metrics
            .limit_evictions
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "a free place needs no eviction"
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn idle_timeout_closes_and_logs() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_millis(300), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    assert!(closed(&mut s).await);
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "idle_timeout");
    assert_eq!(
        sensor.metrics.idle_timeouts.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn buffer_limit_closes_and_logs() {
    let limits = Limits {
        max_buffer: 1000,
        ..Limits::default()
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    // No newline: the protocol never consumes, the buffer must not grow past the limit.
    let _ = s.write_all(&[b'a'; 5000]).await;
    assert!(closed(&mut s).await);
    let hit = next_event(&mut rx, "limit.hit").await;
    assert_eq!(hit.data["limit"], "max_buffer");
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "buffer_limit");
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn truncated_input_at_eof_is_reported() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    s.write_all(b"partial").await.unwrap();
    s.shutdown().await.unwrap();
    next_event(&mut rx, "lines.malformed").await;
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "peer");
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn truncated_input_closed_by_reset_is_reported() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_line(&mut s).await, "hello");
        s.write_all(b"partial").await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Linger zero: close() sends RST, not FIN.
        s.set_zero_linger().unwrap();
        drop(s);
        next_event(&mut rx, "lines.malformed").await;
        let close = next_event(&mut rx, "session.close").await;
        assert_eq!(close.data["reason"], "peer");
    }
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn churn_never_trips_the_per_source_limit() {
    let limits = Limits {
        max_connections_per_ip: 4,
        ..Limits::default()
    };
    let (sensor, addr, _rx) = start(limits, Duration::from_secs(30), "127.0.0.1:0");
    // Never more than two open at once: the limit of four must never refuse one.
    for _ in 0..100 {
        let mut a = TcpStream::connect(addr).await.unwrap();
        let mut b = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_line(&mut a).await, "hello");
        assert_eq!(read_line(&mut b).await, "hello");
        a.write_all(b"quit\n").await.unwrap();
        b.write_all(b"quit\n").await.unwrap();
        assert_eq!(read_line(&mut a).await, "ok quit");
        assert_eq!(read_line(&mut b).await, "ok quit");
        assert!(closed(&mut a).await && closed(&mut b).await);
    }
    assert_eq!(
        sensor.metrics.limit_per_ip.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn shutdown_closes_sessions_and_ends_tasks() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    sensor.shutdown.cancel();
    sensor.tracker.close();
    tokio::time::timeout(Duration::from_secs(2), sensor.tracker.wait())
        .await
        .expect("tasks end");
    assert!(closed(&mut s).await);
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "shutdown");
    assert!(TcpStream::connect(addr).await.is_err(), "listener is closed");
}

#[tokio::test]
async fn serves_ipv6() {
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this machine");
        return;
    };
    drop(l);
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "[::1]:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    let open = next_event(&mut rx, "session.open").await;
    assert!(open.src.unwrap().is_ipv6());
    sensor.shutdown.cancel();
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn a_session_that_asks_to_be_woken_is() {
    let (sensor, addr, _rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    let asked = std::time::Instant::now();
    s.write_all(b"wake 150\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "armed");
    assert_eq!(read_line(&mut s).await, "tick");
    assert!(asked.elapsed() >= Duration::from_millis(140), "{:?}", asked.elapsed());
    // A cleared timer never fires; a replaced one fires once.
    s.write_all(b"wake 100\nunwake\nwake 50\nwake 120\n").await.unwrap();
    for want in ["armed", "disarmed", "armed", "armed", "tick"] {
        assert_eq!(read_line(&mut s).await, want);
    }
    s.write_all(b"x\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "ok x", "no second tick before the echo");
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn data_listener_is_served_to_the_peer() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    // A free range: find a port, then offer that port and the next few.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let lo = probe.local_addr().unwrap().port();
    drop(probe);
    let hi = lo.saturating_add(3);
    s.write_all(format!("pasv {lo}-{hi}\n").as_bytes()).await.unwrap();
    let line = read_line(&mut s).await;
    let port: u16 = line.strip_prefix("listening ").expect(&line).parse().unwrap();
    assert!((lo..=hi).contains(&port), "{port} outside {lo}-{hi}");
    let mut data = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), data.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"payload");
    assert_eq!(read_line(&mut s).await, "transfer complete");
    sensor.shutdown.cancel();
    let open = next_event(&mut rx, "session.open").await;
    assert_eq!(open.src, Some(s.local_addr().unwrap()));
}

#[tokio::test]
async fn a_data_listener_closed_before_any_connection_frees_its_port() {
    let (sensor, addr, _rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    s.write_all(format!("pasv {port}-{port}\n").as_bytes()).await.unwrap();
    assert_eq!(read_line(&mut s).await, format!("listening {port}"));
    s.write_all(b"close 1\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "transfer complete");
    // The port is free at once (not at the session timeout), and the channel too.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    s.write_all(format!("pasv {port}-{port}\n").as_bytes()).await.unwrap();
    assert_eq!(read_line(&mut s).await, format!("listening {port}"));
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn connect_back_goes_to_the_peer_only() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    // To our own address: allowed.
    let mine = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = mine.local_addr().unwrap().port();
    s.write_all(format!("port 127.0.0.1:{port}\n").as_bytes())
        .await
        .unwrap();
    let (mut data, _) = tokio::time::timeout(Duration::from_secs(5), mine.accept())
        .await
        .unwrap()
        .unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"payload");
    assert_eq!(read_line(&mut s).await, "transfer complete");
    // To another host (127.0.0.2 is not the control connection's peer): a bounce.
    let other = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = other.local_addr().unwrap().port();
    s.write_all(format!("port 127.0.0.2:{port}\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_line(&mut s).await, "failed bounce");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other.accept())
            .await
            .is_err(),
        "no connection to the bounce target"
    );
    let refused = next_event(&mut rx, "io.refused").await;
    assert_eq!(refused.data["request"], "connect_back");
    assert_eq!(refused.data["reason"], "bounce");
    assert_eq!(refused.data["target"], format!("127.0.0.2:{port}"));
    // An upstream nobody configured: refused as well.
    s.write_all(b"upstream 127.0.0.1:9\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "failed not_configured");
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn uploads_land_in_the_capture_store() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    s.write_all(b"upload firmware-bytes\n").await.unwrap();
    let ev = next_event(&mut rx, "file.upload").await;
    let sha = ev.data["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha, conpot_core::capture::hex_digest(b"firmware-bytes"));
    assert_eq!(ev.data["status"], "stored");
    let path = ev.data["path"].as_str().unwrap();
    assert!(path.starts_with(sensor.captures.as_ref().unwrap().dir().to_str().unwrap()));
    assert_eq!(std::fs::read(path).unwrap(), b"firmware-bytes");
    sensor.shutdown.cancel();
}

/// The line service with a device response time of 120 ms.
struct SlowLines;

impl Service for SlowLines {
    fn protocol(&self) -> &'static str {
        "lines"
    }
    fn response_time(&self) -> (u32, u32) {
        (120, 120)
    }
    fn new_session(&self, _: &SessionCtx) -> Box<dyn Session> {
        Box::new(LineSession::default())
    }
}

#[tokio::test]
async fn the_listener_applies_the_device_response_time() {
    let (sensor, _rx) = Sensor::standalone(Limits::default(), Duration::from_secs(30), None, 1000);
    let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    serve_tcp(Arc::clone(&sensor), listener, Arc::new(SlowLines));
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    let asked = std::time::Instant::now();
    s.write_all(b"x\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "ok x");
    assert!(asked.elapsed() >= Duration::from_millis(115), "{:?}", asked.elapsed());
    sensor.shutdown.cancel();
}

/// A connection from `ip` (a loopback address other than 127.0.0.1).
async fn connect_from(ip: &str, addr: SocketAddr) -> TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    sock.connect(addr).await.unwrap()
}

#[tokio::test]
async fn a_half_sent_frame_is_dropped_after_the_frame_timeout() {
    let limits = Limits {
        frame_timeout: Duration::from_secs(1),
        min_input_rate: 0,
        ..Limits::default()
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    // Complete lines are fine however far apart; a partial one must complete in time.
    s.write_all(b"one\n").await.unwrap();
    assert_eq!(read_line(&mut s).await, "ok one");
    s.write_all(b"par").await.unwrap();
    // Keep the connection busy (not idle): the frame still never completes.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = s.write_all(b"t").await;
    }
    assert!(closed(&mut s).await);
    let hit = next_event(&mut rx, "limit.hit").await;
    assert_eq!(hit.data["limit"], "frame_timeout");
    next_event(&mut rx, "lines.malformed").await;
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "frame_timeout");
    assert_eq!(
        sensor
            .metrics
            .limit_frame_timeout
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn a_slow_drip_is_closed_by_the_minimum_input_rate() {
    let limits = Limits {
        frame_timeout: Duration::from_secs(60),
        min_input_rate: 16,
        ..Limits::default()
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(5), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    // One byte every 200 ms: never idle, never a complete frame, 5 bytes/s.
    let mut closed_early = false;
    for _ in 0..20 {
        if s.write_all(b"d").await.is_err() {
            closed_early = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(closed_early || closed(&mut s).await);
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "slow_input");
    assert_eq!(
        sensor
            .metrics
            .limit_min_input_rate
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn slow_drips_holding_every_slot_do_not_lock_out_a_newcomer() {
    let limits = Limits {
        max_connections: 300,
        frame_timeout: Duration::from_secs(60),
        min_input_rate: 0,
        ..Limits::default()
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(60), "127.0.0.1:0");
    // 300 slow-drip connections from two sources take every slot.
    let mut drips = Vec::new();
    for i in 0..300 {
        let ip = if i % 2 == 0 { "127.0.0.2" } else { "127.0.0.3" };
        let mut s = connect_from(ip, addr).await;
        assert_eq!(read_line(&mut s).await, "hello");
        s.write_all(b"d").await.unwrap();
        drips.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sensor.limiter.open(), 300);
    // A client from a third address is served within a second, twice over.
    for _ in 0..2 {
        let mut c = connect_from("127.0.0.4", addr).await;
        let hello = tokio::time::timeout(Duration::from_secs(1), read_line(&mut c)).await;
        assert_eq!(hello.expect("served within a second"), "hello");
        c.write_all(b"x\n").await.unwrap();
        assert_eq!(read_line(&mut c).await, "ok x");
        drips.push(c);
    }
    let mut evicted = 0;
    while evicted < 2 {
        let close = next_event(&mut rx, "session.close").await;
        assert_eq!(close.data["reason"], "evicted");
        assert_ne!(close.src.unwrap().ip().to_string(), "127.0.0.4");
        evicted += 1;
    }
    assert_eq!(
        sensor
            .metrics
            .limit_evictions
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(
        sensor
            .metrics
            .limit_max_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_after_the_output_timeout() {
    let limits = Limits {
        output_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (sensor, addr, mut rx) = start(limits, Duration::from_secs(30), "127.0.0.1:0");
    let s = TcpStream::connect(addr).await.unwrap();
    let (_read, mut write) = s.into_split();
    // Pipelined requests, answers never read: at most 16 MB sent, the server stops reading.
    let writer = tokio::spawn(async move {
        let block = b"x\n".repeat(64 * 1024);
        for _ in 0..128 {
            if write.write_all(&block).await.is_err() {
                return;
            }
        }
    });
    let hit = next_event(&mut rx, "limit.hit").await;
    assert_eq!(hit.data["limit"], "output_timeout");
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "output_stalled");
    assert_eq!(
        sensor.metrics.limit_output.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    writer.abort();
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn one_source_flood_leaves_another_sources_session_in_the_log() {
    let dir = std::env::temp_dir().join(format!("conpot-net-flood-{}", std::process::id()));
    let store = conpot_core::capture::FileStore::new(dir, 1 << 20, 1 << 16);
    // A queue of 1,000 events that nobody drains during the flood.
    let (sensor, mut rx) = Sensor::standalone(Limits::default(), Duration::from_secs(30), Some(store), 1000);
    let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    serve_tcp(Arc::clone(&sensor), listener, Arc::new(Lines));
    // 127.0.0.2 floods: 5,000 requests, answers read.
    let flooder = connect_from("127.0.0.2", addr).await;
    let (mut fr, mut fw) = flooder.into_split();
    let drain = tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), fr.read_to_end(&mut sink)).await;
    });
    fw.write_all(&b"flood\n".repeat(5000)).await.unwrap();
    fw.write_all(b"quit\n").await.unwrap();
    drain.await.unwrap();
    // 127.0.0.3 then has a short session.
    let mut other = connect_from("127.0.0.3", addr).await;
    assert_eq!(read_line(&mut other).await, "hello");
    for line in ["a", "b", "quit"] {
        other.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        assert_eq!(read_line(&mut other).await, format!("ok {line}"));
    }
    assert!(closed(&mut other).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut got = Vec::new();
    while let Ok(e) = rx.try_recv() {
        got.push(e);
    }
    let of = |ip: &str, ty: &str| {
        got.iter()
            .filter(|e| e.event_type == ty && e.src.is_some_and(|a| a.ip().to_string() == ip))
            .count()
    };
    assert_eq!(of("127.0.0.3", "session.open"), 1);
    assert_eq!(of("127.0.0.3", "lines.request"), 3);
    assert_eq!(of("127.0.0.3", "session.close"), 1);
    assert_eq!(of("127.0.0.2", "session.open"), 1);
    assert_eq!(of("127.0.0.2", "session.close"), 1);
    let flood = of("127.0.0.2", "lines.request");
    assert!(flood <= 250, "the flooding source kept to its share: {flood}");
    assert!(rx.dropped.load(std::sync::atomic::Ordering::Relaxed) >= 4750);
    sensor.shutdown.cancel();
}

#[tokio::test]
async fn a_1_mb_payload_is_logged_with_its_size_and_flagged_truncated() {
    let (sensor, addr, mut rx) = start(Limits::default(), Duration::from_secs(30), "127.0.0.1:0");
    let mut s = TcpStream::connect(addr).await.unwrap();
    assert_eq!(read_line(&mut s).await, "hello");
    // No newline: one frame that never ends, far past the buffer limit.
    let _ = s.write_all(&vec![b'a'; 1 << 20]).await;
    let bad = next_event(&mut rx, "lines.malformed").await;
    let raw = bad.raw.as_ref().unwrap();
    assert!(
        raw.len > Limits::default().max_buffer,
        "raw_len {} is what was buffered",
        raw.len
    );
    assert!(raw.truncated(), "raw kept to raw_limit and flagged");
    assert_eq!(raw.bytes.len(), 4096);
    let close = next_event(&mut rx, "session.close").await;
    assert_eq!(close.data["reason"], "buffer_limit");
    assert!(close.data["bytes_in"].as_u64().unwrap() >= raw.len as u64);
    sensor.shutdown.cancel();
}
