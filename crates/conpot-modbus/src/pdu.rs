//! Modbus PDUs: requests parsed from bytes, responses and exceptions built to bytes.

use serde_json::{Value as Json, json};

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

    /// The exception PDU for function `function`.
    pub fn pdu(self, function: u8) -> Vec<u8> {
        vec![function | 0x80, self as u8]
    }
}

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

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

impl Request {
    /// Parses a request PDU; a malformed one yields the exception a device returns.
    /// `pdu` must not be empty.
    pub fn parse(pdu: &[u8]) -> Result<Request, Exception> {
        let Some((&fc, data)) = pdu.split_first() else {
            return Err(Exception::IllegalFunction);
        };
        let addr_qty = || -> Result<(u16, u16), Exception> {
            if data.len() != 4 {
                return Err(Exception::IllegalDataValue);
            }
            Ok((
                be16(data, 0).ok_or(Exception::IllegalDataValue)?,
                be16(data, 2).ok_or(Exception::IllegalDataValue)?,
            ))
        };
        Ok(match fc {
            0x01 | 0x02 => {
                let (address, quantity) = addr_qty()?;
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
                let (address, quantity) = addr_qty()?;
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
                let (address, raw) = addr_qty()?;
                let value = match raw {
                    0xFF00 => true,
                    0x0000 => false,
                    _ => return Err(Exception::IllegalDataValue),
                };
                Request::WriteCoil { address, value }
            }
            0x06 => {
                let (address, value) = addr_qty()?;
                Request::WriteRegister { address, value }
            }
            0x0F => {
                let (address, quantity, count) = multi_header(data)?;
                if !(1..=0x07B0).contains(&quantity) || count != quantity.div_ceil(8) as usize {
                    return Err(Exception::IllegalDataValue);
                }
                let bytes = data
                    .get(5..5 + count)
                    .filter(|_| data.len() == 5 + count)
                    .ok_or(Exception::IllegalDataValue)?;
                let values = (0..usize::from(quantity))
                    .map(|i| bytes.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0))
                    .collect();
                Request::WriteCoils { address, values }
            }
            0x10 => {
                let (address, quantity, count) = multi_header(data)?;
                if !(1..=0x7B).contains(&quantity) || count != 2 * usize::from(quantity) || data.len() != 5 + count {
                    return Err(Exception::IllegalDataValue);
                }
                let values = (0..usize::from(quantity))
                    .map(|i| be16(data, 5 + 2 * i).ok_or(Exception::IllegalDataValue))
                    .collect::<Result<_, _>>()?;
                Request::WriteRegisters { address, values }
            }
            0x08 => {
                let sub = be16(data, 0).ok_or(Exception::IllegalDataValue)?;
                Request::Diagnostics {
                    sub,
                    data: data.get(2..).unwrap_or_default().to_vec(),
                }
            }
            0x11 => {
                if !data.is_empty() {
                    return Err(Exception::IllegalDataValue);
                }
                Request::ReportServerId
            }
            0x2B => match data.first() {
                Some(0x0E) => {
                    let (Some(&code), Some(&object)) = (data.get(1), data.get(2)) else {
                        return Err(Exception::IllegalDataValue);
                    };
                    if data.len() != 3 {
                        return Err(Exception::IllegalDataValue);
                    }
                    Request::ReadDeviceId { code, object }
                }
                Some(&mei) => Request::Mei { mei },
                None => return Err(Exception::IllegalDataValue),
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

fn multi_header(data: &[u8]) -> Result<(u16, u16, usize), Exception> {
    let address = be16(data, 0).ok_or(Exception::IllegalDataValue)?;
    let quantity = be16(data, 2).ok_or(Exception::IllegalDataValue)?;
    let count = usize::from(*data.get(4).ok_or(Exception::IllegalDataValue)?);
    Ok((address, quantity, count))
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
    fn bit_packing() {
        assert_eq!(
            pack_bits([true, false, true, true, false, false, true, true, true, false].into_iter()),
            vec![0xCD, 0x01]
        );
        assert_eq!(pack_bits(std::iter::empty::<bool>()), Vec::<u8>::new());
    }
}
