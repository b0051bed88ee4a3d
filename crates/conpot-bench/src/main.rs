//! Load generator for conpot-rs. Modes: `modbus` (back-to-back Read Holding Registers on
//! C connections), `connect` (new connection per request), `idle` (hold N idle
//! connections and measure the server's memory), `bare` (the reference responder: a
//! fixed Modbus reply without parsing or logging), `startup` (time to first accepted
//! connection and idle memory), `telnet` (whole console sessions: login, three commands,
//! logout), `rtu` (Modbus RTU over TCP to the serial device server), `kmp` (Kamstrup
//! GetRegister on C connections), `ftp` (whole anonymous
//! FTP sessions with a listing and a download), `tftp` (parallel TFTP downloads with
//! options), `enip` (whole EtherNet/IP sessions), `iec104` (station interrogations on
//! persistent connections), `tls-handshakes` (new full TLS handshakes), `https` (keep-alive
//! GETs over TLS), `proxy` (proxied Modbus against direct Modbus in one run), `personas` (N
//! devices in one process: start time and idle memory), and `suite`
//! (the Modbus, S7, SNMP, FTP and TFTP loads, bare responder vs conpot).
//! Traffic goes to loopback only.

mod drive;
mod iec104;
mod load;
mod personas;
mod proc_info;
mod proxy;
mod suite;
mod tls;
mod transfer;
mod udp;

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
    /// C keep-alive connections, each sending `GET PATH` back to back for D seconds.
    Http {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:8800")]
        target: SocketAddr,
        /// The page requested.
        #[arg(long, default_value = "/Portal0000.htm")]
        path: String,
        /// Concurrent connections.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
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
    /// C connections, each started once and running IEC 104 station interrogations
    /// (C_IC_NA_1 at the broadcast address, every answer to the termination) for D seconds.
    Iec104 {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:2404")]
        target: SocketAddr,
        /// Concurrent connections.
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
    /// C workers, each running whole Telnet sessions (login, 3 commands, logout) for D seconds.
    Telnet {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:2323")]
        target: SocketAddr,
        /// Concurrent workers.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
        /// User to log in as.
        #[arg(long, default_value = "admin")]
        user: String,
        /// Its password (the default template's is `Siemens-<hostname of the persona>`).
        #[arg(long)]
        password: String,
    },
    /// C connections, each sending Kamstrup KMP GetRegister requests back to back for D
    /// seconds (kamstrup helper).
    Kmp {
        /// Meter address (loopback).
        #[arg(long, default_value = "127.0.0.1:1025")]
        target: SocketAddr,
        /// Concurrent connections.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
    /// C connections, each sending Modbus RTU-over-TCP requests back to back for D seconds.
    Rtu {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:4001")]
        target: SocketAddr,
        /// Concurrent connections.
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
    /// C workers, each running whole FTP sessions (anonymous login, LIST, RETR, QUIT, each
    /// transfer over its own passive data connection) for D seconds.
    Ftp {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:2121")]
        target: SocketAddr,
        /// Concurrent workers.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
        /// The file to download.
        #[arg(long, default_value = "config/station.cfg")]
        file: String,
    },
    /// P parallel TFTP downloads of a file, back to back for D seconds.
    Tftp {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:6969")]
        target: SocketAddr,
        /// Transfers at once.
        #[arg(short, long, default_value_t = 4)]
        parallel: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
        /// The file to download.
        #[arg(long, default_value = "config/station.cfg")]
        file: String,
        /// Block size asked for.
        #[arg(long, default_value_t = 1428)]
        blksize: usize,
        /// Window size asked for (RFC 7440).
        #[arg(long, default_value_t = 8)]
        windowsize: u16,
    },
    /// IPMI Get Channel Authentication Capabilities with C requests outstanding.
    IpmiCaps {
        /// BMC address (loopback).
        #[arg(long, default_value = "127.0.0.1:623")]
        target: SocketAddr,
        /// Requests in flight.
        #[arg(short, long, default_value_t = 32)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
    /// Whole RMCP+ logins (suite 17) by C workers, each from its own port.
    Rmcpp {
        /// BMC address (loopback).
        #[arg(long, default_value = "127.0.0.1:623")]
        target: SocketAddr,
        /// Concurrent workers.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
        /// User name.
        #[arg(long, default_value = "ADMIN")]
        user: String,
        /// Password.
        #[arg(long, default_value = "ADMIN")]
        password: String,
    },
    /// BACnet ReadProperty of the device's name with C requests outstanding.
    Bacnet {
        /// Device address (loopback).
        #[arg(long, default_value = "127.0.0.1:47808")]
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
    /// W workers, each making new connections with a full TLS handshake (no resumption)
    /// and closing them, for D seconds.
    TlsHandshakes {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:8443")]
        target: SocketAddr,
        /// Concurrent workers.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
        /// TLS 1.2 instead of 1.3.
        #[arg(long)]
        tls12: bool,
    },
    /// C keep-alive TLS 1.3 connections, each sending `GET PATH` back to back for D seconds.
    Https {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:8443")]
        target: SocketAddr,
        /// The page requested.
        #[arg(long, default_value = "/Portal0000.htm")]
        path: String,
        /// Concurrent connections.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
        #[arg(short, long, default_value_t = 10)]
        duration: u64,
    },
    /// The bare reference responder.
    Bare {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:5021")]
        listen: SocketAddr,
    },
    /// Proxied Modbus against direct Modbus: a conpot device and a conpot proxy in front of
    /// it, the same load on each in turn (exit 2 if the proxy keeps under 0.7 of the rate).
    Proxy {
        /// The conpot binary (build it with --release).
        #[arg(long, default_value = "target/release/conpot")]
        conpot: String,
        /// Concurrent connections.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds per run (four runs).
        #[arg(short, long, default_value_t = 5)]
        duration: u64,
        /// The device's response time in milliseconds (0: answers at once).
        #[arg(long, default_value_t = 0)]
        device_ms: u32,
    },
    /// N personas in one conpot process (the embedded templates in turn on 127.0.0.10
    /// onwards, their own ports: run as root): time to every listener accepting and idle
    /// memory, at first start and at a restart.
    Personas {
        /// The conpot binary (build it with --release).
        #[arg(long, default_value = "target/release/conpot")]
        conpot: String,
        /// How many personas.
        #[arg(short = 'n', long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=200))]
        personas: u16,
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
    // guardian (issue 15)
    /// C connections, each asking the tank gauge for its inventory (`SOH I20100 LF`) back
    /// to back for D seconds.
    Guardian {
        /// Server address (loopback).
        #[arg(long, default_value = "127.0.0.1:10001")]
        target: SocketAddr,
        /// Concurrent connections.
        #[arg(short, long, default_value_t = 16)]
        connections: usize,
        /// Seconds to run.
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
            Mode::Http {
                target,
                path,
                connections,
                duration,
            } => {
                let r = load::http(target, &path, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
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
            Mode::Iec104 {
                target,
                connections,
                duration,
            } => {
                let r = iec104::interrogations(target, connections, Duration::from_secs(duration)).await;
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
            Mode::Telnet {
                target,
                connections,
                duration,
                user,
                password,
            } => {
                let r = load::telnet(target, connections, Duration::from_secs(duration), user, password).await;
                println!("{}", r.summary());
                i32::from(r.errors > 0)
            }
            Mode::Kmp {
                target,
                connections,
                duration,
            } => {
                let r = load::kmp(target, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
                i32::from(r.errors > 0 || r.requests == 0)
            }
            Mode::Rtu {
                target,
                connections,
                duration,
            } => {
                let r = load::rtu(target, connections, Duration::from_secs(duration)).await;
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
            Mode::Ftp {
                target,
                connections,
                duration,
                file,
            } => {
                let r = transfer::ftp(target, connections, Duration::from_secs(duration), file).await;
                println!("{}", r.summary());
                i32::from(r.errors > 0 || r.requests == 0)
            }
            Mode::Tftp {
                target,
                parallel,
                duration,
                file,
                blksize,
                windowsize,
            } => {
                let (r, bytes) = transfer::tftp(
                    target,
                    parallel,
                    Duration::from_secs(duration),
                    file,
                    blksize,
                    windowsize,
                )
                .await;
                println!("{}", r.summary());
                println!(
                    "{:.1} MiB/s",
                    bytes as f64 / r.elapsed.as_secs_f64().max(1e-9) / 1_048_576.0
                );
                i32::from(r.requests == 0)
            }
            Mode::IpmiCaps {
                target,
                connections,
                duration,
            } => {
                let d = Duration::from_secs(duration);
                let r = udp::fixed("ipmi auth caps", target, &udp::IPMI_CAPS, connections, d).await;
                println!("{}", r.summary());
                i32::from(r.requests == 0)
            }
            Mode::Rmcpp {
                target,
                connections,
                duration,
                user,
                password,
            } => {
                let r = udp::rmcpp(target, connections, Duration::from_secs(duration), user, password).await;
                println!("{}", r.summary());
                i32::from(r.requests == 0)
            }
            Mode::Bacnet {
                target,
                connections,
                duration,
            } => {
                let d = Duration::from_secs(duration);
                let r = udp::fixed("bacnet read-property", target, &udp::BACNET_RP, connections, d).await;
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
            Mode::TlsHandshakes {
                target,
                connections,
                duration,
                tls12,
            } => {
                let d = Duration::from_secs(duration);
                match tokio::task::spawn_blocking(move || tls::handshakes(target, connections, d, tls12)).await {
                    Ok(Ok(r)) => {
                        println!("{}", r.summary());
                        i32::from(r.errors > 0)
                    }
                    Ok(Err(e)) => {
                        eprintln!("{e}");
                        1
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        1
                    }
                }
            }
            Mode::Https {
                target,
                path,
                connections,
                duration,
            } => {
                let d = Duration::from_secs(duration);
                match tokio::task::spawn_blocking(move || tls::https(target, &path, connections, d)).await {
                    Ok(Ok(r)) => {
                        println!("{}", r.summary());
                        i32::from(r.errors > 0)
                    }
                    Ok(Err(e)) => {
                        eprintln!("{e}");
                        1
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        1
                    }
                }
            }
            Mode::Bare { listen } => match load::bare(listen).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            },
            Mode::Proxy {
                conpot,
                connections,
                duration,
                device_ms,
            } => proxy::run(&conpot, connections, Duration::from_secs(duration), device_ms).await,
            Mode::Suite { conpot, duration } => suite::run(&conpot, Duration::from_secs(duration)).await,
            Mode::Personas { conpot, personas } => personas::run(&conpot, usize::from(personas)),
            // guardian (issue 15)
            Mode::Guardian {
                target,
                connections,
                duration,
            } => {
                let r = load::guardian::inventory(target, connections, Duration::from_secs(duration)).await;
                println!("{}", r.summary());
                i32::from(r.errors > 0)
            }
        }
    });
    std::process::exit(code);
}
