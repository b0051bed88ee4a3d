//! The shared core of conpot-rs: templates and their import from Conpot, the databus and
//! its emulators, personas, sensor configuration, the canonical event and its bus, and
//! the listener framework every protocol runs on.

pub mod bus;
pub mod capture;
pub mod config;
pub mod credentials;
pub mod databus;
pub mod device;
pub mod emulators;
pub mod event;
pub mod expr;
pub mod fields;
pub mod hex;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod persona;
pub mod protocol;
pub mod rng;
pub mod sys;
pub mod template;
pub mod time;
pub mod udp;
pub mod value;
pub mod vfs;

pub use device::Device;
pub use value::Value;
