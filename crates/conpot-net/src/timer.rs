//! A session's own timer: the deadline it asked for, as a tokio sleep that costs nothing
//! while disarmed.

use std::pin::Pin;
use std::time::SystemTime;

use tokio::time::{Instant, Sleep};

/// The deadline a session asked for (none: never fires).
#[derive(Debug, Default)]
pub struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timer {
    /// Fires at `at` (wall-clock time, as sessions see it), replacing an earlier deadline.
    pub fn arm(&mut self, at: SystemTime) {
        let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
        let when = Instant::now() + wait;
        match &mut self.sleep {
            Some(s) => s.as_mut().reset(when),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(when))),
        }
    }

    /// Never fires until armed again.
    pub fn disarm(&mut self) {
        self.sleep = None;
    }

    /// Whether a deadline is set.
    pub fn armed(&self) -> bool {
        self.sleep.is_some()
    }

    /// Completes when the deadline passes; pending forever while disarmed.
    pub async fn wait(&mut self) {
        match &mut self.sleep {
            Some(s) => s.as_mut().await,
            None => std::future::pending::<()>().await,
        }
    }
}
