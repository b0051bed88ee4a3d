//! Sensors, their SDR repository records (full sensor records, IPMI v2.0 section 43.1)
//! and readings, and SEL records (section 32.1). A sensor's value is read from the
//! databus (so a template or another protocol may drive it) and wanders a little around
//! it over time, as real fans and temperatures do.

use std::time::{SystemTime, UNIX_EPOCH};

use conpot_core::Value;
use conpot_core::databus::Databus;

/// What a sensor measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Degrees Celsius.
    Temperature,
    /// Fan speed in RPM.
    Fan,
    /// Volts.
    Voltage,
}

impl Kind {
    /// Parses a template's name (`temperature`, `fan`, `voltage`).
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "temperature" | "temp" => Kind::Temperature,
            "fan" => Kind::Fan,
            "voltage" | "volt" => Kind::Voltage,
            _ => return None,
        })
    }

    /// Sensor type code.
    fn sensor_type(self) -> u8 {
        match self {
            Kind::Temperature => 0x01,
            Kind::Voltage => 0x02,
            Kind::Fan => 0x04,
        }
    }

    /// Base unit code.
    fn unit(self) -> u8 {
        match self {
            Kind::Temperature => 1,
            Kind::Voltage => 4,
            Kind::Fan => 18,
        }
    }

    /// Entity id (processor for temperatures, fan device, system board).
    fn entity(self) -> u8 {
        match self {
            Kind::Temperature => 0x03,
            Kind::Fan => 0x1D,
            Kind::Voltage => 0x07,
        }
    }
}

/// One threshold sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    /// Sensor number.
    pub number: u8,
    /// ID string (at most 16 bytes are shown).
    pub name: String,
    /// What it measures.
    pub kind: Kind,
    /// Databus key of its value.
    pub key: String,
    /// Value when the databus holds none.
    pub nominal: f64,
}

/// Linear conversion of a sensor: value = M * raw * 10^r_exp.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    m: u16,
    r_exp: i8,
}

impl Sensor {
    fn scale(&self) -> Scale {
        match self.kind {
            Kind::Temperature => Scale { m: 1, r_exp: 0 },
            Kind::Fan => Scale { m: 60, r_exp: 0 },
            Kind::Voltage => {
                // Full scale about 1.5 times the nominal voltage, in 10 mV steps.
                let m = ((self.nominal.abs() * 1.5 / 255.0) * 100.0).ceil().clamp(1.0, 1023.0) as u16;
                Scale { m, r_exp: -2 }
            }
        }
    }

    fn to_raw(&self, value: f64) -> u8 {
        let s = self.scale();
        let raw = value / (f64::from(s.m) * 10f64.powi(i32::from(s.r_exp)));
        raw.round().clamp(0.0, 255.0) as u8
    }

    /// Thresholds as values: lower non-recoverable, critical, non-critical, then upper
    /// non-critical, critical, non-recoverable.
    fn thresholds(&self) -> [f64; 6] {
        let n = self.nominal;
        match self.kind {
            Kind::Temperature => [0.0, 5.0, 10.0, n + 30.0, n + 40.0, n + 50.0],
            Kind::Fan => [0.0, 300.0, 600.0, 14_000.0, 15_000.0, 15_240.0],
            Kind::Voltage => [n * 0.85, n * 0.9, n * 0.95, n * 1.05, n * 1.1, n * 1.15],
        }
    }

    /// The sensor's value now: the databus value, wandering a little.
    pub fn value(&self, databus: &Databus, now: SystemTime) -> f64 {
        let base = databus
            .get(&self.key, now)
            .and_then(|v| match v {
                Value::Float(f) => Some(f),
                other => other.as_i128().map(|i| i as f64),
            })
            .unwrap_or(self.nominal);
        let t = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let phase = f64::from(self.number) * 1.7;
        let swing = match self.kind {
            Kind::Temperature => 1.5,
            Kind::Fan => 120.0,
            Kind::Voltage => base.abs() * 0.004,
        };
        base + swing * (t / 97.0 + phase).sin()
    }

    /// The Get Sensor Reading answer data: reading, flags (scanning on, events on),
    /// threshold state, and the reserved fourth byte.
    pub fn reading(&self, databus: &Databus, now: SystemTime) -> [u8; 4] {
        let raw = self.to_raw(self.value(databus, now));
        let t = self.thresholds().map(|v| self.to_raw(v));
        let mut state = 0u8;
        let bits = [
            (raw <= t[2], 0x01),
            (raw <= t[1], 0x02),
            (raw <= t[0] && t[0] > 0, 0x04),
            (raw >= t[3], 0x08),
            (raw >= t[4], 0x10),
            (raw >= t[5], 0x20),
        ];
        for (on, bit) in bits {
            if on {
                state |= bit;
            }
        }
        [raw, 0xC0, state, 0x80]
    }

    /// The full sensor record with record id `id`.
    pub fn sdr(&self, id: u16) -> Vec<u8> {
        let s = self.scale();
        let t = self.thresholds().map(|v| self.to_raw(v));
        let name: Vec<u8> = self.name.bytes().take(16).collect();
        let mut r = Vec::with_capacity(64);
        r.extend(id.to_le_bytes());
        r.extend([0x51, 0x01, 0]);
        r.extend([0x20, 0x00, self.number]);
        r.extend([self.kind.entity(), 0x01, 0x7F, 0x68, self.kind.sensor_type(), 0x01]);
        // Assertion, deassertion and reading masks: every threshold readable and settable.
        r.extend([0x95, 0x0A, 0x95, 0x0A, 0x3F, 0x3F]);
        r.extend([0x00, self.kind.unit(), 0x00, 0x00]);
        r.extend([(s.m & 0xFF) as u8, ((s.m >> 2) as u8) & 0xC0, 0x00, 0x00, 0x00]);
        r.push(((s.r_exp as u8) & 0x0F) << 4);
        r.push(0x07);
        let nominal = self.to_raw(self.nominal);
        r.extend([nominal, t[3], t[2], 0xFF, 0x00]);
        r.extend([t[5], t[4], t[3], t[0], t[1], t[2]]);
        r.extend([0x02, 0x02, 0x00, 0x00, 0x00]);
        r.push(0xC0 | name.len() as u8);
        r.extend(&name);
        let len = r.len().saturating_sub(5) as u8;
        if let Some(b) = r.get_mut(4) {
            *b = len;
        }
        r
    }
}

/// A system event SEL record.
pub fn sel_record(id: u16, at: SystemTime, sensor_type: u8, data: [u8; 3]) -> [u8; 16] {
    let ts = at
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    let mut r = [0u8; 16];
    let id = id.to_le_bytes();
    let ts = ts.to_le_bytes();
    let fields = [
        id[0],
        id[1],
        0x02,
        ts[0],
        ts[1],
        ts[2],
        ts[3],
        0x20,
        0x00,
        0x04,
        sensor_type,
        0x01,
        0x6F,
        data[0],
        data[1],
        data[2],
    ];
    r.copy_from_slice(&fields);
    r
}

/// The SEL a BMC shows after its device booted: the log cleared when it was installed,
/// then the system's boot.
pub fn boot_sel(boot: SystemTime, power_on: bool) -> Vec<[u8; 16]> {
    let installed = boot
        .checked_sub(std::time::Duration::from_secs(41 * 86_400 + 3_611))
        .unwrap_or(boot);
    let mut sel = vec![sel_record(1, installed, 0x10, [0x02, 0xFF, 0xFF])];
    if power_on {
        sel.push(sel_record(2, boot, 0x1D, [0x00, 0xFF, 0xFF]));
    }
    sel
}

/// The sensors of a typical two-socket server board.
pub fn default_sensors() -> Vec<Sensor> {
    let s = |number, name: &str, kind, key: &str, nominal| Sensor {
        number,
        name: name.to_owned(),
        kind,
        key: key.to_owned(),
        nominal,
    };
    vec![
        s(0x01, "CPU1 Temp", Kind::Temperature, "ipmi_cpu1_temp", 46.0),
        s(0x02, "CPU2 Temp", Kind::Temperature, "ipmi_cpu2_temp", 43.0),
        s(0x0B, "System Temp", Kind::Temperature, "ipmi_system_temp", 31.0),
        s(0x41, "FAN1", Kind::Fan, "ipmi_fan1", 5_400.0),
        s(0x42, "FAN2", Kind::Fan, "ipmi_fan2", 5_300.0),
        s(0x43, "FAN3", Kind::Fan, "ipmi_fan3", 5_500.0),
        s(0x30, "12V", Kind::Voltage, "ipmi_12v", 12.0),
        s(0x31, "5VCC", Kind::Voltage, "ipmi_5v", 5.0),
        s(0x32, "3.3VCC", Kind::Voltage, "ipmi_3v3", 3.3),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn sdr_record_lengths_and_readings() {
        let bus = Databus::new();
        for s in default_sensors() {
            let r = s.sdr(7);
            assert_eq!(usize::from(r[4]), r.len() - 5, "{}", s.name);
            assert_eq!(r.len(), 48 + s.name.len());
            assert_eq!(r[7], s.number);
            let reading = s.reading(&bus, UNIX_EPOCH);
            let back = f64::from(reading[0]) * f64::from(s.scale().m) * 10f64.powi(i32::from(s.scale().r_exp));
            assert!((back - s.nominal).abs() < s.nominal * 0.1, "{} {back}", s.name);
            assert_eq!(reading[2], 0, "{} within thresholds", s.name);
        }
    }

    #[test]
    fn databus_drives_the_value() {
        let bus = Databus::new();
        let s = &default_sensors()[0];
        bus.set(&s.key, Value::Float(95.0));
        let r = s.reading(&bus, UNIX_EPOCH);
        assert!(r[0] >= 93 && r[2] & 0x18 == 0x18, "{r:?}");
    }
}
