//! The shared core of conpot-rs: templates and their import from Conpot, the databus and
//! its emulators, personas, sensor configuration, the canonical event and its bus, the
//! sans-IO session contract every protocol implements, and the bounded wire reader and
//! writer protocol crates parse and build their frames with. Plain data and logic: no
//! sockets and no clock (the tokio side is `conpot-net`).

pub mod auth;
pub mod bus;
pub mod capture;
pub mod config;
pub mod databus;
pub mod device;
pub mod drive;
pub mod emulators;
pub mod event;
pub mod expr;
pub mod fields;
pub mod hex;
pub mod limits;
pub mod metrics;
pub mod persona;
pub mod personas;
pub mod protocol;
pub mod rng;
pub mod template;
pub mod time;
pub mod tls_hello;
pub mod value;
pub mod vfs;
pub mod wire;

pub use device::Device;
pub use value::Value;
