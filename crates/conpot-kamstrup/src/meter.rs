//! The simulated Kamstrup 382: its registers, how their values move over time, and the
//! answer to each KMP request. Time is always passed in; nothing here reads a clock.
//!
//! A register reads its databus key. A simulated register ([`Quantity`]) treats that value
//! as its base: energy registers count up from it with the consumption since the device
//! started, power, voltage and current registers swing around it with a daily load profile
//! (an evening peak, a night trough), so a scanner polling the meter sees a living one.

use std::f64::consts::PI;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use conpot_core::Value;
use conpot_core::databus::Databus;

use crate::kmp::{LogRecord, LogSelector, MAX_LOG_RECORDS, MAX_VALUE_LEN, RegisterValue, Request, Response, Rtc};

/// What drives a simulated register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Imported energy: the base reading plus the energy used since the start.
    EnergyIn,
    /// Total active power around its nominal value.
    Power,
    /// Active power of phase 1, 2 or 3.
    PowerPhase(u8),
    /// Voltage of phase 1, 2 or 3.
    Voltage(u8),
    /// Current of phase 1, 2 or 3 (follows the phase's power).
    Current(u8),
    /// The meter's clock (RTC registers).
    Clock,
}

impl Quantity {
    /// From the template's name (`energy_in`, `power`, `power_l1`, `voltage_l2`,
    /// `current_l3`, `clock`).
    pub fn from_name(s: &str) -> Option<Quantity> {
        let phase = |p: &str| match p {
            "l1" => Some(1),
            "l2" => Some(2),
            "l3" => Some(3),
            _ => None,
        };
        Some(match s {
            "energy_in" => Quantity::EnergyIn,
            "power" => Quantity::Power,
            "clock" => Quantity::Clock,
            _ => {
                let (kind, p) = s.rsplit_once('_')?;
                let p = phase(p)?;
                match kind {
                    "power" => Quantity::PowerPhase(p),
                    "voltage" => Quantity::Voltage(p),
                    "current" => Quantity::Current(p),
                    _ => return None,
                }
            }
        })
    }
}

/// One register of the meter.
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    /// Register id.
    pub id: u16,
    /// Unit code.
    pub unit: u8,
    /// Value length in bytes (1..=[`MAX_VALUE_LEN`]).
    pub length: u8,
    /// Sign/exponent byte.
    pub sign_exp: u8,
    /// The databus key holding its value (or its base, when simulated).
    pub key: String,
    /// The simulation moving it, if any.
    pub sim: Option<Quantity>,
}

/// The meter's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterConfig {
    /// KMP address it answers to (the 382's default is 0x3F).
    pub address: u8,
    /// Answer to GetType.
    pub meter_type: u16,
    /// Software revision in GetType.
    pub revision: u16,
    /// Answer to GetSerialNo.
    pub serial: u32,
    /// Mean consumption in kW that energy registers grow with.
    pub mean_kw: f64,
    /// Registers by id, sorted.
    pub registers: Vec<Register>,
    /// Response delay `[min, max]` ms (the real meter takes a quarter of a second).
    pub response_time_ms: (u32, u32),
}

/// The daily load profile: 1 on average, about 1.5 at the evening peak (19:00 UTC + the
/// persona's offset is not modelled) and 0.5 at night.
pub fn load_factor(unix_secs: f64) -> f64 {
    let w = 2.0 * PI / 86_400.0;
    let p1 = PI / 2.0 - w * 19.0 * 3600.0;
    let p2 = PI / 2.0 - 2.0 * w * 8.0 * 3600.0;
    1.0 + 0.35 * (w * unix_secs + p1).sin() + 0.15 * (2.0 * w * unix_secs + p2).sin()
}

/// The integral of [`load_factor`] from `t0` to `t1` seconds (closed form, so a meter that
/// has run for years costs the same as a fresh one).
pub fn load_integral(t0: f64, t1: f64) -> f64 {
    let w = 2.0 * PI / 86_400.0;
    let p1 = PI / 2.0 - w * 19.0 * 3600.0;
    let p2 = PI / 2.0 - 2.0 * w * 8.0 * 3600.0;
    let f = |t: f64| t - 0.35 / w * (w * t + p1).cos() - 0.15 / (2.0 * w) * (2.0 * w * t + p2).cos();
    f(t1) - f(t0)
}

fn unix(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The meter: configuration, databus, start time and the clock offset SetClock made.
#[derive(Debug)]
pub struct Meter {
    /// Configuration.
    pub config: MeterConfig,
    /// The device's databus.
    pub databus: Arc<Databus>,
    /// When the device started (energy counts from here).
    pub boot: SystemTime,
    /// Seconds added to the real time by SetClock.
    clock_offset: AtomicI64,
}

/// Largest reply payload built (a full GetRegister of the longest registers fits).
pub const MAX_REPLY: usize = 1536;

impl Meter {
    /// A meter serving `config` from `databus`, started at `boot`.
    pub fn new(config: MeterConfig, databus: Arc<Databus>, boot: SystemTime) -> Meter {
        Meter {
            config,
            databus,
            boot,
            clock_offset: AtomicI64::new(0),
        }
    }

    /// The register `id`.
    pub fn register(&self, id: u16) -> Option<&Register> {
        self.config
            .registers
            .binary_search_by_key(&id, |r| r.id)
            .ok()
            .and_then(|i| self.config.registers.get(i))
    }

    /// The meter's clock at `now` (real time plus what SetClock moved it by).
    pub fn clock(&self, now: SystemTime) -> i64 {
        (unix(now) as i64).saturating_add(self.clock_offset.load(Ordering::Relaxed))
    }

    /// Sets the meter's clock to `to` at real time `now`.
    pub fn set_clock(&self, to: &Rtc, now: SystemTime) -> bool {
        match to.to_unix() {
            Some(t) => {
                self.clock_offset.store(t - unix(now) as i64, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn base(&self, key: &str, now: SystemTime) -> Option<Value> {
        self.databus.get(key, now)
    }

    /// The mantissa bytes of register `reg` at `now` (its length, big-endian).
    pub fn value_bytes(&self, reg: &Register, now: SystemTime) -> Vec<u8> {
        let len = usize::from(reg.length).min(MAX_VALUE_LEN);
        if reg.sim == Some(Quantity::Clock) {
            let rtc = Rtc::from_unix(self.clock(now)).to_bytes();
            let mut v = vec![0u8; len.saturating_sub(rtc.len())];
            v.extend_from_slice(rtc.get(rtc.len().saturating_sub(len)..).unwrap_or_default());
            return v;
        }
        let base = self.base(&reg.key, now);
        let mantissa: u128 = match reg.sim {
            Some(q) => {
                let base = base.as_ref().and_then(number).unwrap_or(0.0);
                let scale = 10f64.powi(-exponent(reg.sign_exp));
                let t = unix(now);
                let v = match q {
                    Quantity::EnergyIn => {
                        base + self.config.mean_kw * load_integral(unix(self.boot), t) / 3600.0
                            * unit_scale(reg.unit)
                            * scale
                    }
                    Quantity::Power | Quantity::PowerPhase(_) => base * load_factor(t) * wobble(t, reg.id),
                    Quantity::Current(_) => base * load_factor(t) * wobble(t, reg.id),
                    Quantity::Voltage(p) => base + 2.0 * ((t / 600.0) + f64::from(p) * 2.1).sin(),
                    Quantity::Clock => 0.0,
                };
                if v.is_finite() && v > 0.0 { v.round() as u128 } else { 0 }
            }
            None => base.as_ref().map_or(0, mantissa_of),
        };
        let bytes = mantissa.to_be_bytes();
        if len <= bytes.len() {
            bytes.get(bytes.len() - len..).unwrap_or_default().to_vec()
        } else {
            let mut v = vec![0u8; len - bytes.len()];
            v.extend_from_slice(&bytes);
            v
        }
    }

    /// Register `id` as the meter answers it, if it exists.
    pub fn read(&self, id: u16, now: SystemTime) -> Option<RegisterValue> {
        let reg = self.register(id)?;
        Some(RegisterValue {
            id,
            unit: reg.unit,
            sign_exp: reg.sign_exp,
            value: self.value_bytes(reg, now),
        })
    }

    /// The answer to `request` at `now`; `None` when the meter stays silent (PutRegister,
    /// unknown commands, an impossible clock).
    pub fn answer(&self, request: &Request, now: SystemTime) -> Option<Response> {
        Some(match request {
            Request::GetType => Response::Type {
                meter_type: self.config.meter_type,
                revision: self.config.revision,
            },
            Request::GetSerialNo => Response::SerialNo(self.config.serial),
            Request::SetClock(rtc) => {
                if !self.set_clock(rtc, now) {
                    return None;
                }
                Response::ClockSet
            }
            Request::GetRegister(ids) => Response::Registers(ids.iter().filter_map(|id| self.read(*id, now)).collect()),
            Request::GetLog {
                selector,
                log,
                records,
                registers,
            } => Response::Log {
                log: *log,
                records: self.log_records(*selector, *records, registers, now),
            },
            Request::PutRegister { .. } | Request::Unknown { .. } => return None,
        })
    }

    /// Hourly log records: each holds the registers as they were at the top of its hour
    /// (record id = hours since 2000-01-01, on the meter's clock).
    fn log_records(&self, selector: LogSelector, wanted: u8, ids: &[u16], now: SystemTime) -> Vec<LogRecord> {
        const EPOCH_2000: i64 = 946_684_800;
        let clock = self.clock(now);
        let newest = (clock - EPOCH_2000).div_euclid(3600).max(0);
        let n = i64::from(wanted).clamp(1, MAX_LOG_RECORDS as i64);
        let id_of = |t: i64| (t - EPOCH_2000).div_euclid(3600).max(0);
        let (first, last) = match selector {
            LogSelector::LastPresent => (newest - n + 1, newest),
            LogSelector::TimePresent(t) => {
                let from = t.to_unix().map_or(newest, id_of).min(newest);
                (from, (from + n - 1).min(newest))
            }
            LogSelector::TimePast(t) => {
                let to = t.to_unix().map_or(newest, id_of).min(newest);
                (to - n + 1, to)
            }
            LogSelector::IdPresent(id) => {
                let from = i64::from(id).min(newest);
                (from, (from + n - 1).min(newest))
            }
        };
        let offset = self.clock_offset.load(Ordering::Relaxed);
        (first.max(0)..=last)
            .map(|rid| {
                let at_clock = EPOCH_2000 + rid * 3600;
                // The record's real time, for the simulation (the clock may have been moved).
                let real = at_clock.saturating_sub(offset);
                let when = if real >= 0 {
                    UNIX_EPOCH + std::time::Duration::from_secs(real as u64)
                } else {
                    UNIX_EPOCH
                };
                let when = when.max(self.boot.min(now));
                LogRecord {
                    id: rid.clamp(0, i64::from(u32::MAX)) as u32,
                    time: Rtc::from_unix(at_clock),
                    registers: ids.iter().filter_map(|id| self.read(*id, when)).collect(),
                }
            })
            .collect()
    }
}

/// A little deterministic wobble per minute and register (±3 %), so two reads a minute
/// apart differ as a real load does.
fn wobble(t: f64, id: u16) -> f64 {
    let minute = (t / 60.0).floor() as i64 as u64;
    let mut x = minute ^ (u64::from(id) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    1.0 + ((x % 6001) as f64 / 100_000.0 - 0.03)
}

fn exponent(sign_exp: u8) -> i32 {
    let e = i32::from(sign_exp & 0x3F);
    if sign_exp & 0x40 != 0 { -e } else { e }
}

/// kWh per unit of an energy register's unit code (Wh registers count 1000 per kWh).
fn unit_scale(unit: u8) -> f64 {
    match unit {
        1 => 1000.0,
        3 => 0.001,
        4 => 0.000_001,
        _ => 1.0,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::BigUint(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A databus value as a register mantissa: integers as they are (negative ones as zero),
/// floats rounded, decimal text parsed, other text and bytes as their bytes.
pub fn mantissa_of(v: &Value) -> u128 {
    let from_bytes = |b: &[u8]| {
        b.iter()
            .rev()
            .take(16)
            .rev()
            .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
    };
    match v {
        Value::Int(i) => u128::try_from(*i).unwrap_or(0),
        Value::Float(f) if f.is_finite() && *f > 0.0 => f.round() as u128,
        Value::Float(_) => 0,
        Value::Bool(b) => u128::from(*b),
        Value::BigUint(u) => *u,
        Value::Null => 0,
        Value::Str(s) => s.trim().parse::<u128>().unwrap_or_else(|_| from_bytes(s.as_bytes())),
        Value::Bytes(b) => from_bytes(b),
        Value::List(_) => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_averages_one_and_peaks_in_the_evening() {
        let day = 86_400.0;
        assert!((load_integral(0.0, day) - day).abs() < 1e-6);
        let at = |h: f64| load_factor(h * 3600.0 + 20_000.0 * day);
        assert!(at(19.0) > at(3.0) + 0.5, "{} {}", at(19.0), at(3.0));
        // Never negative, so energy only grows.
        for m in 0..(24 * 60) {
            assert!(load_factor(f64::from(m) * 60.0) > 0.2);
        }
        let (a, b) = (1.0e9, 1.0e9 + 5000.0);
        let numeric: f64 = (0..5000).map(|s| load_factor(a + f64::from(s) + 0.5)).sum();
        assert!((load_integral(a, b) - numeric).abs() < 0.01);
    }

    #[test]
    fn mantissas_from_databus_values() {
        assert_eq!(mantissa_of(&Value::Int(15_085_488)), 15_085_488);
        assert_eq!(mantissa_of(&Value::Int(-3)), 0);
        assert_eq!(mantissa_of(&Value::Float(2.6)), 3);
        assert_eq!(
            mantissa_of(&Value::Str("340282366920938463463374607431768211455".into())),
            u128::MAX
        );
        assert_eq!(mantissa_of(&Value::Str("AB".into())), 0x4142);
    }

    #[test]
    fn quantities_by_name() {
        assert_eq!(Quantity::from_name("voltage_l2"), Some(Quantity::Voltage(2)));
        assert_eq!(Quantity::from_name("current_l3"), Some(Quantity::Current(3)));
        assert_eq!(Quantity::from_name("energy_in"), Some(Quantity::EnergyIn));
        assert_eq!(Quantity::from_name("voltage_l4"), None);
        assert_eq!(Quantity::from_name("x"), None);
    }
}
