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

    /// Debug logging.
    #[arg(short = 'v', long = "verbose", conflicts_with = "quiet")]
    pub verbose: bool,

    /// Warnings and errors only.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// A command instead of running the honeypot.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands besides running.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the embedded templates.
    Templates,
    /// Work with a template.
    Template {
        /// What to do.
        #[command(subcommand)]
        action: TemplateAction,
    },
    /// Print the counters of a running sensor (from its `[metrics] listen` endpoint).
    Status {
        /// The endpoint's address (default: `[metrics] listen` of the -c configuration).
        address: Option<String>,
    },
}

/// Template commands.
#[derive(Debug, Subcommand)]
pub enum TemplateAction {
    /// Validate a template folder (or embedded name) and print every error.
    Check {
        /// Template folder or embedded name.
        path: String,
    },
}

fn parse_port(s: &str) -> Result<(String, u16), String> {
    let (name, port) = s
        .split_once('=')
        .ok_or_else(|| format!("expected PROTOCOL=PORT, found `{s}`"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{port}` is not a port number"))?;
    Ok((name.to_owned(), port))
}
