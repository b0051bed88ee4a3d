//! Binding listening sockets: one helper for TCP and UDP, the IP TTL of every answer, and
//! binding a whole plan at once so every conflict is reported before anything runs.

use std::io;
use std::net::SocketAddr;

use conpot_core::event::Transport;
use tokio::net::{TcpListener, UdpSocket};

/// A bound listening socket.
#[derive(Debug)]
pub enum Bound {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A UDP socket.
    Udp(UdpSocket),
}

impl Bound {
    /// The address it is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Bound::Tcp(l) => l.local_addr(),
            Bound::Udp(u) => u.local_addr(),
        }
    }

    /// Its transport.
    pub fn transport(&self) -> Transport {
        match self {
            Bound::Tcp(_) => Transport::Tcp,
            Bound::Udp(_) => Transport::Udp,
        }
    }

    /// Sets the IP TTL (IPv4) or hop limit (IPv6) of everything sent from it, so answers
    /// look like they come from the emulated device's network stack.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let sock = match self {
            Bound::Tcp(l) => socket2::SockRef::from(l),
            Bound::Udp(u) => socket2::SockRef::from(u),
        };
        if self.local_addr()?.is_ipv4() {
            sock.set_ttl_v4(ttl)
        } else {
            sock.set_unicast_hops_v6(ttl)
        }
    }
}

fn socket(addr: SocketAddr, ty: socket2::Type, proto: socket2::Protocol) -> io::Result<socket2::Socket> {
    let sock = socket2::Socket::new(socket2::Domain::for_address(addr), ty, Some(proto))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Binds `addr` for `transport`. IPv6 sockets are IPv6-only, so `[::]` and `0.0.0.0` can
/// be bound side by side. A UDP socket on a wildcard address learns each datagram's real
/// destination (IP_PKTINFO), so events carry the address the attacker reached.
pub fn bind(addr: SocketAddr, transport: Transport) -> io::Result<Bound> {
    match transport {
        Transport::Udp => bind_udp(addr).map(Bound::Udp),
        _ => bind_tcp(addr).map(Bound::Tcp),
    }
}

/// Binds a TCP listening socket on `addr`.
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(bind_tcp_std(addr)?)
}

/// Binds a UDP socket on `addr` (asking for destination addresses on a wildcard bind).
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    UdpSocket::from_std(bind_udp_std(addr)?)
}

fn bind_tcp_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let sock = socket(addr, socket2::Type::STREAM, socket2::Protocol::TCP)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    Ok(sock.into())
}

fn bind_udp_std(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let sock = socket(addr, socket2::Type::DGRAM, socket2::Protocol::UDP)?;
    sock.bind(&addr.into())?;
    if addr.ip().is_unspecified() {
        crate::pktinfo::enable(&sock, addr.is_ipv6())?;
    }
    Ok(sock.into())
}

/// A socket bound before the runtime exists: the sensor binds its (possibly privileged)
/// ports while still root and single-threaded, gives up root, and only then starts the
/// runtime that takes these over with [`StdBound::into_tokio`].
#[derive(Debug)]
pub enum StdBound {
    /// A TCP listener (non-blocking).
    Tcp(std::net::TcpListener),
    /// A UDP socket (non-blocking).
    Udp(std::net::UdpSocket),
}

impl StdBound {
    /// Registers the socket with the current tokio runtime.
    pub fn into_tokio(self) -> io::Result<Bound> {
        match self {
            StdBound::Tcp(l) => TcpListener::from_std(l).map(Bound::Tcp),
            StdBound::Udp(u) => UdpSocket::from_std(u).map(Bound::Udp),
        }
    }
}

/// What [`bind_all_std`] returns: the bound sockets and the optional ones that failed.
pub type StdPlan = (Vec<(BindSpec, StdBound)>, Vec<BindFailure>);

/// [`bind_all`] without a runtime: the same all-or-nothing binding and reporting, the
/// sockets left for [`StdBound::into_tokio`].
pub fn bind_all_std(plan: &[BindSpec]) -> Result<StdPlan, Vec<BindFailure>> {
    bind_plan(plan, |addr, transport| match transport {
        Transport::Udp => bind_udp_std(addr).map(StdBound::Udp),
        _ => bind_tcp_std(addr).map(StdBound::Tcp),
    })
}

/// One socket of a plan: what to bind, for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec {
    /// Protocol section name (for messages).
    pub name: String,
    /// Address and port.
    pub addr: SocketAddr,
    /// TCP or UDP.
    pub transport: Transport,
    /// Whether failing to bind it is tolerated (the IPv6 twin of a wildcard bind on a
    /// host without IPv6).
    pub optional: bool,
}

/// A socket of a plan that could not be bound.
#[derive(Debug)]
pub struct BindFailure {
    /// What was asked.
    pub spec: BindSpec,
    /// Why it failed.
    pub error: io::Error,
}

impl std::fmt::Display for BindFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = match self.spec.transport {
            Transport::Udp => "udp",
            _ => "tcp",
        };
        write!(
            f,
            "{}: cannot listen on {t} {}: {}",
            self.spec.name, self.spec.addr, self.error
        )?;
        if self.error.kind() == io::ErrorKind::AddrInUse {
            write!(f, " (choose another with --port {}=PORT)", self.spec.name)?;
        }
        Ok(())
    }
}

/// What [`bind_all`] returns: the bound sockets and the optional ones that failed.
pub type Plan = (Vec<(BindSpec, Bound)>, Vec<BindFailure>);

/// Binds every socket of `plan`. Either all required sockets are bound (optional ones
/// that failed are returned as warnings beside them), or every failure is returned and
/// nothing stays bound, so the caller can report all conflicts at once.
pub fn bind_all(plan: &[BindSpec]) -> Result<Plan, Vec<BindFailure>> {
    bind_plan(plan, bind)
}

/// Binds each socket of `plan` with `bind_one`, all or nothing.
type BindResult<B> = Result<(Vec<(BindSpec, B)>, Vec<BindFailure>), Vec<BindFailure>>;

fn bind_plan<B>(plan: &[BindSpec], bind_one: impl Fn(SocketAddr, Transport) -> io::Result<B>) -> BindResult<B> {
    let mut bound = Vec::new();
    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    for spec in plan {
        match bind_one(spec.addr, spec.transport) {
            Ok(b) => bound.push((spec.clone(), b)),
            Err(error) => {
                let f = BindFailure {
                    spec: spec.clone(),
                    error,
                };
                if spec.optional {
                    warnings.push(f)
                } else {
                    failures.push(f)
                }
            }
        }
    }
    if failures.is_empty() {
        Ok((bound, warnings))
    } else {
        Err(failures)
    }
}
