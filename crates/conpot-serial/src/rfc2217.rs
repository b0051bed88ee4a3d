//! RFC 2217, the Telnet COM-PORT-OPTION: a serial port's settings (baud rate, data bits,
//! parity, stop bits, flow control, control lines, purges) carried inside a Telnet stream,
//! as `pyserial`'s `rfc2217://` clients and the virtual COM port drivers of serial servers
//! send them. The Telnet side is `conpot-telnet`'s codec and RFC 1143 negotiation; this
//! layer answers each setting (`code + 100`, the value echoed, as a server that applied it)
//! and logs it, and turns the stream into the plain serial bytes a session reads, and the
//! session's bytes back into Telnet data (every 255 doubled).

use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{ChannelId, IoEvent, IoRequest, Output, Session};
use conpot_telnet::codec::{self, IAC, Item, Parser};
use conpot_telnet::options::{self, Options, Side};
use serde_json::{Value as Json, json};

/// The server's signature (answer to SIGNATURE).
pub const SIGNATURE: &[u8] = b"conpot serial";

/// The name of a COM-PORT-OPTION client command, for events.
pub fn command_name(code: u8) -> &'static str {
    match code {
        0 => "signature",
        1 => "set_baudrate",
        2 => "set_datasize",
        3 => "set_parity",
        4 => "set_stopsize",
        5 => "set_control",
        6 => "notify_linestate",
        7 => "notify_modemstate",
        8 => "flowcontrol_suspend",
        9 => "flowcontrol_resume",
        10 => "set_linestate_mask",
        11 => "set_modemstate_mask",
        12 => "purge_data",
        _ => "unknown",
    }
}

fn describe(code: u8, value: &[u8]) -> Json {
    match (code, value) {
        (1, [a, b, c, d]) => json!(u32::from_be_bytes([*a, *b, *c, *d])),
        (3, [p]) => json!(match p {
            0 => "request",
            1 => "none",
            2 => "odd",
            3 => "even",
            4 => "mark",
            5 => "space",
            _ => "unknown",
        }),
        (4, [s]) => json!(match s {
            0 => "request",
            1 => "1",
            2 => "2",
            3 => "1.5",
            _ => "unknown",
        }),
        (5, [c]) => json!(match c {
            0 => "request_flow",
            1 => "no_flow",
            2 => "xonxoff",
            3 => "rtscts",
            4 => "request_break",
            5 => "break_on",
            6 => "break_off",
            7 => "request_dtr",
            8 => "dtr_on",
            9 => "dtr_off",
            10 => "request_rts",
            11 => "rts_on",
            12 => "rts_off",
            _ => "other",
        }),
        (0, v) => json!(conpot_core::auth::attempt::escape(v)),
        (_, [b]) => json!(b),
        (_, v) => json!(conpot_core::hex::encode(v)),
    }
}

/// Applies a client command (`code`, `value` as on the wire) to `line`: SET-BAUDRATE,
/// SET-DATASIZE, SET-PARITY, SET-STOPSIZE and the flow control values of SET-CONTROL.
/// Returns whether a setting changed; queries (value 0), control lines, break, and
/// values a line cannot take (1.5 stop bits, a baud rate of 0) change nothing.
pub fn apply(line: &mut crate::config::Line, code: u8, value: &[u8]) -> bool {
    let before = line.clone();
    match (code, value) {
        (1, [a, b, c, d]) => {
            let baud = u32::from_be_bytes([*a, *b, *c, *d]);
            if (50..=4_000_000).contains(&baud) {
                line.baud = baud;
            }
        }
        (2, [n @ 5..=8]) => line.data_bits = *n,
        (3, [p @ 1..=5]) => {
            line.parity = ["none", "odd", "even", "mark", "space"]
                .get(usize::from(*p - 1))
                .copied()
                .unwrap_or("none")
                .to_owned();
        }
        (4, [s @ 1..=2]) => line.stop_bits = *s,
        (5, [1]) => line.flow = "none".into(),
        (5, [2]) => line.flow = "xonxoff".into(),
        (5, [3]) => line.flow = "rtscts".into(),
        _ => {}
    }
    *line != before
}

/// A session whose TCP stream is Telnet with COM-PORT-OPTION around `inner`'s bytes.
pub struct ComPort<S> {
    inner: S,
    parser: Parser,
    opts: Options,
    /// The serial line channel the settings are applied to (bridge to a device).
    apply_on: Option<ChannelId>,
    /// The settings the client made, by command name.
    pub settings: serde_json::Map<String, Json>,
}

impl<S: Session> ComPort<S> {
    /// `inner` behind an RFC 2217 Telnet layer.
    pub fn new(inner: S) -> Self {
        let mut opts = Options::default();
        for o in [options::BINARY, options::SGA, options::COM_PORT] {
            if let Some(a) = opts.accept_us.get_mut(usize::from(o)) {
                *a = true;
            }
            if let Some(a) = opts.accept_him.get_mut(usize::from(o)) {
                *a = true;
            }
        }
        let mut parser = Parser::new();
        parser.binary = true;
        ComPort {
            inner,
            parser,
            opts,
            apply_on: None,
            settings: serde_json::Map::new(),
        }
    }

    /// Passes every line setting (codes 1-5) on to the serial line attached on `channel`
    /// ([`IoRequest::SerialControl`]), where the listener applies it to the real line.
    pub fn applying(mut self, channel: ChannelId) -> Self {
        self.apply_on = Some(channel);
        self
    }

    fn sub(&mut self, params: &[u8], out: &mut Vec<u8>, events: &mut Vec<EventDraft>, requests: &mut Vec<IoRequest>) {
        let Some((&code, value)) = params.split_first() else {
            return;
        };
        if code > 12 {
            // Server-to-client codes (100+) from a client: not ours to answer.
            events.push(
                EventDraft::new("serial.malformed")
                    .with("error", format!("COM-PORT-OPTION code {code} from the client")),
            );
            return;
        }
        let answer: &[u8] = if code == 0 { SIGNATURE } else { value };
        let mut reply = vec![code + 100];
        reply.extend_from_slice(answer);
        codec::put_sub(out, options::COM_PORT, &reply);
        let described = describe(code, value);
        if code != 0 && value.iter().any(|b| *b != 0) {
            self.settings.insert(command_name(code).to_owned(), described.clone());
        }
        let forward = self
            .apply_on
            .filter(|_| (1..=5).contains(&code) && value.iter().any(|b| *b != 0));
        let mut d = EventDraft::new("serial.settings")
            .with("command", command_name(code))
            .with("value", described)
            .with("forwarded", forward.is_some());
        d.body.raw = Some(params.to_vec());
        events.push(d);
        if let Some(channel) = forward {
            requests.push(IoRequest::SerialControl {
                channel,
                command: code,
                value: value.to_vec(),
            });
        }
    }

    /// Reads the Telnet stream: answers negotiation and settings into `answers`, returns
    /// the serial data bytes.
    fn read(&mut self, input: &[u8], answers: &mut Vec<u8>, out: &mut Output) -> Vec<u8> {
        let events = &mut out.events;
        let mut data = Vec::with_capacity(input.len());
        let mut items = Vec::new();
        self.parser.feed(input, |i| items.push(i));
        for item in items {
            match item {
                Item::Data(b) => data.push(b),
                Item::Eol => data.push(b'\r'),
                Item::Verb(v, o) => {
                    let r = self.opts.receive(v, o);
                    if let Some(a) = r.answer {
                        codec::put_verb(answers, a, o);
                    }
                    events.push(
                        EventDraft::new("telnet.negotiation")
                            .with("verb", codec::verb_name(v))
                            .with("option", options::name(o))
                            .with("code", o)
                            .with(
                                "answer",
                                r.answer.map_or(Json::Null, |a| Json::from(codec::verb_name(a))),
                            ),
                    );
                }
                Item::Sub(o, p) if o == options::COM_PORT => self.sub(&p, answers, events, &mut out.requests),
                Item::Sub(..) | Item::SubTooLong(..) | Item::Command(_) => {}
            }
        }
        data
    }

    /// Runs `f` on the inner session and escapes what it sent as Telnet data, after `pre`.
    fn wrap(&mut self, pre: Vec<u8>, out: &mut Output, f: impl FnOnce(&mut S, &mut Output)) {
        let start = out.bytes.len();
        f(&mut self.inner, out);
        let sent = out.bytes.split_off(start);
        out.bytes.extend_from_slice(&pre);
        for b in sent {
            if b == IAC {
                out.bytes.push(IAC);
            }
            out.bytes.push(b);
        }
    }
}

impl<S: Session> Session for ComPort<S> {
    fn on_open(&mut self, now: SystemTime, out: &mut Output) {
        let mut pre = Vec::new();
        for (side, o) in [
            (Side::Us, options::BINARY),
            (Side::Him, options::BINARY),
            (Side::Us, options::SGA),
        ] {
            if let Some(v) = self.opts.request(side, o, true) {
                codec::put_verb(&mut pre, v, o);
            }
        }
        self.wrap(pre, out, |s, out| s.on_open(now, out));
    }

    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let mut answers = Vec::new();
        let data = self.read(input, &mut answers, out);
        self.wrap(answers, out, |s, out| {
            let mut used = 0;
            while used < data.len() {
                let n = s.on_input(data.get(used..).unwrap_or_default(), now, out);
                if n == 0 || out.close {
                    break;
                }
                used += n;
            }
        });
        input.len()
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        self.wrap(Vec::new(), out, |s, out| s.on_timeout(now, out));
    }

    fn on_eof(&mut self, rest: &[u8], now: SystemTime, out: &mut Output) {
        self.wrap(Vec::new(), out, |s, out| s.on_eof(rest, now, out));
    }

    fn on_io(&mut self, event: IoEvent, now: SystemTime, out: &mut Output) {
        self.wrap(Vec::new(), out, |s, out| s.on_io(event, now, out));
    }
}
