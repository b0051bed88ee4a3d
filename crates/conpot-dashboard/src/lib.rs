//! The operator's live dashboard (issue 16): a small web page served by the sensor on its own
//! loopback listener, behind a token, showing what the honeypot sees as it happens.
//!
//! The dashboard is one more consumer of the event bus: its queue is bounded like every
//! sink's, so a busy dashboard drops (and counts) events instead of slowing a protocol. What
//! it keeps is bounded too (ring buffers and capped tables, see [`state`]). Its own requests
//! never pass through the honeypot's sensor, so they never become honeypot events.
//!
//! Everything an attacker controls (addresses aside, every field of an event) reaches the
//! page only through [`html::escape`] on the server or `textContent` in the browser: the
//! operator's dashboard is the obvious target of a stored XSS sent in a Modbus or HTTP request.

pub mod auth;
pub mod config;
pub mod html;
pub mod ring;
pub mod server;
pub mod state;

pub use config::DashboardConfig;
pub use server::{Dashboard, SinkHealth};
