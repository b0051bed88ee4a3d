//! The whole benchmark: the bare responder's ceiling, then conpot under the same loads.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::{self, Report};
use crate::proc_info::rss_mb;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    s7: Option<SocketAddr>,
    snmp: Option<SocketAddr>,
    ftp: Option<SocketAddr>,
    tftp: Option<SocketAddr>,
    ready: Duration,
    /// Every `listening NAME tcp ADDR` line read before the marker: the TCP listeners.
    pub(crate) tcp: Vec<SocketAddr>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` and waits for a line with `marker` followed by the listening address;
/// conpot's S7 listener is picked up when `with_s7` (its line comes after Modbus).
pub(crate) fn spawn(mut cmd: Command, marker: &str, with_s7: bool) -> Result<Server, String> {
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (mut addr, mut s7, mut snmp, mut ftp, mut tftp) = (None, None, None, None, None);
    let mut tcp = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["listening", _, "tcp", a, ..] = words.as_slice()
            && let Ok(a) = a.parse::<SocketAddr>()
        {
            tcp.push(a);
        }
        if let Some(rest) = line.strip_prefix("listening s7comm tcp ") {
            s7 = rest.trim().parse::<SocketAddr>().ok();
        }
        if let Some(rest) = line
            .strip_prefix("listening snmp udp ")
            .or_else(|| line.strip_prefix("bare snmp udp "))
        {
            snmp = rest.trim().parse::<SocketAddr>().ok();
        }
        if let Some(rest) = line.strip_prefix("listening ftp tcp ") {
            ftp = rest.trim().parse::<SocketAddr>().ok();
        }
        if let Some(rest) = line.strip_prefix("listening tftp udp ") {
            tftp = rest.trim().parse::<SocketAddr>().ok();
        }
        if let Some(rest) = line.strip_prefix(marker) {
            addr = Some(rest.trim().parse::<SocketAddr>().map_err(|e| format!("{rest}: {e}"))?);
        }
        if let Some(a) = addr
            && (!with_s7 || (s7.is_some() && snmp.is_some() && ftp.is_some() && tftp.is_some()))
        {
            // Ready means accepting connections.
            while std::net::TcpStream::connect(a).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
            return Ok(Server {
                child,
                addr: a,
                s7,
                snmp,
                ftp,
                tftp,
                ready: t.elapsed(),
                tcp,
            });
        }
    }
    Err(format!("server exited before printing `{marker}`"))
}

/// Runs the suite; prints a Markdown table. Returns the exit code.
pub async fn run(conpot: &str, duration: Duration) -> i32 {
    let dir = std::env::temp_dir().join(format!("conpot-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let config = dir.join("bench.toml");
    let events = dir.join("events.jsonl");
    let cfg = format!(
        "[sensor]\nid = \"bench\"\nstate_dir = \"{}\"\n[limits]\nmax_connections = 100000\nmax_connections_per_ip = 100000\nudp_answers_per_source = 10000000\nevent_source_share = 100\n[[sinks]]\ntype = \"jsonl\"\npath = \"{}\"\nformat = \"native\"\n",
        dir.join("state").display(),
        events.display()
    );
    if let Err(e) = std::fs::write(&config, cfg) {
        eprintln!("{e}");
        return 1;
    }
    // The embedded default persona with the files the transfer loads fetch.
    let template = dir.join("template");
    let text = format!(
        "{}\n[[filesystem.entries]]\npath = \"/flash/log/bench_4k.bin\"\ncontent = \"{}\"\n\n[[filesystem.entries]]\npath = \"/flash/log/bench_1m.bin\"\ncontent = \"{}\"\n",
        include_str!("../../../templates/default/template.toml"),
        "x".repeat(4096),
        "y".repeat(1 << 20)
    );
    if let Err(e) =
        std::fs::create_dir_all(&template).and_then(|()| std::fs::write(template.join("template.toml"), text))
    {
        eprintln!("{e}");
        return 1;
    }
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };

    let mut bare_cmd = Command::new(&me);
    bare_cmd.args(["bare", "--listen", "127.0.0.1:0"]);
    let bare = match spawn(bare_cmd, "bare responder on ", false) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bare responder: {e}");
            return 1;
        }
    };
    let bare_modbus = load::modbus(bare.addr, 16, duration).await;
    println!("{}", bare_modbus.summary());
    let bare_connect = load::connect(bare.addr, 16, duration).await;
    println!("{}", bare_connect.summary());
    let bare_snmp = match bare.snmp {
        Some(addr) => {
            let r = load::snmp(addr, 32, duration).await;
            println!("bare {}", r.summary());
            Some(r)
        }
        None => None,
    };
    drop(bare);

    let conpot = std::fs::canonicalize(conpot).unwrap_or_else(|_| conpot.into());
    let mut cmd = Command::new(conpot);
    // The load runs wherever the operator runs it, root included.
    cmd.env("CONPOT_ALLOW_ROOT", "1");
    cmd.args([
        "-c",
        &config.to_string_lossy(),
        "-t",
        &template.to_string_lossy(),
        "--listen-host",
        "127.0.0.1",
        "--port",
        "modbus=0",
        "--port",
        "s7comm=0",
        "--port",
        "snmp=0",
        "--port",
        "ftp=0",
        "--port",
        "tftp=0",
        "-q",
    ]);
    cmd.current_dir(&dir);
    let server = match spawn(cmd, "listening modbus tcp ", true) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("conpot: {e}");
            return 1;
        }
    };
    let pid = server.child.id();
    let ready_ms = server.ready.as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = rss_mb(pid).unwrap_or(f64::NAN);
    println!("conpot ready in {ready_ms:.1} ms; idle RSS {idle_rss:.1} MB");
    let modbus = load::modbus(server.addr, 16, duration).await;
    println!("{}", modbus.summary());
    let loaded_rss = rss_mb(pid).unwrap_or(f64::NAN);
    let connect = load::connect(server.addr, 16, duration).await;
    println!("{}", connect.summary());
    let s7 = match server.s7 {
        Some(addr) => {
            let r = load::s7(addr, 16, duration).await;
            println!("{}", r.summary());
            Some(r)
        }
        None => None,
    };
    let snmp = match server.snmp {
        Some(addr) => {
            let r = load::snmp(addr, 32, duration).await;
            println!("{}", r.summary());
            Some(r)
        }
        None => None,
    };
    let ftp = match server.ftp {
        Some(addr) => {
            let r = crate::transfer::ftp(addr, 16, duration, "log/bench_4k.bin".into()).await;
            println!("{}", r.summary());
            Some(r)
        }
        None => None,
    };
    let tftp = match server.tftp {
        Some(addr) => {
            let (r, bytes) = crate::transfer::tftp(addr, 4, duration, "log/bench_1m.bin".into(), 1428, 8).await;
            println!("{}", r.summary());
            Some((r, bytes))
        }
        None => None,
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = load::idle(server.addr, 10_000, pid).await;
    match &idle {
        Ok((n, mb)) => println!("idle: held {n} connections, +{mb:.1} MB"),
        Err(e) => println!("idle: {e}"),
    }
    let events_written = std::fs::read_to_string(&events).map(|t| t.lines().count()).unwrap_or(0);
    drop(server);

    let ratio = modbus.rate() / bare_modbus.rate().max(1.0) * 100.0;
    println!();
    println!("| measure | bare responder | conpot-rs | target |");
    println!("|---|---|---|---|");
    println!(
        "| Modbus requests/s, 16 connections, events on | {:.0} | {:.0} ({ratio:.0}% of bare) | >= 80% of bare |",
        bare_modbus.rate(),
        modbus.rate()
    );
    println!(
        "| p50 / p99 latency (ms) | {:.3} / {:.3} | {:.3} / {:.3} | p99 < 2 ms |",
        bare_modbus.percentile_ms(0.5),
        bare_modbus.percentile_ms(0.99),
        modbus.percentile_ms(0.5),
        modbus.percentile_ms(0.99)
    );
    println!(
        "| new connections/s, one request each | {:.0} | {:.0} | >= 7,000 |",
        bare_connect.rate(),
        connect.rate()
    );
    match &idle {
        Ok((n, mb)) => println!("| RSS added by {n} idle connections | - | {mb:.1} MB | < 40 MB |"),
        Err(e) => println!("| idle connections | - | failed: {e} | 10,000 < 40 MB |"),
    }
    println!("| ready (spawn to accepting) | - | {ready_ms:.1} ms | < 100 ms |");
    println!("| RSS at idle / after load | - | {idle_rss:.1} / {loaded_rss:.1} MB | < 20 MB idle |");
    let s7_errors = s7.as_ref().map_or(0, |r| r.errors);
    if let Some(r) = &snmp {
        let bare_rate = bare_snmp.as_ref().map_or(0.0, Report::rate);
        println!(
            "| SNMP v2c GET answers/s (32 outstanding, budget raised), events on | {bare_rate:.0} | {:.0} ({:.0}% of bare, p99 {:.2} ms) | >= 80% of bare |",
            r.rate(),
            r.rate() / bare_rate.max(1.0) * 100.0,
            r.percentile_ms(0.99)
        );
    }
    if let Some(r) = &s7 {
        println!(
            "| S7 sessions/s (connect, COTP, setup, SZL read, close) | - | {:.0} (p99 {:.2} ms) | >= 5,000 |",
            r.rate(),
            r.percentile_ms(0.99)
        );
    }
    if let Some(r) = &ftp {
        println!(
            "| FTP sessions/s (login, LIST, RETR 4 KiB, QUIT), 16 workers | - | {:.0} (p99 {:.2} ms) | >= 2,000 |",
            r.rate(),
            r.percentile_ms(0.99)
        );
    }
    if let Some((r, bytes)) = &tftp {
        println!(
            "| TFTP 1 MiB RRQ, 4 parallel (blksize 1428, windowsize 8) | - | {:.1} MiB/s, {:.1} transfers/s | - |",
            *bytes as f64 / r.elapsed.as_secs_f64().max(1e-9) / 1_048_576.0,
            r.rate()
        );
    }
    let ftp_errors = ftp.as_ref().map_or(0, |r| r.errors);
    println!(
        "| errors | {} | {} | 0 |",
        bare_modbus.errors + bare_connect.errors,
        modbus.errors + connect.errors + s7_errors + ftp_errors
    );
    println!("| events written | - | {events_written} | every request |");
    let _ = std::fs::remove_dir_all(&dir);
    i32::from(modbus.errors + connect.errors + s7_errors > 0 || idle.is_err() || s7.is_none())
}
