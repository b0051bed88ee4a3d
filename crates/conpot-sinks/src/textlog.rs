//! The text log as an event sink: each event becomes one line of the operator's log
//! (stderr and the `-l` file), at INFO level, written from the sink's own thread so a slow
//! terminal never holds up a protocol.

use std::io;

use crate::record::Record;

/// The sink's name in metrics and messages.
pub const NAME: &str = "text-log";

/// Writes records encoded as text lines to the text log through `tracing`.
#[derive(Debug, Default)]
pub struct TextLog;

impl crate::Deliver for TextLog {
    fn needs_envelope(&self) -> bool {
        false
    }

    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        for r in batch {
            tracing::info!("{}", r.body);
        }
        Ok(())
    }
}
