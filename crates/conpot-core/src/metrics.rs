//! Counters of what the sensor did and what it had to refuse or drop.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Process-wide counters, read by the stats report.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        impl Metrics {
            /// Every counter by name, with its current value.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters! {
    /// TCP connections accepted.
    connections_accepted,
    /// Connections refused by the global limit.
    limit_max_connections,
    /// Connections refused by the per-source limit.
    limit_per_ip,
    /// Connections closed because their buffer grew past the limit.
    limit_buffer,
    /// UDP replies not sent because the source spent its answer budget.
    limit_udp_budget,
    /// UDP replies not sent because they were too large for their request.
    limit_amplification,
    /// UDP sessions closed early because too many sources were tracked.
    limit_udp_sessions,
    /// Connections closed to make room for a newcomer at the global limit.
    limit_evictions,
    /// Connections closed because a partial frame was not completed in time.
    limit_frame_timeout,
    /// Connections closed because a partial frame arrived too slowly.
    limit_min_input_rate,
    /// Connections closed because the client did not take its replies.
    limit_output,
    /// Decoded event fields cut to the field limit.
    fields_truncated,
    /// UDP requests over budget logged only in a per-source summary.
    events_summarised,
    /// Sessions closed for being idle.
    idle_timeouts,
    /// Events handed to the bus.
    events_published,
    /// Events dropped because a sink queue was full (all sinks together).
    events_dropped,
    /// Events a sink failed to write.
    events_failed,
    /// Malformed frames seen.
    malformed_frames,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
