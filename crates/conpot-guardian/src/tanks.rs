//! The tanks behind the gauge: horizontal cylinders whose level falls as fuel is sold and
//! jumps back at each delivery, so every number the console prints (volume, temperature
//! compensated volume, ullage, product and water height, temperature) comes from one
//! level at one time, and the delivery and shift reports agree with the inventory.
//!
//! The level is a pure function of time (a sawtooth: a long linear drain, then a short
//! delivery), so two reports at the same instant print the same figures and no state
//! needs to be kept or locked.

use std::time::{Duration, SystemTime};

/// Gallons in a cubic inch.
const GALLONS_PER_CUBIC_INCH: f64 = 0.004_329;
/// Volume change of petrol per degree Fahrenheit, what temperature compensation uses.
pub const THERMAL_COEFFICIENT: f64 = 0.000_7;
/// Temperature the compensated volume is referred to, degrees Fahrenheit.
pub const REFERENCE_TEMPERATURE: f64 = 60.0;
/// Water above this many inches raises the high water alarm.
pub const HIGH_WATER_ALARM: f64 = 2.0;
/// Water above this many inches raises the high water warning.
pub const HIGH_WATER_WARNING: f64 = 1.5;
/// Below this fraction of capacity the console asks for a delivery.
pub const DELIVERY_NEEDED: f64 = 0.2;
/// Below this fraction of capacity the low product alarm is raised.
pub const LOW_PRODUCT: f64 = 0.1;
/// Above this fraction of capacity the high product alarm is raised.
pub const HIGH_PRODUCT: f64 = 0.95;

/// One tank: its shape and how its level moves.
#[derive(Debug, Clone, PartialEq)]
pub struct Tank {
    /// Tank number on the console (1-based).
    pub number: u8,
    /// Inside diameter, inches.
    pub diameter: f64,
    /// Inside length, inches.
    pub length: f64,
    /// Level just before a delivery and just after it, as fractions of capacity.
    pub fill: (f64, f64),
    /// Time from one delivery to the next, seconds.
    pub cycle: f64,
    /// How long a delivery takes, seconds (the level rises over it).
    pub delivery: f64,
    /// Where in its cycle the tank was at the Unix epoch, 0 to 1 (tanks differ).
    pub phase: f64,
}

/// What the probe measures at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Product volume, gallons.
    pub volume: f64,
    /// Product volume referred to 60 F, gallons.
    pub tc_volume: f64,
    /// Room left in the tank, gallons.
    pub ullage: f64,
    /// Height of the liquid (product on water), inches.
    pub height: f64,
    /// Height of the water at the bottom, inches.
    pub water: f64,
    /// Volume of that water, gallons.
    pub water_volume: f64,
    /// Product temperature, degrees Fahrenheit.
    pub temperature: f64,
}

/// The last delivery into a tank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// The level at its start.
    pub before: Reading,
    /// The level at its end.
    pub after: Reading,
}

/// Gallons of liquid `height` inches deep in a horizontal cylinder.
pub fn volume_at(diameter: f64, length: f64, height: f64) -> f64 {
    let r = diameter / 2.0;
    if r <= 0.0 || length <= 0.0 {
        return 0.0;
    }
    let h = height.clamp(0.0, diameter);
    // Area of the circular segment below the liquid surface.
    let area = r * r * ((r - h) / r).clamp(-1.0, 1.0).acos() - (r - h) * (2.0 * r * h - h * h).max(0.0).sqrt();
    area * length * GALLONS_PER_CUBIC_INCH
}

/// The depth, inches, at which the cylinder holds `gallons` (bisection: the volume grows
/// with the depth; 48 halvings are far below the printed 0.01 inch).
pub fn height_for(diameter: f64, length: f64, gallons: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, diameter.max(0.0));
    for _ in 0..48 {
        let mid = (lo + hi) / 2.0;
        if volume_at(diameter, length, mid) < gallons {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn at(s: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(s.max(0.0))
}

impl Tank {
    /// Gallons when full.
    pub fn capacity(&self) -> f64 {
        volume_at(self.diameter, self.length, self.diameter)
    }

    fn cycle(&self) -> f64 {
        self.cycle.max(3600.0)
    }

    fn delivery_time(&self) -> f64 {
        self.delivery.clamp(60.0, self.cycle() / 4.0)
    }

    /// Start of the cycle `t` falls in (the end of the delivery before it), seconds.
    fn cycle_start(&self, t: f64) -> f64 {
        let c = self.cycle();
        let shifted = t / c + self.phase;
        (shifted.floor() - self.phase) * c
    }

    /// The level at `t`, fraction of capacity.
    pub fn fill_at(&self, t: SystemTime) -> f64 {
        let t = secs(t);
        let (lo, hi) = self.fill;
        let drain = self.cycle() - self.delivery_time();
        let u = t - self.cycle_start(t);
        if u < drain {
            hi - (hi - lo) * (u / drain)
        } else {
            lo + (hi - lo) * ((u - drain) / self.delivery_time())
        }
    }

    /// What the probe reads at `t`, with the product at `temperature` F and `water`
    /// inches of water at the bottom.
    pub fn reading(&self, t: SystemTime, temperature: f64, water: f64) -> Reading {
        self.reading_of(self.fill_at(t), temperature, water)
    }

    fn reading_of(&self, fill: f64, temperature: f64, water: f64) -> Reading {
        let capacity = self.capacity();
        let total = (fill.clamp(0.0, 1.0)) * capacity;
        let height = height_for(self.diameter, self.length, total);
        let water = water.clamp(0.0, height);
        let water_volume = volume_at(self.diameter, self.length, water);
        let volume = (total - water_volume).max(0.0);
        Reading {
            volume,
            tc_volume: volume * (1.0 + THERMAL_COEFFICIENT * (REFERENCE_TEMPERATURE - temperature)),
            ullage: (capacity - total).max(0.0),
            height,
            water,
            water_volume,
            temperature,
        }
    }

    /// The last delivery that had ended by `t`.
    pub fn last_delivery(&self, t: SystemTime, temperature: f64, water: f64) -> Delivery {
        let end = self.cycle_start(secs(t));
        let start = end - self.delivery_time();
        Delivery {
            start: at(start),
            end: at(end),
            before: self.reading_of(self.fill.0, temperature, water),
            after: self.reading_of(self.fill.1, temperature, water),
        }
    }

    /// The last time before `t` the draining level fell through `level` (a fraction of
    /// capacity), if it ever does.
    pub fn last_crossing(&self, t: SystemTime, level: f64) -> Option<SystemTime> {
        let (lo, hi) = self.fill;
        if !(lo < level && level < hi) {
            return None;
        }
        let now = secs(t);
        let drain = self.cycle() - self.delivery_time();
        let u = (hi - level) / (hi - lo) * drain;
        let start = self.cycle_start(now);
        let here = start + u;
        Some(at(if here <= now { here } else { here - self.cycle() }))
    }

    /// The tank's alarms at a reading, most urgent first, as the console names them.
    pub fn alarms(&self, r: &Reading) -> Vec<&'static str> {
        let mut a = Vec::new();
        let fill = (r.volume + r.water_volume) / self.capacity().max(1.0);
        if r.water > HIGH_WATER_ALARM {
            a.push("HIGH WATER ALARM");
        }
        if r.water > HIGH_WATER_WARNING {
            a.push("HIGH WATER WARNING");
        }
        if fill > HIGH_PRODUCT {
            a.push("HIGH PRODUCT ALARM");
        }
        if fill < LOW_PRODUCT {
            a.push("LOW PRODUCT ALARM");
        } else if fill < DELIVERY_NEEDED {
            a.push("DELIVERY NEEDED");
        }
        a
    }
}

/// Product temperature at `t`: `base` with the slow daily swing of an underground tank
/// (under a degree either way), shifted per tank by `phase`.
pub fn temperature_at(base: f64, phase: f64, t: SystemTime) -> f64 {
    let day = secs(t) / 86_400.0 + phase;
    base + 0.6 * (day * std::f64::consts::TAU).sin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tank() -> Tank {
        Tank {
            number: 1,
            diameter: 96.0,
            length: 192.0,
            fill: (0.25, 0.85),
            cycle: 4.0 * 86_400.0,
            delivery: 900.0,
            phase: 0.3,
        }
    }

    #[test]
    fn geometry_is_consistent() {
        let t = tank();
        let cap = t.capacity();
        assert!((cap - 6_002.0).abs() < 50.0, "{cap}");
        assert!((volume_at(96.0, 192.0, 48.0) - cap / 2.0).abs() < 1.0);
        for g in [0.0, 100.0, 3000.0, cap - 1.0] {
            assert!((volume_at(96.0, 192.0, height_for(96.0, 192.0, g)) - g).abs() < 0.01);
        }
    }

    #[test]
    fn the_level_drains_then_a_delivery_fills_it() {
        let t = tank();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let d = t.last_delivery(now, 55.0, 0.5);
        assert!(d.end <= now && d.start < d.end);
        let after = t.fill_at(d.end + Duration::from_secs(1));
        assert!((after - 0.85).abs() < 0.001, "{after}");
        let later = t.fill_at(d.end + Duration::from_secs(86_400));
        assert!(later < after && later > 0.25);
        let r = t.reading(now, 55.0, 0.5);
        assert!(
            r.volume > 0.0 && r.tc_volume > r.volume,
            "cool product is compensated up"
        );
        assert!((r.volume + r.water_volume + r.ullage - t.capacity()).abs() < 0.01);
        assert!(d.after.volume > d.before.volume);
    }

    #[test]
    fn alarms_follow_the_reading() {
        let t = tank();
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(t.alarms(&t.reading(now, 55.0, 0.2)), Vec::<&str>::new());
        assert_eq!(
            t.alarms(&t.reading(now, 55.0, 3.0)),
            vec!["HIGH WATER ALARM", "HIGH WATER WARNING"]
        );
    }
}
