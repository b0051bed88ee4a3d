//! Events per second one sink takes on this machine: `cargo run --release -p conpot-sinks
//! --example sink_rate -- TYPE=jsonl|sqlite|postgresql|nats|hpfeeds|hpfeeds-confirm [URL] [EVENTS] [BATCH]`
//! (BATCH: events per batch, 2,000 unless given)
//! (hpfeeds: URL is the broker's `host:port`, ident `conpot` as tests/servers/start makes it). Publishes Modbus
//! request events as fast as the queue takes them (the producer waits when the queue is
//! full rather than dropping, so the figure is the sink's, not the bus's) and reports the
//! rate once the sink has delivered the last one. PostgreSQL: the run's rows are deleted
//! (and the tables vacuumed) afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use conpot_core::bus::EventBus;
use conpot_core::config::SinkTable;
use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;

/// The `conpot` binary's allocator, so the rate is the deployed sink's: on glibc's, a
/// third of the NATS sink's time went to malloc and free, much of it waiting on the lock
/// of the arena a message was made in when the client's thread freed it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kind = args.first().map(String::as_str).unwrap_or("jsonl");
    let url = args.get(1).cloned().unwrap_or_default();
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("conpot-sink-rate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sensor = format!("rate-{}", uuid::Uuid::now_v7().simple());
    let mut pairs: Vec<(&str, toml::Value)> = vec![("type", kind.into())];
    match kind {
        "jsonl" => pairs.push(("path", dir.join("e.jsonl").display().to_string().into())),
        "sqlite" => pairs.push(("path", dir.join("e.db").display().to_string().into())),
        "hpfeeds" | "hpfeeds-confirm" => {
            let (host, port) = url.rsplit_once(':').expect("hpfeeds takes host:port");
            pairs[0] = ("type", "hpfeeds".into());
            pairs.push(("host", host.into()));
            pairs.push(("port", port.parse::<i64>().expect("a port").into()));
            pairs.push(("ident", "conpot".into()));
            pairs.push(("secret", "conpot-secret".into()));
            pairs.push(("confirm", (kind == "hpfeeds-confirm").into()));
        }
        _ => pairs.push(("url", url.clone().into())),
    }
    let batch: i64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2000);
    pairs.push(("batch", batch.into()));
    let spec = conpot_sinks::SinkSpec::parse(&SinkTable::from_pairs("args", "sink", &pairs)).unwrap();
    let origin = Origin {
        sensor_id: sensor.as_str().into(),
        persona: "p".into(),
        public_ip: None,
        raw_limit: 4096,
    };
    let metrics = Arc::new(Metrics::default());
    let mut bus = EventBus::new(Arc::clone(&metrics));
    // Every event comes from one address: that source may fill the whole queue (as the
    // suite's `event_source_share = 100`), with room for the producer's bursts.
    bus.set_queue_limits(conpot_core::bus::QueueLimits {
        events: 65_536,
        bytes: 64 << 20,
        source_share: 100,
    });
    let (_, task) = conpot_sinks::attach(&spec, &mut bus, 65_536, origin.clone(), Default::default(), &dir).unwrap();
    let session = SessionInfo::new(
        "modbus".into(),
        Transport::Tcp,
        Some("198.51.100.4:40000".parse().unwrap()),
        Some("10.0.0.5:502".parse().unwrap()),
    );
    let make = |i: u64| {
        let mut d = EventDraft::new("modbus.request").with("unit_id", 1).with("n", i);
        d.body.request = Some(serde_json::json!({"function": "read_coils", "address": 1, "quantity": 8}));
        d.body.response = Some(serde_json::json!({"values": [1, 0, 1, 0, 0, 0, 0, 1]}));
        d.body.raw = Some(vec![0, 7, 0, 0, 0, 6, 1, 1, 0, 1, 0, 8]);
        Event::stamp(&origin, &session, d, SystemTime::now())
    };
    let started = Instant::now();
    let thread = std::thread::spawn(task);
    let mut published = 0;
    while published < n {
        // Keep the queue from overflowing: the sink's rate, not the drop rate.
        let dropped = metrics.events_dropped.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(dropped, 0, "the producer outran the queue");
        for _ in 0..1000 {
            bus.publish(make(published));
            published += 1;
        }
        // Below one source's share of the queue (all these events come from one address) and
        // well under its byte bound.
        while bus.backlog() > 4_000 {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
    drop(bus);
    thread.join().unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!("{kind}: {n} events in {secs:.2} s = {:.0} events/s", n as f64 / secs);
    if matches!(kind, "postgresql" | "postgres") {
        remove_rows(&url, &sensor);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deletes the run's rows again, so the test database does not grow by 200,000 events a
/// run (a table past the server's buffers makes later runs slower, whatever the sink).
fn remove_rows(url: &str, sensor: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let events = client
            .execute("DELETE FROM events WHERE sensor_id = $1", &[&sensor])
            .await
            .unwrap();
        client
            .execute("DELETE FROM sessions WHERE sensor_id = $1", &[&sensor])
            .await
            .unwrap();
        client.batch_execute("VACUUM events, sessions").await.unwrap();
        println!("removed the run's {events} rows");
    });
}
