//! The console of one gauge: its configuration, the settings commands change (station
//! name and product labels live on the databus, so every protocol of the device sees
//! them; the console clock offset lives here), and the answer to each command.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use conpot_core::Value;
use conpot_core::databus::Databus;
use conpot_core::time::Civil;

use crate::command::{Command, Format, Kind};
use crate::tanks::{Reading, Tank, temperature_at};
use crate::{computer, display};

/// The console's error answer to a command it does not know or cannot carry out.
pub const ERROR_CODE: &str = "9999FF1B";
/// Longest product label; a longer one is cut, as the console's 20-character field does.
pub const MAX_LABEL: usize = 20;
/// Longest station header line.
pub const MAX_HEADER: usize = 40;
/// Most tanks a console reports.
pub const MAX_TANKS: usize = 16;

/// One tank as configured: its shape and where its values come from.
#[derive(Debug, Clone, PartialEq)]
pub struct TankConfig {
    /// Shape and level movement.
    pub tank: Tank,
    /// Databus key of the product label (written by `S602TT`).
    pub product_key: String,
    /// Product code of the computer format (`1`-`9`).
    pub product_code: u8,
    /// Databus key of the base temperature, F (else `temperature`).
    pub temperature_key: Option<String>,
    /// Base temperature, F, when no key gives one.
    pub temperature: f64,
    /// Databus key of the water height, inches (else `water`).
    pub water_key: Option<String>,
    /// Water height, inches, when no key gives one.
    pub water: f64,
}

/// What a console is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleConfig {
    /// Databus key of the station name, the first header line (written by `S60100`).
    pub station_key: String,
    /// Further header lines (address, town), as the station programmed them.
    pub header: Vec<String>,
    /// Console serial number (system reports).
    pub serial: String,
    /// Console software version (system reports).
    pub software: String,
    /// The tanks, numbered from 1.
    pub tanks: Vec<TankConfig>,
    /// The console's answer time, `[min, max]` ms.
    pub response_time_ms: (u32, u32),
    /// When the console was powered on (alarm history starts there).
    pub boot: SystemTime,
}

/// A tank's state at one instant, as the reports print it.
#[derive(Debug, Clone)]
pub struct TankView<'a> {
    /// Its configuration.
    pub config: &'a TankConfig,
    /// Its product label.
    pub product: String,
    /// Its base temperature and water height (what the reading used).
    pub temperature: f64,
    /// Water height, inches.
    pub water: f64,
    /// The reading.
    pub reading: Reading,
}

impl TankView<'_> {
    /// Tank number.
    pub fn number(&self) -> u8 {
        self.config.tank.number
    }
}

/// The answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Bytes to send (empty: nothing).
    pub bytes: Vec<u8>,
    /// `report`, `set` or `error`.
    pub outcome: &'static str,
    /// The report's title or what was set.
    pub what: &'static str,
}

/// The console of one device.
#[derive(Debug)]
pub struct Console {
    /// Its configuration.
    pub config: ConsoleConfig,
    databus: Arc<Databus>,
    /// Seconds the console clock is set ahead of (or behind) real time by `S50100`.
    clock_offset: AtomicI64,
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::BigUint(u) => Some(*u as f64),
        Value::Float(f) if f.is_finite() => Some(*f),
        Value::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Keeps printable ASCII, at most `max` characters, trimmed.
pub fn clean_text(bytes: &[u8], max: usize) -> String {
    let s: String = bytes
        .iter()
        .filter(|b| (0x20..0x7f).contains(*b))
        .map(|&b| char::from(b))
        .collect();
    s.trim().chars().take(max).collect::<String>().trim_end().to_owned()
}

impl Console {
    /// The console of `config` over the device's `databus`.
    pub fn new(config: ConsoleConfig, databus: Arc<Databus>) -> Self {
        Console {
            config,
            databus,
            clock_offset: AtomicI64::new(0),
        }
    }

    /// The console's clock at real time `now`.
    pub fn clock(&self, now: SystemTime) -> SystemTime {
        let off = self.clock_offset.load(Ordering::Relaxed);
        if off >= 0 {
            now + Duration::from_secs(off.unsigned_abs())
        } else {
            now.checked_sub(Duration::from_secs(off.unsigned_abs()))
                .unwrap_or(SystemTime::UNIX_EPOCH)
        }
    }

    fn text(&self, key: &str, now: SystemTime) -> Option<String> {
        self.databus.with(key, now, |v| match v {
            Value::Str(s) => s.clone(),
            other => number(other).map(|n| n.to_string()).unwrap_or_default(),
        })
    }

    fn value(&self, key: Option<&str>, now: SystemTime) -> Option<f64> {
        key.and_then(|k| self.databus.with(k, now, number).flatten())
    }

    /// The header lines: the station name, then the address lines.
    pub fn header(&self, now: SystemTime) -> Vec<String> {
        let name = self.text(&self.config.station_key, now).unwrap_or_default();
        std::iter::once(clean_text(name.as_bytes(), MAX_HEADER))
            .chain(self.config.header.iter().map(|h| clean_text(h.as_bytes(), MAX_HEADER)))
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Every tank at console time `t` (real time `now` for the databus).
    pub fn tanks(&self, t: SystemTime, now: SystemTime) -> Vec<TankView<'_>> {
        self.config.tanks.iter().map(|c| self.view(c, t, now)).collect()
    }

    /// One tank at console time `t`.
    pub fn view<'a>(&self, c: &'a TankConfig, t: SystemTime, now: SystemTime) -> TankView<'a> {
        let product = self
            .text(&c.product_key, now)
            .map(|p| clean_text(p.as_bytes(), MAX_LABEL))
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| format!("TANK {}", c.tank.number));
        let base = self.value(c.temperature_key.as_deref(), now).unwrap_or(c.temperature);
        let temperature = temperature_at(base.clamp(-40.0, 140.0), c.tank.phase, t);
        let water = self
            .value(c.water_key.as_deref(), now)
            .unwrap_or(c.water)
            .clamp(0.0, 20.0);
        TankView {
            config: c,
            reading: c.tank.reading(t, temperature, water),
            product,
            temperature,
            water,
        }
    }

    /// The tanks a tank number selects: `00` every tank, else that one.
    pub fn select<'a>(&self, views: Vec<TankView<'a>>, tank: u8) -> Option<Vec<TankView<'a>>> {
        if tank == 0 {
            return Some(views);
        }
        let one: Vec<_> = views.into_iter().filter(|v| v.number() == tank).collect();
        (!one.is_empty()).then_some(one)
    }

    /// Answers `command` at real time `now`.
    pub fn answer(&self, command: &Command<'_>, now: SystemTime) -> Answer {
        let (Some(function), Some(tank)) = (command.function, command.tank) else {
            return error();
        };
        match command.kind {
            Kind::Inquiry => {
                let t = self.clock(now);
                let report = match command.format {
                    Format::Display => display::report(self, command.code, function, tank, t, now),
                    Format::Computer => computer::report(self, command.code, function, tank, t, now),
                };
                match report {
                    Some((what, bytes)) => Answer {
                        bytes,
                        outcome: "report",
                        what,
                    },
                    None => error(),
                }
            }
            Kind::Set => match self.set(function, tank, command.data, now) {
                Some(what) => {
                    let t = self.clock(now);
                    let bytes = match command.format {
                        Format::Display => display::acknowledge(command.code, t),
                        Format::Computer => computer::acknowledge(command.code, t),
                    };
                    Answer {
                        bytes,
                        outcome: "set",
                        what,
                    }
                }
                None => error(),
            },
            Kind::Other => error(),
        }
    }

    /// Carries out a set command; `None` when the console refuses it.
    fn set(&self, function: u16, tank: u8, data: &[u8], now: SystemTime) -> Option<&'static str> {
        match function {
            501 if tank == 0 => {
                let to = parse_clock(data.trim_ascii())?;
                let off = secs_between(now, to);
                self.clock_offset.store(off, Ordering::Relaxed);
                Some("date_time")
            }
            601 if tank == 0 => {
                let name = clean_text(data, MAX_HEADER);
                if name.is_empty() {
                    return None;
                }
                self.databus.set(&self.config.station_key, Value::Str(name));
                Some("station_name")
            }
            602 => {
                let label = clean_text(data, MAX_LABEL);
                if label.is_empty() {
                    return None;
                }
                let keys: Vec<&str> = self
                    .config
                    .tanks
                    .iter()
                    .filter(|c| tank == 0 || c.tank.number == tank)
                    .map(|c| c.product_key.as_str())
                    .collect();
                if keys.is_empty() {
                    return None;
                }
                for k in keys {
                    self.databus.set(k, Value::Str(label.clone()));
                }
                Some("product_label")
            }
            _ => None,
        }
    }
}

fn error() -> Answer {
    let mut bytes = Vec::with_capacity(ERROR_CODE.len() + 2);
    bytes.push(crate::command::SOH);
    bytes.extend_from_slice(ERROR_CODE.as_bytes());
    bytes.push(crate::command::ETX);
    Answer {
        bytes,
        outcome: "error",
        what: "error",
    }
}

fn secs_between(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The console's `YYMMDDHHmm` (the set date/time command's data, and every computer
/// format answer's time stamp).
pub fn parse_clock(data: &[u8]) -> Option<SystemTime> {
    let d = data.get(..10)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let two = |i: usize| -> Option<u32> {
        let p = d.get(i..i + 2)?;
        Some(u32::from(p.first()? - b'0') * 10 + u32::from(p.get(1)? - b'0'))
    };
    let text = format!(
        "20{:02}-{:02}-{:02}T{:02}:{:02}:00Z",
        two(0)?,
        two(2)?,
        two(4)?,
        two(6)?,
        two(8)?
    );
    conpot_core::time::parse_rfc3339(&text)
}

/// `t` as the console's `YYMMDDHHmm`.
pub fn clock_stamp(t: SystemTime) -> String {
    let c = Civil::from_system(t);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        c.year.rem_euclid(100),
        c.month,
        c.day,
        c.hour,
        c.minute
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clock_round_trips() {
        let t = parse_clock(b"2612011030").unwrap();
        assert_eq!(clock_stamp(t), "2612011030");
        assert_eq!(parse_clock(b"26120110"), None);
        assert_eq!(parse_clock(b"2613011030"), None);
        assert_eq!(clean_text(b"  a\x00b\xffc  ", 20), "abc");
        assert_eq!(clean_text(b"abcdef", 3), "abc");
    }
}
