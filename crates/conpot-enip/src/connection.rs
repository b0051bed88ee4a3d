//! CIP connections of one encapsulation session: Forward Open / Large Forward Open make
//! them (explicit messaging to the Message Router only), Forward Close ends them, and
//! SendUnitData finds them by the O->T connection id this device chose.

use conpot_core::wire::{Reader, WireResult, Writer};

use crate::cip::{self, Reply, Request, Segment, class, general, service};

/// Largest number of connections a session holds (a Logix CPU allows 32 per module).
pub const MAX_CONNECTIONS: usize = 32;

/// Connection Manager extended status codes.
pub mod ext {
    /// The connection triad is already in use.
    pub const DUPLICATE: u16 = 0x0100;
    /// Forward Close: no such connection.
    pub const NOT_FOUND: u16 = 0x0107;
    /// No connection resources left.
    pub const OUT_OF_CONNECTIONS: u16 = 0x0113;
    /// The connection path names something other than the Message Router.
    pub const INVALID_SEGMENT: u16 = 0x0315;
}

/// One open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// The id the originator sends with (chosen here).
    pub o_t_id: u32,
    /// The id this device sends with (chosen by the originator).
    pub t_o_id: u32,
    /// Connection serial number, originator vendor and originator serial: the triad.
    pub triad: (u16, u16, u32),
    /// Requested packet intervals, microseconds (O->T, T->O).
    pub rpi: (u32, u32),
    /// Timeout multiplier code.
    pub timeout_multiplier: u8,
    /// Largest O->T connection size, bytes.
    pub size: u32,
}

/// The connections of a session.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    open: Vec<Connection>,
    next_id: u32,
}

struct Open<'a> {
    t_o_id: u32,
    triad: (u16, u16, u32),
    multiplier: u8,
    rpi: (u32, u32),
    size: u32,
    path: Reader<'a>,
}

fn read_open(data: &[u8], large: bool) -> WireResult<Open<'_>> {
    let mut r = Reader::new(data);
    r.skip(2)?;
    r.skip(4)?;
    let t_o_id = r.u32_le()?;
    let triad = (r.u16_le()?, r.u16_le()?, r.u32_le()?);
    let multiplier = r.u8()?;
    r.skip(3)?;
    let rpi_ot = r.u32_le()?;
    let params_ot = if large { r.u32_le()? } else { u32::from(r.u16_le()?) };
    let rpi_to = r.u32_le()?;
    let _params_to = if large { r.u32_le()? } else { u32::from(r.u16_le()?) };
    r.skip(1)?;
    let words = usize::from(r.u8()?);
    let path = r.sub(words * 2)?;
    let size = if large { params_ot & 0xFFFF } else { params_ot & 0x01FF };
    Ok(Open {
        t_o_id,
        triad,
        multiplier,
        rpi: (rpi_ot, rpi_to),
        size,
        path,
    })
}

fn put_triad(w: &mut Writer<'_>, t: (u16, u16, u32)) -> WireResult<()> {
    w.put_u16_le(t.0)?;
    w.put_u16_le(t.1)?;
    w.put_u32_le(t.2)
}

fn failure(svc: u8, ext: u16, triad: (u16, u16, u32)) -> Reply {
    let mut data = Vec::new();
    let _ = conpot_core::wire::append(&mut data, 16, |w| {
        put_triad(w, triad)?;
        w.put_u8(0)?;
        w.put_u8(0)
    });
    Reply {
        service: svc,
        status: general::CONNECTION_FAILURE,
        extended: vec![ext],
        data,
    }
}

impl Connections {
    /// No connections; ids start from `seed` (drawn per session so ids are not the same
    /// on every connection).
    pub fn new(seed: u32) -> Self {
        Connections {
            open: Vec::new(),
            next_id: seed | 1,
        }
    }

    /// The connection whose O->T id is `id`.
    pub fn find(&self, id: u32) -> Option<&Connection> {
        self.open.iter().find(|c| c.o_t_id == id)
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether none are open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Forward Open and Large Forward Open.
    pub fn forward_open(&mut self, req: &Request<'_>) -> Reply {
        let svc = req.service;
        let Ok(mut open) = read_open(req.data, svc == service::LARGE_FORWARD_OPEN) else {
            return Reply::error(svc, general::NOT_ENOUGH_DATA);
        };
        let to_router = match cip::read_segments(&mut open.path, true) {
            Ok(segs) => {
                let logical: Vec<&Segment> = segs
                    .iter()
                    .filter(|s| !matches!(s, Segment::Port { .. } | Segment::Key))
                    .collect();
                matches!(
                    logical.as_slice(),
                    [Segment::Class(c), Segment::Instance(1)] if *c == u32::from(class::MESSAGE_ROUTER)
                )
            }
            Err(_) => false,
        };
        if !to_router {
            return failure(svc, ext::INVALID_SEGMENT, open.triad);
        }
        if self.open.iter().any(|c| c.triad == open.triad) {
            return failure(svc, ext::DUPLICATE, open.triad);
        }
        if self.open.len() >= MAX_CONNECTIONS {
            return failure(svc, ext::OUT_OF_CONNECTIONS, open.triad);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let conn = Connection {
            o_t_id: id,
            t_o_id: open.t_o_id,
            triad: open.triad,
            rpi: open.rpi,
            timeout_multiplier: open.multiplier,
            size: open.size,
        };
        self.open.push(conn);
        let mut data = Vec::new();
        let _ = conpot_core::wire::append(&mut data, 32, |w| {
            w.put_u32_le(conn.o_t_id)?;
            w.put_u32_le(conn.t_o_id)?;
            put_triad(w, conn.triad)?;
            w.put_u32_le(conn.rpi.0)?;
            w.put_u32_le(conn.rpi.1)?;
            w.put_u8(0)?;
            w.put_u8(0)
        });
        Reply::ok(svc, data)
    }

    /// Forward Close.
    pub fn forward_close(&mut self, req: &Request<'_>) -> Reply {
        let svc = req.service;
        let mut r = Reader::new(req.data);
        let triad = (|| {
            r.skip(2)?;
            Ok::<_, conpot_core::wire::WireError>((r.u16_le()?, r.u16_le()?, r.u32_le()?))
        })();
        let Ok(triad) = triad else {
            return Reply::error(svc, general::NOT_ENOUGH_DATA);
        };
        let Some(pos) = self.open.iter().position(|c| c.triad == triad) else {
            return failure(svc, ext::NOT_FOUND, triad);
        };
        self.open.remove(pos);
        let mut data = Vec::new();
        let _ = conpot_core::wire::append(&mut data, 16, |w| {
            put_triad(w, triad)?;
            w.put_u8(0)?;
            w.put_u8(0)
        });
        Reply::ok(svc, data)
    }
}
