//! Display-format answers: the printable reports of upper-case commands, each framed as
//! the console frames them: `SOH`, CR LF, the command code, the console time, the station
//! header, the report, ETX. Every figure comes from one [`TankView`] per tank, so the
//! inventory, delivery, shift and status reports agree.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use conpot_core::time::Civil;

use crate::command::{ETX, SOH};
use crate::console::{Console, TankView};
use crate::tanks::{DELIVERY_NEEDED, HIGH_PRODUCT, HIGH_WATER_ALARM, HIGH_WATER_WARNING, THERMAL_COEFFICIENT};

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = [
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
];

/// The report header's time: `DEC 1, 2026  9:57 AM`.
pub fn header_time(t: SystemTime) -> String {
    let c = Civil::from_system(t);
    let month = MONTHS
        .get((c.month as usize).saturating_sub(1))
        .copied()
        .unwrap_or("JAN");
    let (h, ampm) = twelve(c.hour);
    format!("{month} {}, {} {h:>2}:{:02} {ampm}", c.day, c.year, c.minute)
}

fn twelve(hour: u32) -> (u32, &'static str) {
    let h = match hour % 12 {
        0 => 12,
        h => h,
    };
    (h, if hour < 12 { "AM" } else { "PM" })
}

/// A table's time: `12/01/2026 09:57`.
pub fn table_time(t: SystemTime) -> String {
    let c = Civil::from_system(t);
    format!("{:02}/{:02}/{} {:02}:{:02}", c.month, c.day, c.year, c.hour, c.minute)
}

/// Midnight (UTC, the console's zone) of the day `t` falls in.
pub fn midnight(t: SystemTime) -> SystemTime {
    let s = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(s - s % 86_400)
}

fn ago(t: SystemTime, secs: u64) -> SystemTime {
    t.checked_sub(Duration::from_secs(secs))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Report text being written, lines ended with CR LF.
struct Page(String);

impl Page {
    fn line(&mut self, s: &str) {
        self.0.push_str(s);
        self.0.push_str("\r\n");
    }

    fn blank(&mut self) {
        self.0.push_str("\r\n");
    }
}

impl std::fmt::Write for Page {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.push_str(s);
        Ok(())
    }
}

macro_rules! line {
    ($p:expr, $($arg:tt)*) => {{
        let _ = write!($p, $($arg)*);
        $p.blank();
    }};
}

fn framed(code: &[u8], t: SystemTime, header: &[String], title: Option<&str>, body: &Page) -> Vec<u8> {
    let mut p = Page(String::with_capacity(body.0.len() + 256));
    p.blank();
    p.line(&String::from_utf8_lossy(code));
    p.line(&header_time(t));
    p.blank();
    for h in header {
        line!(p, "    {h}");
    }
    p.blank();
    if let Some(title) = title {
        p.blank();
        p.line(title);
        p.blank();
    }
    p.0.push_str(&body.0);
    let mut out = Vec::with_capacity(p.0.len() + 2);
    out.push(SOH);
    out.extend_from_slice(p.0.as_bytes());
    out.push(ETX);
    out
}

/// The answer to an accepted set command: its code and the new console time.
pub fn acknowledge(code: &[u8], t: SystemTime) -> Vec<u8> {
    let mut p = Page(String::new());
    p.blank();
    p.line(&String::from_utf8_lossy(code));
    p.line(&header_time(t));
    p.blank();
    let mut out = vec![SOH];
    out.extend_from_slice(p.0.as_bytes());
    out.push(ETX);
    out
}

fn rounded(v: f64) -> i64 {
    v.round() as i64
}

/// The display report of `function` for `tank` (`00` all) at console time `t`, with
/// its title; `None` when the console has no such report or tank.
pub fn report(
    console: &Console,
    code: &[u8],
    function: u16,
    tank: u8,
    t: SystemTime,
    now: SystemTime,
) -> Option<(&'static str, Vec<u8>)> {
    let system = !(200..500).contains(&function);
    if system && tank != 0 && !matches!(function, 601 | 602 | 609) {
        return None;
    }
    let views = console.select(console.tanks(t, now), tank)?;
    let mut p = Page(String::new());
    let title: &'static str = match function {
        101 => {
            system_status(&mut p, &views);
            "SYSTEM STATUS REPORT"
        }
        102 => {
            system_configuration(&mut p, console, &views);
            "SYSTEM CONFIGURATION"
        }
        111 => {
            alarm_history(&mut p, console, &views, t);
            "PRIORITY ALARM HISTORY"
        }
        112 => {
            non_priority_alarms(&mut p, console);
            "NON-PRIORITY ALARM HISTORY"
        }
        201 => {
            inventory(&mut p, &views);
            "IN-TANK INVENTORY"
        }
        202 => {
            for v in &views {
                delivery(&mut p, v, t);
            }
            "DELIVERY REPORT"
        }
        203 => {
            for v in &views {
                line!(p, "TANK {}    {}", v.number(), v.product);
                p.line("    TEST STATUS: OFF");
                p.line("LEAK DATA NOT AVAILABLE ON THIS TANK");
                p.blank();
            }
            "LEAK REPORT"
        }
        204 => {
            p.line("SHIFT 1 TIME: 12:00 AM");
            p.blank();
            p.line("TANK PRODUCT");
            p.blank();
            for v in &views {
                shift(&mut p, console, v, t, now);
            }
            "SHIFT REPORT"
        }
        205 => {
            status(&mut p, &views);
            "IN-TANK STATUS"
        }
        206 => {
            for v in &views {
                line!(p, "TANK {}    {}", v.number(), v.product);
                p.blank();
                let entries = tank_alarms(console, v, t);
                if entries.is_empty() {
                    p.line("  NO ALARMS TO REPORT");
                }
                for (at, what, state) in entries {
                    line!(p, "  {}  {what:<20}{state}", table_time(at));
                }
                p.blank();
            }
            "IN-TANK ALARM HISTORY"
        }
        207 => {
            for v in &views {
                diagnostics(&mut p, console, v);
            }
            "IN-TANK DIAGNOSTICS"
        }
        208 => {
            for v in &views {
                leak_tests(&mut p, console, v, t, now, 1);
            }
            "TANK TEST RESULTS"
        }
        209 => {
            for v in &views {
                leak_tests(&mut p, console, v, t, now, 3);
            }
            "TANK LEAK TEST HISTORY"
        }
        214 => {
            for v in &views {
                line!(p, "TANK {}    {}", v.number(), v.product);
                p.blank();
                p.line("  NO ALARMS TO REPORT");
                p.blank();
            }
            "OVERFILL ALARM HISTORY"
        }
        251 => {
            let test = ago(midnight(t), 86_400 - 3 * 3600);
            for v in &views {
                line!(p, "LINE {}    {}", v.number(), v.product);
                line!(p, "    LAST TEST       : {}", table_time(test));
                p.line("    RESULT          : PASS");
                p.line("    TEST TYPE       : 3.0 GPH");
                p.blank();
            }
            "LINE LEAK TEST RESULTS"
        }
        301 => {
            for v in &views {
                line!(p, "  {:>2}  STP SUMP {:<12}SENSOR NORMAL", v.number(), v.number());
            }
            line!(p, "  {:>2}  DISPENSER PAN       SENSOR NORMAL", views.len() + 1);
            p.blank();
            "LIQUID SENSOR STATUS"
        }
        302 => {
            p.line("  NO ALARMS TO REPORT");
            p.blank();
            "SENSOR ALARM HISTORY"
        }
        501 => {
            let c = Civil::from_system(t);
            let days = t
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() / 86_400)
                .unwrap_or(0);
            line!(p, "  DATE: {:02}/{:02}/{}", c.month, c.day, c.year);
            line!(p, "  TIME: {:02}:{:02}:{:02}", c.hour, c.minute, c.second);
            line!(p, "  DAY : {}", DAYS.get((days % 7) as usize).copied().unwrap_or(""));
            p.blank();
            "TIME OF DAY"
        }
        601 => {
            for v in &views {
                tank_configuration(&mut p, v);
            }
            "TANK CONFIGURATION"
        }
        602 => {
            for v in &views {
                line!(p, "  TANK {}: {}", v.number(), v.product);
            }
            p.blank();
            "TANK PRODUCT LABEL"
        }
        609 => {
            for v in &views {
                line!(p, "  SENSOR {}: STP SUMP {}", v.number(), v.number());
                p.line("      TYPE     : TRI-STATE (SINGLE FLOAT)");
                p.line("      CATEGORY : STP SUMP");
                p.blank();
            }
            "LIQUID SENSOR CONFIGURATION"
        }
        _ => return None,
    };
    Some((title, framed(code, t, &console.header(now), Some(title), &p)))
}

fn system_status(p: &mut Page, views: &[TankView<'_>]) {
    let mut any = false;
    for v in views {
        for a in v.config.tank.alarms(&v.reading) {
            line!(p, "T {}:{a}", v.number());
            any = true;
        }
    }
    if !any {
        p.line("ALL FUNCTIONS NORMAL");
    }
    p.blank();
}

fn system_configuration(p: &mut Page, console: &Console, views: &[TankView<'_>]) {
    line!(p, "  SERIAL NUMBER   : {}", console.config.serial);
    line!(p, "  SOFTWARE VERSION: {}", console.config.software);
    p.line("  LANGUAGE        : ENGLISH");
    p.line("  UNITS           : U.S.");
    line!(p, "  TANKS           : {}", views.len());
    p.blank();
    for v in views {
        line!(
            p,
            "  TANK {}: {:<20} {:>6} GAL",
            v.number(),
            v.product,
            rounded(v.config.tank.capacity())
        );
    }
    p.blank();
}

fn inventory(p: &mut Page, views: &[TankView<'_>]) {
    p.line("TANK PRODUCT             VOLUME TC VOLUME   ULLAGE   HEIGHT    WATER     TEMP");
    for v in views {
        let r = &v.reading;
        line!(
            p,
            "{:>3}  {:<20}{:>6}{:>10}{:>9}{:>9.2}{:>9.2}{:>9.2}",
            v.number(),
            v.product,
            rounded(r.volume),
            rounded(r.tc_volume),
            rounded(r.ullage),
            r.height,
            r.water,
            r.temperature
        );
    }
    p.blank();
}

fn delivery(p: &mut Page, v: &TankView<'_>, t: SystemTime) {
    let d = v.config.tank.last_delivery(t, v.temperature, v.water);
    line!(p, "T {}:{}", v.number(), v.product);
    p.line("INCREASE   DATE / TIME             GALLONS TC GALLONS WATER  TEMP DEG F  HEIGHT");
    p.blank();
    for (label, at, r) in [("END", d.end, &d.after), ("START", d.start, &d.before)] {
        line!(
            p,
            "{label:>9}: {:<16}{:>15}{:>11}{:>7.2}{:>11.2}{:>8.2}",
            table_time(at),
            rounded(r.volume),
            rounded(r.tc_volume),
            r.water,
            r.temperature,
            r.height
        );
    }
    line!(
        p,
        "   AMOUNT: {:<16}{:>15}{:>11}",
        "",
        rounded(d.after.volume) - rounded(d.before.volume),
        rounded(d.after.tc_volume) - rounded(d.before.tc_volume)
    );
    p.blank();
}

fn shift(p: &mut Page, console: &Console, v: &TankView<'_>, t: SystemTime, now: SystemTime) {
    let start_t = midnight(t);
    let start = console.view(v.config, start_t, now).reading;
    let end = &v.reading;
    let d = v.config.tank.last_delivery(t, v.temperature, v.water);
    let delivered = if d.end > start_t {
        rounded(d.after.volume) - rounded(d.before.volume)
    } else {
        0
    };
    let sold = rounded(start.volume) + delivered - rounded(end.volume);
    line!(
        p,
        "{:>3}  {:<20}  VOLUME TC VOLUME  ULLAGE  HEIGHT  WATER   TEMP",
        v.number(),
        v.product
    );
    for (label, r) in [("SHIFT  1 STARTING VALUES", &start), ("         ENDING VALUES", end)] {
        line!(
            p,
            "{label:<24}{:>8}{:>10}{:>8}{:>8.2}{:>7.2}{:>7.2}",
            rounded(r.volume),
            rounded(r.tc_volume),
            rounded(r.ullage),
            r.height,
            r.water,
            r.temperature
        );
    }
    line!(p, "         DELIVERY VALUE  {delivered:>7}");
    line!(p, "         TOTALS          {sold:>7}");
    p.blank();
}

fn status(p: &mut Page, views: &[TankView<'_>]) {
    p.line("TANK   PRODUCT                 STATUS");
    p.blank();
    for v in views {
        let alarms = v.config.tank.alarms(&v.reading);
        let mut it = alarms.iter();
        line!(
            p,
            "{:>3}    {:<24}{}",
            v.number(),
            v.product,
            it.next().copied().unwrap_or("NORMAL")
        );
        for a in it {
            line!(p, "{:31}{a}", "");
        }
        p.blank();
    }
}

/// A tank's alarm history at `t`, newest first: the delivery-needed alarm of the last
/// cycle (cleared by the delivery) and of this one if the level is that low again, and
/// water alarms standing since power-on.
pub fn tank_alarms(
    console: &Console,
    v: &TankView<'_>,
    t: SystemTime,
) -> Vec<(SystemTime, &'static str, &'static str)> {
    let tank = &v.config.tank;
    let mut e = Vec::new();
    if let Some(cross) = tank.last_crossing(t, DELIVERY_NEEDED) {
        let d = tank.last_delivery(t, v.temperature, v.water);
        if cross > d.end {
            e.push((cross, "DELIVERY NEEDED", "ALARM"));
            if let Some(before) = cross.checked_sub(Duration::from_secs_f64(tank.cycle.max(3600.0))) {
                e.push((d.end, "DELIVERY NEEDED", "CLEARED"));
                e.push((before, "DELIVERY NEEDED", "ALARM"));
            }
        } else {
            e.push((d.end, "DELIVERY NEEDED", "CLEARED"));
            e.push((cross, "DELIVERY NEEDED", "ALARM"));
        }
    }
    let boot = console.config.boot.min(t);
    if v.water > HIGH_WATER_WARNING {
        e.push((boot, "HIGH WATER WARNING", "ALARM"));
    }
    if v.water > HIGH_WATER_ALARM {
        e.push((boot, "HIGH WATER ALARM", "ALARM"));
    }
    if tank.fill.1 > HIGH_PRODUCT {
        let d = tank.last_delivery(t, v.temperature, v.water);
        e.push((d.end, "HIGH PRODUCT ALARM", "ALARM"));
    }
    e.sort_by_key(|a| std::cmp::Reverse(a.0));
    e
}

fn alarm_history(p: &mut Page, console: &Console, views: &[TankView<'_>], t: SystemTime) {
    p.line("ID  CATEGORY  DESCRIPTION          ALARM TYPE           STATE    DATE    TIME");
    let mut all = Vec::new();
    for v in views {
        for (at, what, state) in tank_alarms(console, v, t) {
            all.push((at, v.number(), v.product.clone(), what, state));
        }
    }
    all.sort_by_key(|a| std::cmp::Reverse(a.0));
    for (at, n, product, what, state) in all {
        line!(
            p,
            "T {n:<2}TANK      {product:<21}{what:<21}{state:<8} {}",
            table_time(at)
        );
    }
    p.blank();
}

fn non_priority_alarms(p: &mut Page, console: &Console) {
    p.line("ID  CATEGORY  DESCRIPTION          ALARM TYPE           STATE    DATE    TIME");
    let boot = console.config.boot;
    line!(
        p,
        "    SYSTEM                         PAPER OUT            CLEAR    {}",
        table_time(boot + Duration::from_secs(11 * 60))
    );
    line!(
        p,
        "    SYSTEM                         PAPER OUT            ALARM    {}",
        table_time(boot)
    );
    p.blank();
}

fn diagnostics(p: &mut Page, console: &Console, v: &TankView<'_>) {
    let serial = console
        .config
        .serial
        .bytes()
        .fold(u32::from(v.number()) * 7919, |a, b| {
            a.wrapping_mul(31).wrapping_add(u32::from(b))
        })
        % 900_000
        + 100_000;
    line!(p, "TANK {}    {}", v.number(), v.product);
    p.line("    PROBE TYPE        : MAG PLUS");
    line!(p, "    PROBE SERIAL NUM  : {serial}");
    line!(p, "    PROBE LENGTH (IN) : {:.2}", v.config.tank.diameter);
    p.line("    PROBE STATUS      : OK");
    p.line("    TEMP SENSORS      : 5 OK");
    p.line("    WATER FLOAT       : OK");
    p.blank();
}

fn leak_tests(p: &mut Page, console: &Console, v: &TankView<'_>, t: SystemTime, now: SystemTime, n: u64) {
    line!(p, "TANK {}    {}", v.number(), v.product);
    for k in 0..n {
        // Tests run at 02:00 each night, on what the tank held then.
        let mut at = midnight(t) + Duration::from_secs(2 * 3600);
        if at > t {
            at = ago(at, 86_400);
        }
        let at = ago(at, k * 86_400);
        let r = console.view(v.config, at, now).reading;
        line!(p, "    TEST DATE         : {}", table_time(at));
        p.line("    RESULT            : PASS  0.20 GAL/HR");
        line!(p, "    TEST VOLUME (GAL) : {}", rounded(r.volume));
        p.line("    DURATION          : 2 HOURS");
    }
    p.blank();
}

fn tank_configuration(p: &mut Page, v: &TankView<'_>) {
    let tank = &v.config.tank;
    let cap = tank.capacity();
    line!(p, "TANK {}    {}", v.number(), v.product);
    line!(p, "    FULL VOLUME (GAL) : {}", rounded(cap));
    line!(p, "    DIAMETER (IN)     : {:.2}", tank.diameter);
    line!(p, "    THERMAL COEFF     : {THERMAL_COEFFICIENT:.6}");
    line!(p, "    HIGH PRODUCT      : {}", rounded(cap * HIGH_PRODUCT));
    line!(p, "    DELIVERY LIMIT    : {}", rounded(cap * DELIVERY_NEEDED));
    line!(p, "    HIGH WATER LIMIT  : {HIGH_WATER_ALARM:.2}");
    line!(p, "    WATER WARNING     : {HIGH_WATER_WARNING:.2}");
    p.blank();
}
