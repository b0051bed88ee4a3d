//! The UDP listener over real sockets: sessions per source, idle expiry, the answer
//! budget, the amplification cap and the session limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::bus::{EventBus, SinkReceiver};
use conpot_core::config::Limits;
use conpot_core::event::{Event, EventDraft, Origin};
use conpot_core::listener::Sensor;
use conpot_core::metrics::Metrics;
use conpot_core::udp::{DatagramOutput, DatagramService, UdpLimits, bind_udp, serve_udp};
use tokio::net::UdpSocket;

/// Answers "x" with the datagram repeated `x` times (a 1-byte request can ask for a lot).
struct Echo;

impl DatagramService for Echo {
    fn protocol(&self) -> &'static str {
        "echo"
    }
    fn handle(&self, d: &[u8], _: SocketAddr, _: SocketAddr, _: SystemTime, _max: usize) -> DatagramOutput {
        let times = usize::from(d.first().copied().unwrap_or(1)).max(1);
        DatagramOutput {
            reply: Some(d.repeat(times)),
            events: vec![EventDraft::new("echo.request")],
            delay: Duration::ZERO,
        }
    }
}

async fn start(limits: UdpLimits, timeout: Duration) -> (Arc<Sensor>, SocketAddr, SinkReceiver) {
    let mut bus = EventBus::new(Arc::new(Metrics::default()));
    let rx = bus.add_sink("t", 100_000);
    let origin = Origin {
        sensor_id: "t".into(),
        persona: "p".into(),
        public_ip: None,
        raw_limit: 64,
    };
    let sensor = Sensor::new(origin, Arc::new(bus), Limits::default(), timeout, None);
    let sock = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
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
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(200), rx.rx.recv()).await {
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
    let ev = events(&mut rx).await;
    assert_eq!(
        ev.iter().filter(|e| e.event_type == "session.open").count(),
        1,
        "one session per source"
    );
    assert_eq!(
        ev.iter().filter(|e| e.event_type == "echo.request").count(),
        21,
        "every datagram logged"
    );
    assert!(
        ev.iter()
            .any(|e| e.event_type == "limit.hit" && e.data["limit"] == "answers_per_source")
    );
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
    // The other two expire after the idle timeout.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ev = events(&mut rx).await;
    let idle = ev
        .iter()
        .filter(|e| e.event_type == "session.close" && e.data["reason"] == "idle_timeout")
        .count();
    assert_eq!(idle, 2);
    sensor.shutdown.cancel();
}
