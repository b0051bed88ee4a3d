//! Writes: how a write changes a file's bytes, the limits it must keep, and the capture
//! every completed write yields.
//!
//! The template's files are never changed in place: a write gives the file new bytes
//! held in memory (the overlay), and only those count against the byte quota. Deleting
//! or overwriting an overlay file frees its bytes.

use super::VfsError;
use super::path::VPath;
use crate::protocol::Capture;

/// How much the filesystem of one persona may hold of what attackers write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VfsLimits {
    /// Bytes written by protocols held at once (template files do not count).
    pub quota_bytes: u64,
    /// Largest file a write may leave behind, in bytes.
    pub max_file: u64,
    /// Most nodes (files and directories, the template's included).
    pub max_entries: usize,
}

impl Default for VfsLimits {
    /// 32 MiB of uploads, 8 MiB per file, 4096 nodes: plenty for a PLC's flash card,
    /// little for the sensor's memory.
    fn default() -> Self {
        VfsLimits {
            quota_bytes: 32 << 20,
            max_file: 8 << 20,
            max_entries: 4096,
        }
    }
}

impl From<&crate::config::Limits> for VfsLimits {
    /// The sensor configuration's `fs_quota`, `fs_max_file` and `fs_max_entries`.
    fn from(l: &crate::config::Limits) -> Self {
        VfsLimits {
            quota_bytes: l.fs_quota,
            max_file: l.fs_max_file,
            max_entries: l.fs_max_entries,
        }
    }
}

/// How a write treats the file's current bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Create the file, or empty it first (FTP `STOR`, TFTP write request).
    Truncate,
    /// Create the file; fail with [`VfsError::Exists`] if it is there (FTP `STOU`).
    CreateNew,
    /// Add to the end, creating the file if needed (FTP `APPE`).
    Append,
    /// Overwrite from this offset on, keeping any bytes beyond what is written (FTP
    /// `REST` then `STOR`). An offset past the end fails with [`VfsError::InvalidOffset`].
    At(u64),
}

impl WriteMode {
    /// A stable name for captures and events.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Truncate => "truncate",
            WriteMode::CreateNew => "create_new",
            WriteMode::Append => "append",
            WriteMode::At(_) => "offset",
        }
    }
}

/// The bytes of a file after writing `data` with `mode` over `old`, checked against
/// `max_file` before anything is allocated.
pub(super) fn apply(old: &[u8], mode: WriteMode, data: &[u8], max_file: u64) -> Result<Vec<u8>, VfsError> {
    let (keep, tail) = match mode {
        WriteMode::Truncate | WriteMode::CreateNew => (0, 0),
        WriteMode::Append => (old.len(), 0),
        WriteMode::At(off) => {
            let off = usize::try_from(off).map_err(|_| VfsError::InvalidOffset)?;
            if off > old.len() {
                return Err(VfsError::InvalidOffset);
            }
            (off, old.len().saturating_sub(off.saturating_add(data.len())))
        }
    };
    let len = keep as u64 + data.len() as u64 + tail as u64;
    if len > max_file {
        return Err(VfsError::FileTooLarge);
    }
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(old.get(..keep).unwrap_or_default());
    out.extend_from_slice(data);
    if tail > 0 {
        out.extend_from_slice(old.get(old.len() - tail..).unwrap_or_default());
    }
    Ok(out)
}

/// Bytes held once a file holding `old_overlay` overlay bytes is replaced by `new_len`
/// bytes, if that keeps the quota.
pub(super) fn charge(used: u64, old_overlay: u64, new_len: u64, quota: u64) -> Result<u64, VfsError> {
    let next = used.saturating_sub(old_overlay).saturating_add(new_len);
    if next > quota {
        Err(VfsError::QuotaExceeded)
    } else {
        Ok(next)
    }
}

/// The capture of a completed write: the file as it now is (so a resumed or appended
/// upload is captured whole), named by the path the protocol's user saw.
///
/// The capture's `name` is the path as the protocol's user named it; its `data` holds
/// `vfs_path` (in the device's tree), `write_mode`, `offset` (for [`WriteMode::At`]),
/// `sent` (bytes of this write) and `owner`. (No `path`: the capture store's event uses
/// that key for where it stored the file.)
pub(super) fn capture(
    path: &VPath,
    full: &VPath,
    mode: WriteMode,
    sent: usize,
    owner: &str,
    content: &[u8],
) -> Capture {
    let mut data = serde_json::Map::new();
    data.insert("vfs_path".into(), full.as_str().into());
    data.insert("write_mode".into(), mode.as_str().into());
    if let WriteMode::At(off) = mode {
        data.insert("offset".into(), off.into());
    }
    data.insert("sent".into(), (sent as u64).into());
    data.insert("owner".into(), owner.into());
    Capture {
        name: path.as_str().to_owned(),
        bytes: content.to_vec(),
        original_len: content.len(),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(apply(b"hello", WriteMode::Truncate, b"xy", 100).unwrap(), b"xy");
        assert_eq!(apply(b"hello", WriteMode::Append, b"xy", 100).unwrap(), b"helloxy");
        assert_eq!(apply(b"hello", WriteMode::At(1), b"xy", 100).unwrap(), b"hxylo");
        assert_eq!(apply(b"hello", WriteMode::At(4), b"xy", 100).unwrap(), b"hellxy");
        assert_eq!(apply(b"hello", WriteMode::At(5), b"xy", 100).unwrap(), b"helloxy");
        assert_eq!(
            apply(b"hello", WriteMode::At(6), b"xy", 100),
            Err(VfsError::InvalidOffset)
        );
        assert_eq!(
            apply(b"hello", WriteMode::At(u64::MAX), b"", 100),
            Err(VfsError::InvalidOffset)
        );
        assert_eq!(
            apply(b"hello", WriteMode::Append, b"xy", 6),
            Err(VfsError::FileTooLarge)
        );
        assert_eq!(apply(b"hello", WriteMode::At(1), b"xy", 5).unwrap(), b"hxylo");
    }

    #[test]
    fn quota() {
        assert_eq!(charge(10, 0, 5, 15), Ok(15));
        assert_eq!(charge(10, 0, 6, 15), Err(VfsError::QuotaExceeded));
        assert_eq!(charge(10, 4, 9, 15), Ok(15));
    }
}
