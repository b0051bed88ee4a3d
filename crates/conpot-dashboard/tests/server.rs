//! The dashboard over a real socket: who gets in, the cookie flow, the live stream and the
//! capture downloads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;
use conpot_dashboard::auth::Credentials;
use conpot_dashboard::server::{Dashboard, Sources};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "test-token-0123456789";

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("conpot-dash-{name}-{}", conpot_core::rng::entropy_u64()))
}

async fn start(captures: std::path::PathBuf) -> (Arc<Dashboard>, std::net::SocketAddr) {
    let d = Dashboard::new(
        "sensor-1",
        Credentials {
            token: TOKEN.into(),
            basic: Some(("ops".into(), "s3cret-pass".into())),
        },
        Sources {
            metrics: Arc::new(Metrics::default()),
            captures_dir: captures,
            max_capture: 1 << 20,
            spool_dir: temp("spool"),
            sinks: vec![],
        },
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(Arc::clone(&d).serve(l));
    (d, addr)
}

async fn get(addr: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(buf[..end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head, buf[end + 4..].to_vec())
}

fn event(draft: EventDraft) -> Event {
    let origin = Origin {
        sensor_id: Arc::from("s"),
        persona: Arc::from("plc"),
        public_ip: None,
        raw_limit: 1024,
    };
    let s = SessionInfo::new(
        "modbus".into(),
        Transport::Tcp,
        Some("10.9.8.7:502".parse().unwrap()),
        None,
    );
    Event::stamp(&origin, &s, draft, SystemTime::now())
}

#[tokio::test]
async fn refuses_without_credentials_and_serves_with_them() {
    let (_d, addr) = start(temp("cap")).await;
    for path in ["/", "/panels", "/events", "/app.js", "/captures/x", "/api/stats"] {
        let (status, head, _) = get(addr, path, "").await;
        assert_eq!(status, 401, "{path}");
        assert!(head.contains("WWW-Authenticate: Basic"), "{head}");
    }
    assert_eq!(
        get(addr, "/", "Authorization: Bearer wrong-token-0123456789\r\n")
            .await
            .0,
        401
    );
    assert_eq!(get(addr, "/", "Cookie: conpot_dashboard=nope\r\n").await.0, 401);
    let (status, head, body) = get(addr, "/", &format!("Authorization: Bearer {TOKEN}\r\n")).await;
    assert_eq!(status, 200);
    assert!(head.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"));
    assert!(String::from_utf8(body).unwrap().contains("conpot-rs · sensor-1"));
    // ops:s3cret-pass
    assert_eq!(
        get(addr, "/panels", "Authorization: Basic b3BzOnMzY3JldC1wYXNz\r\n")
            .await
            .0,
        200
    );
    assert_eq!(
        get(addr, "/nothing", &format!("Authorization: Bearer {TOKEN}\r\n"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn query_token_sets_a_cookie_that_lets_the_browser_in() {
    let (_d, addr) = start(temp("cap")).await;
    assert_eq!(get(addr, "/?token=wrong", "").await.0, 401);
    let (status, head, _) = get(addr, &format!("/?token={TOKEN}"), "").await;
    assert_eq!(status, 303);
    assert!(head.contains("Location: /\r\n"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .expect("a cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let (status, _, body) = get(addr, "/", &format!("Cookie: other=1; {pair}\r\n")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("id=\"events\""));
}

#[tokio::test]
async fn live_stream_carries_new_events_escaped_as_json() {
    let (d, addr) = start(temp("cap")).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET /events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    // Wait until the stream has started (its head is sent once the viewer is subscribed).
    while !got.windows(9).any(|w| w == b"retry: 20") {
        let n = s.read(&mut chunk).await.unwrap();
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(String::from_utf8_lossy(&got).contains("Content-Type: text/event-stream"));
    d.record(&event(
        EventDraft::new("modbus.request").with("x", "<script>alert(1)</script>"),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !String::from_utf8_lossy(&got).contains("modbus.request") {
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        got.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8(got).unwrap();
    let line = text.lines().find(|l| l.starts_with("data: ")).unwrap();
    let j: serde_json::Value = serde_json::from_str(&line[6..]).unwrap();
    assert_eq!(j["src"], "10.9.8.7:502");
    assert!(
        j["detail"].as_str().unwrap().contains("<script>"),
        "JSON keeps the text; the page uses textContent"
    );
}

#[tokio::test]
async fn slow_viewers_are_cut_off_not_buffered() {
    let (d, addr) = start(temp("cap")).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET /events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut chunk = [0u8; 256];
    let _ = s.read(&mut chunk).await.unwrap();
    // Never read again: the socket buffers fill, then the shared ring overtakes the viewer.
    let big = "A".repeat(200);
    for i in 0..20_000 {
        d.record(&event(
            EventDraft::new("modbus.request").with("n", i).with("pad", big.as_str()),
        ));
        if i % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = get(addr, "/api/stats", &format!("Authorization: Bearer {TOKEN}\r\n")).await;
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if j["viewers"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow viewer is still attached: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d.health().slow_viewers, 1, "counted as cut off for being slow");
}

#[tokio::test]
async fn captures_download_by_hash_only() {
    let dir = temp("cap");
    std::fs::create_dir_all(&dir).unwrap();
    let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    std::fs::write(dir.join(sha), b"hello").unwrap();
    let outside = dir.parent().unwrap().join("conpot-dash-secret");
    std::fs::write(&outside, b"secret").unwrap();
    let (_d, addr) = start(dir.clone()).await;
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let (status, head, body) = get(addr, &format!("/captures/{sha}"), &auth).await;
    assert_eq!((status, body.as_slice()), (200, b"hello".as_slice()));
    assert!(head.contains("Content-Disposition: attachment"));
    for bad in [
        "/captures/../conpot-dash-secret",
        "/captures/%2e%2e%2fconpot-dash-secret",
        "/captures/2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
        "/captures/0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        assert_eq!(get(addr, bad, &auth).await.0, 404, "{bad}");
    }
    // A link in the store pointing outside it is not followed out.
    let link = "1111111111111111111111111111111111111111111111111111111111111111";
    std::os::unix::fs::symlink(&outside, dir.join(link)).unwrap();
    assert_eq!(get(addr, &format!("/captures/{link}"), &auth).await.0, 404);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(outside);
}

#[tokio::test]
async fn oversized_or_broken_requests_are_refused() {
    let (_d, addr) = start(temp("cap")).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
    let _ = s.write_all(huge.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(buf.is_empty(), "closed without an answer");
    let (status, _, _) = get(addr, "/", "no colon here\r\n").await;
    assert_eq!(status, 400);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("POST / HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 405"));
}

#[test]
fn a_stalled_dashboard_drops_and_counts_instead_of_blocking_the_bus() {
    let metrics = Arc::new(Metrics::default());
    let mut bus = conpot_core::bus::EventBus::new(Arc::clone(&metrics));
    let d = Dashboard::new(
        "s",
        Credentials {
            token: TOKEN.into(),
            basic: None,
        },
        Sources {
            metrics: Arc::clone(&metrics),
            captures_dir: temp("cap"),
            max_capture: 1,
            spool_dir: temp("spool"),
            sinks: vec![],
        },
    );
    // The consumer's job is not run: its queue of 64 fills and the rest is dropped.
    let job = d.attach(&mut bus, 64);
    let t0 = std::time::Instant::now();
    for i in 0..10_000 {
        bus.publish(event(EventDraft::new("modbus.request").with("n", i)));
    }
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "publishing never waits for the dashboard"
    );
    let h = d.health();
    assert!(h.own_dropped >= 10_000 - 64, "{}", h.own_dropped);
    assert_eq!(h.bus_dropped, h.own_dropped);
    // Once running, the job takes what its queue held, and ends with the bus.
    drop(bus);
    job();
    let page = d.page(SystemTime::now());
    assert!(page.contains("modbus.request"));
    assert!(page.contains(&format!("this dashboard's queue dropped {}", h.own_dropped)));
}
