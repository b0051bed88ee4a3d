//! One connection to the console as a sans-IO session: commands in, answers and events
//! out, one command per call so the listener's output bound paces a pipelined burst.
//! Nothing is ever waited for: a partial command is kept (at most
//! [`crate::command::MAX_COMMAND`] bytes) until more arrives or the peer closes.

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::protocol::{Output, Session};

use crate::command::{self, Framed, SOH, is_terminator};
use crate::console::Console;
use crate::events;

/// A connection's state: only where it is in the byte stream.
#[derive(Debug)]
pub struct GuardianSession {
    console: Arc<Console>,
    /// Inside a stretch of noise already logged (it continues in the next input).
    in_noise: bool,
    /// Dropping the rest of an over-long command, up to its line end or the next `SOH`.
    discarding: bool,
}

impl GuardianSession {
    /// A session of `console`.
    pub fn new(console: Arc<Console>) -> Self {
        GuardianSession {
            console,
            in_noise: false,
            discarding: false,
        }
    }
}

impl Session for GuardianSession {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        if self.discarding {
            match input.iter().position(|&b| is_terminator(b) || b == SOH) {
                Some(i) => {
                    self.discarding = false;
                    // A new command right at the cut is read now: consuming nothing would
                    // leave it waiting for more input that may never come.
                    if input.get(i) != Some(&SOH) {
                        return i + 1;
                    }
                    if i > 0 {
                        return i;
                    }
                }
                None => return input.len(),
            }
        }
        match command::frame(input) {
            Framed::Incomplete => 0,
            Framed::Noise { len, filler } => {
                if !filler && !self.in_noise {
                    out.events
                        .push(events::ignored_event(input.get(..len).unwrap_or(input), len));
                }
                // Noise running to the end of the input goes on in the next one.
                self.in_noise = !filler && len == input.len();
                len
            }
            Framed::TooLong { size } => {
                out.events.push(events::too_long_event(input));
                self.discarding = true;
                self.in_noise = false;
                size
            }
            Framed::Command { command, size } => {
                self.in_noise = false;
                let answer = self.console.answer(&command, now);
                let raw = input.get(..size).unwrap_or(input);
                out.events
                    .push(events::command_event(raw, &command, &answer.bytes, Some(answer.what)));
                out.bytes.extend_from_slice(&answer.bytes);
                size
            }
        }
    }

    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !rest.is_empty() && !self.discarding && rest.first() == Some(&SOH) {
            out.events.push(events::partial_event(rest));
        }
    }
}
