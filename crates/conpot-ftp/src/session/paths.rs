//! Directory and file commands on the virtual file system: `CWD`, `MKD`, `RMD`, `DELE`,
//! renames, `SIZE`, `MDTM`, `MLST`, path `STAT` and the listings they share.

use std::time::SystemTime;

use conpot_core::protocol::Output;
use conpot_core::vfs::{Kind, Stat, VPath, VfsError, resolve_logged};

use crate::listing;
use crate::reply;

use super::FtpSession;

impl FtpSession {
    /// Resolves a path argument inside the root; a refused one is an event and `None`.
    pub(super) fn path(&self, arg: &str, out: &mut Output) -> Option<VPath> {
        resolve_logged(&self.cwd, arg, &mut out.events).ok()
    }

    pub(super) fn fs_error(&self, out: &mut Output, err: VfsError, path: &VPath, fallback: &str) {
        if let Some(ev) = err.limit_event(path) {
            out.events.push(ev);
        }
        match err {
            VfsError::QuotaExceeded | VfsError::TooMany => self.reply(out, 552, "Disk quota exceeded."),
            VfsError::FileTooLarge => self.reply(out, 552, "File too large."),
            VfsError::PermissionDenied => self.reply(out, 550, "Permission denied."),
            VfsError::Path(_) => self.reply(out, 553, "File name not allowed."),
            _ => self.reply(out, 550, fallback),
        }
    }

    pub(super) fn cwd_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "Failed to change directory.");
        };
        match self.shared.view.stat(&self.who(), &p, now) {
            Ok(st) if st.kind == Kind::Dir && st.may_exec(&self.who()) => {
                self.cwd = p;
                self.reply(out, 250, "Directory successfully changed.")
            }
            _ => self.reply(out, 550, "Failed to change directory."),
        }
    }

    pub(super) fn mkd_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "Create directory operation failed.");
        };
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        match self.shared.view.mkdir(&self.who(), &p, now) {
            Ok(()) => {
                let q = reply::quote_path(p.as_str());
                self.reply(out, 257, &format!("{q} created"))
            }
            Err(e) => self.fs_error(out, e, &p, "Create directory operation failed."),
        }
    }

    pub(super) fn simple_fs(&mut self, arg: &str, now: SystemTime, out: &mut Output, op: FsOp) {
        let (ok, fail) = match op {
            FsOp::Rmd => (
                "Remove directory operation successful.",
                "Remove directory operation failed.",
            ),
            FsOp::Dele => ("Delete operation successful.", "Delete operation failed."),
        };
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, fail);
        };
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        let who = self.who();
        let r = match op {
            FsOp::Rmd => self.shared.view.rmdir(&who, &p, now),
            FsOp::Dele => self.shared.view.delete(&who, &p, now),
        };
        match r {
            Ok(()) => self.reply(out, 250, ok),
            Err(e) => self.fs_error(out, e, &p, fail),
        }
    }

    pub(super) fn rnfr_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        self.rnfr = None;
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "RNFR command failed.");
        };
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        match self.shared.view.stat(&self.who(), &p, now) {
            Ok(_) if !p.is_root() => {
                self.rnfr = Some(p);
                self.reply(out, 350, "Ready for RNTO.")
            }
            _ => self.reply(out, 550, "RNFR command failed."),
        }
    }

    pub(super) fn rnto_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(from) = self.rnfr.take() else {
            return self.reply(out, 503, "RNFR required first.");
        };
        let Some(to) = self.path(arg, out) else {
            return self.reply(out, 550, "Rename failed.");
        };
        match self.shared.view.rename(&self.who(), &from, &to, now) {
            Ok(()) => self.reply(out, 250, "Rename successful."),
            Err(e) => self.fs_error(out, e, &to, "Rename failed."),
        }
    }

    pub(super) fn file_stat(&self, arg: &str, now: SystemTime, out: &mut Output) -> Option<(VPath, Stat)> {
        let p = self.path(arg, out)?;
        let st = self.shared.view.stat(&self.who(), &p, now).ok()?;
        (st.kind == Kind::File).then_some((p, st))
    }

    pub(super) fn size_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some((p, st)) = self.file_stat(arg, now, out) else {
            return self.reply(out, 550, "Could not get file size.");
        };
        let size = if self.ascii {
            match self.shared.view.read(&self.who(), &p, 0, usize::MAX, now) {
                Ok(b) => listing::to_network_ascii(&b).len() as u64,
                Err(_) => return self.reply(out, 550, "Could not get file size."),
            }
        } else {
            st.size
        };
        self.reply(out, 213, &size.to_string())
    }

    pub(super) fn mdtm_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        match self.file_stat(arg, now, out) {
            Some((_, st)) => self.reply(out, 213, &listing::timeval(st.meta.mtime)),
            None => self.reply(out, 550, "Could not get file modification time."),
        }
    }

    pub(super) fn stat_path(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let Some(lines) = self.listing_of("LIST", arg, now, out) else {
            return self.reply(out, 550, "STAT command failed.");
        };
        let text = String::from_utf8_lossy(&lines).into_owned();
        let inner: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        reply::multi(&mut out.bytes, 213, "Status follows:", inner, "End of status");
    }

    /// The bytes of a listing of `arg` (options such as `-la` dropped): `ls -l` lines,
    /// names, or facts; `None` if it cannot be listed.
    pub(super) fn listing_of(&self, verb: &str, arg: &str, now: SystemTime, out: &mut Output) -> Option<Vec<u8>> {
        let target: Vec<&str> = arg
            .split(' ')
            .filter(|w| !w.starts_with('-') && !w.is_empty())
            .collect();
        let target = target.join(" ");
        let p = if target.is_empty() {
            self.cwd.clone()
        } else {
            self.path(&target, out)?
        };
        let who = self.who();
        let st = self.shared.view.stat(&who, &p, now).ok()?;
        let entries = match st.kind {
            Kind::Dir => self.shared.view.list(&who, &p, now).ok()?,
            Kind::File if verb == "MLSD" => return None,
            Kind::File => vec![st],
        };
        let mut bytes = Vec::new();
        for e in &entries {
            match verb {
                "NLST" => {
                    bytes.extend_from_slice(e.name.as_bytes());
                    bytes.extend_from_slice(b"\r\n");
                }
                "MLSD" => {
                    bytes.extend_from_slice(listing::facts(e, &who, &self.facts, &e.name).as_bytes());
                    bytes.extend_from_slice(b"\r\n");
                }
                _ => bytes.extend_from_slice(listing::ls_line(e, now).as_bytes()),
            }
        }
        Some(bytes)
    }

    pub(super) fn mlst_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let p = if arg.trim().is_empty() {
            Some(self.cwd.clone())
        } else {
            self.path(arg, out)
        };
        let who = self.who();
        match p.and_then(|p| self.shared.view.stat(&who, &p, now).ok().map(|st| (p, st))) {
            Some((p, st)) => {
                let line = listing::facts(&st, &who, &self.facts, p.as_str());
                reply::multi(&mut out.bytes, 250, "Listing", [line.as_str()], "End");
            }
            None => self.reply(out, 550, "Could not list."),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum FsOp {
    Rmd,
    Dele,
}
