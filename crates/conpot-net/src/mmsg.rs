//! Several datagrams in one system call (`sendmmsg`): a UDP listener that served a burst
//! of requests sends their answers together, so the kernel is entered once per burst
//! rather than once per answer. On this project's virtualised machine entering and
//! leaving the kernel for a `sendto` was about 0.3 µs, against about 4 µs for a whole
//! SNMP answer (docs/performance.md, "fifth pass").

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{SockaddrLike, SockaddrStorage};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams handed to the kernel in one call at most (the kernel's own limit is 1024).
pub const MAX_BATCH: usize = 64;

/// Sends the first datagrams of `batch` (each to its address) without waiting; returns
/// how many the kernel took (at least one of a batch that is not empty). `WouldBlock`
/// when the socket's buffer is full; any other error is the first datagram's (the caller
/// skips it, as a failed `send_to`).
pub fn try_send(sock: &UdpSocket, batch: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
    sock.try_io(Interest::WRITABLE, || send_now(sock.as_raw_fd(), batch))
}

#[allow(unsafe_code)]
fn send_now(fd: RawFd, batch: &[(SocketAddr, Vec<u8>)]) -> io::Result<usize> {
    let batch = batch.get(..batch.len().min(MAX_BATCH)).unwrap_or_default();
    if batch.is_empty() {
        return Ok(0);
    }
    let addrs: Vec<SockaddrStorage> = batch.iter().map(|(a, _)| SockaddrStorage::from(*a)).collect();
    let mut iovs: Vec<libc::iovec> = batch
        .iter()
        .map(|(_, d)| libc::iovec {
            iov_base: d.as_ptr().cast_mut().cast(),
            iov_len: d.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = addrs
        .iter()
        .zip(iovs.iter_mut())
        .map(|(addr, iov)| {
            // SAFETY: mmsghdr is a plain C struct for which all zeroes is a valid value
            // (null pointers, zero lengths); the fields that matter are set below.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = addr.len();
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let count = libc::c_uint::try_from(headers.len()).unwrap_or(0);
    // SAFETY: `headers` holds `count` initialised entries whose name and iovec pointers
    // point into `addrs`, `iovs` and the datagrams of `batch`, all alive and unmoved until
    // the call returns; the kernel only reads them (and writes each entry's msg_len).
    let sent = unsafe { libc::sendmmsg(fd, headers.as_mut_ptr(), count, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(sent).unwrap_or(0).max(1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Receives `n` datagrams on `sock` (each within a second).
    async fn take(sock: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        for _ in 0..n {
            let len = tokio::time::timeout(std::time::Duration::from_secs(1), sock.recv(&mut buf))
                .await
                .unwrap()
                .unwrap();
            got.push(buf.get(..len).unwrap().to_vec());
        }
        got
    }

    #[tokio::test]
    async fn a_batch_reaches_each_address_in_order() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let batch = vec![
            (aa, b"one".to_vec()),
            (ba, b"two".to_vec()),
            (aa, vec![7u8; 1200]),
            (ba, Vec::new()),
        ];
        server.writable().await.unwrap();
        assert_eq!(try_send(&server, &batch).unwrap(), 4);
        assert_eq!(take(&a, 2).await, vec![b"one".to_vec(), vec![7u8; 1200]]);
        assert_eq!(take(&b, 2).await, vec![b"two".to_vec(), Vec::new()]);
    }

    #[tokio::test]
    async fn a_long_batch_is_sent_in_calls_of_at_most_max_batch() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = client.local_addr().unwrap();
        let batch: Vec<_> = (0..MAX_BATCH + 6).map(|i| (to, vec![i as u8])).collect();
        server.writable().await.unwrap();
        let first = try_send(&server, &batch).unwrap();
        assert_eq!(first, MAX_BATCH);
        assert_eq!(try_send(&server, batch.get(first..).unwrap()).unwrap(), 6);
        let got = take(&client, MAX_BATCH + 6).await;
        assert_eq!(got, batch.into_iter().map(|(_, d)| d).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn an_address_of_the_other_family_is_the_first_datagrams_error() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let batch = vec![(v6, b"x".to_vec()), (client.local_addr().unwrap(), b"y".to_vec())];
        server.writable().await.unwrap();
        assert!(try_send(&server, &batch).is_err());
        // The caller skips the failed one; the rest still goes.
        assert_eq!(try_send(&server, batch.get(1..).unwrap()).unwrap(), 1);
        assert_eq!(take(&client, 1).await, vec![b"y".to_vec()]);
    }
}
