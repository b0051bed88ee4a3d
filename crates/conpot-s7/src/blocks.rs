//! Program blocks (OB, FC, FB, DB, SDB, SFC, SFB): the list the CPU reports, block info,
//! and the MC7 images uploads return.

/// Block type codes on the wire, in the order list-blocks reports them.
pub const TYPES: &[(u8, &str)] = &[
    (0x38, "OB"),
    (0x45, "FB"),
    (0x43, "FC"),
    (0x41, "DB"),
    (0x42, "SDB"),
    (0x44, "SFC"),
    (0x46, "SFB"),
];

/// The wire code of a data block (DB), whose code is the CPU's memory.
pub const KIND_DB: u8 = 0x41;

/// The wire code of a block type name.
pub fn type_code(name: &str) -> Option<u8> {
    TYPES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(c, _)| *c)
}

/// The name of a block type code.
pub fn type_name(code: u8) -> &'static str {
    TYPES.iter().find(|(c, _)| *c == code).map_or("?", |(_, n)| n)
}

/// MC7 block type byte (inside block images).
fn mc7_type(code: u8) -> u8 {
    match code {
        0x38 => 0x08,
        0x41 => 0x0A,
        0x42 => 0x0B,
        0x43 => 0x0C,
        0x44 => 0x0D,
        0x45 => 0x0E,
        _ => 0x0F,
    }
}

/// One block in the CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Type code (0x38 OB ... 0x46 SFB).
    pub kind: u8,
    /// Number.
    pub number: u16,
    /// Language (1 STL, 2 LAD, 3 FBD, 4 SCL, 5 DB, 6 GRAPH).
    pub lang: u8,
    /// Author (8 characters).
    pub author: String,
    /// Family (8 characters).
    pub family: String,
    /// Name (8 characters).
    pub name: String,
    /// Version (major << 4 | minor).
    pub version: u8,
    /// MC7 code (for a DB: its initial values).
    pub code: Vec<u8>,
    /// Days since 1984-01-01 and milliseconds of the day the code was last changed.
    pub modified: (u16, u32),
}

fn text8(s: &str) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (o, b) in out.iter_mut().zip(s.bytes()) {
        *o = b;
    }
    out
}

impl Block {
    /// Bytes the block takes in load memory (header, code, footer).
    pub fn load_size(&self) -> u32 {
        (36 + self.code.len() + 36) as u32
    }

    /// Checksum of the code (a 16-bit sum, as a stand-in for the CPU's).
    pub fn checksum(&self) -> u16 {
        self.code.iter().fold(0u16, |acc, &b| acc.rotate_left(1) ^ u16::from(b))
    }

    /// Block number, load size, security bytes, and the code and interface times.
    fn put_number_size_times(&self, r: &mut Vec<u8>) {
        r.extend(self.number.to_be_bytes());
        r.extend(self.load_size().to_be_bytes());
        r.extend([0u8; 4]);
        for _ in 0..2 {
            r.extend(self.modified.1.to_be_bytes());
            r.extend(self.modified.0.to_be_bytes());
        }
    }

    /// Author, family, name, version, checksum and reserved bytes.
    fn put_footer(&self, r: &mut Vec<u8>) {
        r.extend(text8(&self.author));
        r.extend(text8(&self.family));
        r.extend(text8(&self.name));
        r.push(self.version);
        r.push(0);
        r.extend(self.checksum().to_be_bytes());
        r.extend([0u8; 8]);
    }

    /// The 78-byte block info record.
    pub fn info(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(78);
        r.extend_from_slice(&[
            0x01,
            self.kind,
            0x00,
            0x4A,
            0x00,
            0x22,
            b'p',
            b'p',
            0x01,
            0x01,
            self.lang,
            mc7_type(self.kind),
        ]);
        self.put_number_size_times(&mut r);
        let sbb: u16 = if self.kind == 0x41 { 0 } else { 20 };
        r.extend(sbb.to_be_bytes());
        r.extend(0u16.to_be_bytes());
        let local: u16 = if self.kind == 0x41 { 0 } else { 20 };
        r.extend(local.to_be_bytes());
        r.extend((self.code.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        self.put_footer(&mut r);
        r
    }

    /// The block as an upload returns it: MC7 header, code, footer.
    pub fn image(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(self.load_size() as usize);
        r.extend_from_slice(&[0x70, 0x70, 0x01, 0x01, self.lang, mc7_type(self.kind)]);
        self.put_number_size_times(&mut r);
        r.extend(0u16.to_be_bytes());
        r.extend(0u16.to_be_bytes());
        r.extend(0u16.to_be_bytes());
        r.extend((self.code.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        r.extend_from_slice(&self.code);
        self.put_footer(&mut r);
        r
    }
}

/// Plausible MC7 code of `len` bytes for a code block, the same for the same seed.
pub fn synth_code(seed: u64, len: usize) -> Vec<u8> {
    // Common STL instructions (A, AN, O, =, L, T, JC, BEU) as MC7 opcodes and operands.
    const OPS: &[[u8; 2]] = &[
        [0x41, 0x10],
        [0x49, 0x10],
        [0x61, 0x10],
        [0x51, 0x10],
        [0x30, 0x03],
        [0x13, 0x00],
        [0xFB, 0x7C],
        [0x65, 0x00],
    ];
    let mut rng = conpot_core::rng::Rng::from_seed(seed);
    let mut v = Vec::with_capacity(len);
    while v.len() + 2 <= len {
        let op = OPS.get(rng.index(OPS.len())).copied().unwrap_or([0x65, 0x00]);
        v.push(op[0]);
        v.push(op[1] | (rng.next_u64() & 0x0F) as u8);
    }
    v.resize(len, 0);
    // The block ends with BE (block end).
    if let Some(i) = v.len().checked_sub(2) {
        v.truncate(i);
        v.extend_from_slice(&[0x65, 0x00]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_image_layout() {
        let b = Block {
            kind: 0x41,
            number: 1,
            lang: 5,
            author: "Siemens".into(),
            family: "".into(),
            name: "DATA".into(),
            version: 0x10,
            code: vec![1, 2, 3, 4],
            modified: (14000, 3_600_000),
        };
        let i = b.info();
        assert_eq!(i.len(), 78);
        assert_eq!(i[1], 0x41);
        assert_eq!(&i[12..14], &[0, 1]);
        assert_eq!(&i[40..42], &[0, 4]);
        assert_eq!(&i[42..49], b"Siemens");
        let img = b.image();
        assert_eq!(img.len() as u32, b.load_size());
        assert_eq!(&img[36..40], &[1, 2, 3, 4]);
        assert_eq!(synth_code(7, 20), synth_code(7, 20));
        assert_eq!(synth_code(7, 20).len(), 20);
        assert_eq!(type_code("db"), Some(0x41));
        assert_eq!(type_name(0x38), "OB");
    }
}
