//! The JSON-lines file sink: one encoded event per line, appended.
//!
//! Lines are gathered in a buffer that knows how many events it holds, so a failed write
//! loses a known number of events and they are counted exactly. Before anything is written
//! the file at the path is checked to still be the one held open: a log deleted or
//! replaced under the sensor (by hand, or a rotation without a reopen signal) is noticed
//! and a new file is opened at the path, instead of writing on into a deleted inode.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use conpot_core::config::EventFormat;
use conpot_core::event::Event;

use crate::encode::encode;

/// Buffered bytes that trigger a write to the file.
const BUFFER: usize = 256 * 1024;

/// An open JSON-lines file.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    format: EventFormat,
    file: File,
    /// Device and inode of `file`, to notice the path now names another file (or none).
    identity: (u64, u64),
    buf: Vec<u8>,
    /// Events whose lines are in `buf`.
    pending: u64,
    /// Events lost (not encodable, or in a failed write) since the last `take_lost`.
    lost: u64,
    /// Times the file was found deleted or replaced and opened anew.
    reopened: u64,
}

fn open_file(path: &Path) -> io::Result<(File, (u64, u64))> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let m = file.metadata()?;
    Ok((file, (m.dev(), m.ino())))
}

impl JsonLines {
    /// Opens (creating folders and the file as needed) `path` for appending.
    pub fn open(path: &Path, format: EventFormat) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let (file, identity) = open_file(path)?;
        Ok(JsonLines {
            path: path.to_owned(),
            format,
            file,
            identity,
            buf: Vec::with_capacity(BUFFER),
            pending: 0,
            lost: 0,
            reopened: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event (buffered).
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        let start = self.buf.len();
        if let Err(e) = encode(self.format, event, &mut self.buf) {
            self.buf.truncate(start);
            self.lost += 1;
            return Err(io::Error::other(e));
        }
        self.buf.push(b'\n');
        self.pending += 1;
        if self.buf.len() >= BUFFER {
            return self.flush();
        }
        Ok(())
    }

    /// Closes the file and opens `path` again (a new file after log rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.flush()?;
        let (file, identity) = open_file(&self.path)?;
        self.file = file;
        self.identity = identity;
        Ok(())
    }

    /// Writes buffered lines to the file (first reopening it if it was deleted or
    /// replaced). On failure the buffered events are counted as lost and let go.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let written = self.check_file().and_then(|()| self.file.write_all(&self.buf));
        if written.is_err() {
            self.lost += self.pending;
        }
        self.buf.clear();
        self.pending = 0;
        if self.buf.capacity() > 4 * BUFFER {
            self.buf = Vec::with_capacity(BUFFER);
        }
        written
    }

    /// Opens the path anew if it no longer names the open file.
    fn check_file(&mut self) -> io::Result<()> {
        let same = std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if !same {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let (file, identity) = open_file(&self.path)?;
            self.file = file;
            self.identity = identity;
            self.reopened += 1;
            tracing::warn!(path = %self.path.display(), "event log was deleted or replaced; opened it anew");
        }
        Ok(())
    }

    /// Events lost since the last call.
    pub fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    /// Times the file was found deleted or replaced and opened anew.
    pub fn reopened(&self) -> u64 {
        self.reopened
    }
}
