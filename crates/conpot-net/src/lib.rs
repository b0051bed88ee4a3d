//! The tokio side of conpot-rs: TCP and UDP listeners that carry the sans-IO sessions of
//! `conpot-core`'s contract, drive their timers, carry out the I/O they ask for (data
//! listeners, connections back to the peer, transfer ports, upstreams) under the
//! sensor's limits, and turn every open, close and limit hit into an event.
//!
//! Protocol crates never depend on this crate: only the binary wires services to it, so
//! a protocol core cannot reach a socket or a clock even by accident.

pub mod bind;
pub mod cert;
pub mod channels;
pub mod close;
pub mod mmsg;
// network personality (issue 16)
pub mod personality;
pub mod pktinfo;
pub mod sensor;
pub mod serial;
pub mod sys;
pub mod tcp;
pub mod timer;
pub mod tls;
pub mod udp;
// proxy upstream TLS (issue 15)
pub mod upstream_tls;

pub use bind::{BindFailure, BindSpec, Bound, StdBound, StdPlan, bind, bind_all, bind_all_std, bind_tcp, bind_udp};
pub use sensor::Sensor;
pub use tcp::{serve_tcp, serve_tcp_tls};
pub use tls::{TlsServer, Versions};
pub use udp::{UdpLimits, serve_udp};

/// Starts serving `service` on an already bound socket.
pub fn serve(
    sensor: std::sync::Arc<Sensor>,
    bound: Bound,
    service: std::sync::Arc<dyn conpot_core::protocol::Service>,
    udp: UdpLimits,
) {
    match bound {
        Bound::Tcp(l) => serve_tcp(sensor, l, service),
        Bound::Udp(u) => serve_udp(sensor, u, service, udp),
    }
}
