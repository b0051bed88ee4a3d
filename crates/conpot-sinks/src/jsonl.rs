//! The JSON-lines file transport: one encoded record per line, appended; reopened on
//! SIGHUP for an outside log rotation, or rotated here by size and age.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::record::Record;
use crate::spec::Rotation;

/// An open JSON-lines file.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    out: BufWriter<File>,
    rotate: Rotation,
    /// Bytes in the current file.
    written: u64,
    /// When the current file was started.
    started: Instant,
}

fn open_append(path: &Path) -> io::Result<BufWriter<File>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(BufWriter::with_capacity(256 * 1024, file))
}

impl JsonLines {
    /// Opens (creating folders and the file as needed) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let out = open_append(path)?;
        let written = out.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
        Ok(JsonLines {
            path: path.to_owned(),
            out,
            rotate: Rotation::default(),
            written,
            started: Instant::now(),
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

    /// Whether the current file is due for rotation.
    fn due(&self) -> bool {
        self.written > 0
            && ((self.rotate.bytes > 0 && self.written >= self.rotate.bytes)
                || self.rotate.every.is_some_and(|d| self.started.elapsed() >= d))
    }

    /// Shifts `<path>.1 ..` up by one (dropping the oldest), renames the file to
    /// `<path>.1`, and starts a new one.
    fn rotate_now(&mut self) -> io::Result<()> {
        self.out.flush()?;
        let keep = self.rotate.keep.max(1);
        let _ = std::fs::remove_file(self.numbered(keep));
        for n in (1..keep).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        self.out = open_append(&self.path)?;
        self.written = 0;
        self.started = Instant::now();
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl crate::Deliver for JsonLines {
    fn needs_envelope(&self) -> bool {
        false
    }

    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        for r in batch {
            if self.due() {
                self.rotate_now()?;
            }
            self.out.write_all(r.body.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.written += r.body.len() as u64 + 1;
        }
        self.out.flush()
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out = open_append(&self.path)?;
        self.written = self.out.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
        self.started = Instant::now();
        Ok(())
    }
}
