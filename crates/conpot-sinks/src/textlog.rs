//! The text log as an event sink: each event becomes one line of the operator's log
//! (stderr and the `-l` file), at INFO level, written from the sink's own thread so a slow
//! terminal never holds up a protocol.

use std::io;

use conpot_core::event::Event;

use crate::encode::text_line;

/// The sink's name in metrics and messages.
pub const NAME: &str = "text-log";

/// Writes events to the text log through `tracing`.
#[derive(Debug, Default)]
pub struct TextLog {
    line: String,
}

impl crate::Writer for TextLog {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        self.line.clear();
        text_line(event, &mut self.line);
        tracing::info!("{}", self.line);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
