//! The JSON-lines file sink: one encoded event per line, appended.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use conpot_core::config::EventFormat;
use conpot_core::event::Event;

use crate::encode::encode;

/// An open JSON-lines file.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    format: EventFormat,
    out: BufWriter<File>,
    line: Vec<u8>,
}

impl JsonLines {
    /// Opens (creating folders and the file as needed) `path` for appending.
    pub fn open(path: &Path, format: EventFormat) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonLines {
            path: path.to_owned(),
            format,
            out: BufWriter::with_capacity(256 * 1024, file),
            line: Vec::with_capacity(1024),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event (buffered).
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        self.line.clear();
        encode(self.format, event, &mut self.line).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    /// Closes the file and opens `path` again (a new file after log rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.out = BufWriter::with_capacity(256 * 1024, file);
        Ok(())
    }

    /// Writes buffered lines to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
