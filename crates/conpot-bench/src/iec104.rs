//! The IEC 104 load: persistent connections, each started once (STARTDT) and then running
//! station interrogations back to back, every answer acknowledged so the k window never
//! holds the station back.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::drive::{self, OnError};
use crate::load::{Report, connect_from};

/// STARTDT act.
const STARTDT_ACT: [u8; 6] = [0x68, 4, 0x07, 0, 0, 0];

/// Type identification of C_IC_NA_1 and the causes that end an interrogation.
const C_IC_NA_1: u8 = 100;
const ACT_TERM: u8 = 10;

/// Reads one APDU (after the start byte and length), bounded by the 253-byte limit.
async fn apdu(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    if head[0] != 0x68 || head[1] < 4 {
        return Err(std::io::Error::other("not an IEC 104 frame"));
    }
    let mut body = vec![0u8; usize::from(head[1])];
    s.read_exact(&mut body).await?;
    Ok(body)
}

/// One connection's numbers: N(S) of our next I frame, N(R) of the station's next.
struct Link {
    s: TcpStream,
    vs: u16,
    vr: u16,
}

impl Link {
    /// Connects and starts data transfer; the end of initialisation is read (and
    /// acknowledged by the first request).
    async fn open(target: SocketAddr, i: usize) -> std::io::Result<Link> {
        let mut s = connect_from(target, i).await?;
        let _ = s.set_nodelay(true);
        s.write_all(&STARTDT_ACT).await?;
        let mut link = Link { s, vs: 0, vr: 0 };
        // STARTDT con, then M_EI_NA_1 (an I frame).
        while link.vr == 0 {
            let f = apdu(&mut link.s).await?;
            if f.first().is_some_and(|c| c & 1 == 0) {
                link.vr = 1;
            }
        }
        Ok(link)
    }

    /// One station interrogation at the broadcast address: the request, every answer up to
    /// the termination, then an S frame acknowledging them.
    async fn interrogate(&mut self) -> std::io::Result<()> {
        let mut req = vec![0x68, 14];
        req.extend_from_slice(&(self.vs << 1).to_le_bytes());
        req.extend_from_slice(&(self.vr << 1).to_le_bytes());
        req.extend_from_slice(&[C_IC_NA_1, 1, 6, 0, 0xFF, 0xFF, 0, 0, 0, 20]);
        self.s.write_all(&req).await?;
        self.vs = (self.vs + 1) % 32768;
        loop {
            let f = apdu(&mut self.s).await?;
            if f.first().is_some_and(|c| c & 1 == 0) {
                self.vr = (self.vr + 1) % 32768;
                // Type, then the cause after the VSQ.
                if f.get(4) == Some(&C_IC_NA_1) && f.get(6).map(|c| c & 0x3F) == Some(ACT_TERM) {
                    break;
                }
            }
        }
        let mut ack = vec![0x68, 4, 0x01, 0];
        ack.extend_from_slice(&(self.vr << 1).to_le_bytes());
        self.s.write_all(&ack).await
    }
}

/// `connections` connections, each running station interrogations back to back for
/// `duration`; one request is one whole interrogation (confirmation, points, termination).
pub async fn interrogations(target: SocketAddr, connections: usize, duration: Duration) -> Report {
    drive::tasks(
        &format!("iec104 interrogations, {connections} connections"),
        connections,
        duration,
        OnError::Stop,
        move |c| Link::open(target, c),
        |link| Box::pin(link.interrogate()),
    )
    .await
}
