//! Decoding relayed traffic (the proxy in front of a real gauge): the client's bytes are
//! cut into commands with [`crate::command::frame`], the gauge's into answers with
//! [`crate::reply::frame`], and each answer is paired with the oldest command still
//! waiting, giving the same `guardian_ast.command` events the emulated console logs.
//! Every buffer is bounded; nothing here touches a socket.

use std::collections::VecDeque;

use conpot_core::event::EventDraft;

use crate::command::{self, Framed};
use crate::events;

/// Commands waiting for an answer, at most: a client that pipelines more is logged
/// without answers for the oldest.
pub const MAX_PENDING: usize = 64;
/// Longest answer kept while its ETX is awaited; a longer one is logged cut.
pub const MAX_ANSWER: usize = 64 * 1024;

/// The decoding state of one relayed connection.
#[derive(Debug, Default)]
pub struct Relay {
    /// Client bytes not yet a whole command (at most [`command::MAX_COMMAND`]).
    client: Vec<u8>,
    /// Gauge bytes not yet a whole answer (at most [`MAX_ANSWER`]).
    server: Vec<u8>,
    /// Commands sent and not answered yet, as raw bytes.
    pending: VecDeque<Vec<u8>>,
    /// Dropping the rest of an over-long command.
    discarding: bool,
}

impl Relay {
    /// A relay with nothing seen yet.
    pub fn new() -> Self {
        Relay::default()
    }

    /// Bytes the client sent towards the gauge.
    pub fn client(&mut self, bytes: &[u8], out: &mut Vec<EventDraft>) {
        self.client.extend_from_slice(bytes);
        let mut used = 0;
        loop {
            let rest = self.client.get(used..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            if self.discarding {
                match rest
                    .iter()
                    .position(|&b| command::is_terminator(b) || b == command::SOH)
                {
                    Some(i) => {
                        self.discarding = false;
                        used += if rest.get(i) == Some(&command::SOH) { i } else { i + 1 };
                        continue;
                    }
                    None => {
                        used = self.client.len();
                        break;
                    }
                }
            }
            match command::frame(rest) {
                Framed::Incomplete => break,
                Framed::Noise { len, filler } => {
                    if !filler {
                        out.push(events::ignored_event(rest.get(..len).unwrap_or(rest), len));
                    }
                    used += len;
                }
                Framed::TooLong { size } => {
                    out.push(events::too_long_event(rest));
                    self.discarding = true;
                    used += size;
                }
                Framed::Command { size, .. } => {
                    if self.pending.len() >= MAX_PENDING
                        && let Some(old) = self.pending.pop_front()
                    {
                        out.extend(unanswered(&old));
                    }
                    self.pending.push_back(rest.get(..size).unwrap_or(rest).to_vec());
                    used += size;
                }
            }
        }
        self.client.drain(..used.min(self.client.len()));
    }

    /// Bytes the gauge sent back.
    pub fn server(&mut self, bytes: &[u8], out: &mut Vec<EventDraft>) {
        self.server.extend_from_slice(bytes);
        while let Some(end) = crate::reply::frame(&self.server) {
            let answer: Vec<u8> = self.server.drain(..end).collect();
            self.answered(&answer, out);
        }
        if self.server.len() > MAX_ANSWER {
            let answer = std::mem::take(&mut self.server);
            self.answered(&answer, out);
        }
    }

    /// The connection ended: commands never answered are logged without an answer.
    pub fn close(&mut self, out: &mut Vec<EventDraft>) {
        for raw in std::mem::take(&mut self.pending) {
            out.extend(unanswered(&raw));
        }
        if self.client.first() == Some(&command::SOH) {
            out.push(events::partial_event(&self.client));
        }
        self.client.clear();
        self.server.clear();
    }

    fn answered(&mut self, answer: &[u8], out: &mut Vec<EventDraft>) {
        match self.pending.pop_front() {
            Some(raw) => {
                if let Ok(c) = command::parse(&raw) {
                    out.push(events::command_event(&raw, &c, answer, None));
                }
            }
            // An answer to nothing the client sent (the gauge's own output).
            None => out.push(events::ignored_event(answer, answer.len())),
        }
    }
}

fn unanswered(raw: &[u8]) -> Option<EventDraft> {
    command::parse(raw)
        .ok()
        .map(|c| events::command_event(raw, &c, &[], None))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::command::MAX_COMMAND;

    #[test]
    fn pairs_answers_with_commands_across_pieces() {
        let mut r = Relay::new();
        let mut ev = Vec::new();
        r.client(b"\x01I201", &mut ev);
        r.client(b"00\n\x01I20500\n", &mut ev);
        assert!(ev.is_empty());
        r.server(b"\x01\r\nI20100\r\nDEC 1, 2026\r\n\x03\x01\r\nI205", &mut ev);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].body.data.get("code").unwrap(), "I20100");
        assert_eq!(ev[0].body.data.get("reply").unwrap(), "display");
        r.server(b"00\r\n\x03", &mut ev);
        assert_eq!(ev[1].body.data.get("code").unwrap(), "I20500");
        r.client(b"\x01I99900\x01S60201X", &mut ev);
        r.server(b"\x019999FF1B\x03", &mut ev);
        assert_eq!(ev[2].body.data.get("reply").unwrap(), "error");
        r.close(&mut ev);
        assert_eq!(ev.len(), 4, "the unfinished set command");
        assert_eq!(ev[3].event_type, events::PARTIAL);
    }

    #[test]
    fn buffers_stay_bounded() {
        let mut r = Relay::new();
        let mut ev = Vec::new();
        for _ in 0..100 {
            r.client(&[b'A'; 10_000], &mut ev);
            r.server(&[b'B'; 10_000], &mut ev);
        }
        r.client(b"\x01S60201", &mut ev);
        r.client(&[b'C'; 100_000], &mut ev);
        assert!(r.client.len() < MAX_COMMAND && r.server.len() <= MAX_ANSWER);
        for _ in 0..200 {
            r.client(b"\x01I20100", &mut ev);
        }
        assert!(r.pending.len() <= MAX_PENDING);
    }
}
