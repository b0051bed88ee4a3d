//! One FTP control connection as a sans-IO state machine: lines in, replies, events,
//! captured uploads and data-channel requests out.
//!
//! While the session waits for the listener (a passive listener being opened) or runs
//! a transfer, further command lines are queued (a bounded number) and run in order
//! once it is done; `ABOR`, `STAT`, `NOOP` and `QUIT` are answered at once, as servers
//! do during a transfer.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::auth::{Secret, User};
use conpot_core::event::EventDraft;
use conpot_core::protocol::{ChannelId, IoEvent, IoRequest, Output, Session, SessionCtx, response_delay};
use conpot_core::vfs::{Kind, Principal, Stat, VPath, VfsError, WriteMode, resolve_logged};
use serde_json::json;

use crate::Shared;
use crate::command::{Line, LineReader, parse};
use crate::listing::{self, FACTS};
use crate::reply;
use crate::transfer::{DataChannel, DataMode, Direction, Transfer, parse_eprt, parse_port, pasv_text};

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

    fn dispatch(&mut self, verb: &str, arg: Option<&[u8]>, line: &[u8], now: SystemTime, out: &mut Output) {
        let text = arg.map(|a| String::from_utf8_lossy(a).into_owned());
        let known = COMMANDS.contains(&verb) || matches!(verb, "PBSZ" | "PROT" | "ACCT" | "SMNT" | "CCC");
        if !known {
            return self.reply(out, 500, "Unknown command.");
        }
        if self.account.is_none() && !BEFORE_LOGIN.contains(&verb) {
            return self.reply(out, 530, "Please login with USER and PASS.");
        }
        let needs_arg = matches!(
            verb,
            "USER"
                | "CWD"
                | "XCWD"
                | "MKD"
                | "XMKD"
                | "RMD"
                | "XRMD"
                | "DELE"
                | "RNFR"
                | "RNTO"
                | "RETR"
                | "STOR"
                | "APPE"
                | "SIZE"
                | "MDTM"
                | "TYPE"
                | "MODE"
                | "STRU"
                | "PORT"
                | "EPRT"
                | "REST"
                | "SITE"
                | "OPTS"
                | "AUTH"
        );
        let arg_text = text.clone().unwrap_or_default();
        if needs_arg && arg_text.trim().is_empty() {
            return self.reply(out, 501, "Syntax error in parameters or arguments.");
        }
        match verb {
            "USER" => self.user_cmd(arg.unwrap_or_default(), out),
            "PASS" => self.pass_cmd(arg.unwrap_or_default(), now, out),
            "QUIT" => {
                self.abort_all(out);
                self.reply(out, 221, "Goodbye.");
                out.close = true;
            }
            "REIN" => {
                self.abort_all(out);
                self.account = None;
                self.user = None;
                self.cwd = VPath::root();
                self.rest = None;
                self.rnfr = None;
                self.ascii = true;
                self.reply(out, 220, "Service ready for new user.");
            }
            "NOOP" => self.reply(out, 200, "NOOP ok."),
            "SYST" => {
                let syst = self.shared.config.syst.clone();
                self.reply(out, 215, &syst)
            }
            "FEAT" => {
                let mlst = FACTS.iter().map(|f| format!("{f}*;")).collect::<String>();
                let lines = [
                    "EPRT".to_owned(),
                    "EPSV".into(),
                    "MDTM".into(),
                    format!("MLST {mlst}"),
                    "PASV".into(),
                    "REST STREAM".into(),
                    "SIZE".into(),
                    "TVFS".into(),
                    "UTF8".into(),
                ];
                reply::multi(
                    &mut out.bytes,
                    211,
                    "Features:",
                    lines.iter().map(String::as_str),
                    "End",
                );
            }
            "OPTS" => self.opts_cmd(&arg_text, out),
            "HELP" => self.help_cmd(text.as_deref(), out),
            "AUTH" => self.reply(out, 534, "Local policy on server does not allow TLS or SSL."),
            "PBSZ" | "PROT" | "CCC" => self.reply(out, 503, "Security data exchange not completed."),
            "ACCT" | "SMNT" => self.reply(out, 502, "Command not implemented."),
            "STAT" => match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                None => self.stat_server(out),
                Some(_) if self.account.is_none() => self.reply(out, 530, "Please login with USER and PASS."),
                Some(p) => self.stat_path(p, now, out),
            },
            "PWD" | "XPWD" => {
                let q = reply::quote_path(self.cwd.as_str());
                self.reply(out, 257, &format!("{q} is the current directory"))
            }
            "CWD" | "XCWD" => self.cwd_cmd(&arg_text, now, out),
            "CDUP" | "XCUP" => self.cwd_cmd("..", now, out),
            "MKD" | "XMKD" => self.mkd_cmd(&arg_text, now, out),
            "RMD" | "XRMD" => self.simple_fs(&arg_text, now, out, FsOp::Rmd),
            "DELE" => self.simple_fs(&arg_text, now, out, FsOp::Dele),
            "RNFR" => self.rnfr_cmd(&arg_text, now, out),
            "RNTO" => self.rnto_cmd(&arg_text, now, out),
            "SITE" => self.site_cmd(&arg_text, now, out),
            "TYPE" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "A" | "A N" => {
                    self.ascii = true;
                    self.reply(out, 200, "Switching to ASCII mode.")
                }
                "I" | "L 8" | "L8" => {
                    self.ascii = false;
                    self.reply(out, 200, "Switching to Binary mode.")
                }
                _ => self.reply(out, 504, "Unrecognised TYPE command."),
            },
            "MODE" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "S" => self.reply(out, 200, "Mode set to S."),
                "B" | "C" => self.reply(out, 504, "Bad MODE command."),
                _ => self.reply(out, 501, "Unrecognised MODE type."),
            },
            "STRU" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "F" => self.reply(out, 200, "Structure set to F."),
                "R" | "P" => self.reply(out, 504, "Bad STRU command."),
                _ => self.reply(out, 501, "Unrecognised STRU type."),
            },
            "ALLO" => self.reply(out, 202, "ALLO command ignored."),
            "REST" => match arg_text.trim().parse::<u64>() {
                Ok(n) => {
                    self.rest = Some(n);
                    self.reply(out, 350, &format!("Restart position accepted ({n})."))
                }
                Err(_) => self.reply(out, 501, "Bad REST argument."),
            },
            "SIZE" => self.size_cmd(&arg_text, now, out),
            "MDTM" => self.mdtm_cmd(&arg_text, now, out),
            "PASV" => self.pasv_cmd(false, line, out),
            "EPSV" => match arg_text.trim().to_ascii_uppercase().as_str() {
                "" | "1" | "2" => self.pasv_cmd(true, line, out),
                "ALL" => self.reply(out, 200, "EPSV ALL ok."),
                _ => self.reply(out, 522, "Network protocol not supported, use (1,2)."),
            },
            "PORT" => match parse_port(&arg_text) {
                Some(addr) => self.active_cmd(addr, false, out),
                None => self.reply(out, 501, "Illegal PORT command."),
            },
            "EPRT" => match parse_eprt(&arg_text) {
                Some(addr) => self.active_cmd(addr, true, out),
                None => self.reply(out, 522, "Bad EPRT argument; use (1,2)."),
            },
            "ABOR" => self.abor_cmd(now, out),
            "LIST" | "NLST" | "MLSD" => self.list_cmd(verb, text.as_deref().unwrap_or_default(), now, out),
            "MLST" => self.mlst_cmd(text.as_deref().unwrap_or_default(), now, out),
            "RETR" => self.retr_cmd(&arg_text, now, out),
            "STOR" => self.store_cmd("STOR", Some(&arg_text), now, out),
            "APPE" => self.store_cmd("APPE", Some(&arg_text), now, out),
            "STOU" => self.store_cmd("STOU", text.as_deref(), now, out),
            _ => self.reply(out, 502, "Command not implemented."),
        }
    }

    // ---- login ----

    fn user_cmd(&mut self, name: &[u8], out: &mut Output) {
        if self.account.is_some() {
            return self.reply(out, 530, "Can't change to another user.");
        }
        self.user = Some(name.get(..name.len().min(256)).unwrap_or_default().to_vec());
        self.reply(out, 331, "Please specify the password.");
    }

    fn pass_cmd(&mut self, pw: &[u8], now: SystemTime, out: &mut Output) {
        if self.account.is_some() {
            return self.reply(out, 230, "Already logged in.");
        }
        let Some(user) = self.user.take() else {
            return self.reply(out, 503, "Login with USER first.");
        };
        let auth = &self.shared.device.auth;
        let decision = auth.check("ftp", &user, Secret::Plain(pw), self.ctx.peer.ip(), now);
        out.events.push(decision.event.clone());
        match decision.outcome {
            Ok(account) => {
                let store = auth.store();
                let mut groups: Vec<String> = store.groups_of(&account).map(|g| g.name.clone()).collect();
                for g in &account.groups {
                    if !groups.contains(g) {
                        groups.push(g.clone());
                    }
                }
                let who = Principal::new(account.name.clone(), groups);
                self.account = Some(Account { user: account, who });
                self.cwd = VPath::root();
                let motd = &self.shared.config.motd;
                if motd.is_empty() {
                    self.reply(out, 230, "Login successful.");
                } else {
                    let first = motd.first().map(String::as_str).unwrap_or_default();
                    reply::multi(
                        &mut out.bytes,
                        230,
                        first,
                        motd.iter().skip(1).map(String::as_str),
                        "Login successful.",
                    );
                }
            }
            Err(_) => {
                self.failures += 1;
                self.reply(out, 530, "Login incorrect.");
                if self.failures >= self.shared.config.max_login_attempts {
                    out.events.push(
                        EventDraft::new("ftp.login_limit")
                            .with("failures", self.failures)
                            .with("max_login_attempts", self.shared.config.max_login_attempts),
                    );
                    self.abort_all(out);
                    out.close = true;
                }
            }
        }
    }

    fn who(&self) -> Principal {
        self.account
            .as_ref()
            .map(|a| a.who.clone())
            .unwrap_or_else(|| Principal::new("", [""; 0]))
    }

    fn may_write(&self) -> bool {
        self.account.as_ref().is_some_and(|a| a.user.privilege.may_write())
    }

    fn user_name(&self) -> Option<String> {
        self.account.as_ref().map(|a| a.user.name.clone())
    }

    // ---- paths ----

    /// Resolves a path argument inside the root; a refused one is an event and `None`.
    fn path(&self, arg: &str, out: &mut Output) -> Option<VPath> {
        resolve_logged(&self.cwd, arg, &mut out.events).ok()
    }

    fn fs_error(&self, out: &mut Output, err: VfsError, path: &VPath, fallback: &str) {
        if let Some(ev) = err.limit_event(path) {
            out.events.push(ev);
        }
        match err {
            VfsError::QuotaExceeded | VfsError::TooMany => self.reply(out, 552, "Disk quota exceeded."),
            VfsError::FileTooLarge => self.reply(out, 552, "File too large."),
            VfsError::PermissionDenied => self.reply(out, 550, "Permission denied."),
            VfsError::Path(_) => self.reply(out, 553, "File name not allowed."),
            _ => self.reply(out, 550, fallback),
        }
    }

    fn cwd_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "Failed to change directory.");
        };
        match self.shared.view.stat(&self.who(), &p, now) {
            Ok(st) if st.kind == Kind::Dir && st.may_exec(&self.who()) => {
                self.cwd = p;
                self.reply(out, 250, "Directory successfully changed.")
            }
            _ => self.reply(out, 550, "Failed to change directory."),
        }
    }

    fn mkd_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "Create directory operation failed.");
        };
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        match self.shared.view.mkdir(&self.who(), &p, now) {
            Ok(()) => {
                let q = reply::quote_path(p.as_str());
                self.reply(out, 257, &format!("{q} created"))
            }
            Err(e) => self.fs_error(out, e, &p, "Create directory operation failed."),
        }
    }

    fn simple_fs(&mut self, arg: &str, now: SystemTime, out: &mut Output, op: FsOp) {
        let (ok, fail) = match op {
            FsOp::Rmd => (
                "Remove directory operation successful.",
                "Remove directory operation failed.",
            ),
            FsOp::Dele => ("Delete operation successful.", "Delete operation failed."),
        };
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, fail);
        };
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        let who = self.who();
        let r = match op {
            FsOp::Rmd => self.shared.view.rmdir(&who, &p, now),
            FsOp::Dele => self.shared.view.delete(&who, &p, now),
        };
        match r {
            Ok(()) => self.reply(out, 250, ok),
            Err(e) => self.fs_error(out, e, &p, fail),
        }
    }

    fn rnfr_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        self.rnfr = None;
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "RNFR command failed.");
        };
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        match self.shared.view.stat(&self.who(), &p, now) {
            Ok(_) if !p.is_root() => {
                self.rnfr = Some(p);
                self.reply(out, 350, "Ready for RNTO.")
            }
            _ => self.reply(out, 550, "RNFR command failed."),
        }
    }

    fn rnto_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(from) = self.rnfr.take() else {
            return self.reply(out, 503, "RNFR required first.");
        };
        let Some(to) = self.path(arg, out) else {
            return self.reply(out, 550, "Rename failed.");
        };
        match self.shared.view.rename(&self.who(), &from, &to, now) {
            Ok(()) => self.reply(out, 250, "Rename successful."),
            Err(e) => self.fs_error(out, e, &to, "Rename failed."),
        }
    }

    fn site_cmd(&mut self, arg: &str, _now: SystemTime, out: &mut Output) {
        let mut words = arg.trim().splitn(3, ' ');
        let sub = words.next().unwrap_or_default().to_ascii_uppercase();
        match sub.as_str() {
            "HELP" => self.reply(out, 214, "CHMOD HELP"),
            "CHMOD" => {
                let (Some(mode), Some(path)) = (words.next(), words.next()) else {
                    return self.reply(out, 501, "SITE CHMOD needs 2 arguments.");
                };
                let mode = match u32::from_str_radix(mode, 8) {
                    Ok(m) if !mode.is_empty() && mode.len() <= 4 => m,
                    _ => return self.reply(out, 501, "Bad SITE CHMOD mode."),
                };
                let Some(p) = self.path(path, out) else {
                    return self.reply(out, 550, "SITE CHMOD command failed.");
                };
                if !self.may_write() {
                    return self.reply(out, 550, "Permission denied.");
                }
                match self.shared.view.chmod(&self.who(), &p, mode) {
                    Ok(()) => self.reply(out, 200, "SITE CHMOD command ok."),
                    Err(e) => self.fs_error(out, e, &p, "SITE CHMOD command failed."),
                }
            }
            _ => self.reply(out, 500, "Unknown SITE command."),
        }
    }

    fn file_stat(&self, arg: &str, now: SystemTime, out: &mut Output) -> Option<(VPath, Stat)> {
        let p = self.path(arg, out)?;
        let st = self.shared.view.stat(&self.who(), &p, now).ok()?;
        (st.kind == Kind::File).then_some((p, st))
    }

    fn size_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some((p, st)) = self.file_stat(arg, now, out) else {
            return self.reply(out, 550, "Could not get file size.");
        };
        let size = if self.ascii {
            match self.shared.view.read(&self.who(), &p, 0, usize::MAX, now) {
                Ok(b) => listing::to_network_ascii(&b).len() as u64,
                Err(_) => return self.reply(out, 550, "Could not get file size."),
            }
        } else {
            st.size
        };
        self.reply(out, 213, &size.to_string())
    }

    fn mdtm_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        match self.file_stat(arg, now, out) {
            Some((_, st)) => self.reply(out, 213, &listing::timeval(st.meta.mtime)),
            None => self.reply(out, 550, "Could not get file modification time."),
        }
    }

    fn opts_cmd(&mut self, arg: &str, out: &mut Output) {
        let (name, value) = arg.trim().split_once(' ').unwrap_or((arg.trim(), ""));
        match name.to_ascii_uppercase().as_str() {
            "UTF8" | "UTF-8" => self.reply(out, 200, "Always in UTF8 mode."),
            "MLST" => {
                let wanted: Vec<String> = value.split(';').map(|f| f.trim().to_ascii_lowercase()).collect();
                let mut chosen = String::new();
                for (i, fact) in FACTS.iter().enumerate() {
                    let on = wanted.iter().any(|w| w == fact);
                    if let Some(slot) = self.facts.get_mut(i) {
                        *slot = on;
                    }
                    if on {
                        chosen.push_str(fact);
                        chosen.push(';');
                    }
                }
                self.reply(out, 200, &format!("MLST OPTS {chosen}"))
            }
            _ => self.reply(out, 501, "Option not understood."),
        }
    }

    fn help_cmd(&mut self, arg: Option<&str>, out: &mut Output) {
        if let Some(cmd) = arg.map(str::trim).filter(|a| !a.is_empty()) {
            let cmd = cmd.to_ascii_uppercase();
            return if COMMANDS.contains(&cmd.as_str()) {
                self.reply(out, 214, &format!("Syntax: {cmd}"))
            } else {
                self.reply(out, 502, "Unknown command.")
            };
        }
        let lines: Vec<String> = COMMANDS
            .chunks(8)
            .map(|c| c.iter().map(|n| format!("{n:<5}")).collect::<Vec<_>>().join(" "))
            .collect();
        reply::multi(
            &mut out.bytes,
            214,
            "The following commands are recognized.",
            lines.iter().map(String::as_str),
            "Help OK.",
        );
    }

    fn stat_server(&mut self, out: &mut Output) {
        let c = &self.shared.config;
        let mut lines = vec![format!("Connected to {}", self.ctx.peer.ip())];
        match (&self.account, &self.user) {
            (Some(a), _) => lines.push(format!("Logged in as {}", a.user.name)),
            (None, Some(_)) => lines.push("Waiting for password".into()),
            (None, None) => lines.push("Waiting for username".into()),
        }
        lines.push(format!("TYPE: {}", if self.ascii { "ASCII" } else { "BINARY" }));
        lines.push(format!("Session timeout in seconds is {}", c.idle_timeout.as_secs()));
        lines.push("Control connection is plain text".into());
        lines.push("Data connections will be plain text".into());
        match &self.transfer {
            Some(t) => lines.push(format!("Data connection open: {} bytes transferred", t.bytes())),
            None => lines.push("No data connection".into()),
        }
        lines.push(c.banner.clone());
        reply::multi(
            &mut out.bytes,
            211,
            "FTP server status:",
            lines.iter().map(String::as_str),
            "End of status",
        );
    }

    fn stat_path(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(lines) = self.listing_of("LIST", arg, now, out) else {
            return self.reply(out, 550, "STAT command failed.");
        };
        let text = String::from_utf8_lossy(&lines).into_owned();
        let inner: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        reply::multi(&mut out.bytes, 213, "Status follows:", inner, "End of status");
    }

    /// The bytes of a listing of `arg` (options such as `-la` dropped): `ls -l` lines,
    /// names, or facts; `None` if it cannot be listed.
    fn listing_of(&self, verb: &str, arg: &str, now: SystemTime, out: &mut Output) -> Option<Vec<u8>> {
        let target: Vec<&str> = arg
            .split(' ')
            .filter(|w| !w.starts_with('-') && !w.is_empty())
            .collect();
        let target = target.join(" ");
        let p = if target.is_empty() {
            self.cwd.clone()
        } else {
            self.path(&target, out)?
        };
        let who = self.who();
        let st = self.shared.view.stat(&who, &p, now).ok()?;
        let entries = match st.kind {
            Kind::Dir => self.shared.view.list(&who, &p, now).ok()?,
            Kind::File if verb == "MLSD" => return None,
            Kind::File => vec![st],
        };
        let mut bytes = Vec::new();
        for e in &entries {
            match verb {
                "NLST" => {
                    bytes.extend_from_slice(e.name.as_bytes());
                    bytes.extend_from_slice(b"\r\n");
                }
                "MLSD" => {
                    bytes.extend_from_slice(listing::facts(e, &who, &self.facts, &e.name).as_bytes());
                    bytes.extend_from_slice(b"\r\n");
                }
                _ => bytes.extend_from_slice(listing::ls_line(e, now).as_bytes()),
            }
        }
        Some(bytes)
    }

    fn mlst_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let p = if arg.trim().is_empty() {
            Some(self.cwd.clone())
        } else {
            self.path(arg, out)
        };
        let who = self.who();
        match p.and_then(|p| self.shared.view.stat(&who, &p, now).ok().map(|st| (p, st))) {
            Some((p, st)) => {
                let line = listing::facts(&st, &who, &self.facts, p.as_str());
                reply::multi(&mut out.bytes, 250, "Listing", [line.as_str()], "End");
            }
            None => self.reply(out, 550, "Could not list."),
        }
    }

    // ---- data channels ----

    fn new_channel(&mut self) -> ChannelId {
        let id = self.next_channel;
        self.next_channel = self.next_channel.wrapping_add(1).max(1);
        id
    }

    /// Drops the prepared data channel, closing it if the listener opened it.
    fn drop_data(&mut self, out: &mut Output) {
        if let Some(d) = self.data.take()
            && d.opened
        {
            out.request(IoRequest::Close { channel: d.id });
        }
    }

    fn pasv_cmd(&mut self, extended: bool, line: &[u8], out: &mut Output) {
        self.drop_data(out);
        if !extended && !self.ctx.local.ip().to_canonical().is_ipv4() {
            return self.reply(out, 425, "PASV is IPv4 only; use EPSV.");
        }
        let id = self.new_channel();
        let mut d = DataChannel::new(id, DataMode::Passive);
        d.opened = true;
        self.data = Some(d);
        out.request(IoRequest::OpenDataListener {
            channel: id,
            ports: self.shared.config.data_ports,
        });
        self.listen = Some(PendingListen {
            channel: id,
            extended,
            line: line.to_vec(),
        });
    }

    fn active_cmd(&mut self, addr: SocketAddr, extended: bool, out: &mut Output) {
        self.drop_data(out);
        let peer = self.ctx.peer.ip().to_canonical();
        if addr.ip().to_canonical() != peer || addr.port() < 1024 {
            // Connecting anywhere but back to the client would make us a bounce relay.
            let reason = if addr.ip().to_canonical() != peer {
                "bounce"
            } else {
                "privileged_port"
            };
            out.events.push(
                EventDraft::new("ftp.bounce")
                    .with("target", addr.to_string())
                    .with("reason", reason)
                    .with("attack", "bounce"),
            );
            let verb = if extended { "EPRT" } else { "PORT" };
            return self.reply(out, 500, &format!("Illegal {verb} command."));
        }
        let id = self.new_channel();
        self.data = Some(DataChannel::new(id, DataMode::Active(addr)));
        if extended {
            self.reply(out, 200, "EPRT command successful. Consider using EPSV.")
        } else {
            self.reply(out, 200, "PORT command successful. Consider using PASV.")
        }
    }

    fn abort_all(&mut self, out: &mut Output) {
        if let Some(t) = self.transfer.take() {
            out.request(IoRequest::Close { channel: t.channel.id });
        }
        self.drop_data(out);
        self.listen = None;
    }

    fn abor_cmd(&mut self, now: SystemTime, out: &mut Output) {
        match self.transfer.take() {
            Some(t) => {
                out.request(IoRequest::Close { channel: t.channel.id });
                self.transfer_event(&t, 426, "aborted", now, out);
                if let (
                    Some(path),
                    Direction::Receive {
                        buf, received, mode, ..
                    },
                ) = (&t.path, &t.dir)
                {
                    self.keep_upload(&t, path, buf, *received, *mode, now, out);
                }
                self.reply(out, 426, "Failure writing network stream.");
                self.reply(out, 226, "ABOR successful.");
            }
            None => {
                self.drop_data(out);
                self.reply(out, 225, "No transfer to ABOR.");
            }
        }
    }

    // ---- transfers ----

    fn retr_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let offset = self.rest.take().unwrap_or(0);
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "Failed to open file.");
        };
        let who = self.who();
        // Opened (a file, readable) now; read a chunk at a time as it is sent.
        let size = match self.shared.view.read(&who, &p, offset, 0, now) {
            Ok(_) => self.shared.view.stat(&who, &p, now).map_or(0, |st| st.size),
            Err(VfsError::PermissionDenied) => return self.reply(out, 550, "Permission denied."),
            Err(_) => return self.reply(out, 550, "Failed to open file."),
        };
        let mode = if self.ascii { "ASCII" } else { "BINARY" };
        let name = p.file_name().unwrap_or_default().to_owned();
        let text = format!(
            "Opening {mode} mode data connection for {name} ({} bytes).",
            size.saturating_sub(offset)
        );
        let source = crate::transfer::Outgoing::File {
            start: offset,
            offset,
            prev: 0,
            eof: false,
            hash: sha2::Sha256::default(),
        };
        self.start(
            "RETR",
            Some(p),
            Direction::Send {
                source,
                sent: 0,
                closing: false,
            },
            &text,
            now,
            out,
        );
    }

    fn list_cmd(&mut self, verb: &str, arg: &str, now: SystemTime, out: &mut Output) {
        if self.data.is_none() {
            return self.reply(out, 425, "Use PORT or PASV first.");
        }
        let Some(bytes) = self.listing_of(verb, arg, now, out) else {
            return self.reply(out, 550, "Failed to list directory.");
        };
        let verb: &'static str = match verb {
            "NLST" => "NLST",
            "MLSD" => "MLSD",
            _ => "LIST",
        };
        let dir = Direction::Send {
            source: crate::transfer::Outgoing::Bytes(bytes),
            sent: 0,
            closing: false,
        };
        self.start(verb, None, dir, "Here comes the directory listing.", now, out);
    }

    fn store_cmd(&mut self, verb: &'static str, arg: Option<&str>, now: SystemTime, out: &mut Output) {
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        let rest = self.rest.take();
        let (p, mode) = if verb == "STOU" {
            let dir = match arg.map(str::trim).filter(|a| !a.is_empty()) {
                Some(a) => match self.path(a, out) {
                    Some(p) => p.parent().unwrap_or_else(VPath::root),
                    None => return self.reply(out, 553, "Could not create file."),
                },
                None => self.cwd.clone(),
            };
            match self.unique_name(&dir, now) {
                Some(p) => (p, WriteMode::CreateNew),
                None => return self.reply(out, 553, "Could not create file."),
            }
        } else {
            let Some(p) = self.path(arg.unwrap_or_default(), out) else {
                return self.reply(out, 553, "Could not create file.");
            };
            let mode = match (verb, rest) {
                ("APPE", _) => WriteMode::Append,
                (_, Some(off)) if off > 0 => WriteMode::At(off),
                _ => WriteMode::Truncate,
            };
            (p, mode)
        };
        let cap = usize::try_from(self.shared.view.vfs().limits().max_file)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let text = if verb == "STOU" {
            format!("FILE: {}", p.file_name().unwrap_or_default())
        } else {
            "Ok to send data.".to_owned()
        };
        let dir = Direction::Receive {
            buf: Vec::new(),
            received: 0,
            cap,
            mode,
        };
        self.start(verb, Some(p), dir, &text, now, out);
    }

    /// A name in `dir` no entry has: the configured prefix and suffix around a number.
    fn unique_name(&self, dir: &VPath, now: SystemTime) -> Option<VPath> {
        let c = &self.shared.config;
        for _ in 0..16 {
            let n = conpot_core::rng::with_thread_rng(|r| r.range_i64(0, 999_999));
            let name = format!("{}{n:06}{}", c.stou_prefix, c.stou_suffix);
            let p = dir.join(&VPath::new(&name).ok()?).ok()?;
            if matches!(
                self.shared.view.stat(&Principal::root(), &p, now),
                Err(VfsError::NotFound)
            ) {
                return Some(p);
            }
        }
        None
    }

    /// Starts a transfer on the prepared data channel.
    fn start(
        &mut self,
        verb: &'static str,
        path: Option<VPath>,
        dir: Direction,
        preliminary: &str,
        now: SystemTime,
        out: &mut Output,
    ) {
        let Some(channel) = self.data.take() else {
            return self.reply(out, 425, "Use PORT or PASV first.");
        };
        let mut t = Transfer {
            channel,
            verb,
            path,
            dir,
            ascii: self.ascii,
            started: now,
            progress: now,
            announced: false,
        };
        match t.channel.mode {
            DataMode::Active(addr) if !t.channel.opened => {
                t.channel.opened = true;
                out.request(IoRequest::ConnectBack {
                    channel: t.channel.id,
                    addr,
                });
            }
            _ => {}
        }
        if t.channel.mode == DataMode::Passive {
            self.reply(out, 150, preliminary);
            t.announced = true;
        }
        self.pending_text = preliminary.to_owned();
        let early = std::mem::take(&mut t.channel.early);
        t.receive(&early);
        let ready = t.channel.connected;
        let eof = t.channel.eof;
        self.transfer = Some(t);
        if ready {
            self.begin(now, out);
        }
        if eof {
            self.finish(150, now, out);
        }
    }

    /// The data connection is up: send the first chunk (uploads wait for data).
    fn begin(&mut self, now: SystemTime, out: &mut Output) {
        let Some(t) = self.transfer.as_mut() else { return };
        if !t.announced {
            t.announced = true;
            let text = std::mem::take(&mut self.pending_text);
            reply::single(&mut out.bytes, 150, &text);
        }
        self.send_next(now, out);
    }

    /// The next chunk of the running download, or `None` when everything was handed
    /// over (a file that can no longer be read ends there).
    fn next_chunk(&mut self, now: SystemTime) -> Option<Vec<u8>> {
        use sha2::Digest;
        let who = self.who();
        let t = self.transfer.as_mut()?;
        let ascii = t.ascii;
        let Direction::Send { source, sent, .. } = &mut t.dir else {
            return None;
        };
        let chunk = match source {
            crate::transfer::Outgoing::Bytes(bytes) => {
                let start = usize::try_from(*sent).unwrap_or(usize::MAX).min(bytes.len());
                let end = start.saturating_add(crate::transfer::CHUNK).min(bytes.len());
                bytes.get(start..end).unwrap_or_default().to_vec()
            }
            crate::transfer::Outgoing::File {
                offset,
                prev,
                eof,
                hash,
                ..
            } => {
                if *eof {
                    return None;
                }
                let path = t.path.as_ref()?;
                let raw = self
                    .shared
                    .view
                    .read(&who, path, *offset, crate::transfer::CHUNK, now)
                    .unwrap_or_default();
                *eof = raw.len() < crate::transfer::CHUNK;
                *offset += raw.len() as u64;
                hash.update(&raw);
                if ascii {
                    listing::to_network_ascii_after(prev, &raw)
                } else {
                    raw
                }
            }
        };
        *sent += chunk.len() as u64;
        (!chunk.is_empty()).then_some(chunk)
    }

    fn send_next(&mut self, now: SystemTime, out: &mut Output) {
        let chunk = self.next_chunk(now);
        let Some(t) = self.transfer.as_mut() else { return };
        match chunk {
            Some(chunk) => out.request(IoRequest::Send {
                channel: t.channel.id,
                bytes: chunk,
            }),
            None => {
                if let Direction::Send { closing, .. } = &mut t.dir
                    && !*closing
                {
                    *closing = true;
                    out.request(IoRequest::Close { channel: t.channel.id });
                }
            }
        }
    }

    /// The data connection ended (`code` 150: closed by the client as expected; else the
    /// failure's code): complete the transfer and reply.
    fn finish(&mut self, why: u16, now: SystemTime, out: &mut Output) {
        let Some(t) = self.transfer.take() else { return };
        match &t.dir {
            Direction::Send { source, closing, .. } => {
                if why == 150 && *closing {
                    self.transfer_event(&t, 226, "complete", now, out);
                    if let (
                        Some(p),
                        crate::transfer::Outgoing::File {
                            start, offset, hash, ..
                        },
                    ) = (&t.path, source)
                    {
                        use sha2::Digest;
                        let sha = conpot_core::hex::encode(&hash.clone().finalize());
                        out.events.push(
                            EventDraft::new("file.download")
                                .with("protocol", "ftp")
                                .with("user", self.user_name())
                                .with("path", p.as_str())
                                .with(
                                    "vfs_path",
                                    self.shared.view.root().join(p).map(|f| f.as_str().to_owned()).ok(),
                                )
                                .with("size", offset.saturating_sub(*start))
                                .with("sha256", sha),
                        );
                    }
                    self.reply(out, 226, "Transfer complete.");
                } else if !t.channel.connected {
                    self.transfer_event(&t, 425, "no_connection", now, out);
                    self.reply(out, 425, "Failed to establish connection.");
                } else {
                    self.transfer_event(&t, 426, "connection_lost", now, out);
                    self.reply(out, 426, "Failure writing network stream.");
                }
            }
            Direction::Receive {
                buf, received, mode, ..
            } => {
                let Some(path) = t.path.clone() else { return };
                if !t.channel.connected && why != 150 {
                    self.transfer_event(&t, 425, "no_connection", now, out);
                    return self.reply(out, 425, "Failed to establish connection.");
                }
                let (code, result) = self.keep_upload(&t, &path, buf, *received, *mode, now, out);
                let (code, result) = if why == 150 {
                    (code, result)
                } else {
                    (426, "connection_lost")
                };
                self.transfer_event(&t, code, result, now, out);
                match code {
                    226 => self.reply(out, 226, "Transfer complete."),
                    552 => self.reply(out, 552, "Disk quota exceeded."),
                    426 => self.reply(out, 426, "Failure reading network stream."),
                    553 => self.reply(out, 553, "Could not create file."),
                    _ => self.reply(out, 550, "Permission denied."),
                }
            }
        }
        self.drain(now, out);
    }

    /// Writes an upload into the filesystem; it is captured whether or not the
    /// filesystem keeps it. Returns the reply code and a result name.
    #[allow(clippy::too_many_arguments)]
    fn keep_upload(
        &self,
        t: &Transfer,
        path: &VPath,
        buf: &[u8],
        received: u64,
        mode: WriteMode,
        now: SystemTime,
        out: &mut Output,
    ) -> (u16, &'static str) {
        let data = if t.ascii {
            listing::from_network_ascii(buf)
        } else {
            buf.to_vec()
        };
        let who = self.who();
        let (mut capture, code, result) = match self.shared.view.write(&who, path, mode, &data, now) {
            Ok(c) => (c, 226, "complete"),
            Err(e) => {
                if let Some(ev) = e.limit_event(path) {
                    out.events.push(ev);
                }
                let (code, result) = match e {
                    VfsError::QuotaExceeded | VfsError::TooMany | VfsError::FileTooLarge => (552, "disk_full"),
                    VfsError::PermissionDenied => (550, "permission_denied"),
                    _ => (553, "refused"),
                };
                (
                    self.shared.view.refused_capture(&who, path, mode, &data, e),
                    code,
                    result,
                )
            }
        };
        capture.original_len = capture
            .original_len
            .max(usize::try_from(received).unwrap_or(usize::MAX));
        capture.data.insert("protocol".into(), "ftp".into());
        capture.data.insert("user".into(), who.user.clone().into());
        capture.data.insert("command".into(), t.verb.into());
        out.files.push(capture);
        (code, result)
    }

    fn transfer_event(&self, t: &Transfer, code: u16, result: &str, now: SystemTime, out: &mut Output) {
        let direction = match (&t.dir, t.path.is_some()) {
            (Direction::Receive { .. }, _) => "upload",
            (Direction::Send { .. }, true) => "download",
            (Direction::Send { .. }, false) => "listing",
        };
        let mode = match t.channel.mode {
            DataMode::Passive => "passive",
            DataMode::Active(_) => "active",
        };
        out.events.push(
            EventDraft::new("ftp.transfer")
                .with("command", t.verb)
                .with("path", t.path.as_ref().map(|p| p.as_str().to_owned()))
                .with("direction", direction)
                .with("mode", mode)
                .with("type", if t.ascii { "ascii" } else { "binary" })
                .with("bytes", t.bytes())
                .with(
                    "duration_ms",
                    now.duration_since(t.started).unwrap_or_default().as_millis() as u64,
                )
                .with("code", code)
                .with("result", result)
                .with("user", self.user_name()),
        );
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

#[derive(Debug, Clone, Copy)]
enum FsOp {
    Rmd,
    Dele,
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
                out.request(IoRequest::Close { channel: t.channel.id });
                self.transfer_event(&t, 426, "timeout", now, out);
                if let (
                    Some(path),
                    Direction::Receive {
                        buf, received, mode, ..
                    },
                ) = (&t.path, &t.dir)
                {
                    self.keep_upload(&t, path, buf, *received, *mode, now, out);
                }
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
