//! A Telnet console driven in memory as the listener drives it: negotiation, login
//! through the device's accounts, commands, modes, databus writes, timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::Value;
use conpot_core::drive::{Driver, Step, device_and_section};
use conpot_telnet::TelnetService;
use conpot_telnet::codec::{DO, DONT, IAC, SB, SE, WILL, WONT};
use conpot_telnet::options::{ECHO, LINEMODE, NAWS, NEW_ENVIRON, SGA, TTYPE};

const TEMPLATE: &str = r#"
[template]
unit = "t"
vendor = "v"
[persona]
hostname = "plc-042"
mac = "00:1B:1B:AA:BB:CC"
serial = "S C-X4U421302021"
ip_address = "192.168.10.110"
[databus]
holding = [0, 0, 0, 0, 0, 0, 0, 0]
SystemName = "PLC_1"
[[users]]
name = "admin"
password = "secret"
privilege = "operator"
[[users]]
name = "guest"
password = "guest"
[auth]
lockout_after = 5
[protocols.telnet]
port = 23
console = "scalance"
[[protocols.telnet.commands]]
command = "show registers"
modes = ["user", "enable"]
output = "HR0={databus.holding[0]} HR3={databus.holding[3]}\n"
[[protocols.telnet.commands]]
command = "set register"
modes = ["enable"]
args = 2
privilege = "operator"
set = { key = "holding", index = "arg1", value = "{arg2}" }
output = "ok {arg1}={databus.holding[arg1]}\n"
"#;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn service(extra: &str) -> (TelnetService, conpot_core::Device) {
    let text = TEMPLATE.replace("console = \"scalance\"", &format!("console = \"scalance\"\n{extra}"));
    let (d, s) = device_and_section(&text, "telnet").unwrap();
    (TelnetService::build(&s, &d).unwrap(), d)
}

fn text(step: &Step) -> String {
    // Drop negotiation so the assertions read the console's text.
    let mut out = Vec::new();
    let mut i = 0;
    let b = &step.bytes;
    while i < b.len() {
        if b[i] == IAC {
            match b.get(i + 1) {
                Some(&SB) => {
                    while i + 1 < b.len() && !(b[i] == IAC && b[i + 1] == SE) {
                        i += 1;
                    }
                    i += 2;
                }
                Some(&IAC) => {
                    out.push(IAC);
                    i += 2;
                }
                _ => i += 3,
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn login(d: &mut Driver, user: &str, pw: &str) -> Step {
    d.input(format!("{user}\r\n").as_bytes(), t0());
    d.input(format!("{pw}\r\n").as_bytes(), t0())
}

#[test]
fn greets_negotiates_and_logs_in() {
    let (svc, _) = service("");
    let (mut d, open) = Driver::tcp(&svc, 23, t0());
    assert!(
        open.bytes
            .starts_with(&[IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO, NAWS, IAC, DO, TTYPE])
    );
    let banner = text(&open);
    assert!(banner.contains("Siemens SCALANCE XC208"), "{banner}");
    assert!(banner.ends_with("login: "));
    // The client agrees, offers NAWS and TTYPE, refuses nothing; sends its size.
    let mut neg = vec![
        IAC, DO, ECHO, IAC, DO, SGA, IAC, WILL, NAWS, IAC, WILL, TTYPE, IAC, WILL, LINEMODE,
    ];
    neg.extend_from_slice(&[IAC, SB, NAWS, 0, 132, 0, 43, IAC, SE]);
    let s = d.input(&neg, t0());
    // No answer to the answers; TTYPE SEND once TTYPE is on; LINEMODE refused.
    assert_eq!(s.bytes, [IAC, SB, TTYPE, 1, IAC, SE, IAC, DONT, LINEMODE]);
    let naws = s
        .events
        .iter()
        .find(|e| e.event_type == "telnet.subnegotiation")
        .unwrap();
    assert_eq!(naws.body.data.get("width").unwrap(), 132);
    assert_eq!(naws.body.data.get("height").unwrap(), 43);
    assert_eq!(s.types().iter().filter(|t| **t == "telnet.negotiation").count(), 5);
    let s = d.input(b"\xff\xfa\x18\x00XTERM-256COLOR\xff\xf0", t0());
    assert_eq!(
        s.event("telnet.subnegotiation")
            .unwrap()
            .body
            .data
            .get("terminal_type")
            .unwrap(),
        "XTERM-256COLOR"
    );
    // Echo is on: the user name comes back, the password does not.
    let s = d.input(b"admin\r\n", t0());
    assert_eq!(text(&s), "admin\r\nPassword: ");
    let s = d.input(b"secret\r\n", t0());
    let a = s.event("auth.attempt").unwrap();
    assert_eq!(a.body.data.get("username").unwrap(), "admin");
    assert_eq!(a.body.data.get("password").unwrap(), "secret");
    assert_eq!(a.body.data.get("success").unwrap(), true);
    assert_eq!(a.body.data.get("protocol").unwrap(), "telnet");
    let t = text(&s);
    assert!(t.starts_with("\r\n\r\nXC208 Command Line Interface"), "{t:?}");
    assert!(t.ends_with("plc-042-sw>"), "{t:?}");
    assert_eq!(
        s.event("telnet.login").unwrap().body.data.get("via").unwrap(),
        "password"
    );
}

#[test]
fn wrong_password_then_close_after_three() {
    let (svc, _) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    for i in 1..=3 {
        let s = login(&mut d, "admin", &format!("wrong{i}"));
        let a = s.event("auth.attempt").unwrap();
        assert_eq!(a.body.data.get("success").unwrap(), false);
        assert_eq!(a.body.data.get("reason").unwrap(), "bad_password");
        assert!(text(&s).contains("Login incorrect"));
        assert_eq!(s.close, i == 3, "attempt {i}");
    }
    // An unknown user is an attempt too.
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    let s = login(&mut d, "root", "root");
    assert_eq!(
        s.event("auth.attempt").unwrap().body.data.get("reason").unwrap(),
        "unknown_user"
    );
}

#[test]
fn refused_logins_wait_like_a_device() {
    let (svc, _) = service("failure_delay_ms = [1500, 2500]");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    // The driver does not report delays; the service's console carries the profile and a
    // session applies it (checked through the Output directly).
    assert_eq!(svc.console().failure_delay_ms, (1500, 2500));
    let s = login(&mut d, "admin", "nope");
    assert!(text(&s).contains("Login incorrect"));
    let (dev, sec) = device_and_section(
        &TEMPLATE.replace(
            "console = \"scalance\"",
            "console = \"scalance\"\nfailure_delay_ms = [1500, 2500]",
        ),
        "telnet",
    )
    .unwrap();
    let svc = TelnetService::build(&sec, &dev).unwrap();
    let ctx = conpot_core::protocol::SessionCtx {
        transport: conpot_core::event::Transport::Tcp,
        peer: "192.0.2.10:40000".parse().unwrap(),
        local: "192.0.2.1:23".parse().unwrap(),
    };
    let mut session = conpot_core::protocol::Service::new_session(&svc, &ctx);
    let mut out = conpot_core::protocol::Output::default();
    session.on_open(t0(), &mut out);
    out.clear();
    session.on_input(b"admin\r\nbad\r\n", t0(), &mut out);
    assert!((1500..=2500).contains(&out.delay.as_millis()), "{:?}", out.delay);
    out.clear();
    session.on_input(b"admin\r\nsecret\r\n", t0(), &mut out);
    assert_eq!(out.delay, Duration::ZERO);
}

#[test]
fn lockout_of_the_source() {
    let (svc, _) = service("");
    let mut closed_locked = false;
    for _ in 0..3 {
        let (mut d, _) = Driver::tcp(&svc, 23, t0());
        for _ in 0..3 {
            let s = login(&mut d, "admin", "nope");
            if s.event("auth.attempt").unwrap().body.data.get("reason").unwrap() == "locked" {
                assert!(text(&s).contains("Too many failed login attempts"));
                assert!(s.close);
                closed_locked = true;
                break;
            }
        }
    }
    assert!(closed_locked);
}

#[test]
fn accept_after_lets_the_brute_force_in() {
    let (svc, _) = service("accept_after = 2");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    let s = login(&mut d, "root", "x");
    assert!(!s.close && s.event("telnet.login").is_none());
    let s = login(&mut d, "root", "y");
    assert_eq!(
        s.event("auth.attempt").unwrap().body.data.get("success").unwrap(),
        false
    );
    assert_eq!(
        s.event("telnet.login").unwrap().body.data.get("via").unwrap(),
        "accept_after"
    );
    assert!(text(&s).ends_with("plc-042-sw>"));
}

#[test]
fn commands_modes_and_writes() {
    let (svc, dev) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    d.input(&[IAC, DO, ECHO], t0());
    login(&mut d, "admin", "secret");
    let s = d.input(b"show version\r\n", t0());
    let t = text(&s);
    assert!(t.contains("Serial   : S C-X4U421302021"), "{t}");
    assert!(t.contains("Uptime   : 20833 days,"), "{t}");
    let c = s.event("telnet.command").unwrap();
    assert_eq!(c.body.data.get("command").unwrap(), "show version");
    assert_eq!(c.body.data.get("status").unwrap(), "ok");
    assert!(c.body.data.get("output_len").unwrap().as_u64().unwrap() > 50);
    // Abbreviated.
    assert!(text(&d.input(b"sh ip int\r\n", t0())).contains("192.168.10.110/24"));
    // Unknown and incomplete, exactly as the console prints them.
    let s = d.input(b"reboot now\r\n", t0());
    assert_eq!(
        text(&s),
        "reboot now\r\n\r\n% Invalid input detected at '^' marker.\r\nplc-042-sw>"
    );
    assert_eq!(
        s.event("telnet.command").unwrap().body.data.get("status").unwrap(),
        "unknown"
    );
    assert!(text(&d.input(b"show\r\n", t0())).contains("% Incomplete command."));
    // `set register` exists only in enable mode.
    assert!(text(&d.input(b"set register 3 77\r\n", t0())).contains("Invalid input"));
    assert!(text(&d.input(b"enable\r\n", t0())).ends_with("plc-042-sw#"));
    let s = d.input(b"set register 3 77\r\n", t0());
    assert!(text(&s).contains("ok 3=77"), "{}", text(&s));
    let w = s.event("telnet.write").unwrap();
    assert_eq!(w.body.data.get("key").unwrap(), "holding");
    assert_eq!(w.body.data.get("index").unwrap(), 3);
    assert_eq!(
        dev.databus.get("holding", t0()).unwrap(),
        Value::List([0, 0, 0, 77, 0, 0, 0, 0].map(Value::Int).to_vec())
    );
    // A value written by another protocol is what the console shows.
    dev.databus
        .update("holding", t0(), |v| {
            if let Value::List(l) = v {
                l[0] = Value::Int(4242);
            }
        })
        .unwrap();
    assert!(text(&d.input(b"show registers\r\n", t0())).contains("HR0=4242 HR3=77"));
    // Bad values and positions are refused.
    assert!(text(&d.input(b"set register 3 abc\r\n", t0())).contains("% Invalid value."));
    assert!(text(&d.input(b"set register 99 1\r\n", t0())).contains("% Invalid value."));
    // Config mode and back.
    assert!(text(&d.input(b"conf t\r\n", t0())).ends_with("plc-042-sw(config)#"));
    assert!(text(&d.input(b"end\r\n", t0())).ends_with("plc-042-sw#"));
    assert!(text(&d.input(b"exit\r\n", t0())).ends_with("plc-042-sw>"));
    // Help lists the mode's commands.
    let h = text(&d.input(b"?\r\n", t0()));
    assert!(
        h.contains("show version") && h.contains("enable") && !h.contains("configure"),
        "{h}"
    );
    let s = d.input(b"logout\r\n", t0());
    assert!(s.close);
    assert_eq!(
        s.event("telnet.logout").unwrap().body.data.get("via").unwrap(),
        "command"
    );
}

#[test]
fn privilege_is_checked() {
    let (svc, dev) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    login(&mut d, "guest", "guest");
    d.input(b"enable\r\n", t0());
    let s = d.input(b"set register 1 5\r\n", t0());
    assert!(text(&s).contains("% Not authorized."));
    assert_eq!(
        s.event("telnet.command").unwrap().body.data.get("status").unwrap(),
        "denied"
    );
    assert_eq!(
        dev.databus.get("holding", t0()).unwrap(),
        Value::List(vec![Value::Int(0); 8])
    );
}

#[test]
fn line_editing() {
    let (svc, _) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    d.input(&[IAC, DO, ECHO], t0());
    login(&mut d, "admin", "secret");
    // Backspace and DEL erase, ^U erases the line, arrows are ignored.
    let s = d.input(b"shx\x08ow verz\x7fsion\x1b[A\r\n", t0());
    assert_eq!(
        s.event("telnet.command").unwrap().body.data.get("line").unwrap(),
        "show version"
    );
    let s = d.input(b"garbage\x15show version\r\n", t0());
    assert_eq!(
        s.event("telnet.command").unwrap().body.data.get("line").unwrap(),
        "show version"
    );
    // ^C drops the line and prompts again.
    let s = d.input(b"show ver\x03", t0());
    assert!(text(&s).ends_with("^C\r\nplc-042-sw>"));
    assert!(s.event("telnet.command").is_none());
    // CR NUL ends a line as CR LF does; so does a bare LF.
    assert!(d.input(b"show version\r\0", t0()).event("telnet.command").is_some());
    assert!(d.input(b"show version\n", t0()).event("telnet.command").is_some());
    // An over-long line is cut at the limit.
    let long = vec![b'a'; 5000];
    let s = d.input(&[&long[..], b"\r\n"].concat(), t0());
    let line = s
        .event("telnet.command")
        .unwrap()
        .body
        .data
        .get("line")
        .unwrap()
        .as_str()
        .unwrap()
        .len();
    assert_eq!(line, conpot_telnet::console::MAX_LINE);
    // ^D on an empty line ends the session.
    assert!(d.input(b"\x04", t0()).close);
}

#[test]
fn refused_echo_means_no_echo() {
    let (svc, _) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    let s = d.input(&[IAC, DONT, ECHO], t0());
    assert!(s.bytes.is_empty(), "{:?}", s.bytes);
    assert_eq!(d.input(b"adm", t0()).bytes, b"");
}

#[test]
fn segments_split_anywhere_give_the_same_session() {
    let (svc, _) = service("");
    let mut script = vec![IAC, DO, ECHO, IAC, WILL, NAWS, IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE];
    script.extend_from_slice(b"admin\r\nsecret\r\nshow version\r\nen\r\nset reg 1 9\r\nshow registers\r\n");
    let run = |chunks: &[&[u8]]| {
        let (mut d, _) = Driver::tcp(&svc, 23, t0());
        let mut bytes = Vec::new();
        let mut types = Vec::new();
        for c in chunks {
            let s = d.input(c, t0());
            bytes.extend(s.bytes.clone());
            types.extend(s.types().into_iter().map(str::to_owned));
        }
        (bytes, types)
    };
    let whole = run(&[&script]);
    for cut in (0..script.len()).step_by(3) {
        assert_eq!(run(&[&script[..cut], &script[cut..]]), whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = script.chunks(1).collect();
    assert_eq!(run(&bytes), whole);
}

#[test]
fn idle_timeouts() {
    let (svc, _) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    assert_eq!(d.deadline, Some(t0() + Duration::from_secs(60)));
    login(&mut d, "admin", "secret");
    assert_eq!(d.deadline, Some(t0() + Duration::from_secs(600)));
    assert!(d.advance(t0() + Duration::from_secs(599)).bytes.is_empty());
    let s = d.advance(t0() + Duration::from_secs(600));
    assert!(text(&s).contains("Session closed (timeout)."));
    assert!(s.close);
    assert_eq!(s.event("telnet.idle").unwrap().body.data.get("phase").unwrap(), "shell");
    // At the login prompt the shorter timeout applies.
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    let s = d.advance(t0() + Duration::from_secs(60));
    assert!(s.close);
    assert_eq!(s.event("telnet.idle").unwrap().body.data.get("phase").unwrap(), "login");
}

#[test]
fn new_environ_refused_or_served() {
    let (svc, _) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    assert_eq!(d.input(&[IAC, WILL, NEW_ENVIRON], t0()).bytes, [IAC, DONT, NEW_ENVIRON]);
    let (svc, _) = service("new_environ = true");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    let s = d.input(&[IAC, WILL, NEW_ENVIRON], t0());
    assert_eq!(s.bytes, [IAC, DO, NEW_ENVIRON, IAC, SB, NEW_ENVIRON, 1, IAC, SE]);
    let s = d.input(
        b"\xff\xfa\x27\x00\x00USER\x01root\x03LD_PRELOAD\x01/tmp/x.so\xff\xf0",
        t0(),
    );
    let env = s
        .event("telnet.subnegotiation")
        .unwrap()
        .body
        .data
        .get("environ")
        .unwrap()
        .clone();
    assert_eq!(env, serde_json::json!([["USER", "root"], ["LD_PRELOAD", "/tmp/x.so"]]));
}

#[test]
fn negotiation_loops_are_bounded() {
    let (svc, _) = service("");
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    let mut spam = Vec::new();
    for _ in 0..500 {
        spam.extend_from_slice(&[IAC, WILL, LINEMODE, IAC, WONT, LINEMODE]);
    }
    let s = d.input(&spam, t0());
    // Each WILL refused once (state stays No), each WONT ignored.
    assert_eq!(s.bytes.len(), 500 * 3);
    assert!(s.types().len() <= 66);
    assert!(s.event("limit.hit").is_some());
}

#[test]
fn embedded_consoles_build() {
    for (name, _) in conpot_telnet::config::EMBEDDED {
        let text =
            TEMPLATE.split("console = \"scalance\"").next().unwrap().to_owned() + &format!("console = \"{name}\"\n");
        let (dev, s) = device_and_section(&text, "telnet").unwrap();
        let svc = TelnetService::build(&s, &dev).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let (_, open) = Driver::tcp(&svc, 23, t0());
        assert!(!open.bytes.is_empty(), "{name}");
    }
}

#[test]
fn nport_menu() {
    let text = TEMPLATE.split("console = \"scalance\"").next().unwrap().to_owned()
        + "console = \"nport\"\n[[protocols.telnet.commands]]\ncommand = \"9\"\nmodes = [\"main\"]\noutput = \"x\"\n";
    let text = text.replace(
        "[[users]]\nname = \"admin\"",
        "[[users]]\nname = \"admin\"\nscope = [\"telnet\"]",
    );
    let (dev, s) = device_and_section(&text, "telnet").unwrap();
    let svc = TelnetService::build(&s, &dev).unwrap();
    let (mut d, open) = Driver::tcp(&svc, 23, t0());
    assert!(text_of(&open).ends_with("Please keyin your password: "));
    d.input(&[IAC, DO, ECHO], t0());
    let s = d.input(b"bad\r\n", t0());
    assert!(text_of(&s).contains("Password incorrect!"));
    assert!(
        s.event("auth.attempt")
            .unwrap()
            .body
            .data
            .get("username")
            .unwrap()
            .is_null()
    );
    let s = d.input(b"secret\r\n", t0());
    let t = text_of(&s);
    assert!(
        t.contains("MAC address      : 00:1B:1B:AA:BB:CC") && t.ends_with("Key in your selection: "),
        "{t}"
    );
    let t = text_of(&d.input(b"2\r\n", t0()));
    assert!(
        t.contains("IP address           : 192.168.10.110") && t.contains("(m) Back to main menu"),
        "{t}"
    );
    assert!(text_of(&d.input(b"1\r\n", t0())).contains("Invalid selection!"));
    assert!(text_of(&d.input(b"m\r\n", t0())).contains("<< Main menu >>"));
    assert!(text_of(&d.input(b"9\r\n", t0())).starts_with("9\r\nx"));
    assert!(d.input(b"q\r\n", t0()).close);
}

fn text_of(s: &Step) -> String {
    text(s)
}

#[test]
fn template_errors_are_named() {
    let bad = TEMPLATE
        .replace("index = \"arg1\"", "index = \"argx\"")
        .replace("{arg2}", "{databus.nope}");
    let (dev, s) = device_and_section(&bad, "telnet").unwrap();
    let errs = TelnetService::build(&s, &dev).unwrap_err();
    let all = format!("{errs:?}");
    assert!(all.contains("set.index") && all.contains("nope"), "{all}");
    let bad = TEMPLATE.replace("console = \"scalance\"", "console = \"vax\"");
    let (dev, s) = device_and_section(&bad, "telnet").unwrap();
    assert!(format!("{:?}", TelnetService::build(&s, &dev).unwrap_err()).contains("nport"));
}

#[test]
fn a_kamstrup_style_console_fits_the_language() {
    // Kamstrup's management console (port 50100): no login, no prompt, `!XX` commands in
    // upper case only, `?`-style errors. Written out in full, without an embedded console.
    let text = r#"
[template]
unit = "t"
vendor = "v"
[databus]
ip = "192.168.1.2"
srv = "202.202.202.1"
port = 50
[protocols.telnet]
port = 50100
login = "none"
banner = "\nWelcome to Kamstrup OMNIA management console\n"
unknown = "?\n"
incomplete = "?\n"
ignore_case = false
abbreviate = false
negotiate = []
[[protocols.telnet.modes]]
name = "main"
prompt = ""
[[protocols.telnet.commands]]
command = "!GI"
output = "IP: {databus.ip}\n"
[[protocols.telnet.commands]]
command = "!SI"
args = 1
privilege = "user"
set = { key = "ip" }
output = "OK\n"
[[protocols.telnet.commands]]
command = "!SA"
output = "\nService server addr.: {databus.srv}:{databus.port}\n"
[[protocols.telnet.commands]]
command = "!SA"
args = [1, 2]
sets = [{ key = "srv", value = "{arg1|ip}" }, { key = "port", value = "{arg2|port}" }]
output = "\nOK\nService server addr.: {databus.srv}:{databus.port}\n"
"#;
    let (dev, s) = device_and_section(text, "telnet").unwrap();
    let svc = TelnetService::build(&s, &dev).unwrap();
    let (mut d, open) = Driver::tcp(&svc, 50100, t0());
    assert_eq!(open.bytes, b"\r\nWelcome to Kamstrup OMNIA management console\r\n");
    assert_eq!(
        open.event("telnet.login").unwrap().body.data.get("via").unwrap(),
        "no_login"
    );
    assert_eq!(text_of(&d.input(b"!GI\r\n", t0())), "IP: 192.168.1.2\r\n");
    assert_eq!(text_of(&d.input(b"!gi\r\n", t0())), "?\r\n");
    assert_eq!(text_of(&d.input(b"!SI 10.0.0.9\r\n", t0())), "OK\r\n");
    assert_eq!(dev.databus.get("ip", t0()).unwrap(), Value::Str("10.0.0.9".into()));
    // The same command with and without arguments, two writes, the `ip` and `port` filters.
    assert_eq!(
        text_of(&d.input(b"!SA\r\n", t0())),
        "\r\nService server addr.: 202.202.202.1:50\r\n"
    );
    let step = d.input(b"!SA 192168001002 61000\r\n", t0());
    assert_eq!(text_of(&step), "\r\nOK\r\nService server addr.: 192.168.1.2:61000\r\n");
    assert_eq!(step.types().iter().filter(|t| **t == "telnet.write").count(), 2);
    assert_eq!(dev.databus.get("port", t0()).unwrap(), Value::Int(61000));
    assert_eq!(text_of(&d.input(b"!SA 1 2 3\r\n", t0())), "?\r\n");
}

#[test]
fn conditions_choose_writes_and_outputs() {
    let extra = r#"
[[protocols.telnet.commands]]
command = "name"
args = [1, 4]
sets = [{ key = "SystemName", value = "{args|cut8}", when = { value = "{arg1}", not = "-" } }]
output = "too long, kept {databus.SystemName}\n"
cases = [
  { when = { value = "{arg1}", is = "-" }, output = "unchanged {databus.SystemName|upper}\n" },
  { when = { value = "{args}", max_len = 8 }, output = "ok {databus.SystemName}\n" },
]
"#;
    let (svc, dev) = service(extra);
    let (mut d, _) = Driver::tcp(&svc, 23, t0());
    d.input(&[IAC, DO, ECHO], t0());
    login(&mut d, "admin", "secret");
    let s = d.input(b"name pump1\r\n", t0());
    assert!(text(&s).contains("ok pump1\r\n"), "{}", text(&s));
    assert_eq!(
        s.event("telnet.write").unwrap().body.data.get("key").unwrap(),
        "SystemName"
    );
    let s = d.input(b"name a much longer name\r\n", t0());
    assert!(text(&s).contains("too long, kept a much l\r\n"), "{}", text(&s));
    // The condition fails: no write, no write event, the other output.
    let s = d.input(b"name -\r\n", t0());
    assert!(text(&s).contains("unchanged A MUCH L\r\n"), "{}", text(&s));
    assert!(s.event("telnet.write").is_none());
    assert_eq!(
        dev.databus.get("SystemName", t0()).unwrap(),
        Value::Str("a much l".into())
    );
}

#[test]
fn conditions_are_checked_when_the_template_loads() {
    for (when, why) in [
        (r#"{ value = "{arg1}" }"#, "exactly one of"),
        (r#"{ value = "{arg1}", is = "a", not = "b" }"#, "exactly one of"),
        (r#"{ value = "{nosuch}", is = "a" }"#, "placeholder"),
        (r#"{ value = "{arg1}", like = "a" }"#, "like"),
    ] {
        let extra = format!(
            "[[protocols.telnet.commands]]\ncommand = \"x\"\nargs = 1\nsets = [{{ key = \"SystemName\", when = {when} }}]\n"
        );
        let text = TEMPLATE.replace("console = \"scalance\"", &format!("console = \"scalance\"\n{extra}"));
        let (dev, sec) = device_and_section(&text, "telnet").unwrap();
        let errs = TelnetService::build(&sec, &dev).unwrap_err();
        assert!(
            errs.iter().any(|e| e.expected.contains(why) || e.key.contains(why)),
            "{when}: {errs:?}"
        );
    }
    let bad_filter = TEMPLATE.replace("HR0={databus.holding[0]}", "{arg1|cut0}");
    let (dev, sec) = device_and_section(&bad_filter, "telnet").unwrap();
    assert!(TelnetService::build(&sec, &dev).is_err());
}
