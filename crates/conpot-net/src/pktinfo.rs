//! The real destination address of datagrams received on a wildcard-bound UDP socket
//! (IP_PKTINFO / IPV6_RECVPKTINFO), so a UDP event's `dst_ip` is the address the attacker
//! reached, not `0.0.0.0`.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage, recvmsg, setsockopt, sockopt};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Asks the kernel to report each datagram's destination address on `sock`.
pub fn enable(sock: &impl AsFd, ipv6: bool) -> io::Result<()> {
    let r = if ipv6 {
        setsockopt(sock, sockopt::Ipv6RecvPacketInfo, &true)
    } else {
        setsockopt(sock, sockopt::Ipv4PacketInfo, &true)
    };
    r.map_err(io::Error::from)
}

/// One received datagram: its length, sender and (when known) destination address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes written to the buffer.
    pub len: usize,
    /// Who sent it.
    pub peer: SocketAddr,
    /// The address it was sent to, when the socket reports it.
    pub dst: Option<IpAddr>,
}

/// Receives one datagram from `sock`, with its destination address when the socket was
/// bound by [`crate::bind::bind_udp`] on a wildcard address.
pub async fn recv(sock: &UdpSocket, buf: &mut [u8], with_dst: bool) -> io::Result<Received> {
    if !with_dst {
        let (len, peer) = sock.recv_from(buf).await?;
        return Ok(Received { len, peer, dst: None });
    }
    sock.async_io(Interest::READABLE, || recv_now(sock, buf)).await
}

/// [`recv`] without waiting: `WouldBlock` when no datagram is queued. A listener that
/// was woken for one datagram takes the others already queued with this, rather than
/// going back through its wait for each.
pub fn try_recv(sock: &UdpSocket, buf: &mut [u8], with_dst: bool) -> io::Result<Received> {
    if !with_dst {
        let (len, peer) = sock.try_recv_from(buf)?;
        return Ok(Received { len, peer, dst: None });
    }
    sock.try_io(Interest::READABLE, || recv_now(sock, buf))
}

fn recv_now(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let peer = msg
        .address
        .as_ref()
        .and_then(to_socket_addr)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "datagram without a source address"))?;
    let mut dst = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))));
                }
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                _ => {}
            }
        }
    }
    Ok(Received {
        len: msg.bytes,
        peer,
        dst,
    })
}

fn to_socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    if let Some(v6) = s.as_sockaddr_in6() {
        return Some(SocketAddr::V6((*v6).into()));
    }
    let _ = s.family();
    None
}
