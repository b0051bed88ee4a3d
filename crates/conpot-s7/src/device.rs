//! The CPU shared by every connection of one persona: identity, memory, blocks, mode,
//! clock and protection. Mode and clock live in the databus, so every protocol sees them.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conpot_core::Value;
use conpot_core::auth::{Auth, Privilege, User};
use conpot_core::databus::Databus;

use crate::blocks::Block;
use crate::memory::Memory;
use crate::szl::{Identity, State};

/// Databus key holding whether the CPU is in RUN.
pub const KEY_RUN: &str = "s7_cpu_run";
/// Databus key holding the clock offset from the host clock, in milliseconds.
pub const KEY_CLOCK_OFFSET: &str = "s7_clock_offset_ms";
/// Databus key holding when the mode last changed (Unix milliseconds).
pub const KEY_MODE_SINCE: &str = "s7_mode_since_ms";
/// Name of the account the section's `protection.password` becomes (it opens the CPU fully).
pub const PROTECTION_ACCOUNT: &str = "s7comm-protection";
/// Protocol name passwords are checked and recorded under.
pub const PROTOCOL: &str = "s7comm";

/// How a CPU is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct S7Config {
    /// Identity reported by SZL.
    pub identity: Identity,
    /// Memory areas.
    pub memory: Memory,
    /// Blocks loaded at start.
    pub blocks: Vec<Block>,
    /// Protection level (1 none, 2 write-protected, 3 read/write-protected).
    pub protection: u8,
    /// Password that lifts the protection (an account of the CPU's authentication, besides
    /// the device's accounts for s7comm).
    pub password: Option<String>,
    /// Largest block a download may bring (bytes kept).
    pub max_block: usize,
    /// Blocks the CPU may hold (downloads beyond are refused).
    pub max_blocks: usize,
    /// Response time profile `[min, max]` in milliseconds.
    pub response_time_ms: (u32, u32),
}

/// A CPU bound to a databus.
#[derive(Debug)]
pub struct S7Device {
    /// Configuration.
    pub config: S7Config,
    /// Shared store.
    pub databus: Arc<Databus>,
    /// Blocks now in the CPU (downloads add to them).
    pub blocks: RwLock<Vec<Block>>,
    /// The accounts whose passwords lift the protection: the device's, and the section's
    /// own password.
    pub auth: Auth,
}

impl S7Device {
    /// A CPU over `databus`, starting in RUN unless the databus says otherwise, checking
    /// passwords against the device's `auth`.
    pub fn new(config: S7Config, databus: Arc<Databus>, auth: &Auth) -> Self {
        if !databus.contains(KEY_RUN) {
            databus.insert(KEY_RUN, conpot_core::databus::Entry::Value(Value::Bool(true)));
        }
        if !databus.contains(KEY_CLOCK_OFFSET) {
            databus.insert(KEY_CLOCK_OFFSET, conpot_core::databus::Entry::Value(Value::Int(0)));
        }
        let blocks = RwLock::new(config.blocks.clone());
        let own = config.password.as_ref().map(|p| User {
            privilege: Privilege::Administrator,
            ..User::new(PROTECTION_ACCOUNT, p.as_str())
        });
        S7Device {
            auth: auth.with_protocol_users(PROTOCOL, own),
            config,
            databus,
            blocks,
        }
    }

    /// Whether the CPU is in RUN.
    pub fn running(&self, now: SystemTime) -> bool {
        self.databus.get(KEY_RUN, now).and_then(|v| v.as_bit()).unwrap_or(true)
    }

    /// Puts the CPU in RUN or STOP.
    pub fn set_running(&self, run: bool, now: SystemTime) {
        self.databus.set(KEY_RUN, Value::Bool(run));
        let ms = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.databus.set(KEY_MODE_SINCE, Value::from(ms));
    }

    /// The CPU's clock at host time `now`.
    pub fn clock(&self, now: SystemTime) -> SystemTime {
        let off = self
            .databus
            .get(KEY_CLOCK_OFFSET, now)
            .and_then(|v| v.as_i128())
            .unwrap_or(0);
        let off = i64::try_from(off).unwrap_or(0);
        if off >= 0 {
            now + Duration::from_millis(off as u64)
        } else {
            now.checked_sub(Duration::from_millis(off.unsigned_abs()))
                .unwrap_or(UNIX_EPOCH)
        }
    }

    /// Sets the CPU's clock to `to` at host time `now`.
    pub fn set_clock(&self, to: SystemTime, now: SystemTime) {
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        self.databus.set(KEY_CLOCK_OFFSET, Value::from(ms(to) - ms(now)));
    }

    /// Dynamic facts for the SZL lists.
    pub fn state(&self, now: SystemTime) -> State {
        let since = self
            .databus
            .get(KEY_MODE_SINCE, now)
            .and_then(|v| v.as_i128())
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(now, |ms| UNIX_EPOCH + Duration::from_millis(ms));
        let bcd = bcd_time(since);
        let mut since8 = [0u8; 8];
        since8.copy_from_slice(bcd.get(2..10).unwrap_or(&[0; 8]));
        State {
            run: self.running(now),
            protection: self.config.protection,
            since: since8,
        }
    }
}

fn bcd(v: u32) -> u8 {
    (((v / 10) % 10) << 4 | (v % 10)) as u8
}

/// A time as the 10-byte S7 clock value: reserved, century, year, month, day, hour,
/// minute, second, milliseconds and weekday, in BCD.
pub fn bcd_time(t: SystemTime) -> [u8; 10] {
    let c = conpot_core::time::Civil::from_system(t);
    let ms = c.micros / 1000;
    let days = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
    // 1970-01-01 was a Thursday; S7 weekdays run 1 (Sunday) to 7 (Saturday).
    let weekday = ((days + 4) % 7 + 1) as u8;
    [
        0x00,
        if c.year >= 2000 { 0x20 } else { 0x19 },
        bcd((c.year % 100) as u32),
        bcd(c.month),
        bcd(c.day),
        bcd(c.hour),
        bcd(c.minute),
        bcd(c.second),
        bcd(ms / 10),
        ((ms % 10) as u8) << 4 | weekday,
    ]
}

/// Reads a BCD clock value (10 bytes, or 8 without the first two) back into a time.
pub fn parse_bcd_time(b: &[u8]) -> Option<SystemTime> {
    let t = match b.len() {
        10 => b.get(2..)?,
        8 => b,
        _ => return None,
    };
    let d = |i: usize| -> Option<u32> {
        let v = *t.get(i)?;
        ((v >> 4) < 10 && (v & 0x0F) < 10).then(|| u32::from(v >> 4) * 10 + u32::from(v & 0x0F))
    };
    let year = d(0)?;
    let year = if year < 90 { 2000 + year } else { 1900 + year };
    let (month, day, hour, minute, second) = (d(1)?, d(2)?, d(3)?, d(4)?, d(5)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let ms = d(6)? * 10 + u32::from(t.get(7)? >> 4).min(9);
    // Days from civil (Howard Hinnant).
    let (y, m) = if month <= 2 {
        (i64::from(year) - 1, month + 9)
    } else {
        (i64::from(year), month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * i64::from(m) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(u64::from(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_611_702_444);
        let b = bcd_time(t);
        assert_eq!(b, [0x00, 0x20, 0x26, 0x11, 0x25, 0x13, 0x01, 0x42, 0x44, 0x44]);
        assert_eq!(parse_bcd_time(&b), Some(t));
        assert_eq!(parse_bcd_time(&[0, 0x20, 0x26, 0x13, 0x01, 0, 0, 0, 0, 0]), None);
        assert_eq!(parse_bcd_time(&[1, 2, 3]), None);
    }
}
