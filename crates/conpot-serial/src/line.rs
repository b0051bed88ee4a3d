//! One real serial line shared by several TCP clients, as a serial device server in "TCP
//! server" mode shares it: the line arbiter.
//!
//! With the Modbus RTU decoder the line carries one transaction at a time (a Modbus serial
//! line has one master): a client's request goes on the line when it is free, the others
//! wait in a bounded queue, and the answer (delimited by its RTU length, or by the silence
//! if it is cut short) goes back to the client that asked. A request the line does not
//! answer within the response timeout is given up (the master times out) and the next
//! one goes. Without a decoder (`raw`) nothing is arbitrated: client bytes go on the line
//! as they come and what the line sends goes to every attached client, as an NPort with
//! several connections does.
//!
//! Sans-IO: the listener hands in client bytes, line bytes, the time and the link state;
//! the arbiter says what to write on the line, what to send to which client, what to log,
//! and when to be woken.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use conpot_core::event::EventDraft;

use crate::rtu::{self, Direction, Framed};
use crate::session::Deframer;

/// A client of the line (the listener's number for one TCP session).
pub type ClientId = u32;

/// Requests waiting for the line, all clients together.
pub const MAX_QUEUE: usize = 32;
/// Clients attached at once.
pub const MAX_CLIENTS: usize = 64;
/// How long a broadcast (address 0, never answered) holds the line: the Modbus serial
/// line's turnaround delay, so slaves finish the write before the next request.
pub const TURNAROUND: Duration = Duration::from_millis(100);

/// What the arbiter wants done after one call.
#[derive(Debug, Default)]
pub struct LineOutput {
    /// Bytes to write on the line, in order.
    pub to_line: Vec<u8>,
    /// Bytes for clients, in order.
    pub to_clients: Vec<(ClientId, Vec<u8>)>,
    /// Events, with the client they are about (none: the line's own).
    pub events: Vec<(Option<ClientId>, EventDraft)>,
}

#[derive(Debug)]
struct Outstanding {
    client: ClientId,
    frame: Vec<u8>,
    until: SystemTime,
}

/// The arbiter of one shared line.
#[derive(Debug)]
pub struct Arbiter {
    decode: bool,
    silence: Duration,
    timeout: Duration,
    up: bool,
    clients: BTreeSet<ClientId>,
    queue: VecDeque<(ClientId, Vec<u8>)>,
    outstanding: Option<Outstanding>,
    responses: Deframer,
    /// When the unfinished answer on the line is given up (a silence after its last byte).
    cut_at: Option<SystemTime>,
}

fn frame_event(kind: &'static str, reason: &str, frame: &[u8]) -> EventDraft {
    let mut d = EventDraft::new(kind)
        .with("reason", reason.to_owned())
        .with("unit_id", frame.first().copied().unwrap_or(0))
        .with("function_code", frame.get(1).copied().unwrap_or(0));
    d.body.raw = Some(frame.to_vec());
    d
}

impl Arbiter {
    /// An arbiter: `decode` arbitrates Modbus RTU transactions (otherwise raw bytes pass
    /// both ways); an unfinished answer is dropped after `silence`; an unanswered request
    /// is given up after `timeout`. The line starts down until [`Arbiter::link`] says so.
    pub fn new(decode: bool, silence: Duration, timeout: Duration) -> Self {
        Arbiter {
            decode,
            silence,
            timeout,
            up: false,
            clients: BTreeSet::new(),
            queue: VecDeque::new(),
            outstanding: None,
            responses: Deframer::default(),
            cut_at: None,
        }
    }

    /// Whether the line is up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Requests waiting for the line.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Attaches a client; `false` if [`MAX_CLIENTS`] are attached already.
    pub fn attach(&mut self, client: ClientId) -> bool {
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains(&client) {
            return false;
        }
        self.clients.insert(client);
        true
    }

    /// A client went away: its waiting requests are dropped; an answer to its request on
    /// the line is still awaited (the line is busy until then) and then discarded.
    pub fn detach(&mut self, client: ClientId) {
        self.clients.remove(&client);
        self.queue.retain(|(c, _)| *c != client);
    }

    /// The link changed: down drops the transaction on the line and every waiting request
    /// (their masters time out, as with an unplugged device); up starts afresh.
    pub fn link(&mut self, up: bool, now: SystemTime, out: &mut LineOutput) {
        self.up = up;
        self.cut_at = None;
        let mut junk = Vec::new();
        self.responses.silence(&mut junk);
        if !up {
            if let Some(o) = self.outstanding.take() {
                out.events
                    .push((Some(o.client), frame_event("serial.dropped", "line_down", &o.frame)));
            }
            for (c, f) in self.queue.drain(..) {
                out.events
                    .push((Some(c), frame_event("serial.dropped", "line_down", &f)));
            }
        } else {
            self.next(now, out);
        }
    }

    /// Bytes from `client`. Decoded: whole RTU request frames (what the session found in
    /// its stream), each queued for the line; anything that is not a whole frame with a
    /// good CRC is dropped and logged, never put on the line. Raw: written as they are.
    pub fn client_bytes(&mut self, client: ClientId, bytes: &[u8], now: SystemTime, out: &mut LineOutput) {
        if !self.clients.contains(&client) {
            return;
        }
        if !self.decode {
            if self.up {
                out.to_line.extend_from_slice(bytes);
            } else {
                out.events
                    .push((Some(client), frame_event("serial.dropped", "line_down", bytes)));
            }
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let (take, bad) = match rtu::frame(rest, Direction::Request) {
                Framed::Frame { size, .. } => (size, None),
                Framed::BadCrc { size } => (size, Some("CRC error: frame not put on the line")),
                Framed::Garbage(n) => (n, Some("no RTU frame: bytes not put on the line")),
                Framed::Incomplete => (rest.len(), Some("not a whole frame: not put on the line")),
            };
            let (f, after) = rest.split_at(take.clamp(1, rest.len()));
            rest = after;
            match bad {
                None => {
                    self.enqueue(client, f.to_vec(), out);
                    // A free line takes the first at once: it does not count against the queue.
                    self.next(now, out);
                }
                Some(why) => out.events.push((Some(client), frame_event("serial.malformed", why, f))),
            }
        }
    }

    fn enqueue(&mut self, client: ClientId, frame: Vec<u8>, out: &mut LineOutput) {
        if !self.up {
            out.events
                .push((Some(client), frame_event("serial.dropped", "line_down", &frame)));
        } else if self.queue.len() >= MAX_QUEUE {
            out.events
                .push((Some(client), frame_event("serial.dropped", "queue_full", &frame)));
        } else {
            self.queue.push_back((client, frame));
        }
    }

    /// Puts the next waiting request on a free line.
    fn next(&mut self, now: SystemTime, out: &mut LineOutput) {
        if !self.up || self.outstanding.is_some() {
            return;
        }
        let Some((client, frame)) = self.queue.pop_front() else {
            return;
        };
        out.to_line.extend_from_slice(&frame);
        let broadcast = frame.first() == Some(&0);
        let hold = if broadcast {
            TURNAROUND.min(self.timeout)
        } else {
            self.timeout
        };
        self.outstanding = Some(Outstanding {
            client,
            frame,
            until: now + hold,
        });
    }

    /// Bytes the line sent.
    pub fn line_bytes(&mut self, bytes: &[u8], now: SystemTime, out: &mut LineOutput) {
        if !self.decode {
            for c in &self.clients {
                out.to_clients.push((*c, bytes.to_vec()));
            }
            return;
        }
        let mut evs = Vec::new();
        self.responses.push(bytes, &mut evs);
        while let Some(f) = self.responses.next(Direction::Response, &mut evs) {
            self.answer(f, now, out);
        }
        out.events.extend(evs.into_iter().map(|e| (None, e)));
        self.cut_at = self.responses.pending().then(|| now + self.silence);
        self.next(now, out);
    }

    /// A whole frame from the line: the answer to the transaction, or nobody's.
    fn answer(&mut self, frame: Vec<u8>, now: SystemTime, out: &mut LineOutput) {
        let mine = self
            .outstanding
            .as_ref()
            .is_some_and(|o| o.frame.first() == frame.first() && o.frame.first() != Some(&0));
        match self.outstanding.take() {
            Some(o) if mine => {
                if self.clients.contains(&o.client) {
                    out.to_clients.push((o.client, frame));
                } else {
                    out.events
                        .push((None, frame_event("serial.dropped", "client_gone", &frame)));
                }
                self.next(now, out);
            }
            other => {
                self.outstanding = other;
                out.events.push((
                    None,
                    frame_event("serial.malformed", "an answer nobody on the line asked for", &frame),
                ));
            }
        }
    }

    /// The time the arbiter wants [`Arbiter::on_timeout`]: the transaction's timeout or
    /// the silence that ends an unfinished answer, whichever is first.
    pub fn deadline(&self) -> Option<SystemTime> {
        let t = self.outstanding.as_ref().map(|o| o.until);
        match (t, self.cut_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed: an unfinished answer a silence ended is dropped, a transaction past
    /// its timeout is given up (a broadcast's turnaround is simply over) and the next goes.
    pub fn on_timeout(&mut self, now: SystemTime, out: &mut LineOutput) {
        if self.cut_at.is_some_and(|t| now >= t) {
            self.cut_at = None;
            let mut evs = Vec::new();
            self.responses.silence(&mut evs);
            out.events.extend(evs.into_iter().map(|e| (None, e)));
        }
        if let Some(o) = self.outstanding.take_if(|o| now >= o.until) {
            if o.frame.first() != Some(&0) {
                out.events
                    .push((Some(o.client), frame_event("serial.timeout", "no answer", &o.frame)));
            }
            self.next(now, out);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::rtu::emit;

    fn req(unit: u8, addr: u16) -> Vec<u8> {
        let mut v = Vec::new();
        let [hi, lo] = addr.to_be_bytes();
        emit(unit, &mut v, |w| w.put_bytes(&[3, hi, lo, 0, 1])).unwrap();
        v
    }

    fn resp(unit: u8, value: u16) -> Vec<u8> {
        let mut v = Vec::new();
        let [hi, lo] = value.to_be_bytes();
        emit(unit, &mut v, |w| w.put_bytes(&[3, 2, hi, lo])).unwrap();
        v
    }

    fn kinds(out: &LineOutput) -> Vec<&str> {
        out.events.iter().map(|(_, e)| e.event_type.as_ref()).collect()
    }

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn up_arbiter() -> Arbiter {
        let mut a = Arbiter::new(true, Duration::from_millis(5), Duration::from_millis(500));
        a.link(true, T0, &mut LineOutput::default());
        a.attach(1);
        a.attach(2);
        a
    }

    #[test]
    fn one_transaction_at_a_time_answers_routed_to_the_asker() {
        let mut a = up_arbiter();
        let mut out = LineOutput::default();
        a.client_bytes(1, &req(1, 0), T0, &mut out);
        a.client_bytes(2, &req(1, 7), T0, &mut out);
        // Only the first request is on the line; the second waits.
        assert_eq!(out.to_line, req(1, 0));
        assert_eq!(a.queued(), 1);
        let mut out = LineOutput::default();
        // The answer arrives in two pieces.
        let r = resp(1, 100);
        a.line_bytes(&r[..3], T0, &mut out);
        assert!(out.to_clients.is_empty() && out.to_line.is_empty());
        a.line_bytes(&r[3..], T0, &mut out);
        assert_eq!(out.to_clients, vec![(1, r)]);
        // The line is free: client 2's request goes.
        assert_eq!(out.to_line, req(1, 7));
        let mut out = LineOutput::default();
        a.line_bytes(&resp(1, 107), T0, &mut out);
        assert_eq!(out.to_clients, vec![(2, resp(1, 107))]);
        assert!(a.deadline().is_none());
    }

    #[test]
    fn an_unanswered_request_times_out_and_the_next_goes() {
        let mut a = up_arbiter();
        let mut out = LineOutput::default();
        a.client_bytes(1, &req(9, 0), T0, &mut out);
        a.client_bytes(2, &req(1, 0), T0, &mut out);
        let t = a.deadline().unwrap();
        assert_eq!(t, T0 + Duration::from_millis(500));
        let mut out = LineOutput::default();
        a.on_timeout(t - Duration::from_millis(1), &mut out);
        assert!(out.to_line.is_empty());
        a.on_timeout(t, &mut out);
        assert_eq!(kinds(&out), ["serial.timeout"]);
        assert_eq!(out.events[0].0, Some(1));
        assert_eq!(out.to_line, req(1, 0));
        // A late answer from slave 9 is nobody's.
        let mut out = LineOutput::default();
        a.line_bytes(&resp(9, 1), t, &mut out);
        assert_eq!(kinds(&out), ["serial.malformed"]);
        assert!(out.to_clients.is_empty());
    }

    #[test]
    fn bad_frames_from_clients_never_reach_the_line_and_the_queue_is_bounded() {
        let mut a = up_arbiter();
        let mut out = LineOutput::default();
        let mut bad = req(1, 0);
        bad[7] ^= 0xFF;
        a.client_bytes(1, &bad, T0, &mut out);
        a.client_bytes(1, &[1, 3, 0], T0, &mut out);
        assert!(out.to_line.is_empty());
        assert_eq!(kinds(&out), ["serial.malformed", "serial.malformed"]);
        let mut out = LineOutput::default();
        // More than a Deframer holds at once: every whole frame is still read.
        let many: Vec<u8> = (0..MAX_QUEUE + 40).flat_map(|i| req(1, i as u16)).collect();
        assert!(many.len() > crate::session::MAX_PENDING);
        a.client_bytes(2, &many, T0, &mut out);
        // One on the line, MAX_QUEUE waiting, the rest dropped.
        assert_eq!(a.queued(), MAX_QUEUE);
        assert_eq!(kinds(&out), vec!["serial.dropped"; 39]);
    }

    #[test]
    fn a_line_going_down_drops_everything_and_comes_back_empty() {
        let mut a = up_arbiter();
        let mut out = LineOutput::default();
        a.client_bytes(1, &req(1, 0), T0, &mut out);
        a.client_bytes(2, &req(1, 1), T0, &mut out);
        let mut out = LineOutput::default();
        a.link(false, T0, &mut out);
        assert_eq!(kinds(&out), ["serial.dropped", "serial.dropped"]);
        let mut out = LineOutput::default();
        a.client_bytes(1, &req(1, 0), T0, &mut out);
        assert!(out.to_line.is_empty());
        assert_eq!(kinds(&out), ["serial.dropped"]);
        a.link(true, T0, &mut LineOutput::default());
        let mut out = LineOutput::default();
        a.client_bytes(1, &req(1, 0), T0, &mut out);
        assert_eq!(out.to_line, req(1, 0));
    }

    #[test]
    fn a_departed_client_loses_its_queue_and_its_answer() {
        let mut a = up_arbiter();
        let mut out = LineOutput::default();
        a.client_bytes(1, &req(1, 0), T0, &mut out);
        a.client_bytes(1, &req(1, 1), T0, &mut out);
        a.client_bytes(2, &req(1, 2), T0, &mut out);
        a.detach(1);
        let mut out = LineOutput::default();
        a.line_bytes(&resp(1, 5), T0, &mut out);
        assert!(out.to_clients.is_empty());
        assert_eq!(kinds(&out), ["serial.dropped"]);
        // Client 1's second request went with it: client 2's is next.
        assert_eq!(out.to_line, req(1, 2));
    }

    #[test]
    fn broadcasts_hold_the_line_for_the_turnaround_only() {
        let mut a = up_arbiter();
        let mut out = LineOutput::default();
        let mut b = Vec::new();
        emit(0, &mut b, |w| w.put_bytes(&[6, 0, 1, 0, 9])).unwrap();
        a.client_bytes(1, &b, T0, &mut out);
        a.client_bytes(2, &req(1, 0), T0, &mut out);
        assert_eq!(out.to_line, b);
        assert_eq!(a.deadline(), Some(T0 + TURNAROUND));
        let mut out = LineOutput::default();
        a.on_timeout(T0 + TURNAROUND, &mut out);
        assert!(out.events.is_empty());
        assert_eq!(out.to_line, req(1, 0));
    }

    #[test]
    fn a_cut_answer_is_dropped_after_the_silence() {
        let mut a = up_arbiter();
        let mut out = LineOutput::default();
        a.client_bytes(1, &req(1, 0), T0, &mut out);
        a.line_bytes(&resp(1, 3)[..4], T0, &mut out);
        assert_eq!(a.deadline(), Some(T0 + Duration::from_millis(5)));
        let mut out = LineOutput::default();
        a.on_timeout(T0 + Duration::from_millis(5), &mut out);
        assert_eq!(kinds(&out), ["serial.malformed"]);
        // The transaction still waits for a whole answer until its timeout.
        let mut out = LineOutput::default();
        a.line_bytes(&resp(1, 3), T0, &mut out);
        assert_eq!(out.to_clients, vec![(1, resp(1, 3))]);
    }

    #[test]
    fn raw_mode_passes_bytes_and_copies_the_line_to_every_client() {
        let mut a = Arbiter::new(false, Duration::from_millis(5), Duration::from_millis(500));
        let mut out = LineOutput::default();
        a.attach(1);
        a.attach(2);
        a.client_bytes(1, b"hello", T0, &mut out);
        assert!(out.to_line.is_empty());
        assert_eq!(kinds(&out), ["serial.dropped"]);
        a.link(true, T0, &mut out);
        let mut out = LineOutput::default();
        a.client_bytes(1, b"hello", T0, &mut out);
        assert_eq!(out.to_line, b"hello");
        a.line_bytes(b"world", T0, &mut out);
        assert_eq!(out.to_clients, vec![(1, b"world".to_vec()), (2, b"world".to_vec())]);
        assert!(!a.attach(3) || a.clients.len() <= MAX_CLIENTS);
    }
}
