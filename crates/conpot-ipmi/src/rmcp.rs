//! The wire: RMCP (DMTF ASF 2.0 section 3.2.2), ASF Presence Ping/Pong, the IPMI 1.5 and
//! IPMI 2.0 (RMCP+) session wrappers, and IPMI LAN messages with their checksums. Decoding
//! only splits and checks; the session layer verifies integrity and decrypts.

use conpot_core::wire::{Reader, WireError, WireResult};

fn invalid(r: &Reader<'_>, what: &'static str) -> WireError {
    WireError::Invalid { at: r.offset(), what }
}

/// RMCP version 1.0.
pub const RMCP_VERSION: u8 = 0x06;
/// RMCP sequence number of messages that want no RMCP ACK (all IPMI traffic).
pub const NO_ACK: u8 = 0xFF;
/// Message class ASF.
pub const CLASS_ASF: u8 = 0x06;
/// Message class IPMI.
pub const CLASS_IPMI: u8 = 0x07;
/// The class bit that marks an RMCP ACK.
pub const CLASS_ACK: u8 = 0x80;
/// The ASF IANA enterprise number (4542).
pub const ASF_IANA: u32 = 4542;
/// ASF message type Presence Ping.
pub const ASF_PING: u8 = 0x80;
/// ASF message type Presence Pong.
pub const ASF_PONG: u8 = 0x40;

/// IPMI 1.5 authentication type none.
pub const AUTH_NONE: u8 = 0x00;
/// IPMI 1.5 authentication type MD2.
pub const AUTH_MD2: u8 = 0x01;
/// IPMI 1.5 authentication type MD5.
pub const AUTH_MD5: u8 = 0x02;
/// IPMI 1.5 authentication type straight password.
pub const AUTH_PASSWORD: u8 = 0x04;
/// The authentication type byte of an RMCP+ (IPMI 2.0) packet.
pub const AUTH_RMCPP: u8 = 0x06;

/// RMCP+ payload type: an IPMI message.
pub const PAYLOAD_IPMI: u8 = 0x00;
/// RMCP+ payload type: Serial over LAN.
pub const PAYLOAD_SOL: u8 = 0x01;
/// RMCP+ payload type: OEM explicit.
pub const PAYLOAD_OEM: u8 = 0x02;
/// Open Session Request.
pub const PAYLOAD_OPEN_REQ: u8 = 0x10;
/// Open Session Response.
pub const PAYLOAD_OPEN_RSP: u8 = 0x11;
/// RAKP Message 1.
pub const PAYLOAD_RAKP1: u8 = 0x12;
/// RAKP Message 2.
pub const PAYLOAD_RAKP2: u8 = 0x13;
/// RAKP Message 3.
pub const PAYLOAD_RAKP3: u8 = 0x14;
/// RAKP Message 4.
pub const PAYLOAD_RAKP4: u8 = 0x15;

/// Largest IPMI message carried (the LAN channel's limit is far lower; this bounds copies).
pub const MAX_MESSAGE: usize = 1024;

/// One decoded datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// An ASF message (Presence Ping and the rest).
    Asf {
        /// RMCP sequence number (not 0xFF: the sender wants an RMCP ACK).
        rmcp_seq: u8,
        /// ASF message type.
        msg_type: u8,
        /// Message tag, echoed in the answer.
        tag: u8,
    },
    /// An RMCP ACK from the peer (nothing to answer).
    Ack,
    /// An IPMI 1.5 session packet.
    V15(V15<'a>),
    /// An RMCP+ session packet.
    V20(V20<'a>),
}

/// An IPMI 1.5 session wrapper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V15<'a> {
    /// Authentication type.
    pub auth_type: u8,
    /// Session sequence number.
    pub seq: u32,
    /// Session id (0 outside a session).
    pub session_id: u32,
    /// The AuthCode (absent for type none).
    pub auth_code: Option<[u8; 16]>,
    /// The IPMI message.
    pub message: &'a [u8],
}

/// An RMCP+ session wrapper, not yet verified or decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V20<'a> {
    /// Payload type (6 bits).
    pub payload_type: u8,
    /// The payload is encrypted.
    pub encrypted: bool,
    /// The packet carries an integrity trailer.
    pub authenticated: bool,
    /// Session id (the BMC's, 0 outside a session).
    pub session_id: u32,
    /// Session sequence number.
    pub seq: u32,
    /// The payload as sent.
    pub payload: &'a [u8],
    /// Everything from the authentication type byte on (what the AuthCode covers, with it).
    pub session_part: &'a [u8],
    /// Where the payload ends within `session_part`.
    pub payload_end: usize,
}

/// Decodes one datagram.
pub fn decode(datagram: &[u8]) -> WireResult<Packet<'_>> {
    let mut r = Reader::new(datagram);
    r.expect_u8(RMCP_VERSION, "RMCP version")?;
    r.skip(1)?;
    let rmcp_seq = r.u8()?;
    let class = r.u8()?;
    if class & CLASS_ACK != 0 {
        return Ok(Packet::Ack);
    }
    match class & 0x0F {
        CLASS_ASF => {
            r.expect_bytes(&ASF_IANA.to_be_bytes(), "ASF IANA")?;
            let msg_type = r.u8()?;
            let tag = r.u8()?;
            Ok(Packet::Asf {
                rmcp_seq,
                msg_type,
                tag,
            })
        }
        CLASS_IPMI => {
            let session_part = r.rest();
            let auth_type = r.u8()? & 0x0F;
            if auth_type == AUTH_RMCPP {
                decode_v20(&mut r, session_part).map(Packet::V20)
            } else {
                let seq = r.u32_le()?;
                let session_id = r.u32_le()?;
                let auth_code = if auth_type == AUTH_NONE {
                    None
                } else {
                    Some(r.array::<16>()?)
                };
                let len = usize::from(r.u8()?);
                let message = r.take(len)?;
                Ok(Packet::V15(V15 {
                    auth_type,
                    seq,
                    session_id,
                    auth_code,
                    message,
                }))
            }
        }
        _ => Err(invalid(&r, "RMCP class")),
    }
}

fn decode_v20<'a>(r: &mut Reader<'a>, session_part: &'a [u8]) -> WireResult<V20<'a>> {
    let pt = r.u8()?;
    let payload_type = pt & 0x3F;
    if payload_type == PAYLOAD_OEM {
        r.skip(6)?;
    }
    let session_id = r.u32_le()?;
    let seq = r.u32_le()?;
    let declared = usize::from(r.u16_le()?);
    let len = r.limit(declared, MAX_MESSAGE)?;
    let payload = r.take(len)?;
    // The session part starts after the four-byte RMCP header.
    let payload_end = r.offset().saturating_sub(4);
    Ok(V20 {
        payload_type,
        encrypted: pt & 0x80 != 0,
        authenticated: pt & 0x40 != 0,
        session_id,
        seq,
        payload,
        session_part,
        payload_end,
    })
}

/// The RMCP header of an IPMI packet.
pub const IPMI_HEADER: [u8; 4] = [RMCP_VERSION, 0x00, NO_ACK, CLASS_IPMI];

/// The RMCP ACK of an ASF message with sequence number `seq`.
pub fn ack(seq: u8) -> [u8; 4] {
    [RMCP_VERSION, 0x00, seq, CLASS_ASF | CLASS_ACK]
}

/// The Presence Pong answering a Ping with `tag`: IPMI supported, ASF 1.0, no
/// ASF interactions (a BMC that speaks IPMI only).
pub fn pong(rmcp_seq: u8, tag: u8) -> Vec<u8> {
    let mut p = vec![RMCP_VERSION, 0x00, rmcp_seq, CLASS_ASF];
    p.extend(ASF_IANA.to_be_bytes());
    p.extend([ASF_PONG, tag, 0x00, 0x10]);
    p.extend(ASF_IANA.to_be_bytes());
    p.extend([0, 0, 0, 0]);
    p.extend([0x81, 0x00]);
    p.extend([0; 6]);
    p
}

/// Wraps an IPMI message in an IPMI 1.5 session wrapper.
pub fn wrap_v15(auth_type: u8, seq: u32, session_id: u32, auth_code: Option<&[u8; 16]>, message: &[u8]) -> Vec<u8> {
    let mut p = IPMI_HEADER.to_vec();
    p.push(auth_type);
    p.extend(seq.to_le_bytes());
    p.extend(session_id.to_le_bytes());
    if let Some(code) = auth_code {
        p.extend(code);
    }
    p.push(u8::try_from(message.len()).unwrap_or(u8::MAX));
    p.extend(message.get(..255).unwrap_or(message));
    p
}

/// The RMCP+ session header (without the RMCP header) of a payload of `len` bytes.
pub fn v20_header(
    payload_type: u8,
    encrypted: bool,
    authenticated: bool,
    session_id: u32,
    seq: u32,
    len: usize,
) -> Vec<u8> {
    let mut h = vec![AUTH_RMCPP];
    h.push(payload_type | if encrypted { 0x80 } else { 0 } | if authenticated { 0x40 } else { 0 });
    h.extend(session_id.to_le_bytes());
    h.extend(seq.to_le_bytes());
    h.extend(u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes());
    h
}

/// The integrity pad of an authenticated RMCP+ packet whose session part so far is
/// `len` bytes: 0xFF bytes so that the part, the pad, the pad length and the next
/// header byte are a multiple of four.
pub fn integrity_pad(len: usize) -> usize {
    (4 - (len + 2) % 4) % 4
}

/// The two's complement checksum IPMI messages carry.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)).wrapping_neg()
}

/// An IPMI request message (LAN format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Responder's slave address (the BMC, 0x20).
    pub rs_addr: u8,
    /// Network function.
    pub netfn: u8,
    /// Responder's LUN.
    pub rs_lun: u8,
    /// Requester's address (the console, 0x81).
    pub rq_addr: u8,
    /// Requester's sequence number.
    pub rq_seq: u8,
    /// Requester's LUN.
    pub rq_lun: u8,
    /// Command.
    pub cmd: u8,
    /// Request data.
    pub data: &'a [u8],
}

/// Decodes an IPMI request message; both checksums must hold.
pub fn decode_request(msg: &[u8]) -> WireResult<Request<'_>> {
    let mut r = Reader::new(msg);
    let head = r.peek(3)?;
    if checksum(head) != 0 {
        return Err(invalid(&r, "header checksum"));
    }
    let rs_addr = r.u8()?;
    let nl = r.u8()?;
    r.skip(1)?;
    let body = r.rest();
    if body.len() < 4 || checksum(body) != 0 {
        return Err(invalid(&r, "data checksum"));
    }
    let rq_addr = r.u8()?;
    let sl = r.u8()?;
    let cmd = r.u8()?;
    let data = r.take(r.remaining().saturating_sub(1))?;
    Ok(Request {
        rs_addr,
        netfn: nl >> 2,
        rs_lun: nl & 3,
        rq_addr,
        rq_seq: sl >> 2,
        rq_lun: sl & 3,
        cmd,
        data,
    })
}

/// The response message to `req` with completion code `cc` and `data`.
pub fn encode_response(req: &Request<'_>, cc: u8, data: &[u8]) -> Vec<u8> {
    let mut m = vec![req.rq_addr, ((req.netfn | 1) << 2) | req.rq_lun];
    m.push(checksum(&m));
    let start = m.len();
    m.extend([req.rs_addr, (req.rq_seq << 2) | req.rs_lun, req.cmd, cc]);
    m.extend(data);
    let c = checksum(m.get(start..).unwrap_or_default());
    m.push(c);
    m
}

/// Encodes a request message (what a console sends): for tests and the benchmark.
pub fn encode_request(netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0x20, netfn << 2];
    m.push(checksum(&m));
    let start = m.len();
    m.extend([0x81, rq_seq << 2, cmd]);
    m.extend(data);
    let c = checksum(m.get(start..).unwrap_or_default());
    m.push(c);
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use conpot_core::hex;

    #[test]
    fn decodes_nmap_get_channel_auth_caps() {
        // What nmap's ipmi-version and ipmitool send first.
        let d = hex::decode("0600ff07000000000000000000092018c88100388e04b5").unwrap();
        let Packet::V15(v) = decode(&d).unwrap() else { panic!() };
        assert_eq!((v.auth_type, v.session_id, v.auth_code), (0, 0, None));
        let req = decode_request(v.message).unwrap();
        assert_eq!((req.netfn, req.cmd, req.data), (6, 0x38, &[0x8e, 0x04][..]));
        let rsp = encode_response(&req, 0, &[1, 2]);
        assert_eq!(rsp[0], 0x81);
        assert_eq!(rsp[1], 0x1c);
        assert_eq!(checksum(&rsp[..3]), 0);
        assert_eq!(checksum(&rsp[3..]), 0);
    }

    #[test]
    fn decodes_asf_ping_and_answers_pong() {
        let d = hex::decode("06000006000011be80c40000").unwrap();
        assert_eq!(
            decode(&d).unwrap(),
            Packet::Asf {
                rmcp_seq: 0,
                msg_type: ASF_PING,
                tag: 0xc4
            }
        );
        let p = pong(0, 0xc4);
        assert_eq!(p.len(), 28);
        assert_eq!(&p[8..12], &[0x40, 0xc4, 0x00, 0x10]);
    }

    #[test]
    fn decodes_rmcpp_open_session_request() {
        let d = hex::decode(
            "0600ff0706100000000000000000200000000000a4a3a2a0000000080100000001000008010000000200000801000000",
        )
        .unwrap();
        let Packet::V20(v) = decode(&d).unwrap() else { panic!() };
        assert_eq!(v.payload_type, PAYLOAD_OPEN_REQ);
        assert_eq!(v.payload.len(), 32);
        assert_eq!(v.payload_end, v.session_part.len());
    }

    #[test]
    fn bad_checksums_are_refused() {
        let mut m = encode_request(6, 1, 3, &[]);
        assert!(decode_request(&m).is_ok());
        m[4] ^= 1;
        assert!(decode_request(&m).is_err());
    }
}
