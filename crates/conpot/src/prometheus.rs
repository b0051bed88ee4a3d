//! The Prometheus text endpoint (`[metrics] listen`, off by default) and `conpot status`,
//! which prints the same numbers from a running sensor. The process counters come from
//! [`Metrics`]; per-protocol sessions, requests and events are counted by a sink of their
//! own on the bus (so no protocol or transport code changes, and nothing is counted when
//! the endpoint is off); the spool sizes are read from the spool files at each scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conpot_core::bus::EventBus;
use conpot_core::metrics::Metrics;
use conpot_sinks::runner::SinkStats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longest request head read from a scraper.
const MAX_REQUEST: usize = 8 * 1024;
/// Most distinct protocols counted (they come from the registry, so a handful).
const MAX_PROTOCOLS: usize = 256;

/// Per-protocol counts.
#[derive(Debug, Default, Clone, Copy)]
struct Proto {
    sessions: u64,
    requests: u64,
    events: u64,
}

/// What a scrape reports besides the process counters.
#[derive(Debug)]
pub struct Exporter {
    metrics: Arc<Metrics>,
    protocols: Mutex<BTreeMap<String, Proto>>,
    spool_dir: PathBuf,
    sinks: Vec<(String, Arc<SinkStats>)>,
}

/// Escapes a label value (`\`, `"`, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Exporter {
    /// An exporter over `metrics`, the spool folder and the configured sinks' counters.
    pub fn new(metrics: Arc<Metrics>, spool_dir: PathBuf, sinks: Vec<(String, Arc<SinkStats>)>) -> Arc<Exporter> {
        Arc::new(Exporter {
            metrics,
            protocols: Mutex::new(BTreeMap::new()),
            spool_dir,
            sinks,
        })
    }

    /// Attaches the counting sink to `bus` and returns its job (run it on its own thread).
    pub fn attach(self: &Arc<Self>, bus: &mut EventBus, capacity: usize) -> impl FnOnce() + Send + 'static {
        let mut rx = bus.add_sink("metrics", capacity);
        let me = Arc::clone(self);
        move || {
            while let Some(e) = rx.blocking_recv() {
                let Ok(mut p) = me.protocols.lock() else { return };
                if !p.contains_key(&*e.protocol) && p.len() >= MAX_PROTOCOLS {
                    continue;
                }
                let c = p.entry(e.protocol.to_string()).or_default();
                c.events += 1;
                if e.event_type == "session.open" {
                    c.sessions += 1;
                } else if e.event_type.ends_with(".request") {
                    c.requests += 1;
                }
            }
        }
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        for (name, v) in self.metrics.snapshot() {
            let kind = "counter";
            let _ = writeln!(out, "# TYPE conpot_{name}_total {kind}");
            let _ = writeln!(out, "conpot_{name}_total {v}");
        }
        let protocols = self.protocols.lock().map(|p| p.clone()).unwrap_or_default();
        for (metric, help, get) in [
            (
                "sessions",
                "Sessions opened",
                (|p: &Proto| p.sessions) as fn(&Proto) -> u64,
            ),
            ("requests", "Requests decoded", |p: &Proto| p.requests),
            ("events", "Events emitted", |p: &Proto| p.events),
        ] {
            let _ = writeln!(out, "# HELP conpot_protocol_{metric}_total {help}, by protocol.");
            let _ = writeln!(out, "# TYPE conpot_protocol_{metric}_total counter");
            for (proto, c) in &protocols {
                let _ = writeln!(
                    out,
                    "conpot_protocol_{metric}_total{{protocol=\"{}\"}} {}",
                    label(proto),
                    get(c)
                );
            }
        }
        for (metric, help) in [
            ("delivered", "Records the sink's destination took"),
            ("failed", "Records the sink gave up"),
            ("spool_dropped", "Records the sink's full spool could not take"),
            ("queue_dropped", "Events the sink's full queue could not take"),
        ] {
            let _ = writeln!(out, "# HELP conpot_sink_{metric}_total {help}.");
            let _ = writeln!(out, "# TYPE conpot_sink_{metric}_total counter");
            for (sink, st) in &self.sinks {
                let v = match metric {
                    "delivered" => &st.delivered,
                    "failed" => &st.failed,
                    "spool_dropped" => &st.spool_dropped,
                    _ => &st.queue_dropped,
                }
                .load(std::sync::atomic::Ordering::Relaxed);
                let _ = writeln!(out, "conpot_sink_{metric}_total{{sink=\"{}\"}} {v}", label(sink));
            }
        }
        let _ = writeln!(
            out,
            "# HELP conpot_sink_spool_bytes Bytes waiting in a sink's disk spool."
        );
        let _ = writeln!(out, "# TYPE conpot_sink_spool_bytes gauge");
        let mut total = 0;
        for (sink, _) in &self.sinks {
            let path = self
                .spool_dir
                .join(format!("{}.spool", conpot_sinks::spool::file_stem(sink)));
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            total += bytes;
            let _ = writeln!(out, "conpot_sink_spool_bytes{{sink=\"{}\"}} {bytes}", label(sink));
        }
        let _ = writeln!(out, "# TYPE conpot_spool_bytes gauge");
        let _ = writeln!(out, "conpot_spool_bytes {total}");
        out
    }
}

/// Serves `exporter` on `listener` until the process ends: any `GET` is answered with the
/// exposition (one request per connection), anything else with 405.
pub async fn serve(listener: tokio::net::TcpListener, exporter: Arc<Exporter>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let exporter = Arc::clone(&exporter);
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    }
                }
                true
            })
            .await;
            if !matches!(read, Ok(true)) {
                return;
            }
            let reply = if buf.starts_with(b"GET ") {
                let body = exporter.render();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
            };
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// `conpot status`: fetches the exposition from the endpoint at `addr` and prints its
/// samples; returns the exit code.
pub fn status(addr: &str) -> i32 {
    let fetch = || -> std::io::Result<String> {
        let sock: std::net::SocketAddr = addr
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("not an address: {addr}")))?;
        let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
        let mut text = String::new();
        s.take(16 << 20).read_to_string(&mut text)?;
        Ok(text)
    };
    match fetch() {
        Ok(text) => {
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
                match line.rsplit_once(' ') {
                    Some((name, v)) => println!("{name:<60} {v}"),
                    None => println!("{line}"),
                }
            }
            0
        }
        Err(e) => {
            eprintln!("conpot status: cannot read the metrics endpoint {addr}: {e}");
            eprintln!("(is the sensor running with [metrics] listen = \"{addr}\" in its configuration?)");
            1
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_protocols_and_spools() {
        let m = Arc::new(Metrics::default());
        Metrics::add(&m.events_published, 5);
        let dir = std::env::temp_dir().join(format!("conpot-prom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{}.spool", conpot_sinks::spool::file_stem("a\"b"))),
            [0u8; 7],
        )
        .unwrap();
        let st = Arc::new(SinkStats::default());
        Metrics::add(&st.delivered, 3);
        let x = Exporter::new(Arc::clone(&m), dir.clone(), vec![("a\"b".into(), st)]);
        x.protocols.lock().unwrap().insert(
            "modbus".into(),
            Proto {
                sessions: 1,
                requests: 2,
                events: 4,
            },
        );
        let text = x.render();
        assert!(text.contains("\nconpot_events_published_total 5\n"), "{text}");
        assert!(text.contains("conpot_protocol_requests_total{protocol=\"modbus\"} 2\n"));
        assert!(text.contains("conpot_sink_spool_bytes{sink=\"a\\\"b\"} 7\n"), "{text}");
        assert!(text.contains("\nconpot_spool_bytes 7\n"));
        assert!(
            text.contains("conpot_sink_delivered_total{sink=\"a\\\"b\"} 3\n"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
