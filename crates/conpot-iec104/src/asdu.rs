//! ASDUs: the data unit identifier (type, variable structure qualifier, cause of
//! transmission with the originator address, common address), information object
//! addresses, the element encodings of the types served, and CP56Time2a time tags.

use std::time::{SystemTime, UNIX_EPOCH};

/// Causes of transmission.
pub mod cot {
    /// Spontaneous.
    pub const SPONTANEOUS: u8 = 3;
    /// Initialised.
    pub const INITIALISED: u8 = 4;
    /// Request (read).
    pub const REQUEST: u8 = 5;
    /// Activation.
    pub const ACTIVATION: u8 = 6;
    /// Activation confirmation.
    pub const ACT_CON: u8 = 7;
    /// Deactivation.
    pub const DEACTIVATION: u8 = 8;
    /// Deactivation confirmation.
    pub const DEACT_CON: u8 = 9;
    /// Activation termination.
    pub const ACT_TERM: u8 = 10;
    /// Interrogated by station interrogation.
    pub const INROGEN: u8 = 20;
    /// Requested by general counter interrogation.
    pub const REQCOGEN: u8 = 37;
    /// Unknown type identification.
    pub const UNKNOWN_TYPE: u8 = 44;
    /// Unknown cause of transmission.
    pub const UNKNOWN_CAUSE: u8 = 45;
    /// Unknown common address.
    pub const UNKNOWN_CA: u8 = 46;
    /// Unknown information object address.
    pub const UNKNOWN_IOA: u8 = 47;
    /// The negative confirmation bit.
    pub const NEGATIVE: u8 = 0x40;
}

/// Type identifications.
pub mod ty {
    /// Single point.
    pub const M_SP_NA_1: u8 = 1;
    /// Double point.
    pub const M_DP_NA_1: u8 = 3;
    /// Step position.
    pub const M_ST_NA_1: u8 = 5;
    /// Measured value, normalised.
    pub const M_ME_NA_1: u8 = 9;
    /// Measured value, scaled.
    pub const M_ME_NB_1: u8 = 11;
    /// Measured value, short floating point.
    pub const M_ME_NC_1: u8 = 13;
    /// Integrated totals.
    pub const M_IT_NA_1: u8 = 15;
    /// Single point with CP56Time2a.
    pub const M_SP_TB_1: u8 = 30;
    /// Double point with CP56Time2a.
    pub const M_DP_TB_1: u8 = 31;
    /// Measured value, normalised, with CP56Time2a.
    pub const M_ME_TD_1: u8 = 34;
    /// Measured value, scaled, with CP56Time2a.
    pub const M_ME_TE_1: u8 = 35;
    /// Measured value, short floating point, with CP56Time2a.
    pub const M_ME_TF_1: u8 = 36;
    /// Integrated totals with CP56Time2a.
    pub const M_IT_TB_1: u8 = 37;
    /// End of initialisation.
    pub const M_EI_NA_1: u8 = 70;
    /// Single command.
    pub const C_SC_NA_1: u8 = 45;
    /// Double command.
    pub const C_DC_NA_1: u8 = 46;
    /// Regulating step command.
    pub const C_RC_NA_1: u8 = 47;
    /// Set point, normalised.
    pub const C_SE_NA_1: u8 = 48;
    /// Set point, scaled.
    pub const C_SE_NB_1: u8 = 49;
    /// Set point, short floating point.
    pub const C_SE_NC_1: u8 = 50;
    /// Interrogation.
    pub const C_IC_NA_1: u8 = 100;
    /// Counter interrogation.
    pub const C_CI_NA_1: u8 = 101;
    /// Read.
    pub const C_RD_NA_1: u8 = 102;
    /// Clock synchronisation.
    pub const C_CS_NA_1: u8 = 103;
    /// Test command with time tag.
    pub const C_TS_TA_1: u8 = 107;
}

/// The data unit identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Type identification.
    pub type_id: u8,
    /// Variable structure qualifier: SQ bit and number of objects.
    pub vsq: u8,
    /// Cause of transmission (with the P/N and test bits).
    pub cot: u8,
    /// Originator address.
    pub originator: u8,
    /// Common address of the ASDU.
    pub ca: u16,
}

impl Header {
    /// Reads the identifier and returns the information objects after it.
    pub fn read(asdu: &[u8]) -> Option<(Header, &[u8])> {
        let (h, rest) = asdu.split_first_chunk::<6>()?;
        let [type_id, vsq, cot, originator, ca0, ca1] = *h;
        Some((
            Header {
                type_id,
                vsq,
                cot,
                originator,
                ca: u16::from_le_bytes([ca0, ca1]),
            },
            rest,
        ))
    }

    /// Writes the identifier.
    pub fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.type_id, self.vsq, self.cot, self.originator]);
        out.extend_from_slice(&self.ca.to_le_bytes());
    }
}

/// Reads a 3-byte information object address.
pub fn ioa(bytes: &[u8]) -> Option<u32> {
    let (a, _) = bytes.split_first_chunk::<3>()?;
    Some(u32::from_le_bytes([a[0], a[1], a[2], 0]))
}

/// Writes a 3-byte information object address.
pub fn put_ioa(out: &mut Vec<u8>, ioa: u32) {
    out.extend_from_slice(ioa.to_le_bytes().get(..3).unwrap_or(&[0, 0, 0]));
}

/// A CP56Time2a time tag of `t` (UTC): milliseconds, minutes, hours, day of month with
/// day of week, month, year.
pub fn cp56(t: SystemTime) -> [u8; 7] {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let ms = (secs % 60) * 1000 + u64::from(d.subsec_millis());
    let mins = (secs / 60) % 60;
    let hours = (secs / 3600) % 24;
    let days = (secs / 86_400) as i64;
    let (y, m, day) = civil(days);
    let dow = ((days + 3).rem_euclid(7) + 1) as u8; // 1 = Monday
    [
        (ms & 0xFF) as u8,
        (ms >> 8) as u8,
        mins as u8,
        hours as u8,
        (dow << 5) | day,
        m,
        (y % 100) as u8,
    ]
}

/// Days since 1970-01-01 to (year, month, day).
fn civil(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cp56_of_a_known_date() {
        // 2026-12-01 08:30:15.250 UTC, a Tuesday.
        let t = UNIX_EPOCH + Duration::from_millis(1_796_113_815_250);
        assert_eq!(cp56(t), [0x92, 0x3b, 30, 8, (2 << 5) | 1, 12, 26]);
    }

    #[test]
    fn header_round_trips() {
        let h = Header {
            type_id: 100,
            vsq: 1,
            cot: 6,
            originator: 0,
            ca: 0xffff,
        };
        let mut v = Vec::new();
        h.put(&mut v);
        assert_eq!(Header::read(&v), Some((h, &[][..])));
        assert_eq!(Header::read(&v[..5]), None);
    }
}
