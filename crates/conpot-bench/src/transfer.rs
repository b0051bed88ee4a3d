//! File-transfer loads: whole FTP sessions (login, LIST, RETR, QUIT, each listing and
//! file over its own passive data connection) and TFTP downloads with options.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::drive::{self, OnError};
use crate::load::{Report, sessions, source};

fn bad(what: &str) -> std::io::Error {
    std::io::Error::other(what.to_owned())
}

/// Reads one reply (following a multi-line one to its end); returns its code.
async fn reply(r: &mut BufReader<OwnedReadHalf>, line: &mut String) -> std::io::Result<u16> {
    line.clear();
    r.read_line(line).await?;
    let code: u16 = line
        .get(..3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no reply code"))?;
    if line.as_bytes().get(3) == Some(&b'-') {
        let end = format!("{code} ");
        loop {
            line.clear();
            if r.read_line(line).await? == 0 {
                return Err(bad("reply cut"));
            }
            if line.starts_with(&end) {
                break;
            }
        }
    }
    Ok(code)
}

async fn expect(r: &mut BufReader<OwnedReadHalf>, line: &mut String, want: u16) -> std::io::Result<()> {
    let code = reply(r, line).await?;
    if code == want {
        Ok(())
    } else {
        Err(bad(&format!("expected {want}, got {code}")))
    }
}

/// The data address of a `227` reply.
fn pasv_addr(line: &str) -> Option<SocketAddr> {
    let inner = line.split('(').nth(1)?.split(')').next()?;
    let n: Vec<u8> = inner.split(',').filter_map(|p| p.trim().parse().ok()).collect();
    let [a, b, c, d, p1, p2] = <[u8; 6]>::try_from(n).ok()?;
    Some(SocketAddr::from(([a, b, c, d], u16::from(p1) << 8 | u16::from(p2))))
}

/// Opens a passive data connection from `from` (the data listener accepts only the
/// control connection's address) and runs `cmd` over it; returns the bytes received.
async fn passive(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    r: &mut BufReader<OwnedReadHalf>,
    line: &mut String,
    from: SocketAddr,
    cmd: &str,
) -> std::io::Result<usize> {
    w.write_all(b"PASV\r\n").await?;
    expect(r, line, 227).await?;
    let addr = pasv_addr(line).ok_or_else(|| bad("bad 227"))?;
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from.ip(), 0))?;
    let mut data = sock.connect(addr).await?;
    w.write_all(cmd.as_bytes()).await?;
    expect(r, line, 150).await?;
    let mut buf = Vec::new();
    data.read_to_end(&mut buf).await?;
    expect(r, line, 226).await?;
    Ok(buf.len())
}

/// `workers` workers each running whole anonymous FTP sessions (login, LIST, RETR of
/// `file`, QUIT) back to back for `duration`.
pub async fn ftp(target: SocketAddr, workers: usize, duration: Duration, file: String) -> Report {
    sessions(
        &format!("ftp sessions (login, LIST, RETR {file}, QUIT), {workers} workers"),
        workers,
        duration,
        move |i| {
            let file = file.clone();
            async move {
                let from = source(i);
                let sock = TcpSocket::new_v4()?;
                sock.bind(from)?;
                let s: TcpStream = sock.connect(target).await?;
                let _ = s.set_nodelay(true);
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                let mut line = String::new();
                expect(&mut r, &mut line, 220).await?;
                w.write_all(b"USER anonymous\r\n").await?;
                expect(&mut r, &mut line, 331).await?;
                w.write_all(b"PASS bench@\r\n").await?;
                expect(&mut r, &mut line, 230).await?;
                w.write_all(b"TYPE I\r\n").await?;
                expect(&mut r, &mut line, 200).await?;
                passive(&mut w, &mut r, &mut line, from, "LIST\r\n").await?;
                let n = passive(&mut w, &mut r, &mut line, from, &format!("RETR {file}\r\n")).await?;
                if n == 0 {
                    return Err(bad("empty file"));
                }
                w.write_all(b"QUIT\r\n").await?;
                expect(&mut r, &mut line, 221).await
            }
        },
    )
    .await
}

async fn recv(
    s: &UdpSocket,
    buf: &mut [u8],
) -> Result<std::io::Result<(usize, SocketAddr)>, tokio::time::error::Elapsed> {
    tokio::time::timeout(Duration::from_secs(2), s.recv_from(buf)).await
}

/// One TFTP download of `file` with `blksize` and `windowsize`; returns its size.
async fn tftp_get(target: SocketAddr, file: &str, blksize: usize, window: u16) -> std::io::Result<usize> {
    let s = UdpSocket::bind("127.0.0.1:0").await?;
    let mut req = vec![0, 1];
    for part in [
        file,
        "octet",
        "blksize",
        &blksize.to_string(),
        "windowsize",
        &window.to_string(),
    ] {
        req.extend_from_slice(part.as_bytes());
        req.push(0);
    }
    s.send_to(&req, target).await?;
    let mut buf = vec![0u8; blksize + 4];
    let (n, port) = recv(&s, &mut buf).await.map_err(|_| bad("no answer"))??;
    if buf.get(..2) != Some(&[0, 6][..]) || n < 2 {
        return Err(bad("no OACK"));
    }
    let (mut expected, mut total, mut since_ack) = (1u16, 0usize, 0u16);
    s.send_to(&[0, 4, 0, 0], port).await?;
    loop {
        let (n, _) = match recv(&s, &mut buf).await {
            Ok(r) => r?,
            Err(_) => {
                // Lost: acknowledge what we have, the server resends after it.
                s.send_to(
                    &[
                        0,
                        4,
                        (expected.wrapping_sub(1) >> 8) as u8,
                        expected.wrapping_sub(1) as u8,
                    ],
                    port,
                )
                .await?;
                continue;
            }
        };
        let block = buf
            .get(2..4)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map_or(0, u16::from_be_bytes);
        if buf.get(..2) != Some(&[0, 3][..]) || block != expected {
            continue;
        }
        let len = n.saturating_sub(4);
        total += len;
        since_ack += 1;
        let last = len < blksize;
        if last || since_ack >= window {
            since_ack = 0;
            s.send_to(&[0, 4, (block >> 8) as u8, block as u8], port).await?;
        }
        expected = expected.wrapping_add(1);
        if last {
            return Ok(total);
        }
    }
}

/// `parallel` workers each downloading `file` over TFTP back to back for `duration`;
/// the report counts transfers, and `bytes` says how much moved.
pub async fn tftp(
    target: SocketAddr,
    parallel: usize,
    duration: Duration,
    file: String,
    blksize: usize,
    window: u16,
) -> (Report, u64) {
    let bytes = Arc::new(AtomicU64::new(0));
    let label = format!("tftp RRQ {file} (blksize {blksize}, windowsize {window}), {parallel} parallel");
    let file = Arc::new(file);
    let moved = Arc::clone(&bytes);
    let report = drive::tasks(
        &label,
        parallel,
        duration,
        OnError::Next,
        |_| async { Ok(()) },
        move |()| {
            let (file, moved) = (Arc::clone(&file), Arc::clone(&moved));
            Box::pin(async move {
                let n = tftp_get(target, &file, blksize, window).await?;
                moved.fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            })
        },
    )
    .await;
    (report, bytes.load(Ordering::Relaxed))
}
