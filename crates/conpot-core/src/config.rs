//! Sensor configuration: identity of the sensor, limits, listener overrides and event
//! sinks. Read from our TOML format or from a Conpot INI file (`testing.cfg` style).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::template::TemplateError;
use crate::template::nav::{Errors, Table};

/// Resource limits of the listeners and the event pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Open connections at once, over all protocols.
    pub max_connections: usize,
    /// Open connections at once from one source address.
    pub max_connections_per_ip: usize,
    /// Bytes buffered per connection before it is closed.
    pub max_buffer: usize,
    /// Events queued per sink before new ones are dropped (and counted).
    pub event_queue: usize,
    /// Raw bytes kept per event (the rest is cut, with a truncation flag).
    pub raw_limit: usize,
    /// Largest file kept from one upload or block download.
    pub max_capture: usize,
    /// Bytes of captured files kept in all.
    pub capture_quota: u64,
    /// Bytes protocols may write into the device's filesystem in all (FTP, TFTP uploads);
    /// past it a write is refused as "disk full" (and still captured).
    pub fs_quota: u64,
    /// Largest file a write may leave in the device's filesystem.
    pub fs_max_file: u64,
    /// Most files and directories the device's filesystem holds, the template's included.
    pub fs_max_entries: usize,
    /// UDP answers per second to one source address.
    pub udp_answers_per_source: u32,
    /// A UDP reply may be at most this many times its request's size.
    pub udp_amplification: usize,
    /// A partial frame (input the protocol has not consumed yet) must be completed within
    /// this time, as a real device drops a half-sent request; else the connection closes.
    pub frame_timeout: Duration,
    /// While a frame is partial, input must arrive at least this fast (bytes per second,
    /// after the first second; 0: no minimum), so a slow drip cannot hold a connection.
    pub min_input_rate: u32,
    /// How long replies may wait unsent for a client that does not read them before the
    /// connection is closed (while they wait, nothing more is read from it).
    pub output_timeout: Duration,
    /// Bytes kept of one decoded text field of an event (the rest is cut, and the event
    /// names the field in `truncated_fields`); arrays keep at most this many elements.
    pub field_limit: usize,
    /// Bytes of events (as estimated when queued) one sink queue holds before new ones
    /// are dropped and counted.
    pub event_queue_bytes: usize,
    /// Percent of a sink queue (events and bytes) the protocol detail of one source
    /// address may fill; past it that source's detail is dropped and counted, never the
    /// events of others.
    pub event_source_share: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 20_000,
            max_connections_per_ip: 256,
            max_buffer: 64 * 1024,
            event_queue: 16_384,
            raw_limit: 4096,
            max_capture: 1 << 20,
            capture_quota: 256 << 20,
            fs_quota: 32 << 20,
            fs_max_file: 8 << 20,
            fs_max_entries: 4096,
            udp_answers_per_source: 250,
            udp_amplification: 8,
            frame_timeout: Duration::from_secs(10),
            min_input_rate: 16,
            output_timeout: Duration::from_secs(10),
            field_limit: 1024,
            event_queue_bytes: 8 << 20,
            event_source_share: 25,
        }
    }
}

/// One event sink as configured: a `[[sinks]]` table of the TOML file, or the table a
/// Conpot INI section (`[json]`, `[sqlite]`, `[syslog]`) maps to. The core keeps it raw, as
/// it keeps protocol sections: `conpot-sinks` owns the transports and encoders and reads
/// (and validates) these keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkTable {
    /// The file the table came from, for error messages.
    pub file: String,
    /// Where in that file (`sinks[0]`, or the INI section's name).
    pub key: String,
    /// The keys as written.
    pub table: toml::Table,
}

impl SinkTable {
    /// A table of string keys, as the INI mapping and the defaults build them.
    pub fn from_pairs(file: &str, key: &str, pairs: &[(&str, toml::Value)]) -> SinkTable {
        SinkTable {
            file: file.to_owned(),
            key: key.to_owned(),
            table: pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        }
    }

    /// The value of `key` as a string, if it is one (for messages; `conpot-sinks` reads
    /// the table properly).
    pub fn str(&self, key: &str) -> Option<&str> {
        self.table.get(key).and_then(toml::Value::as_str)
    }
}

/// Overrides of where protocols listen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenOverrides {
    /// Bind every protocol to this address instead of the template's.
    pub host: Option<String>,
    /// Per-protocol port overrides (0 = any free port).
    pub ports: BTreeMap<String, u16>,
    /// Also listen on `[::]` where a protocol binds `0.0.0.0`.
    pub ipv6: bool,
    /// IP time-to-live of every packet sent (the OS default when unset): a device's stack
    /// often differs from Linux's 64.
    pub ttl: Option<u32>,
    /// Upstreams of proxies by section name (`[listen.upstreams]`, "NAME" = "HOST:PORT"):
    /// the embedded `proxy` template leaves them to the operator.
    pub upstreams: BTreeMap<String, String>,
}

/// Most runtime threads `[sensor] workers` may ask for.
pub const MAX_WORKERS: usize = 256;

/// The runtime threads to start for a configured `workers` value on a machine where the
/// process may use `cores` cores: the configured number, or for 0 one fewer than the cores
/// (at least one). Measured on two cores (docs/performance.md): one worker serves SNMP and
/// TFTP 20-35% faster than two, because a second worker that finds nothing to steal is
/// woken and put back to sleep at every turn of the UDP loop, while the TCP loads keep their
/// rates; the spare core goes to the sink threads.
pub fn worker_threads(workers: usize, cores: usize) -> usize {
    if workers > 0 {
        workers
    } else {
        cores.saturating_sub(1).max(1)
    }
}

/// The sensor configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Identifier copied into every event.
    pub sensor_id: String,
    /// Where the persona and other state are kept.
    pub state_dir: PathBuf,
    /// Threads of the async runtime that serves the protocols (`[sensor] workers`); 0, the
    /// default, means one fewer than the cores the process may use (at least one), which
    /// leaves a core to the sink threads that write the events.
    pub workers: usize,
    /// Idle time after which a session is closed.
    pub session_timeout: Duration,
    /// Resource limits.
    pub limits: Limits,
    /// The sensor's public address, if known (copied into events).
    pub public_ip: Option<String>,
    /// Listener overrides.
    pub listen: ListenOverrides,
    /// Event sinks.
    pub sinks: Vec<SinkTable>,
    /// Whom the sensor runs as once its sockets are bound.
    pub daemon: Daemon,
    /// Where the Prometheus metrics endpoint listens (`[metrics] listen`, `host:port`);
    /// `None` (the default) serves none, since a honeypot should expose nothing it need not.
    pub metrics_listen: Option<String>,
    /// The devices this process serves (`[[personas]]`); empty: the one template of `-t`.
    pub personas: Vec<crate::personas::PersonaEntry>,
    /// The operator's live dashboard (`[dashboard]`, off when absent), kept as its raw table:
    /// `conpot-dashboard` reads and checks it, as `conpot-sinks` does the sink tables.
    pub dashboard: Option<toml::Table>,
    /// Settings accepted but not acted on, for the operator to read.
    pub warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sensor_id: "default".into(),
            state_dir: PathBuf::from("conpot-state"),
            workers: 0,
            session_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            public_ip: None,
            metrics_listen: None,
            dashboard: None,
            listen: ListenOverrides {
                ipv6: true,
                ..Default::default()
            },
            sinks: vec![SinkTable::from_pairs(
                "<default>",
                "sinks[0]",
                &[("type", "jsonl".into()), ("path", "conpot-events.jsonl".into())],
            )],
            daemon: Daemon::default(),
            personas: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// The unprivileged account the sensor switches to after binding its listeners (Conpot's
/// `[daemon] user/group`, our `[daemon]`): started as root for ports below 1024, it must
/// not stay root while it parses what attackers send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Daemon {
    /// User name (or numeric uid) to run as.
    pub user: Option<String>,
    /// Group name (or numeric gid); the user's primary group when absent.
    pub group: Option<String>,
    /// Keep running as root when no user is configured (otherwise the sensor refuses).
    pub allow_root: bool,
    /// The seccomp allow-list of the running sensor (`[daemon] seccomp`; on by default).
    pub seccomp: Seccomp,
}

/// What the seccomp allow-list does with a system call outside it (`[daemon] seccomp`):
/// `true` (the default) or `"errno"` refuses it with EPERM, `"kill"` ends the process,
/// `"log"` lets it through and has the kernel log it, `false` or `"off"` installs no filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// The call fails with EPERM (and the kernel logs it): a rare path the list missed
    /// becomes an error the sensor handles, not a dead sensor.
    #[default]
    Errno,
    /// The process is killed (SIGSYS): for operators who prefer a dead sensor to one that
    /// an attacker has turned to a forbidden call.
    Kill,
    /// The call is allowed and logged by the kernel: for finding what the list misses.
    Log,
    /// No filter.
    Off,
}

impl Seccomp {
    /// Reads the TOML value: a boolean or one of the mode names.
    pub fn from_toml(v: &toml::Value) -> Option<Seccomp> {
        match v {
            toml::Value::Boolean(true) => Some(Seccomp::Errno),
            toml::Value::Boolean(false) => Some(Seccomp::Off),
            toml::Value::String(s) => match s.as_str() {
                "errno" | "eperm" | "on" => Some(Seccomp::Errno),
                "kill" => Some(Seccomp::Kill),
                "log" => Some(Seccomp::Log),
                "off" => Some(Seccomp::Off),
                _ => None,
            },
            _ => None,
        }
    }
}

impl Config {
    /// Reads a configuration file: TOML when its name ends in `.toml`, else Conpot INI.
    pub fn load(path: &Path) -> Result<Config, Vec<TemplateError>> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![TemplateError {
                file: label.clone(),
                key: String::new(),
                expected: format!("a readable config file ({e})"),
            }]
        })?;
        if path.extension().is_some_and(|e| e == "toml") {
            Config::from_toml(&label, &text)
        } else {
            Config::from_conpot_ini_env(&label, &text, &|name| std::env::var(name).ok())
        }
    }

    /// Parses our TOML configuration format.
    pub fn from_toml(file: &str, text: &str) -> Result<Config, Vec<TemplateError>> {
        let root: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            vec![TemplateError {
                file: file.to_owned(),
                key: String::new(),
                expected: format!("valid TOML: {}", e.to_string().trim()),
            }]
        })?;
        let mut errs = Errors::default();
        let mut c = Config::default();
        let top = Table::new(file, "", &root);
        top.deny_unknown(
            &[
                "sensor",
                "session",
                "limits",
                "listen",
                "sinks",
                "daemon",
                "metrics",
                "dashboard",
                "personas",
            ],
            &mut errs,
        );
        c.personas = crate::personas::parse(file, &top, &mut errs);
        if let Some(t) = top.table("daemon", false, &mut errs) {
            let t = Table::new(file, "daemon", t);
            t.deny_unknown(&["user", "group", "allow_root", "seccomp"], &mut errs);
            c.daemon.user = t.str("user", false, &mut errs).map(str::to_owned);
            c.daemon.group = t.str("group", false, &mut errs).map(str::to_owned);
            if let Some(b) = t.bool("allow_root", &mut errs) {
                c.daemon.allow_root = b;
            }
            if let Some(v) = t.get("seccomp") {
                match Seccomp::from_toml(v) {
                    Some(m) => c.daemon.seccomp = m,
                    None => errs.push(
                        file,
                        &t.key("seccomp"),
                        "true, false, \"errno\", \"kill\", \"log\" or \"off\"",
                    ),
                }
            }
        }
        if let Some(t) = top.table("metrics", false, &mut errs) {
            let t = Table::new(file, "metrics", t);
            t.deny_unknown(&["listen"], &mut errs);
            if let Some(v) = t.str("listen", false, &mut errs) {
                if v.parse::<std::net::SocketAddr>().is_ok() {
                    c.metrics_listen = Some(v.to_owned());
                } else {
                    errs.push(
                        file,
                        "metrics.listen",
                        format!("an address like 127.0.0.1:9464, found `{v}`"),
                    );
                }
            }
        }
        // The live dashboard (issue 16): checked by conpot-dashboard when the sensor starts.
        if let Some(t) = top.table("dashboard", false, &mut errs) {
            c.dashboard = Some(t.clone());
        }
        if let Some(t) = top.table("sensor", false, &mut errs) {
            let t = Table::new(file, "sensor", t);
            t.deny_unknown(&["id", "state_dir", "public_ip", "workers"], &mut errs);
            if let Some(v) = t.str("id", false, &mut errs) {
                c.sensor_id = v.to_owned();
            }
            if let Some(v) = t.str("state_dir", false, &mut errs) {
                c.state_dir = PathBuf::from(v);
            }
            c.public_ip = t.str("public_ip", false, &mut errs).map(str::to_owned);
            if let Some(v) = t.int("workers", 0, MAX_WORKERS as i64, false, &mut errs) {
                c.workers = v as usize;
            }
        }
        if let Some(t) = top.table("session", false, &mut errs) {
            let t = Table::new(file, "session", t);
            t.deny_unknown(&["timeout"], &mut errs);
            if let Some(v) = t.int("timeout", 1, 86_400, false, &mut errs) {
                c.session_timeout = Duration::from_secs(v as u64);
            }
        }
        if let Some(t) = top.table("limits", false, &mut errs) {
            let t = Table::new(file, "limits", t);
            t.deny_unknown(
                &[
                    "max_connections",
                    "max_connections_per_ip",
                    "max_buffer",
                    "event_queue",
                    "raw_limit",
                    "max_capture",
                    "capture_quota",
                    "fs_quota",
                    "fs_max_file",
                    "fs_max_entries",
                    "udp_answers_per_source",
                    "udp_amplification",
                    "frame_timeout",
                    "min_input_rate",
                    "output_timeout",
                    "field_limit",
                    "event_queue_bytes",
                    "event_source_share",
                ],
                &mut errs,
            );
            let l = &mut c.limits;
            let get = |k: &str, max: i64, errs: &mut Errors| t.int(k, 1, max, false, errs).map(|v| v as usize);
            if let Some(v) = get("max_connections", 10_000_000, &mut errs) {
                l.max_connections = v;
            }
            if let Some(v) = get("max_connections_per_ip", 10_000_000, &mut errs) {
                l.max_connections_per_ip = v;
            }
            if let Some(v) = get("max_buffer", 1 << 30, &mut errs) {
                l.max_buffer = v;
            }
            if let Some(v) = get("event_queue", 1 << 24, &mut errs) {
                l.event_queue = v;
            }
            if let Some(v) = get("raw_limit", 1 << 24, &mut errs) {
                l.raw_limit = v;
            }
            if let Some(v) = get("max_capture", 1 << 30, &mut errs) {
                l.max_capture = v;
            }
            if let Some(v) = t.int("capture_quota", 0, i64::MAX, false, &mut errs) {
                l.capture_quota = v as u64;
            }
            if let Some(v) = t.int("fs_quota", 0, i64::MAX, false, &mut errs) {
                l.fs_quota = v as u64;
            }
            if let Some(v) = t.int("fs_max_file", 0, i64::MAX, false, &mut errs) {
                l.fs_max_file = v as u64;
            }
            if let Some(v) = get("fs_max_entries", 1 << 24, &mut errs) {
                l.fs_max_entries = v;
            }
            if let Some(v) = t.int("udp_answers_per_source", 1, 10_000_000, false, &mut errs) {
                l.udp_answers_per_source = v as u32;
            }
            if let Some(v) = t.int("udp_amplification", 1, 1000, false, &mut errs) {
                l.udp_amplification = v as usize;
            }
            if let Some(v) = t.int("frame_timeout", 1, 3600, false, &mut errs) {
                l.frame_timeout = Duration::from_secs(v as u64);
            }
            if let Some(v) = t.int("min_input_rate", 0, 1 << 30, false, &mut errs) {
                l.min_input_rate = v as u32;
            }
            if let Some(v) = t.int("output_timeout", 1, 3600, false, &mut errs) {
                l.output_timeout = Duration::from_secs(v as u64);
            }
            if let Some(v) = get("field_limit", 1 << 24, &mut errs) {
                l.field_limit = v;
            }
            if let Some(v) = t.int("event_queue_bytes", 4096, 1 << 40, false, &mut errs) {
                l.event_queue_bytes = v as usize;
            }
            if let Some(v) = t.int("event_source_share", 1, 100, false, &mut errs) {
                l.event_source_share = v as u8;
            }
        }
        if let Some(t) = top.table("listen", false, &mut errs) {
            let t = Table::new(file, "listen", t);
            t.deny_unknown(&["host", "ipv6", "ports", "ttl", "upstreams"], &mut errs);
            c.listen.ttl = t.int("ttl", 1, 255, false, &mut errs).map(|v| v as u32);
            if let Some(h) = t.str("host", false, &mut errs) {
                if h.parse::<std::net::IpAddr>().is_err() {
                    errs.push(file, "listen.host", format!("an IP address, found `{h}`"));
                }
                c.listen.host = Some(h.to_owned());
            }
            if let Some(b) = t.bool("ipv6", &mut errs) {
                c.listen.ipv6 = b;
            }
            if let Some(ports) = t.table("ports", false, &mut errs) {
                let pt = Table::new(file, "listen.ports", ports);
                for k in ports.keys() {
                    if let Some(p) = pt.int(k, 0, 65535, true, &mut errs) {
                        c.listen.ports.insert(k.clone(), p as u16);
                    }
                }
            }
            if let Some(ups) = t.table("upstreams", false, &mut errs) {
                let ut = Table::new(file, "listen.upstreams", ups);
                for k in ups.keys() {
                    if let Some(a) = ut.str(k, true, &mut errs) {
                        c.listen.upstreams.insert(k.clone(), a.to_owned());
                    }
                }
            }
        }
        if let Some(sinks) = top.array("sinks", false, &mut errs) {
            c.sinks.clear();
            for (i, s) in sinks.iter().enumerate() {
                let key = format!("sinks[{i}]");
                match s.as_table() {
                    Some(t) => c.sinks.push(SinkTable {
                        file: file.to_owned(),
                        key,
                        table: t.clone(),
                    }),
                    None => errs.push(file, &key, "a table"),
                }
            }
        }
        if errs.is_empty() { Ok(c) } else { Err(errs.0) }
    }

    /// Parses a Conpot INI configuration (`[common] sensorid`, `[session] timeout`,
    /// `[json] enabled/filename`, ...). Inline `;` and `#` comments are stripped.
    pub fn from_conpot_ini(file: &str, text: &str) -> Result<Config, Vec<TemplateError>> {
        Config::from_conpot_ini_env(file, text, &|_| None)
    }

    /// [`Config::from_conpot_ini`] with Conpot's `%(NAME)s` references filled: Conpot seeds
    /// its configuration with the environment, so T-Pot's `conpot.cfg` writes
    /// `filename = %(CONPOT_JSON_LOG)s`. A name is looked up among the keys of the same
    /// section, then in `env` (as written, then upper-cased); one found nowhere is an error.
    pub fn from_conpot_ini_env(
        file: &str,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<TemplateError>> {
        let mut ini = parse_ini(text);
        let mut errs = Errors::default();
        interpolate_ini(file, &mut ini, env, &mut errs);
        let mut c = Config {
            sinks: Vec::new(),
            ..Config::default()
        };
        let get = |s: &str, k: &str| ini.get(s).and_then(|m| m.get(k)).map(String::as_str);
        let enabled = |s: &str, errs: &mut Errors| match get(s, "enabled") {
            None => false,
            Some(v) => parse_bool(v).unwrap_or_else(|| {
                errs.push(
                    file,
                    &format!("{s}.enabled"),
                    format!("a boolean (True/False), found `{v}`"),
                );
                false
            }),
        };
        c.daemon.user = get("daemon", "user").filter(|v| !v.is_empty()).map(str::to_owned);
        c.daemon.group = get("daemon", "group").filter(|v| !v.is_empty()).map(str::to_owned);
        if let Some(v) = get("common", "sensorid") {
            c.sensor_id = v.to_owned();
        }
        if let Some(v) = get("common", "public_ip") {
            c.public_ip = Some(v.to_owned());
        }
        if let Some(v) = get("common", "state_dir") {
            c.state_dir = PathBuf::from(v);
        }
        if let Some(v) = get("session", "timeout") {
            match v.parse::<u64>() {
                Ok(s) if (1..=86_400).contains(&s) => c.session_timeout = Duration::from_secs(s),
                _ => errs.push(
                    file,
                    "session.timeout",
                    format!("whole seconds from 1 to 86400, found `{v}`"),
                ),
            }
        }
        if enabled("json", &mut errs) {
            let path = get("json", "filename").unwrap_or("conpot.json");
            c.sinks.push(SinkTable::from_pairs(
                file,
                "json",
                &[
                    ("type", "jsonl".into()),
                    ("path", path.into()),
                    ("format", "conpot-legacy".into()),
                ],
            ));
        }
        if enabled("sqlite", &mut errs) {
            // Conpot's database is logs/conpot.db below the working folder.
            c.sinks.push(SinkTable::from_pairs(
                file,
                "sqlite",
                &[
                    ("type", "sqlite".into()),
                    ("path", get("sqlite", "filename").unwrap_or("logs/conpot.db").into()),
                    ("format", "conpot-legacy".into()),
                ],
            ));
        }
        if enabled("syslog", &mut errs) {
            // Conpot forwards its text log lines: socket = udp sends them to host:port,
            // socket = dev to the local device (/dev/log).
            let socket = get("syslog", "socket").unwrap_or("dev");
            let mut pairs = vec![
                ("type", toml::Value::from("syslog")),
                ("format", "text".into()),
                ("framing", "rfc3164".into()),
                ("facility", get("syslog", "facility").unwrap_or("local0").into()),
            ];
            match socket {
                "udp" => {
                    pairs.push(("protocol", "udp".into()));
                    pairs.push(("host", get("syslog", "host").unwrap_or("localhost").into()));
                    let port = get("syslog", "port").unwrap_or("514");
                    match port.parse::<u16>() {
                        Ok(p) => pairs.push(("port", i64::from(p).into())),
                        Err(_) => errs.push(file, "syslog.port", format!("a port number, found `{port}`")),
                    }
                }
                _ => {
                    pairs.push(("protocol", "unix".into()));
                    pairs.push(("path", get("syslog", "device").unwrap_or("/dev/log").into()));
                }
            }
            c.sinks.push(SinkTable::from_pairs(file, "syslog", &pairs));
        }
        if enabled("hpfriends", &mut errs) {
            // Conpot publishes its whole event record (our conpot-v1) to every channel.
            let mut pairs = vec![
                ("type", toml::Value::from("hpfeeds")),
                ("format", "conpot-v1".into()),
                (
                    "host",
                    get("hpfriends", "host").unwrap_or("hpfriends.honeycloud.net").into(),
                ),
                ("ident", get("hpfriends", "ident").unwrap_or_default().into()),
                ("secret", get("hpfriends", "secret").unwrap_or_default().into()),
            ];
            let port = get("hpfriends", "port").unwrap_or("20000");
            match port.parse::<u16>() {
                Ok(p) => pairs.push(("port", i64::from(p).into())),
                Err(_) => errs.push(file, "hpfriends.port", format!("a port number, found `{port}`")),
            }
            let channels = get("hpfriends", "channels").unwrap_or("[\"conpot.events\"]");
            match python_str_list(channels) {
                Some(list) => pairs.push((
                    "channels",
                    toml::Value::Array(list.into_iter().map(toml::Value::from).collect()),
                )),
                None => errs.push(
                    file,
                    "hpfriends.channels",
                    format!("a list of quoted channel names like [\"conpot.events\"], found `{channels}`"),
                ),
            }
            c.sinks.push(SinkTable::from_pairs(file, "hpfriends", &pairs));
        }
        if enabled("taxii", &mut errs) {
            // Conpot posted STIX 1 to a TAXII 1.1 inbox; we post STIX 2.1 to a TAXII 2.1
            // collection, so inbox_path names the collection (`/<api-root>/collections/<id>/`).
            let https = match get("taxii", "use_https").map(|v| (v, parse_bool(v))) {
                None => false,
                Some((_, Some(b))) => b,
                Some((v, None)) => {
                    errs.push(file, "taxii.use_https", format!("a boolean (True/False), found `{v}`"));
                    false
                }
            };
            let host = get("taxii", "host").unwrap_or("localhost");
            let port = get("taxii", "port").unwrap_or(if https { "443" } else { "80" });
            if port.parse::<u16>().is_err() {
                errs.push(file, "taxii.port", format!("a port number, found `{port}`"));
            }
            let path = get("taxii", "inbox_path").unwrap_or("/");
            if path.contains("/services/inbox") {
                c.warnings.push(format!(
                    "{file}: [taxii] inbox_path `{path}` looks like a TAXII 1.1 inbox; conpot-rs posts to a TAXII 2.1 collection (`/<api-root>/collections/<id>/`)"
                ));
            }
            let scheme = if https { "https" } else { "http" };
            let path = if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            };
            let mut pairs = vec![
                ("type", toml::Value::from("taxii")),
                ("format", "stix".into()),
                ("url", format!("{scheme}://{host}:{port}{path}").into()),
            ];
            for k in ["username", "password", "ca_file"] {
                if let Some(v) = get("taxii", k) {
                    pairs.push((k, v.into()));
                }
            }
            c.sinks.push(SinkTable::from_pairs(file, "taxii", &pairs));
        }
        if enabled("fetch_public_ip", &mut errs) {
            c.warnings.push(format!(
                "{file}: [fetch_public_ip] is not done (the sensor makes no outbound requests); set public_ip in [common] instead"
            ));
        }
        c.warnings.extend(ignored_ini_keys(file, &ini));
        if c.sinks.is_empty() {
            c.warnings.push(format!(
                "{file}: no event log is enabled, events go to the text log only ([json] enabled = True writes one)"
            ));
        }
        if errs.is_empty() { Ok(c) } else { Err(errs.0) }
    }
}

/// Every key of Conpot's INI files (its packaged `testing.cfg` and `conpot.cfg`), with
/// `None` when it is read and mapped onto our configuration, or why it is not.
const CONPOT_INI_KEYS: &[(&str, &[&str], Option<&str>)] = &[
    ("common", &["sensorid", "public_ip", "state_dir"], None),
    ("session", &["timeout"], None),
    ("daemon", &["user", "group"], None),
    ("json", &["enabled", "filename"], None),
    ("sqlite", &["enabled", "filename"], None),
    (
        "syslog",
        &["enabled", "device", "host", "port", "facility", "socket"],
        None,
    ),
    (
        "hpfriends",
        &["enabled", "host", "port", "ident", "secret", "channels"],
        None,
    ),
    (
        "taxii",
        &[
            "enabled",
            "host",
            "port",
            "inbox_path",
            "use_https",
            "username",
            "password",
            "ca_file",
        ],
        None,
    ),
    ("fetch_public_ip", &["enabled"], None),
    (
        "fetch_public_ip",
        &["urls"],
        Some("the sensor makes no outbound requests; set [common] public_ip"),
    ),
    (
        "virtual_file_system",
        &["fs_url"],
        Some(
            "the device's files come from the template ([filesystem], or its Conpot ftp/tftp folders) and are held in memory",
        ),
    ),
    (
        "virtual_file_system",
        &["data_fs_url"],
        Some("uploads are kept by SHA-256 in the capture store of the state folder ([common] state_dir)"),
    ),
    (
        "mysql",
        &[
            "enabled",
            "device",
            "host",
            "port",
            "db",
            "username",
            "passphrase",
            "socket",
        ],
        Some(
            "there is no MySQL sink; a TOML configuration's [[sinks]] type = \"postgres\" or \"sqlite\" stores events in a database",
        ),
    ),
    (
        "change_mac_addr",
        &["enabled", "iface", "addr"],
        Some("the sensor never changes the host's network interfaces; the MAC a device shows is its persona's"),
    ),
];

/// The warnings naming every key of `ini` that is not read: one per section and reason,
/// `ignored Conpot setting [SECTION] KEY, KEY: WHY`, so each such key is named once.
fn ignored_ini_keys(file: &str, ini: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    const UNKNOWN: &str = "not a Conpot setting conpot-rs knows";
    let mut out = Vec::new();
    for (section, keys) in ini {
        let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
        for key in keys.keys() {
            let known = CONPOT_INI_KEYS
                .iter()
                .find(|(s, ks, _)| *s == section.as_str() && ks.contains(&key.as_str()));
            let reason = match known {
                Some((_, _, None)) => continue,
                Some((_, _, Some(why))) => *why,
                None => UNKNOWN,
            };
            match by_reason.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, list)) => list.push(key),
                None => by_reason.push((reason, vec![key])),
            }
        }
        for (reason, list) in by_reason {
            out.push(format!(
                "{file}: ignored Conpot setting [{section}] {}: {reason}",
                list.join(", ")
            ));
        }
    }
    out
}

/// The strings of a Python list literal such as Conpot's `channels = ["conpot.events", ]`
/// (quotes single or double, a trailing comma allowed); `None` when it is not one.
fn python_str_list(v: &str) -> Option<Vec<String>> {
    let inner = v.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    for item in inner.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let unq = item
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| item.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))?;
        out.push(unq.to_owned());
    }
    Some(out)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Replaces every `%(NAME)s` in the values of `ini` (see [`Config::from_conpot_ini_env`]);
/// `%%` is a literal `%`. References are not followed further (a value found is used as is).
fn interpolate_ini(
    file: &str,
    ini: &mut BTreeMap<String, BTreeMap<String, String>>,
    env: &dyn Fn(&str) -> Option<String>,
    errs: &mut Errors,
) {
    for (section, keys) in ini.iter_mut() {
        let raw = keys.clone();
        for (key, value) in keys.iter_mut() {
            if !value.contains('%') {
                continue;
            }
            let mut out = String::new();
            let mut rest = value.as_str();
            while let Some(i) = rest.find('%') {
                out.push_str(rest.get(..i).unwrap_or_default());
                let after = rest.get(i + 1..).unwrap_or_default();
                if let Some(tail) = after.strip_prefix('%') {
                    out.push('%');
                    rest = tail;
                    continue;
                }
                let name = after
                    .strip_prefix('(')
                    .and_then(|a| a.find(")s").map(|end| (a.get(..end).unwrap_or_default(), end)));
                let Some((name, end)) = name else {
                    out.push('%');
                    rest = after;
                    continue;
                };
                let found = raw
                    .get(&name.to_ascii_lowercase())
                    .filter(|v| !v.contains("%("))
                    .cloned()
                    .or_else(|| env(name))
                    .or_else(|| env(&name.to_ascii_uppercase()));
                match found {
                    Some(v) => out.push_str(&v),
                    None => errs.push(
                        file,
                        &format!("{section}.{key}"),
                        format!("`%({name})s` to name a key of [{section}] or a set environment variable"),
                    ),
                }
                rest = after.get(end + 3..).unwrap_or_default();
            }
            out.push_str(rest);
            *value = out;
        }
    }
}

/// Parses INI text into section -> key -> value (keys lower-cased, inline comments cut).
fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            continue;
        };
        let mut v = v.trim();
        for marker in [" ;", "\t;", " #", "\t#"] {
            if let Some(i) = v.find(marker) {
                v = v.get(..i).unwrap_or(v).trim_end();
            }
        }
        out.entry(section.clone())
            .or_default()
            .insert(k.trim().to_ascii_lowercase(), v.to_owned());
    }
    out
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_conpot_ini_key_is_read_or_named_once() {
        let text = "[common]\nsensorid = s1\n[virtual_file_system]\ndata_fs_url = default\nfs_url = default\n\
            [session]\ntimeout = 30\n[daemon]\nuser = conpot\ngroup = conpot\n[json]\nenabled = True\nfilename = /tmp/c.json\n\
            [sqlite]\nenabled = False\n[mysql]\nenabled = False\ndevice = /tmp/mysql.sock\nhost = localhost\nport = 3306\n\
            db = conpot\nusername = conpot\npassphrase = conpot\nsocket = tcp\n\
            [syslog]\nenabled = False\ndevice = /dev/log\nhost = localhost\nport = 514\nfacility = local0\nsocket = dev ; udp\n\
            [hpfriends]\nenabled = False\nhost = h\nport = 20000\nident = i\nsecret = s\nchannels = [\"conpot.events\", ]\n\
            [taxii]\nenabled = False\nhost = t\nport = 80\ninbox_path = /services/inbox/default/\nuse_https = False\n\
            [fetch_public_ip]\nenabled = False\nurls = [\"http://wgetip.com/\"]\n\
            [change_mac_addr]\nenabled = False\niface = eth0\naddr = 00:de:ad:be:ef:00\n[extra]\nthing = 1\n";
        let c = Config::from_conpot_ini("t.cfg", text).unwrap();
        assert_eq!(c.sensor_id, "s1");
        let ignored: Vec<&String> = c
            .warnings
            .iter()
            .filter(|w| w.contains("ignored Conpot setting"))
            .collect();
        assert_eq!(ignored.len(), 6, "{ignored:#?}");
        for (section, keys) in [
            ("virtual_file_system", "data_fs_url"),
            ("virtual_file_system", "fs_url"),
            ("mysql", "enabled, device, host, port, db, username, passphrase, socket"),
            ("fetch_public_ip", "urls"),
            ("change_mac_addr", "enabled, iface, addr"),
            ("extra", "thing"),
        ] {
            let mut want: Vec<&str> = keys.split(", ").collect();
            want.sort_unstable();
            let hit = ignored
                .iter()
                .filter(|w| w.contains(&format!("[{section}] ")))
                .any(|w| {
                    let listed = w
                        .split(&format!("[{section}] "))
                        .nth(1)
                        .unwrap()
                        .split(':')
                        .next()
                        .unwrap();
                    let mut got: Vec<&str> = listed.split(", ").collect();
                    got.sort_unstable();
                    got == want
                });
            assert!(hit, "[{section}] {keys} not named: {ignored:#?}");
        }
        // Keys that are read are never named.
        for read in [
            "[common]",
            "[session]",
            "[daemon]",
            "[json]",
            "[sqlite]",
            "[syslog]",
            "[hpfriends]",
            "[taxii]",
        ] {
            let named = format!("setting {read}");
            assert!(!ignored.iter().any(|w| w.contains(&named)), "{read}: {ignored:#?}");
        }
    }

    #[test]
    fn tpot_conpot_cfg_references_the_environment() {
        let text = "[json]\nenabled = True\nfilename = %(CONPOT_JSON_LOG)s\n[virtual_file_system]\ndata_fs_url = %(CONPOT_TMP)s\n[common]\nsensorid = %(name)s-100%%\nname = conpot\n";
        let env = |k: &str| match k {
            "CONPOT_JSON_LOG" => Some("/var/log/conpot/conpot_IEC104.json".to_owned()),
            "CONPOT_TMP" => Some("/tmp/conpot".to_owned()),
            _ => None,
        };
        let c = Config::from_conpot_ini_env("t.cfg", text, &env).unwrap();
        assert_eq!(c.sinks[0].str("path"), Some("/var/log/conpot/conpot_IEC104.json"));
        assert_eq!(c.sensor_id, "conpot-100%");
        let e = Config::from_conpot_ini("t.cfg", text).unwrap_err();
        assert!(
            e.iter()
                .any(|e| e.key == "json.filename" && e.expected.contains("CONPOT_JSON_LOG")),
            "{e:?}"
        );
    }

    #[test]
    fn workers_default_to_one_fewer_than_the_cores() {
        assert_eq!(Config::default().workers, 0);
        let c = Config::from_toml("c.toml", "[sensor]\nworkers = 3\n").unwrap();
        assert_eq!(c.workers, 3);
        assert!(Config::from_toml("c.toml", "[sensor]\nworkers = -1\n").is_err());
        assert!(Config::from_toml("c.toml", "[sensor]\nworkers = 257\n").is_err());
        assert_eq!(worker_threads(0, 2), 1);
        assert_eq!(worker_threads(0, 8), 7);
        assert_eq!(worker_threads(0, 1), 1);
        assert_eq!(worker_threads(0, 0), 1);
        assert_eq!(worker_threads(3, 2), 3);
    }

    #[test]
    fn daemon_user_from_ini_and_toml() {
        let c = Config::from_conpot_ini("t.cfg", "[daemon]\nuser = conpot\ngroup = conpot\n").unwrap();
        assert_eq!(c.daemon.user.as_deref(), Some("conpot"));
        assert_eq!(c.daemon.group.as_deref(), Some("conpot"));
        assert!(!c.daemon.allow_root);
        let t = Config::from_toml("c.toml", "[daemon]\nuser = \"nobody\"\nallow_root = true\n").unwrap();
        assert_eq!(t.daemon.user.as_deref(), Some("nobody"));
        assert_eq!(t.daemon.group, None);
        assert!(t.daemon.allow_root);
        assert!(Config::from_toml("c.toml", "[daemon]\nuid = 3\n").is_err());
        assert_eq!(t.daemon.seccomp, Seccomp::Errno);
    }

    #[test]
    fn conpot_ini() {
        let text = "[common]\nsensorid = s1\n[session]\ntimeout = 12\n[json]\nenabled = True\nfilename = /tmp/x.json\n[syslog]\nenabled = False\nsocket = dev        ; udp\n[fetch_public_ip]\nenabled = True\n";
        let c = Config::from_conpot_ini("t.cfg", text).unwrap();
        assert_eq!(c.sensor_id, "s1");
        assert_eq!(c.session_timeout, Duration::from_secs(12));
        assert_eq!(c.sinks.len(), 1);
        assert_eq!(c.sinks[0].key, "json");
        assert_eq!(c.sinks[0].str("type"), Some("jsonl"));
        assert_eq!(c.sinks[0].str("path"), Some("/tmp/x.json"));
        assert_eq!(c.sinks[0].str("format"), Some("conpot-legacy"));
        assert_eq!(c.warnings.len(), 1);
        assert_eq!(parse_ini(text)["syslog"]["socket"], "dev");
        let bad = Config::from_conpot_ini("t.cfg", "[json]\nenabled = maybe\n").unwrap_err();
        assert_eq!(bad[0].key, "json.enabled");
    }

    #[test]
    fn conpot_ini_hpfriends_and_taxii_sections_become_sinks() {
        let text = "[hpfriends]\nenabled = True\nhost = 127.0.0.1\nport = 20001\nident = 3Ykf9Znv\nsecret = 4nFRhpm44QkG9cvD\nchannels = [\"conpot.events\", 'other', ]\n[taxii]\nenabled = True\nhost = taxii.example\nport = 8443\ninbox_path = /api1/collections/c1/\nuse_https = True\nusername = u\n";
        let c = Config::from_conpot_ini("t.cfg", text).unwrap();
        let h = &c.sinks[0];
        assert_eq!(h.str("type"), Some("hpfeeds"));
        assert_eq!(h.str("format"), Some("conpot-v1"));
        assert_eq!(h.str("ident"), Some("3Ykf9Znv"));
        assert_eq!(h.table.get("port").and_then(toml::Value::as_integer), Some(20001));
        let chans: Vec<&str> = h.table["channels"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(chans, ["conpot.events", "other"]);
        let t = &c.sinks[1];
        assert_eq!(t.str("type"), Some("taxii"));
        assert_eq!(t.str("url"), Some("https://taxii.example:8443/api1/collections/c1/"));
        assert_eq!(t.str("username"), Some("u"));
        let bad =
            Config::from_conpot_ini("t.cfg", "[hpfriends]\nenabled = True\nchannels = conpot.events\n").unwrap_err();
        assert_eq!(bad[0].key, "hpfriends.channels");
        let old = Config::from_conpot_ini(
            "t.cfg",
            "[taxii]\nenabled = True\ninbox_path = /services/inbox/default/\n",
        )
        .unwrap();
        assert!(
            old.warnings.iter().any(|w| w.contains("TAXII 1.1")),
            "{:?}",
            old.warnings
        );
    }

    #[test]
    fn conpot_ini_sqlite_and_syslog_sections_become_sinks() {
        let text = "[sqlite]\nenabled = True\n[syslog]\nenabled = True\ndevice = /dev/log\nhost = 127.0.0.1\nport = 5514\nfacility = local3\nsocket = udp        ; udp (sends to host:port), dev (sends to device)\n";
        let c = Config::from_conpot_ini("t.cfg", text).unwrap();
        assert_eq!(c.sinks.len(), 2);
        assert_eq!(c.sinks[0].str("type"), Some("sqlite"));
        assert_eq!(c.sinks[0].str("path"), Some("logs/conpot.db"));
        let s = &c.sinks[1];
        assert_eq!(s.str("type"), Some("syslog"));
        assert_eq!(s.str("protocol"), Some("udp"));
        assert_eq!(s.str("host"), Some("127.0.0.1"));
        assert_eq!(s.table["port"].as_integer(), Some(5514));
        assert_eq!(s.str("facility"), Some("local3"));
        let dev = Config::from_conpot_ini("t.cfg", "[syslog]\nenabled = True\n").unwrap();
        assert_eq!(dev.sinks[0].str("protocol"), Some("unix"));
        assert_eq!(dev.sinks[0].str("path"), Some("/dev/log"));
        let bad = Config::from_conpot_ini("t.cfg", "[syslog]\nenabled = True\nsocket = udp\nport = x\n").unwrap_err();
        assert_eq!(bad[0].key, "syslog.port");
    }

    #[test]
    fn hardening_limits_from_toml() {
        let c = Config::from_toml(
            "c.toml",
            "[limits]\nframe_timeout = 3\nmin_input_rate = 0\noutput_timeout = 4\nfield_limit = 100\nevent_queue_bytes = 1048576\nevent_source_share = 10\n",
        )
        .unwrap();
        assert_eq!(c.limits.frame_timeout, Duration::from_secs(3));
        assert_eq!(c.limits.min_input_rate, 0);
        assert_eq!(c.limits.output_timeout, Duration::from_secs(4));
        assert_eq!(c.limits.field_limit, 100);
        assert_eq!(c.limits.event_queue_bytes, 1 << 20);
        assert_eq!(c.limits.event_source_share, 10);
        let errs = Config::from_toml("c.toml", "[limits]\nevent_source_share = 0\nframe_timeout = 0\n").unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"limits.event_source_share"), "{keys:?}");
        assert!(keys.contains(&"limits.frame_timeout"), "{keys:?}");
    }

    #[test]
    fn proxy_upstreams_from_toml() {
        let c = Config::from_toml("c.toml", "[listen.upstreams]\n\"proxy.a\" = \"10.0.0.5:1025\"\n").unwrap();
        assert_eq!(c.listen.upstreams["proxy.a"], "10.0.0.5:1025");
        let errs = Config::from_toml("c.toml", "[listen.upstreams]\nb = 5\n").unwrap_err();
        assert!(errs.iter().any(|e| e.key.contains("b")), "{errs:?}");
    }

    #[test]
    fn toml_config_and_errors() {
        let c = Config::from_toml("c.toml", "[sensor]\nid='x'\n[listen]\nhost='127.0.0.1'\n[listen.ports]\nmodbus=0\n[[sinks]]\ntype='jsonl'\npath='e.jsonl'\nformat='conpot-legacy'\n").unwrap();
        assert_eq!(c.sensor_id, "x");
        assert_eq!(c.listen.ports["modbus"], 0);
        assert_eq!(c.sinks[0].key, "sinks[0]");
        assert_eq!(c.sinks[0].str("format"), Some("conpot-legacy"));
        let errs = Config::from_toml(
            "c.toml",
            "[limits]\nmax_connections = -1\nbogus = 1\n[[sinks]]\ntype='kafka'\n[[sinks]]\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"limits.max_connections"), "{keys:?}");
        assert!(keys.contains(&"limits.bogus"), "{keys:?}");
        let sinks = Config::from_toml("c.toml", "[[sinks]]\ntype='kafka'\n").unwrap();
        assert_eq!(
            sinks.sinks[0].str("type"),
            Some("kafka"),
            "sink keys are read by conpot-sinks"
        );
    }

    // The live dashboard (issue 16): off unless configured; its table is kept for conpot-dashboard.
    #[test]
    fn dashboard_table_is_kept_raw_and_off_by_default() {
        assert_eq!(Config::default().dashboard, None);
        assert_eq!(Config::from_toml("c.toml", "").unwrap().dashboard, None);
        let c = Config::from_toml("c.toml", "[dashboard]\nlisten = \"127.0.0.1:9780\"\n").unwrap();
        assert_eq!(c.dashboard.unwrap()["listen"].as_str(), Some("127.0.0.1:9780"));
        assert!(Config::from_toml("c.toml", "dashboard = 3\n").is_err());
    }

    #[test]
    fn daemon_seccomp_modes() {
        let mode =
            |v: &str| Config::from_toml("c.toml", &format!("[daemon]\nseccomp = {v}\n")).map(|c| c.daemon.seccomp);
        assert_eq!(mode("true"), Ok(Seccomp::Errno));
        assert_eq!(mode("false"), Ok(Seccomp::Off));
        assert_eq!(mode("\"kill\""), Ok(Seccomp::Kill));
        assert_eq!(mode("\"log\""), Ok(Seccomp::Log));
        assert_eq!(mode("\"errno\""), Ok(Seccomp::Errno));
        assert_eq!(mode("\"off\""), Ok(Seccomp::Off));
        let err = mode("\"maybe\"").unwrap_err();
        assert!(
            err[0].key.contains("seccomp") && err[0].expected.contains("kill"),
            "{err:?}"
        );
        assert!(mode("3").is_err());
    }
}
