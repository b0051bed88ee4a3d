//! Command-line interface, with Conpot's flags.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// conpot-rs: an ICS/SCADA honeypot that looks like a real industrial device.
#[derive(Debug, Parser)]
#[command(name = "conpot", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Template: the name of an embedded template or a folder holding template.toml or
    /// Conpot's template.xml (default: the embedded `default`).
    #[arg(short = 't', long = "template", value_name = "NAME|DIR")]
    pub template: Option<String>,

    /// Configuration file: TOML (*.toml) or Conpot INI (e.g. testing.cfg).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Also write the text log to this file.
    #[arg(short = 'l', long = "logfile", value_name = "FILE")]
    pub logfile: Option<PathBuf>,

    /// Use the embedded default configuration (any -c is ignored), as Conpot's -f does.
    #[arg(short = 'f', long = "force")]
    pub force: bool,

    /// Folder for temporary files (accepted for Conpot compatibility).
    #[arg(long = "temp_dir", value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Folder of compiled MIBs (accepted for Conpot compatibility).
    #[arg(short = 'm', long = "mibcache", value_name = "DIR")]
    pub mibcache: Option<PathBuf>,

    /// Where the persona and other state are kept (overrides the configuration).
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Bind every protocol to this address instead of the template's.
    #[arg(long = "listen-host", value_name = "ADDR")]
    pub listen_host: Option<std::net::IpAddr>,

    /// Listen on another port for one protocol (0 = any free port), e.g. `modbus=502`.
    #[arg(long = "port", value_name = "PROTOCOL=PORT", value_parser = parse_port)]
    pub ports: Vec<(String, u16)>,

    /// Where a proxy relays to, e.g. `proxy.kamstrup_channel_a=10.0.0.5:1025` (repeatable;
    /// NAME with or without `proxy.`; HOST an IP address or a name resolved at start): the
    /// embedded `proxy` template names no upstream, the operator's device is not in it.
    #[arg(long = "upstream", value_name = "NAME=HOST:PORT", value_parser = crate::upstreams::parse_arg)]
    pub upstreams: Vec<(String, String)>,

    /// Debug logging.
    #[arg(short = 'v', long = "verbose", conflicts_with = "quiet")]
    pub verbose: bool,

    /// Warnings and errors only.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Keep running as root when started as root without `[daemon] user` (otherwise the
    /// sensor refuses; with a user it switches to it once the ports are bound).
    #[arg(long = "allow-root", env = "CONPOT_ALLOW_ROOT", value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_root: bool,

    // --- seccomp (issue 16) ---
    /// Run without the seccomp allow-list (otherwise installed once the ports are bound,
    /// as `[daemon] seccomp` says; on by default).
    #[arg(long = "no-seccomp", env = "CONPOT_NO_SECCOMP", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_seccomp: bool,
    // --- end seccomp ---
    /// A command instead of running the honeypot.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands besides running.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the embedded templates.
    Templates,
    /// Exit 0 if the sensor using this state folder is alive (its heartbeat is fresh): the
    /// health check of a container image that holds nothing but the binary.
    Health {
        /// The running sensor's state folder.
        #[arg(long = "state-dir", value_name = "DIR", default_value = "conpot-state")]
        state_dir: std::path::PathBuf,
        /// Seconds after which a heartbeat is too old.
        #[arg(long = "max-age", default_value_t = 30)]
        max_age: u64,
    },
    /// Work with a template.
    Template {
        /// What to do.
        #[command(subcommand)]
        action: TemplateAction,
    },
    // --- conpot collect (issue 12) ---
    /// Central collector: read every sensor's events from a NATS JetStream stream (a
    /// durable pull consumer several collectors share) and write them to PostgreSQL or
    /// JSON lines, acknowledging each batch only after the write commits.
    Collect(CollectArgs),
    // --- end conpot collect ---
    // --- conpot selftest (issue 16) ---
    /// Serve the template on loopback ports in this process, drive each of its protocols
    /// with a built-in client and print what answered (exit 0 when every one did).
    Selftest(crate::selftest::SelftestArgs),
    // --- end conpot selftest ---
    /// Print the counters of a running sensor (from its `[metrics] listen` endpoint).
    Status {
        /// The endpoint's address (default: `[metrics] listen` of the -c configuration).
        address: Option<String>,
    },
}

// --- conpot collect (issue 12) ---
/// Options of `conpot collect`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["postgres", "jsonl"])))]
pub struct CollectArgs {
    /// NATS server URL(s), comma separated; credentials as `nats://user:pw@host:4222`.
    #[arg(long = "nats", value_name = "URL", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// The stream the sensors publish to (created when missing).
    #[arg(long = "stream", value_name = "NAME", default_value = "CONPOT")]
    pub stream: String,
    /// The sensors' subject prefix (the consumer reads `<prefix>.>`).
    #[arg(long = "subject-prefix", value_name = "PREFIX", default_value = "conpot")]
    pub subject_prefix: String,
    /// Durable consumer name: collectors with the same name share the work.
    #[arg(long = "consumer", value_name = "NAME", default_value = "conpot-collect")]
    pub consumer: String,
    /// Write to this PostgreSQL database (the sink's schema; repeats ignored).
    #[arg(long = "postgres", value_name = "URL")]
    pub postgres: Option<String>,
    /// Append to this JSON-lines file (at least once: a redelivered event may repeat).
    #[arg(long = "jsonl", value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// Most events fetched and written at once.
    #[arg(long = "batch", value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
    /// Seconds before an unacknowledged event is delivered again (to any collector).
    #[arg(long = "ack-wait", value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub ack_wait: u32,
    /// Warnings and errors only.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}
// --- end conpot collect ---

/// Template commands.
#[derive(Debug, Subcommand)]
pub enum TemplateAction {
    /// Validate a template folder (or embedded name) and print every error.
    Check {
        /// Template folder or embedded name.
        path: String,
    },
    // --- template import (issue 16) ---
    /// Convert a Conpot template folder (template.xml and its protocol folders) into a
    /// native TOML template, copying its files and marking Conpot's stock values (TELL).
    Import {
        /// The Conpot template folder.
        dir: PathBuf,
        /// Where to write template.toml and the copied files (default: ./<DIR name>-conpot-rs).
        #[arg(short = 'o', long = "out", value_name = "OUT_DIR")]
        out: Option<PathBuf>,
    },
    // --- end template import ---
}

/// Parses `PROTOCOL=PORT` (`--port`).
pub fn parse_port(s: &str) -> Result<(String, u16), String> {
    let (name, port) = s
        .split_once('=')
        .ok_or_else(|| format!("expected PROTOCOL=PORT, found `{s}`"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{port}` is not a port number"))?;
    Ok((name.to_owned(), port))
}
