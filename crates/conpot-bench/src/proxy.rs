//! Proxied Modbus against direct Modbus in one run: a conpot device (the embedded default
//! persona) and a conpot proxy in front of it (Modbus decoder on), the same load sent to
//! each in turn, twice, so both rates see the same machine state. The proxy must keep at
//! least 0.7 of the direct rate.

use std::process::Command;
use std::time::Duration;

use crate::load;
use crate::suite::spawn;

/// The least proxied/direct ratio accepted.
pub const MIN_RATIO: f64 = 0.7;

fn config(dir: &std::path::Path, name: &str) -> Result<std::path::PathBuf, String> {
    let path = dir.join(format!("{name}.toml"));
    let cfg = format!(
        "[sensor]\nid = \"bench-{name}\"\nstate_dir = \"{}\"\n[limits]\nmax_connections = 100000\nmax_connections_per_ip = 100000\nevent_source_share = 100\n[[sinks]]\ntype = \"jsonl\"\npath = \"{}\"\nformat = \"native\"\n",
        dir.join(format!("state-{name}")).display(),
        dir.join(format!("events-{name}.jsonl")).display()
    );
    std::fs::write(&path, cfg).map_err(|e| e.to_string())?;
    Ok(path)
}

/// Runs the comparison with `connections` clients for `duration` per run; prints the
/// rates and the ratio. Returns the exit code (1 on errors, 2 under [`MIN_RATIO`]).
/// `device_ms`: the device's response time (0: the emulated device answers at once, so the
/// proxy's own cost is all that is measured; a real PLC answers in milliseconds).
pub async fn run(conpot: &str, connections: usize, duration: Duration, device_ms: u32) -> i32 {
    match measure(conpot, connections, duration, device_ms).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("proxy bench: {e}");
            1
        }
    }
}

async fn measure(conpot: &str, connections: usize, duration: Duration, device_ms: u32) -> Result<i32, String> {
    let dir = std::env::temp_dir().join(format!("conpot-bench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let conpot = std::fs::canonicalize(conpot).unwrap_or_else(|_| conpot.into());

    // The embedded default persona, with the device's response time.
    let device_template = dir.join("device-template");
    std::fs::create_dir_all(&device_template).map_err(|e| e.to_string())?;
    let text = include_str!("../../../templates/default/template.toml").replacen(
        "[protocols.modbus]\n",
        &format!("[protocols.modbus]\nresponse_time_ms = [{device_ms}, {device_ms}]\n"),
        1,
    );
    std::fs::write(device_template.join("template.toml"), text).map_err(|e| e.to_string())?;
    let mut device = Command::new(&conpot);
    device.args([
        "-c",
        &config(&dir, "device")?.to_string_lossy(),
        "-t",
        &device_template.to_string_lossy(),
        "--listen-host",
        "127.0.0.1",
        "-q",
    ]);
    for p in ["modbus", "s7comm", "snmp", "ftp", "tftp", "http", "telnet"] {
        device.args(["--port", &format!("{p}=0")]);
    }
    device.current_dir(&dir);
    let device = spawn(device, "listening modbus tcp ", false)?;

    let template = dir.join("proxy-template");
    std::fs::create_dir_all(&template).map_err(|e| e.to_string())?;
    let text = format!(
        "[template]\nunit = \"Proxy\"\nvendor = \"None\"\n[persona]\nvendor = \"None\"\n[protocols.\"proxy.modbus\"]\nport = 0\nupstream = \"{}\"\ndecoder = \"modbus\"\nmax_connections = 1024\n",
        device.addr
    );
    std::fs::write(template.join("template.toml"), text).map_err(|e| e.to_string())?;
    let mut proxy = Command::new(&conpot);
    proxy.args([
        "-c",
        &config(&dir, "proxy")?.to_string_lossy(),
        "-t",
        &template.to_string_lossy(),
        "--listen-host",
        "127.0.0.1",
        "-q",
    ]);
    proxy.current_dir(&dir);
    let proxy = spawn(proxy, "listening proxy.modbus tcp ", false)?;

    let (mut direct, mut proxied, mut errors) = (0.0, 0.0, 0);
    for round in 1..=2 {
        let d = load::modbus(device.addr, connections, duration).await;
        println!("round {round} direct:  {}", d.summary());
        let p = load::modbus(proxy.addr, connections, duration).await;
        println!("round {round} proxied: {}", p.summary());
        direct += d.rate();
        proxied += p.rate();
        errors += d.errors + p.errors;
    }
    drop(proxy);
    drop(device);
    let _ = std::fs::remove_dir_all(&dir);
    let ratio = if direct > 0.0 { proxied / direct } else { 0.0 };
    println!(
        "| Modbus read holding registers, {connections} connections, device {device_ms} ms | direct {:.0} req/s | proxied {:.0} req/s | ratio {ratio:.2} |",
        direct / 2.0,
        proxied / 2.0
    );
    Ok(if errors > 0 {
        1
    } else if ratio < MIN_RATIO {
        2
    } else {
        0
    })
}
