//! Clients that pipeline requests and never read the answers: the process stays small
//! (the sink queue is bounded in bytes, each connection stops being read while its
//! answers wait) and the connections are closed after the output timeout. Alone in its
//! own test binary, so nothing else in the process blurs the measurement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::config::Limits;
use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Service, Session, SessionCtx};
use conpot_net::{Sensor, bind_tcp, serve_tcp};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Answers every byte with 250 bytes and logs a large decoded response, as a Modbus read
/// of 125 holding registers does.
struct Registers;
struct RegistersSession;

impl Service for Registers {
    fn protocol(&self) -> &'static str {
        "registers"
    }
    fn new_session(&self, _: &SessionCtx) -> Box<dyn Session> {
        Box::new(RegistersSession)
    }
}

impl Session for RegistersSession {
    fn on_input(&mut self, input: &[u8], _now: SystemTime, out: &mut Output) -> usize {
        if input.is_empty() {
            return 0;
        }
        // One request per byte, one request per call (as a framed protocol consumes).
        let mut ev = EventDraft::new("registers.request");
        ev.body.response = Some(serde_json::json!({"values": vec![0x1234u16; 125]}));
        ev.body.raw_response = Some(vec![0x12; 250]);
        out.events.push(ev);
        out.bytes.extend_from_slice(&[0x12; 250]);
        1
    }
}

fn rss_mb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096 / (1 << 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_clients_that_never_read_keep_the_process_small() {
    let limits = Limits {
        output_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    // The default queue: 65,536 events (by count alone, about 300 MB of these events).
    let (sensor, rx) = Sensor::standalone(limits, Duration::from_secs(30), None, 65_536);
    let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    serve_tcp(Arc::clone(&sensor), listener, Arc::new(Registers));
    let mut writers = Vec::new();
    for _ in 0..40 {
        let s = TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = s.into_split();
        writers.push(tokio::spawn(async move {
            let _keep = read; // never read
            let block = vec![0u8; 16 * 1024];
            for _ in 0..256 {
                if write.write_all(&block).await.is_err() {
                    return;
                }
            }
        }));
    }
    let mut peak = 0;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_mb());
    }
    let (events, bytes) = rx.queued();
    assert!(bytes <= 32 << 20, "queue holds {bytes} bytes in {events} events");
    eprintln!("peak RSS {peak} MB, queue {events} events, {bytes} bytes");
    assert!(peak < 80, "peak RSS {peak} MB");
    assert!(events > 0);
    assert!(
        rx.dropped.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the flood was big enough to fill the queue"
    );
    for w in writers {
        w.abort();
    }
    sensor.shutdown.cancel();
}
