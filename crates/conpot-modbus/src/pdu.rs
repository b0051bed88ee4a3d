//! Modbus PDUs: requests parsed from bytes; responses that encode themselves for the wire
//! and describe themselves for the event log, so what is logged is what was sent.

use conpot_core::hex;
use conpot_core::wire::{Reader, WireError, WireResult, Writer};
use serde_json::{Value as Json, json};

use crate::wire::MAX_PDU;

/// Exception codes a server returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exception {
    /// 01: the function is not supported.
    IllegalFunction = 0x01,
    /// 02: the address range is not served.
    IllegalDataAddress = 0x02,
    /// 03: a value in the request is out of range or the request is malformed.
    IllegalDataValue = 0x03,
    /// 04: the server failed while performing the request.
    ServerDeviceFailure = 0x04,
    /// 0A: a gateway has no path to the target.
    GatewayPathUnavailable = 0x0A,
    /// 0B: a gateway's target did not answer.
    GatewayTargetFailed = 0x0B,
}

impl Exception {
    /// Name as in the Modbus specification.
    pub fn name(self) -> &'static str {
        match self {
            Exception::IllegalFunction => "ILLEGAL FUNCTION",
            Exception::IllegalDataAddress => "ILLEGAL DATA ADDRESS",
            Exception::IllegalDataValue => "ILLEGAL DATA VALUE",
            Exception::ServerDeviceFailure => "SERVER DEVICE FAILURE",
            Exception::GatewayPathUnavailable => "GATEWAY PATH UNAVAILABLE",
            Exception::GatewayTargetFailed => "GATEWAY TARGET DEVICE FAILED TO RESPOND",
        }
    }
}

impl Exception {
    /// The exception of code `code`, if it is one this crate knows.
    pub fn from_code(code: u8) -> Option<Exception> {
        Some(match code {
            0x01 => Exception::IllegalFunction,
            0x02 => Exception::IllegalDataAddress,
            0x03 => Exception::IllegalDataValue,
            0x04 => Exception::ServerDeviceFailure,
            0x0A => Exception::GatewayPathUnavailable,
            0x0B => Exception::GatewayTargetFailed,
            _ => return None,
        })
    }
}

impl From<WireError> for Exception {
    /// A request cut short or with bytes left over is malformed: ILLEGAL DATA VALUE.
    fn from(_: WireError) -> Self {
        Exception::IllegalDataValue
    }
}

/// A coil written on (FC 5).
const COIL_ON: u16 = 0xFF00;
/// A coil written off (FC 5).
const COIL_OFF: u16 = 0x0000;
/// MEI type of Read Device Identification (FC 43).
const MEI_DEVICE_ID: u8 = 0x0E;
/// The run indicator of Report Server ID: on.
const RUN_ON: u8 = 0xFF;

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Read/write bits (FC 1, 5, 15).
    Coils,
    /// Read-only bits (FC 2).
    DiscreteInputs,
    /// Read/write registers (FC 3, 6, 16).
    HoldingRegisters,
    /// Read-only registers (FC 4).
    InputRegisters,
}

impl Table {
    /// Name used in templates and events.
    pub fn name(self) -> &'static str {
        match self {
            Table::Coils => "coils",
            Table::DiscreteInputs => "discrete_inputs",
            Table::HoldingRegisters => "holding_registers",
            Table::InputRegisters => "input_registers",
        }
    }

    /// Whether the table holds bits.
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coils | Table::DiscreteInputs)
    }
}

/// A parsed request PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// FC 1 / 2.
    ReadBits {
        /// Coils or discrete inputs.
        table: Table,
        /// First address.
        address: u16,
        /// Number of bits.
        quantity: u16,
    },
    /// FC 3 / 4.
    ReadRegisters {
        /// Holding or input registers.
        table: Table,
        /// First address.
        address: u16,
        /// Number of registers.
        quantity: u16,
    },
    /// FC 5.
    WriteCoil {
        /// Address.
        address: u16,
        /// New state.
        value: bool,
    },
    /// FC 6.
    WriteRegister {
        /// Address.
        address: u16,
        /// New value.
        value: u16,
    },
    /// FC 15.
    WriteCoils {
        /// First address.
        address: u16,
        /// New states.
        values: Vec<bool>,
    },
    /// FC 16.
    WriteRegisters {
        /// First address.
        address: u16,
        /// New values.
        values: Vec<u16>,
    },
    /// FC 8.
    Diagnostics {
        /// Sub-function.
        sub: u16,
        /// Data following the sub-function.
        data: Vec<u8>,
    },
    /// FC 17.
    ReportServerId,
    /// FC 43 / MEI 14.
    ReadDeviceId {
        /// Read device id code (1 basic, 2 regular, 3 extended, 4 one object).
        code: u8,
        /// First (or only) object id.
        object: u8,
    },
    /// FC 43 with another MEI type.
    Mei {
        /// MEI type.
        mei: u8,
    },
    /// A function this server does not implement.
    Unsupported {
        /// Function code.
        function: u8,
    },
}

/// Reads an address and a quantity (or value) that are the whole of a request's data.
fn address_and_quantity(r: &mut Reader<'_>) -> Result<(u16, u16), Exception> {
    let address = r.u16_be()?;
    let quantity = r.u16_be()?;
    r.expect_end("nothing after the address and quantity")?;
    Ok((address, quantity))
}

/// Reads the header of a multiple write: address, quantity, byte count.
fn multi_header(r: &mut Reader<'_>) -> Result<(u16, u16, usize), Exception> {
    Ok((r.u16_be()?, r.u16_be()?, usize::from(r.u8()?)))
}

impl Request {
    /// Parses a request PDU; a malformed one yields the exception a device returns
    /// (an empty PDU: ILLEGAL FUNCTION; a request cut short or too long: ILLEGAL DATA VALUE).
    pub fn parse(pdu: &[u8]) -> Result<Request, Exception> {
        let mut r = Reader::new(pdu);
        let fc = r.u8().map_err(|_| Exception::IllegalFunction)?;
        Ok(match fc {
            0x01 | 0x02 => {
                let (address, quantity) = address_and_quantity(&mut r)?;
                if !(1..=2000).contains(&quantity) {
                    return Err(Exception::IllegalDataValue);
                }
                let table = if fc == 1 { Table::Coils } else { Table::DiscreteInputs };
                Request::ReadBits {
                    table,
                    address,
                    quantity,
                }
            }
            0x03 | 0x04 => {
                let (address, quantity) = address_and_quantity(&mut r)?;
                if !(1..=125).contains(&quantity) {
                    return Err(Exception::IllegalDataValue);
                }
                let table = if fc == 3 {
                    Table::HoldingRegisters
                } else {
                    Table::InputRegisters
                };
                Request::ReadRegisters {
                    table,
                    address,
                    quantity,
                }
            }
            0x05 => {
                let (address, raw) = address_and_quantity(&mut r)?;
                let value = match raw {
                    COIL_ON => true,
                    COIL_OFF => false,
                    _ => return Err(Exception::IllegalDataValue),
                };
                Request::WriteCoil { address, value }
            }
            0x06 => {
                let (address, value) = address_and_quantity(&mut r)?;
                Request::WriteRegister { address, value }
            }
            0x0F => {
                let (address, quantity, count) = multi_header(&mut r)?;
                if !(1..=0x07B0).contains(&quantity) || count != usize::from(quantity.div_ceil(8)) {
                    return Err(Exception::IllegalDataValue);
                }
                let bytes = r.take(count)?;
                r.expect_end("nothing after the coil values")?;
                let values = (0..usize::from(quantity))
                    .map(|i| bytes.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
                    .collect();
                Request::WriteCoils { address, values }
            }
            0x10 => {
                let (address, quantity, count) = multi_header(&mut r)?;
                if !(1..=0x7B).contains(&quantity) || count != 2 * usize::from(quantity) {
                    return Err(Exception::IllegalDataValue);
                }
                let values = (0..quantity).map(|_| r.u16_be()).collect::<WireResult<_>>()?;
                r.expect_end("nothing after the register values")?;
                Request::WriteRegisters { address, values }
            }
            0x08 => Request::Diagnostics {
                sub: r.u16_be()?,
                data: r.take_rest().to_vec(),
            },
            0x11 => {
                r.expect_end("no data in Report Server ID")?;
                Request::ReportServerId
            }
            0x2B => match r.u8()? {
                MEI_DEVICE_ID => {
                    let code = r.u8()?;
                    let object = r.u8()?;
                    r.expect_end("nothing after the object id")?;
                    Request::ReadDeviceId { code, object }
                }
                mei => Request::Mei { mei },
            },
            function => Request::Unsupported { function },
        })
    }

    /// Function code.
    pub fn function(&self) -> u8 {
        match self {
            Request::ReadBits {
                table: Table::Coils, ..
            } => 0x01,
            Request::ReadBits { .. } => 0x02,
            Request::ReadRegisters {
                table: Table::HoldingRegisters,
                ..
            } => 0x03,
            Request::ReadRegisters { .. } => 0x04,
            Request::WriteCoil { .. } => 0x05,
            Request::WriteRegister { .. } => 0x06,
            Request::WriteCoils { .. } => 0x0F,
            Request::WriteRegisters { .. } => 0x10,
            Request::Diagnostics { .. } => 0x08,
            Request::ReportServerId => 0x11,
            Request::ReadDeviceId { .. } | Request::Mei { .. } => 0x2B,
            Request::Unsupported { function } => *function,
        }
    }

    /// Whether the request changes data (executed by every slave on a broadcast).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::WriteCoil { .. }
                | Request::WriteRegister { .. }
                | Request::WriteCoils { .. }
                | Request::WriteRegisters { .. }
        )
    }

    /// The request decoded for the event log.
    pub fn to_json(&self) -> Json {
        let f = function_name(self.function());
        match self {
            Request::ReadBits {
                table,
                address,
                quantity,
            }
            | Request::ReadRegisters {
                table,
                address,
                quantity,
            } => {
                json!({"function": f, "table": table.name(), "address": address, "quantity": quantity})
            }
            Request::WriteCoil { address, value } => {
                json!({"function": f, "address": address, "value": value})
            }
            Request::WriteRegister { address, value } => {
                json!({"function": f, "address": address, "value": value})
            }
            Request::WriteCoils { address, values } => {
                json!({"function": f, "address": address, "values": values})
            }
            Request::WriteRegisters { address, values } => {
                json!({"function": f, "address": address, "values": values})
            }
            Request::Diagnostics { sub, data } => {
                json!({"function": f, "sub_function": sub, "data": conpot_core::hex::encode(data)})
            }
            Request::ReportServerId => json!({"function": f}),
            Request::ReadDeviceId { code, object } => {
                json!({"function": f, "read_code": code, "object_id": object})
            }
            Request::Mei { mei } => json!({"function": f, "mei_type": mei}),
            Request::Unsupported { function } => json!({"function": f, "function_code": function}),
        }
    }
}

/// A response PDU: what the device answers, which encodes itself for the wire and
/// describes itself for the event log (the session never reads its own reply back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// FC 1 / 2: the bits read.
    Bits {
        /// Function code.
        function: u8,
        /// The bits, first address first.
        bits: Vec<bool>,
    },
    /// FC 3 / 4: the registers read.
    Registers {
        /// Function code.
        function: u8,
        /// The values, first address first.
        values: Vec<u16>,
    },
    /// FC 5: the coil written (the request echoed).
    WriteCoil {
        /// Address.
        address: u16,
        /// New state.
        value: bool,
    },
    /// FC 6: the register written (the request echoed).
    WriteRegister {
        /// Address.
        address: u16,
        /// New value.
        value: u16,
    },
    /// FC 15 / 16: where writing started and how many were written.
    Written {
        /// Function code.
        function: u8,
        /// First address.
        address: u16,
        /// Number written.
        quantity: u16,
    },
    /// FC 8 sub-function 0 (return query data): the request echoed.
    Diagnostics {
        /// Sub-function.
        sub: u16,
        /// The data echoed.
        data: Vec<u8>,
    },
    /// FC 17: the server id, the run indicator and the additional data, cut to fit a PDU
    /// (build it with [`Response::server_id`]).
    ServerId {
        /// The bytes after the byte count.
        body: Vec<u8>,
    },
    /// FC 43 / MEI 14: device identification objects.
    DeviceId {
        /// Read device id code of the request.
        code: u8,
        /// Conformity level (0x81 basic, 0x82 regular, 0x83 extended).
        conformity: u8,
        /// Whether more objects follow in another request.
        more_follows: bool,
        /// The object to ask for next (0 when none follows).
        next_object: u8,
        /// The objects sent: id and value.
        objects: Vec<(u8, Vec<u8>)>,
    },
    /// An exception answering `function`.
    Exception {
        /// Function code of the request.
        function: u8,
        /// The exception.
        exception: Exception,
    },
}

impl Response {
    /// The Report Server ID answer: `id`, the run indicator (on), then `data`, cut so the
    /// PDU fits.
    pub fn server_id(id: &[u8], data: &[u8]) -> Response {
        let mut body = Vec::with_capacity(id.len() + 1 + data.len());
        body.extend_from_slice(id);
        body.push(RUN_ON);
        body.extend_from_slice(data);
        body.truncate(MAX_PDU - 2);
        Response::ServerId { body }
    }

    /// Parses a response PDU observed on the wire (a proxy's upstream answering
    /// `request`): the inverse of [`Response::encode`], so a relayed answer is described
    /// exactly as this server describes its own. `None` when the bytes are not a response
    /// to that request (another function, a byte count that disagrees, bytes left over).
    pub fn parse(request: &Request, pdu: &[u8]) -> Option<Response> {
        let mut r = Reader::new(pdu);
        let fc = r.u8().ok()?;
        let function = request.function();
        if fc == function | 0x80 {
            let exception = Exception::from_code(r.u8().ok()?)?;
            r.expect_end("nothing after the exception code").ok()?;
            return Some(Response::Exception { function, exception });
        }
        if fc != function {
            return None;
        }
        let resp = match request {
            Request::ReadBits { quantity, .. } => {
                let count = usize::from(r.u8().ok()?);
                let bytes = r.take(count).ok()?;
                if bytes.len() != usize::from(quantity.div_ceil(8)) {
                    return None;
                }
                let bits = (0..usize::from(*quantity))
                    .map(|i| bytes.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
                    .collect();
                Response::Bits { function, bits }
            }
            Request::ReadRegisters { quantity, .. } => {
                let count = usize::from(r.u8().ok()?);
                if count != 2 * usize::from(*quantity) {
                    return None;
                }
                let values = (0..*quantity).map(|_| r.u16_be()).collect::<WireResult<_>>().ok()?;
                Response::Registers { function, values }
            }
            Request::WriteCoil { .. } => {
                let address = r.u16_be().ok()?;
                let value = match r.u16_be().ok()? {
                    COIL_ON => true,
                    COIL_OFF => false,
                    _ => return None,
                };
                Response::WriteCoil { address, value }
            }
            Request::WriteRegister { .. } => Response::WriteRegister {
                address: r.u16_be().ok()?,
                value: r.u16_be().ok()?,
            },
            Request::WriteCoils { .. } | Request::WriteRegisters { .. } => Response::Written {
                function,
                address: r.u16_be().ok()?,
                quantity: r.u16_be().ok()?,
            },
            Request::Diagnostics { .. } => Response::Diagnostics {
                sub: r.u16_be().ok()?,
                data: r.take_rest().to_vec(),
            },
            Request::ReportServerId => {
                let count = usize::from(r.u8().ok()?);
                let body = r.take(count).ok()?;
                Response::ServerId { body: body.to_vec() }
            }
            Request::ReadDeviceId { .. } => {
                if r.u8().ok()? != MEI_DEVICE_ID {
                    return None;
                }
                let code = r.u8().ok()?;
                let conformity = r.u8().ok()?;
                let more_follows = r.u8().ok()? != 0;
                let next_object = r.u8().ok()?;
                let count = r.u8().ok()?;
                let mut objects = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    let id = r.u8().ok()?;
                    let len = usize::from(r.u8().ok()?);
                    let value = r.take(len).ok()?;
                    objects.push((id, value.to_vec()));
                }
                Response::DeviceId {
                    code,
                    conformity,
                    more_follows,
                    next_object,
                    objects,
                }
            }
            Request::Mei { .. } | Request::Unsupported { .. } => return None,
        };
        r.expect_end("nothing after the response").ok()?;
        Some(resp)
    }

    /// Writes the PDU.
    pub fn encode(&self, w: &mut Writer<'_>) -> WireResult<()> {
        match self {
            Response::Bits { function, bits } => {
                w.put_u8(*function)?;
                let count = w.reserve_u8()?;
                w.put_bytes(&pack_bits(bits.iter().copied()))?;
                w.patch_len(count).map(drop)
            }
            Response::Registers { function, values } => {
                w.put_u8(*function)?;
                let count = w.reserve_u8()?;
                values.iter().try_for_each(|&v| w.put_u16_be(v))?;
                w.patch_len(count).map(drop)
            }
            Response::WriteCoil { address, value } => {
                w.put_u8(0x05)?;
                w.put_u16_be(*address)?;
                w.put_u16_be(if *value { COIL_ON } else { COIL_OFF })
            }
            Response::WriteRegister { address, value } => {
                w.put_u8(0x06)?;
                w.put_u16_be(*address)?;
                w.put_u16_be(*value)
            }
            Response::Written {
                function,
                address,
                quantity,
            } => {
                w.put_u8(*function)?;
                w.put_u16_be(*address)?;
                w.put_u16_be(*quantity)
            }
            Response::Diagnostics { sub, data } => {
                w.put_u8(0x08)?;
                w.put_u16_be(*sub)?;
                w.put_bytes(data)
            }
            Response::ServerId { body } => {
                w.put_u8(0x11)?;
                let count = w.reserve_u8()?;
                w.put_bytes(body)?;
                w.patch_len(count).map(drop)
            }
            Response::DeviceId {
                code,
                conformity,
                more_follows,
                next_object,
                objects,
            } => {
                w.put_bytes(&[0x2B, MEI_DEVICE_ID, *code, *conformity])?;
                w.put_u8(if *more_follows { 0xFF } else { 0x00 })?;
                w.put_u8(*next_object)?;
                let count = w.reserve_u8()?;
                for (id, value) in objects {
                    w.put_u8(*id)?;
                    let len = w.reserve_u8()?;
                    w.put_bytes(value)?;
                    w.patch_len(len)?;
                }
                w.patch(count, objects.len())
            }
            Response::Exception { function, exception } => {
                w.put_u8(function | 0x80)?;
                w.put_u8(*exception as u8)
            }
        }
    }

    /// The response decoded for the event log.
    pub fn describe(&self) -> Json {
        match self {
            Response::Exception { exception, .. } => {
                json!({"exception": *exception as u8, "exception_name": exception.name()})
            }
            Response::Bits { bits, .. } => {
                json!({"values": bits.iter().map(|&b| u8::from(b)).collect::<Vec<_>>()})
            }
            Response::Registers { values, .. } => json!({"values": values}),
            Response::ServerId { body } => {
                json!({"server_id": String::from_utf8_lossy(body), "raw": hex::encode(body)})
            }
            Response::DeviceId {
                conformity,
                more_follows,
                next_object,
                objects,
                ..
            } => {
                let objects: serde_json::Map<String, Json> = objects
                    .iter()
                    .map(|(id, v)| (format!("{id:#04x}"), String::from_utf8_lossy(v).into()))
                    .collect();
                json!({
                    "conformity": conformity,
                    "more_follows": more_follows,
                    "next_object_id": next_object,
                    "objects": objects,
                })
            }
            Response::WriteCoil { .. }
            | Response::WriteRegister { .. }
            | Response::Written { .. }
            | Response::Diagnostics { .. } => json!({"ok": true}),
        }
    }
}

/// Name of a function code, as in the specification.
pub fn function_name(fc: u8) -> &'static str {
    match fc {
        0x01 => "read_coils",
        0x02 => "read_discrete_inputs",
        0x03 => "read_holding_registers",
        0x04 => "read_input_registers",
        0x05 => "write_single_coil",
        0x06 => "write_single_register",
        0x07 => "read_exception_status",
        0x08 => "diagnostics",
        0x0B => "get_comm_event_counter",
        0x0C => "get_comm_event_log",
        0x0F => "write_multiple_coils",
        0x10 => "write_multiple_registers",
        0x11 => "report_server_id",
        0x14 => "read_file_record",
        0x15 => "write_file_record",
        0x16 => "mask_write_register",
        0x17 => "read_write_multiple_registers",
        0x18 => "read_fifo_queue",
        0x2B => "encapsulated_interface_transport",
        _ => "unknown",
    }
}

/// Packs bits LSB-first into bytes, as read responses carry them.
pub fn pack_bits(bits: impl ExactSizeIterator<Item = bool>) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, b) in bits.enumerate() {
        if b && let Some(byte) = out.get_mut(i / 8) {
            *byte |= 1 << (i % 8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_and_limits() {
        assert_eq!(
            Request::parse(&[0x01, 0x00, 0x01, 0x00, 0x80]),
            Ok(Request::ReadBits {
                table: Table::Coils,
                address: 1,
                quantity: 128
            })
        );
        assert_eq!(
            Request::parse(&[0x01, 0x00, 0x01, 0x07, 0xD1]),
            Err(Exception::IllegalDataValue)
        );
        assert_eq!(
            Request::parse(&[0x03, 0x00, 0x00, 0x00, 0x7E]),
            Err(Exception::IllegalDataValue)
        );
        assert_eq!(
            Request::parse(&[0x03, 0x00, 0x00, 0x00, 0x00]),
            Err(Exception::IllegalDataValue)
        );
        assert_eq!(
            Request::parse(&[0x03, 0x00, 0x00, 0x00]),
            Err(Exception::IllegalDataValue)
        );
        assert_eq!(
            Request::parse(&[0x05, 0x00, 0x01, 0x12, 0x34]),
            Err(Exception::IllegalDataValue)
        );
        assert_eq!(Request::parse(&[0x07]), Ok(Request::Unsupported { function: 7 }));
    }

    #[test]
    fn parse_writes() {
        assert_eq!(
            Request::parse(&[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01]),
            Ok(Request::WriteCoils {
                address: 0x13,
                values: vec![true, false, true, true, false, false, true, true, true, false]
            })
        );
        assert_eq!(
            Request::parse(&[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x01, 0xCD]),
            Err(Exception::IllegalDataValue)
        );
        assert_eq!(
            Request::parse(&[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02]),
            Ok(Request::WriteRegisters {
                address: 1,
                values: vec![0x000A, 0x0102]
            })
        );
        assert_eq!(
            Request::parse(&[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A]),
            Err(Exception::IllegalDataValue)
        );
        assert_eq!(
            Request::parse(&[0x2B, 0x0E, 0x01, 0x00]),
            Ok(Request::ReadDeviceId { code: 1, object: 0 })
        );
        assert_eq!(Request::parse(&[0x2B, 0x0D]), Ok(Request::Mei { mei: 0x0D }));
    }

    #[test]
    fn requests_cut_short_are_illegal_data_value() {
        let requests: [&[u8]; 7] = [
            &[0x01, 0x00, 0x01, 0x00, 0x80],
            &[0x03, 0x00, 0x00, 0x00, 0x02],
            &[0x05, 0x00, 0x01, 0xFF, 0x00],
            &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01],
            &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
            &[0x08, 0x00, 0x00],
            &[0x2B, 0x0E, 0x01, 0x00],
        ];
        for req in requests {
            assert!(Request::parse(req).is_ok(), "{req:02x?}");
            for cut in 1..req.len() {
                assert_eq!(
                    Request::parse(&req[..cut]),
                    Err(Exception::IllegalDataValue),
                    "{req:02x?} cut at {cut}"
                );
            }
            let mut long = req.to_vec();
            long.push(0);
            if req[0] != 0x08 {
                assert_eq!(
                    Request::parse(&long),
                    Err(Exception::IllegalDataValue),
                    "{req:02x?} + 1"
                );
            }
        }
        assert_eq!(Request::parse(&[]), Err(Exception::IllegalFunction));
    }

    fn encoded(resp: &Response) -> Vec<u8> {
        let mut out = Vec::new();
        conpot_core::wire::append(&mut out, MAX_PDU, |w| resp.encode(w)).unwrap();
        out
    }

    #[test]
    fn responses_parse_back_for_their_requests() {
        let cases = [
            (
                Request::parse(&[0x01, 0x00, 0x01, 0x00, 0x0A]).unwrap(),
                Response::Bits {
                    function: 1,
                    bits: vec![true, false, true, true, false, false, true, true, true, false],
                },
            ),
            (
                Request::parse(&[0x04, 0x75, 0x31, 0x00, 0x02]).unwrap(),
                Response::Registers {
                    function: 4,
                    values: vec![1, 0xBEEF],
                },
            ),
            (
                Request::parse(&[0x05, 0x00, 0x01, 0xFF, 0x00]).unwrap(),
                Response::WriteCoil {
                    address: 1,
                    value: true,
                },
            ),
            (
                Request::parse(&[0x10, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x0A]).unwrap(),
                Response::Written {
                    function: 0x10,
                    address: 1,
                    quantity: 1,
                },
            ),
            (Request::ReportServerId, Response::server_id(b"id", b"x")),
            (
                Request::ReadDeviceId { code: 1, object: 0 },
                Response::DeviceId {
                    code: 1,
                    conformity: 0x81,
                    more_follows: false,
                    next_object: 0,
                    objects: vec![(0, b"Siemens".to_vec()), (1, b"SIMATIC".to_vec())],
                },
            ),
            (
                Request::Unsupported { function: 7 },
                Response::Exception {
                    function: 7,
                    exception: Exception::IllegalFunction,
                },
            ),
        ];
        for (req, resp) in cases {
            let pdu = encoded(&resp);
            assert_eq!(Response::parse(&req, &pdu), Some(resp.clone()), "{req:?}");
            // Cut short or with a byte more, it is not that response.
            assert_eq!(Response::parse(&req, &pdu[..pdu.len() - 1]), None, "{req:?} cut");
            let mut longer = pdu.clone();
            longer.push(0);
            assert_eq!(Response::parse(&req, &longer), None, "{req:?} longer");
        }
        // An answer to another function is not this request's.
        let req = Request::parse(&[0x03, 0x00, 0x00, 0x00, 0x01]).unwrap();
        assert_eq!(Response::parse(&req, &[0x04, 0x02, 0x00, 0x01]), None);
        // A byte count that disagrees with the quantity asked for.
        assert_eq!(Response::parse(&req, &[0x03, 0x04, 0, 1, 0, 2]), None);
    }

    proptest::proptest! {
        #[test]
        fn register_reads_round_trip(address in 0u16.., values in proptest::collection::vec(0u16.., 1..=125)) {
            let pdu = [vec![0x03], address.to_be_bytes().to_vec(), (values.len() as u16).to_be_bytes().to_vec()].concat();
            let req = Request::parse(&pdu).unwrap();
            let resp = Response::Registers { function: 3, values };
            proptest::prop_assert_eq!(Response::parse(&req, &encoded(&resp)), Some(resp));
        }

        #[test]
        fn any_bytes_parse_without_panic(fc in 0u8..=0x2B, pdu in proptest::collection::vec(0u8.., 0..260)) {
            if let Ok(req) = Request::parse(&[fc, 0, 0, 0, 1]) {
                let _ = Response::parse(&req, &pdu);
            }
        }
    }

    #[test]
    fn responses_encode_with_their_byte_counts() {
        let enc = |r: &Response| {
            let mut out = Vec::new();
            conpot_core::wire::append(&mut out, MAX_PDU, |w| r.encode(w)).unwrap();
            out
        };
        let bits = Response::Bits {
            function: 1,
            bits: vec![true, false, true, true, false, false, true, true, true],
        };
        assert_eq!(enc(&bits), [0x01, 2, 0xCD, 0x01]);
        let regs = Response::Registers {
            function: 3,
            values: vec![0x000A, 0xFFFF],
        };
        assert_eq!(enc(&regs), [0x03, 4, 0, 10, 0xFF, 0xFF]);
        let id = Response::server_id(&[b'X'; 300], b"data");
        assert_eq!(enc(&id).len(), MAX_PDU, "cut to fit");
        let dev = Response::DeviceId {
            code: 1,
            conformity: 0x81,
            more_follows: true,
            next_object: 2,
            objects: vec![(0, b"ab".to_vec()), (1, Vec::new())],
        };
        assert_eq!(enc(&dev), [0x2B, 0x0E, 1, 0x81, 0xFF, 2, 2, 0, 2, b'a', b'b', 1, 0]);
        let e = Response::Exception {
            function: 3,
            exception: Exception::IllegalDataAddress,
        };
        assert_eq!(enc(&e), [0x83, 0x02]);
        assert_eq!(e.describe()["exception_name"], "ILLEGAL DATA ADDRESS");
    }

    #[test]
    fn bit_packing() {
        assert_eq!(
            pack_bits([true, false, true, true, false, false, true, true, true, false].into_iter()),
            vec![0xCD, 0x01]
        );
        assert_eq!(pack_bits(std::iter::empty::<bool>()), Vec::<u8>::new());
    }
}
