//! Transfers over the data channel: `RETR`, listings, `STOR`/`APPE`/`STOU`, the chunked send,
//! the end of a transfer with its event, and keeping uploads.

use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{IoRequest, Output};
use conpot_core::vfs::{Principal, VPath, VfsError, WriteMode};

use crate::listing;
use crate::reply;
use crate::transfer::{DataMode, Direction, Transfer};

use super::FtpSession;

impl FtpSession {
    pub(super) fn retr_cmd(&mut self, arg: &str, now: SystemTime, out: &mut Output) {
        let offset = self.rest.take().unwrap_or(0);
        let Some(p) = self.path(arg, out) else {
            return self.reply(out, 550, "Failed to open file.");
        };
        let who = self.who();
        // Opened (a file, readable) now; read a chunk at a time as it is sent.
        let size = match self.shared.view.read(&who, &p, offset, 0, now) {
            Ok(_) => self.shared.view.stat(&who, &p, now).map_or(0, |st| st.size),
            Err(VfsError::PermissionDenied) => return self.reply(out, 550, "Permission denied."),
            Err(_) => return self.reply(out, 550, "Failed to open file."),
        };
        let mode = if self.ascii { "ASCII" } else { "BINARY" };
        let name = p.file_name().unwrap_or_default().to_owned();
        let text = format!(
            "Opening {mode} mode data connection for {name} ({} bytes).",
            size.saturating_sub(offset)
        );
        let source = crate::transfer::Outgoing::File {
            start: offset,
            offset,
            prev: 0,
            eof: false,
            hash: sha2::Sha256::default(),
        };
        self.start(
            "RETR",
            Some(p),
            Direction::Send {
                source,
                sent: 0,
                closing: false,
            },
            &text,
            now,
            out,
        );
    }

    pub(super) fn list_cmd(&mut self, verb: &str, arg: &str, now: SystemTime, out: &mut Output) {
        if self.data.is_none() {
            return self.reply(out, 425, "Use PORT or PASV first.");
        }
        let Some(bytes) = self.listing_of(verb, arg, now, out) else {
            return self.reply(out, 550, "Failed to list directory.");
        };
        let verb: &'static str = match verb {
            "NLST" => "NLST",
            "MLSD" => "MLSD",
            _ => "LIST",
        };
        let dir = Direction::Send {
            source: crate::transfer::Outgoing::Bytes(bytes),
            sent: 0,
            closing: false,
        };
        self.start(verb, None, dir, "Here comes the directory listing.", now, out);
    }

    pub(super) fn store_cmd(&mut self, verb: &'static str, arg: Option<&str>, now: SystemTime, out: &mut Output) {
        if !self.may_write() {
            return self.reply(out, 550, "Permission denied.");
        }
        let rest = self.rest.take();
        let (p, mode) = if verb == "STOU" {
            let dir = match arg.map(str::trim).filter(|a| !a.is_empty()) {
                Some(a) => match self.path(a, out) {
                    Some(p) => p.parent().unwrap_or_else(VPath::root),
                    None => return self.reply(out, 553, "Could not create file."),
                },
                None => self.cwd.clone(),
            };
            match self.unique_name(&dir, now) {
                Some(p) => (p, WriteMode::CreateNew),
                None => return self.reply(out, 553, "Could not create file."),
            }
        } else {
            let Some(p) = self.path(arg.unwrap_or_default(), out) else {
                return self.reply(out, 553, "Could not create file.");
            };
            let mode = match (verb, rest) {
                ("APPE", _) => WriteMode::Append,
                (_, Some(off)) if off > 0 => WriteMode::At(off),
                _ => WriteMode::Truncate,
            };
            (p, mode)
        };
        let cap = usize::try_from(self.shared.view.vfs().limits().max_file)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let text = if verb == "STOU" {
            format!("FILE: {}", p.file_name().unwrap_or_default())
        } else {
            "Ok to send data.".to_owned()
        };
        let dir = Direction::Receive {
            buf: Vec::new(),
            received: 0,
            cap,
            mode,
        };
        self.start(verb, Some(p), dir, &text, now, out);
    }

    /// A name in `dir` no entry has: the configured prefix and suffix around a number.
    pub(super) fn unique_name(&self, dir: &VPath, now: SystemTime) -> Option<VPath> {
        let c = &self.shared.config;
        for _ in 0..16 {
            let n = conpot_core::rng::with_thread_rng(|r| r.range_i64(0, 999_999));
            let name = format!("{}{n:06}{}", c.stou_prefix, c.stou_suffix);
            let p = dir.join(&VPath::new(&name).ok()?).ok()?;
            if matches!(
                self.shared.view.stat(&Principal::root(), &p, now),
                Err(VfsError::NotFound)
            ) {
                return Some(p);
            }
        }
        None
    }

    /// Starts a transfer on the prepared data channel.
    pub(super) fn start(
        &mut self,
        verb: &'static str,
        path: Option<VPath>,
        dir: Direction,
        preliminary: &str,
        now: SystemTime,
        out: &mut Output,
    ) {
        let Some(channel) = self.data.take() else {
            return self.reply(out, 425, "Use PORT or PASV first.");
        };
        let mut t = Transfer {
            channel,
            verb,
            path,
            dir,
            ascii: self.ascii,
            started: now,
            progress: now,
            announced: false,
        };
        match t.channel.mode {
            DataMode::Active(addr) if !t.channel.opened => {
                t.channel.opened = true;
                out.request(IoRequest::ConnectBack {
                    channel: t.channel.id,
                    addr,
                });
            }
            _ => {}
        }
        if t.channel.mode == DataMode::Passive {
            self.reply(out, 150, preliminary);
            t.announced = true;
        }
        self.pending_text = preliminary.to_owned();
        let early = std::mem::take(&mut t.channel.early);
        t.receive(&early);
        let ready = t.channel.connected;
        let eof = t.channel.eof;
        self.transfer = Some(t);
        if ready {
            self.begin(now, out);
        }
        if eof {
            self.finish(150, now, out);
        }
    }

    /// The data connection is up: send the first chunk (uploads wait for data).
    pub(super) fn begin(&mut self, now: SystemTime, out: &mut Output) {
        let Some(t) = self.transfer.as_mut() else { return };
        if !t.announced {
            t.announced = true;
            let text = std::mem::take(&mut self.pending_text);
            reply::single(&mut out.bytes, 150, &text);
        }
        self.send_next(now, out);
    }

    /// The next chunk of the running download, or `None` when everything was handed
    /// over (a file that can no longer be read ends there).
    pub(super) fn next_chunk(&mut self, now: SystemTime) -> Option<Vec<u8>> {
        use sha2::Digest;
        let who = self.who();
        let t = self.transfer.as_mut()?;
        let ascii = t.ascii;
        let Direction::Send { source, sent, .. } = &mut t.dir else {
            return None;
        };
        let chunk = match source {
            crate::transfer::Outgoing::Bytes(bytes) => {
                let start = usize::try_from(*sent).unwrap_or(usize::MAX).min(bytes.len());
                let end = start.saturating_add(crate::transfer::CHUNK).min(bytes.len());
                bytes.get(start..end).unwrap_or_default().to_vec()
            }
            crate::transfer::Outgoing::File {
                offset,
                prev,
                eof,
                hash,
                ..
            } => {
                if *eof {
                    return None;
                }
                let path = t.path.as_ref()?;
                let raw = self
                    .shared
                    .view
                    .read(&who, path, *offset, crate::transfer::CHUNK, now)
                    .unwrap_or_default();
                *eof = raw.len() < crate::transfer::CHUNK;
                *offset += raw.len() as u64;
                hash.update(&raw);
                if ascii {
                    listing::to_network_ascii_after(prev, &raw)
                } else {
                    raw
                }
            }
        };
        *sent += chunk.len() as u64;
        (!chunk.is_empty()).then_some(chunk)
    }

    pub(super) fn send_next(&mut self, now: SystemTime, out: &mut Output) {
        let chunk = self.next_chunk(now);
        let Some(t) = self.transfer.as_mut() else { return };
        match chunk {
            Some(chunk) => out.request(IoRequest::Send {
                channel: t.channel.id,
                bytes: chunk,
            }),
            None => {
                if let Direction::Send { closing, .. } = &mut t.dir
                    && !*closing
                {
                    *closing = true;
                    out.request(IoRequest::Close { channel: t.channel.id });
                }
            }
        }
    }

    /// Ends transfer `t` before its data connection did (`ABOR`, a timeout): closes the
    /// channel, logs it with code 426 and `result`, and keeps what an upload had received.
    pub(super) fn cut_short(&mut self, t: &Transfer, result: &str, now: SystemTime, out: &mut Output) {
        out.request(IoRequest::Close { channel: t.channel.id });
        self.transfer_event(t, 426, result, now, out);
        if let (
            Some(path),
            Direction::Receive {
                buf, received, mode, ..
            },
        ) = (&t.path, &t.dir)
        {
            self.keep_upload(t, path, buf, *received, *mode, now, out);
        }
    }

    /// The data connection ended (`code` 150: closed by the client as expected; else the
    /// failure's code): complete the transfer and reply.
    pub(super) fn finish(&mut self, why: u16, now: SystemTime, out: &mut Output) {
        let Some(t) = self.transfer.take() else { return };
        match &t.dir {
            Direction::Send { source, closing, .. } => {
                if why == 150 && *closing {
                    self.transfer_event(&t, 226, "complete", now, out);
                    if let (
                        Some(p),
                        crate::transfer::Outgoing::File {
                            start, offset, hash, ..
                        },
                    ) = (&t.path, source)
                    {
                        use sha2::Digest;
                        let sha = conpot_core::hex::encode(&hash.clone().finalize());
                        out.events.push(
                            EventDraft::new("file.download")
                                .with("protocol", "ftp")
                                .with("user", self.user_name())
                                .with("path", p.as_str())
                                .with(
                                    "vfs_path",
                                    self.shared.view.root().join(p).map(|f| f.as_str().to_owned()).ok(),
                                )
                                .with("size", offset.saturating_sub(*start))
                                .with("sha256", sha),
                        );
                    }
                    self.reply(out, 226, "Transfer complete.");
                } else if !t.channel.connected {
                    self.transfer_event(&t, 425, "no_connection", now, out);
                    self.reply(out, 425, "Failed to establish connection.");
                } else {
                    self.transfer_event(&t, 426, "connection_lost", now, out);
                    self.reply(out, 426, "Failure writing network stream.");
                }
            }
            Direction::Receive {
                buf, received, mode, ..
            } => {
                let Some(path) = t.path.clone() else { return };
                if !t.channel.connected && why != 150 {
                    self.transfer_event(&t, 425, "no_connection", now, out);
                    return self.reply(out, 425, "Failed to establish connection.");
                }
                let (code, result) = self.keep_upload(&t, &path, buf, *received, *mode, now, out);
                let (code, result) = if why == 150 {
                    (code, result)
                } else {
                    (426, "connection_lost")
                };
                self.transfer_event(&t, code, result, now, out);
                match code {
                    226 => self.reply(out, 226, "Transfer complete."),
                    552 => self.reply(out, 552, "Disk quota exceeded."),
                    426 => self.reply(out, 426, "Failure reading network stream."),
                    553 => self.reply(out, 553, "Could not create file."),
                    _ => self.reply(out, 550, "Permission denied."),
                }
            }
        }
        self.drain(now, out);
    }

    /// Writes an upload into the filesystem; it is captured whether or not the
    /// filesystem keeps it. Returns the reply code and a result name.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn keep_upload(
        &self,
        t: &Transfer,
        path: &VPath,
        buf: &[u8],
        received: u64,
        mode: WriteMode,
        now: SystemTime,
        out: &mut Output,
    ) -> (u16, &'static str) {
        let data = if t.ascii {
            listing::from_network_ascii(buf)
        } else {
            buf.to_vec()
        };
        let who = self.who();
        let (mut capture, code, result) = match self.shared.view.write(&who, path, mode, &data, now) {
            Ok(c) => (c, 226, "complete"),
            Err(e) => {
                if let Some(ev) = e.limit_event(path) {
                    out.events.push(ev);
                }
                let (code, result) = match e {
                    VfsError::QuotaExceeded | VfsError::TooMany | VfsError::FileTooLarge => (552, "disk_full"),
                    VfsError::PermissionDenied => (550, "permission_denied"),
                    _ => (553, "refused"),
                };
                (
                    self.shared.view.refused_capture(&who, path, mode, &data, e),
                    code,
                    result,
                )
            }
        };
        capture.original_len = capture
            .original_len
            .max(usize::try_from(received).unwrap_or(usize::MAX));
        capture.data.insert("protocol".into(), "ftp".into());
        capture.data.insert("user".into(), who.user.clone().into());
        capture.data.insert("command".into(), t.verb.into());
        out.files.push(capture);
        (code, result)
    }

    pub(super) fn transfer_event(&self, t: &Transfer, code: u16, result: &str, now: SystemTime, out: &mut Output) {
        let direction = match (&t.dir, t.path.is_some()) {
            (Direction::Receive { .. }, _) => "upload",
            (Direction::Send { .. }, true) => "download",
            (Direction::Send { .. }, false) => "listing",
        };
        let mode = match t.channel.mode {
            DataMode::Passive => "passive",
            DataMode::Active(_) => "active",
        };
        out.events.push(
            EventDraft::new("ftp.transfer")
                .with("command", t.verb)
                .with("path", t.path.as_ref().map(|p| p.as_str().to_owned()))
                .with("direction", direction)
                .with("mode", mode)
                .with("type", if t.ascii { "ascii" } else { "binary" })
                .with("bytes", t.bytes())
                .with(
                    "duration_ms",
                    now.duration_since(t.started).unwrap_or_default().as_millis() as u64,
                )
                .with("code", code)
                .with("result", result)
                .with("user", self.user_name()),
        );
    }
}
