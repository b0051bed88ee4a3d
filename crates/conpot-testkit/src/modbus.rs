//! Modbus TCP exchanges with a running honeypot: the simplest request the tests send to see
//! that a sensor answers and logs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends the ADU `adu` (MBAP header included) on `s` and reads one whole answer (its MBAP
/// header says how long it is). Panics on a network error or a short answer.
pub fn exchange(s: &mut TcpStream, adu: &[u8]) -> Vec<u8> {
    let fail = |what: &str, e: std::io::Error| -> ! { panic!("modbus {what}: {e}") };
    s.write_all(adu).unwrap_or_else(|e| fail("send", e));
    let mut head = [0u8; 6];
    s.read_exact(&mut head).unwrap_or_else(|e| fail("read header", e));
    let [.., hi, lo] = head;
    let mut rest = vec![0u8; usize::from(u16::from_be_bytes([hi, lo]))];
    s.read_exact(&mut rest).unwrap_or_else(|e| fail("read body", e));
    [&head[..], &rest].concat()
}

/// [`exchange`] on a new connection to `addr` (5 s read timeout).
pub fn once(addr: SocketAddr, adu: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("read timeout: {e}"));
    exchange(&mut s, adu)
}
