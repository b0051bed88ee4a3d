//! Building a [`ConsoleConfig`] from a template section: native TOML, or Conpot's
//! `guardian_ast/guardian_ast.xml` (which holds only device information: Conpot's gauge
//! read its products, station name and levels from the databus keys `product1`..4,
//! `station_name`, `vol1`..4, `temp1`..4 and `h2o1`..4, and so does this import).
//!
//! What a template leaves out (tank sizes, delivery cycles, where each tank is in its
//! cycle) is drawn from the persona's seed, so each deployment's tanks differ and stay
//! the same across restarts.

use conpot_core::rng::Rng;
use conpot_core::template::nav::{Errors, Table as TomlTable};
use conpot_core::template::{ProtocolSection, TemplateError};
use conpot_core::{Device, Value};

use crate::console::{ConsoleConfig, MAX_TANKS, TankConfig};
use crate::tanks::{Tank, volume_at};

/// Tank sizes stations have (diameter, length, inches): 6,000 to 15,000 gallons.
const SIZES: [(f64, f64); 4] = [(96.0, 192.0), (96.0, 144.0), (64.0, 192.0), (96.0, 240.0)];
/// Console software versions the persona draws from when it names none.
const SOFTWARE: [&str; 5] = ["124.02", "127.01", "331.01", "332.03", "349.05"];

/// Builds the console of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<ConsoleConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

fn rng_of(device: &Device, salt: u64) -> Rng {
    Rng::from_seed(device.persona.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x7A5_350)
}

/// A tank drawn for deployment `device`, number `n`.
fn drawn_tank(device: &Device, n: u8) -> TankConfig {
    let mut r = rng_of(device, u64::from(n));
    let (diameter, length) = SIZES
        .get(usize::from(n.saturating_sub(1)) % SIZES.len())
        .copied()
        .unwrap_or((96.0, 192.0));
    let lo = r.range_f64(0.12, 0.3);
    let hi = r.range_f64(0.8, 0.93);
    TankConfig {
        tank: Tank {
            number: n,
            diameter,
            length,
            fill: (lo, hi),
            cycle: r.range_f64(60.0, 160.0) * 3600.0,
            delivery: r.range_f64(9.0, 25.0) * 60.0,
            phase: r.range_f64(0.0, 1.0),
        },
        product_key: format!("product{n}"),
        product_code: b'0' + (n % 10),
        temperature_key: None,
        temperature: r.range_f64(52.0, 62.0),
        water_key: None,
        water: (r.range_f64(0.0, 0.9) * 100.0).round() / 100.0,
    }
}

fn defaults(device: &Device) -> ConsoleConfig {
    let mut r = rng_of(device, 0);
    let serial = device
        .persona
        .get("serial")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:010}", r.range_i64(1_000_000, 9_999_999_999)));
    let software = device.persona.get("software").map(str::to_owned).unwrap_or_else(|| {
        SOFTWARE
            .get(r.index(SOFTWARE.len()))
            .copied()
            .unwrap_or("331.01")
            .to_owned()
    });
    ConsoleConfig {
        station_key: "station_name".into(),
        header: Vec::new(),
        serial,
        software,
        tanks: Vec::new(),
        response_time_ms: (0, 0),
        boot: device.boot,
    }
}

fn render(device: &Device, file: &str, key: &str, s: &str, errs: &mut Errors) -> String {
    device.persona.render(s).unwrap_or_else(|e| {
        errs.push(file, key, format!("known persona fields ({e})"));
        String::new()
    })
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<ConsoleConfig> {
    let root = TomlTable::new(file, "protocols.guardian_ast", t);
    root.deny_unknown(
        &[
            "response_time_ms",
            "station_key",
            "header",
            "serial",
            "software",
            "tanks",
        ],
        errs,
    );
    let mut c = defaults(device);
    c.response_time_ms = root.millis_range("response_time_ms", errs);
    if let Some(k) = root.str("station_key", false, errs) {
        c.station_key = k.to_owned();
    }
    if let Some(lines) = root.array("header", false, errs) {
        for (i, l) in lines.iter().enumerate() {
            let key = format!("{}[{i}]", root.key("header"));
            match l.as_str() {
                Some(s) => c.header.push(render(device, file, &key, s, errs)),
                None => errs.push(file, &key, "a string"),
            }
        }
    }
    for (key, slot) in [("serial", &mut c.serial), ("software", &mut c.software)] {
        if let Some(s) = root.str(key, false, errs) {
            *slot = render(device, file, &root.key(key), s, errs);
        }
    }
    let tanks = root.tables("tanks", false, errs);
    if tanks.len() > MAX_TANKS {
        errs.push(file, &root.key("tanks"), format!("at most {MAX_TANKS} tanks"));
    }
    for (i, (path, tt)) in tanks.into_iter().take(MAX_TANKS).enumerate() {
        let n = (i + 1) as u8;
        let tt = TomlTable::new(file, &path, tt);
        tt.deny_unknown(
            &[
                "product_key",
                "product_code",
                "diameter",
                "length",
                "fill",
                "cycle_hours",
                "delivery_minutes",
                "temperature_key",
                "temperature",
                "water_key",
                "water",
            ],
            errs,
        );
        let mut tank = drawn_tank(device, n);
        if let Some(k) = tt.str("product_key", true, errs) {
            if !device.databus.contains(k) {
                errs.push(file, &tt.key("product_key"), format!("a databus key named `{k}`"));
            }
            tank.product_key = k.to_owned();
        }
        if let Some(code) = tt.int("product_code", 0, 9, false, errs) {
            tank.product_code = b'0' + code as u8;
        }
        let num = |key: &str, lo: f64, hi: f64, errs: &mut Errors| -> Option<f64> {
            let v = tt.float(key, errs)?;
            if (lo..=hi).contains(&v) {
                Some(v)
            } else {
                errs.push(file, &tt.key(key), format!("a number from {lo} to {hi}, found {v}"));
                None
            }
        };
        if let Some(v) = num("diameter", 12.0, 240.0, errs) {
            tank.tank.diameter = v;
        }
        if let Some(v) = num("length", 12.0, 1200.0, errs) {
            tank.tank.length = v;
        }
        if let Some(v) = num("cycle_hours", 2.0, 24.0 * 60.0, errs) {
            tank.tank.cycle = v * 3600.0;
        }
        if let Some(v) = num("delivery_minutes", 1.0, 120.0, errs) {
            tank.tank.delivery = v * 60.0;
        }
        if let Some(v) = num("temperature", -40.0, 140.0, errs) {
            tank.temperature = v;
        }
        if let Some(v) = num("water", 0.0, 20.0, errs) {
            tank.water = v;
        }
        if let Some(a) = tt.array("fill", false, errs) {
            let f: Vec<f64> = a
                .iter()
                .filter_map(|v| v.as_float().or(v.as_integer().map(|i| i as f64)))
                .collect();
            match f.as_slice() {
                [lo, hi] if 0.0 < *lo && lo < hi && *hi <= 1.0 => tank.tank.fill = (*lo, *hi),
                _ => errs.push(
                    file,
                    &tt.key("fill"),
                    "[low, high] fractions of capacity, 0 < low < high <= 1",
                ),
            }
        }
        for (key, slot) in [
            ("temperature_key", &mut tank.temperature_key),
            ("water_key", &mut tank.water_key),
        ] {
            if let Some(k) = tt.str(key, false, errs) {
                if !device.databus.contains(k) {
                    errs.push(file, &tt.key(key), format!("a databus key named `{k}`"));
                }
                *slot = Some(k.to_owned());
            }
        }
        c.tanks.push(tank);
    }
    if c.tanks.is_empty() {
        errs.push(file, &root.key("tanks"), "at least one tank");
    }
    errs.is_empty().then_some(c)
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<ConsoleConfig> {
    if let Err(e) = roxmltree::Document::parse(xml) {
        errs.push(file, "", format!("well-formed XML: {e}"));
        return None;
    }
    let mut c = defaults(device);
    let boot = device.boot;
    for n in 1..=4u8 {
        let mut t = drawn_tank(device, n);
        let has = |k: String| device.databus.contains(&k).then_some(k);
        t.temperature_key = has(format!("temp{n}"));
        t.water_key = has(format!("h2o{n}"));
        // Conpot drew the volume at start-up: the tank is at that level at boot.
        if let Some(vol) = device.databus.get(&format!("vol{n}"), boot).and_then(|v| v.as_i128()) {
            // Conpot printed it as the product volume: the water lies under it.
            let water = device
                .databus
                .get(&format!("h2o{n}"), boot)
                .and_then(|v| match v {
                    Value::Float(f) => Some(f),
                    other => other.as_i128().map(|i| i as f64),
                })
                .unwrap_or(t.water)
                .clamp(0.0, 20.0);
            let (lo, hi) = t.tank.fill;
            let total = vol as f64 + volume_at(t.tank.diameter, t.tank.length, water);
            let f0 = (total / t.tank.capacity()).clamp(lo + 0.01, hi - 0.01);
            let c_len = t.tank.cycle.max(3600.0);
            let drain = c_len - t.tank.delivery.clamp(60.0, c_len / 4.0);
            let u = (hi - f0) / (hi - lo) * drain;
            let b = boot
                .duration_since(std::time::SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            t.tank.phase = (u / c_len - b / c_len).rem_euclid(1.0);
        }
        c.tanks.push(t);
    }
    Some(c)
}
