//! The service manager's readiness and watchdog protocol (`sd_notify`): under systemd with
//! `Type=notify` the sensor says `READY=1` once every listener is serving, `WATCHDOG=1` at
//! half the `WatchdogSec` interval while its runtime is alive (a hung sensor is restarted),
//! and `STOPPING=1` when it shuts down. Outside systemd (`NOTIFY_SOCKET` unset) it does
//! nothing. Written here rather than taken from a crate: it is one datagram per message.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where the service manager listens, if it does.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace) and
    /// `WATCHDOG_USEC` (honoured only when `WATCHDOG_PID` is unset or ours), then removes them
    /// from the environment, so nothing the sensor might start talks to the manager for it.
    pub fn from_env() -> Notifier {
        let path = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok().and_then(|v| v.parse::<u64>().ok());
        let pid_ok = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|p| p.parse::<u32>().ok() == Some(std::process::id()));
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            remove_env(k);
        }
        let socket = path.and_then(|p| {
            let addr = address(&p)?;
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        Notifier {
            socket,
            watchdog: usec.filter(|&u| u > 0 && pid_ok).map(Duration::from_micros),
        }
    }

    /// Sends one state line; a manager that went away is not an error for the sensor.
    pub fn send(&self, state: &str) {
        if let Some((sock, addr)) = &self.socket
            && let Err(e) = sock.send_to_addr(state.as_bytes(), addr)
        {
            tracing::warn!("cannot notify the service manager ({state}): {e}");
        }
    }

    /// How often to send `WATCHDOG=1`: half the manager's interval, if it set one.
    pub fn watchdog_period(&self) -> Option<Duration> {
        self.socket.as_ref()?;
        self.watchdog.map(|w| w / 2)
    }
}

/// The socket address of `NOTIFY_SOCKET`.
fn address(p: &std::ffi::OsStr) -> Option<std::os::unix::net::SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = p.as_bytes();
    match bytes.split_first() {
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name).ok()
        }
        Some((b'/', _)) => std::os::unix::net::SocketAddr::from_pathname(p).ok(),
        _ => None,
    }
}

/// Removes a variable from the environment.
#[allow(unsafe_code)]
fn remove_env(key: &str) {
    // SAFETY: called from `main` before the runtime or any other thread is started, so no
    // other thread reads the environment at the same time.
    unsafe { std::env::remove_var(key) };
}
