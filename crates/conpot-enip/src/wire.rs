//! The EtherNet/IP encapsulation layer: the 24-byte header every command starts with,
//! stream framing with a length limit, and the Common Packet Format (CPF) item lists that
//! SendRRData, SendUnitData and the List commands carry.

use conpot_core::wire::{Reader, WireError, WireResult, Writer};

/// Size of the encapsulation header.
pub const HEADER_LEN: usize = 24;

/// Largest command data accepted: a Large Forward Open connection carries at most 4002
/// bytes, so anything far beyond is not EtherNet/IP and framing is given up.
pub const MAX_DATA: usize = 8192;

/// Largest reply written (the header included).
pub const MAX_REPLY: usize = HEADER_LEN + MAX_DATA;

/// Encapsulation commands.
pub mod command {
    /// No operation: never answered.
    pub const NOP: u16 = 0x0000;
    /// List the encapsulation services (EtherNet/IP capability).
    pub const LIST_SERVICES: u16 = 0x0004;
    /// List the device identity (what every scanner sends first).
    pub const LIST_IDENTITY: u16 = 0x0063;
    /// List non-CIP interfaces (none here).
    pub const LIST_INTERFACES: u16 = 0x0064;
    /// Open an encapsulation session (TCP only).
    pub const REGISTER_SESSION: u16 = 0x0065;
    /// Close the encapsulation session.
    pub const UNREGISTER_SESSION: u16 = 0x0066;
    /// Unconnected explicit message (request/reply).
    pub const SEND_RR_DATA: u16 = 0x006F;
    /// Connected explicit message over a Forward Open connection.
    pub const SEND_UNIT_DATA: u16 = 0x0070;
}

/// Encapsulation status codes.
pub mod status {
    /// Success.
    pub const SUCCESS: u32 = 0x0000;
    /// The command is not supported (or not allowed on this transport).
    pub const INVALID_COMMAND: u32 = 0x0001;
    /// The data of the command is malformed.
    pub const INCORRECT_DATA: u32 = 0x0003;
    /// The session handle is not the one registered on this connection.
    pub const INVALID_SESSION: u32 = 0x0064;
    /// The length field does not fit the command.
    pub const INVALID_LENGTH: u32 = 0x0065;
    /// RegisterSession asked for another protocol version than 1.
    pub const UNSUPPORTED_PROTOCOL: u32 = 0x0069;
}

/// Common Packet Format item types.
pub mod item {
    /// Null address (unconnected messages).
    pub const NULL_ADDRESS: u16 = 0x0000;
    /// ListIdentity reply item.
    pub const IDENTITY: u16 = 0x000C;
    /// Connected address: the connection id.
    pub const CONNECTED_ADDRESS: u16 = 0x00A1;
    /// Connected data: sequence count and a CIP message.
    pub const CONNECTED_DATA: u16 = 0x00B1;
    /// Unconnected data: a CIP message.
    pub const UNCONNECTED_DATA: u16 = 0x00B2;
    /// ListServices reply item.
    pub const SERVICE: u16 = 0x0100;
    /// Socket address, originator to target.
    pub const SOCKADDR_O_T: u16 = 0x8000;
    /// Socket address, target to originator.
    pub const SOCKADDR_T_O: u16 = 0x8001;
}

/// The encapsulation header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The command.
    pub command: u16,
    /// Bytes of command data after the header.
    pub length: u16,
    /// Session handle (from RegisterSession).
    pub session: u32,
    /// Status (0 in requests).
    pub status: u32,
    /// Sender context, echoed in the reply so the client can match it.
    pub context: [u8; 8],
    /// Options (must be 0).
    pub options: u32,
}

impl Header {
    /// Reads a header.
    pub fn read(r: &mut Reader<'_>) -> WireResult<Header> {
        Ok(Header {
            command: r.u16_le()?,
            length: r.u16_le()?,
            session: r.u32_le()?,
            status: r.u32_le()?,
            context: r.array::<8>()?,
            options: r.u32_le()?,
        })
    }

    /// The header of a reply to this request, with `status`.
    pub fn reply(&self, status: u32) -> Header {
        Header {
            status,
            length: 0,
            options: 0,
            ..*self
        }
    }
}

/// Writes one encapsulation message: `header` (its length patched) then what `body`
/// writes, appended to `out` within [`MAX_REPLY`].
pub fn emit(
    header: &Header,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
) -> WireResult<usize> {
    conpot_core::wire::append(out, MAX_REPLY, |w| {
        w.put_u16_le(header.command)?;
        let len = w.reserve_u16_le()?;
        w.put_u32_le(header.session)?;
        w.put_u32_le(header.status)?;
        w.put_bytes(&header.context)?;
        w.put_u32_le(header.options)?;
        let start = w.position();
        body(w)?;
        w.patch_len_from(len, start).map(|_| ())
    })
}

/// The outcome of framing a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// Not a whole message yet.
    Incomplete,
    /// The header declares more data than [`MAX_DATA`]: framing is lost.
    TooLong(Header),
    /// One message: its header, its data, and its size in the stream.
    Frame {
        /// The header.
        header: Header,
        /// The command data.
        data: &'a [u8],
        /// Header plus data.
        size: usize,
    },
}

/// Frames the first message of a stream (or a datagram).
pub fn frame(input: &[u8]) -> Framed<'_> {
    let mut r = Reader::new(input);
    let Ok(header) = Header::read(&mut r) else {
        return Framed::Incomplete;
    };
    let len = usize::from(header.length);
    if len > MAX_DATA {
        return Framed::TooLong(header);
    }
    match r.take(len) {
        Ok(data) => Framed::Frame {
            header,
            data,
            size: HEADER_LEN + len,
        },
        Err(_) => Framed::Incomplete,
    }
}

/// One CPF item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// Item type.
    pub kind: u16,
    /// Item data.
    pub data: &'a [u8],
}

/// Largest number of CPF items accepted (real messages carry two to four).
pub const MAX_ITEMS: usize = 8;

/// Reads a CPF item list (count, then items) to the end of `r`.
pub fn read_items<'a>(r: &mut Reader<'a>) -> WireResult<Vec<Item<'a>>> {
    let at = r.offset();
    let count = usize::from(r.u16_le()?);
    if count > MAX_ITEMS {
        return Err(WireError::TooLong {
            at,
            len: count,
            max: MAX_ITEMS,
        });
    }
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = r.u16_le()?;
        let len = usize::from(r.u16_le()?);
        items.push(Item {
            kind,
            data: r.take(len)?,
        });
    }
    Ok(items)
}

/// Writes one CPF item whose data `body` writes (its length patched).
pub fn put_item(w: &mut Writer<'_>, kind: u16, body: impl FnOnce(&mut Writer<'_>) -> WireResult<()>) -> WireResult<()> {
    w.put_u16_le(kind)?;
    let len = w.reserve_u16_le()?;
    body(w)?;
    w.patch_len(len).map(|_| ())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn frames_wait_for_the_whole_message() {
        let mut msg = vec![
            0x65, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 1, 0,
        ];
        assert_eq!(frame(&msg), Framed::Incomplete);
        msg.extend_from_slice(&[0, 0, 0xff]);
        let Framed::Frame { header, data, size } = frame(&msg) else {
            panic!("no frame");
        };
        assert_eq!((header.command, header.length, size), (0x65, 4, 28));
        assert_eq!(header.context, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(data, &[1, 0, 0, 0]);
    }

    #[test]
    fn an_oversized_length_loses_framing() {
        let msg = [
            0x6f, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(matches!(frame(&msg), Framed::TooLong(h) if h.length == 0xffff));
    }

    #[test]
    fn items_are_bounded_and_checked() {
        let bytes = [2, 0, 0, 0, 0, 0, 0xb2, 0, 2, 0, 0x0e, 0x03];
        let items = read_items(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(
            items[1],
            Item {
                kind: 0xb2,
                data: &[0x0e, 0x03]
            }
        );
        assert!(read_items(&mut Reader::new(&[2, 0, 0, 0, 0, 0, 0xb2, 0, 3, 0, 1])).is_err());
        assert!(read_items(&mut Reader::new(&[0xff, 0xff])).is_err());
    }
}
