//! One Telnet connection: negotiation, line editing, the login and the shell of the
//! device's console. Sans-IO: bytes and the time come in, an [`Output`] goes out.

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::auth::attempt::escape;
use conpot_core::auth::{Privilege, Reason, Secret, User};
use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session, SessionCtx, response_delay};
use serde_json::{Value as Json, json};

use crate::codec::{self, AYT, BRK, EC, EL, IP, Item, Parser};
use crate::console::{Console, Found, Login, MAX_LINE};
use crate::options::{self, Options, Side};
use crate::text::{Fill, Text, resolve};

/// Negotiation events kept per session; a peer that negotiates in a loop is logged once
/// it passes this, then counted only.
pub const MAX_NEGOTIATION_EVENTS: u32 = 64;
/// The longest terminal type kept.
pub const MAX_TTYPE: usize = 64;
/// NEW-ENVIRON variables kept from one subnegotiation.
pub const MAX_ENV_VARS: usize = 16;

/// What a console session shares with every other of its service.
#[derive(Debug)]
pub struct Shared {
    /// The console.
    pub console: Console,
    /// The device it belongs to.
    pub device: Device,
    /// What this service agrees to negotiate: our side, the peer's.
    pub accept: (Vec<u8>, Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    User,
    Password(Vec<u8>),
    Shell,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Start,
    Csi,
}

/// A Telnet console session.
pub struct TelnetSession {
    shared: Arc<Shared>,
    ctx: SessionCtx,
    parser: Parser,
    opts: Options,
    phase: Phase,
    line: Vec<u8>,
    esc: Esc,
    failures: u32,
    modes: Vec<String>,
    user: Option<Arc<User>>,
    user_name: String,
    last_input: SystemTime,
    negotiations: u32,
    items: Vec<Item>,
}

impl TelnetSession {
    /// A session of `shared`'s console for the connection `ctx`.
    pub fn new(shared: Arc<Shared>, ctx: &SessionCtx) -> TelnetSession {
        let mut opts = Options::default();
        for &o in &shared.accept.0 {
            if let Some(a) = opts.accept_us.get_mut(usize::from(o)) {
                *a = true;
            }
        }
        for &o in &shared.accept.1 {
            if let Some(a) = opts.accept_him.get_mut(usize::from(o)) {
                *a = true;
            }
        }
        let phase = match shared.console.login {
            Login::UserPassword => Phase::User,
            Login::PasswordOnly => Phase::Password(Vec::new()),
            Login::None => Phase::Shell,
        };
        TelnetSession {
            shared,
            ctx: *ctx,
            parser: Parser::new(),
            opts,
            phase,
            line: Vec::new(),
            esc: Esc::None,
            failures: 0,
            modes: Vec::new(),
            user: None,
            user_name: String::new(),
            last_input: SystemTime::UNIX_EPOCH,
            negotiations: 0,
            items: Vec::new(),
        }
    }

    fn console(&self) -> &Console {
        &self.shared.console
    }

    fn echo(&self) -> bool {
        self.opts.us(options::ECHO).on()
    }

    fn mode(&self) -> &str {
        self.modes.last().map_or("", String::as_str)
    }

    fn put(&self, text: &Text, now: SystemTime, args: &[String], line: &str, out: &mut Output) -> usize {
        let mode = self.mode().to_owned();
        let console = &self.shared.console;
        let help = || console.help(&mode);
        let s = text.fill(&Fill {
            device: &self.shared.device,
            now,
            args,
            line,
            user: &self.user_name,
            help: &help,
        });
        codec::put_text(&mut out.bytes, s.as_bytes());
        s.len()
    }

    fn prompt(&self, now: SystemTime, out: &mut Output) {
        let text = match &self.phase {
            Phase::User => &self.console().login_prompt,
            Phase::Password(_) => &self.console().password_prompt,
            Phase::Shell => match self.console().mode(self.mode()) {
                Some(m) => &m.prompt,
                None => return,
            },
            Phase::Closed => return,
        };
        self.put(&text.clone(), now, &[], "", out);
    }

    fn timeout(&self) -> std::time::Duration {
        if self.phase == Phase::Shell {
            self.console().idle_timeout
        } else {
            self.console().login_timeout
        }
    }

    fn close(&mut self, out: &mut Output) {
        self.phase = Phase::Closed;
        out.close = true;
    }

    fn enter_shell(
        &mut self,
        user: Option<Arc<User>>,
        name: String,
        via: &'static str,
        now: SystemTime,
        out: &mut Output,
    ) {
        let privilege = user.as_ref().map_or(Privilege::User, |u| u.privilege);
        self.user = user;
        self.user_name = name;
        self.phase = Phase::Shell;
        self.modes = self
            .console()
            .modes
            .first()
            .map(|m| m.name.clone())
            .into_iter()
            .collect();
        out.events.push(
            EventDraft::new("telnet.login")
                .with("username", self.user_name.clone())
                .with("privilege", privilege.as_str())
                .with("via", via),
        );
        let welcome = self.console().welcome.clone();
        self.put(&welcome, now, &[], "", out);
    }

    fn negotiation_event(&mut self, d: EventDraft, out: &mut Output) {
        self.negotiations = self.negotiations.saturating_add(1);
        if self.negotiations <= MAX_NEGOTIATION_EVENTS {
            out.events.push(d);
        } else if self.negotiations == MAX_NEGOTIATION_EVENTS + 1 {
            out.events.push(
                EventDraft::new("limit.hit")
                    .with("limit", "telnet_negotiation_events")
                    .with("value", MAX_NEGOTIATION_EVENTS),
            );
        }
    }

    fn on_verb(&mut self, verb: u8, option: u8, out: &mut Output) {
        let o = self.opts.receive(verb, option);
        if let Some(a) = o.answer {
            codec::put_verb(&mut out.bytes, a, option);
        }
        if o.side == Side::Him && o.changed == Some(true) {
            match option {
                options::TTYPE => codec::put_sub(&mut out.bytes, options::TTYPE, &[1]),
                options::NEW_ENVIRON => codec::put_sub(&mut out.bytes, options::NEW_ENVIRON, &[1]),
                _ => {}
            }
        }
        if option == options::BINARY && o.side == Side::Him {
            self.parser.binary = self.opts.him(options::BINARY).on();
        }
        let state = |on: bool| if on { "on" } else { "off" };
        let now_on = match o.side {
            Side::Us => self.opts.us(option).on(),
            Side::Him => self.opts.him(option).on(),
        };
        let d = EventDraft::new("telnet.negotiation")
            .with("verb", codec::verb_name(verb))
            .with("option", options::name(option))
            .with("code", option)
            .with(
                "answer",
                o.answer.map_or(Json::Null, |a| Json::from(codec::verb_name(a))),
            )
            .with("state", state(now_on))
            .with("error", o.error);
        self.negotiation_event(d, out);
    }

    fn on_sub(&mut self, option: u8, params: &[u8], out: &mut Output) {
        let mut d = EventDraft::new("telnet.subnegotiation")
            .with("option", options::name(option))
            .with("code", option);
        match (option, params) {
            (options::TTYPE, [0, name @ ..]) => {
                let name = name.get(..MAX_TTYPE).unwrap_or(name);
                d = d.with("terminal_type", escape(name));
            }
            (options::NAWS, [w1, w0, h1, h0]) => {
                d = d
                    .with("width", u16::from_be_bytes([*w1, *w0]))
                    .with("height", u16::from_be_bytes([*h1, *h0]));
            }
            (options::NEW_ENVIRON | options::OLD_ENVIRON, [0 | 2, rest @ ..]) => {
                d = d.with("environ", environ(rest));
            }
            // AUTHENTICATION IS (RFC 2941): what a client offers unasked, as nmap's
            // telnet-ntlm-info does with an NTLMSSP negotiate (MS-TNAP). A device without
            // it sends nothing back.
            (options::AUTHENTICATION, [0, kind, ..]) => {
                let name = match kind {
                    0 => "NULL",
                    1 => "KERBEROS_V4",
                    2 => "KERBEROS_V5",
                    3 => "SPX",
                    6 => "RSA",
                    10 => "LOKI",
                    15 => "NTLM",
                    _ => "unknown",
                };
                d = d
                    .with("auth_type", name)
                    .with("ntlmssp", params.windows(7).any(|w| w == b"NTLMSSP"));
            }
            _ => {
                d = d.with(
                    "malformed",
                    !params.is_empty() && !matches!(option, options::NAWS | options::TTYPE),
                )
            }
        }
        d.body.raw = Some(params.to_vec());
        self.negotiation_event(d, out);
    }

    fn erase_char(&mut self, out: &mut Output) {
        // Drop one character: a UTF-8 sequence's continuation bytes go with it.
        while let Some(b) = self.line.pop() {
            if b & 0xC0 != 0x80 {
                break;
            }
        }
        if self.echo() && !matches!(self.phase, Phase::Password(_)) {
            out.bytes.extend_from_slice(b"\x08 \x08");
        }
    }

    fn erase_line(&mut self, out: &mut Output) {
        let chars = String::from_utf8_lossy(&self.line).chars().count();
        self.line.clear();
        if self.echo() && !matches!(self.phase, Phase::Password(_)) {
            for _ in 0..chars {
                out.bytes.extend_from_slice(b"\x08 \x08");
            }
        }
    }

    fn interrupt(&mut self, now: SystemTime, out: &mut Output) {
        self.line.clear();
        if self.echo() {
            out.bytes.extend_from_slice(b"^C");
        }
        out.bytes.extend_from_slice(b"\r\n");
        self.prompt(now, out);
    }

    fn on_data(&mut self, b: u8, now: SystemTime, out: &mut Output) {
        match self.esc {
            Esc::Start => {
                self.esc = if b == b'[' || b == b'O' { Esc::Csi } else { Esc::None };
                return;
            }
            Esc::Csi => {
                if (0x40..=0x7E).contains(&b) {
                    self.esc = Esc::None;
                }
                return;
            }
            Esc::None => {}
        }
        match b {
            0x1B => self.esc = Esc::Start,
            0x03 => self.interrupt(now, out),
            0x04 if self.line.is_empty() => {
                if self.phase == Phase::Shell {
                    let bye = self.console().goodbye.clone();
                    self.put(&bye, now, &[], "", out);
                }
                out.events.push(EventDraft::new("telnet.logout").with("via", "ctrl-d"));
                self.close(out);
            }
            0x15 => self.erase_line(out),
            0x08 | 0x7F => self.erase_char(out),
            _ if b < 0x20 => {}
            _ => {
                if self.line.len() < MAX_LINE {
                    self.line.push(b);
                    if self.echo() && !matches!(self.phase, Phase::Password(_)) {
                        codec::put_text(&mut out.bytes, &[b]);
                    }
                }
            }
        }
    }

    fn on_command(&mut self, cmd: u8, now: SystemTime, out: &mut Output) {
        match cmd {
            IP | BRK => self.interrupt(now, out),
            EC => self.erase_char(out),
            EL => self.erase_line(out),
            AYT => out.bytes.extend_from_slice(b"\r\n[Yes]\r\n"),
            _ => {}
        }
    }

    fn on_line(&mut self, now: SystemTime, out: &mut Output) {
        if self.echo() {
            out.bytes.extend_from_slice(b"\r\n");
        }
        let line = std::mem::take(&mut self.line);
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::User => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    self.phase = Phase::User;
                } else {
                    self.phase = Phase::Password(line);
                }
                self.prompt(now, out);
            }
            Phase::Password(user) => self.on_password(&user, &line, now, out),
            Phase::Shell => {
                self.phase = Phase::Shell;
                self.run(&line, now, out);
            }
            Phase::Closed => {}
        }
    }

    fn on_password(&mut self, user: &[u8], password: &[u8], now: SystemTime, out: &mut Output) {
        let auth = &self.shared.device.auth;
        let source = self.ctx.peer.ip();
        let decision = match self.console().login {
            Login::PasswordOnly => auth.check_password_only("telnet", password, source, now),
            _ => auth.check("telnet", user, Secret::Plain(password), source, now),
        };
        out.events.push(decision.event.clone());
        let name = String::from_utf8_lossy(user).into_owned();
        match decision.outcome {
            Ok(u) => {
                let name = if name.is_empty() { u.name.clone() } else { name };
                self.enter_shell(Some(u), name, "password", now, out);
                self.prompt(now, out);
            }
            Err(Reason::Locked) => {
                let t = self.console().locked.clone();
                self.put(&t, now, &[], "", out);
                self.close(out);
            }
            Err(_) => {
                self.failures = self.failures.saturating_add(1);
                out.delay = out.delay.max(response_delay(self.console().failure_delay_ms));
                let c = self.console();
                if c.accept_after > 0 && self.failures >= c.accept_after {
                    self.enter_shell(None, name, "accept_after", now, out);
                    self.prompt(now, out);
                    return;
                }
                let t = c.login_failed.clone();
                let closing = self.failures >= c.max_tries;
                self.put(&t, now, &[], "", out);
                if closing {
                    self.close(out);
                    return;
                }
                self.phase = match c.login {
                    Login::PasswordOnly => Phase::Password(Vec::new()),
                    _ => Phase::User,
                };
                self.prompt(now, out);
            }
        }
    }

    fn run(&mut self, raw: &[u8], now: SystemTime, out: &mut Output) {
        let line = String::from_utf8_lossy(raw).into_owned();
        let mode = self.mode().to_owned();
        let shared = Arc::clone(&self.shared);
        let console = &shared.console;
        let found = console.find(&mode, &line);
        if found == Found::Empty {
            self.prompt(now, out);
            return;
        }
        let start = out.bytes.len();
        let (status, name, args) = match found {
            Found::Empty => ("empty", None, Vec::new()),
            Found::Unknown => {
                self.put(&console.unknown, now, &[], &line, out);
                ("unknown", None, Vec::new())
            }
            Found::Incomplete => {
                self.put(&console.incomplete, now, &[], &line, out);
                ("incomplete", None, Vec::new())
            }
            Found::Ambiguous => {
                self.put(&console.ambiguous, now, &[], &line, out);
                ("ambiguous", None, Vec::new())
            }
            Found::Command(c, args) => {
                let name = Some(c.words.join(" "));
                let mut written = Vec::new();
                let privilege = self.user.as_ref().map_or(Privilege::User, |u| u.privilege);
                if privilege < c.privilege {
                    self.put(&console.denied, now, &args, &line, out);
                    ("denied", name, args)
                } else if let Err((set, e)) = self.write_all(c, &args, &line, now, &mut written) {
                    self.put(&console.invalid, now, &args, &line, out);
                    out.events.push(
                        EventDraft::new("telnet.write")
                            .with("key", set.key.clone())
                            .with("error", e)
                            .with("line", escape(raw)),
                    );
                    ("invalid", name, args)
                } else {
                    for set in written.drain(..) {
                        let value = self.shared.device.databus.get(&set.key, now);
                        out.events.push(
                            EventDraft::new("telnet.write")
                                .with("key", set.key.clone())
                                .with(
                                    "index",
                                    set.index
                                        .as_ref()
                                        .and_then(|i| resolve(i, &args))
                                        .map_or(Json::Null, Json::from),
                                )
                                .with("value", value.map_or(Json::Null, |v| Json::from(v.to_string()))),
                        );
                    }
                    let output = c
                        .cases
                        .iter()
                        .find(|k| k.when.holds(&self.filled(&k.when.value, &args, &line, now)))
                        .map_or(&c.output, |k| &k.output);
                    self.put(output, now, &args, &line, out);
                    if let Some(m) = &c.enter {
                        self.modes.push(m.clone());
                    } else if c.back {
                        if self.modes.len() > 1 {
                            self.modes.pop();
                        } else {
                            self.logout(now, out);
                        }
                    }
                    if c.logout {
                        self.logout(now, out);
                    }
                    ("ok", name, args)
                }
            }
        };
        let output_len = out.bytes.len() - start;
        let mut d = EventDraft::new("telnet.command")
            .with("line", escape(raw))
            .with("mode", mode)
            .with("command", name.map_or(Json::Null, Json::from))
            .with("args", json!(args))
            .with("status", status)
            .with("output_len", output_len);
        d.body.raw = Some(raw.to_vec());
        out.events.push(d);
        self.prompt(now, out);
    }

    fn logout(&mut self, now: SystemTime, out: &mut Output) {
        if self.phase == Phase::Closed {
            return;
        }
        let bye = self.console().goodbye.clone();
        self.put(&bye, now, &[], "", out);
        out.events.push(EventDraft::new("telnet.logout").with("via", "command"));
        self.close(out);
    }

    /// `text` filled for a command's `args` and `line` at `now`.
    fn filled(&self, text: &crate::text::Text, args: &[String], line: &str, now: SystemTime) -> String {
        let mode = self.mode().to_owned();
        let help = || self.shared.console.help(&mode);
        text.fill(&Fill {
            device: &self.shared.device,
            now,
            args,
            line,
            user: &self.user_name,
            help: &help,
        })
    }

    /// Makes a command's writes in order (each sees the ones before), collecting in
    /// `written` those made: a write whose condition fails is left out; the first refused
    /// one stops the rest and is returned with why.
    fn write_all<'c>(
        &self,
        c: &'c crate::console::Command,
        args: &[String],
        line: &str,
        now: SystemTime,
        written: &mut Vec<&'c crate::console::SetAction>,
    ) -> Result<(), (&'c crate::console::SetAction, &'static str)> {
        for set in c.set.iter().chain(&c.sets) {
            if let Some(w) = &set.when
                && !w.holds(&self.filled(&w.value, args, line, now))
            {
                continue;
            }
            self.write(set, args, line, now).map_err(|e| (set, e))?;
            written.push(set);
        }
        Ok(())
    }

    /// Writes the databus value a command sets; the error says why the value was refused.
    fn write(
        &self,
        set: &crate::console::SetAction,
        args: &[String],
        line: &str,
        now: SystemTime,
    ) -> Result<(), &'static str> {
        let text = self.filled(&set.value, args, line, now);
        let index = match &set.index {
            None => None,
            Some(i) => Some(resolve(i, args).ok_or("bad_index")?),
        };
        self.shared
            .device
            .databus
            .update(&set.key, now, |v| {
                let target = match (index, v) {
                    (None, Value::List(_)) => return Err("list_needs_index"),
                    (None, v) => v,
                    (Some(i), Value::List(l)) => l.get_mut(i).ok_or("bad_index")?,
                    (Some(_), _) => return Err("not_a_list"),
                };
                *target = coerce(target, text.trim()).ok_or("bad_value")?;
                Ok(())
            })
            .map_err(|_| "no_key")?
    }
}

/// `text` as a value of the kind `like` holds.
fn coerce(like: &Value, text: &str) -> Option<Value> {
    Some(match like {
        Value::Int(_) | Value::BigUint(_) => {
            let v = if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                i128::from_str_radix(h, 16).ok()?
            } else {
                text.parse::<i128>().ok()?
            };
            Value::Int(v)
        }
        Value::Float(_) => Value::Float(text.parse::<f64>().ok().filter(|f| f.is_finite())?),
        Value::Bool(_) => Value::Bool(match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" | "enable" => true,
            "0" | "false" | "off" | "no" | "disable" => false,
            _ => return None,
        }),
        Value::Str(_) | Value::Null => Value::Str(text.to_owned()),
        Value::Bytes(_) | Value::List(_) => return None,
    })
}

/// NEW-ENVIRON `IS`/`INFO` contents as `[name, value]` pairs (at most [`MAX_ENV_VARS`]).
fn environ(mut rest: &[u8]) -> Json {
    const VAR: u8 = 0;
    const VALUE: u8 = 1;
    const ESC: u8 = 2;
    const USERVAR: u8 = 3;
    let mut pairs = Vec::new();
    let mut name = Vec::new();
    let mut value: Option<Vec<u8>> = None;
    let flush = |name: &mut Vec<u8>, value: &mut Option<Vec<u8>>, pairs: &mut Vec<Json>| {
        if (!name.is_empty() || value.is_some()) && pairs.len() < MAX_ENV_VARS {
            let v = value.take().map_or(Json::Null, |v| Json::from(escape(&v)));
            pairs.push(json!([escape(name), v]));
        }
        name.clear();
        *value = None;
    };
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            VAR | USERVAR => flush(&mut name, &mut value, &mut pairs),
            VALUE => value = Some(Vec::new()),
            _ => {
                let b = if b == ESC {
                    match rest.split_first() {
                        Some((&n, t)) => {
                            rest = t;
                            n
                        }
                        None => break,
                    }
                } else {
                    b
                };
                match &mut value {
                    Some(v) => v.push(b),
                    None => name.push(b),
                }
            }
        }
    }
    flush(&mut name, &mut value, &mut pairs);
    Json::Array(pairs)
}

impl Session for TelnetSession {
    fn on_open(&mut self, now: SystemTime, out: &mut Output) {
        self.last_input = now;
        let negotiate = self.console().negotiate.clone();
        for (verb, option) in negotiate {
            let (side, enable) = match verb {
                codec::WILL => (Side::Us, true),
                codec::WONT => (Side::Us, false),
                codec::DO => (Side::Him, true),
                _ => (Side::Him, false),
            };
            if let Some(v) = self.opts.request(side, option, enable) {
                codec::put_verb(&mut out.bytes, v, option);
            }
        }
        let banner = self.console().banner.clone();
        self.put(&banner, now, &[], "", out);
        if self.phase == Phase::Shell {
            self.enter_shell(None, String::new(), "no_login", now, out);
        }
        self.prompt(now, out);
        out.set_deadline(now + self.timeout());
    }

    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        self.last_input = now;
        let mut items = std::mem::take(&mut self.items);
        items.clear();
        self.parser.feed(input, |i| items.push(i));
        for item in items.drain(..) {
            if self.phase == Phase::Closed {
                break;
            }
            match item {
                Item::Data(b) => self.on_data(b, now, out),
                Item::Eol => {
                    self.esc = Esc::None;
                    self.on_line(now, out);
                }
                Item::Command(c) => self.on_command(c, now, out),
                Item::Verb(v, o) => self.on_verb(v, o, out),
                Item::Sub(o, p) => self.on_sub(o, &p, out),
                Item::SubTooLong(o, len) => {
                    let d = EventDraft::new("telnet.subnegotiation")
                        .with("option", options::name(o))
                        .with("code", o)
                        .with("error", "subnegotiation over 512 bytes, discarded")
                        .with("length", len);
                    self.negotiation_event(d, out);
                }
            }
        }
        self.items = items;
        if self.phase != Phase::Closed {
            out.set_deadline(now + self.timeout());
        }
        input.len()
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        if self.phase == Phase::Closed {
            return;
        }
        let due = self.last_input + self.timeout();
        if now < due {
            out.set_deadline(due);
            return;
        }
        let phase = if self.phase == Phase::Shell { "shell" } else { "login" };
        let t = self.console().idle_message.clone();
        self.put(&t, now, &[], "", out);
        out.events.push(EventDraft::new("telnet.idle").with("phase", phase));
        self.close(out);
    }

    fn on_eof(&mut self, _rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !self.line.is_empty() || self.parser.in_command() {
            let mut d = EventDraft::new("telnet.truncated").with("phase", self.phase_name());
            d.body.raw = Some(self.line.clone());
            out.events.push(d);
        }
    }
}

impl TelnetSession {
    fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::User => "login",
            Phase::Password(_) => "password",
            Phase::Shell => "shell",
            Phase::Closed => "closed",
        }
    }
}

/// A service's `Shared` with the options a console agrees to.
pub fn shared(console: Console, device: Device) -> Shared {
    let mut us = vec![options::ECHO, options::SGA, options::BINARY];
    let mut him = vec![options::SGA, options::TTYPE, options::NAWS, options::BINARY];
    if console.new_environ {
        him.push(options::NEW_ENVIRON);
    }
    us.sort_unstable();
    him.sort_unstable();
    Shared {
        console,
        device,
        accept: (us, him),
    }
}
