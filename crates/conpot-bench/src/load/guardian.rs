//! Guardian AST / TLS-350 load: C connections, each asking for the in-tank inventory
//! (`SOH I20100 LF`, what Shodan sends) back to back and reading each report to its ETX.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Report, sessions_persistent};

/// `connections` connections sending I20100 back to back for `duration`.
pub async fn inventory(target: SocketAddr, connections: usize, duration: Duration) -> Report {
    sessions_persistent(
        &format!("guardian I20100, {connections} connections"),
        target,
        connections,
        duration,
        |s| {
            Box::pin(async move {
                s.write_all(b"\x01I20100\n").await?;
                let mut got = 0usize;
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(std::io::Error::other("closed before the report's ETX"));
                    }
                    got += n;
                    if chunk.get(..n).is_some_and(|c| c.last() == Some(&0x03)) {
                        break;
                    }
                    if got > 65_536 {
                        return Err(std::io::Error::other("no ETX in 64 kB"));
                    }
                }
                if got < 200 {
                    return Err(std::io::Error::other("report too short"));
                }
                Ok(())
            })
        },
    )
    .await
}
