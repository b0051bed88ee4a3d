//! System status lists (SZL): what the CPU says about itself, built from the persona.

/// The CPU family a persona claims: sets PDU size, connection counts and protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// S7-300 (PDU 240).
    S7300,
    /// S7-400 (PDU 480).
    S7400,
    /// S7-1200 (PDU 240, S7CommPlus).
    S71200,
    /// S7-1500 (PDU 960, S7CommPlus).
    S71500,
}

impl Family {
    /// Parses a family name.
    pub fn parse(s: &str) -> Option<Family> {
        match s {
            "s7-300" => Some(Family::S7300),
            "s7-400" => Some(Family::S7400),
            "s7-1200" => Some(Family::S71200),
            "s7-1500" => Some(Family::S71500),
            _ => None,
        }
    }

    /// Largest PDU the CPU negotiates.
    pub fn max_pdu(self) -> u16 {
        match self {
            Family::S7300 | Family::S71200 => 240,
            Family::S7400 => 480,
            Family::S71500 => 960,
        }
    }

    /// Parallel jobs (AmQ) the CPU accepts.
    pub fn max_amq(self) -> u16 {
        match self {
            Family::S7300 => 1,
            Family::S7400 | Family::S71200 => 3,
            Family::S71500 => 8,
        }
    }

    /// Connections the CPU supports.
    pub fn max_connections(self) -> u16 {
        match self {
            Family::S7300 => 16,
            Family::S7400 => 32,
            Family::S71200 => 8,
            Family::S71500 => 64,
        }
    }

    /// Whether the CPU speaks S7CommPlus.
    pub fn s7plus(self) -> bool {
        matches!(self, Family::S71200 | Family::S71500)
    }
}

/// The identity texts and versions a CPU reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// CPU family.
    pub family: Family,
    /// Order number (MLFB), e.g. `6ES7 315-2EH14-0AB0`.
    pub order_code: String,
    /// Name of the automation system (0x001C index 1).
    pub system_name: String,
    /// Name of the module (index 2).
    pub module_name: String,
    /// Plant designation (index 3).
    pub plant: String,
    /// Copyright (index 4).
    pub copyright: String,
    /// Serial number of the module (index 5).
    pub serial: String,
    /// Module type name (index 7).
    pub module_type: String,
    /// Serial number of the memory card (index 8).
    pub memory_card: String,
    /// OEM id (index 10).
    pub oem_id: String,
    /// Location designation (index 11).
    pub location: String,
    /// Hardware version.
    pub hardware: u8,
    /// Firmware version (major, minor, patch).
    pub firmware: (u8, u8, u8),
}

/// Why an SZL cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SzlError {
    /// The CPU has no such list.
    UnknownId,
    /// The list has no such index.
    UnknownIndex,
}

impl SzlError {
    /// The userdata error code a CPU returns.
    pub fn code(self) -> u16 {
        match self {
            SzlError::UnknownId => 0xD401,
            SzlError::UnknownIndex => 0xD402,
        }
    }
}

/// The SZL ids this CPU answers (list 0x0000).
pub const IDS: &[u16] = &[
    0x0000, 0x0011, 0x0111, 0x001C, 0x011C, 0x0019, 0x0074, 0x0174, 0x0131, 0x0132, 0x0232, 0x0424,
];

/// Dynamic facts that enter the lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The CPU is in RUN.
    pub run: bool,
    /// Protection level (1 none, 2 write, 3 read/write).
    pub protection: u8,
    /// BCD timestamp of the last mode change (8 bytes, as in a diagnostic entry).
    pub since: [u8; 8],
}

fn text(s: &str, width: usize, pad: u8) -> Vec<u8> {
    let mut v: Vec<u8> = s.bytes().take(width).collect();
    v.resize(width, pad);
    v
}

fn rec_0011(ident: &Identity, index: u16) -> Option<Vec<u8>> {
    let mut r = index.to_be_bytes().to_vec();
    match index {
        0x0001 | 0x0006 => {
            r.extend(text(&ident.order_code, 20, b' '));
            r.extend_from_slice(&[0x00, 0xC0, 0x00, 0x00, 0x00, ident.hardware]);
        }
        0x0007 => {
            let (a, b, c) = ident.firmware;
            r.extend(text("", 20, b' '));
            r.extend_from_slice(&[0x00, 0xC0, b'V', a, b, c]);
        }
        _ => return None,
    }
    Some(r)
}

fn rec_001c(ident: &Identity, index: u16) -> Option<Vec<u8>> {
    let mut r = index.to_be_bytes().to_vec();
    match index {
        0x0001 => {
            r.extend(text(&ident.system_name, 24, 0));
            r.extend([0; 8]);
        }
        0x0002 => {
            r.extend(text(&ident.module_name, 24, 0));
            r.extend([0; 8]);
        }
        0x0003 => r.extend(text(&ident.plant, 32, 0)),
        0x0004 => {
            r.extend(text(&ident.copyright, 26, 0));
            r.extend([0; 6]);
        }
        0x0005 => {
            r.extend(text(&ident.serial, 24, 0));
            r.extend([0; 8]);
        }
        0x0007 => r.extend(text(&ident.module_type, 32, 0)),
        0x0008 => r.extend(text(&ident.memory_card, 32, 0)),
        0x0009 => {
            // Manufacturer id (Siemens), profile id, profile-specific type.
            r.extend_from_slice(&[0x00, 0x2A, 0xF6, 0x00, 0x00, 0x01]);
            r.extend([0; 26]);
        }
        0x000A => {
            r.extend(text(&ident.oem_id, 20, 0));
            r.extend([0; 12]);
        }
        0x000B => r.extend(text(&ident.location, 32, 0)),
        _ => return None,
    }
    Some(r)
}

const IDX_001C: &[u16] = &[1, 2, 3, 4, 5, 7, 8, 9, 10, 11];

/// LEDs of an S7 CPU (id, on) for list 0x0019/0x0074.
fn leds(ident: &Identity, st: &State) -> Vec<(u16, bool)> {
    let mut v = vec![(0x0001, false), (0x0004, st.run), (0x0005, !st.run), (0x0006, false)];
    if ident.family == Family::S7300 || ident.family == Family::S7400 {
        v.extend([(0x0008, false), (0x000B, false), (0x000C, false)]);
    }
    v
}

/// Reads list `id` at `index`: the answer's data, starting with id, index, record length
/// and record count.
pub fn read(ident: &Identity, st: &State, id: u16, index: u16) -> Result<Vec<u8>, SzlError> {
    let (len, records): (u16, Vec<Vec<u8>>) = match id {
        0x0000 => (2, IDS.iter().map(|i| i.to_be_bytes().to_vec()).collect()),
        0x0011 => (28, [1, 6, 7].iter().filter_map(|&i| rec_0011(ident, i)).collect()),
        0x0111 => (28, vec![rec_0011(ident, index).ok_or(SzlError::UnknownIndex)?]),
        0x001C => (34, IDX_001C.iter().filter_map(|&i| rec_001c(ident, i)).collect()),
        0x011C => (34, vec![rec_001c(ident, index).ok_or(SzlError::UnknownIndex)?]),
        0x0019 | 0x0074 => (
            4,
            leds(ident, st)
                .into_iter()
                .map(|(i, on)| [i.to_be_bytes().as_slice(), &[u8::from(on), 0]].concat())
                .collect(),
        ),
        0x0174 => {
            let (i, on) = leds(ident, st)
                .into_iter()
                .find(|(i, _)| *i == index)
                .ok_or(SzlError::UnknownIndex)?;
            (4, vec![[i.to_be_bytes().as_slice(), &[u8::from(on), 0]].concat()])
        }
        0x0131 => {
            let mut r = vec![0x00, 0x01];
            match index {
                0 | 1 => {
                    r.extend(ident.family.max_pdu().to_be_bytes());
                    r.extend(ident.family.max_connections().to_be_bytes());
                    r.extend(187_500u32.to_be_bytes());
                    r.extend(if ident.family == Family::S7300 { 187_500u32 } else { 0 }.to_be_bytes());
                    r.resize(40, 0);
                }
                _ => return Err(SzlError::UnknownIndex),
            }
            (40, vec![r])
        }
        0x0132 | 0x0232 => {
            if index != 4 && index != 0 {
                return Err(SzlError::UnknownIndex);
            }
            let mut r = vec![0x00, 0x04];
            r.extend([
                0x00,
                st.protection,
                0x00,
                u8::from(st.protection > 1),
                0x00,
                st.protection,
            ]);
            r.extend([0x00, if st.run { 0x02 } else { 0x03 }, 0x00, 0x02]);
            r.resize(40, 0);
            (40, vec![r])
        }
        0x0424 => {
            let mut r = vec![0x51, 0x44, 0xFF, if st.run { 0x08 } else { 0x04 }];
            r.resize(12, 0);
            r.extend(st.since);
            (20, vec![r])
        }
        _ => return Err(SzlError::UnknownId),
    };
    let mut out = Vec::with_capacity(8 + records.len() * usize::from(len));
    out.extend(id.to_be_bytes());
    out.extend(index.to_be_bytes());
    out.extend(len.to_be_bytes());
    out.extend((records.len() as u16).to_be_bytes());
    for r in records {
        out.extend(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn ident() -> Identity {
        Identity {
            family: Family::S7300,
            order_code: "6ES7 315-2EH14-0AB0".into(),
            system_name: "SIMATIC 300(1)".into(),
            module_name: "CPU 315-2 PN/DP".into(),
            plant: "Pumpstation Nord".into(),
            copyright: "Original Siemens Equipment".into(),
            serial: "S C-H4U731462014".into(),
            module_type: "CPU 315-2 PN/DP".into(),
            memory_card: "MMC 267702".into(),
            oem_id: String::new(),
            location: "MCC-1".into(),
            hardware: 4,
            firmware: (3, 2, 8),
        }
    }

    #[test]
    fn module_identification_layout() {
        let st = State {
            run: true,
            protection: 1,
            since: [0; 8],
        };
        let d = read(&ident(), &st, 0x0011, 0x0001).unwrap();
        assert_eq!(&d[..8], &[0x00, 0x11, 0x00, 0x01, 0x00, 28, 0x00, 3]);
        assert_eq!(&d[10..30], b"6ES7 315-2EH14-0AB0 ");
        // Firmware record: 'V', 3, 2, 8 at the end.
        assert_eq!(&d[8 + 56 + 24..8 + 84], &[b'V', 3, 2, 8]);
        let one = read(&ident(), &st, 0x0111, 0x0007).unwrap();
        assert_eq!(one.len(), 8 + 28);
        assert_eq!(read(&ident(), &st, 0x0111, 0x0009), Err(SzlError::UnknownIndex));
        assert_eq!(read(&ident(), &st, 0x0F11, 0), Err(SzlError::UnknownId));
    }

    #[test]
    fn component_identification_layout() {
        let st = State {
            run: false,
            protection: 1,
            since: [0; 8],
        };
        let d = read(&ident(), &st, 0x001C, 0x0001).unwrap();
        assert_eq!(&d[4..8], &[0x00, 34, 0x00, 10]);
        assert_eq!(d.len(), 8 + 340);
        assert_eq!(&d[10..24], b"SIMATIC 300(1)");
        let serial_at = 8 + 4 * 34 + 2;
        assert_eq!(&d[serial_at..serial_at + 16], b"S C-H4U731462014");
        let mode = read(&ident(), &st, 0x0424, 0).unwrap();
        assert_eq!(mode[8 + 3], 0x04);
    }
}
