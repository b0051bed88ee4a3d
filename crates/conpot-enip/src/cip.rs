//! CIP messages: the Message Router request (service, EPATH, data), its reply with general
//! and extended status, and the segments of an EPATH (logical class/instance/attribute/
//! member/connection point, port segments of route paths, ANSI symbols of Logix tags).

use conpot_core::wire::{Reader, WireError, WireResult, Writer};

/// General status codes (CIP Vol. 1, appendix B).
pub mod general {
    /// Success.
    pub const SUCCESS: u8 = 0x00;
    /// A connection-related service failed (extended status says why).
    pub const CONNECTION_FAILURE: u8 = 0x01;
    /// The path could not be parsed or names nothing (Logix: unknown tag).
    pub const PATH_SEGMENT_ERROR: u8 = 0x04;
    /// The path names an object class or instance that does not exist.
    pub const PATH_DESTINATION_UNKNOWN: u8 = 0x05;
    /// Only part of the data was sent (Read Tag Fragmented continues).
    pub const PARTIAL_TRANSFER: u8 = 0x06;
    /// The object does not implement the service.
    pub const SERVICE_NOT_SUPPORTED: u8 = 0x08;
    /// An attribute value in the request is invalid.
    pub const INVALID_ATTRIBUTE_VALUE: u8 = 0x09;
    /// The attribute cannot be written.
    pub const ATTRIBUTE_NOT_SETTABLE: u8 = 0x0E;
    /// The request carries too little data.
    pub const NOT_ENOUGH_DATA: u8 = 0x13;
    /// The attribute does not exist.
    pub const ATTRIBUTE_NOT_SUPPORTED: u8 = 0x14;
    /// The request carries too much data.
    pub const TOO_MUCH_DATA: u8 = 0x15;
    /// The instance does not exist.
    pub const OBJECT_DOES_NOT_EXIST: u8 = 0x16;
    /// One of the services of a Multiple Service Packet failed.
    pub const EMBEDDED_SERVICE_ERROR: u8 = 0x1E;
    /// A parameter of the request is invalid (Logix: a data type mismatch).
    pub const INVALID_PARAMETER: u8 = 0x20;
    /// The path size does not match the path.
    pub const PATH_SIZE_INVALID: u8 = 0x26;
}

/// Common service codes.
pub mod service {
    /// Get_Attributes_All.
    pub const GET_ATTRIBUTES_ALL: u8 = 0x01;
    /// Get_Attribute_List.
    pub const GET_ATTRIBUTE_LIST: u8 = 0x03;
    /// Reset.
    pub const RESET: u8 = 0x05;
    /// Multiple_Service_Packet.
    pub const MULTIPLE_SERVICE_PACKET: u8 = 0x0A;
    /// Get_Attribute_Single.
    pub const GET_ATTRIBUTE_SINGLE: u8 = 0x0E;
    /// Set_Attribute_Single.
    pub const SET_ATTRIBUTE_SINGLE: u8 = 0x10;
    /// Logix Read Tag.
    pub const READ_TAG: u8 = 0x4C;
    /// Logix Write Tag.
    pub const WRITE_TAG: u8 = 0x4D;
    /// Connection Manager Forward Close.
    pub const FORWARD_CLOSE: u8 = 0x4E;
    /// Connection Manager Unconnected Send, or Logix Read Tag Fragmented on a tag.
    pub const UNCONNECTED_SEND: u8 = 0x52;
    /// Logix Write Tag Fragmented.
    pub const WRITE_TAG_FRAGMENTED: u8 = 0x53;
    /// Connection Manager Forward Open.
    pub const FORWARD_OPEN: u8 = 0x54;
    /// Logix Get Instance Attribute List (the tag listing).
    pub const GET_INSTANCE_ATTRIBUTE_LIST: u8 = 0x55;
    /// Connection Manager Large Forward Open.
    pub const LARGE_FORWARD_OPEN: u8 = 0x5B;
}

/// Object classes served.
pub mod class {
    /// Identity.
    pub const IDENTITY: u16 = 0x01;
    /// Message Router.
    pub const MESSAGE_ROUTER: u16 = 0x02;
    /// Connection Manager.
    pub const CONNECTION_MANAGER: u16 = 0x06;
    /// TCP/IP Interface.
    pub const TCP_IP: u16 = 0xF5;
    /// Ethernet Link.
    pub const ETHERNET_LINK: u16 = 0xF6;
    /// Logix program name (the controller's project name).
    pub const PROGRAM_NAME: u16 = 0x64;
    /// Logix symbol object: one instance per tag.
    pub const SYMBOL: u16 = 0x6B;
}

/// Largest number of path segments accepted (real paths have two to six).
pub const MAX_SEGMENTS: usize = 16;

/// One EPATH segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Logical class id.
    Class(u32),
    /// Logical instance id.
    Instance(u32),
    /// Logical attribute id.
    Attribute(u32),
    /// Logical member id (a Logix array element).
    Member(u32),
    /// Logical connection point.
    ConnectionPoint(u32),
    /// Port segment: port and link address (the backplane slot for port 1).
    Port {
        /// Port number.
        port: u16,
        /// Link address bytes.
        link: Vec<u8>,
    },
    /// ANSI extended symbolic segment (a Logix tag name).
    Symbol(Vec<u8>),
    /// Electronic key (accepted, not checked).
    Key,
}

/// Reads an EPATH of `words` 16-bit words.
pub fn read_path(r: &mut Reader<'_>, words: usize) -> WireResult<Vec<Segment>> {
    let mut p = r.sub(words * 2)?;
    read_segments(&mut p, true)
}

/// Reads segments to the end of `p`; `padded` says whether 16/32-bit logical values are
/// preceded by a pad byte (padded EPATH, as in every Message Router request).
pub fn read_segments(p: &mut Reader<'_>, padded: bool) -> WireResult<Vec<Segment>> {
    let mut segs = Vec::new();
    while !p.is_empty() {
        if segs.len() >= MAX_SEGMENTS {
            return Err(WireError::TooLong {
                at: p.offset(),
                len: segs.len() + 1,
                max: MAX_SEGMENTS,
            });
        }
        let at = p.offset();
        let b = p.u8()?;
        let seg = match b {
            0x00..=0x1F => {
                let extended = b & 0x10 != 0;
                let mut port = u16::from(b & 0x0F);
                let link_len = if extended { usize::from(p.u8()?) } else { 1 };
                if port == 0x0F {
                    port = p.u16_le()?;
                }
                let link = p.take(link_len)?.to_vec();
                if (1 + usize::from(extended) + link_len + if b & 0x0F == 0x0F { 2 } else { 0 }) % 2 == 1 {
                    p.skip(1)?;
                }
                Segment::Port { port, link }
            }
            0x20..=0x3F => {
                let value = match b & 0x03 {
                    0 => u32::from(p.u8()?),
                    1 => {
                        if padded {
                            p.skip(1)?;
                        }
                        u32::from(p.u16_le()?)
                    }
                    2 => {
                        if padded {
                            p.skip(1)?;
                        }
                        p.u32_le()?
                    }
                    _ => {
                        return Err(WireError::Invalid {
                            at,
                            what: "a logical format of 8, 16 or 32 bits",
                        });
                    }
                };
                match b & 0x1C {
                    0x00 => Segment::Class(value),
                    0x04 => Segment::Instance(value),
                    0x08 => Segment::Member(value),
                    0x0C => Segment::ConnectionPoint(value),
                    0x10 => Segment::Attribute(value),
                    0x14 if b == 0x34 => {
                        // Electronic key: the format byte was read as the value; 8 key bytes follow.
                        p.skip(8)?;
                        Segment::Key
                    }
                    _ => {
                        return Err(WireError::Invalid {
                            at,
                            what: "a logical segment type",
                        });
                    }
                }
            }
            0x91 => {
                let n = usize::from(p.u8()?);
                let name = p.take(n)?.to_vec();
                if n % 2 == 1 {
                    p.skip(1)?;
                }
                Segment::Symbol(name)
            }
            _ => {
                return Err(WireError::Invalid {
                    at,
                    what: "a port, logical or symbolic segment",
                });
            }
        };
        segs.push(seg);
    }
    Ok(segs)
}

/// A Message Router request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Service code.
    pub service: u8,
    /// The request path.
    pub path: Vec<Segment>,
    /// Service data.
    pub data: &'a [u8],
}

/// Why a request could not be read: the general status to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable {
    /// The service code, when at least that was read.
    pub service: u8,
    /// General status (path segment error, path size invalid).
    pub status: u8,
}

/// Reads a Message Router request.
pub fn read_request(bytes: &[u8]) -> Result<Request<'_>, Unreadable> {
    let mut r = Reader::new(bytes);
    let service = r.u8().map_err(|_| Unreadable {
        service: 0,
        status: general::NOT_ENOUGH_DATA,
    })?;
    let words = r.u8().map_err(|_| Unreadable {
        service,
        status: general::PATH_SIZE_INVALID,
    })?;
    let mut p = r.sub(usize::from(words) * 2).map_err(|_| Unreadable {
        service,
        status: general::PATH_SIZE_INVALID,
    })?;
    let path = read_segments(&mut p, true).map_err(|_| Unreadable {
        service,
        status: general::PATH_SEGMENT_ERROR,
    })?;
    Ok(Request {
        service,
        path,
        data: r.take_rest(),
    })
}

/// The class, instance and attribute a logical path names (instance 1 by default for a
/// path with a class only is not assumed: `None`).
pub fn logical(path: &[Segment]) -> (Option<u32>, Option<u32>, Option<u32>) {
    let (mut c, mut i, mut a) = (None, None, None);
    for s in path {
        match s {
            Segment::Class(v) => c = Some(*v),
            Segment::Instance(v) => i = Some(*v),
            Segment::Attribute(v) => a = Some(*v),
            _ => {}
        }
    }
    (c, i, a)
}

/// A Message Router reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Service code of the request (the reply bit is added on encoding).
    pub service: u8,
    /// General status.
    pub status: u8,
    /// Extended status words.
    pub extended: Vec<u16>,
    /// Reply data.
    pub data: Vec<u8>,
}

impl Reply {
    /// A successful reply with `data`.
    pub fn ok(service: u8, data: Vec<u8>) -> Reply {
        Reply {
            service,
            status: general::SUCCESS,
            extended: Vec::new(),
            data,
        }
    }

    /// An error reply.
    pub fn error(service: u8, status: u8) -> Reply {
        Reply {
            service,
            status,
            extended: Vec::new(),
            data: Vec::new(),
        }
    }

    /// An error reply with one extended status word.
    pub fn error_ext(service: u8, status: u8, ext: u16) -> Reply {
        Reply {
            service,
            status,
            extended: vec![ext],
            data: Vec::new(),
        }
    }

    /// Writes the reply.
    pub fn encode(&self, w: &mut Writer<'_>) -> WireResult<()> {
        w.put_u8(self.service | 0x80)?;
        w.put_u8(0)?;
        w.put_u8(self.status)?;
        w.put_u8(u8::try_from(self.extended.len()).unwrap_or(u8::MAX))?;
        for e in self.extended.iter().take(usize::from(u8::MAX)) {
            w.put_u16_le(*e)?;
        }
        w.put_bytes(&self.data)
    }

    /// The reply as bytes (within `limit`; an over-long reply becomes "too much data").
    pub fn to_bytes(&self, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        if conpot_core::wire::append(&mut out, limit, |w| self.encode(w)).is_err() {
            out.clear();
            let _ = conpot_core::wire::append(&mut out, limit, |w| {
                Reply::error(self.service, general::TOO_MUCH_DATA).encode(w)
            });
        }
        out
    }
}

/// Names a service for events.
pub fn service_name(service: u8, class: Option<u32>) -> &'static str {
    match (service, class) {
        (service::GET_ATTRIBUTES_ALL, _) => "get_attributes_all",
        (service::GET_ATTRIBUTE_LIST, _) => "get_attribute_list",
        (service::RESET, _) => "reset",
        (service::MULTIPLE_SERVICE_PACKET, _) => "multiple_service_packet",
        (service::GET_ATTRIBUTE_SINGLE, _) => "get_attribute_single",
        (service::SET_ATTRIBUTE_SINGLE, _) => "set_attribute_single",
        (service::READ_TAG, _) => "read_tag",
        (service::WRITE_TAG, _) => "write_tag",
        (service::FORWARD_CLOSE, Some(6)) => "forward_close",
        (service::UNCONNECTED_SEND, Some(6)) => "unconnected_send",
        (service::UNCONNECTED_SEND, _) => "read_tag_fragmented",
        (service::WRITE_TAG_FRAGMENTED, _) => "write_tag_fragmented",
        (service::FORWARD_OPEN, _) => "forward_open",
        (service::LARGE_FORWARD_OPEN, _) => "large_forward_open",
        (service::GET_INSTANCE_ATTRIBUTE_LIST, _) => "get_instance_attribute_list",
        _ => "unknown",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn reads_logical_paths_of_every_width() {
        // Get_Attribute_Single class 0x01 instance 1 attribute 7.
        let r = read_request(&[0x0e, 0x03, 0x20, 0x01, 0x24, 0x01, 0x30, 0x07]).unwrap();
        assert_eq!(r.service, 0x0e);
        assert_eq!(logical(&r.path), (Some(1), Some(1), Some(7)));
        // 16-bit class and instance with pad bytes.
        let r = read_request(&[0x01, 0x04, 0x21, 0x00, 0xf5, 0x00, 0x25, 0x00, 0x01, 0x00]).unwrap();
        assert_eq!(logical(&r.path), (Some(0xf5), Some(1), None));
    }

    #[test]
    fn reads_route_and_symbolic_segments() {
        let mut p = Reader::new(&[0x01, 0x00]);
        assert_eq!(
            read_segments(&mut p, true).unwrap(),
            vec![Segment::Port { port: 1, link: vec![0] }]
        );
        let r = read_request(&[0x4c, 0x04, 0x91, 0x05, b'S', b'C', b'A', b'D', b'A', 0x00, 0x01, 0x00]).unwrap();
        assert_eq!(r.path, vec![Segment::Symbol(b"SCADA".to_vec())]);
        assert_eq!(r.data, &[0x01, 0x00]);
    }

    #[test]
    fn bad_paths_name_their_status() {
        assert_eq!(
            read_request(&[0x0e, 0x05, 0x20]).unwrap_err().status,
            general::PATH_SIZE_INVALID
        );
        assert_eq!(
            read_request(&[0x0e, 0x01, 0xff, 0x00]).unwrap_err().status,
            general::PATH_SEGMENT_ERROR
        );
    }

    #[test]
    fn replies_carry_extended_status() {
        let r = Reply::error_ext(0x54, general::CONNECTION_FAILURE, 0x0100);
        assert_eq!(r.to_bytes(64), vec![0xd4, 0, 0x01, 1, 0x00, 0x01]);
    }
}
