//! Load generator for conpot-rs. Modes: `modbus` (back-to-back Read Holding Registers on
//! C connections), `connect` (new connection per request), `idle` (hold N idle
//! connections and measure the server's memory), `bare` (the reference responder: a
//! fixed Modbus reply without parsing or logging), `startup` (time to first accepted
//! connection and idle memory), and `suite` (all of them, bare responder vs conpot).
//! Traffic goes to loopback only.

mod load;
mod proc_info;
mod suite;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// conpot-rs load generator.
#[derive(Debug, Parser)]
#[command(name = "conpot-bench")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// C connections, each sending Read Holding Registers back to back for D seconds.
    Modbus {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:5020")]
        target: SocketAddr,
        /// Concurrent connections.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
        /// Server process id, to report its memory.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// C workers, each opening a new connection per request for D seconds.
    Connect {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:5020")]
        target: SocketAddr,
        /// Concurrent workers.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
    /// C workers, each running whole EtherNet/IP sessions (RegisterSession, then
    /// Get_Attributes_All of the Identity object) for D seconds.
    Enip {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:44818")]
        target: SocketAddr,
        /// Concurrent workers.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
    /// C workers, each running whole S7 sessions (COTP, setup, one SZL read) for D seconds.
    S7 {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:10201")]
        target: SocketAddr,
        /// Concurrent workers.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
    /// SNMPv2c GET sysDescr.0 with C requests outstanding, for D seconds.
    Snmp {
        /// Agent address (loopback).
        #[arg(long, default_value = "127.0.0.1:16100")]
        target: SocketAddr,
        /// Requests in flight.
        #[arg(short, long, default_value_t = 32)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
    /// Hold N idle connections and report the server's added memory.
    Idle {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:5020")]
        target: SocketAddr,
        /// Connections to hold.
        #[arg(short = 'n', long, default_value_t = 10_000)]
        count: usize,
        /// Server process id.
        #[arg(long)]
        pid: u32,
    },
    /// The bare reference responder.
    Bare {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:5021")]
        listen: SocketAddr,
    },
    /// Run every measurement against the bare responder and a conpot binary.
    Suite {
        /// The conpot binary (build it with --release).
        #[arg(long, default_value = "target/release/conpot")]
        conpot: String,
        /// Seconds per throughput run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
}

fn main() {
    conpot_net::sys::raise_fd_limit();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async move {
        match cli.mode {
            Mode::Modbus {
                target,
                connections,
                duration,
                pid,
            } => {
                let r = load::modbus(target, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
                if let Some(pid) = pid {
                    println!("server RSS: {:.1} MB", proc_info::rss_mb(pid).unwrap_or(f64::NAN));
                }
                i32::from(r.errors > 0)
            }
            Mode::Connect {
                target,
                connections,
                duration,
            } => {
                let r = load::connect(target, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
                i32::from(r.errors > 0)
            }
            Mode::Enip {
                target,
                connections,
                duration,
            } => {
                let r = load::enip(target, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
                i32::from(r.errors > 0)
            }
            Mode::S7 {
                target,
                connections,
                duration,
            } => {
                let r = load::s7(target, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
                i32::from(r.errors > 0)
            }
            Mode::Snmp {
                target,
                connections,
                duration,
            } => {
                let r = load::snmp(target, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
                i32::from(r.requests == 0)
            }
            Mode::Idle { target, count, pid } => match load::idle(target, count, pid).await {
                Ok((held, added)) => {
                    println!("held {held} idle connections; server RSS grew by {added:.1} MB");
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            },
            Mode::Bare { listen } => match load::bare(listen).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            },
            Mode::Suite { conpot, duration } => suite::run(&conpot, Duration::from_secs(duration)).await,
        }
    });
    std::process::exit(code);
}
