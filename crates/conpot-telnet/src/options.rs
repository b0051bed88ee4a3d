//! Option negotiation by the Q method of RFC 1143: for every option, one state for our
//! side (WILL/WONT) and one for the peer's (DO/DONT), each `No`, `Yes`, `WantNo` or
//! `WantYes` with a one-deep queue. A request is answered at most once and an answer is
//! never answered, so two implementations can never loop, whatever the peer sends.

use crate::codec::{DO, DONT, WILL, WONT};

/// TRANSMIT-BINARY (RFC 856).
pub const BINARY: u8 = 0;
/// ECHO (RFC 857).
pub const ECHO: u8 = 1;
/// SUPPRESS-GO-AHEAD (RFC 858).
pub const SGA: u8 = 3;
/// STATUS (RFC 859).
pub const STATUS: u8 = 5;
/// TIMING-MARK (RFC 860).
pub const TIMING_MARK: u8 = 6;
/// TERMINAL-TYPE (RFC 1091).
pub const TTYPE: u8 = 24;
/// NAWS, the window size (RFC 1073).
pub const NAWS: u8 = 31;
/// TERMINAL-SPEED (RFC 1079).
pub const TSPEED: u8 = 32;
/// Remote flow control (RFC 1372).
pub const LFLOW: u8 = 33;
/// LINEMODE (RFC 1184).
pub const LINEMODE: u8 = 34;
/// X-DISPLAY-LOCATION (RFC 1096).
pub const XDISPLOC: u8 = 35;
/// The old ENVIRON (RFC 1408).
pub const OLD_ENVIRON: u8 = 36;
/// AUTHENTICATION (RFC 2941).
pub const AUTHENTICATION: u8 = 37;
/// ENCRYPT (RFC 2946).
pub const ENCRYPT: u8 = 38;
/// NEW-ENVIRON (RFC 1572).
pub const NEW_ENVIRON: u8 = 39;
/// COM-PORT-OPTION (RFC 2217).
pub const COM_PORT: u8 = 44;

/// The name of an option, for events (`"31"` style names are not used: unknown is `unknown`).
pub fn name(option: u8) -> &'static str {
    match option {
        BINARY => "BINARY",
        ECHO => "ECHO",
        SGA => "SGA",
        STATUS => "STATUS",
        TIMING_MARK => "TIMING-MARK",
        TTYPE => "TTYPE",
        NAWS => "NAWS",
        TSPEED => "TSPEED",
        LFLOW => "LFLOW",
        LINEMODE => "LINEMODE",
        XDISPLOC => "XDISPLOC",
        OLD_ENVIRON => "OLD-ENVIRON",
        AUTHENTICATION => "AUTHENTICATION",
        ENCRYPT => "ENCRYPT",
        NEW_ENVIRON => "NEW-ENVIRON",
        COM_PORT => "COM-PORT-OPTION",
        _ => "unknown",
    }
}

/// The option code of a name [`name`] gives (for templates).
pub fn by_name(text: &str) -> Option<u8> {
    (0..=255u8).find(|&o| name(o) != "unknown" && name(o).eq_ignore_ascii_case(text))
}

/// One side of one option (RFC 1143 section 7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Q {
    /// Disabled.
    #[default]
    No,
    /// Enabled.
    Yes,
    /// We asked to disable and wait for the answer; `true`: enable again once answered.
    WantNo(bool),
    /// We asked to enable and wait for the answer; `true`: disable again once answered.
    WantYes(bool),
}

impl Q {
    /// Whether the option is in effect.
    pub fn on(self) -> bool {
        self == Q::Yes
    }
}

/// Which side of an option a verb is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Ours (the peer sent DO/DONT; we answer WILL/WONT).
    Us,
    /// The peer's (it sent WILL/WONT; we answer DO/DONT).
    Him,
}

/// The negotiation state of a connection and what it agrees to.
#[derive(Debug, Clone)]
pub struct Options {
    us: [Q; 256],
    him: [Q; 256],
    /// Options we agree to perform when asked.
    pub accept_us: [bool; 256],
    /// Options we agree to let the peer perform.
    pub accept_him: [bool; 256],
}

/// What one received verb did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The side it is about.
    pub side: Side,
    /// Our answer, if one is sent (`WILL`, `DO`, ...).
    pub answer: Option<u8>,
    /// The side's state changed to enabled (`Some(true)`) or disabled (`Some(false)`).
    pub changed: Option<bool>,
    /// The peer answered against the protocol (a WILL to our DONT); RFC 1143 names it an error.
    pub error: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            us: [Q::No; 256],
            him: [Q::No; 256],
            accept_us: [false; 256],
            accept_him: [false; 256],
        }
    }
}

#[allow(clippy::indexing_slicing)] // 256 entries indexed by a u8: always in range.
fn slot(t: &mut [Q; 256], option: u8) -> &mut Q {
    &mut t[usize::from(option)]
}

impl Options {
    /// Our side of `option`.
    pub fn us(&self, option: u8) -> Q {
        self.us.get(usize::from(option)).copied().unwrap_or_default()
    }

    /// The peer's side of `option`.
    pub fn him(&self, option: u8) -> Q {
        self.him.get(usize::from(option)).copied().unwrap_or_default()
    }

    fn accepts(&self, side: Side, option: u8) -> bool {
        let t = match side {
            Side::Us => &self.accept_us,
            Side::Him => &self.accept_him,
        };
        t.get(usize::from(option)).copied().unwrap_or(false)
    }

    /// Handles a received `verb option`.
    pub fn receive(&mut self, verb: u8, option: u8) -> Outcome {
        let (side, positive) = match verb {
            WILL => (Side::Him, true),
            WONT => (Side::Him, false),
            DO => (Side::Us, true),
            _ => (Side::Us, false),
        };
        let (yes, no) = match side {
            Side::Him => (DO, DONT),
            Side::Us => (WILL, WONT),
        };
        let agree = self.accepts(side, option);
        let q = match side {
            Side::Us => slot(&mut self.us, option),
            Side::Him => slot(&mut self.him, option),
        };
        let mut o = Outcome {
            side,
            answer: None,
            changed: None,
            error: false,
        };
        if positive {
            match *q {
                Q::No if agree => {
                    *q = Q::Yes;
                    o.answer = Some(yes);
                    o.changed = Some(true);
                }
                Q::No => o.answer = Some(no),
                Q::Yes => {}
                Q::WantNo(false) => {
                    *q = Q::No;
                    o.error = true;
                }
                Q::WantNo(true) => {
                    *q = Q::Yes;
                    o.changed = Some(true);
                    o.error = true;
                }
                Q::WantYes(false) => {
                    *q = Q::Yes;
                    o.changed = Some(true);
                }
                Q::WantYes(true) => {
                    *q = Q::WantNo(false);
                    o.answer = Some(no);
                }
            }
        } else {
            match *q {
                Q::No => {}
                Q::Yes => {
                    *q = Q::No;
                    o.answer = Some(no);
                    o.changed = Some(false);
                }
                Q::WantNo(false) => {
                    *q = Q::No;
                    o.changed = Some(false);
                }
                Q::WantNo(true) => {
                    *q = Q::WantYes(false);
                    o.answer = Some(yes);
                    o.changed = Some(false);
                }
                Q::WantYes(_) => *q = Q::No,
            }
        }
        o
    }

    /// Asks for `side` of `option` to be enabled (`true`) or disabled; returns the verb to
    /// send, if any (none when the state already is, or is becoming, what is asked).
    pub fn request(&mut self, side: Side, option: u8, enable: bool) -> Option<u8> {
        let (yes, no) = match side {
            Side::Him => (DO, DONT),
            Side::Us => (WILL, WONT),
        };
        let q = match side {
            Side::Us => slot(&mut self.us, option),
            Side::Him => slot(&mut self.him, option),
        };
        match (*q, enable) {
            (Q::No, true) => {
                *q = Q::WantYes(false);
                Some(yes)
            }
            (Q::Yes, false) => {
                *q = Q::WantNo(false);
                Some(no)
            }
            (Q::WantNo(false), true) => {
                *q = Q::WantNo(true);
                None
            }
            (Q::WantNo(true), false) => {
                *q = Q::WantNo(false);
                None
            }
            (Q::WantYes(false), false) => {
                *q = Q::WantYes(true);
                None
            }
            (Q::WantYes(true), true) => {
                *q = Q::WantYes(false);
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn opts() -> Options {
        let mut o = Options::default();
        o.accept_us[usize::from(ECHO)] = true;
        o.accept_him[usize::from(NAWS)] = true;
        o
    }

    #[test]
    fn answers_once_and_never_answers_an_answer() {
        let mut o = opts();
        // We offer ECHO; the peer agrees: no answer to its DO.
        assert_eq!(o.request(Side::Us, ECHO, true), Some(WILL));
        assert_eq!(o.receive(DO, ECHO).answer, None);
        assert!(o.us(ECHO).on());
        // A repeated DO while enabled is ignored (no loop).
        assert_eq!(o.receive(DO, ECHO).answer, None);
        // The peer turns it off: we acknowledge once.
        let r = o.receive(DONT, ECHO);
        assert_eq!((r.answer, r.changed), (Some(WONT), Some(false)));
        assert_eq!(o.receive(DONT, ECHO).answer, None);
        // The peer offers an option we refuse: DONT, once per offer, state stays No.
        assert_eq!(o.receive(WILL, LINEMODE).answer, Some(DONT));
        assert_eq!(o.him(LINEMODE), Q::No);
        // The peer offers NAWS: accepted.
        assert_eq!(o.receive(WILL, NAWS).answer, Some(DO));
        assert!(o.him(NAWS).on());
    }

    #[test]
    fn queue_opposite() {
        let mut o = opts();
        assert_eq!(o.request(Side::Him, NAWS, true), Some(DO));
        // Change of mind while waiting: queued, nothing sent.
        assert_eq!(o.request(Side::Him, NAWS, false), None);
        assert_eq!(o.him(NAWS), Q::WantYes(true));
        // The WILL arrives: we now ask to disable.
        assert_eq!(o.receive(WILL, NAWS).answer, Some(DONT));
        assert_eq!(o.him(NAWS), Q::WantNo(false));
        assert_eq!(o.receive(WONT, NAWS).answer, None);
        assert_eq!(o.him(NAWS), Q::No);
    }

    #[test]
    fn refusal_of_our_request() {
        let mut o = opts();
        assert_eq!(o.request(Side::Us, ECHO, true), Some(WILL));
        assert_eq!(o.receive(DONT, ECHO).answer, None);
        assert_eq!(o.us(ECHO), Q::No);
        assert_eq!(o.request(Side::Him, NAWS, false), None);
    }
}
