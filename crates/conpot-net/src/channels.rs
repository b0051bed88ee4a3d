//! The I/O a session asks for: data listeners (FTP PASV), connections back to the peer
//! (FTP PORT), upstream connections to configured targets (proxy), each a channel with
//! its own task that reports to the session through [`IoEvent`]s.
//!
//! Every request is checked here before any socket is touched: a connection back may go
//! only to the session's own peer address (anything else is a bounce attempt), an
//! upstream only to a configured target, and a data listener accepts only the peer.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::event::{EventDraft, SessionInfo};
use conpot_core::protocol::{ChannelId, IoEvent, IoRequest, UpstreamTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::sensor::Sensor;

/// Channels one session may have open at once.
pub const MAX_CHANNELS: usize = 4;
/// Events queued from channel tasks before they wait for the session.
const EVENT_QUEUE: usize = 16;
/// Commands queued to one channel before the session's requests wait.
const COMMAND_QUEUE: usize = 16;
/// Read size of a channel.
const CHUNK: usize = 16 * 1024;
/// Ports tried in a data listener's range before giving up.
const PORT_TRIES: u32 = 32;
/// How long a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request was refused before any socket was touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A connection to another address than the session's peer (FTP bounce).
    Bounce,
    /// A connection back to a privileged port (below 1024), as FTP servers refuse.
    PrivilegedPort,
    /// An upstream that is not configured.
    NotConfigured,
    /// The session has too many channels open.
    ChannelLimit,
    /// The transport cannot carry this request.
    Unsupported,
}

impl Refused {
    /// The stable name used in events and in [`IoEvent::Failed`].
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Bounce => "bounce",
            Refused::PrivilegedPort => "privileged_port",
            Refused::NotConfigured => "not_configured",
            Refused::ChannelLimit => "channel_limit",
            Refused::Unsupported => "unsupported",
        }
    }
}

/// Checks a request against the session's peer and the configured upstreams.
pub fn check(request: &IoRequest, peer: SocketAddr, upstreams: &[SocketAddr]) -> Result<(), Refused> {
    match request {
        IoRequest::ConnectBack { addr, .. } => {
            if !same_host(addr.ip(), peer.ip()) {
                Err(Refused::Bounce)
            } else if addr.port() < 1024 {
                Err(Refused::PrivilegedPort)
            } else {
                Ok(())
            }
        }
        IoRequest::Upstream { addr, .. } if !upstreams.contains(addr) => Err(Refused::NotConfigured),
        _ => Ok(()),
    }
}

/// Whether two addresses are the same host (an IPv4 peer may appear IPv4-mapped).
fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// The `io.refused` event of a refused request.
pub fn refused_event(request: &IoRequest, why: Refused) -> EventDraft {
    let (kind, target) = match request {
        IoRequest::OpenDataListener { .. } => ("data_listener", None),
        IoRequest::ConnectBack { addr, .. } => ("connect_back", Some(*addr)),
        IoRequest::NewUdpPort { .. } => ("udp_port", None),
        IoRequest::Upstream { addr, .. } => ("upstream", Some(*addr)),
        IoRequest::Send { .. } => ("send", None),
        IoRequest::Close { .. } => ("close", None),
        IoRequest::SerialLine { .. } => ("serial_line", None),
        IoRequest::SerialControl { .. } => ("serial_control", None),
    };
    let mut d = EventDraft::new("io.refused")
        .with("request", kind)
        .with("reason", why.as_str());
    if let Some(t) = target {
        d = d.with("target", t.to_string());
    }
    if why == Refused::Bounce {
        d = d.with("attack", "bounce");
    }
    d
}

/// The channel a request is about.
pub fn channel_of(request: &IoRequest) -> ChannelId {
    match request {
        IoRequest::OpenDataListener { channel, .. }
        | IoRequest::ConnectBack { channel, .. }
        | IoRequest::NewUdpPort { channel }
        | IoRequest::Upstream { channel, .. }
        | IoRequest::Send { channel, .. }
        | IoRequest::Close { channel }
        | IoRequest::SerialLine { channel }
        | IoRequest::SerialControl { channel, .. } => *channel,
    }
}

enum Command {
    Send(Vec<u8>),
    Close,
    /// An RFC 2217 command for a serial line (other channels ignore it).
    Control(u8, Vec<u8>),
}

/// How a session's requests reach an open channel.
enum Route {
    /// Through the command queue of the channel's own task.
    Task(mpsc::Sender<Command>),
    /// Carried out in the session's task on [`Channels::inline`].
    Inline,
}

/// A connected upstream driven in the session's own task (a proxy's relay): its sends are
/// written and its reads taken in the task that also serves the client, so a relayed
/// request and its answer cross no task boundary (a channel task costs two wake-ups per
/// direction). Only a session's first upstream is carried so; the task path serves others.
struct Inline {
    channel: ChannelId,
    stream: UpStream,
    /// The read buffer, kept for the connection (sized [`CHUNK`]).
    buf: Vec<u8>,
}

/// An inline upstream's connection: plain TCP, or TLS over it (`upstream_tls`).
enum UpStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl UpStream {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            UpStream::Plain(s) => s.read(buf).await,
            UpStream::Tls(s) => s.read(buf).await,
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            UpStream::Plain(s) => s.write_all(bytes).await,
            // Written through to the socket: the session waits for each send.
            UpStream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            UpStream::Plain(s) => s.shutdown().await,
            UpStream::Tls(s) => s.shutdown().await,
        }
    }
}

/// An inline upstream's connect, done in a small task so the session keeps serving its
/// client meanwhile: the stream comes back on the oneshot, a failure as an [`IoEvent`].
struct Connecting {
    channel: ChannelId,
    peer: SocketAddr,
    rx: oneshot::Receiver<UpStream>,
}

/// The channels of one TCP session.
pub(crate) struct Channels {
    sensor: Arc<Sensor>,
    info: SessionInfo,
    peer: SocketAddr,
    local: SocketAddr,
    tx: mpsc::Sender<IoEvent>,
    rx: mpsc::Receiver<IoEvent>,
    pending: VecDeque<IoEvent>,
    open: HashMap<ChannelId, Route>,
    connecting: Option<Connecting>,
    inline: Option<Inline>,
}

impl Channels {
    pub(crate) fn new(sensor: Arc<Sensor>, info: SessionInfo, peer: SocketAddr, local: SocketAddr) -> Self {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        Channels {
            sensor,
            info,
            peer,
            local,
            tx,
            rx,
            pending: VecDeque::new(),
            open: HashMap::new(),
            connecting: None,
            inline: None,
        }
    }

    /// Whether any channel is open or an event waits (the session loop then also waits on
    /// [`Channels::next`]).
    pub(crate) fn active(&self) -> bool {
        !self.open.is_empty() || !self.pending.is_empty()
    }

    /// The next event for the session: a queued one, one from a channel task, or what the
    /// inline upstream connected or read. Cancel-safe (the session loop selects on it):
    /// each branch either completes or leaves its source untouched.
    pub(crate) async fn next(&mut self) -> Option<IoEvent> {
        if let Some(e) = self.pending.pop_front() {
            return Some(e);
        }
        let ev = loop {
            tokio::select! {
                ev = self.rx.recv() => break ev?,
                connected = connect_result(&mut self.connecting) => {
                    let Some(c) = self.connecting.take() else { continue };
                    // A failed connect reports through the task's events; nothing here.
                    if let Ok(stream) = connected {
                        self.inline = Some(Inline { channel: c.channel, stream, buf: vec![0u8; CHUNK] });
                        break IoEvent::Connected { channel: c.channel, peer: c.peer };
                    }
                }
                read = inline_read(&mut self.inline) => {
                    let Some(up) = self.inline.as_ref() else { continue };
                    let channel = up.channel;
                    match read {
                        Ok(n) if n > 0 => {
                            let bytes = up.buf.get(..n).unwrap_or_default().to_vec();
                            break IoEvent::Data { channel, bytes };
                        }
                        _ => {
                            self.inline = None;
                            break IoEvent::Closed { channel };
                        }
                    }
                }
            }
        };
        if let IoEvent::Closed { channel } | IoEvent::Failed { channel, .. } = &ev {
            self.open.remove(channel);
            if self.connecting.as_ref().is_some_and(|c| c.channel == *channel) {
                self.connecting = None;
            }
        }
        Some(ev)
    }

    /// Carries out one request; `tls` is how the service's upstreams are secured, `line`
    /// the service's serial line, if it has one.
    pub(crate) async fn handle(
        &mut self,
        request: IoRequest,
        upstreams: &[SocketAddr],
        tls: Option<&UpstreamTls>,
        line: Option<&str>,
    ) {
        let channel = channel_of(&request);
        let now = SystemTime::now();
        let opens = matches!(
            request,
            IoRequest::OpenDataListener { .. }
                | IoRequest::ConnectBack { .. }
                | IoRequest::Upstream { .. }
                | IoRequest::SerialLine { .. }
        );
        let hub = match (&request, line) {
            (IoRequest::SerialLine { .. }, Some(path)) => self.sensor.lines.get(path),
            _ => None,
        };
        let refusal = if matches!(request, IoRequest::NewUdpPort { .. }) {
            Err(Refused::Unsupported)
        } else if opens && (self.open.len() >= MAX_CHANNELS || self.open.contains_key(&channel)) {
            Err(Refused::ChannelLimit)
        } else if matches!(request, IoRequest::SerialLine { .. }) && hub.is_none() {
            Err(Refused::NotConfigured)
        } else {
            check(&request, self.peer, upstreams)
        };
        if let Err(why) = refusal {
            if why == Refused::ChannelLimit {
                self.sensor.limit_hit(&self.info, "io_channels", MAX_CHANNELS, now);
            }
            self.sensor.emit(&self.info, refused_event(&request, why), now);
            self.pending.push_back(IoEvent::Failed {
                channel,
                reason: why.as_str(),
            });
            return;
        }
        match request {
            IoRequest::Send { channel, bytes } if self.is_inline(channel) => self.inline_send(channel, &bytes).await,
            IoRequest::Close { channel } if self.is_inline(channel) => self.inline_close(channel).await,
            IoRequest::Upstream { channel, addr } if self.inline.is_none() && self.connecting.is_none() => {
                self.connect_inline(channel, addr, tls.cloned());
            }
            // Only the inline channel speaks TLS: a second upstream of a TLS service is refused.
            IoRequest::Upstream { channel, .. } if tls.is_some() => self.pending.push_back(IoEvent::Failed {
                channel,
                reason: Refused::ChannelLimit.as_str(),
            }),
            IoRequest::Send { channel, bytes } => self.command(channel, Command::Send(bytes)).await,
            IoRequest::Close { channel } => self.command(channel, Command::Close).await,
            IoRequest::SerialControl {
                channel,
                command,
                value,
            } => self.command(channel, Command::Control(command, value)).await,
            IoRequest::SerialLine { channel } => {
                if let Some(hub) = hub {
                    self.attach_line(channel, hub).await;
                }
            }
            IoRequest::OpenDataListener { channel, ports } => {
                let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
                self.open.insert(channel, Route::Task(cmd_tx));
                let task = DataListener {
                    channel,
                    ip: self.local.ip(),
                    ports,
                    peer: self.peer.ip(),
                };
                let (sensor, info, tx) = (Arc::clone(&self.sensor), self.info.clone(), self.tx.clone());
                self.sensor.tracker.spawn(task.run(sensor, info, tx, cmd_rx));
            }
            IoRequest::ConnectBack { channel, addr } | IoRequest::Upstream { channel, addr } => {
                let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
                self.open.insert(channel, Route::Task(cmd_tx));
                let (sensor, tx) = (Arc::clone(&self.sensor), self.tx.clone());
                self.sensor.tracker.spawn(async move {
                    let connected = tokio::select! {
                        _ = sensor.shutdown.cancelled() => return,
                        r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)) => r,
                    };
                    match connected {
                        Ok(Ok(stream)) => {
                            let _ = stream.set_nodelay(true);
                            if tx.send(IoEvent::Connected { channel, peer: addr }).await.is_ok() {
                                pump(&sensor, channel, stream, &tx, cmd_rx).await;
                            }
                        }
                        Ok(Err(_)) => drop(
                            tx.send(IoEvent::Failed {
                                channel,
                                reason: "connect",
                            })
                            .await,
                        ),
                        Err(_) => drop(
                            tx.send(IoEvent::Failed {
                                channel,
                                reason: "timeout",
                            })
                            .await,
                        ),
                    }
                });
            }
            IoRequest::NewUdpPort { .. } => {}
        }
    }

    /// Attaches the session to its service's shared serial line: the line's task answers
    /// the attachment and sends the line's data for it; a small task carries the
    /// session's sends and settings to the line and detaches it when the channel goes.
    async fn attach_line(&mut self, channel: ChannelId, hub: mpsc::Sender<crate::serial::LineCmd>) {
        use crate::serial::LineCmd;
        let client = self.sensor.lines.next_client();
        let attach = LineCmd::Attach {
            client,
            channel,
            peer: self.peer,
            tx: self.tx.clone(),
        };
        if hub.send(attach).await.is_err() {
            self.pending.push_back(IoEvent::Failed { channel, reason: "io" });
            return;
        }
        let (cmd_tx, mut cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        self.open.insert(channel, Route::Task(cmd_tx));
        let tx = self.tx.clone();
        self.sensor.tracker.spawn(async move {
            let mut closed = false;
            while let Some(cmd) = cmd_rx.recv().await {
                let sent = match cmd {
                    Command::Send(bytes) => hub.send(LineCmd::Data { client, bytes }).await,
                    Command::Control(command, value) => hub.send(LineCmd::Control { client, command, value }).await,
                    Command::Close => {
                        closed = true;
                        break;
                    }
                };
                if sent.is_err() {
                    break;
                }
            }
            let _ = hub.send(LineCmd::Detach { client }).await;
            if closed {
                let _ = tx.send(IoEvent::Closed { channel }).await;
            }
        });
    }

    async fn command(&mut self, channel: ChannelId, cmd: Command) {
        match self.open.get(&channel) {
            Some(Route::Task(tx)) => {
                if tx.send(cmd).await.is_err() {
                    self.open.remove(&channel);
                }
            }
            // Still connecting inline: nothing to send to yet (the proxy holds its bytes
            // until `Connected`); a close gives the connect up.
            Some(Route::Inline) => {
                if matches!(cmd, Command::Close) {
                    self.connecting = None;
                    self.open.remove(&channel);
                    self.pending.push_back(IoEvent::Closed { channel });
                }
            }
            None => self.pending.push_back(IoEvent::Failed {
                channel,
                reason: "not_open",
            }),
        }
    }

    /// Whether `channel` is the connected inline upstream.
    fn is_inline(&self, channel: ChannelId) -> bool {
        self.inline.as_ref().is_some_and(|i| i.channel == channel)
    }

    /// Starts connecting the inline upstream: a small task connects (bounded by the
    /// connect timeout and shutdown) and hands the stream back to [`Channels::next`].
    fn connect_inline(&mut self, channel: ChannelId, addr: SocketAddr, tls: Option<UpstreamTls>) {
        let (stream_tx, stream_rx) = oneshot::channel();
        self.open.insert(channel, Route::Inline);
        self.connecting = Some(Connecting {
            channel,
            peer: addr,
            rx: stream_rx,
        });
        let (sensor, info, tx) = (Arc::clone(&self.sensor), self.info.clone(), self.tx.clone());
        self.sensor.tracker.spawn(async move {
            let open = async {
                let tcp = TcpStream::connect(addr).await.map_err(|_| "connect")?;
                let _ = tcp.set_nodelay(true);
                let Some(tls) = &tls else {
                    return Ok(UpStream::Plain(tcp));
                };
                match crate::upstream_tls::connect(tls, addr, tcp).await {
                    Ok((stream, ev)) => {
                        sensor.emit(&info, ev, SystemTime::now());
                        Ok(UpStream::Tls(Box::new(stream)))
                    }
                    Err(e) => {
                        let ev = EventDraft::new("proxy.upstream_tls")
                            .with("upstream", addr.to_string())
                            .with("error", e);
                        sensor.emit(&info, ev, SystemTime::now());
                        Err("tls")
                    }
                }
            };
            // The connect and the TLS handshake together within the connect timeout.
            let opened = tokio::select! {
                _ = sensor.shutdown.cancelled() => return,
                r = tokio::time::timeout(CONNECT_TIMEOUT, open) => r,
            };
            let reason = match opened {
                Ok(Ok(stream)) => {
                    // The session gave the connect up meanwhile: the stream is dropped.
                    let _ = stream_tx.send(stream);
                    return;
                }
                Ok(Err(reason)) => reason,
                Err(_) => "timeout",
            };
            let _ = tx.send(IoEvent::Failed { channel, reason }).await;
        });
    }

    /// Writes to the inline upstream in the session's task: until it is written the
    /// session reads nothing more from its client (backpressure, as a full command queue
    /// gives), at most the session timeout.
    async fn inline_send(&mut self, channel: ChannelId, bytes: &[u8]) {
        let idle = self.sensor.session_timeout;
        let Some(up) = self.inline.as_mut() else { return };
        let written = tokio::time::timeout(idle, up.stream.write_all(bytes)).await;
        if matches!(written, Ok(Ok(()))) {
            self.pending.push_back(IoEvent::Drained { channel });
        } else {
            self.inline = None;
            self.open.remove(&channel);
            self.pending.push_back(IoEvent::Failed { channel, reason: "io" });
        }
    }

    /// Closes the inline upstream (its write side first, as the channel task does).
    async fn inline_close(&mut self, channel: ChannelId) {
        if let Some(mut up) = self.inline.take() {
            let _ = tokio::time::timeout(self.sensor.session_timeout, up.stream.shutdown()).await;
        }
        self.open.remove(&channel);
        self.pending.push_back(IoEvent::Closed { channel });
    }
}

/// The outcome of the inline connect, if one is under way (else never ready).
async fn connect_result(connecting: &mut Option<Connecting>) -> Result<UpStream, oneshot::error::RecvError> {
    match connecting {
        Some(c) => (&mut c.rx).await,
        None => std::future::pending().await,
    }
}

/// The next read of the inline upstream, if one is connected (else never ready).
async fn inline_read(inline: &mut Option<Inline>) -> std::io::Result<usize> {
    match inline {
        Some(up) => up.stream.read(&mut up.buf).await,
        None => std::future::pending().await,
    }
}

struct DataListener {
    channel: ChannelId,
    ip: IpAddr,
    ports: (u16, u16),
    peer: IpAddr,
}

impl DataListener {
    async fn bind(&self) -> Option<TcpListener> {
        let (lo, hi) = (self.ports.0.min(self.ports.1), self.ports.0.max(self.ports.1));
        let span = u32::from(hi - lo) + 1;
        let start = conpot_core::rng::with_thread_rng(|r| r.range_i64(0, i64::from(span) - 1)).max(0) as u32;
        for i in 0..span.min(PORT_TRIES) {
            let port = lo as u32 + (start + i) % span;
            let Ok(port) = u16::try_from(port) else { continue };
            if let Ok(l) = crate::bind::bind_tcp(SocketAddr::new(self.ip, port)) {
                return Some(l);
            }
        }
        None
    }

    async fn run(
        self,
        sensor: Arc<Sensor>,
        info: SessionInfo,
        tx: mpsc::Sender<IoEvent>,
        mut cmd_rx: mpsc::Receiver<Command>,
    ) {
        let channel = self.channel;
        let Some(listener) = self.bind().await else {
            let _ = tx
                .send(IoEvent::Failed {
                    channel,
                    reason: "no_port",
                })
                .await;
            return;
        };
        let Ok(local) = listener.local_addr() else { return };
        if tx.send(IoEvent::Listening { channel, local }).await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + sensor.session_timeout;
        loop {
            let accepted = tokio::select! {
                _ = sensor.shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(deadline) => {
                    let _ = tx.send(IoEvent::Failed { channel, reason: "timeout" }).await;
                    return;
                }
                cmd = cmd_rx.recv() => match cmd {
                    // Closed before anyone connected (FTP: a new PASV, ABOR, QUIT): free
                    // the port now rather than at the timeout.
                    Some(Command::Close) | None => {
                        let _ = tx.send(IoEvent::Closed { channel }).await;
                        return;
                    }
                    // Nothing is connected to send to.
                    Some(Command::Send(_) | Command::Control(..)) => continue,
                },
                r = listener.accept() => r,
            };
            let Ok((stream, from)) = accepted else { continue };
            if !same_host(from.ip(), self.peer) {
                // Someone else raced the client to the announced port: refuse, keep waiting.
                let d = EventDraft::new("io.refused")
                    .with("request", "data_accept")
                    .with("reason", "foreign_peer")
                    .with("target", from.to_string());
                sensor.emit(&info, d, SystemTime::now());
                continue;
            }
            let _ = stream.set_nodelay(true);
            drop(listener);
            if tx.send(IoEvent::Connected { channel, peer: from }).await.is_ok() {
                pump(&sensor, channel, stream, &tx, cmd_rx).await;
            }
            return;
        }
    }
}

/// Moves bytes between a channel's stream and the session until either side closes.
async fn pump(
    sensor: &Sensor,
    channel: ChannelId,
    mut stream: TcpStream,
    tx: &mpsc::Sender<IoEvent>,
    mut cmd_rx: mpsc::Receiver<Command>,
) {
    let mut buf = vec![0u8; CHUNK];
    let idle = sensor.session_timeout;
    loop {
        tokio::select! {
            _ = sensor.shutdown.cancelled() => return,
            _ = tokio::time::sleep(idle) => {
                let _ = tx.send(IoEvent::Failed { channel, reason: "timeout" }).await;
                return;
            }
            r = stream.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    let _ = tx.send(IoEvent::Closed { channel }).await;
                    return;
                }
                Ok(n) => {
                    let bytes = buf.get(..n).unwrap_or_default().to_vec();
                    if tx.send(IoEvent::Data { channel, bytes }).await.is_err() {
                        return;
                    }
                }
            },
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Send(bytes)) => {
                    let written = tokio::time::timeout(idle, stream.write_all(&bytes)).await;
                    if !matches!(written, Ok(Ok(()))) {
                        let _ = tx.send(IoEvent::Failed { channel, reason: "io" }).await;
                        return;
                    }
                    if cmd_rx.is_empty() && tx.send(IoEvent::Drained { channel }).await.is_err() {
                        return;
                    }
                }
                Some(Command::Control(..)) => {}
                Some(Command::Close) | None => {
                    let _ = tokio::time::timeout(idle, stream.shutdown()).await;
                    let _ = tx.send(IoEvent::Closed { channel }).await;
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_the_peer_may_be_connected_back() {
        let peer: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let back = |a: &str| IoRequest::ConnectBack {
            channel: 1,
            addr: a.parse().unwrap(),
        };
        assert_eq!(check(&back("198.51.100.7:50000"), peer, &[]), Ok(()));
        assert_eq!(check(&back("[::ffff:198.51.100.7]:50000"), peer, &[]), Ok(()));
        assert_eq!(check(&back("198.51.100.8:50000"), peer, &[]), Err(Refused::Bounce));
        assert_eq!(check(&back("198.51.100.7:25"), peer, &[]), Err(Refused::PrivilegedPort));
        let up: SocketAddr = "192.0.2.1:502".parse().unwrap();
        let req = IoRequest::Upstream { channel: 2, addr: up };
        assert_eq!(check(&req, peer, &[]), Err(Refused::NotConfigured));
        assert_eq!(check(&req, peer, &[up]), Ok(()));
        let ev = refused_event(&back("203.0.113.9:21"), Refused::Bounce);
        assert_eq!(ev.event_type, "io.refused");
    }
}
