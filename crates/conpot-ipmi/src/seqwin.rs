//! The inbound session sequence number window of one session (IPMI v2.0, the session
//! sequence number rules for IPMI 1.5 and for RMCP+): a BMC accepts a number a little
//! ahead of the highest it has taken, or one a little behind that it has not seen yet
//! (datagrams may arrive out of order), and silently discards a duplicate (a replay) or
//! anything outside the window. Zero is reserved for messages outside an activated
//! session.
//!
//! The window is a highest-accepted number and a bitmap of the numbers just below it;
//! arithmetic wraps, so a console crossing `u32::MAX` stays inside (the reserved zero is
//! never accepted, which leaves a one-number gap at the wrap).

/// IPMI 1.5: how far ahead of (and behind) the highest number a message may be.
pub const V15_WINDOW: u32 = 8;
/// RMCP+: how far ahead of (and behind) the highest number a message may be, a sliding
/// window 32 wide.
pub const V20_WINDOW: u32 = 16;

/// Why a sequence number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqReject {
    /// Zero: reserved, never valid inside an activated session.
    Zero,
    /// Already received: a replay or a duplicated datagram.
    Duplicate,
    /// Too far ahead of, or behind, the highest number received.
    OutsideWindow,
}

impl SeqReject {
    /// The name events carry.
    pub fn as_str(self) -> &'static str {
        match self {
            SeqReject::Zero => "zero",
            SeqReject::Duplicate => "duplicate",
            SeqReject::OutsideWindow => "outside_window",
        }
    }
}

/// The numbers one session has received and the ones it will take next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqWindow {
    /// Highest number accepted (or the one before the first expected).
    high: u32,
    /// Bit `k` set: `high - 1 - k` was received (or lies before the session's start).
    seen: u32,
    /// How far ahead of `high` a number may be, and how far behind (at most 32).
    width: u32,
}

impl SeqWindow {
    /// A window whose first acceptable numbers are `first` and the `width - 1` after it;
    /// nothing before `first` is accepted. `width` is capped at 32, the bitmap's size.
    pub fn starting_at(first: u32, width: u32) -> SeqWindow {
        SeqWindow {
            high: first.wrapping_sub(1),
            seen: u32::MAX,
            width: width.clamp(1, 32),
        }
    }

    /// An IPMI 1.5 session's window: the console starts at the initial inbound number
    /// Activate Session gave it.
    pub fn v15(initial_inbound: u32) -> SeqWindow {
        SeqWindow::starting_at(initial_inbound, V15_WINDOW)
    }

    /// An RMCP+ session's window: the console's numbers start at 1.
    pub fn v20() -> SeqWindow {
        SeqWindow::starting_at(1, V20_WINDOW)
    }

    /// Highest number accepted so far (the one before the first expected if none yet).
    pub fn highest(&self) -> u32 {
        self.high
    }

    /// The lowest and highest numbers the window spans now (a number inside may still be
    /// a duplicate).
    pub fn bounds(&self) -> (u32, u32) {
        (self.high.wrapping_sub(self.width), self.high.wrapping_add(self.width))
    }

    /// Takes `seq` if it is new and inside the window, moving the window when it is
    /// ahead; otherwise says why not and leaves the window as it was.
    pub fn accept(&mut self, seq: u32) -> Result<(), SeqReject> {
        if seq == 0 {
            return Err(SeqReject::Zero);
        }
        let ahead = seq.wrapping_sub(self.high);
        let behind = self.high.wrapping_sub(seq);
        if ahead == 0 {
            return Err(SeqReject::Duplicate);
        }
        if ahead <= self.width {
            // The old highest becomes bit `ahead - 1`; the skipped numbers stay unseen.
            self.seen = self.seen.checked_shl(ahead).unwrap_or(0) | 1u32.checked_shl(ahead - 1).unwrap_or(0);
            self.high = seq;
            return Ok(());
        }
        if behind <= self.width {
            let bit = 1u32.checked_shl(behind - 1).unwrap_or(0);
            if self.seen & bit != 0 {
                return Err(SeqReject::Duplicate);
            }
            self.seen |= bit;
            return Ok(());
        }
        Err(SeqReject::OutsideWindow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_duplicates_and_far_numbers() {
        let mut w = SeqWindow::v20();
        assert_eq!(w.accept(0), Err(SeqReject::Zero));
        assert_eq!(w.accept(1), Ok(()));
        assert_eq!(w.accept(1), Err(SeqReject::Duplicate));
        assert_eq!(w.accept(4), Ok(()), "skipping ahead inside the window");
        assert_eq!(w.accept(3), Ok(()), "a late one");
        assert_eq!(w.accept(3), Err(SeqReject::Duplicate), "answered once");
        assert_eq!(w.accept(2), Ok(()));
        assert_eq!(w.accept(4 + 17), Err(SeqReject::OutsideWindow));
        assert_eq!(w.accept(4 + 16), Ok(()));
        assert_eq!(w.accept(4), Err(SeqReject::Duplicate), "still remembered at the edge");
        assert_eq!(w.accept(3), Err(SeqReject::OutsideWindow), "fell out behind");
        assert_eq!(w.highest(), 20);
        assert_eq!(w.bounds(), (4, 36));
    }

    #[test]
    fn nothing_before_the_start_and_a_v15_window_of_eight() {
        let mut w = SeqWindow::v15(100);
        assert_eq!(w.accept(99), Err(SeqReject::Duplicate), "before the first number");
        assert_eq!(w.accept(108), Err(SeqReject::OutsideWindow));
        assert_eq!(w.accept(107), Ok(()));
        assert_eq!(w.accept(100), Ok(()));
        assert_eq!(
            w.accept(99),
            Err(SeqReject::Duplicate),
            "still counted as before the start"
        );
        assert_eq!(w.accept(98), Err(SeqReject::OutsideWindow));
    }

    proptest::proptest! {
        /// Whatever arrives, a number is taken at most once, never 0, and never more
        /// than the window ahead of the highest taken before it.
        #[test]
        fn each_number_is_taken_once_and_within_reach(
            start in proptest::prelude::any::<u32>(),
            steps in proptest::collection::vec(-40i64..40, 0..200),
        ) {
            let mut w = SeqWindow::v20();
            let mut w15 = SeqWindow::v15(start);
            let mut taken = std::collections::HashSet::new();
            let mut taken15 = std::collections::HashSet::new();
            for step in steps {
                let seq = (i64::from(w.highest()) + step) as u32;
                let high = w.highest();
                if w.accept(seq).is_ok() {
                    proptest::prop_assert!(seq != 0 && taken.insert(seq));
                    proptest::prop_assert!(seq.wrapping_sub(high) <= V20_WINDOW || high.wrapping_sub(seq) <= V20_WINDOW);
                }
                let seq = w15.highest().wrapping_add(step as u32);
                let high = w15.highest();
                if w15.accept(seq).is_ok() {
                    proptest::prop_assert!(seq != 0 && taken15.insert(seq));
                    proptest::prop_assert!(seq.wrapping_sub(high) <= V15_WINDOW || high.wrapping_sub(seq) <= V15_WINDOW);
                }
            }
        }
    }

    #[test]
    fn wraps_past_the_top() {
        let mut w = SeqWindow::v15(u32::MAX - 1);
        assert_eq!(w.accept(u32::MAX - 1), Ok(()));
        assert_eq!(w.accept(u32::MAX), Ok(()));
        assert_eq!(w.accept(2), Ok(()));
        assert_eq!(w.accept(1), Ok(()));
        assert_eq!(w.accept(u32::MAX), Err(SeqReject::Duplicate));
    }
}
