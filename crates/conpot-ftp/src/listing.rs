//! What a directory listing looks like: `LIST` as `ls -l` on the device prints it,
//! `NLST` names, `MLSD`/`MLST` facts (RFC 3659), and the `MDTM` time stamp. Owners,
//! groups, modes and dates are the filesystem's.

use std::time::{Duration, SystemTime};

use conpot_core::time::Civil;
use conpot_core::vfs::{Kind, Principal, Stat};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Half a year, the age past which `ls` shows the year instead of the time.
const RECENT: Duration = Duration::from_secs(182 * 86_400 + 43_200);

/// One `ls -l` line (CRLF-terminated): mode, links, owner, group, size, date, name.
pub fn ls_line(st: &Stat, now: SystemTime) -> String {
    format!(
        "{} {:>4} {:<8} {:<8} {:>8} {} {}\r\n",
        st.mode_string(),
        st.nlink,
        st.meta.owner,
        st.meta.group,
        st.size,
        ls_date(st.meta.mtime, now),
        st.name
    )
}

/// `Mon DD HH:MM` for a time within the last half year (or slightly ahead), else
/// `Mon DD  YYYY`, as `ls` prints it.
pub fn ls_date(t: SystemTime, now: SystemTime) -> String {
    let c = Civil::from_system(t);
    let month = MONTHS.get(c.month.saturating_sub(1) as usize).copied().unwrap_or("Jan");
    let recent = match now.duration_since(t) {
        Ok(age) => age < RECENT,
        Err(ahead) => ahead.duration() < Duration::from_secs(3600),
    };
    if recent {
        format!("{month} {:02} {:02}:{:02}", c.day, c.hour, c.minute)
    } else {
        format!("{month} {:02}  {}", c.day, c.year)
    }
}

/// `YYYYMMDDHHMMSS` in UTC: the `MDTM` reply and the `modify` fact.
pub fn timeval(t: SystemTime) -> String {
    let c = Civil::from_system(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The `MLST` facts a client may select (RFC 3659 section 7.8), in the order listed.
pub const FACTS: [&str; 7] = [
    "type",
    "size",
    "modify",
    "perm",
    "unix.mode",
    "unix.owner",
    "unix.group",
];

/// One `MLSD` entry / `MLST` line body: the selected facts then a space and the name
/// (no line end). `selected` holds a flag per entry of [`FACTS`].
pub fn facts(st: &Stat, who: &Principal, selected: &[bool; 7], name: &str) -> String {
    let mut s = String::new();
    for (i, fact) in FACTS.iter().enumerate() {
        if !selected.get(i).copied().unwrap_or(false) {
            continue;
        }
        let value = match *fact {
            "type" => match st.kind {
                Kind::Dir => "dir".to_owned(),
                Kind::File => "file".to_owned(),
            },
            "size" => st.size.to_string(),
            "modify" => timeval(st.meta.mtime),
            "perm" => perm(st, who),
            "unix.mode" => format!("0{:o}", st.meta.mode & 0o7777),
            "unix.owner" => st.meta.owner.clone(),
            _ => st.meta.group.clone(),
        };
        s.push_str(fact);
        s.push('=');
        s.push_str(&value);
        s.push(';');
    }
    s.push(' ');
    s.push_str(name);
    s
}

/// The `perm` fact: what `who` may do with the entry (RFC 3659 section 7.5.5).
fn perm(st: &Stat, who: &Principal) -> String {
    let (r, w, x) = (st.may_read(who), st.may_write(who), st.may_exec(who));
    let mut p = String::new();
    match st.kind {
        Kind::File => {
            if r {
                p.push('r');
            }
            if w {
                p.push_str("awf");
            }
        }
        Kind::Dir => {
            if x {
                p.push('e');
            }
            if r {
                p.push('l');
            }
            if w && x {
                p.push_str("cmpf");
            }
        }
    }
    p
}

/// ASCII type on the way out: each bare LF becomes CRLF (RFC 959 section 3.1.1.1).
pub fn to_network_ascii(data: &[u8]) -> Vec<u8> {
    to_network_ascii_after(&mut 0, data)
}

/// [`to_network_ascii`] of a chunk that follows one ending in `*prev` (0 for none), so a
/// file converted chunk by chunk gives the same bytes; `*prev` becomes the chunk's last.
pub fn to_network_ascii_after(prev: &mut u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' && *prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        *prev = b;
    }
    out
}

/// ASCII type on the way in: CRLF becomes the device's LF.
pub fn from_network_ascii(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut it = data.iter().peekable();
    while let Some(&b) = it.next() {
        if b == b'\r' && it.peek() == Some(&&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn dates_as_ls_prints_them() {
        let t = UNIX_EPOCH + Duration::from_secs(1_533_152_352); // 2018-08-01 19:39:12
        assert_eq!(ls_date(t, t + Duration::from_secs(86_400)), "Aug 01 19:39");
        assert_eq!(ls_date(t, t + Duration::from_secs(400 * 86_400)), "Aug 01  2018");
        assert_eq!(timeval(t), "20180801193912");
    }

    #[test]
    fn ascii_conversion() {
        assert_eq!(to_network_ascii(b"a\nb\r\nc"), b"a\r\nb\r\nc");
        assert_eq!(from_network_ascii(b"a\r\nb\rc\n"), b"a\nb\rc\n");
    }

    proptest! {
        #[test]
        fn ascii_round_trips_text_without_cr(s in "[a-z\n ]{0,200}") {
            let net = to_network_ascii(s.as_bytes());
            prop_assert_eq!(from_network_ascii(&net), s.as_bytes());
        }

        #[test]
        fn ascii_by_chunks_is_ascii_whole(s in "[a\r\n]{0,200}", cut in 0usize..200) {
            let b = s.as_bytes();
            let cut = cut.min(b.len());
            let mut prev = 0;
            let mut net = to_network_ascii_after(&mut prev, &b[..cut]);
            net.extend(to_network_ascii_after(&mut prev, &b[cut..]));
            prop_assert_eq!(net, to_network_ascii(b));
        }
    }
}
