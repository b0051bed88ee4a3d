//! Many personas in one process: N devices (the embedded templates in turn) on
//! 127.0.0.10 onwards, each on its template's own ports; measures the time from spawn to
//! every TCP listener accepting, and the idle resident memory.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::proc_info::rss_mb;
use crate::suite::spawn;

/// The embedded templates served in turn (each on its own address and default ports).
const TEMPLATES: [&str; 7] = [
    "default",
    "kamstrup_382",
    "ipmi",
    "IEC104",
    "guardian_ast",
    "logix",
    "nport",
];

/// The `[[personas]]` configuration of `n` personas with state under `dir`.
fn config(n: usize, dir: &std::path::Path) -> String {
    let mut cfg = format!(
        "[sensor]\nid = \"bench-personas\"\nstate_dir = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [[sinks]]\ntype = \"jsonl\"\npath = \"{}\"\nformat = \"native\"\n",
        dir.join("state").display(),
        dir.join("events.jsonl").display()
    );
    for (i, template) in TEMPLATES.iter().cycle().take(n).enumerate() {
        cfg.push_str(&format!(
            "\n[[personas]]\nname = \"p{i:02}-{}\"\ntemplate = \"{template}\"\nlisten = \"127.0.0.{}\"\n",
            template.to_lowercase(),
            10 + i
        ));
    }
    cfg
}

/// One start of `conpot` with `n` personas: (spawn to every TCP listener accepting, idle
/// RSS in MB, TCP listeners). The state folder is kept between runs of one `dir`, so the
/// second run measures a restart (identities and certificates read, not made).
fn start(conpot: &str, n: usize, dir: &std::path::Path) -> Result<(Duration, f64, usize), String> {
    let path = dir.join("personas.toml");
    std::fs::write(&path, config(n, dir)).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(conpot);
    cmd.arg("-q").arg("-c").arg(&path).env("CONPOT_ALLOW_ROOT", "1");
    let t = Instant::now();
    // The metrics line comes after every persona's listeners.
    let server = spawn(cmd, "listening metrics tcp ", false)?;
    for a in &server.tcp {
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(a).is_err() {
            if Instant::now() > deadline {
                return Err(format!("{a} never accepted"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let ready = t.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let rss = rss_mb(server.child.id()).unwrap_or(f64::NAN);
    Ok((ready, rss, server.tcp.len()))
}

/// Runs the measurement (first start, then a restart on the same state); prints a
/// Markdown table. Returns the exit code.
pub fn run(conpot: &str, n: usize) -> i32 {
    let dir = std::env::temp_dir().join(format!("conpot-bench-personas-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{e}");
        return 1;
    }
    let mut rows = Vec::new();
    let mut code = 0;
    for run in ["first start (identities and certificates made)", "restart (kept state)"] {
        match start(conpot, n, &dir) {
            Ok((ready, rss, listeners)) => {
                let ms = ready.as_secs_f64() * 1000.0;
                rows.push(format!("| {run} | {n} | {listeners} | {ms:.1} ms | {rss:.1} MB |"));
                if ms >= 200.0 || rss.is_nan() || rss >= 60.0 {
                    code = 1;
                }
            }
            Err(e) => {
                eprintln!("{run}: {e}");
                code = 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("| run | personas | TCP listeners | ready (spawn to every listener accepting) | idle RSS |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!("targets: ready < 200 ms, idle RSS < 60 MB");
    code
}

#[cfg(test)]
mod tests {
    #[test]
    fn personas_cycle_through_the_templates_on_their_own_addresses() {
        let cfg = super::config(20, std::path::Path::new("/tmp/x"));
        assert_eq!(cfg.matches("[[personas]]").count(), 20);
        assert!(cfg.contains("name = \"p00-default\"\ntemplate = \"default\"\nlisten = \"127.0.0.10\""));
        assert!(cfg.contains("listen = \"127.0.0.29\""));
        assert!(!cfg.contains("127.0.0.30"));
        assert!(cfg.contains("template = \"nport\""));
    }
}
