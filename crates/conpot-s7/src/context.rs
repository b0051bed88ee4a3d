//! What every S7 handler works with, in one place: the CPU, the connection's S7 state,
//! the request being answered and the output, with the ways to answer it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use conpot_core::auth::Privilege;
use conpot_core::event::EventDraft;
use conpot_core::protocol::Output;
use conpot_core::wire::{self as core_wire, WireError, WireResult, Writer};

use crate::device::S7Device;
use crate::job::{Download, Upload};
use crate::userdata::Pending;
use crate::wire::{self, rosctr};

/// Header error: the service is not available in this state, not supported, or the
/// request cannot be read ("context not supported" is how a CPU answers a bad telegram).
pub(crate) const ERR_CONTEXT: u16 = 0x8104;
/// Header error: the PDU is longer than negotiated.
pub(crate) const ERR_PDU_SIZE: u16 = 0x8500;
/// Header error: access denied by the protection level.
pub(crate) const ERR_PROTECTED: u16 = 0xD604;
/// Header error: block not found.
pub(crate) const ERR_NO_BLOCK: u16 = 0xD209;

/// The S7 state of one connection, above COTP.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Whether Setup Communication was done (jobs before it get [`ERR_CONTEXT`]).
    pub ready: bool,
    /// The negotiated PDU size.
    pub pdu_size: u16,
    /// Sequence number of the last userdata answer.
    pub ud_seq: u8,
    /// Reference of the last job the CPU itself sent (download requests).
    pub job_ref: u16,
    /// The upload in progress.
    pub upload: Option<Upload>,
    /// The download in progress.
    pub download: Option<Download>,
    /// The rest of a long userdata answer, sent on the client's follow-up.
    pub pending: Option<Pending>,
    /// What the password given on this connection allows (`None`: no password yet).
    pub privilege: Option<Privilege>,
    /// The attacker's address, whose password attempts are counted.
    pub peer: IpAddr,
}

impl Default for Conn {
    fn default() -> Self {
        Conn {
            ready: false,
            pdu_size: 240,
            ud_seq: 0,
            job_ref: 0x0100,
            upload: None,
            download: None,
            pending: None,
            privilege: None,
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// One request being handled.
pub(crate) struct Ctx<'a> {
    /// The CPU every connection shares.
    pub dev: &'a S7Device,
    /// This connection's S7 state.
    pub conn: &'a mut Conn,
    /// The time the request arrived.
    pub now: SystemTime,
    /// The request's PDU reference, echoed in answers.
    pub pdu_ref: u16,
    /// The whole S7 PDU, logged with events.
    pub raw: &'a [u8],
    /// Where answers, events and files go.
    pub out: &'a mut Output,
    /// Largest TPDU negotiated on the COTP connection.
    pub tpdu_max: usize,
}

impl Ctx<'_> {
    /// An event of `kind` carrying the request's bytes.
    pub fn event(&self, kind: &'static str) -> EventDraft {
        let mut d = EventDraft::new(kind);
        d.body.raw = Some(self.raw.to_vec());
        d
    }

    /// Logs `d`.
    pub fn log(&mut self, d: EventDraft) {
        self.out.events.push(d);
    }

    /// Logs the request as malformed, saying why.
    pub fn malformed(&mut self, why: String) {
        let mut d = self.event("s7.malformed");
        d.body.error = Some(why);
        self.log(d);
    }

    /// Whether writes, control and clock setting are refused (protection level 2 or more
    /// and no password allowing writes given).
    pub fn protected_write(&self) -> bool {
        self.dev.config.protection >= 2 && !self.conn.privilege.is_some_and(Privilege::may_write)
    }

    /// Whether reads are refused too (protection level 3, no password allowing reads).
    pub fn protected_read(&self) -> bool {
        self.dev.config.protection >= 3 && !self.conn.privilege.is_some_and(Privilege::may_read)
    }

    /// Answers the request with an ACK_DATA carrying `error` and the parameter and data
    /// parts `param` and `data` write.
    pub fn reply(
        &mut self,
        error: u16,
        param: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
        data: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
    ) {
        self.send(rosctr::ACK_DATA, self.pdu_ref, Some(error), param, data);
    }

    /// Answers the request with a header error and nothing else.
    pub fn reply_error(&mut self, error: u16) {
        self.reply(error, wire::empty, wire::empty);
    }

    /// Sends an S7 PDU. One that does not fit the negotiated PDU size is replaced by an
    /// ACK_DATA with header error 0x8500, as a CPU refuses to send it.
    pub fn send(
        &mut self,
        rosctr: u8,
        pdu_ref: u16,
        error: Option<u16>,
        param: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
        data: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
    ) {
        let limit = usize::from(self.conn.pdu_size);
        let mut pdu = Vec::new();
        let built = core_wire::append(&mut pdu, limit, |w| {
            wire::write_s7(w, rosctr, pdu_ref, error, param, data)
        });
        if let Err(e) = built {
            let code = match e {
                WireError::TooLong { .. } => ERR_PDU_SIZE,
                _ => ERR_CONTEXT,
            };
            // The header alone always fits: the PDU size is at least 64.
            let _ = core_wire::append(&mut pdu, limit, |w| {
                wire::write_s7(w, rosctr::ACK_DATA, pdu_ref, Some(code), wire::empty, wire::empty)
            });
        }
        self.transmit(&pdu);
    }

    /// Frames `pdu` in DT TPDUs (sent after the device's response time, which the
    /// listener applies to every answer).
    fn transmit(&mut self, pdu: &[u8]) {
        if let Err(e) = wire::emit_dt(pdu, self.tpdu_max, &mut self.out.bytes) {
            // Cannot happen for a PDU within the negotiated size; if it did, the stream
            // would be lost, so the connection closes.
            self.malformed(format!("answer not framed: {e}"));
            self.out.close = true;
        }
    }
}
