//! The TFTP transfers of one client address.
//!
//! A request on the server's port gets a fresh port ([`IoRequest::NewUdpPort`]); the
//! transfer runs there (RFC 1350's transfer identifiers), several at once. A download
//! sends a window of blocks (one without RFC 7440's `windowsize`) and moves on when the
//! client acknowledges; a duplicate acknowledgment is never answered with data (the
//! Sorcerer's Apprentice bug), only the session's timer retransmits, with a timeout that
//! doubles on each retry. An upload is acknowledged block by block (or once per window)
//! and written to the filesystem when its last, short block arrives: it is captured
//! whether or not the filesystem keeps it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::event::EventDraft;
use conpot_core::protocol::{ChannelId, IoEvent, IoRequest, Output, Session, SessionCtx};
use conpot_core::vfs::{Kind, Principal, VPath, VfsError, WriteMode, resolve_logged};
use serde_json::{Map, Value as Json};

use crate::Shared;
use crate::wire::{self, MAX_BLKSIZE, MIN_BLKSIZE, Mode, Packet, Request, code};

/// Default block size (RFC 1350).
const BLOCK: usize = 512;
/// Longest retransmission back-off, as a multiple of the timeout.
const MAX_BACKOFF: u32 = 8;

/// Where a download's bytes come from.
#[derive(Debug)]
enum Source {
    /// Read from the filesystem block by block (octet): a transfer holds no copy of the
    /// file, so requests from spoofed addresses, which never get past the first block,
    /// cost nothing but their state.
    File,
    /// Converted once (netascii moves every offset).
    Buffer(Vec<u8>),
}

/// What a transfer does.
#[derive(Debug)]
enum Work {
    /// A download.
    Read {
        src: Source,
        /// The size at the request (what `tsize` announced), in the transfer's mode.
        size: u64,
        /// Blocks acknowledged (0 before any).
        acked: u64,
        /// Highest block sent.
        sent: u64,
        /// The last (short, possibly empty) block, once it was read.
        last: Option<u64>,
    },
    /// An upload.
    Write {
        buf: Vec<u8>,
        received: u64,
        cap: usize,
        /// Blocks received in order.
        good: u64,
        /// Blocks received since the last acknowledgment.
        unacked: u16,
        /// The last block arrived: acknowledged, kept only to answer a repeat of it.
        done: bool,
    },
}

/// One transfer on its own port.
#[derive(Debug)]
struct Transfer {
    channel: ChannelId,
    request: Vec<u8>,
    path: VPath,
    mode: Mode,
    blksize: usize,
    window: u16,
    timeout: Duration,
    /// Options granted (sent in an OACK); empty: no OACK.
    oack: Vec<(&'static str, String)>,
    /// Whether the OACK still waits for its acknowledgment (ACK 0 / DATA 1).
    oack_pending: bool,
    work: Work,
    /// Whether the port is open (the first packet sent).
    open: bool,
    /// Packets of the last burst, resent on timeout.
    last: Vec<Vec<u8>>,
    deadline: SystemTime,
    retries: u32,
    retransmits: u32,
    started: SystemTime,
}

/// The transfers of one client address.
pub struct TftpSession {
    shared: Arc<Shared>,
    ctx: SessionCtx,
    transfers: Vec<Transfer>,
    next_channel: ChannelId,
}

impl std::fmt::Debug for TftpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TftpSession")
            .field("peer", &self.ctx.peer)
            .field("transfers", &self.transfers.len())
            .finish_non_exhaustive()
    }
}

fn error_packet(out: &mut Output, code: u16, message: &str) {
    wire::error(&mut out.bytes, code, message);
    out.end_datagram();
}

impl TftpSession {
    /// A session of the server `shared` for the client address in `ctx`.
    pub fn new(shared: Arc<Shared>, ctx: SessionCtx) -> Self {
        TftpSession {
            shared,
            ctx,
            transfers: Vec::new(),
            next_channel: 1,
        }
    }

    fn who(&self) -> Principal {
        let c = &self.shared.config;
        Principal::new(c.user.clone(), c.groups.clone())
    }

    fn request_event(&self, raw: &[u8], op: &str, req: &Request<'_>, outcome: &str, code: Option<u16>) -> EventDraft {
        let options: Map<String, Json> = req
            .options
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(v.clone())))
            .collect();
        let mut d = EventDraft::new("tftp.request")
            .with("opcode", op)
            .with("filename", String::from_utf8_lossy(req.filename).into_owned())
            .with("mode", req.mode.as_str())
            .with("options", Json::Object(options))
            .with("outcome", outcome)
            .with("error_code", code);
        d.body.raw = Some(raw.to_vec());
        d
    }

    /// A request on the server's port.
    fn on_request(&mut self, raw: &[u8], write: bool, req: Request<'_>, now: SystemTime, out: &mut Output) {
        let op = if write { "wrq" } else { "rrq" };
        if self.transfers.iter().any(|t| t.request == raw) {
            // A retransmitted request: the transfer answers it on its own timer.
            out.events.push(self.request_event(raw, op, &req, "duplicate", None));
            return;
        }
        let refuse = |s: &Self, out: &mut Output, code: u16, msg: &str, outcome: &str| {
            error_packet(out, code, msg);
            out.events.push(s.request_event(raw, op, &req, outcome, Some(code)));
        };
        if req.mode == Mode::Mail {
            return refuse(self, out, code::ILLEGAL, "Mail mode not supported", "refused");
        }
        if self.transfers.len() >= self.shared.config.max_transfers {
            return refuse(self, out, code::UNDEFINED, "Too many transfers", "refused");
        }
        let Ok(name) = std::str::from_utf8(req.filename) else {
            let mut d = EventDraft::new("fs.refused")
                .with("path", String::from_utf8_lossy(req.filename).into_owned())
                .with("path_len", req.filename.len() as u64)
                .with("reason", "not_utf8");
            d.body.raw = Some(req.filename.to_vec());
            out.events.push(d);
            return refuse(self, out, code::ACCESS, "Access violation", "refused");
        };
        let Ok(path) = resolve_logged(&VPath::root(), name, &mut out.events) else {
            return refuse(self, out, code::ACCESS, "Access violation", "refused");
        };
        let c = &self.shared.config;
        let view = &self.shared.view;
        let who = self.who();
        // Options (RFC 2347): unknown or invalid ones are left out of the OACK.
        let mut blksize = BLOCK;
        let mut window = 1u16;
        let mut timeout = c.timeout;
        let mut tsize: Option<u64> = None;
        let mut oack: Vec<(&'static str, String)> = Vec::new();
        for (k, v) in &req.options {
            match k.as_str() {
                "blksize" => {
                    if let Ok(n) = v.parse::<u32>()
                        && n >= u32::from(MIN_BLKSIZE)
                    {
                        let n = n.min(u32::from(MAX_BLKSIZE)).min(u32::from(c.max_blksize));
                        blksize = n as usize;
                        oack.push(("blksize", n.to_string()));
                    }
                }
                "windowsize" => {
                    if let Ok(n) = v.parse::<u32>()
                        && n >= 1
                    {
                        window = n.min(u32::from(c.max_windowsize)).min(65_535) as u16;
                        oack.push(("windowsize", window.to_string()));
                    }
                }
                "timeout" => {
                    if let Ok(n) = v.parse::<u64>()
                        && (1..=255).contains(&n)
                    {
                        timeout = Duration::from_secs(n);
                        oack.push(("timeout", n.to_string()));
                    }
                }
                "tsize" => {
                    if let Ok(n) = v.parse::<u64>() {
                        tsize = Some(n);
                    }
                }
                _ => {}
            }
        }
        let work = if write {
            if !c.allow_write {
                return refuse(self, out, code::ACCESS, "Access violation", "refused");
            }
            let parent = path.parent().unwrap_or_else(VPath::root);
            match view.stat(&who, &parent, now) {
                Ok(st) if st.kind == Kind::Dir => {}
                Ok(_) => return refuse(self, out, code::ACCESS, "Access violation", "refused"),
                Err(_) => return refuse(self, out, code::NOT_FOUND, "File not found", "not_found"),
            }
            if matches!(view.stat(&who, &path, now), Ok(st) if st.kind == Kind::Dir) {
                return refuse(self, out, code::ACCESS, "Access violation", "refused");
            }
            let max_file = view.vfs().limits().max_file;
            if let Some(n) = tsize {
                if n > max_file {
                    return refuse(
                        self,
                        out,
                        code::DISK_FULL,
                        "Disk full or allocation exceeded",
                        "disk_full",
                    );
                }
                oack.push(("tsize", n.to_string()));
            }
            Work::Write {
                buf: Vec::new(),
                received: 0,
                cap: usize::try_from(max_file).unwrap_or(usize::MAX),
                good: 0,
                unacked: 0,
                done: false,
            }
        } else {
            // Read permission is checked now; the bytes are read block by block later.
            let first = if req.mode == Mode::Netascii {
                view.read(&who, &path, 0, usize::MAX, now)
            } else {
                view.read(&who, &path, 0, 0, now)
            };
            let bytes = match (first, view.stat(&who, &path, now)) {
                (Ok(b), Ok(st)) => (b, st.size),
                (Err(VfsError::NotFound | VfsError::NotADirectory), _) => {
                    return refuse(self, out, code::NOT_FOUND, "File not found", "not_found");
                }
                _ => return refuse(self, out, code::ACCESS, "Access violation", "refused"),
            };
            let (src, size) = if req.mode == Mode::Netascii {
                let data = wire::to_netascii(&bytes.0);
                let size = data.len() as u64;
                (Source::Buffer(data), size)
            } else {
                (Source::File, bytes.1)
            };
            if tsize.is_some() {
                oack.push(("tsize", size.to_string()));
            }
            Work::Read {
                src,
                size,
                acked: 0,
                sent: 0,
                last: None,
            }
        };
        let channel = self.next_channel;
        self.next_channel = self.next_channel.wrapping_add(1).max(1);
        out.request(IoRequest::NewUdpPort { channel });
        out.events.push(self.request_event(raw, op, &req, "accepted", None));
        self.transfers.push(Transfer {
            channel,
            request: raw.to_vec(),
            path,
            mode: req.mode,
            blksize,
            window,
            timeout,
            oack_pending: !oack.is_empty(),
            oack,
            work,
            open: false,
            last: Vec::new(),
            deadline: now + timeout,
            retries: 0,
            retransmits: 0,
            started: now,
        });
    }

    /// Sends `packets` on the transfer's port and remembers them for retransmission (a
    /// download's data is not kept: its window is read again).
    fn burst(t: &mut Transfer, packets: Vec<Vec<u8>>, now: SystemTime, out: &mut Output) {
        let keep = !matches!(t.work, Work::Read { .. }) || t.oack_pending;
        t.last.clear();
        for p in packets {
            if keep {
                t.last.push(p.clone());
            }
            out.request(IoRequest::Send {
                channel: t.channel,
                bytes: p,
            });
        }
        t.retries = 0;
        t.deadline = now + t.timeout;
    }

    /// The window of DATA packets of a download after its acknowledged blocks (sent
    /// again as it is on a retransmission), read from the file as it is now.
    fn window(&self, t: &mut Transfer, now: SystemTime) -> Vec<Vec<u8>> {
        let (blksize, window) = (t.blksize, u64::from(t.window));
        let who = self.who();
        let Work::Read {
            src, acked, sent, last, ..
        } = &mut t.work
        else {
            return Vec::new();
        };
        let mut packets = Vec::new();
        for block in *acked + 1..=*acked + window {
            if last.is_some_and(|l| block > l) {
                break;
            }
            let offset = (block - 1).saturating_mul(blksize as u64);
            let bytes = match src {
                Source::File => self
                    .shared
                    .view
                    .read(&who, &t.path, offset, blksize, now)
                    .unwrap_or_default(),
                Source::Buffer(b) => {
                    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(b.len());
                    let end = start.saturating_add(blksize).min(b.len());
                    b.get(start..end).unwrap_or_default().to_vec()
                }
            };
            let mut p = Vec::with_capacity(4 + bytes.len());
            wire::data(&mut p, block as u16, &bytes);
            packets.push(p);
            *sent = (*sent).max(block);
            if bytes.len() < blksize {
                *last = Some(block);
                break;
            }
            if *last == Some(block) {
                // The file grew since this block was last read short.
                *last = None;
            }
        }
        packets
    }

    fn first_packets(&self, t: &mut Transfer, now: SystemTime) -> Vec<Vec<u8>> {
        if !t.oack.is_empty() {
            let mut p = Vec::new();
            wire::oack(&mut p, &t.oack);
            return vec![p];
        }
        match t.work {
            Work::Read { .. } => self.window(t, now),
            Work::Write { .. } => {
                let mut p = Vec::new();
                wire::ack(&mut p, 0);
                vec![p]
            }
        }
    }

    /// A datagram on a transfer's port. Returns whether the transfer is over.
    fn on_packet(&self, t: &mut Transfer, bytes: &[u8], now: SystemTime, out: &mut Output) -> Option<&'static str> {
        let packet = match wire::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                let mut d = EventDraft::new("tftp.malformed").with("error", e.as_str());
                d.body.raw = Some(bytes.to_vec());
                out.events.push(d);
                return None;
            }
        };
        match (packet, &mut t.work) {
            (Packet::Ack { block }, Work::Read { acked, sent, last, .. }) => {
                if t.oack_pending {
                    if block != 0 {
                        return None;
                    }
                    t.oack_pending = false;
                } else {
                    let diff = u64::from(block.wrapping_sub(*acked as u16));
                    if diff == 0 || diff > *sent - *acked {
                        // A duplicate or stale acknowledgment: never answered with data.
                        return None;
                    }
                    *acked += diff;
                    if last.is_some_and(|l| *acked >= l) {
                        return Some("complete");
                    }
                }
                let packets = self.window(t, now);
                Self::burst(t, packets, now, out);
                None
            }
            (
                Packet::Data { block, data },
                Work::Write {
                    buf,
                    received,
                    cap,
                    good,
                    unacked,
                    done,
                },
            ) => {
                t.oack_pending = false;
                let expected = (*good + 1) as u16;
                if *done || block != expected {
                    // A repeat (our acknowledgment was lost) or a gap: acknowledge what we have.
                    let mut p = Vec::new();
                    wire::ack(&mut p, *good as u16);
                    Self::burst(t, vec![p], now, out);
                    return None;
                }
                *received += data.len() as u64;
                if buf.len() + data.len() > *cap {
                    let room = cap.saturating_sub(buf.len());
                    buf.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
                    error_packet_on(t.channel, out, code::DISK_FULL, "Disk full or allocation exceeded");
                    return Some("disk_full");
                }
                buf.extend_from_slice(data);
                *good += 1;
                *unacked += 1;
                let last = data.len() < t.blksize;
                if last {
                    *done = true;
                    return Some("received");
                }
                if *unacked >= t.window {
                    *unacked = 0;
                    let mut p = Vec::new();
                    wire::ack(&mut p, *good as u16);
                    Self::burst(t, vec![p], now, out);
                } else {
                    t.deadline = now + t.timeout;
                }
                None
            }
            (Packet::Error { code, message }, _) => {
                out.events.push(
                    EventDraft::new("tftp.client_error")
                        .with("code", code)
                        .with("message", String::from_utf8_lossy(message).into_owned()),
                );
                Some("client_error")
            }
            _ => {
                error_packet_on(t.channel, out, code::ILLEGAL, "Illegal TFTP operation");
                Some("illegal_operation")
            }
        }
    }

    /// Ends a transfer: writes an upload (acknowledging its last block, or answering
    /// disk full), logs it, closes its port.
    fn finish(&self, mut t: Transfer, result: &'static str, now: SystemTime, out: &mut Output) -> Option<Transfer> {
        let mut result = result;
        let mut final_ack: Option<Vec<u8>> = None;
        let who = self.who();
        let view = &self.shared.view;
        match &t.work {
            Work::Read { src, .. } => {
                if result == "complete" {
                    let whole;
                    let data = match src {
                        Source::Buffer(b) => b,
                        Source::File => {
                            whole = view.read(&who, &t.path, 0, usize::MAX, now).unwrap_or_default();
                            &whole
                        }
                    };
                    let vfs_path = view.root().join(&t.path).map(|p| p.as_str().to_owned()).ok();
                    out.events.push(
                        EventDraft::new("file.download")
                            .with("protocol", "tftp")
                            .with("user", who.user.clone())
                            .with("path", t.path.as_str())
                            .with("vfs_path", vfs_path)
                            .with("size", data.len() as u64)
                            .with("sha256", conpot_core::capture::hex_digest(data)),
                    );
                }
            }
            Work::Write { received: 0, .. } if result != "received" => {}
            Work::Write {
                buf, received, good, ..
            } => {
                let data = if t.mode == Mode::Netascii {
                    wire::from_netascii(buf)
                } else {
                    buf.clone()
                };
                let mut capture = match view.write(&who, &t.path, WriteMode::Truncate, &data, now) {
                    Ok(c) => {
                        if result == "received" {
                            let mut p = Vec::new();
                            wire::ack(&mut p, *good as u16);
                            final_ack = Some(p);
                            result = "complete";
                        }
                        c
                    }
                    Err(e) => {
                        if let Some(ev) = e.limit_event(&t.path) {
                            out.events.push(ev);
                        }
                        if result == "received" {
                            let (c, m) = match e {
                                VfsError::QuotaExceeded | VfsError::TooMany | VfsError::FileTooLarge => {
                                    (code::DISK_FULL, "Disk full or allocation exceeded")
                                }
                                VfsError::NotFound => (code::NOT_FOUND, "File not found"),
                                _ => (code::ACCESS, "Access violation"),
                            };
                            error_packet_on(t.channel, out, c, m);
                            result = if c == code::DISK_FULL { "disk_full" } else { "refused" };
                        }
                        view.refused_capture(&who, &t.path, WriteMode::Truncate, &data, e)
                    }
                };
                capture.original_len = capture
                    .original_len
                    .max(usize::try_from(*received).unwrap_or(usize::MAX));
                capture.data.insert("protocol".into(), "tftp".into());
                capture.data.insert("user".into(), who.user.clone().into());
                out.files.push(capture);
            }
        }
        if let Some(p) = final_ack {
            Self::burst(&mut t, vec![p], now, out);
        }
        let (direction, bytes) = match &t.work {
            Work::Read { size, acked, .. } => ("download", (*acked * t.blksize as u64).min(*size)),
            Work::Write { received, .. } => ("upload", *received),
        };
        out.events.push(
            EventDraft::new("tftp.transfer")
                .with("direction", direction)
                .with("path", t.path.as_str())
                .with("mode", t.mode.as_str())
                .with("bytes", bytes)
                .with("blksize", t.blksize as u64)
                .with("windowsize", t.window)
                .with("retransmits", t.retransmits)
                .with(
                    "duration_ms",
                    now.duration_since(t.started).unwrap_or_default().as_millis() as u64,
                )
                .with("result", result),
        );
        if result == "complete" && direction == "upload" {
            // Dally: keep the port to acknowledge a repeat of the last block.
            t.deadline = now + t.timeout * 2;
            t.retries = self.shared.config.max_retries;
            return Some(t);
        }
        out.request(IoRequest::Close { channel: t.channel });
        None
    }

    fn arm(&self, out: &mut Output) {
        match self.transfers.iter().map(|t| t.deadline).min() {
            Some(at) => out.set_deadline(at),
            None => out.clear_deadline(),
        }
    }
}

fn error_packet_on(channel: ChannelId, out: &mut Output, code: u16, message: &str) {
    let mut p = Vec::new();
    wire::error(&mut p, code, message);
    out.request(IoRequest::Send { channel, bytes: p });
}

impl Session for TftpSession {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        match wire::parse(input) {
            Ok(Packet::Rrq(req)) => self.on_request(input, false, req, now, out),
            Ok(Packet::Wrq(req)) => self.on_request(input, true, req, now, out),
            Ok(Packet::Error { .. }) => {}
            Ok(_) => {
                // DATA or ACK on the server's port: no transfer runs here.
                error_packet(out, code::UNKNOWN_TID, "Unknown transfer ID");
                let mut d = EventDraft::new("tftp.malformed").with("error", "not_a_request");
                d.body.raw = Some(input.to_vec());
                out.events.push(d);
            }
            Err(e) => {
                error_packet(out, code::ILLEGAL, "Illegal TFTP operation");
                let mut d = EventDraft::new("tftp.malformed").with("error", e.as_str());
                d.body.raw = Some(input.to_vec());
                out.events.push(d);
            }
        }
        self.arm(out);
        input.len()
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        let max = self.shared.config.max_retries;
        let mut i = 0;
        while i < self.transfers.len() {
            let Some(t) = self.transfers.get(i) else { break };
            if t.deadline > now {
                i += 1;
                continue;
            }
            let dallying = matches!(t.work, Work::Write { done: true, .. });
            if t.retries >= max || dallying || !t.open {
                let t = self.transfers.remove(i);
                if dallying {
                    out.request(IoRequest::Close { channel: t.channel });
                } else {
                    out.events
                        .push(EventDraft::new("tftp.timeout").with("path", t.path.as_str()));
                    if let Some(kept) = self.finish(t, "timeout", now, out) {
                        self.transfers.insert(i, kept);
                        i += 1;
                    }
                }
                continue;
            }
            let mut t = self.transfers.remove(i);
            t.retries += 1;
            t.retransmits += 1;
            // A download's window is read again (it is not kept); anything else is resent.
            let packets = if matches!(t.work, Work::Read { .. }) && !t.oack_pending {
                self.window(&mut t, now)
            } else {
                t.last.clone()
            };
            for p in packets {
                out.request(IoRequest::Send {
                    channel: t.channel,
                    bytes: p,
                });
            }
            t.deadline = now + t.timeout * (1u32 << t.retries.min(3)).min(MAX_BACKOFF);
            self.transfers.insert(i, t);
            i += 1;
        }
        self.arm(out);
    }

    fn on_io(&mut self, event: IoEvent, now: SystemTime, out: &mut Output) {
        match event {
            IoEvent::Listening { channel, .. } => {
                if let Some(i) = self.transfers.iter().position(|t| t.channel == channel && !t.open) {
                    let mut t = self.transfers.remove(i);
                    t.open = true;
                    let packets = self.first_packets(&mut t, now);
                    Self::burst(&mut t, packets, now, out);
                    self.transfers.insert(i, t);
                }
            }
            IoEvent::Data { channel, bytes } => {
                if let Some(i) = self.transfers.iter().position(|t| t.channel == channel) {
                    let mut t = self.transfers.remove(i);
                    match self.on_packet(&mut t, &bytes, now, out) {
                        None => self.transfers.insert(i, t),
                        Some(result) => {
                            if let Some(kept) = self.finish(t, result, now, out) {
                                self.transfers.insert(i, kept);
                            }
                        }
                    }
                }
            }
            IoEvent::Failed { channel, reason } => {
                if let Some(i) = self.transfers.iter().position(|t| t.channel == channel) {
                    let t = self.transfers.remove(i);
                    out.events.push(
                        EventDraft::new("tftp.port_failed")
                            .with("reason", reason)
                            .with("path", t.path.as_str()),
                    );
                    if !t.open {
                        error_packet(out, code::UNDEFINED, "Cannot open transfer port");
                    }
                }
            }
            IoEvent::Closed { channel } => self.transfers.retain(|t| t.channel != channel),
            IoEvent::Connected { .. } | IoEvent::Drained { .. } => {}
        }
        self.arm(out);
    }
}
