//! Running the `conpot` binary from an integration test: the command (allowed to stay root),
//! every port on 0, the addresses it prints on its `listening <name> <transport> <addr>`
//! lines, SIGTERM and waiting for the exit, the JSON event log, a fresh scratch folder and
//! the servers `tests/servers/start` runs. One copy here instead of one per test file.
//!
//! The helpers panic with the reason when something is off: they serve tests, which cannot
//! go on without the process they start.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus};
use std::time::{Duration, Instant};

/// The protocols of the embedded `default` template: `--port <p>=0` for each of them keeps
/// parallel tests from colliding on fixed ports.
pub const DEFAULT_PROTOCOLS: &[&str] = &["modbus", "s7comm", "snmp", "ftp", "tftp", "http", "https", "telnet"];

/// `conpot` at `bin` (a test passes `env!("CARGO_BIN_EXE_conpot")`), allowed to stay root:
/// the tests run as root in CI, and the privilege drop has its own tests.
pub fn conpot(bin: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(bin);
    c.env("CONPOT_ALLOW_ROOT", "1");
    c
}

/// `--port <p>=0` for every protocol in `protocols`, to pass to `Command::args`.
pub fn zero_ports(protocols: &[&str]) -> Vec<String> {
    protocols
        .iter()
        .flat_map(|p| ["--port".to_owned(), format!("{p}=0")])
        .collect()
}

/// Reads `stdout` until a `listening` line has been seen for each of `wanted` (each a name
/// and transport, `"modbus tcp"`); returns their addresses in that order. Panics when the
/// output ends first.
pub fn listening(stdout: ChildStdout, wanted: &[&str]) -> Vec<SocketAddr> {
    let mut found: Vec<Option<SocketAddr>> = vec![None; wanted.len()];
    let mut lines = BufReader::new(stdout).lines();
    while found.iter().any(Option::is_none) {
        let line = match lines.next() {
            Some(Ok(l)) => l,
            other => panic!("conpot's output ended before it listened on {wanted:?}: {other:?}"),
        };
        let Some(rest) = line.strip_prefix("listening ") else {
            continue;
        };
        for (want, slot) in wanted.iter().zip(found.iter_mut()) {
            if let Some(addr) = rest.strip_prefix(want).and_then(|a| a.strip_prefix(' ')) {
                *slot = Some(addr.parse().unwrap_or_else(|e| panic!("bad address in {line:?}: {e}")));
            }
        }
    }
    found.into_iter().flatten().collect()
}

/// A child process that is killed (SIGKILL) on drop, so a failing test leaves nothing
/// running.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Proc {
    /// Spawns `cmd`; panics with the reason when it cannot be started.
    pub fn spawn(cmd: &mut Command) -> Proc {
        Proc(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Takes the piped stdout (for [`listening`]); panics when it was not piped.
    pub fn stdout(&mut self) -> ChildStdout {
        self.0
            .stdout
            .take()
            .unwrap_or_else(|| panic!("stdout of {} is not piped", self.0.id()))
    }

    /// Sends signal `sig` (`"-TERM"`, `"-HUP"`, `"-KILL"`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {} failed", self.0.id());
    }

    /// Waits up to `timeout` for the process to exit; panics when it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            match self.0.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) => {}
                Err(e) => panic!("waiting for {}: {e}", self.0.id()),
            }
            assert!(Instant::now() < deadline, "process {} did not stop", self.0.id());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then [`Proc::wait_exit`] with `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("-TERM");
        self.wait_exit(timeout)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An empty folder `<tmp>/conpot-<prefix>-<pid>-<name>`, removed first if a former run left
/// it.
pub fn scratch_dir(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("conpot-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
    d
}

/// Every whole line of the JSON lines file at `path`, parsed (a line still being written is
/// left out).
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // Only whole lines: a reader may see the sink's write in progress, up to a page.
    let whole = text.get(..text.rfind('\n').map_or(0, |i| i + 1)).unwrap_or_default();
    whole
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON in {}: {e}: {l}", path.display())))
        .collect()
}

/// The address of a test server from environment variable `var` (set by the env file of
/// `tests/servers/start`). In CI (`CI=true`) a missing one fails the test; elsewhere it is
/// `None` and the test skips itself with a note.
pub fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "{var} is not set: run tests/servers/start and source its env file");
            eprintln!("note: {var} is not set (tests/servers/start); skipping this test");
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn zero_ports_pairs_each_protocol_with_its_flag() {
        assert_eq!(
            zero_ports(&["modbus", "snmp"]),
            ["--port", "modbus=0", "--port", "snmp=0"]
        );
    }

    #[test]
    fn listening_finds_each_wanted_line_in_order_and_skips_the_rest() {
        let mut p = Proc::spawn(
            Command::new("printf")
                .arg("hello\\nlistening snmp udp 127.0.0.1:161\\nlistening modbusx tcp 1.2.3.4:1\\nlistening modbus tcp 127.0.0.1:502\\n")
                .stdout(Stdio::piped()),
        );
        let got = listening(p.stdout(), &["modbus tcp", "snmp udp"]);
        let want: Vec<SocketAddr> = vec!["127.0.0.1:502".parse().unwrap(), "127.0.0.1:161".parse().unwrap()];
        assert_eq!(got, want);
        assert!(p.wait_exit(Duration::from_secs(5)).success());
    }

    #[test]
    fn terminate_stops_a_process_and_reports_the_signal() {
        let mut p = Proc::spawn(Command::new("sleep").arg("30"));
        let status = p.terminate(Duration::from_secs(5));
        assert!(!status.success());
    }

    #[test]
    fn scratch_dir_is_fresh_and_json_lines_reads_it_back() {
        let d = scratch_dir("testkit", "json");
        std::fs::write(d.join("x.jsonl"), "{\"a\":1}\n{\"a\":2}\n").unwrap();
        let v = json_lines(&d.join("x.jsonl"));
        assert_eq!(
            v.iter().map(|e| e["a"].as_i64()).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );
        assert!(
            scratch_dir("testkit", "json")
                .read_dir()
                .map(|mut r| r.next().is_none())
                .unwrap_or(false)
        );
    }
}
