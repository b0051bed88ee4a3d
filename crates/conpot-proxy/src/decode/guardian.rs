//! Guardian AST / Veeder-Root TLS-350 relayed: `conpot-guardian`'s relay decoder (its own
//! command and answer framers) pairs each command with the gauge's answer, so a proxied
//! gauge is logged as the emulated one logs (`guardian_ast.command`).

use conpot_core::event::EventDraft;
use conpot_guardian::relay::Relay;

use super::{Decoder, Direction};

/// Decodes one relayed tank-gauge connection.
#[derive(Debug, Default)]
pub struct GuardianDecoder {
    relay: Relay,
}

impl Decoder for GuardianDecoder {
    fn feed(&mut self, dir: Direction, bytes: &[u8], out: &mut Vec<EventDraft>) {
        match dir {
            Direction::ToUpstream => self.relay.client(bytes, out),
            Direction::FromUpstream => self.relay.server(bytes, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<EventDraft>) {
        self.relay.close(out);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_inventory_request_is_one_command_event() {
        let mut d = GuardianDecoder::default();
        let mut out = Vec::new();
        d.feed(Direction::ToUpstream, b"\x01I201", &mut out);
        d.feed(Direction::ToUpstream, b"00", &mut out);
        assert!(out.is_empty(), "no answer yet");
        d.feed(
            Direction::FromUpstream,
            b"\x01\r\nI20100\r\nDEC 1, 2026 10:00 AM\r\n\r\nIN-TANK INVENTORY",
            &mut out,
        );
        d.feed(Direction::FromUpstream, b"\r\n\x03", &mut out);
        let cmds: Vec<_> = out.iter().filter(|e| e.event_type == "guardian_ast.command").collect();
        assert_eq!(cmds.len(), 1, "{out:?}");
        assert_eq!(cmds[0].body.data.get("code").unwrap(), "I20100");
        d.finish(&mut out);
        assert_eq!(out.iter().filter(|e| e.event_type == "guardian_ast.command").count(), 1);
    }
}
