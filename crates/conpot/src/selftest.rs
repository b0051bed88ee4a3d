//! `conpot selftest`: serves a template in this process on loopback ports and drives each
//! of its protocols with a built-in client, then prints what answered, so an operator sees
//! a template work (and with which identity) before exposing it.
//!
//! Nothing is written: the persona is drawn for this run alone (or read from a state folder
//! given with `--state-dir`), events go to a queue nobody reads, and nothing is captured.

mod probes;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conpot_core::config::Limits;
use conpot_core::event::Transport;
use conpot_core::persona::Persona;
use conpot_core::template::ProtocolSection;

use crate::setup;

/// How long one probe may take before its protocol counts as silent.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Options of `conpot selftest`.
#[derive(Debug, clap::Args)]
pub struct SelftestArgs {
    /// Template: an embedded name or a folder (default: the embedded `default`).
    #[arg(short = 't', long = "template", value_name = "NAME|DIR")]
    pub template: Option<String>,
    /// Address to serve on (default 127.0.0.1).
    #[arg(long = "listen-host", value_name = "ADDR")]
    pub listen_host: Option<IpAddr>,
    /// Serve one protocol on this port instead of a free one, e.g. `modbus=5020`.
    #[arg(long = "port", value_name = "PROTOCOL=PORT", value_parser = crate::cli::parse_port)]
    pub ports: Vec<(String, u16)>,
    /// Use the persona kept in this state folder (created there if missing) instead of
    /// one drawn for this run.
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Protocol section name.
    pub protocol: String,
    /// `tcp` or `udp`.
    pub transport: &'static str,
    /// Where it was served (as asked when it could not be bound).
    pub address: SocketAddr,
    /// Whether the protocol answered its client.
    pub answered: bool,
    /// Time from the first byte sent to the answer.
    pub latency: Option<Duration>,
    /// What came back, or why nothing did.
    pub summary: String,
}

/// Runs the command; returns the exit code (0 when every protocol answered).
pub fn main(args: &SelftestArgs) -> i32 {
    let template = match setup::load_template(args.template.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if let Err(e) = setup::check_port_names(&template, args.ports.iter().map(|(n, _)| n.as_str()), "--port") {
        eprintln!("{e}");
        return 1;
    }
    if let Err(e) = setup::coverage(&template) {
        eprintln!("{e}");
        return 1;
    }
    let persona = match &args.state_dir {
        Some(dir) => match Persona::load_or_create(&template.persona, &template.name, &template.persona_key(), dir) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("cannot keep the persona in {}: {e}", dir.display());
                return 1;
            }
        },
        None => template
            .persona
            .generate(&template.name, conpot_core::rng::entropy_u64()),
    };
    let built = match setup::build(&template, persona, 1) {
        Ok(b) => b,
        Err(errs) => {
            eprintln!("template errors:\n{}", setup::format_errors(&errs));
            return 1;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return 1;
        }
    };
    let host = args.listen_host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let rows = runtime.block_on(drive(&built, &template.network, host, &args.ports));
    let p = &built.device.persona;
    println!(
        "selftest of template `{}` ({} {}), persona {}",
        template.name,
        template.meta.vendor,
        template.meta.unit,
        p.label()
    );
    println!("network personality: {}", template.network.describe());
    print!("{}", table(&rows));
    let tls: Vec<String> = crate::tls_setup::listeners(&template)
        .into_iter()
        .map(|l| l.name)
        .collect();
    if !tls.is_empty() {
        println!("not probed (TLS listeners): {}", tls.join(", "));
    }
    let failed = rows.iter().filter(|r| !r.answered).count();
    if failed == 0 {
        println!("all {} protocol listeners answered", rows.len());
        0
    } else {
        println!("{failed} of {} protocol listeners did not answer", rows.len());
        1
    }
}

/// Binds, serves and probes every enabled protocol of `template`.
async fn drive(
    built: &setup::Built,
    network: &conpot_core::template::network::NetworkPersonality,
    host: IpAddr,
    ports: &[(String, u16)],
) -> Vec<Row> {
    let (sensor, _events) = conpot_net::Sensor::standalone(Limits::default(), Duration::from_secs(30), None, 4096);
    let udp_limits = conpot_net::UdpLimits {
        answers_per_source: 1000,
        amplification: 100,
        max_sessions: 1024,
    };
    for (sec, _) in built.services.iter().filter(|(sec, _)| sec.name == "serial") {
        crate::serial_line::start(&sensor, sec, &built.device);
    }
    let mut rows = Vec::new();
    let mut targets: Vec<(ProtocolSection, bool, SocketAddr, usize)> = Vec::new();
    for (section, service) in &built.services {
        let Some(transports) = crate::registry::transports(&section.name) else {
            continue;
        };
        let port = ports
            .iter()
            .rev()
            .find(|(n, _)| *n == section.name)
            .map_or(0, |(_, p)| *p);
        for &transport in transports {
            let addr = SocketAddr::new(host, port);
            let udp = transport == Transport::Udp;
            let row = Row {
                protocol: section.name.clone(),
                transport: if udp { "udp" } else { "tcp" },
                address: addr,
                answered: false,
                latency: None,
                summary: String::new(),
            };
            match conpot_net::bind(addr, transport) {
                Ok(bound) => {
                    // The same stack as `conpot` itself: the template's network personality.
                    for (option, e) in conpot_net::personality::apply(&bound, network) {
                        eprintln!("{}: cannot set the network personality's {option}: {e}", section.name);
                    }
                    let local = bound.local_addr().unwrap_or(addr);
                    conpot_net::serve(Arc::clone(&sensor), bound, Arc::clone(service), udp_limits);
                    targets.push((section.clone(), udp, local, rows.len()));
                    rows.push(Row { address: local, ..row });
                }
                Err(e) => {
                    let mut why = format!("cannot listen: {e}");
                    if e.kind() == std::io::ErrorKind::AddrInUse {
                        why.push_str(&format!(" (choose another with --port {}=PORT)", section.name));
                    }
                    rows.push(Row { summary: why, ..row });
                }
            }
        }
    }
    // Probes run one at a time, so each latency is its own.
    for (section, udp, addr, i) in targets {
        let start = Instant::now();
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, probes::probe(&section, udp, addr)).await;
        let elapsed = start.elapsed();
        let Some(row) = rows.get_mut(i) else { continue };
        match outcome {
            Ok(Ok(summary)) => {
                row.answered = true;
                row.latency = Some(elapsed);
                row.summary = summary;
            }
            Ok(Err(why)) => row.summary = why,
            Err(_) => row.summary = format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        }
    }
    sensor.shutdown.cancel();
    rows
}

/// The table, one line per listener, columns padded to their widest cell.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.protocol.clone(),
                r.transport.to_owned(),
                r.address.to_string(),
                if r.answered { "yes" } else { "NO" }.to_owned(),
                r.latency
                    .map_or_else(|| "-".to_owned(), |l| format!("{:.1} ms", l.as_secs_f64() * 1000.0)),
                truncate(&r.summary, 160),
            ]
        })
        .collect();
    let head = ["PROTOCOL", "TRANSPORT", "ADDRESS", "ANSWERED", "LATENCY", "SUMMARY"].map(str::to_owned);
    let mut widths = head.clone().map(|h| h.len());
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in std::iter::once(&head).chain(&cells) {
        let mut l = String::new();
        for (i, (cell, w)) in line.iter().zip(widths).enumerate() {
            if i + 1 == line.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns_and_marks_silence() {
        let rows = [
            Row {
                protocol: "modbus".into(),
                transport: "tcp",
                address: "127.0.0.1:5020".parse().unwrap(),
                answered: true,
                latency: Some(Duration::from_micros(1500)),
                summary: "unit 255 HR0=7".into(),
            },
            Row {
                protocol: "snmp".into(),
                transport: "udp",
                address: "127.0.0.1:161".parse().unwrap(),
                answered: false,
                latency: None,
                summary: "cannot listen: Address in use".into(),
            },
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("modbus    tcp        127.0.0.1:5020  yes       1.5 ms   unit 255 HR0=7"));
        assert!(lines[2].contains("  NO  ") && lines[2].ends_with("cannot listen: Address in use"));
    }

    #[test]
    fn truncate_keeps_short_text() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdefgh", 6), "abc...");
    }
}
