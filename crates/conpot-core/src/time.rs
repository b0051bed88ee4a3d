//! Calendar formatting of timestamps (UTC), without a time-zone database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC calendar date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
    /// Microseconds, 0-999999.
    pub micros: u32,
}

impl Civil {
    /// The UTC calendar time of `t` (times before 1970 clamp to the epoch).
    pub fn from_system(t: SystemTime) -> Civil {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let secs = d.as_secs() as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: ((rem % 3600) / 60) as u32,
            second: (rem % 60) as u32,
            micros: d.subsec_micros(),
        }
    }
}

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an RFC 3339 date-time (`2019-03-14T09:12:00Z`, `2019-03-14T10:12:00.5+01:00`),
/// also accepting a space for `T`, no zone (read as UTC) and a date alone (midnight
/// UTC). Years 1970 to 9999; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    fn num(s: &str) -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let text = text.trim();
    let date = text.get(..10)?;
    let rest = text.get(10..)?;
    let (y, m, d) = (num(date.get(..4)?)?, num(date.get(5..7)?)?, num(date.get(8..10)?)?);
    if date.get(4..5)? != "-" || date.get(7..8)? != "-" || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if d == 0 || d > *month_days.get(m as usize - 1)? {
        return None;
    }
    let mut secs = days_from_civil(i64::from(y), m, d) * 86_400;
    let mut nanos = 0u32;
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        let time = rest.get(..8)?;
        let (hh, mm, ss) = (num(time.get(..2)?)?, num(time.get(3..5)?)?, num(time.get(6..8)?)?);
        if time.get(2..3)? != ":" || time.get(5..6)? != ":" || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        secs += i64::from(hh * 3600 + mm * 60 + ss.min(59));
        let mut zone = rest.get(8..)?;
        if let Some(frac) = zone.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return None;
            }
            let digits = frac.get(..n)?;
            nanos = num(digits)? * 10u32.pow(9 - n as u32);
            zone = frac.get(n..)?;
        }
        match zone {
            "" | "Z" | "z" => {}
            z => {
                let sign = match z.get(..1)? {
                    "+" => 1,
                    "-" => -1,
                    _ => return None,
                };
                let (oh, om) = (num(z.get(1..3)?)?, num(z.get(4..6)?)?);
                if z.len() != 6 || z.get(3..4)? != ":" || oh > 23 || om > 59 {
                    return None;
                }
                secs -= sign * i64::from(oh * 3600 + om * 60);
            }
        }
    }
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// A timestamp displayed as ISO 8601 with microseconds, with or without the `Z` zone
/// (formats straight into the writer, without an intermediate string).
#[derive(Debug, Clone, Copy)]
pub struct Iso8601 {
    /// The time.
    pub time: SystemTime,
    /// Append `Z` (RFC 3339, UTC); without it, Conpot's naive form.
    pub zone: bool,
}

impl std::fmt::Display for Iso8601 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = Civil::from_system(self.time);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.micros,
            if self.zone { "Z" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        let t = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
        assert_eq!(t("2026-11-25T13:01:42Z"), Some(1_795_611_702.0));
        assert_eq!(t("2026-11-25 14:01:42+01:00"), Some(1_795_611_702.0));
        assert_eq!(t("2026-11-25T12:31:42.25-00:30"), Some(1_795_611_702.25));
        assert_eq!(t("2026-11-25T13:01:42"), Some(1_795_611_702.0));
        assert_eq!(t("2000-02-29"), Some(951_782_400.0));
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0.0));
        for bad in [
            "",
            "2001-02-29",
            "2026-13-01",
            "2026-11-25T24:00:00Z",
            "2026-11-25T13:01",
            "2026-11-25T13:01:42+1:00",
            "2026-11-25X13:01:42",
            "1969-12-31T23:59:59Z",
            "2026-11-25T13:01:42.Z",
            "+202-11-25",
            "2026-11-25T13:01:42Zx",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        let c = Civil::from_system(parse_rfc3339("2024-02-29T23:59:59Z").unwrap());
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute, c.second),
            (2024, 2, 29, 23, 59, 59)
        );
    }

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_611_702_444_137);
        assert_eq!(
            Iso8601 { time: t, zone: true }.to_string(),
            "2026-11-25T13:01:42.444137Z"
        );
        assert_eq!(
            Iso8601 { time: t, zone: false }.to_string(),
            "2026-11-25T13:01:42.444137"
        );
        assert_eq!(
            Iso8601 {
                time: UNIX_EPOCH,
                zone: true
            }
            .to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        // Leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(
            Iso8601 { time: t, zone: true }.to_string(),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
