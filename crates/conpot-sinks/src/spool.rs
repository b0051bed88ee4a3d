//! The disk spool: records a sink could not deliver, kept in order in a file of the state
//! folder while its server is down, and read back in order when it is up again. Bounded in
//! bytes: a record that does not fit is refused (the runner counts it as dropped). The
//! read position is kept in a second file, so a restart neither loses nor repeats more
//! than the batch that was in flight; when everything is delivered both files are emptied.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::record::Record;

/// Longest spooled line read back; longer ones are skipped as damaged.
const MAX_LINE: u64 = 16 << 20;

/// A sink's spool.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    offset_path: PathBuf,
    file: File,
    /// Bytes in the file.
    len: u64,
    /// Where the next undelivered record starts.
    read: u64,
    max: u64,
    line: Vec<u8>,
}

/// The file-name form of a sink name: letters, digits, `.`, `-` and `_` only.
pub fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect()
}

impl Spool {
    /// Opens (creating `dir`) the spool of sink `name`, holding at most `max` bytes.
    /// Records left by an earlier run are kept and come out first.
    pub fn open(dir: &Path, name: &str, max: u64) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        let stem = file_stem(name);
        let path = dir.join(format!("{stem}.spool"));
        let offset_path = dir.join(format!("{stem}.offset"));
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let len = file.metadata()?.len();
        let read = std::fs::read_to_string(&offset_path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
            .min(len);
        Ok(Spool {
            path,
            offset_path,
            file,
            len,
            read,
            max,
            line: Vec::new(),
        })
    }

    /// The spool file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether every spooled record was delivered.
    pub fn is_empty(&self) -> bool {
        self.read >= self.len
    }

    /// Bytes of records not yet delivered.
    pub fn pending_bytes(&self) -> u64 {
        self.len - self.read
    }

    /// Appends `record`; `Ok(false)` when it does not fit in the bound.
    pub fn push(&mut self, record: &Record) -> io::Result<bool> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, record).map_err(io::Error::other)?;
        self.line.push(b'\n');
        let n = self.line.len() as u64;
        if self.len + n > self.max {
            return Ok(false);
        }
        self.file.write_all(&self.line)?;
        self.len += n;
        Ok(true)
    }

    /// Reads up to `n` undelivered records from the front, and the position just after
    /// them (to [`commit`](Self::commit) once they are delivered). Damaged lines are
    /// skipped and counted in the third value.
    pub fn peek(&mut self, n: usize) -> io::Result<(Vec<Record>, u64, u64)> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(self.read))?;
        let mut reader = BufReader::new(f).take(self.len - self.read);
        let mut out = Vec::new();
        let mut pos = self.read;
        let mut damaged = 0;
        let mut buf = Vec::new();
        while out.len() < n {
            buf.clear();
            let got = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf)?;
            if got == 0 {
                break;
            }
            pos += got as u64;
            match serde_json::from_slice::<Record>(&buf) {
                Ok(r) => out.push(r),
                Err(_) => damaged += 1,
            }
        }
        Ok((out, pos, damaged))
    }

    /// Marks everything before `pos` as delivered; empties the spool when nothing is left,
    /// and moves what is left to the front once the delivered part is half the bound (so
    /// a long outage drained bit by bit does not fill the bound with delivered records).
    pub fn commit(&mut self, pos: u64) -> io::Result<()> {
        self.read = pos.min(self.len);
        if self.read >= self.len {
            self.file.set_len(0)?;
            self.len = 0;
            self.read = 0;
        } else if self.read >= self.max / 2 {
            self.compact()?;
        }
        std::fs::write(&self.offset_path, self.read.to_string())
    }

    /// Copies the undelivered records to a new file that replaces the spool.
    fn compact(&mut self) -> io::Result<()> {
        let tmp = self.path.with_extension("spool.tmp");
        {
            let mut f = &self.file;
            f.seek(SeekFrom::Start(self.read))?;
            let mut out = File::create(&tmp)?;
            io::copy(&mut f.take(self.len - self.read), &mut out)?;
            out.sync_data()?;
        }
        // The offset goes to 0 first: a crash between the two steps repeats records
        // (harmless, by event id) rather than skipping them.
        std::fs::write(&self.offset_path, "0")?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().read(true).append(true).open(&self.path)?;
        self.len -= self.read;
        self.read = 0;
        Ok(())
    }
}

use std::io::Read as _;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn rec(i: u32) -> Record {
        Record {
            id: format!("id-{i}"),
            time: String::new(),
            time_us: i64::from(i),
            sensor: "s".into(),
            session: String::new(),
            protocol: "modbus".into(),
            transport: "tcp".into(),
            event_type: "modbus.request".into(),
            src_ip: None,
            src_port: None,
            dst_ip: None,
            dst_port: None,
            file: None,
            body: format!("{{\"n\":{i}}}"),
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("conpot-spool-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn keeps_order_across_reopen_and_empties_when_drained() {
        let d = dir("order");
        let mut s = Spool::open(&d, "pg:x/y", 1 << 20).unwrap();
        assert!(s.path().ends_with("pg_x_y.spool"));
        for i in 0..10 {
            assert!(s.push(&rec(i)).unwrap());
        }
        let (first, pos, bad) = s.peek(4).unwrap();
        assert_eq!(bad, 0);
        assert_eq!(first.iter().map(|r| r.time_us).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        s.commit(pos).unwrap();
        drop(s);
        let mut s = Spool::open(&d, "pg:x/y", 1 << 20).unwrap();
        let (rest, pos, _) = s.peek(100).unwrap();
        assert_eq!(
            rest.iter().map(|r| r.time_us).collect::<Vec<_>>(),
            (4..10).collect::<Vec<_>>()
        );
        s.commit(pos).unwrap();
        assert!(s.is_empty());
        assert_eq!(std::fs::metadata(s.path()).unwrap().len(), 0);
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let d = dir("full");
        let one = serde_json::to_vec(&rec(0)).unwrap().len() as u64 + 1;
        let mut s = Spool::open(&d, "x", one * 3).unwrap();
        let kept = (0..10).filter(|&i| s.push(&rec(i)).unwrap()).count();
        assert_eq!(kept, 3);
        assert!(s.pending_bytes() <= one * 3);
    }

    #[test]
    fn a_half_delivered_spool_is_compacted_and_keeps_its_order() {
        let d = dir("compact");
        let one = serde_json::to_vec(&rec(0)).unwrap().len() as u64 + 1;
        let mut s = Spool::open(&d, "x", one * 10).unwrap();
        for i in 0..10 {
            assert!(s.push(&rec(i)).unwrap());
        }
        assert!(!s.push(&rec(10)).unwrap(), "full");
        let (got, pos, _) = s.peek(6).unwrap();
        assert_eq!(got.len(), 6);
        s.commit(pos).unwrap();
        assert_eq!(
            std::fs::metadata(s.path()).unwrap().len(),
            one * 4,
            "delivered records gone from the file"
        );
        for i in 10..15 {
            assert!(s.push(&rec(i)).unwrap(), "room again for {i}");
        }
        drop(s);
        let mut s = Spool::open(&d, "x", one * 10).unwrap();
        let (rest, _, _) = s.peek(100).unwrap();
        assert_eq!(
            rest.iter().map(|r| r.time_us).collect::<Vec<_>>(),
            (6..15).collect::<Vec<_>>()
        );
    }

    #[test]
    fn damaged_lines_are_skipped_and_counted() {
        let d = dir("damaged");
        let mut s = Spool::open(&d, "x", 1 << 20).unwrap();
        s.push(&rec(1)).unwrap();
        s.file.write_all(b"{not json\n").unwrap();
        s.len += 10;
        s.push(&rec(2)).unwrap();
        let (got, _, bad) = s.peek(10).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(bad, 1);
    }
}
