//! Helpers shared by the EtherNet/IP tests: the embedded Logix template's device and
//! request builders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![allow(dead_code)]

use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::drive::{Driver, device_and_section};
use conpot_enip::EnipService;

/// The embedded Logix template.
pub const LOGIX: &str = include_str!("../../../../templates/logix/template.toml");

/// The service and device of the Logix template.
pub fn logix() -> (EnipService, Device) {
    let (device, section) = device_and_section(LOGIX, "enip").unwrap();
    (EnipService::build(&section, &device).unwrap(), device)
}

/// The clock of the tests.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)
}

/// An encapsulation message.
pub fn encap(command: u16, session: u32, data: &[u8]) -> Vec<u8> {
    let mut v = command.to_le_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_le_bytes());
    v.extend_from_slice(&session.to_le_bytes());
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(b"ctx-0001");
    v.extend_from_slice(&[0; 4]);
    v.extend_from_slice(data);
    v
}

/// SendRRData carrying one unconnected CIP request.
pub fn rr(session: u32, cip: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 0, 0, 0, 0x0a, 0x00, 2, 0, 0, 0, 0, 0, 0xb2, 0];
    d.extend_from_slice(&(cip.len() as u16).to_le_bytes());
    d.extend_from_slice(cip);
    encap(0x6f, session, &d)
}

/// SendUnitData on connection `id` with sequence `seq`.
pub fn unit(session: u32, id: u32, seq: u16, cip: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 0, 0, 0, 0, 0, 2, 0, 0xa1, 0, 4, 0];
    d.extend_from_slice(&id.to_le_bytes());
    d.extend_from_slice(&[0xb1, 0]);
    d.extend_from_slice(&((cip.len() + 2) as u16).to_le_bytes());
    d.extend_from_slice(&seq.to_le_bytes());
    d.extend_from_slice(cip);
    encap(0x70, session, &d)
}

/// A reply's header fields: command, length, session, status.
pub fn header(reply: &[u8]) -> (u16, u16, u32, u32) {
    assert!(reply.len() >= 24, "short reply {reply:?}");
    (
        u16::from_le_bytes([reply[0], reply[1]]),
        u16::from_le_bytes([reply[2], reply[3]]),
        u32::from_le_bytes(reply[4..8].try_into().unwrap()),
        u32::from_le_bytes(reply[8..12].try_into().unwrap()),
    )
}

/// The CPF items of a SendRRData/SendUnitData reply.
pub fn items(reply: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut at = 24 + 6;
    let count = u16::from_le_bytes([reply[at], reply[at + 1]]);
    at += 2;
    let mut out = Vec::new();
    for _ in 0..count {
        let kind = u16::from_le_bytes([reply[at], reply[at + 1]]);
        let len = usize::from(u16::from_le_bytes([reply[at + 2], reply[at + 3]]));
        out.push((kind, reply[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    assert_eq!(at, reply.len(), "items fill the reply");
    out
}

/// The CIP reply of a SendRRData reply: (service, general status, extended, data).
pub fn cip(reply: &[u8]) -> (u8, u8, Vec<u16>, Vec<u8>) {
    let it = items(reply);
    assert_eq!(it[0], (0, vec![]));
    assert_eq!(it[1].0, 0xb2);
    split_cip(&it[1].1)
}

/// Splits a CIP reply.
pub fn split_cip(m: &[u8]) -> (u8, u8, Vec<u16>, Vec<u8>) {
    let n = usize::from(m[3]);
    let ext = (0..n)
        .map(|i| u16::from_le_bytes([m[4 + 2 * i], m[5 + 2 * i]]))
        .collect();
    (m[0], m[2], ext, m[4 + 2 * n..].to_vec())
}

/// A TCP session with a registered handle.
pub fn registered(svc: &EnipService) -> (Driver, u32) {
    let (mut d, _) = Driver::tcp(svc, 44818, now());
    let r = d.input(&encap(0x65, 0, &[1, 0, 0, 0]), now()).bytes;
    let (cmd, len, session, status) = header(&r);
    assert_eq!((cmd, len, status), (0x65, 4, 0));
    assert_ne!(session, 0);
    (d, session)
}

/// A Message Router request to a logical path.
pub fn request(service: u8, path: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = vec![service, (path.len() / 2) as u8];
    v.extend_from_slice(path);
    v.extend_from_slice(data);
    v
}

/// A symbolic path to `name`.
pub fn symbol(name: &str) -> Vec<u8> {
    let mut p = vec![0x91, name.len() as u8];
    p.extend_from_slice(name.as_bytes());
    if name.len() % 2 == 1 {
        p.push(0);
    }
    p
}
