//! One FTP control connection as a sans-IO state machine: lines in, replies, events,
//! captured uploads and data-channel requests out.
//!
//! While the session waits for the listener (a passive listener being opened) or runs
//! a transfer, further command lines are queued (a bounded number) and run in order
//! once it is done; `ABOR`, `STAT`, `NOOP` and `QUIT` are answered at once, as servers
//! do during a transfer.
//!
//! This module holds the session state, the line queue and the [`Session`] entry points;
//! the commands live by group in `dispatch` (which verb runs where), `login`, `paths`
//! (directories and files), `data_channel` (`PASV`/`PORT`/`ABOR`) and `transfers`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::auth::User;
use conpot_core::event::EventDraft;
use conpot_core::protocol::{ChannelId, IoEvent, IoRequest, Output, Session, SessionCtx, response_delay};
use conpot_core::vfs::{Principal, VPath};
use serde_json::json;

use crate::Shared;
use crate::command::{Line, LineReader, parse};
use crate::reply;
use crate::transfer::{DataChannel, Transfer, pasv_text};

mod data_channel;
mod dispatch;
mod login;
mod paths;
mod transfers;

/// Command lines queued while the session is busy.
pub const MAX_QUEUED: usize = 32;
/// Most of a reply's text kept in a command's event.
const EVENT_REPLY: usize = 2048;

/// Commands this server knows, for `HELP`.
const COMMANDS: &[&str] = &[
    "ABOR", "ALLO", "APPE", "AUTH", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT", "HELP", "LIST", "MDTM", "MKD",
    "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PORT", "PWD", "QUIT", "REIN", "REST", "RETR",
    "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCUP", "XCWD",
    "XMKD", "XPWD", "XRMD",
];

/// Commands answered before login.
const BEFORE_LOGIN: &[&str] = &[
    "USER", "PASS", "QUIT", "NOOP", "HELP", "FEAT", "SYST", "AUTH", "PBSZ", "PROT", "OPTS", "REIN", "STAT",
];

/// Commands answered at once while a transfer runs.
const DURING_TRANSFER: &[&str] = &["ABOR", "STAT", "NOOP", "QUIT"];

/// A logged-in user.
#[derive(Debug, Clone)]
struct Account {
    user: Arc<User>,
    who: Principal,
}

/// Input waiting while the session is busy, answered in order once it is not.
#[derive(Debug, Clone)]
enum Queued {
    /// A command line.
    Line(Vec<u8>),
    /// The start of a line over the limit (answered with `500`).
    TooLong(Vec<u8>),
}

/// A passive listener being opened: the command waits for its address.
#[derive(Debug, Clone)]
struct PendingListen {
    channel: ChannelId,
    extended: bool,
    line: Vec<u8>,
}

/// One control connection.
pub struct FtpSession {
    shared: Arc<Shared>,
    ctx: SessionCtx,
    reader: LineReader,
    queued: VecDeque<Queued>,
    listen: Option<PendingListen>,
    user: Option<Vec<u8>>,
    account: Option<Account>,
    failures: u32,
    cwd: VPath,
    ascii: bool,
    rest: Option<u64>,
    rnfr: Option<VPath>,
    data: Option<DataChannel>,
    transfer: Option<Transfer>,
    next_channel: ChannelId,
    facts: [bool; 7],
    last_active: SystemTime,
    /// Where the replies of the command being run start in the output.
    reply_start: usize,
    /// The `150` text of an active transfer, sent once the connection is up.
    pending_text: String,
}

impl std::fmt::Debug for FtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpSession")
            .field("peer", &self.ctx.peer)
            .field("cwd", &self.cwd)
            .field("logged_in", &self.account.as_ref().map(|a| a.user.name.clone()))
            .finish_non_exhaustive()
    }
}

impl FtpSession {
    /// A session of the server `shared` for the connection `ctx`.
    pub fn new(shared: Arc<Shared>, ctx: SessionCtx) -> Self {
        FtpSession {
            shared,
            ctx,
            reader: LineReader::default(),
            queued: VecDeque::new(),
            listen: None,
            user: None,
            account: None,
            failures: 0,
            cwd: VPath::root(),
            ascii: true,
            rest: None,
            rnfr: None,
            data: None,
            transfer: None,
            next_channel: 1,
            facts: [true; 7],
            last_active: SystemTime::UNIX_EPOCH,
            reply_start: 0,
            pending_text: String::new(),
        }
    }

    fn busy(&self) -> bool {
        self.listen.is_some() || self.transfer.is_some()
    }

    /// Runs or queues one line.
    fn line(&mut self, line: Vec<u8>, now: SystemTime, out: &mut Output) {
        if self.busy() {
            let immediate = self.transfer.is_some()
                && self.listen.is_none()
                && parse(&line).is_ok_and(|c| DURING_TRANSFER.contains(&c.verb.as_str()) && c.arg.is_none());
            if !immediate {
                return self.enqueue(Queued::Line(line), out);
            }
        }
        self.run(&line, now, out);
    }

    fn enqueue(&mut self, q: Queued, out: &mut Output) {
        if self.queued.len() >= MAX_QUEUED {
            let mut d = EventDraft::new("ftp.malformed").with("reason", "queue_full");
            d.body.raw = Some(match q {
                Queued::Line(l) | Queued::TooLong(l) => l,
            });
            out.events.push(d);
        } else {
            self.queued.push_back(q);
        }
    }

    /// Answers the start of an overlong line (queued behind what waits, to keep the order
    /// of replies).
    fn too_long(&mut self, head: Vec<u8>, now: SystemTime, out: &mut Output) {
        if self.busy() {
            return self.enqueue(Queued::TooLong(head), out);
        }
        self.last_active = now;
        self.reply(out, 500, "Command line too long.");
        let mut d = EventDraft::new("ftp.malformed").with("reason", "line_too_long");
        d.body.raw = Some(head);
        out.events.push(d);
    }

    /// Runs queued lines until the session is busy again or asked to close.
    fn drain(&mut self, now: SystemTime, out: &mut Output) {
        while !self.busy() && !out.close {
            match self.queued.pop_front() {
                Some(Queued::Line(line)) => self.run(&line, now, out),
                Some(Queued::TooLong(head)) => self.too_long(head, now, out),
                None => break,
            }
        }
    }

    fn reply(&self, out: &mut Output, code: u16, text: &str) {
        reply::single(&mut out.bytes, code, text);
    }

    /// The event of one command: verb, argument (the password too), reply codes and text.
    fn command_event(&self, line: &[u8], verb: &str, arg: Option<&[u8]>, out: &mut Output) {
        let replies = out.bytes.get(self.reply_start..).unwrap_or_default();
        let codes = reply::codes(replies);
        let text = String::from_utf8_lossy(replies.get(..replies.len().min(EVENT_REPLY)).unwrap_or_default());
        let mut d = EventDraft::new("ftp.command")
            .with("command", verb)
            .with("argument", arg.map(|a| String::from_utf8_lossy(a).into_owned()))
            .with("code", codes.last().copied())
            .with("user", self.account.as_ref().map(|a| a.user.name.clone()));
        d.body.request =
            Some(json!({"command": verb, "argument": arg.map(|a| String::from_utf8_lossy(a).into_owned())}));
        d.body.response = Some(json!({"codes": codes, "text": text}));
        d.body.raw = Some(line.to_vec());
        out.events.push(d);
    }

    fn run(&mut self, line: &[u8], now: SystemTime, out: &mut Output) {
        self.last_active = now;
        self.reply_start = out.bytes.len();
        let cmd = match parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.reply(out, 500, "Unknown command.");
                let mut d = EventDraft::new("ftp.malformed").with("reason", e.as_str());
                d.body.raw = Some(line.to_vec());
                out.events.push(d);
                return;
            }
        };
        let verb = cmd.verb.clone();
        let arg = cmd.arg;
        self.dispatch(&verb, arg, line, now, out);
        if self.listen.as_ref().is_none_or(|p| p.line != line) {
            self.command_event(line, &verb, arg, out);
        }
        if !out.bytes.is_empty() {
            out.delay = out.delay.max(response_delay(self.shared.config.response_time_ms));
        }
    }

    /// When the session next wants to be woken: the transfer timeout while a transfer
    /// runs, else the idle timeout.
    fn arm(&self, out: &mut Output) {
        let c = &self.shared.config;
        let at = match &self.transfer {
            Some(t) => t.progress.max(self.last_active) + c.transfer_timeout,
            None => self.last_active + c.idle_timeout,
        };
        out.set_deadline(at);
    }
}

impl Session for FtpSession {
    fn on_open(&mut self, now: SystemTime, out: &mut Output) {
        self.last_active = now;
        let banner = self.shared.config.banner.clone();
        self.reply(out, 220, &banner);
        self.arm(out);
    }

    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let mut used = 0;
        while !out.close {
            match self.reader.next(input.get(used..).unwrap_or_default()) {
                Line::Complete(line, n) => {
                    used += n;
                    let line = line.to_vec();
                    self.line(line, now, out);
                }
                Line::TooLong(head, n) => {
                    used += n;
                    if !head.is_empty() {
                        self.too_long(head.to_vec(), now, out);
                    }
                }
                Line::Incomplete => break,
            }
        }
        self.arm(out);
        used
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        let shared = Arc::clone(&self.shared);
        let c = &shared.config;
        if let Some(t) = &self.transfer {
            if now < t.progress.max(self.last_active) + c.transfer_timeout {
                return self.arm(out);
            }
            let t = self.transfer.take();
            if let Some(t) = t {
                self.cut_short(&t, "timeout", now, out);
            }
            self.reply(out, 426, "Transfer timed out.");
            self.last_active = now;
            self.drain(now, out);
            return self.arm(out);
        }
        if now < self.last_active + c.idle_timeout {
            return self.arm(out);
        }
        self.abort_all(out);
        self.reply(out, 421, "Timeout.");
        out.events
            .push(EventDraft::new("ftp.timeout").with("idle_s", c.idle_timeout.as_secs()));
        out.close = true;
    }

    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if let Some(t) = self.transfer.take() {
            out.request(IoRequest::Close { channel: t.channel.id });
        }
        if !rest.is_empty() && !self.reader.discarding() {
            let mut d = EventDraft::new("ftp.malformed").with("reason", "truncated_line");
            d.body.raw = Some(
                rest.get(..rest.len().min(crate::command::MAX_LINE))
                    .unwrap_or_default()
                    .to_vec(),
            );
            out.events.push(d);
        }
    }

    fn on_io(&mut self, event: IoEvent, now: SystemTime, out: &mut Output) {
        match event {
            IoEvent::Listening { channel, local } => {
                if let Some(p) = self.listen.take_if(|p| p.channel == channel) {
                    if let Some(d) = self.data.as_mut().filter(|d| d.id == channel) {
                        d.local = Some(local);
                    }
                    self.reply_start = out.bytes.len();
                    if p.extended {
                        let port = local.port();
                        self.reply(out, 229, &format!("Entering Extended Passive Mode (|||{port}|)."));
                    } else {
                        match pasv_text(local) {
                            Some(t) => self.reply(out, 227, &t),
                            None => self.reply(out, 425, "PASV is IPv4 only; use EPSV."),
                        }
                    }
                    let verb = if p.extended { "EPSV" } else { "PASV" };
                    let arg = parse(&p.line).ok().and_then(|c| c.arg.map(<[u8]>::to_vec));
                    self.command_event(&p.line, verb, arg.as_deref(), out);
                    self.drain(now, out);
                }
            }
            IoEvent::Connected { channel, .. } => {
                if let Some(t) = self.transfer.as_mut().filter(|t| t.channel.id == channel) {
                    t.channel.connected = true;
                    t.progress = now;
                    self.begin(now, out);
                } else if let Some(d) = self.data.as_mut().filter(|d| d.id == channel) {
                    d.connected = true;
                }
            }
            IoEvent::Data { channel, bytes } => {
                if let Some(t) = self.transfer.as_mut().filter(|t| t.channel.id == channel) {
                    t.progress = now;
                    t.receive(&bytes);
                } else if let Some(d) = self.data.as_mut().filter(|d| d.id == channel) {
                    d.keep_early(&bytes);
                }
            }
            IoEvent::Drained { channel } => {
                if let Some(t) = self.transfer.as_mut().filter(|t| t.channel.id == channel) {
                    t.progress = now;
                    self.send_next(now, out);
                }
            }
            IoEvent::Closed { channel } => {
                if self.transfer.as_ref().is_some_and(|t| t.channel.id == channel) {
                    self.finish(150, now, out);
                } else if let Some(d) = self.data.as_mut().filter(|d| d.id == channel) {
                    d.eof = true;
                }
            }
            IoEvent::Failed { channel, reason } => {
                if self.listen.as_ref().is_some_and(|p| p.channel == channel) {
                    self.listen = None;
                    self.data = None;
                    self.reply_start = out.bytes.len();
                    self.reply(out, 425, "Cannot open passive connection.");
                    out.events
                        .push(EventDraft::new("ftp.data_failed").with("reason", reason));
                    self.drain(now, out);
                } else if self.transfer.as_ref().is_some_and(|t| t.channel.id == channel) {
                    out.events
                        .push(EventDraft::new("ftp.data_failed").with("reason", reason));
                    self.finish(425, now, out);
                } else if self.data.as_ref().is_some_and(|d| d.id == channel) {
                    self.data = None;
                }
            }
        }
        self.arm(out);
    }
}
