//! Computer-format answers (lower-case commands): `SOH`, the command code, the console
//! time as `YYMMDDHHmm`, packed fields (numbers as eight hex digits of an IEEE 754 single),
//! `&&`, a four-hex-digit checksum and ETX. The checksum makes the 16-bit sum of every
//! byte from `SOH` through the checksum zero, so software can check the answer.

use std::time::SystemTime;

use crate::command::{ETX, SOH};
use crate::console::{Console, TankView, clock_stamp};
use crate::tanks::Reading;

/// The checksum that makes the 16-bit sum of `bytes` and it zero.
pub fn checksum(bytes: &[u8]) -> u16 {
    let sum = bytes.iter().fold(0u16, |a, &b| a.wrapping_add(u16::from(b)));
    sum.wrapping_neg()
}

/// Whether a computer-format answer (`SOH` .. `&&CCCC` .. ETX) carries a right checksum.
pub fn checksum_ok(answer: &[u8]) -> bool {
    let body = match answer.last() {
        Some(&ETX) => answer.get(..answer.len() - 1).unwrap_or_default(),
        _ => answer,
    };
    let Some(split) = body.len().checked_sub(4) else {
        return false;
    };
    let (data, sum) = body.split_at(split);
    if !data.ends_with(b"&&") {
        return false;
    }
    let Ok(sum) = std::str::from_utf8(sum) else {
        return false;
    };
    u16::from_str_radix(sum, 16).is_ok_and(|s| s == checksum(data))
}

/// A number as the computer format sends it.
pub fn hex_float(v: f64) -> String {
    format!("{:08X}", (v as f32).to_bits())
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(b"&&");
    let sum = checksum(&out);
    out.extend_from_slice(format!("{sum:04X}").as_bytes());
    out.push(ETX);
    out
}

fn start(code: &[u8], t: SystemTime) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(SOH);
    out.extend_from_slice(code);
    out.extend_from_slice(clock_stamp(t).as_bytes());
    out
}

/// The answer to an accepted set command.
pub fn acknowledge(code: &[u8], t: SystemTime) -> Vec<u8> {
    finish(start(code, t))
}

fn floats(out: &mut Vec<u8>, values: &[f64]) {
    out.extend_from_slice(format!("{:02X}", values.len()).as_bytes());
    for &v in values {
        out.extend_from_slice(hex_float(v).as_bytes());
    }
}

fn inventory_fields(r: &Reading) -> [f64; 7] {
    [
        r.volume,
        r.tc_volume,
        r.ullage,
        r.height,
        r.water,
        r.temperature,
        r.water_volume,
    ]
}

/// Alarm type numbers of the computer format's status answer.
fn alarm_number(name: &str) -> &'static str {
    match name {
        "HIGH WATER ALARM" => "03",
        "LOW PRODUCT ALARM" => "05",
        "HIGH PRODUCT ALARM" => "07",
        "HIGH WATER WARNING" => "10",
        "DELIVERY NEEDED" => "11",
        _ => "01",
    }
}

fn tank_id(out: &mut Vec<u8>, v: &TankView<'_>) {
    out.extend_from_slice(format!("{:02}", v.number()).as_bytes());
}

/// The computer-format answer of `function` for `tank`, or `None` when the console has
/// no such report in this format.
pub fn report(
    console: &Console,
    code: &[u8],
    function: u16,
    tank: u8,
    t: SystemTime,
    now: SystemTime,
) -> Option<(&'static str, Vec<u8>)> {
    let views = console.select(console.tanks(t, now), tank)?;
    let mut out = start(code, t);
    let what = match function {
        201 => {
            for v in &views {
                tank_id(&mut out, v);
                out.push(v.config.product_code);
                let flags: u16 = u16::from(!v.config.tank.alarms(&v.reading).is_empty()) << 2;
                out.extend_from_slice(format!("{flags:04X}").as_bytes());
                floats(&mut out, &inventory_fields(&v.reading));
            }
            "IN-TANK INVENTORY"
        }
        202 => {
            for v in &views {
                let d = v.config.tank.last_delivery(t, v.temperature, v.water);
                tank_id(&mut out, v);
                out.push(v.config.product_code);
                out.extend_from_slice(b"01");
                out.extend_from_slice(clock_stamp(d.start).as_bytes());
                out.extend_from_slice(clock_stamp(d.end).as_bytes());
                let (b, a) = (&d.before, &d.after);
                floats(
                    &mut out,
                    &[
                        b.volume,
                        b.tc_volume,
                        b.water,
                        b.temperature,
                        a.volume,
                        a.tc_volume,
                        a.water,
                        a.temperature,
                        b.height,
                        a.height,
                    ],
                );
            }
            "DELIVERY REPORT"
        }
        205 => {
            for v in &views {
                let alarms = v.config.tank.alarms(&v.reading);
                tank_id(&mut out, v);
                out.extend_from_slice(format!("{:02}", alarms.len()).as_bytes());
                for a in alarms {
                    out.extend_from_slice(alarm_number(a).as_bytes());
                }
            }
            "IN-TANK STATUS"
        }
        602 => {
            for v in &views {
                tank_id(&mut out, v);
                out.extend_from_slice(format!("{:<20}", v.product).as_bytes());
            }
            "TANK PRODUCT LABEL"
        }
        _ => return None,
    };
    Some((what, finish(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_makes_the_sum_zero() {
        let a = acknowledge(b"s60201", SystemTime::UNIX_EPOCH);
        assert!(checksum_ok(&a));
        let mut bad = a.clone();
        if let Some(b) = bad.get_mut(3) {
            *b ^= 1;
        }
        assert!(!checksum_ok(&bad));
        assert!(!checksum_ok(b"\x01"));
        assert_eq!(hex_float(1.0), "3F800000");
    }
}
