//! UDP load for the IPMI and BACnet services: a fixed request kept in flight, and whole
//! RMCP+ logins (Open Session, RAKP 1-4) back to back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conpot_ipmi::crypto::{AuthAlg, password_key};
use conpot_ipmi::rmcp;

use crate::drive::{self, OnError};
use crate::load::{Report, merge};

/// Get Channel Authentication Capabilities, as nmap and ipmitool send it first.
pub const IPMI_CAPS: [u8; 23] = [
    0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xc8, 0x81, 0x00, 0x38, 0x8e, 0x04, 0xb5,
];

/// BACnet ReadProperty of the wildcard device's object-name.
pub const BACNET_RP: [u8; 17] = [
    0x81, 0x0a, 0x00, 0x11, 0x01, 0x04, 0x00, 0x05, 0x01, 0x0c, 0x0c, 0x02, 0x3f, 0xff, 0xff, 0x19, 0x4d,
];

/// Keeps `outstanding` copies of `request` in flight from one socket for `duration`,
/// counting answers (each answer sends the next request).
pub async fn fixed(label: &str, target: SocketAddr, request: &[u8], outstanding: usize, duration: Duration) -> Report {
    let start = Instant::now();
    let deadline = start + duration;
    let Ok(sock) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else {
        return Report {
            label: label.into(),
            errors: 1,
            ..Report::default()
        };
    };
    let (mut ok, mut lost) = (0u64, 0u64);
    let mut buf = vec![0u8; 2048];
    for _ in 0..outstanding {
        let _ = sock.try_send_to(request, target);
    }
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf)).await {
            Ok(Ok(_)) => {
                ok += 1;
                let _ = sock.try_send_to(request, target);
            }
            _ => {
                lost += outstanding as u64;
                for _ in 0..outstanding {
                    let _ = sock.try_send_to(request, target);
                }
            }
        }
    }
    merge(
        &format!("{label} {outstanding} outstanding"),
        vec![(ok, lost, Vec::new())],
        start.elapsed(),
    )
}

fn clear_v20(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = rmcp::IPMI_HEADER.to_vec();
    p.extend(rmcp::v20_header(payload_type, false, false, 0, 0, payload.len()));
    p.extend(payload);
    p
}

fn payload(d: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_le_bytes([*d.get(14)?, *d.get(15)?]));
    d.get(16..16 + len)
}

async fn recv(sock: &tokio::net::UdpSocket, buf: &mut [u8]) -> Option<usize> {
    tokio::time::timeout(Duration::from_secs(1), sock.recv(buf))
        .await
        .ok()?
        .ok()
}

/// One RMCP+ login with cipher suite 17 (HMAC-SHA256, SHA256-128, AES-CBC-128).
async fn login(sock: &tokio::net::UdpSocket, target: SocketAddr, user: &str, password: &str) -> Option<()> {
    let mut buf = vec![0u8; 512];
    let console_id: u32 = 0xa0a2_a3a4;
    let mut open = vec![0, 0, 0, 0];
    open.extend(console_id.to_le_bytes());
    open.extend([0, 0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 8, 4, 0, 0, 0, 2, 0, 0, 8, 1, 0, 0, 0]);
    sock.send_to(&clear_v20(rmcp::PAYLOAD_OPEN_REQ, &open), target)
        .await
        .ok()?;
    let n = recv(sock, &mut buf).await?;
    let p = payload(buf.get(..n)?)?;
    let bmc_id: [u8; 4] = p.get(8..12)?.try_into().ok()?;
    let rm = [0x42u8; 16];
    let mut r1 = vec![0, 0, 0, 0];
    r1.extend(bmc_id);
    r1.extend(rm);
    r1.extend([0x14, 0, 0, user.len() as u8]);
    r1.extend(user.as_bytes());
    sock.send_to(&clear_v20(rmcp::PAYLOAD_RAKP1, &r1), target).await.ok()?;
    let n = recv(sock, &mut buf).await?;
    let p = payload(buf.get(..n)?)?;
    let rc = p.get(8..24)?.to_vec();
    let key = password_key(password, 20);
    let code = AuthAlg::Sha256.hmac(
        &key,
        &[
            &rc,
            &console_id.to_le_bytes(),
            &[0x14, user.len() as u8],
            user.as_bytes(),
        ],
    );
    let mut r3 = vec![0, 0, 0, 0];
    r3.extend(bmc_id);
    r3.extend(code);
    sock.send_to(&clear_v20(rmcp::PAYLOAD_RAKP3, &r3), target).await.ok()?;
    let n = recv(sock, &mut buf).await?;
    let p = payload(buf.get(..n)?)?;
    (p.get(1) == Some(&0)).then_some(())
}

/// C workers (each its own source port) logging in over RMCP+ back to back.
pub async fn rmcpp(target: SocketAddr, workers: usize, duration: Duration, user: String, password: String) -> Report {
    let account = Arc::new((user, password));
    drive::tasks(
        &format!("rmcp+ logins, {workers} workers"),
        workers,
        duration,
        OnError::Next,
        |_| tokio::net::UdpSocket::bind("127.0.0.1:0"),
        move |sock| {
            let account = Arc::clone(&account);
            Box::pin(async move {
                let (user, password) = &*account;
                login(sock, target, user, password)
                    .await
                    .ok_or_else(|| std::io::Error::other("no login"))
            })
        },
    )
    .await
}
