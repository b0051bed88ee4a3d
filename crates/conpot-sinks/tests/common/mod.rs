//! What the sink tests share: events, running a sink to the end, and finding the real
//! servers tests/servers/start runs on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::bus::{EventBus, QueueLimits};
use conpot_core::config::SinkTable;
use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;
use conpot_sinks::SinkSpec;

/// The address of a server from `var`, or `None` (with a note) outside CI; in CI
/// (`CI=true`) a missing server fails the test.
pub fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "{var} is not set: run tests/servers/start and source its env file");
            eprintln!("note: {var} is not set (tests/servers/start); skipping this test");
            None
        }
    }
}

pub fn origin(sensor: &str) -> Origin {
    Origin {
        sensor_id: sensor.into(),
        persona: "default-1".into(),
        public_ip: Some("203.0.113.9".into()),
        raw_limit: 64,
    }
}

/// A sensor id no other test run uses, so tests sharing a server find their own rows.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

pub fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("conpot-sinks-{}-{}", std::process::id(), name));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn session(port: u16) -> SessionInfo {
    SessionInfo::new(
        "modbus".into(),
        Transport::Tcp,
        Some(format!("198.51.100.4:{port}").parse().unwrap()),
        Some("10.0.0.5:502".parse().unwrap()),
    )
}

/// A Modbus request with a NUL in its decoded form and raw bytes.
pub fn request(o: &Origin, s: &SessionInfo, n: u64) -> Event {
    let mut d = EventDraft::new("modbus.request").with("unit_id", 1).with("n", n);
    d.body.request = Some(serde_json::json!({"function": "read_coils", "note": "x\u{0}y"}));
    d.body.response = Some(serde_json::json!({"values": [1, 0]}));
    d.body.raw = Some(vec![0, 1, 0, 0, 0, 6, 1, 1]);
    Event::stamp(o, s, d, SystemTime::now())
}

pub fn upload(o: &Origin, s: &SessionInfo) -> Event {
    let d = EventDraft::new("file.upload")
        .with("name", "OB1")
        .with("sha256", "ab".repeat(32))
        .with("size", 12)
        .with("status", "stored");
    Event::stamp(o, s, d, SystemTime::now())
}

pub fn spec(pairs: &[(&str, toml::Value)]) -> SinkSpec {
    SinkSpec::parse(&SinkTable::from_pairs("t.toml", "sinks[0]", pairs)).unwrap()
}

/// A sink running on its own thread, fed through a bus.
pub struct Running {
    pub bus: Option<EventBus>,
    pub metrics: Arc<Metrics>,
    task: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// The queue holds `queue` events whatever their size and source: these tests publish
    /// bursts of one source's requests while the sink waits on its server, which the
    /// bus's fair share (tested in the core) would rightly cut down and count.
    pub fn start(spec: &SinkSpec, o: Origin, state: &std::path::Path, queue: usize) -> Running {
        let metrics = Arc::new(Metrics::default());
        let mut bus = EventBus::new(Arc::clone(&metrics));
        bus.set_queue_limits(QueueLimits {
            events: queue,
            bytes: 1 << 30,
            source_share: 100,
        });
        let (_, task) = conpot_sinks::attach(spec, &mut bus, queue, o, Default::default(), state).unwrap();
        Running {
            bus: Some(bus),
            metrics,
            task: Some(std::thread::spawn(task)),
        }
    }

    pub fn publish(&self, e: Event) {
        self.bus.as_ref().unwrap().publish(e);
    }

    /// Closes the queue and waits (at most 20 s) for the sink to drain.
    pub fn finish(mut self) -> Arc<Metrics> {
        drop(self.bus.take());
        let t = self.task.take().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !t.is_finished() {
            assert!(std::time::Instant::now() < deadline, "sink did not finish");
            std::thread::sleep(Duration::from_millis(10));
        }
        t.join().unwrap();
        Arc::clone(&self.metrics)
    }
}

/// Polls `f` every 50 ms until it gives `Some`, for at most `secs` seconds.
pub fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
