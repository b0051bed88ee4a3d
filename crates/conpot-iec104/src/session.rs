//! One IEC 104 connection as a sans-IO state machine: STARTDT/STOPDT, sequence numbers
//! checked both ways, the k and w windows, and the t1/t2/t3 timers (plus a databus scan
//! for spontaneous transmission) through the session's deadline.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session};

use crate::apci::{self, Apci, Framed, MODULO, u};
use crate::asdu::{Header, cot};
use crate::station::Station;

/// Largest number of ASDUs queued behind the k window.
pub const MAX_QUEUE: usize = 4096;

/// A connection's state.
#[derive(Debug)]
pub struct Iec104Session {
    station: Arc<Station>,
    started: bool,
    initialised: bool,
    /// N(S) of the next I frame sent.
    vs: u16,
    /// N(R): the next I frame expected.
    vr: u16,
    /// The oldest of our I frames not acknowledged.
    ack: u16,
    /// When each unacknowledged I frame was sent (oldest first).
    sent_at: VecDeque<SystemTime>,
    /// I frames received since our last acknowledgement, and when the first came.
    unacked_in: u16,
    first_unacked_in: Option<SystemTime>,
    /// ASDUs waiting for the window.
    queue: VecDeque<Vec<u8>>,
    last_rx: SystemTime,
    testfr_sent: Option<SystemTime>,
    next_scan: Option<SystemTime>,
    selected: Option<(u32, u8)>,
    /// What was last reported of each point: its encoding and numeric value.
    reported: BTreeMap<u32, (Vec<u8>, f64)>,
}

impl Iec104Session {
    /// A session of `station`.
    pub fn new(station: Arc<Station>) -> Self {
        Iec104Session {
            station,
            started: false,
            initialised: false,
            vs: 0,
            vr: 0,
            ack: 0,
            sent_at: VecDeque::new(),
            unacked_in: 0,
            first_unacked_in: None,
            queue: VecDeque::new(),
            last_rx: SystemTime::UNIX_EPOCH,
            testfr_sent: None,
            next_scan: None,
            selected: None,
            reported: BTreeMap::new(),
        }
    }

    fn unacked_out(&self) -> u16 {
        (self.vs + MODULO - self.ack) % MODULO
    }

    /// Sends queued ASDUs while the k window allows.
    fn flush(&mut self, now: SystemTime, out: &mut Output) {
        while self.started && self.unacked_out() < self.station.config.k {
            let Some(a) = self.queue.pop_front() else { break };
            if apci::put_i(&mut out.bytes, self.vs, self.vr, &a).is_ok() {
                self.vs = (self.vs + 1) % MODULO;
                self.sent_at.push_back(now);
                // An I frame acknowledges what was received.
                self.unacked_in = 0;
                self.first_unacked_in = None;
            }
        }
    }

    fn enqueue(&mut self, asdus: Vec<Vec<u8>>, out: &mut Output) {
        for a in asdus {
            if self.queue.len() >= MAX_QUEUE {
                out.events
                    .push(EventDraft::new("limit.hit").with("limit", "iec104_queue"));
                break;
            }
            self.queue.push_back(a);
        }
    }

    fn snapshot(&mut self, now: SystemTime) {
        let station = Arc::clone(&self.station);
        for p in &station.config.points {
            self.reported.insert(p.ioa, station.sample(p, now));
        }
    }

    /// Points whose value changed since last reported (a measured value past its
    /// deadband), as spontaneous ASDUs: time-tagged ones first, then those without.
    fn scan(&mut self, now: SystemTime, out: &mut Output) {
        let station = Arc::clone(&self.station);
        let (mut timed, mut plain) = (Vec::new(), Vec::new());
        for p in station.config.points.iter().filter(|p| p.spontaneous) {
            let (e, v) = station.sample(p, now);
            let send = match self.reported.get(&p.ioa) {
                Some((last_e, last_v)) => *last_e != e && p.past_deadband(*last_v, v),
                None => true,
            };
            if send {
                self.reported.insert(p.ioa, (e, v));
                if station.timed(p) {
                    timed.push(p);
                } else {
                    plain.push(p);
                }
            }
        }
        if timed.is_empty() && plain.is_empty() {
            return;
        }
        let points = timed.len() + plain.len();
        let mut asdus = station.report(timed.into_iter(), cot::SPONTANEOUS, true, now);
        asdus.extend(station.report(plain.into_iter(), cot::SPONTANEOUS, false, now));
        out.events.push(
            EventDraft::new("iec104.spontaneous")
                .with("asdus", asdus.len())
                .with("points", points),
        );
        self.enqueue(asdus, out);
    }

    fn arm(&self, out: &mut Output) {
        let c = &self.station.config;
        let mut next: Option<SystemTime> = None;
        let mut at = |t: Option<SystemTime>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        at(self.sent_at.front().map(|s| *s + c.t1));
        at(self.testfr_sent.map(|s| s + c.t1));
        at(self.first_unacked_in.map(|s| s + c.t2));
        at(Some(self.last_rx + c.t3));
        at(self.next_scan);
        match next {
            Some(t) => out.set_deadline(t),
            None => out.clear_deadline(),
        }
    }

    fn fail(&self, error: &str, out: &mut Output) {
        let mut d = EventDraft::new("iec104.protocol_error")
            .with("vs", self.vs)
            .with("vr", self.vr)
            .with("ack", self.ack);
        d.body.error = Some(error.to_owned());
        out.events.push(d);
        out.close = true;
    }

    /// Takes the peer's N(R); `false` if it acknowledges something never sent.
    fn acknowledge(&mut self, recv: u16) -> bool {
        if !apci::in_window(self.ack, recv, self.vs) {
            return false;
        }
        let n = (recv + MODULO - self.ack) % MODULO;
        for _ in 0..n {
            self.sent_at.pop_front();
        }
        self.ack = recv;
        true
    }
}

impl Session for Iec104Session {
    fn on_open(&mut self, now: SystemTime, out: &mut Output) {
        self.last_rx = now;
        self.arm(out);
    }

    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let (apci, asdu, size) = match apci::frame(input) {
            Framed::Incomplete => return 0,
            Framed::Bad(why) => {
                let mut d = EventDraft::new("iec104.malformed");
                d.body.error = Some(why.to_owned());
                d.body.raw = Some(input.iter().take(260).copied().collect());
                out.events.push(d);
                out.close = true;
                return input.len();
            }
            Framed::Frame { apci, asdu, size } => (apci, asdu, size),
        };
        self.last_rx = now;
        let raw = input.get(..size).unwrap_or_default();
        let mut ev = EventDraft::new("iec104.apdu");
        ev.body.raw = Some(raw.to_vec());
        match apci {
            Apci::U(f) => {
                ev = ev.with("frame", "U").with("function", f);
                match f {
                    u::STARTDT_ACT => {
                        apci::put_u(&mut out.bytes, u::STARTDT_CON);
                        self.started = true;
                        if !self.initialised {
                            self.initialised = true;
                            self.snapshot(now);
                            let ei = self.station.end_of_init();
                            self.enqueue(vec![ei], out);
                        }
                        self.next_scan = Some(now + self.station.config.scan);
                    }
                    u::STOPDT_ACT => {
                        // Pending data is acknowledged first, then confirmed.
                        if self.unacked_in > 0 {
                            apci::put_s(&mut out.bytes, self.vr);
                            self.unacked_in = 0;
                            self.first_unacked_in = None;
                        }
                        apci::put_u(&mut out.bytes, u::STOPDT_CON);
                        self.started = false;
                        self.next_scan = None;
                    }
                    u::TESTFR_ACT => apci::put_u(&mut out.bytes, u::TESTFR_CON),
                    u::TESTFR_CON => self.testfr_sent = None,
                    _ => {}
                }
            }
            Apci::S { recv } => {
                ev = ev.with("frame", "S").with("recv", recv);
                if !self.acknowledge(recv) {
                    self.fail("S frame acknowledges an I frame never sent", out);
                }
            }
            Apci::I { send, recv } => {
                ev = ev.with("frame", "I").with("send", send).with("recv", recv);
                if !self.started {
                    self.fail("I frame before STARTDT", out);
                } else if send != self.vr {
                    self.fail("I frame out of sequence", out);
                } else if !self.acknowledge(recv) {
                    self.fail("I frame acknowledges an I frame never sent", out);
                } else {
                    self.vr = (self.vr + 1) % MODULO;
                    self.unacked_in += 1;
                    self.first_unacked_in.get_or_insert(now);
                    let station = Arc::clone(&self.station);
                    let answer = station.handle(asdu, &mut self.selected, now);
                    if let Some((h, _)) = Header::read(asdu) {
                        ev = ev
                            .with("type_id", h.type_id)
                            .with("cause", h.cot & 0x3F)
                            .with("common_address", h.ca);
                    }
                    ev = ev.with("outcome", answer.outcome);
                    self.enqueue(answer.asdus, out);
                    if self.unacked_in >= self.station.config.w {
                        apci::put_s(&mut out.bytes, self.vr);
                        self.unacked_in = 0;
                        self.first_unacked_in = None;
                    }
                }
            }
        }
        out.events.push(ev);
        if !out.close {
            self.flush(now, out);
            self.arm(out);
        }
        size
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        let c = self.station.config.clone();
        let t1_out =
            self.sent_at.front().is_some_and(|s| *s + c.t1 <= now) || self.testfr_sent.is_some_and(|s| s + c.t1 <= now);
        if t1_out {
            out.events.push(EventDraft::new("iec104.timeout").with("timer", "t1"));
            out.close = true;
            return;
        }
        if self.first_unacked_in.is_some_and(|s| s + c.t2 <= now) && self.unacked_in > 0 {
            apci::put_s(&mut out.bytes, self.vr);
            self.unacked_in = 0;
            self.first_unacked_in = None;
        }
        if self.last_rx + c.t3 <= now && self.testfr_sent.is_none() {
            apci::put_u(&mut out.bytes, u::TESTFR_ACT);
            self.testfr_sent = Some(now);
            self.last_rx = now;
        }
        if self.next_scan.is_some_and(|s| s <= now) {
            self.scan(now, out);
            self.next_scan = Some(now + c.scan);
        }
        self.flush(now, out);
        self.arm(out);
    }
}
