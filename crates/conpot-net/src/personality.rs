//! Applying a template's network personality ([`NetworkPersonality`]) to a listening
//! socket, so what the kernel sends for it (the SYN-ACK, then every segment of the accepted
//! connections, which inherit the listener's options) carries the device's TTL, DF bit,
//! MSS, window and keepalive rather than Linux's defaults.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use conpot_core::template::network::NetworkPersonality;

use crate::bind::Bound;

/// One option that could not be set: its name and the error.
pub type Refused = (&'static str, io::Error);

/// Sets every option of `n` that applies to `bound` (the TCP ones on TCP listeners only);
/// returns those the kernel refused, so the caller can warn and keep serving: a socket
/// with Linux's default for one option still serves the protocol.
pub fn apply(bound: &Bound, n: &NetworkPersonality) -> Vec<Refused> {
    let mut refused = Vec::new();
    let (sock, tcp) = match bound {
        Bound::Tcp(l) => (socket2::SockRef::from(l), true),
        Bound::Udp(u) => (socket2::SockRef::from(u), false),
    };
    let v6 = bound.local_addr().is_ok_and(|a| a.is_ipv6());
    let mut set = |name: &'static str, r: io::Result<()>| {
        if let Err(e) = r {
            refused.push((name, e));
        }
    };
    if v6 {
        if let Some(h) = n.hop_limit.or(n.ttl) {
            set("hop_limit", sock.set_unicast_hops_v6(h));
        }
        if let Some(t) = n.tos {
            set("tos", sock.set_tclass_v6(t));
        }
    } else {
        if let Some(t) = n.ttl {
            set("ttl", sock.set_ttl_v4(t));
        }
        if let Some(t) = n.tos {
            set("tos", sock.set_tos_v4(t));
        }
        if let Some(df) = n.dont_fragment {
            set("dont_fragment", set_dont_fragment(&sock, df));
        }
    }
    if let Some(b) = n.receive_buffer {
        set("receive_buffer", sock.set_recv_buffer_size(b as usize));
    }
    if let Some(b) = n.send_buffer {
        set("send_buffer", sock.set_send_buffer_size(b as usize));
    }
    if !tcp {
        return refused;
    }
    if let Some(m) = n.mss {
        set("mss", sock.set_tcp_mss(m));
    }
    if let Some(w) = n.window {
        set("window", set_int(&sock, libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP, w));
    }
    if n.keepalive() {
        let mut k = socket2::TcpKeepalive::new();
        if let Some(s) = n.keepalive_idle {
            k = k.with_time(Duration::from_secs(u64::from(s)));
        }
        if let Some(s) = n.keepalive_interval {
            k = k.with_interval(Duration::from_secs(u64::from(s)));
        }
        if let Some(c) = n.keepalive_count {
            k = k.with_retries(c);
        }
        set("keepalive", sock.set_tcp_keepalive(&k));
    }
    refused
}

/// IP_MTU_DISCOVER: `IP_PMTUDISC_DO` (DF always set) or `IP_PMTUDISC_DONT` (never set).
fn set_dont_fragment(sock: &socket2::SockRef<'_>, df: bool) -> io::Result<()> {
    let mode = if df {
        libc::IP_PMTUDISC_DO
    } else {
        libc::IP_PMTUDISC_DONT
    };
    set_int(sock, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, mode as u32)
}

/// An integer socket option socket2 has no setter for.
#[allow(unsafe_code)]
fn set_int(sock: &socket2::SockRef<'_>, level: libc::c_int, name: libc::c_int, value: u32) -> io::Result<()> {
    let v = libc::c_int::try_from(value).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the descriptor is open for the lifetime of `sock`, and the option value is a
    // c_int whose size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An integer socket option, read back (for tests and `conpot selftest`).
#[allow(unsafe_code)]
pub fn get_int(fd: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 { Ok(v) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conpot_core::event::Transport;

    fn personality() -> NetworkPersonality {
        NetworkPersonality {
            ttl: Some(30),
            hop_limit: Some(31),
            dont_fragment: Some(false),
            mss: Some(1360),
            window: Some(8192),
            receive_buffer: Some(16384),
            send_buffer: Some(8192),
            tos: Some(0x20),
            keepalive_idle: Some(45),
            keepalive_interval: Some(7),
            keepalive_count: Some(4),
        }
    }

    #[tokio::test]
    async fn every_option_reaches_a_tcp_listener() {
        let b = crate::bind("127.0.0.1:0".parse().unwrap(), Transport::Tcp).unwrap();
        let refused = apply(&b, &personality());
        assert!(refused.is_empty(), "{refused:?}");
        let Bound::Tcp(l) = &b else { panic!() };
        let g = |level, name| get_int(l, level, name).unwrap();
        assert_eq!(g(libc::IPPROTO_IP, libc::IP_TTL), 30);
        assert_eq!(g(libc::IPPROTO_IP, libc::IP_TOS), 0x20);
        assert_eq!(g(libc::IPPROTO_IP, libc::IP_MTU_DISCOVER), libc::IP_PMTUDISC_DONT);
        assert_eq!(g(libc::IPPROTO_TCP, libc::TCP_MAXSEG), 1360);
        assert_eq!(g(libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP), 8192);
        assert_eq!(g(libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(g(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 45);
        assert_eq!(g(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 7);
        assert_eq!(g(libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 4);
        // Linux doubles the buffer sizes it is given (the other half is its bookkeeping).
        assert_eq!(g(libc::SOL_SOCKET, libc::SO_RCVBUF), 2 * 16384);
    }

    #[tokio::test]
    async fn a_udp_socket_gets_the_ip_options_only() {
        let b = crate::bind("127.0.0.1:0".parse().unwrap(), Transport::Udp).unwrap();
        assert!(apply(&b, &personality()).is_empty());
        let Bound::Udp(u) = &b else { panic!() };
        assert_eq!(get_int(u, libc::IPPROTO_IP, libc::IP_TTL).unwrap(), 30);
        assert_eq!(
            get_int(u, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER).unwrap(),
            libc::IP_PMTUDISC_DONT
        );
        assert_eq!(get_int(u, libc::SOL_SOCKET, libc::SO_KEEPALIVE).unwrap(), 0);
    }

    #[tokio::test]
    async fn ipv6_takes_the_hop_limit() {
        let Ok(b) = crate::bind("[::1]:0".parse().unwrap(), Transport::Tcp) else {
            return; // no IPv6 on this host
        };
        assert!(apply(&b, &personality()).is_empty());
        let Bound::Tcp(l) = &b else { panic!() };
        assert_eq!(get_int(l, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS).unwrap(), 31);
        assert_eq!(get_int(l, libc::IPPROTO_IPV6, libc::IPV6_TCLASS).unwrap(), 0x20);
    }

    #[tokio::test]
    async fn the_default_personality_changes_nothing() {
        let b = crate::bind("127.0.0.1:0".parse().unwrap(), Transport::Tcp).unwrap();
        let Bound::Tcp(l) = &b else { panic!() };
        let before = get_int(l, libc::IPPROTO_IP, libc::IP_TTL).unwrap();
        assert!(apply(&b, &NetworkPersonality::default()).is_empty());
        assert_eq!(get_int(l, libc::IPPROTO_IP, libc::IP_TTL).unwrap(), before);
        assert_eq!(get_int(l, libc::SOL_SOCKET, libc::SO_KEEPALIVE).unwrap(), 0);
    }
}
