//! A sink's configuration, read from the raw `[[sinks]]` table the core keeps: the
//! transport (`type` and its keys), the encoder (`format`) and how the runner delivers
//! (`batch`, `spool_bytes`, `retry_min_ms`, `retry_max_ms`). Every mistake is reported with
//! its file and key, all at once.

use std::path::PathBuf;
use std::time::Duration;

use conpot_core::config::SinkTable;
use conpot_core::template::TemplateError;
use conpot_core::template::nav::{Errors, Table};

use crate::encode::Encoder;

/// How the runner delivers a sink's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Most records handed to the transport at once.
    pub batch: usize,
    /// First pause before delivering again after a failure.
    pub retry_min: Duration,
    /// Longest pause between attempts (the pause doubles up to this, with jitter).
    pub retry_max: Duration,
    /// Bytes of the disk spool that holds records while the destination is down (0: no
    /// spool; what fails is counted as failed).
    pub spool_bytes: u64,
}

/// How a syslog message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogProtocol {
    /// One datagram per message (RFC 5426).
    Udp,
    /// A TCP stream with octet-counting framing (RFC 6587).
    Tcp,
    /// Datagrams to a local socket such as `/dev/log`.
    Unix,
}

/// The syslog message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    /// RFC 5424, with the envelope as structured data.
    Rfc5424,
    /// The BSD form (RFC 3164) Python's and Conpot's syslog handlers send.
    Rfc3164,
}

/// A syslog destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSpec {
    /// UDP, TCP or a local socket.
    pub protocol: SyslogProtocol,
    /// Host (UDP, TCP).
    pub host: String,
    /// Port (UDP, TCP).
    pub port: u16,
    /// Socket path (unix).
    pub path: PathBuf,
    /// Message format.
    pub framing: SyslogFormat,
    /// Facility number (local0 = 16).
    pub facility: u8,
    /// Severity number (informational = 6).
    pub severity: u8,
    /// APP-NAME / TAG.
    pub app_name: String,
    /// Longest message sent; longer ones are cut.
    pub max_message: usize,
}

/// When a JSON-lines file is rotated: renamed to `<path>.1` (older ones shifted to `.2`,
/// ...) and a new file started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Rotate once the file holds this many bytes (0: never for size).
    pub bytes: u64,
    /// Rotate once the file is this old (`None`: never for age).
    pub every: Option<Duration>,
    /// Rotated files kept (older ones are deleted).
    pub keep: u32,
}

/// Where a sink sends its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportSpec {
    /// JSON lines appended to a file.
    JsonLines {
        /// File path.
        path: PathBuf,
        /// Size and age rotation.
        rotate: Rotation,
    },
    /// A SQLite database file.
    Sqlite {
        /// File path.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// Connection string (`postgres://user:pw@host:port/db` or `host=... user=...`).
        url: String,
    },
    /// A syslog receiver.
    Syslog(SyslogSpec),
    /// A NATS JetStream stream.
    Nats(crate::nats::NatsSpec),
}

/// One sink, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSpec {
    /// Name in logs, metrics and the spool file's name.
    pub name: String,
    /// Encoding of the records.
    pub encoder: Encoder,
    /// Destination.
    pub transport: TransportSpec,
    /// Batching, retry and spool.
    pub delivery: Delivery,
}

/// Syslog facility names and numbers (RFC 5424 table 1).
const FACILITIES: [(&str, u8); 20] = [
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Syslog severity names.
const SEVERITIES: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

/// The connection string without its password, for messages.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl SinkSpec {
    /// Where the events go, in words for the operator (a file's path, a server's address).
    pub fn destination(&self) -> String {
        match &self.transport {
            TransportSpec::JsonLines { path, .. } => path.display().to_string(),
            TransportSpec::Sqlite { path } => format!("sqlite {}", path.display()),
            TransportSpec::Postgres { url } => format!("postgresql {}", redact_url(url)),
            TransportSpec::Nats(n) => format!("nats {}/{}", n.url, n.stream),
            TransportSpec::Syslog(s) => match s.protocol {
                SyslogProtocol::Unix => format!("syslog {}", s.path.display()),
                SyslogProtocol::Udp => format!("syslog udp {}:{}", s.host, s.port),
                SyslogProtocol::Tcp => format!("syslog tcp {}:{}", s.host, s.port),
            },
        }
    }

    /// Reads one `[[sinks]]` table.
    pub fn parse(raw: &SinkTable) -> Result<SinkSpec, Vec<TemplateError>> {
        let mut errs = Errors::default();
        let spec = Self::read(raw, &mut errs);
        match spec {
            Some(s) if errs.is_empty() => Ok(s),
            _ => Err(errs.0),
        }
    }

    fn read(raw: &SinkTable, errs: &mut Errors) -> Option<SinkSpec> {
        let file = raw.file.as_str();
        let t = Table::new(file, &raw.key, &raw.table);
        const COMMON: [&str; 7] = [
            "type",
            "format",
            "name",
            "batch",
            "spool_bytes",
            "retry_min_ms",
            "retry_max_ms",
        ];
        let f = t.str("format", false, errs).unwrap_or("native");
        let encoder = Encoder::parse(f).unwrap_or_else(|| {
            let names: Vec<&str> = Encoder::ALL.iter().map(|e| e.name()).collect();
            errs.push(
                file,
                &t.key("format"),
                format!("one of {}, found \"{f}\"", names.join(", ")),
            );
            Encoder::Native
        });
        let kind = t.str("type", true, errs)?;
        let (transport, extra, network): (TransportSpec, &[&str], bool) = match kind {
            "jsonl" => (
                TransportSpec::JsonLines {
                    path: t.str("path", true, errs)?.into(),
                    rotate: Rotation {
                        bytes: t.int("rotate_bytes", 0, i64::MAX, false, errs).unwrap_or(0) as u64,
                        every: t
                            .int("rotate_secs", 1, 366 * 86_400, false, errs)
                            .map(|v| Duration::from_secs(v as u64)),
                        keep: t.int("keep", 1, 10_000, false, errs).unwrap_or(5) as u32,
                    },
                },
                &["path", "rotate_bytes", "rotate_secs", "keep"],
                false,
            ),
            "sqlite" => (
                TransportSpec::Sqlite {
                    path: t.str("path", true, errs)?.into(),
                },
                &["path"],
                false,
            ),
            "postgresql" | "postgres" => (
                TransportSpec::Postgres {
                    url: t.str("url", true, errs)?.to_owned(),
                },
                &["url"],
                true,
            ),
            "syslog" => {
                let s = Self::syslog(&t, errs)?;
                let net = s.protocol == SyslogProtocol::Tcp;
                (
                    TransportSpec::Syslog(s),
                    &[
                        "protocol",
                        "host",
                        "port",
                        "path",
                        "framing",
                        "facility",
                        "severity",
                        "app_name",
                        "max_message",
                    ],
                    net,
                )
            }
            "nats" => (
                TransportSpec::Nats(Self::nats(&t, errs)?),
                &[
                    "url",
                    "user",
                    "password",
                    "token",
                    "stream",
                    "subject_prefix",
                    "max_bytes",
                    "max_messages",
                    "max_age_secs",
                    "duplicate_window_secs",
                    "replicas",
                    "storage",
                    "files_bucket",
                    "ack_timeout_ms",
                ],
                true,
            ),
            other => {
                errs.push(
                    file,
                    &t.key("type"),
                    format!("a supported sink type (jsonl, sqlite, postgresql, syslog, nats), found \"{other}\""),
                );
                return None;
            }
        };
        let known: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
        t.deny_unknown(&known, errs);
        if matches!(transport, TransportSpec::Sqlite { .. } | TransportSpec::Postgres { .. }) && !encoder.is_json() {
            errs.push(
                file,
                &t.key("format"),
                "a JSON encoder (databases store JSON documents)",
            );
        }
        let default_spool: u64 = if network { 64 << 20 } else { 0 };
        let ms = |k: &str, d: u64, errs: &mut Errors| {
            t.int(k, 1, 3_600_000, false, errs)
                .map_or(Duration::from_millis(d), |v| Duration::from_millis(v as u64))
        };
        let delivery = Delivery {
            batch: t
                .int("batch", 1, 100_000, false, errs)
                .map_or(if network { 500 } else { 4096 }, |v| v as usize),
            retry_min: ms("retry_min_ms", 100, errs),
            retry_max: ms("retry_max_ms", 30_000, errs),
            spool_bytes: t
                .int("spool_bytes", 0, i64::MAX, false, errs)
                .map_or(default_spool, |v| v as u64),
        };
        let spec = SinkSpec {
            name: String::new(),
            encoder,
            transport,
            delivery,
        };
        let name = match t.str("name", false, errs) {
            Some(n) => n.to_owned(),
            None => format!("{kind}:{}", spec.destination().rsplit(' ').next().unwrap_or_default()),
        };
        Some(SinkSpec { name, ..spec })
    }

    fn nats(t: &Table<'_>, errs: &mut Errors) -> Option<crate::nats::NatsSpec> {
        let file = t.file;
        let name_ok = |s: &str| !s.is_empty() && s.len() <= 64 && crate::nats::token(s) == s;
        let stream = t.str("stream", false, errs).unwrap_or("CONPOT").to_owned();
        if !name_ok(&stream) {
            errs.push(
                file,
                &t.key("stream"),
                "a stream name of 1 to 64 characters without `.`, `*`, `>` or blanks",
            );
        }
        let prefix = t.str("subject_prefix", false, errs).unwrap_or("conpot").to_owned();
        if prefix.is_empty() || prefix.len() > 128 || prefix.split('.').any(|p| crate::nats::token(p) != p) {
            errs.push(
                file,
                &t.key("subject_prefix"),
                "subject tokens separated by `.` (no wildcards or blanks)",
            );
        }
        let files_bucket = match t.str("files_bucket", false, errs).unwrap_or("conpot-files") {
            "" => None,
            b if name_ok(b) => Some(b.to_owned()),
            _ => {
                errs.push(
                    file,
                    &t.key("files_bucket"),
                    "a bucket name without `.`, `*`, `>` or blanks (\"\" for none)",
                );
                None
            }
        };
        let memory = match t.str("storage", false, errs).unwrap_or("file") {
            "file" => false,
            "memory" => true,
            other => {
                errs.push(file, &t.key("storage"), format!("file or memory, found \"{other}\""));
                false
            }
        };
        let secs = |k: &str, d: u64, errs: &mut Errors| {
            t.int(k, 0, 100 * 366 * 86_400, false, errs)
                .map_or(Duration::from_secs(d), |v| Duration::from_secs(v as u64))
        };
        let limits = crate::nats::StreamLimits {
            max_bytes: t.int("max_bytes", -1, i64::MAX, false, errs).unwrap_or(-1),
            max_messages: t.int("max_messages", -1, i64::MAX, false, errs).unwrap_or(-1),
            max_age: secs("max_age_secs", 0, errs),
            duplicate_window: secs("duplicate_window_secs", 600, errs),
            replicas: t.int("replicas", 1, 5, false, errs).unwrap_or(1) as usize,
            memory,
        };
        Some(crate::nats::NatsSpec {
            url: t.str("url", false, errs).unwrap_or("nats://127.0.0.1:4222").to_owned(),
            user: t.str("user", false, errs).map(str::to_owned),
            password: t.str("password", false, errs).map(str::to_owned),
            token: t.str("token", false, errs).map(str::to_owned),
            stream,
            subject_prefix: prefix,
            limits,
            files_bucket,
            ack_timeout: Duration::from_millis(
                t.int("ack_timeout_ms", 100, 600_000, false, errs).unwrap_or(5000) as u64
            ),
        })
    }

    fn syslog(t: &Table<'_>, errs: &mut Errors) -> Option<SyslogSpec> {
        let file = t.file;
        let protocol = match t.str("protocol", false, errs).unwrap_or("udp") {
            "udp" => SyslogProtocol::Udp,
            "tcp" => SyslogProtocol::Tcp,
            "unix" => SyslogProtocol::Unix,
            other => {
                errs.push(file, &t.key("protocol"), format!("udp, tcp or unix, found \"{other}\""));
                return None;
            }
        };
        let framing = match t.str("framing", false, errs).unwrap_or("rfc5424") {
            "rfc5424" => SyslogFormat::Rfc5424,
            "rfc3164" => SyslogFormat::Rfc3164,
            other => {
                errs.push(
                    file,
                    &t.key("framing"),
                    format!("rfc5424 or rfc3164, found \"{other}\""),
                );
                return None;
            }
        };
        let fac = t.str("facility", false, errs).unwrap_or("local0");
        let facility = FACILITIES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(fac))
            .map(|(_, v)| *v)
            .unwrap_or_else(|| {
                errs.push(
                    file,
                    &t.key("facility"),
                    format!("a facility name (local0 ... local7, user, daemon, ...), found \"{fac}\""),
                );
                16
            });
        let sev = t.str("severity", false, errs).unwrap_or("info");
        let severity = SEVERITIES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(sev))
            .unwrap_or_else(|| {
                errs.push(
                    file,
                    &t.key("severity"),
                    format!("one of {}, found \"{sev}\"", SEVERITIES.join(", ")),
                );
                6
            }) as u8;
        let app_name = t.str("app_name", false, errs).unwrap_or("conpot").to_owned();
        if app_name.is_empty() || app_name.len() > 48 || !app_name.bytes().all(|b| b.is_ascii_graphic()) {
            errs.push(file, &t.key("app_name"), "1 to 48 printable ASCII characters");
        }
        let (host, port, path) = match protocol {
            SyslogProtocol::Unix => (
                String::new(),
                0,
                PathBuf::from(t.str("path", false, errs).unwrap_or("/dev/log")),
            ),
            _ => (
                t.str("host", false, errs).unwrap_or("localhost").to_owned(),
                t.int("port", 1, 65535, false, errs).unwrap_or(514) as u16,
                PathBuf::new(),
            ),
        };
        Some(SyslogSpec {
            protocol,
            host,
            port,
            path,
            framing,
            facility,
            severity,
            app_name,
            max_message: t.int("max_message", 480, 1 << 20, false, errs).unwrap_or(8192) as usize,
        })
    }
}

/// Reads every sink of a configuration; the errors of all of them together.
pub fn parse_all(tables: &[SinkTable]) -> Result<Vec<SinkSpec>, Vec<TemplateError>> {
    let mut specs = Vec::new();
    let mut errs = Vec::new();
    for t in tables {
        match SinkSpec::parse(t) {
            Ok(s) => specs.push(s),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() { Ok(specs) } else { Err(errs) }
}
