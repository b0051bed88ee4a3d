//! A heartbeat file for health checks where no network probe fits (a container image with
//! nothing but the binary): the running sensor rewrites `heartbeat` in its state folder from
//! its runtime every few seconds, and `conpot health` says whether it is fresh.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often the sensor beats.
pub const PERIOD: Duration = Duration::from_secs(5);

/// The heartbeat file of a state folder.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("heartbeat")
}

/// Writes the heartbeat: the time and the process id, replaced atomically.
pub fn beat(state_dir: &Path, now: SystemTime) -> std::io::Result<()> {
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let tmp = state_dir.join("heartbeat.tmp");
    std::fs::write(&tmp, format!("{secs} {}\n", std::process::id()))?;
    std::fs::rename(tmp, path(state_dir))
}

/// Exit code of `conpot health`: 0 when the heartbeat is younger than `max_age`, else 1
/// with the reason on stderr.
pub fn check(state_dir: &Path, max_age: Duration, now: SystemTime) -> i32 {
    let p = path(state_dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("unhealthy: no heartbeat at {} ({e})", p.display());
            return 1;
        }
    };
    let Some(secs) = text.split_whitespace().next().and_then(|s| s.parse::<u64>().ok()) else {
        eprintln!("unhealthy: unreadable heartbeat at {}", p.display());
        return 1;
    };
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let age = now.duration_since(at).unwrap_or_default();
    if age > max_age {
        eprintln!("unhealthy: last heartbeat {} s ago", age.as_secs());
        return 1;
    }
    println!("healthy: heartbeat {} s ago", age.as_secs());
    0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fresh_stale_and_missing_heartbeats() {
        let dir = std::env::temp_dir().join(format!("conpot-health-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let now = SystemTime::now();
        assert_eq!(check(&dir, Duration::from_secs(30), now), 1, "missing");
        beat(&dir, now).unwrap();
        assert_eq!(check(&dir, Duration::from_secs(30), now + Duration::from_secs(10)), 0);
        assert_eq!(
            check(&dir, Duration::from_secs(30), now + Duration::from_secs(40)),
            1,
            "stale"
        );
        std::fs::write(path(&dir), "garbage").unwrap();
        assert_eq!(check(&dir, Duration::from_secs(30), now), 1, "unreadable");
    }
}
