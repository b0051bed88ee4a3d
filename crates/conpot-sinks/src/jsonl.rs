//! The JSON-lines file transport: one encoded record per line, appended; reopened on
//! SIGHUP for log rotation.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::record::Record;

/// An open JSON-lines file.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    out: BufWriter<File>,
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
        Ok(JsonLines {
            path: path.to_owned(),
            out: open_append(path)?,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl crate::Deliver for JsonLines {
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        for r in batch {
            self.out.write_all(r.body.as_bytes())?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out = open_append(&self.path)?;
        Ok(())
    }
}
