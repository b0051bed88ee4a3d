//! Storage of files attackers hand over: content-addressed by SHA-256, each file capped,
//! the folder under a total quota. Every capture becomes a `file.upload` event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::event::EventDraft;
use crate::protocol::Capture;

/// Where captures go, and how much may be kept.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    quota: u64,
    max_file: usize,
    used: Mutex<u64>,
}

impl FileStore {
    /// A store in `dir` keeping at most `quota` bytes in all (counting what is there) and
    /// at most `max_file` bytes of one file.
    pub fn new(dir: PathBuf, quota: u64, max_file: usize) -> Self {
        let used = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        FileStore {
            dir,
            quota,
            max_file,
            used: Mutex::new(used),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `capture` (unless its content is already there or the quota is spent) and
    /// returns the `file.upload` event describing it.
    pub fn store(&self, mut capture: Capture) -> EventDraft {
        capture.bytes.truncate(self.max_file);
        let sha = hex_digest(&capture.bytes);
        let path = self.dir.join(&sha);
        let size = capture.bytes.len() as u64;
        let outcome = if path.exists() {
            Ok("duplicate")
        } else {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            if *used + size > self.quota {
                Ok("quota_exceeded")
            } else {
                match self.write(&path, &capture.bytes) {
                    Ok(()) => {
                        *used += size;
                        Ok("stored")
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let mut d = EventDraft::new("file.upload")
            .with("name", capture.name)
            .with("sha256", sha)
            .with("size", size)
            .with("original_size", capture.original_len as u64)
            .with("truncated", capture.original_len > capture.bytes.len());
        match outcome {
            Ok(status) => {
                d = d.with("status", status);
                if status != "quota_exceeded" {
                    d = d.with("path", path.display().to_string());
                }
            }
            Err(e) => {
                d = d.with("status", "error");
                d.body.error = Some(e);
            }
        }
        for (k, v) in capture.data {
            d.body.data.insert(k, v);
        }
        d
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = path.with_extension("part");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(tmp, path)
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn hex_digest(bytes: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(bytes: &[u8]) -> Capture {
        Capture {
            name: "x".into(),
            bytes: bytes.to_vec(),
            original_len: bytes.len() + 1,
            data: Default::default(),
        }
    }

    #[test]
    fn content_addressed_with_quota() {
        let dir = std::env::temp_dir().join(format!("conpot-capture-{}", crate::rng::entropy_u64()));
        let store = FileStore::new(dir.clone(), 10, 6);
        let e = store.store(cap(b"hello"));
        assert_eq!(e.body.data["status"], "stored");
        assert_eq!(
            e.body.data["sha256"],
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(e.body.data["truncated"], true);
        assert_eq!(
            std::fs::read(dir.join(e.body.data["sha256"].as_str().unwrap())).unwrap(),
            b"hello"
        );
        assert_eq!(store.store(cap(b"hello")).body.data["status"], "duplicate");
        assert_eq!(store.store(cap(b"world!")).body.data["status"], "quota_exceeded");
        let _ = std::fs::remove_dir_all(dir);
    }
}
