//! Serial lines: a tty or pseudo-terminal opened from a path only the template gives, its
//! termios set from the line's settings, read and written without blocking under tokio
//! (`AsyncFd`), and reopened with back-off when it vanishes (unplugged, pty closed), each
//! change a `serial.link` event.
//!
//! A line has one of two roles. Shared ([`Role::Shared`]): the TCP sessions of a serial
//! device server attach to it ([`conpot_core::protocol::IoRequest::SerialLine`]) and a
//! [`LineLogic`] (the sans-IO arbiter of `conpot-serial`, wired by the binary) decides
//! what goes on the line and whose answer is whose. Served ([`Role::Served`]): one sans-IO
//! session is the line's other end (the emulated slaves on an RS-485 line). This module
//! only carries bytes, time and settings; no protocol logic lives here.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use conpot_core::event::{EventDraft, SessionInfo, Transport};
use conpot_core::protocol::{ChannelId, Deadline, IoEvent, Output, Session};
use nix::sys::termios::{self, BaudRate, ControlFlags, InputFlags, SetArg};
use serde_json::json;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::sensor::Sensor;

/// Commands queued to a line before its clients wait.
const LINE_QUEUE: usize = 64;
/// Read size of a line.
const CHUNK: usize = 4096;
/// How long a write may wait for the line (flow control, a peer that never reads).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Parity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// No parity bit.
    None,
    /// Even.
    Even,
    /// Odd.
    Odd,
    /// Always 1.
    Mark,
    /// Always 0.
    Space,
}

/// Flow control of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// None.
    None,
    /// Hardware, RTS/CTS.
    RtsCts,
    /// Software, XON/XOFF.
    XonXoff,
}

/// A line's settings, applied to its termios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSettings {
    /// Baud rate (one of the standard rates).
    pub baud: u32,
    /// Data bits, 5-8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// Stop bits, 1 or 2.
    pub stop_bits: u8,
    /// Flow control.
    pub flow: Flow,
}

impl LineSettings {
    /// The settings as event data.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "baud": self.baud,
            "data_bits": self.data_bits,
            "parity": format!("{:?}", self.parity).to_lowercase(),
            "stop_bits": self.stop_bits,
            "flow": format!("{:?}", self.flow).to_lowercase(),
        })
    }
}

/// The termios speed of a standard baud rate.
fn baud_rate(baud: u32) -> io::Result<BaudRate> {
    use BaudRate as B;
    Ok(match baud {
        50 => B::B50,
        75 => B::B75,
        110 => B::B110,
        134 => B::B134,
        150 => B::B150,
        200 => B::B200,
        300 => B::B300,
        600 => B::B600,
        1200 => B::B1200,
        1800 => B::B1800,
        2400 => B::B2400,
        4800 => B::B4800,
        9600 => B::B9600,
        19_200 => B::B19200,
        38_400 => B::B38400,
        57_600 => B::B57600,
        115_200 => B::B115200,
        230_400 => B::B230400,
        460_800 => B::B460800,
        500_000 => B::B500000,
        576_000 => B::B576000,
        921_600 => B::B921600,
        1_000_000 => B::B1000000,
        1_152_000 => B::B1152000,
        1_500_000 => B::B1500000,
        2_000_000 => B::B2000000,
        2_500_000 => B::B2500000,
        3_000_000 => B::B3000000,
        3_500_000 => B::B3500000,
        4_000_000 => B::B4000000,
        _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a standard baud rate")),
    })
}

/// Sets both speeds of `t` through its control flags (the speed bits, and no separate input
/// speed), which is what `cfsetspeed` does on Linux. Not through `cfsetspeed` itself: the
/// libc crate binds glibc's `cfset*speed` to a versioned symbol, which the statically linked
/// binary of the container image cannot resolve.
fn set_speed(t: &mut termios::Termios, rate: BaudRate) {
    t.control_flags
        .remove(ControlFlags::CBAUD | ControlFlags::CBAUDEX | ControlFlags::CIBAUD);
    t.control_flags
        .insert(ControlFlags::from_bits_truncate(rate as libc::tcflag_t));
}

/// Sets `fd`'s termios to a raw line with `s`'s speed, framing and flow control.
pub fn apply_settings(fd: impl AsFd, s: &LineSettings) -> io::Result<()> {
    let mut t = termios::tcgetattr(fd.as_fd())?;
    termios::cfmakeraw(&mut t);
    set_speed(&mut t, baud_rate(s.baud)?);
    let c = &mut t.control_flags;
    c.remove(
        ControlFlags::CSIZE
            | ControlFlags::PARENB
            | ControlFlags::PARODD
            | ControlFlags::CSTOPB
            | ControlFlags::CRTSCTS,
    );
    c.remove(ControlFlags::CMSPAR);
    c.insert(ControlFlags::CREAD | ControlFlags::CLOCAL);
    c.insert(match s.data_bits {
        5 => ControlFlags::CS5,
        6 => ControlFlags::CS6,
        7 => ControlFlags::CS7,
        _ => ControlFlags::CS8,
    });
    match s.parity {
        Parity::None => {}
        Parity::Even => c.insert(ControlFlags::PARENB),
        Parity::Odd => c.insert(ControlFlags::PARENB | ControlFlags::PARODD),
        Parity::Mark => c.insert(ControlFlags::PARENB | ControlFlags::CMSPAR | ControlFlags::PARODD),
        Parity::Space => c.insert(ControlFlags::PARENB | ControlFlags::CMSPAR),
    }
    if s.stop_bits == 2 {
        c.insert(ControlFlags::CSTOPB);
    }
    t.input_flags
        .remove(InputFlags::IXON | InputFlags::IXOFF | InputFlags::IXANY);
    match s.flow {
        Flow::None => {}
        Flow::RtsCts => t.control_flags.insert(ControlFlags::CRTSCTS),
        Flow::XonXoff => t.input_flags.insert(InputFlags::IXON | InputFlags::IXOFF),
    }
    termios::tcsetattr(fd.as_fd(), SetArg::TCSANOW, &t)?;
    Ok(())
}

/// Opens the serial device at `path` without blocking and without making it our
/// controlling terminal, with `s` applied.
pub fn open_line(path: &str, s: &LineSettings) -> io::Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    apply_settings(&f, s)?;
    Ok(f)
}

/// What a shared line's logic wants done after one call.
#[derive(Debug, Default)]
pub struct LineOutput {
    /// Bytes to write on the line.
    pub to_line: Vec<u8>,
    /// Bytes for attached clients, by client number.
    pub to_clients: Vec<(u32, Vec<u8>)>,
    /// Events, with the client they are about.
    pub events: Vec<(Option<u32>, EventDraft)>,
}

/// The sans-IO logic of a shared line (the arbiter), driven by the line's task.
pub trait LineLogic: Send + 'static {
    /// A client attaches; `false` refuses it (too many).
    fn attach(&mut self, client: u32) -> bool;
    /// A client went away.
    fn detach(&mut self, client: u32);
    /// The line went up or down.
    fn link(&mut self, up: bool, now: SystemTime, out: &mut LineOutput);
    /// Bytes a client sent.
    fn client_bytes(&mut self, client: u32, bytes: &[u8], now: SystemTime, out: &mut LineOutput);
    /// Bytes the line sent.
    fn line_bytes(&mut self, bytes: &[u8], now: SystemTime, out: &mut LineOutput);
    /// The deadline passed.
    fn on_timeout(&mut self, now: SystemTime, out: &mut LineOutput);
    /// When the logic wants [`LineLogic::on_timeout`].
    fn deadline(&self) -> Option<SystemTime>;
    /// The settings after an RFC 2217 client command (`None`: nothing to change).
    fn control(&self, current: &LineSettings, command: u8, value: &[u8]) -> Option<LineSettings>;
}

/// What a line is for.
pub enum Role {
    /// Shared by the TCP sessions that attach to it, arbitrated by the logic.
    Shared(Box<dyn LineLogic>),
    /// Served by one session (the line's other end is a master).
    Served(Box<dyn Session>),
}

/// A line to open and keep open.
#[derive(Debug, Clone)]
pub struct LineSpec {
    /// The device path (from the template only).
    pub path: String,
    /// Its settings.
    pub settings: LineSettings,
    /// The wait before reopening after `n` failures in a row.
    pub backoff: fn(u32) -> Duration,
}

pub(crate) enum LineCmd {
    Attach {
        client: u32,
        channel: ChannelId,
        peer: SocketAddr,
        tx: mpsc::Sender<IoEvent>,
    },
    Data {
        client: u32,
        bytes: Vec<u8>,
    },
    Control {
        client: u32,
        command: u8,
        value: Vec<u8>,
    },
    Detach {
        client: u32,
    },
}

/// The shared lines of a sensor, by device path: where [`IoRequest::SerialLine`]
/// (`conpot_core::protocol::IoRequest`) attachments go.
#[derive(Debug, Default)]
pub struct Lines {
    map: Mutex<HashMap<String, mpsc::Sender<LineCmd>>>,
    next: AtomicU32,
}

impl std::fmt::Debug for LineCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineCmd")
    }
}

impl Lines {
    pub(crate) fn get(&self, path: &str) -> Option<mpsc::Sender<LineCmd>> {
        self.map.lock().ok()?.get(path).cloned()
    }

    pub(crate) fn next_client(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// Opens `spec`'s line for `role` and keeps it open until the sensor shuts down. A shared
/// line is registered at once, so sessions may attach before it is first up.
pub fn serve_line(sensor: Arc<Sensor>, spec: LineSpec, role: Role) {
    let (tx, rx) = mpsc::channel(LINE_QUEUE);
    if matches!(role, Role::Shared(_))
        && let Ok(mut m) = sensor.lines.map.lock()
    {
        m.insert(spec.path.clone(), tx);
    }
    let info = SessionInfo::new("serial".into(), Transport::None, None, None);
    let task = LineTask {
        sensor: Arc::clone(&sensor),
        info,
        settings: spec.settings,
        spec,
        role,
        fd: None,
        failures: 0,
        retry: Some(Instant::now()),
        clients: HashMap::new(),
        served_deadline: None,
    };
    sensor.tracker.spawn(task.run(rx));
}

struct LineTask {
    sensor: Arc<Sensor>,
    info: SessionInfo,
    spec: LineSpec,
    settings: LineSettings,
    role: Role,
    fd: Option<AsyncFd<File>>,
    failures: u32,
    retry: Option<Instant>,
    clients: HashMap<u32, (ChannelId, SocketAddr, mpsc::Sender<IoEvent>)>,
    served_deadline: Option<SystemTime>,
}

enum Wake {
    Cmd(Option<LineCmd>),
    Read(io::Result<Vec<u8>>),
    Retry,
    Timer,
}

async fn read_some(fd: &AsyncFd<File>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|f| f.get_ref().read(&mut buf)) {
            Ok(Ok(n)) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

async fn write_all(fd: &AsyncFd<File>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|f| f.get_ref().write(bytes)) {
            Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => bytes = bytes.get(n..).unwrap_or_default(),
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// Registers an opened line with the reactor.
#[allow(unsafe_code)]
fn register(f: File) -> io::Result<AsyncFd<File>> {
    // SAFETY: the `File` owns its descriptor and moves into the `AsyncFd`, which keeps it
    // open (and the same descriptor) until it is dropped; nothing else closes it.
    unsafe { AsyncFd::register(f) }.map_err(|e| e.into_parts().1)
}

fn instant_of(t: SystemTime) -> Instant {
    Instant::now() + t.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
}

/// The stable name of a line failure.
fn reason(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "no_device",
        Some(libc::EIO) | Some(libc::ENXIO) | Some(libc::ENODEV) => "vanished",
        Some(libc::EACCES) | Some(libc::EPERM) => "permission",
        Some(libc::ENOTTY) => "not_a_tty",
        _ if e.kind() == io::ErrorKind::InvalidInput => "settings",
        _ if e.kind() == io::ErrorKind::TimedOut => "write_timeout",
        _ => "io",
    }
}

impl LineTask {
    async fn run(mut self, mut rx: mpsc::Receiver<LineCmd>) {
        let mut rx_open = true;
        loop {
            let deadline = match &self.role {
                Role::Shared(l) => l.deadline(),
                Role::Served(_) => self.served_deadline,
            };
            let wake = {
                let fd = self.fd.as_ref();
                let retry = self.retry;
                tokio::select! {
                    _ = self.sensor.shutdown.cancelled() => return,
                    c = rx.recv(), if rx_open => Wake::Cmd(c),
                    r = async { match fd { Some(f) => read_some(f).await, None => std::future::pending().await } },
                        if fd.is_some() => Wake::Read(r),
                    _ = async { match retry { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } },
                        if fd.is_none() && retry.is_some() => Wake::Retry,
                    _ = async { match deadline { Some(t) => tokio::time::sleep_until(instant_of(t)).await, None => std::future::pending().await } },
                        if deadline.is_some() => Wake::Timer,
                }
            };
            let now = SystemTime::now();
            let mut out = LineOutput::default();
            let mut served = Output::default();
            match wake {
                Wake::Cmd(None) => rx_open = false,
                Wake::Cmd(Some(cmd)) => self.command(cmd, now, &mut out).await,
                Wake::Retry => self.open(now, &mut out, &mut served),
                Wake::Read(Ok(bytes)) if bytes.is_empty() => self.down("vanished", now, &mut out, &mut served),
                Wake::Read(Ok(bytes)) => match &mut self.role {
                    Role::Shared(l) => l.line_bytes(&bytes, now, &mut out),
                    Role::Served(s) => {
                        let _ = s.on_input(&bytes, now, &mut served);
                    }
                },
                Wake::Read(Err(e)) => self.down(reason(&e), now, &mut out, &mut served),
                Wake::Timer => match &mut self.role {
                    Role::Shared(l) => l.on_timeout(now, &mut out),
                    Role::Served(s) => {
                        self.served_deadline = None;
                        s.on_timeout(now, &mut served);
                    }
                },
            }
            self.flush(out, served).await;
        }
    }

    fn event(&self, draft: EventDraft, client: Option<u32>, now: SystemTime) {
        let mut d = draft.with("line", self.spec.path.as_str());
        if let Some((_, peer, _)) = client.and_then(|c| self.clients.get(&c)) {
            d = d.with("client", peer.to_string());
        }
        self.sensor.emit(&self.info, d, now);
    }

    fn link_event(&self, state: &str, reason: Option<&str>, retry: Option<Duration>) -> EventDraft {
        let mut d = EventDraft::new("serial.link")
            .with("state", state.to_owned())
            .with("device", self.spec.path.as_str())
            .with("reason", reason.map_or(serde_json::Value::Null, |r| json!(r)))
            .with("failures", self.failures)
            .with("settings", self.settings.to_json());
        if let Some(r) = retry {
            d = d.with("retry_ms", r.as_millis() as u64);
        }
        d
    }

    fn open(&mut self, now: SystemTime, out: &mut LineOutput, served: &mut Output) {
        self.retry = None;
        match open_line(&self.spec.path, &self.settings).and_then(register) {
            Ok(fd) => {
                self.fd = Some(fd);
                self.event(self.link_event("up", None, None), None, now);
                self.failures = 0;
                match &mut self.role {
                    Role::Shared(l) => l.link(true, now, out),
                    Role::Served(s) => s.on_open(now, served),
                }
            }
            Err(e) => self.failed(reason(&e), now),
        }
    }

    fn failed(&mut self, why: &str, now: SystemTime) {
        self.fd = None;
        self.failures = self.failures.saturating_add(1);
        let wait = (self.spec.backoff)(self.failures.saturating_sub(1));
        self.retry = Some(Instant::now() + wait);
        // Only the first failure of a series is news; the retries are counted in it.
        if self.failures == 1 {
            self.event(self.link_event("down", Some(why), Some(wait)), None, now);
        }
    }

    fn down(&mut self, why: &str, now: SystemTime, out: &mut LineOutput, served: &mut Output) {
        if self.fd.is_none() {
            return;
        }
        self.failed(why, now);
        match &mut self.role {
            Role::Shared(l) => l.link(false, now, out),
            Role::Served(s) => s.on_eof(&[], now, served),
        }
    }

    async fn command(&mut self, cmd: LineCmd, now: SystemTime, out: &mut LineOutput) {
        let Role::Shared(logic) = &mut self.role else {
            return;
        };
        match cmd {
            LineCmd::Attach {
                client,
                channel,
                peer,
                tx,
            } => {
                let ev = if logic.attach(client) {
                    self.clients.insert(client, (channel, peer, tx.clone()));
                    IoEvent::Connected { channel, peer }
                } else {
                    IoEvent::Failed {
                        channel,
                        reason: "channel_limit",
                    }
                };
                let _ = tx.send(ev).await;
            }
            LineCmd::Detach { client } => {
                logic.detach(client);
                self.clients.remove(&client);
            }
            LineCmd::Data { client, bytes } => logic.client_bytes(client, &bytes, now, out),
            LineCmd::Control { client, command, value } => {
                let Some(new) = logic.control(&self.settings, command, &value) else {
                    return;
                };
                let applied = match &self.fd {
                    Some(fd) => apply_settings(fd.get_ref(), &new),
                    None => Ok(()),
                };
                let mut d = EventDraft::new("serial.settings")
                    .with("applied", applied.is_ok())
                    .with("command", command)
                    .with("settings", new.to_json());
                match applied {
                    Ok(()) => self.settings = new,
                    Err(e) => d = d.with("error", reason(&e)),
                }
                d.body.raw = Some(value);
                self.event(d, Some(client), now);
            }
        }
    }

    async fn flush(&mut self, out: LineOutput, mut served: Output) {
        let now = SystemTime::now();
        for (client, ev) in out.events {
            self.event(ev, client, now);
        }
        for ev in std::mem::take(&mut served.events) {
            self.event(ev, None, now);
        }
        match served.deadline {
            Deadline::Keep => {}
            Deadline::At(t) => self.served_deadline = Some(t),
            Deadline::Clear => self.served_deadline = None,
        }
        for (client, bytes) in out.to_clients {
            if let Some((channel, _, tx)) = self.clients.get(&client) {
                // A session that does not take its answers loses them, not the line.
                let _ = tx.try_send(IoEvent::Data {
                    channel: *channel,
                    bytes,
                });
            }
        }
        let mut to_line = out.to_line;
        if !served.bytes.is_empty() {
            if !served.delay.is_zero() {
                tokio::time::sleep(served.delay).await;
            }
            to_line.extend_from_slice(&served.bytes);
        }
        if to_line.is_empty() {
            return;
        }
        let Some(fd) = self.fd.as_ref() else { return };
        let written = match tokio::time::timeout(WRITE_TIMEOUT, write_all(fd, &to_line)).await {
            Ok(r) => r,
            Err(_) => Err(io::ErrorKind::TimedOut.into()),
        };
        if let Err(e) = written {
            let mut out = LineOutput::default();
            let mut served = Output::default();
            self.down(reason(&e), now, &mut out, &mut served);
            for (client, ev) in out.events {
                self.event(ev, client, now);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_reach_the_termios_of_a_pty() {
        let pty = nix::pty::openpty(None, None).unwrap();
        let s = LineSettings {
            baud: 19_200,
            data_bits: 7,
            parity: Parity::Even,
            stop_bits: 2,
            flow: Flow::None,
        };
        apply_settings(&pty.slave, &s).unwrap();
        let t = termios::tcgetattr(&pty.slave).unwrap();
        assert_eq!(termios::cfgetospeed(&t), BaudRate::B19200);
        // Linux keeps a pty at 8 data bits without parity whatever is asked (pty_set_termios);
        // stop bits, speed and flow control stay as set.
        let c = t.control_flags;
        assert!(c.contains(ControlFlags::CSTOPB | ControlFlags::CLOCAL), "{c:?}");
        let odd = LineSettings {
            baud: 9600,
            parity: Parity::Odd,
            data_bits: 8,
            stop_bits: 1,
            flow: Flow::XonXoff,
        };
        apply_settings(&pty.slave, &odd).unwrap();
        let t = termios::tcgetattr(&pty.slave).unwrap();
        assert_eq!(termios::cfgetospeed(&t), BaudRate::B9600);
        assert!(!t.control_flags.contains(ControlFlags::CSTOPB));
        assert!(t.input_flags.contains(InputFlags::IXON));
        assert!(apply_settings(&pty.slave, &LineSettings { baud: 12_345, ..odd }).is_err());
        // Not a tty at all.
        let f = File::open("/dev/null").unwrap();
        assert_eq!(reason(&apply_settings(&f, &odd).unwrap_err()), "not_a_tty");
    }

    struct Echo;

    impl Session for Echo {
        fn on_input(&mut self, input: &[u8], _now: SystemTime, out: &mut Output) -> usize {
            out.bytes.extend_from_slice(input);
            out.bytes.push(b'!');
            input.len()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_served_line_answers_and_survives_its_pty_going_away() {
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("conpot-line-{}", std::process::id()));
        let pty = nix::pty::openpty(None, None).unwrap();
        let name = nix::unistd::ttyname(&pty.slave).unwrap();
        let _ = std::fs::remove_file(&dir);
        std::os::unix::fs::symlink(&name, &dir).unwrap();
        let (sensor, mut rx) = Sensor::standalone(Default::default(), Duration::from_secs(30), None, 64);
        let mut next_link = async || loop {
            let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if e.event_type == "serial.link" {
                return e;
            }
        };
        let spec = LineSpec {
            path: dir.to_string_lossy().into_owned(),
            settings: LineSettings {
                baud: 9600,
                data_bits: 8,
                parity: Parity::None,
                stop_bits: 1,
                flow: Flow::None,
            },
            backoff: |_| Duration::from_millis(50),
        };
        serve_line(Arc::clone(&sensor), spec, Role::Served(Box::new(Echo)));
        let up = next_link().await;
        assert_eq!(up.data["state"], "up");
        let mut master = File::from(pty.master);
        master.write_all(b"hi").unwrap();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let fd = master.as_raw_fd();
        nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).unwrap();
        while got.len() < 3 && std::time::Instant::now() < deadline {
            let mut b = [0u8; 16];
            match master.read(&mut b) {
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        assert_eq!(got, b"hi!", "fd {fd}");
        drop(master);
        drop(pty.slave);
        let down = next_link().await;
        assert_eq!(down.data["state"], "down");
        assert_eq!(down.data["line"], dir.to_string_lossy().as_ref());
        let _ = std::fs::remove_file(&dir);
        sensor.shutdown.cancel();
    }
}
