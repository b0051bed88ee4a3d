//! The dashboard's HTTP/1.1 server: GET only, one request per connection (the live stream
//! keeps its connection), the request head bounded in size and time, a bounded number of
//! connections and live viewers. Written on tokio directly: the page needs six routes, and a
//! framework would add more code to the sensor than the dashboard itself.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use conpot_core::bus::EventBus;
use conpot_core::event::Event;
use conpot_core::metrics::Metrics;
use conpot_sinks::runner::SinkStats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast};

use crate::auth::{Access, COOKIE, Credentials};
use crate::html::{self, Health, SinkRow};
use crate::state::{State, epoch_ms, is_sha256};

/// Longest request head read.
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once (a viewer holds one for its stream, plus short fetches).
pub const MAX_CONNECTIONS: usize = 64;
/// Live viewers at once.
pub const MAX_VIEWERS: usize = 16;
/// Events a live viewer may fall behind before it is cut off (and reconnects): the stream is
/// one shared ring, so a slow viewer costs nothing beyond it.
pub const LIVE_BACKLOG: usize = 256;
/// Time one write to a live viewer may take before the viewer is cut off.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Comment sent to an idle stream, so proxies and the browser keep it open.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// A configured sink's counters, as the Prometheus exporter reads them.
pub type SinkHealth = (String, Arc<SinkStats>);

/// The running dashboard: what it has seen, who may look, and where the health numbers are.
#[derive(Debug)]
pub struct Dashboard {
    title: String,
    state: Mutex<State>,
    live: broadcast::Sender<Arc<str>>,
    credentials: Credentials,
    captures_dir: PathBuf,
    max_capture: u64,
    spool_dir: PathBuf,
    sinks: Vec<SinkHealth>,
    metrics: Arc<Metrics>,
    own_dropped: OnceLock<Arc<AtomicU64>>,
    viewers: AtomicUsize,
    slow_viewers: AtomicU64,
}

/// Where a [`Dashboard`] reads what it shows besides events.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The sensor's process counters (limits, bus drops).
    pub metrics: Arc<Metrics>,
    /// The capture store's folder (downloads are served from it only).
    pub captures_dir: PathBuf,
    /// Largest capture served (the store's per-file cap).
    pub max_capture: u64,
    /// The sinks' spool folder.
    pub spool_dir: PathBuf,
    /// The configured sinks' counters.
    pub sinks: Vec<SinkHealth>,
}

impl Dashboard {
    /// A dashboard titled `title` (the sensor id), accepting `credentials`.
    pub fn new(title: &str, credentials: Credentials, sources: Sources) -> Arc<Dashboard> {
        let (live, _) = broadcast::channel(LIVE_BACKLOG);
        Arc::new(Dashboard {
            title: title.to_owned(),
            state: Mutex::new(State::default()),
            live,
            credentials,
            captures_dir: sources.captures_dir,
            max_capture: sources.max_capture,
            spool_dir: sources.spool_dir,
            sinks: sources.sinks,
            metrics: sources.metrics,
            own_dropped: OnceLock::new(),
            viewers: AtomicUsize::new(0),
            slow_viewers: AtomicU64::new(0),
        })
    }

    /// Subscribes to `bus` with a queue of `capacity` events (full: dropped and counted, as
    /// for every sink) and returns the job taking them in; run it on a thread of its own.
    pub fn attach(self: &Arc<Self>, bus: &mut EventBus, capacity: usize) -> impl FnOnce() + Send + 'static {
        let mut rx = bus.add_sink("dashboard", capacity);
        let _ = self.own_dropped.set(Arc::clone(&rx.dropped));
        let me = Arc::clone(self);
        move || {
            while let Some(e) = rx.blocking_recv() {
                me.record(&e);
            }
        }
    }

    /// Takes in one event: into the state, and out to the live viewers (never waiting).
    pub fn record(&self, e: &Event) {
        let row = match self.state.lock() {
            Ok(mut st) => st.record(e),
            Err(_) => return,
        };
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(Arc::from(row.to_json()));
        }
    }

    /// The health numbers as of now.
    pub fn health(&self) -> Health {
        let sinks = self
            .sinks
            .iter()
            .map(|(name, st)| SinkRow {
                name: name.clone(),
                delivered: st.delivered.load(Ordering::Relaxed),
                failed: st.failed.load(Ordering::Relaxed),
                spool_dropped: st.spool_dropped.load(Ordering::Relaxed),
                queue_dropped: st.queue_dropped.load(Ordering::Relaxed),
                spool_bytes: std::fs::metadata(
                    self.spool_dir
                        .join(format!("{}.spool", conpot_sinks::spool::file_stem(name))),
                )
                .map(|m| m.len())
                .unwrap_or(0),
            })
            .collect();
        let snapshot = self.metrics.snapshot();
        Health {
            sinks,
            bus_dropped: snapshot
                .iter()
                .find(|(k, _)| *k == "events_dropped")
                .map(|(_, v)| *v)
                .unwrap_or(0),
            own_dropped: self.own_dropped.get().map(|d| d.load(Ordering::Relaxed)).unwrap_or(0),
            slow_viewers: self.slow_viewers.load(Ordering::Relaxed),
            viewers: self.viewers.load(Ordering::Relaxed),
            limits: snapshot.into_iter().filter(|(k, _)| k.starts_with("limit_")).collect(),
        }
    }

    /// The whole page as of `now`.
    pub fn page(&self, now: SystemTime) -> String {
        let health = self.health();
        match self.state.lock() {
            Ok(st) => html::page(&self.title, &st, &health, epoch_ms(now)),
            Err(_) => String::new(),
        }
    }

    /// The panels as of `now`.
    pub fn panels(&self, now: SystemTime) -> String {
        let health = self.health();
        match self.state.lock() {
            Ok(st) => html::panels(&st, &health, epoch_ms(now)),
            Err(_) => String::new(),
        }
    }

    /// Serves the dashboard on `listener` until the process ends.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // Full: the newcomer is closed at once rather than queued.
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                continue;
            };
            let me = Arc::clone(&self);
            tokio::spawn(async move {
                me.connection(stream).await;
                drop(permit);
            });
        }
    }

    async fn connection(&self, mut stream: TcpStream) {
        let Ok(Some(head)) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await else {
            return;
        };
        let Some(req) = Request::parse(&head) else {
            let _ = respond(&mut stream, 400, "text/plain", &[], b"bad request\n").await;
            return;
        };
        if req.method != "GET" && req.method != "HEAD" {
            let _ = respond(&mut stream, 405, "text/plain", &[("Allow", "GET, HEAD")], b"GET only\n").await;
            return;
        }
        match self.credentials.check(req.authorization, req.cookie, req.query) {
            Access::Denied => {
                let mut extra = vec![];
                if self.credentials.basic.is_some() {
                    extra.push((
                        "WWW-Authenticate",
                        "Basic realm=\"conpot dashboard\", charset=\"UTF-8\"",
                    ));
                } else {
                    extra.push(("WWW-Authenticate", "Bearer realm=\"conpot dashboard\""));
                }
                let _ = respond(&mut stream, 401, "text/plain", &extra, b"token required\n").await;
            }
            Access::SetCookie => {
                let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", self.credentials.token);
                let location = if req.path.starts_with('/') && !req.path.starts_with("//") {
                    req.path
                } else {
                    "/"
                };
                let _ = respond(
                    &mut stream,
                    303,
                    "text/plain",
                    &[("Set-Cookie", &cookie), ("Location", location)],
                    b"",
                )
                .await;
            }
            Access::Granted => self.route(&mut stream, &req).await,
        }
    }

    async fn route(&self, stream: &mut TcpStream, req: &Request<'_>) {
        let head_only = req.method == "HEAD";
        let body_of = |b: Vec<u8>| if head_only { Vec::new() } else { b };
        let now = SystemTime::now();
        let _ = match req.path {
            "/" => {
                let b = body_of(self.page(now).into_bytes());
                respond(stream, 200, "text/html; charset=utf-8", &[], &b).await
            }
            "/panels" => {
                let b = body_of(self.panels(now).into_bytes());
                respond(stream, 200, "text/html; charset=utf-8", &[], &b).await
            }
            "/app.js" => {
                let b = body_of(include_bytes!("../assets/app.js").to_vec());
                respond(stream, 200, "text/javascript; charset=utf-8", &[], &b).await
            }
            "/style.css" => {
                let b = body_of(include_bytes!("../assets/style.css").to_vec());
                respond(stream, 200, "text/css; charset=utf-8", &[], &b).await
            }
            "/api/stats" => {
                let st = self.state.lock().map(|s| (s.seen, s.sessions.len())).unwrap_or((0, 0));
                let b = serde_json::json!({
                    "viewers": self.viewers.load(Ordering::Relaxed),
                    "events_seen": st.0,
                    "sessions_open": st.1,
                })
                .to_string();
                respond(stream, 200, "application/json", &[], &body_of(b.into_bytes())).await
            }
            "/events" => {
                self.stream(stream).await;
                Ok(())
            }
            p => match p.strip_prefix("/captures/") {
                Some(name) => self.capture(stream, name, head_only).await,
                None => respond(stream, 404, "text/plain", &[], b"not found\n").await,
            },
        };
    }

    /// A capture's bytes, if `name` is a SHA-256 the store holds (the name is checked before
    /// any path is made, and the path found must still be inside the store).
    async fn capture(&self, stream: &mut TcpStream, name: &str, head_only: bool) -> std::io::Result<()> {
        let found = if is_sha256(name) {
            let dir = self.captures_dir.clone();
            let name = name.to_owned();
            let max = self.max_capture;
            tokio::task::spawn_blocking(move || read_capture(&dir, &name, max))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        match found {
            Some(bytes) => {
                let disposition = format!("attachment; filename=\"{name}.bin\"");
                let body = if head_only { Vec::new() } else { bytes };
                respond(
                    stream,
                    200,
                    "application/octet-stream",
                    &[("Content-Disposition", &disposition)],
                    &body,
                )
                .await
            }
            None => respond(stream, 404, "text/plain", &[], b"no such capture\n").await,
        }
    }

    /// The live stream: server-sent events, one per event, from the shared ring. A viewer
    /// that falls [`LIVE_BACKLOG`] behind or stalls a write is cut off (its browser
    /// reconnects), so nothing queues for it.
    async fn stream(&self, stream: &mut TcpStream) {
        if self.viewers.fetch_add(1, Ordering::AcqRel) >= MAX_VIEWERS {
            self.viewers.fetch_sub(1, Ordering::AcqRel);
            let _ = respond(
                stream,
                503,
                "text/plain",
                &[("Retry-After", "5")],
                b"too many viewers\n",
            )
            .await;
            return;
        }
        let mut rx = self.live.subscribe();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{}Connection: close\r\n\r\nretry: 2000\n\n",
            SECURITY_HEADERS
        );
        let mut result = write_timed(stream, head.as_bytes()).await;
        let mut ping = tokio::time::interval(KEEPALIVE);
        ping.tick().await;
        while result.is_ok() {
            result = tokio::select! {
                m = rx.recv() => match m {
                    Ok(json) => write_timed(stream, format!("data: {json}\n\n").as_bytes()).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => Err(Cut::Slow),
                    Err(broadcast::error::RecvError::Closed) => Err(Cut::Gone),
                },
                _ = ping.tick() => write_timed(stream, b": keepalive\n\n").await,
            };
        }
        if result == Err(Cut::Slow) {
            self.slow_viewers.fetch_add(1, Ordering::Relaxed);
        }
        self.viewers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads a capture from `dir` (blocking): `None` unless `dir/name` resolves to a file inside
/// `dir` of at most `max` bytes.
fn read_capture(dir: &Path, name: &str, max: u64) -> Option<Vec<u8>> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let path = std::fs::canonicalize(dir.join(name)).ok()?;
    if path.parent() != Some(dir.as_path()) {
        return None;
    }
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > max {
        return None;
    }
    std::fs::read(&path).ok()
}

/// Headers of every answer: nothing cached, nothing framed, no script but ours, no referrer
/// (a `?token=` address must not leak).
const SECURITY_HEADERS: &str = "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
     X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n\
     Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n";

/// Why a live viewer's stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// It fell behind the shared ring, or a write stalled past [`WRITE_TIMEOUT`].
    Slow,
    /// It went away (or the sensor is stopping).
    Gone,
}

/// Writes `bytes` within [`WRITE_TIMEOUT`].
async fn write_timed(stream: &mut TcpStream, bytes: &[u8]) -> Result<(), Cut> {
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Cut::Gone),
        Err(_) => Err(Cut::Slow),
    }
}

async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    write_timed(stream, bytes).await.is_ok()
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{SECURITY_HEADERS}",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    if !write_all(stream, head.as_bytes()).await || !write_all(stream, body).await {
        return Err(std::io::ErrorKind::TimedOut.into());
    }
    let _ = stream.shutdown().await;
    Ok(())
}

/// Reads up to the end of the request head (`\r\n\r\n`); `None` if the client closes first
/// or sends more than [`MAX_HEAD`] bytes without one.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Some(buf);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

/// The parts of a request the dashboard looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// `GET`, ...
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The query, if any.
    pub query: Option<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// Parses a request head (without its final blank line); `None` if it is not HTTP/1.x.
    pub fn parse(head: &'a [u8]) -> Option<Request<'a>> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, target, version) = (first.next()?, first.next()?, first.next()?);
        if !version.starts_with("HTTP/1.") || first.next().is_some() {
            return None;
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let (mut authorization, mut cookie) = (None, None);
        for line in lines {
            let (k, v) = line.split_once(':')?;
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim());
            } else if k.eq_ignore_ascii_case("cookie") {
                cookie = Some(v.trim());
            }
        }
        Some(Request {
            method,
            path,
            query,
            authorization,
            cookie,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_the_dashboard_needs() {
        let r =
            Request::parse(b"GET /panels?token=abc HTTP/1.1\r\nHost: x\r\nCOOKIE: a=b\r\nauthorization:  Bearer t ")
                .unwrap();
        assert_eq!((r.method, r.path, r.query), ("GET", "/panels", Some("token=abc")));
        assert_eq!((r.cookie, r.authorization), (Some("a=b"), Some("Bearer t")));
        assert!(Request::parse(b"GET / SMTP/1.0").is_none());
        assert!(Request::parse(b"GET  / HTTP/1.1").is_none());
        assert!(Request::parse(b"GET / HTTP/1.1\r\nno colon").is_none());
        assert!(Request::parse(b"\xff\xfe").is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_are_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Request::parse(&bytes);
        }
    }
}
