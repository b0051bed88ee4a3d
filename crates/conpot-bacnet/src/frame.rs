//! BACnet/IP framing: BVLC (ASHRAE 135 Annex J), NPDU (clause 6) and APDU headers
//! (clause 20.1). Decoding splits and checks; `encode` builds answers addressed back
//! through the router a request came from.

use conpot_core::wire::{Reader, WireError, WireResult};

/// BVLC type of BACnet/IP.
pub const BVLC_TYPE: u8 = 0x81;
/// BVLC-Result.
pub const BVLC_RESULT: u8 = 0x00;
/// Forwarded-NPDU.
pub const BVLC_FORWARDED: u8 = 0x04;
/// Original-Unicast-NPDU.
pub const BVLC_UNICAST: u8 = 0x0A;
/// Original-Broadcast-NPDU.
pub const BVLC_BROADCAST: u8 = 0x0B;

/// APDU types.
pub mod pdu {
    /// Confirmed request.
    pub const CONFIRMED: u8 = 0;
    /// Unconfirmed request.
    pub const UNCONFIRMED: u8 = 1;
    /// Simple ACK.
    pub const SIMPLE_ACK: u8 = 2;
    /// Complex ACK.
    pub const COMPLEX_ACK: u8 = 3;
    /// Segment ACK.
    pub const SEGMENT_ACK: u8 = 4;
    /// Error.
    pub const ERROR: u8 = 5;
    /// Reject.
    pub const REJECT: u8 = 6;
    /// Abort.
    pub const ABORT: u8 = 7;
}

/// A remote station behind a router: network number and MAC address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Station {
    /// Network number.
    pub net: u16,
    /// MAC address (empty: broadcast on that network).
    pub addr: Vec<u8>,
}

/// What the BVLC and NPDU say about a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npdu<'a> {
    /// The BVLC function.
    pub function: u8,
    /// The NPDU is a network layer message (not an APDU).
    pub network_message: bool,
    /// Network priority (0 normal .. 3 life safety).
    pub priority: u8,
    /// The sender expects a reply.
    pub expecting_reply: bool,
    /// Destination network, if routed.
    pub dest: Option<Station>,
    /// Original source, if routed.
    pub source: Option<Station>,
    /// The APDU (or network message).
    pub apdu: &'a [u8],
}

/// The BVLC function of a datagram that is not an NPDU this device serves, and the
/// BVLC-Result code a device that is no BBMD answers it with.
pub fn bbmd_nak(function: u8) -> Option<u16> {
    Some(match function {
        0x01 => 0x0010,
        0x02 => 0x0020,
        0x05 => 0x0030,
        0x06 => 0x0040,
        0x08 => 0x0050,
        0x09 => 0x0060,
        _ => return None,
    })
}

fn invalid(r: &Reader<'_>, what: &'static str) -> WireError {
    WireError::Invalid { at: r.offset(), what }
}

fn station(r: &mut Reader<'_>) -> WireResult<Station> {
    let net = r.u16_be()?;
    let len = usize::from(r.u8()?);
    let addr = r.take(r.limit(len, 8)?)?.to_vec();
    Ok(Station { net, addr })
}

/// Decodes the BVLC and NPDU of a datagram. `Ok(Err(function))`: a BVLC function that
/// carries no NPDU.
pub fn decode(datagram: &[u8]) -> WireResult<Result<Npdu<'_>, u8>> {
    let mut r = Reader::new(datagram);
    r.expect_u8(BVLC_TYPE, "BVLC type")?;
    let function = r.u8()?;
    let len = usize::from(r.u16_be()?);
    if len != datagram.len() {
        return Err(invalid(&r, "BVLC length"));
    }
    match function {
        BVLC_UNICAST | BVLC_BROADCAST => {}
        BVLC_FORWARDED => r.skip(6)?,
        other => return Ok(Err(other)),
    }
    r.expect_u8(0x01, "NPDU version")?;
    let control = r.u8()?;
    let dest = if control & 0x20 != 0 {
        Some(station(&mut r)?)
    } else {
        None
    };
    let source = if control & 0x08 != 0 {
        Some(station(&mut r)?)
    } else {
        None
    };
    if dest.is_some() {
        r.skip(1)?; // hop count
    }
    let network_message = control & 0x80 != 0;
    Ok(Ok(Npdu {
        function,
        network_message,
        priority: control & 0x03,
        expecting_reply: control & 0x04 != 0,
        dest,
        source,
        apdu: r.rest(),
    }))
}

/// Wraps an APDU for the requester: Original-Unicast-NPDU, routed back to the request's
/// source network when it came through a router.
pub fn encode(apdu: &[u8], reply_to: Option<&Station>, priority: u8) -> Vec<u8> {
    let mut npdu = vec![0x01];
    match reply_to {
        Some(s) => {
            npdu.push(0x20 | (priority & 3));
            npdu.extend(s.net.to_be_bytes());
            npdu.push(s.addr.len() as u8);
            npdu.extend(&s.addr);
            npdu.push(0xFF);
        }
        None => npdu.push(priority & 3),
    }
    let mut out = vec![BVLC_TYPE, BVLC_UNICAST, 0, 0];
    out.extend(npdu);
    out.extend(apdu);
    let len = (out.len() as u16).to_be_bytes();
    if let Some(l) = out.get_mut(2..4) {
        l.copy_from_slice(&len);
    }
    out
}

/// A BVLC-Result with `code`.
pub fn bvlc_result(code: u16) -> Vec<u8> {
    let c = code.to_be_bytes();
    vec![BVLC_TYPE, BVLC_RESULT, 0, 6, c[0], c[1]]
}

/// The largest APDU a `max APDU` code of a confirmed request allows.
pub fn max_apdu(code: u8) -> usize {
    match code & 0x0F {
        0 => 50,
        1 => 128,
        2 => 206,
        3 => 480,
        4 => 1024,
        _ => 1476,
    }
}

/// How many segments a `max segments` code allows (`None`: unspecified).
pub fn max_segments(code: u8) -> Option<usize> {
    match (code >> 4) & 0x07 {
        0 => None,
        1 => Some(2),
        2 => Some(4),
        3 => Some(8),
        4 => Some(16),
        5 => Some(32),
        6 => Some(64),
        _ => Some(usize::MAX),
    }
}

/// The header of a confirmed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed {
    /// The request is segmented.
    pub segmented: bool,
    /// The client accepts a segmented answer.
    pub segmented_accepted: bool,
    /// Max segments and max APDU codes.
    pub limits: u8,
    /// Invoke id.
    pub invoke: u8,
    /// Service choice.
    pub service: u8,
}

/// Reads a confirmed request's header; the reader is left at the service request.
pub fn confirmed(r: &mut Reader<'_>) -> WireResult<Confirmed> {
    let b0 = r.u8()?;
    let segmented = b0 & 0x08 != 0;
    let limits = r.u8()?;
    let invoke = r.u8()?;
    if segmented {
        r.skip(2)?;
    }
    let service = r.u8()?;
    Ok(Confirmed {
        segmented,
        segmented_accepted: b0 & 0x02 != 0,
        limits,
        invoke,
        service,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_nmap_bacnet_info_and_routed_frames() {
        // nmap bacnet-info: ReadProperty(device 4194303, object-identifier).
        let d = conpot_core::hex::decode("810a001101040005010c0c023fffff194b").unwrap();
        let n = decode(&d).unwrap().unwrap();
        assert!(n.expecting_reply && n.dest.is_none() && n.source.is_none());
        assert_eq!(n.apdu.len(), 11);
        // Routed Who-Is from network 5, MAC 0x0a.
        let d = conpot_core::hex::decode("810b00100128ffff00000501 0aff1008".replace(' ', "").as_str()).unwrap();
        let n = decode(&d).unwrap().unwrap();
        assert_eq!(
            n.source,
            Some(Station {
                net: 5,
                addr: vec![0x0a]
            })
        );
        assert_eq!(n.apdu, [0x10, 0x08]);
        let back = encode(&[0x20, 1, 12], n.source.as_ref(), 0);
        assert_eq!(
            conpot_core::hex::encode(&back),
            "810a000e0120000501 0aff20010c".replace(' ', "")
        );
        assert_eq!(decode(&bvlc_result(0x30)).unwrap(), Err(0));
    }
}
