//! One direction's reassembly buffer: bytes appended as they are relayed, whole frames
//! taken from the front, never more kept than a frame can be long.

use conpot_core::event::EventDraft;

use super::{Direction, raw_event};

/// A bounded reassembly buffer.
#[derive(Debug, Default)]
pub struct Stream {
    buf: Vec<u8>,
    /// Set once the stream could not be framed: from then on bytes are logged raw.
    pub lost: bool,
}

impl Stream {
    /// Appends `bytes`, keeping at most `max` buffered; returns what did not fit (the
    /// caller logs it raw and gives up framing: a frame longer than `max` does not exist).
    pub fn push<'a>(&mut self, bytes: &'a [u8], max: usize) -> &'a [u8] {
        let room = max.saturating_sub(self.buf.len());
        let (keep, rest) = bytes.split_at(bytes.len().min(room));
        self.buf.extend_from_slice(keep);
        rest
    }

    /// The buffered bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the first `n` bytes (a frame taken).
    pub fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    /// Takes everything buffered (framing lost, or the connection ended).
    pub fn take_all(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// At the end of a connection: what is left (a frame cut by the close) is logged raw,
    /// with `unit` naming what it was inside of (`frame`, `TPKT`).
    pub fn log_leftover(&mut self, dir: Direction, unit: &str, out: &mut Vec<EventDraft>) {
        let rest = self.take_all();
        if !rest.is_empty() {
            let note = format!("connection closed inside a {unit} (truncated)");
            out.push(raw_event(dir, &rest, Some(&note)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_max() {
        let mut s = Stream::default();
        assert_eq!(s.push(b"abc", 5), b"");
        assert_eq!(s.push(b"defg", 5), b"fg");
        assert_eq!(s.bytes(), b"abcde");
        s.consume(2);
        assert_eq!(s.bytes(), b"cde");
        s.consume(99);
        assert!(s.bytes().is_empty());
    }
}
