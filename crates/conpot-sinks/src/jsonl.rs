//! The JSON-lines file transport: one encoded record per line, appended; reopened on
//! SIGHUP for an outside log rotation, or rotated here by size and age.
//!
//! A batch's lines are gathered in a buffer of our own (no `BufWriter`, which would keep
//! the bytes of a failed write and write them later), so a failed write lets go of a known
//! set of records: the transport says how many of the batch reached the file before the
//! failure ([`crate::Deliver::delivered_before_error`]) and the runner spools or counts
//! the rest exactly. Before anything is written the file at the path is checked to still
//! be the one held open: a log deleted or replaced under the sensor (by hand, or a
//! rotation without a reopen signal) is noticed and a new file is opened at the path,
//! instead of writing on into a deleted inode.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::record::Record;
use crate::spec::Rotation;

/// Buffered bytes that trigger a write to the file within a batch.
const BUFFER: usize = 256 * 1024;

/// An open JSON-lines file.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    file: File,
    /// Device and inode of `file`, to notice the path now names another file (or none).
    identity: (u64, u64),
    buf: Vec<u8>,
    rotate: Rotation,
    /// Bytes in the current file.
    written: u64,
    /// When the current file was started.
    started: Instant,
    /// Records of the last failed batch that were written before the failure.
    done: usize,
    /// Times the file was found deleted or replaced and opened anew.
    reopened: u64,
}

fn open_file(path: &Path) -> io::Result<(File, (u64, u64), u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let m = file.metadata()?;
    Ok((file, (m.dev(), m.ino()), m.len()))
}

impl JsonLines {
    /// Opens (creating folders and the file as needed) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (file, identity, written) = open_file(path)?;
        Ok(JsonLines {
            path: path.to_owned(),
            file,
            identity,
            buf: Vec::with_capacity(BUFFER),
            rotate: Rotation::default(),
            written,
            started: Instant::now(),
            done: 0,
            reopened: 0,
        })
    }

    /// The same file, rotated by `rotate`.
    pub fn rotating(self, rotate: Rotation) -> Self {
        JsonLines { rotate, ..self }
    }

    /// `<path>.<n>`.
    fn numbered(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Whether the current file (with the lines buffered for it) is due for rotation.
    fn due(&self) -> bool {
        let size = self.written + self.buf.len() as u64;
        size > 0
            && ((self.rotate.bytes > 0 && size >= self.rotate.bytes)
                || self.rotate.every.is_some_and(|d| self.started.elapsed() >= d))
    }

    /// Shifts `<path>.1 ..` up by one (dropping the oldest), renames the file to
    /// `<path>.1`, and starts a new one. The buffer must have been written first.
    fn rotate_now(&mut self) -> io::Result<()> {
        let keep = self.rotate.keep.max(1);
        let _ = std::fs::remove_file(self.numbered(keep));
        for n in (1..keep).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        self.open_again()?;
        self.written = 0;
        self.started = Instant::now();
        Ok(())
    }

    /// Opens the path again (creating its folder if it went away).
    fn open_again(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (file, identity, written) = open_file(&self.path)?;
        self.file = file;
        self.identity = identity;
        self.written = written;
        Ok(())
    }

    /// Writes the buffered lines to the file (first reopening it if it was deleted or
    /// replaced). The buffer is emptied whatever the outcome, so a failed write never
    /// comes back later as a duplicate.
    fn write_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.check_file().and_then(|()| self.file.write_all(&self.buf));
        if r.is_ok() {
            self.written += self.buf.len() as u64;
        }
        self.buf.clear();
        if self.buf.capacity() > 4 * BUFFER {
            self.buf = Vec::with_capacity(BUFFER);
        }
        r
    }

    /// Opens the path anew if it no longer names the open file.
    fn check_file(&mut self) -> io::Result<()> {
        let same = std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if !same {
            self.open_again()?;
            self.started = Instant::now();
            self.reopened += 1;
            tracing::warn!(path = %self.path.display(), "event log was deleted or replaced; opened it anew");
        }
        Ok(())
    }

    /// Writes `batch`; on failure `self.done` says how many records were written before.
    fn write_batch(&mut self, batch: &[Record]) -> io::Result<()> {
        for (i, r) in batch.iter().enumerate() {
            if self.due() {
                self.write_buf()?;
                self.done = i;
                self.rotate_now()?;
            } else if self.buf.len() >= BUFFER {
                self.write_buf()?;
                self.done = i;
            }
            self.buf.extend_from_slice(r.body.as_bytes());
            self.buf.push(b'\n');
        }
        self.write_buf()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Times the file was found deleted or replaced and opened anew.
    pub fn reopened(&self) -> u64 {
        self.reopened
    }
}

impl crate::Deliver for JsonLines {
    fn needs_envelope(&self) -> bool {
        false
    }

    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        self.done = 0;
        let r = self.write_batch(batch);
        if r.is_err() {
            self.buf.clear();
        }
        r
    }

    fn delivered_before_error(&self) -> usize {
        self.done
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.open_again()?;
        self.started = Instant::now();
        Ok(())
    }
}
