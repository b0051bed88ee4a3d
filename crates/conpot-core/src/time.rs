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
