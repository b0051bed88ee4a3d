//! The event bus: every sink has its own bounded queue, so a slow or dead sink never
//! blocks a protocol or another sink. A full queue drops the event and counts it; the
//! sink reports the count as an `events.dropped` event as soon as it catches up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::event::Event;
use crate::metrics::Metrics;

struct Queue {
    tx: mpsc::Sender<Arc<Event>>,
    dropped: Arc<AtomicU64>,
}

/// The receiving end of one sink's queue.
#[derive(Debug)]
pub struct SinkReceiver {
    /// Sink name, for logs.
    pub name: String,
    /// Events, in publication order.
    pub rx: mpsc::Receiver<Arc<Event>>,
    /// Events dropped because this queue was full.
    pub dropped: Arc<AtomicU64>,
}

/// Fan-out of events to every sink's queue.
pub struct EventBus {
    queues: Vec<Queue>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus").field("sinks", &self.queues.len()).finish()
    }
}

impl EventBus {
    /// A bus with no sinks yet.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        EventBus {
            queues: Vec::new(),
            metrics,
        }
    }

    /// Adds a sink queue holding at most `capacity` events.
    pub fn add_sink(&mut self, name: impl Into<String>, capacity: usize) -> SinkReceiver {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        self.queues.push(Queue {
            tx,
            dropped: Arc::clone(&dropped),
        });
        SinkReceiver {
            name: name.into(),
            rx,
            dropped,
        }
    }

    /// The counters this bus updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Events waiting in the fullest sink queue: how far the slowest sink lags (for
    /// metrics, and for load generators that must not outrun a sink).
    pub fn backlog(&self) -> usize {
        self.queues
            .iter()
            .map(|q| q.tx.max_capacity() - q.tx.capacity())
            .max()
            .unwrap_or(0)
    }

    /// Hands `event` to every sink without waiting; full queues drop it and count.
    pub fn publish(&self, event: Event) {
        Metrics::inc(&self.metrics.events_published);
        let event = Arc::new(event);
        for q in &self.queues {
            if q.tx.try_send(Arc::clone(&event)).is_err() {
                q.dropped.fetch_add(1, Ordering::Relaxed);
                Metrics::inc(&self.metrics.events_dropped);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventDraft, Origin, SessionInfo, Transport};

    fn ev() -> Event {
        let o = Origin {
            sensor_id: "s".into(),
            persona: "p".into(),
            public_ip: None,
            raw_limit: 16,
        };
        let s = SessionInfo::new("t".into(), Transport::None, None, None);
        Event::stamp(&o, &s, EventDraft::new("x"), std::time::SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn full_queue_drops_and_counts_without_blocking_others() {
        let metrics = Arc::new(Metrics::default());
        let mut bus = EventBus::new(Arc::clone(&metrics));
        let mut small = bus.add_sink("small", 2);
        let mut big = bus.add_sink("big", 100);
        for _ in 0..10 {
            bus.publish(ev());
        }
        assert_eq!(small.dropped.load(Ordering::Relaxed), 8);
        assert_eq!(big.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 8);
        assert_eq!(metrics.events_published.load(Ordering::Relaxed), 10);
        assert_eq!(bus.backlog(), 10, "the fullest queue");
        let mut n = 0;
        while small.rx.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 2);
        let mut n = 0;
        while big.rx.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 10);
    }
}
