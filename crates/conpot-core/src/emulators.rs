//! Emulators: databus values computed on every read (uptime, random registers, counters).
//!
//! Time comes in as a value: an emulator never reads the clock itself.

use std::time::{Duration, SystemTime};

use crate::rng::with_thread_rng;
use crate::value::Value;

/// A databus value computed on read.
pub trait Emulator: Send + Sync + std::fmt::Debug {
    /// The value at time `now`.
    fn read(&self, now: SystemTime) -> Value;
}

/// Unit in which [`Uptime`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UptimeUnit {
    /// Whole seconds (Conpot's `Uptime`).
    Seconds,
    /// Hundredths of a second (SNMP TimeTicks).
    Hundredths,
}

/// Time since the device "booted".
#[derive(Debug, Clone)]
pub struct Uptime {
    /// When the device booted.
    pub boot: SystemTime,
    /// Unit of the value read.
    pub unit: UptimeUnit,
}

impl Emulator for Uptime {
    fn read(&self, now: SystemTime) -> Value {
        let d = now.duration_since(self.boot).unwrap_or(Duration::ZERO);
        let v = match self.unit {
            UptimeUnit::Seconds => d.as_secs() as i128,
            UptimeUnit::Hundredths => (d.as_millis() / 10) as i128,
        };
        Value::Int(v)
    }
}

/// A fresh random integer in `min..=max` on every read.
#[derive(Debug, Clone)]
pub struct RandomInt {
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
}

impl Emulator for RandomInt {
    fn read(&self, _now: SystemTime) -> Value {
        Value::Int(i128::from(with_thread_rng(|r| r.range_i64(self.min, self.max))))
    }
}

/// A fresh random float in `min..max`, rounded to `digits` decimals, on every read.
#[derive(Debug, Clone)]
pub struct RandomFloat {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
    /// Decimals kept.
    pub digits: i32,
}

impl Emulator for RandomFloat {
    fn read(&self, _now: SystemTime) -> Value {
        let x = with_thread_rng(|r| r.range_f64(self.min, self.max));
        let m = 10f64.powi(self.digits);
        Value::Float((x * m).round() / m)
    }
}

/// A list of `len` random bits (Conpot's `Random8BitRegisters` and `Random16bitRegister`).
#[derive(Debug, Clone)]
pub struct RandomBits {
    /// Number of bits in the list.
    pub len: usize,
}

impl Emulator for RandomBits {
    fn read(&self, _now: SystemTime) -> Value {
        with_thread_rng(|r| {
            Value::List(
                (0..self.len)
                    .map(|_| Value::Int(i128::from(r.range_i64(0, 1))))
                    .collect(),
            )
        })
    }
}

/// A counter that grows steadily with time from `base` at `rate` per second, with jitter
/// so two reads a second apart never differ by exactly the same amount.
#[derive(Debug, Clone)]
pub struct Counter {
    /// Value at `start`.
    pub base: i64,
    /// Mean increase per second.
    pub rate: f64,
    /// Reference time.
    pub start: SystemTime,
    /// The value wraps to 0 at this modulus (e.g. 2^32 for SNMP Counter32); 0 means never.
    pub modulus: u64,
}

impl Emulator for Counter {
    fn read(&self, now: SystemTime) -> Value {
        let secs = now.duration_since(self.start).unwrap_or(Duration::ZERO).as_secs_f64();
        // A slow, bounded wobble keeps the growth from looking machine-made while staying
        // monotonic (its derivative never exceeds the rate).
        let wobble = (secs / 7.0).sin() * self.rate.abs() * 0.9;
        let v = self.base as f64 + self.rate * secs + wobble;
        let mut v = v.max(0.0) as u64;
        if self.modulus > 0 {
            v %= self.modulus;
        }
        Value::Int(i128::from(v))
    }
}

/// A list of analog values that drift smoothly between `min` and `max`, each channel on
/// its own phase and a second, slower harmonic, with a little noise.
#[derive(Debug, Clone)]
pub struct Drift {
    /// Number of values.
    pub len: usize,
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
    /// Seconds per main cycle.
    pub period: f64,
    /// Reference time.
    pub start: SystemTime,
}

impl Emulator for Drift {
    fn read(&self, now: SystemTime) -> Value {
        let t = now.duration_since(self.start).unwrap_or(Duration::ZERO).as_secs_f64();
        let mid = (self.min + self.max) / 2.0;
        let amp = (self.max - self.min) / 2.0;
        let tau = std::f64::consts::TAU;
        with_thread_rng(|r| {
            Value::List(
                (0..self.len)
                    .map(|i| {
                        let phase = i as f64 * 1.7;
                        let x = 0.7 * (tau * t / self.period + phase).sin()
                            + 0.25 * (tau * t / (self.period * 3.3) + phase * 0.5).sin()
                            + 0.05 * r.range_f64(-1.0, 1.0);
                        Value::Int((mid + amp * x.clamp(-1.0, 1.0)).round() as i128)
                    })
                    .collect(),
            )
        })
    }
}

/// Wall-clock date and time as text, `YYYY-MM-DD,HH:MM:SS.0` (Conpot's `CurrentDatetime`).
#[derive(Debug, Clone)]
pub struct CurrentDatetime;

impl Emulator for CurrentDatetime {
    fn read(&self, now: SystemTime) -> Value {
        let t = crate::time::Civil::from_system(now);
        Value::Str(format!(
            "{:04}-{:02}-{:02},{:02}:{:02}:{:02}.0",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_units() {
        let boot = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let now = boot + Duration::from_millis(12_345);
        assert_eq!(
            Uptime {
                boot,
                unit: UptimeUnit::Seconds
            }
            .read(now),
            Value::Int(12)
        );
        assert_eq!(
            Uptime {
                boot,
                unit: UptimeUnit::Hundredths
            }
            .read(now),
            Value::Int(1234)
        );
        assert_eq!(
            Uptime {
                boot,
                unit: UptimeUnit::Seconds
            }
            .read(SystemTime::UNIX_EPOCH),
            Value::Int(0)
        );
    }

    #[test]
    fn counter_is_monotonic() {
        let start = SystemTime::UNIX_EPOCH;
        let c = Counter {
            base: 100,
            rate: 10.0,
            start,
            modulus: 0,
        };
        let mut last = 0;
        for s in 0..500 {
            let v = c.read(start + Duration::from_millis(s * 250)).as_i128().unwrap();
            assert!(v >= last);
            last = v;
        }
        assert!(last > 1000);
    }

    #[test]
    fn random_values_in_range() {
        for _ in 0..100 {
            let v = RandomInt { min: 3, max: 4 }
                .read(SystemTime::UNIX_EPOCH)
                .as_i128()
                .unwrap();
            assert!((3..=4).contains(&v));
        }
        let Value::List(bits) = (RandomBits { len: 8 }).read(SystemTime::UNIX_EPOCH) else {
            panic!()
        };
        assert_eq!(bits.len(), 8);
    }

    #[test]
    fn datetime_format() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(CurrentDatetime.read(t), Value::Str("2023-11-14,22:13:20.0".into()));
    }
}
