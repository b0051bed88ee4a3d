//! Structured tag types: Logix's built-in STRING (a DINT length and 82 characters, 88
//! bytes, structure handle 0x0FCE as controllers report it) and template-defined
//! user-defined types with atomic members. The Template object (class 0x6C) describes
//! each one so a client (pycomm3's LogixDriver, RSLinx) can discover its layout, then
//! read and write the whole structure or one member.
//!
//! A STRING tag's value is the text on its databus key; a UDT tag's members live on keys
//! `<key>.<member>`, so another protocol serves each member's value.

use std::time::SystemTime;

use conpot_core::Value;
use conpot_core::databus::Databus;
use conpot_core::wire::Reader;

use crate::tags::TagType;

/// The Template object class.
pub const TEMPLATE_CLASS: u16 = 0x6C;
/// STRING's template instance and structure handle.
pub const STRING_HANDLE: u16 = 0x0FCE;
/// Characters a STRING holds.
pub const STRING_CHARS: u16 = 82;
/// The first template instance of a user-defined type (0x100..0xEFF is the user range).
pub const FIRST_UDT: u16 = 0x100;
/// Largest number of members of a user-defined type.
pub const MAX_MEMBERS: usize = 64;
/// Largest number of user-defined types.
pub const MAX_STRUCTURES: usize = 64;

/// How a structure's bytes map onto the databus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// STRING: the text on the tag's key.
    Text,
    /// A UDT: each member on `<key>.<member>`.
    Members,
}

/// One member of a structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name.
    pub name: String,
    /// Its atomic type.
    pub ty: TagType,
    /// Array length (0 for a scalar), what the template's member info word says.
    pub elements: u16,
    /// Byte offset in the structure.
    pub offset: u32,
}

impl Member {
    /// Bytes the member takes.
    pub fn size(&self) -> usize {
        width(self.ty) * usize::from(self.elements.max(1))
    }
}

/// Bytes of one element of an atomic member.
fn width(ty: TagType) -> usize {
    match ty {
        TagType::Bool | TagType::Sint | TagType::Sstring => 1,
        TagType::Int => 2,
        TagType::Dint | TagType::Real => 4,
    }
}

/// A structure type and its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    /// Its name (`STRING`'s internal one is `ASCIISTRING82`).
    pub name: String,
    /// Template instance (class 0x6C), also the low 12 bits of the symbol type of its tags.
    pub instance: u16,
    /// Structure handle: what a read reply and a write request carry after 0x02A0.
    pub handle: u16,
    /// Size in bytes.
    pub size: u32,
    /// Members in layout order.
    pub members: Vec<Member>,
    /// Where its values are kept.
    pub storage: Storage,
}

impl Structure {
    /// Logix's built-in STRING.
    pub fn string() -> Structure {
        Structure {
            name: "ASCIISTRING82".to_owned(),
            instance: STRING_HANDLE,
            handle: STRING_HANDLE,
            size: 88,
            members: vec![
                Member {
                    name: "LEN".to_owned(),
                    ty: TagType::Dint,
                    elements: 0,
                    offset: 0,
                },
                Member {
                    name: "DATA".to_owned(),
                    ty: TagType::Sint,
                    elements: STRING_CHARS,
                    offset: 4,
                },
            ],
            storage: Storage::Text,
        }
    }

    /// A user-defined type of atomic scalar members, laid out as Logix does: each member
    /// aligned to its size, the whole padded to four bytes. SSTRING members are refused.
    pub fn udt(name: &str, instance: u16, members: &[(String, TagType)]) -> Result<Structure, String> {
        if members.is_empty() || members.len() > MAX_MEMBERS {
            return Err(format!("1 to {MAX_MEMBERS} members"));
        }
        let mut offset = 0usize;
        let mut laid = Vec::with_capacity(members.len());
        for (n, ty) in members {
            if *ty == TagType::Sstring {
                return Err(format!(
                    "atomic members (BOOL, SINT, INT, DINT, REAL), `{n}` is SSTRING"
                ));
            }
            let w = width(*ty);
            offset = offset.div_ceil(w) * w;
            laid.push(Member {
                name: n.clone(),
                ty: *ty,
                elements: 0,
                offset: offset as u32,
            });
            offset += w;
        }
        // A handle from the definition, stable across runs, as a controller's CRC is.
        let handle = name
            .bytes()
            .chain(
                members
                    .iter()
                    .flat_map(|(n, t)| n.bytes().chain(t.code().to_le_bytes())),
            )
            .fold(0x5A5Au16, |h, b| h.rotate_left(5) ^ u16::from(b));
        Ok(Structure {
            name: name.to_owned(),
            instance,
            handle,
            size: offset.div_ceil(4) as u32 * 4,
            members: laid,
            storage: Storage::Members,
        })
    }

    /// The member called `name` (case-insensitive).
    pub fn member(&self, name: &[u8]) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The template (what Read Template returns): eight bytes per member (info word:
    /// array length or BOOL bit; type; offset), then `name;n` and each member's name,
    /// NUL-terminated.
    pub fn template(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for m in &self.members {
            let info = if m.ty == TagType::Bool { 0 } else { m.elements };
            out.extend_from_slice(&info.to_le_bytes());
            out.extend_from_slice(&m.ty.code().to_le_bytes());
            out.extend_from_slice(&m.offset.to_le_bytes());
        }
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(b";n\0");
        for m in &self.members {
            out.extend_from_slice(m.name.as_bytes());
            out.push(0);
        }
        out
    }

    /// The template object's attributes: 1 structure handle, 2 member count, 4 definition
    /// size in 32-bit words (the template plus 23 bytes, as controllers count it), 5
    /// structure size in bytes.
    pub fn attributes(&self) -> Vec<(u32, Vec<u8>)> {
        let words = (self.template().len() + 23).div_ceil(4) as u32;
        vec![
            (1, self.handle.to_le_bytes().to_vec()),
            (2, (self.members.len() as u16).to_le_bytes().to_vec()),
            (4, words.to_le_bytes().to_vec()),
            (5, self.size.to_le_bytes().to_vec()),
        ]
    }

    /// The structure's bytes now, from the tag's databus `key`.
    pub fn encode(&self, bus: &Databus, key: &str, now: SystemTime) -> Vec<u8> {
        let mut out = vec![0u8; self.size as usize];
        match self.storage {
            Storage::Text => {
                let text = match bus.get(key, now) {
                    Some(Value::Str(s)) => s.into_bytes(),
                    Some(Value::Bytes(b)) => b,
                    _ => Vec::new(),
                };
                let n = text.len().min(usize::from(STRING_CHARS));
                if let Some(len) = out.get_mut(0..4) {
                    len.copy_from_slice(&(n as i32).to_le_bytes());
                }
                if let (Some(dst), Some(src)) = (out.get_mut(4..4 + n), text.get(..n)) {
                    dst.copy_from_slice(src);
                }
            }
            Storage::Members => {
                for m in &self.members {
                    let v = bus.get(&member_key(key, &m.name), now).unwrap_or(Value::Int(0));
                    let mut bytes = Vec::new();
                    if conpot_core::wire::append(&mut bytes, m.size(), |w| m.ty.encode(&v, w)).is_err() {
                        continue;
                    }
                    let at = m.offset as usize;
                    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
                        dst.copy_from_slice(&bytes);
                    }
                }
            }
        }
        out
    }

    /// Stores a whole structure's `bytes` (exactly its size) on the databus; `None` when
    /// they do not fit.
    pub fn store(&self, bus: &Databus, key: &str, bytes: &[u8]) -> Option<()> {
        if bytes.len() != self.size as usize {
            return None;
        }
        match self.storage {
            Storage::Text => {
                let len = i32::from_le_bytes(*bytes.first_chunk::<4>()?);
                let n = usize::try_from(len).unwrap_or(0).min(usize::from(STRING_CHARS));
                let text = bytes.get(4..4 + n)?;
                bus.set(key, Value::Str(String::from_utf8_lossy(text).into_owned()));
            }
            Storage::Members => {
                for m in &self.members {
                    let at = m.offset as usize;
                    let mut r = Reader::new(bytes.get(at..at + m.size())?);
                    let v = m.ty.decode(&mut r).ok()?;
                    bus.set(&member_key(key, &m.name), v);
                }
            }
        }
        Some(())
    }
}

/// The databus key of member `member` of the UDT tag on `key`.
pub fn member_key(key: &str, member: &str) -> String {
    format!("{key}.{member}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn string_is_88_bytes_and_round_trips() {
        let s = Structure::string();
        let bus = Databus::new();
        bus.set("name", Value::Str("Batch 7".into()));
        let now = SystemTime::UNIX_EPOCH;
        let b = s.encode(&bus, "name", now);
        assert_eq!(b.len(), 88);
        assert_eq!(&b[..11], &[7, 0, 0, 0, b'B', b'a', b't', b'c', b'h', b' ', b'7']);
        assert!(b[11..].iter().all(|x| *x == 0));
        let mut w = b.clone();
        w[0] = 3;
        s.store(&bus, "name", &w).unwrap();
        assert_eq!(bus.get("name", now), Some(Value::Str("Bat".into())));
        // A length past 82 is cut at 82; a short buffer is refused.
        w[0..4].copy_from_slice(&1000i32.to_le_bytes());
        s.store(&bus, "name", &w).unwrap();
        assert!(s.store(&bus, "name", &w[..87]).is_none());
    }

    #[test]
    fn string_template_names_its_members() {
        let t = Structure::string().template();
        assert_eq!(&t[..16], &[0, 0, 0xC4, 0, 0, 0, 0, 0, 82, 0, 0xC2, 0, 4, 0, 0, 0]);
        assert_eq!(&t[16..], b"ASCIISTRING82;n\0LEN\0DATA\0");
    }

    #[test]
    fn udt_members_are_aligned_and_padded() {
        let s = Structure::udt(
            "PumpData",
            0x100,
            &[
                ("Running".into(), TagType::Bool),
                ("Speed".into(), TagType::Dint),
                ("Mode".into(), TagType::Sint),
                ("Flow".into(), TagType::Real),
                ("Faults".into(), TagType::Int),
            ],
        )
        .unwrap();
        let offsets: Vec<u32> = s.members.iter().map(|m| m.offset).collect();
        assert_eq!(offsets, vec![0, 4, 8, 12, 16]);
        assert_eq!(s.size, 20);
        let bus = Databus::new();
        bus.set("p.Speed", Value::Int(1450));
        bus.set("p.Running", Value::Int(1));
        let b = s.encode(&bus, "p", SystemTime::UNIX_EPOCH);
        assert_eq!(&b[..8], &[0xFF, 0, 0, 0, 0xAA, 0x05, 0, 0]);
        let mut w = b.clone();
        w[16] = 9;
        s.store(&bus, "p", &w).unwrap();
        assert_eq!(bus.get("p.Faults", SystemTime::UNIX_EPOCH), Some(Value::Int(9)));
        assert!(Structure::udt("X", 0x101, &[("S".into(), TagType::Sstring)]).is_err());
        assert!(Structure::udt("X", 0x101, &[]).is_err());
    }
}
