//! The behaviour of a Modbus server over the databus: unit routing, register blocks,
//! device identification. Plain code over values; time comes in as an argument.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::Value;
use conpot_core::databus::Databus;

use crate::pdu::{Exception, Request, Response, Table};
use crate::wire::MAX_PDU;

/// How unit identifiers are routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A TCP device: units with their own slave go to it, every other unit to the
    /// default slave (the one with id 255, else 0, else the first).
    Device,
    /// A TCP-to-serial gateway: unit 0 is a broadcast (writes executed by every slave,
    /// no reply), units with a slave go to it, others get exception 0x0B.
    Gateway,
}

/// A range of one table backed by a databus list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Table.
    pub table: Table,
    /// First address (PDU address).
    pub start: u16,
    /// Number of entries.
    pub size: u16,
    /// Databus key of the list holding the values.
    pub key: String,
}

impl Block {
    fn covers(&self, address: u16, quantity: u16) -> bool {
        let end = u32::from(address) + u32::from(quantity);
        address >= self.start && end <= u32::from(self.start) + u32::from(self.size)
    }
}

/// One addressable slave (unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slave {
    /// Unit id.
    pub id: u8,
    /// Its blocks.
    pub blocks: Vec<Block>,
}

/// Everything that defines a Modbus server.
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusConfig {
    /// Unit routing.
    pub mode: Mode,
    /// Slaves.
    pub slaves: Vec<Slave>,
    /// Device identification objects (FC 43/14) by object id.
    pub identification: BTreeMap<u8, Vec<u8>>,
    /// Server id bytes of Report Server ID (FC 17).
    pub server_id: Vec<u8>,
    /// Additional data of Report Server ID.
    pub server_id_data: Vec<u8>,
    /// Function codes served; others get exception 01. `None` serves all implemented.
    pub functions: Option<Vec<u8>>,
    /// Response time range in milliseconds (min, max).
    pub response_time_ms: (u32, u32),
}

/// A Modbus server bound to a databus.
#[derive(Debug)]
pub struct ModbusDevice {
    /// Its configuration.
    pub config: ModbusConfig,
    databus: Arc<Databus>,
}

/// The result of handling one request PDU.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// The request's function code.
    pub function: u8,
    /// The request, or the exception its parsing gave.
    pub request: Result<Request, Exception>,
    /// The response (`None`: no reply, as for a broadcast).
    pub response: Option<Response>,
    /// The slave that handled it (`None` if no slave was reached).
    pub slave: Option<u8>,
}

enum Route<'a> {
    Slave(&'a Slave),
    Broadcast,
    NoTarget,
}

impl ModbusDevice {
    /// A server with `config` over `databus`.
    pub fn new(config: ModbusConfig, databus: Arc<Databus>) -> Self {
        ModbusDevice { config, databus }
    }

    fn route(&self, unit: u8) -> Route<'_> {
        let by_id = |id: u8| self.config.slaves.iter().find(|s| s.id == id);
        match self.config.mode {
            Mode::Gateway if unit == 0 => Route::Broadcast,
            Mode::Gateway => by_id(unit).map_or(Route::NoTarget, Route::Slave),
            Mode::Device => by_id(unit)
                .or_else(|| by_id(255))
                .or_else(|| by_id(0))
                .or_else(|| self.config.slaves.first())
                .map_or(Route::NoTarget, Route::Slave),
        }
    }

    /// Handles the request PDU `pdu` addressed to `unit` at time `now`. An empty PDU (the
    /// framer never passes one) is answered as function 0, which no device serves.
    pub fn handle(&self, unit: u8, pdu: &[u8], now: SystemTime) -> Handled {
        let fc = pdu.first().copied().unwrap_or(0);
        let exception = |exception| Response::Exception {
            function: fc,
            exception,
        };
        let request = Request::parse(pdu);
        let route = self.route(unit);
        let (response, slave) = match (&request, route) {
            (_, Route::Broadcast) => {
                if let Ok(req) = &request
                    && req.is_write()
                {
                    for s in &self.config.slaves {
                        let _ = self.execute(s, req, now);
                    }
                }
                (None, None)
            }
            (_, Route::NoTarget) => (Some(exception(Exception::GatewayTargetFailed)), None),
            (Err(e), Route::Slave(s)) => {
                let e = if self.allowed(fc) {
                    *e
                } else {
                    Exception::IllegalFunction
                };
                (Some(exception(e)), Some(s.id))
            }
            (Ok(req), Route::Slave(s)) => {
                let r = if self.allowed(fc) {
                    self.execute(s, req, now)
                } else {
                    Err(Exception::IllegalFunction)
                };
                (Some(r.unwrap_or_else(exception)), Some(s.id))
            }
        };
        Handled {
            function: fc,
            request,
            response,
            slave,
        }
    }

    fn allowed(&self, fc: u8) -> bool {
        self.config.functions.as_ref().is_none_or(|f| f.contains(&fc))
    }

    fn block<'s>(&self, slave: &'s Slave, table: Table, address: u16, quantity: u16) -> Result<&'s Block, Exception> {
        slave
            .blocks
            .iter()
            .find(|b| b.table == table && b.covers(address, quantity))
            .ok_or(Exception::IllegalDataAddress)
    }

    fn read(&self, block: &Block, address: u16, quantity: u16, now: SystemTime) -> Result<Vec<Value>, Exception> {
        let offset = usize::from(address - block.start);
        let n = usize::from(quantity);
        self.databus
            .with(&block.key, now, |v| match v {
                Value::List(l) => (offset..offset + n)
                    .map(|i| l.get(i).cloned().unwrap_or(Value::Int(0)))
                    .collect(),
                scalar if n == 1 && offset == 0 => vec![scalar.clone()],
                _ => vec![Value::Int(0); n],
            })
            .ok_or(Exception::ServerDeviceFailure)
    }

    fn write(&self, block: &Block, address: u16, values: Vec<Value>, now: SystemTime) -> Result<(), Exception> {
        let offset = usize::from(address - block.start);
        let size = usize::from(block.size);
        self.databus
            .update(&block.key, now, |v| {
                if !matches!(v, Value::List(_)) {
                    *v = Value::List(vec![v.clone()]);
                }
                if let Value::List(l) = v {
                    if l.len() < size {
                        l.resize(size, Value::Int(0));
                    }
                    for (i, x) in values.into_iter().enumerate() {
                        if let Some(slot) = l.get_mut(offset + i) {
                            *slot = x;
                        }
                    }
                }
            })
            .map_err(|_| Exception::ServerDeviceFailure)
    }

    /// Writes `values` from `address` into the block of `table` that covers them; returns
    /// how many were written.
    fn store(
        &self,
        slave: &Slave,
        table: Table,
        address: u16,
        values: Vec<Value>,
        now: SystemTime,
    ) -> Result<u16, Exception> {
        let qty = values.len() as u16;
        let block = self.block(slave, table, address, qty)?;
        self.write(block, address, values, now)?;
        Ok(qty)
    }

    fn execute(&self, slave: &Slave, req: &Request, now: SystemTime) -> Result<Response, Exception> {
        let function = req.function();
        match req {
            Request::ReadBits {
                table,
                address,
                quantity,
            } => {
                let block = self.block(slave, *table, *address, *quantity)?;
                let values = self.read(block, *address, *quantity, now)?;
                let bits = values.iter().map(|v| v.as_bit().unwrap_or(false)).collect();
                Ok(Response::Bits { function, bits })
            }
            Request::ReadRegisters {
                table,
                address,
                quantity,
            } => {
                let block = self.block(slave, *table, *address, *quantity)?;
                let values = self.read(block, *address, *quantity, now)?;
                let values = values.iter().map(register).collect();
                Ok(Response::Registers { function, values })
            }
            Request::WriteCoil { address, value } => {
                self.store(slave, Table::Coils, *address, vec![Value::Int(i128::from(*value))], now)?;
                Ok(Response::WriteCoil {
                    address: *address,
                    value: *value,
                })
            }
            Request::WriteRegister { address, value } => {
                self.store(
                    slave,
                    Table::HoldingRegisters,
                    *address,
                    vec![Value::Int(i128::from(*value))],
                    now,
                )?;
                Ok(Response::WriteRegister {
                    address: *address,
                    value: *value,
                })
            }
            Request::WriteCoils { address, values } => {
                let values = values.iter().map(|b| Value::Int(i128::from(*b))).collect();
                let quantity = self.store(slave, Table::Coils, *address, values, now)?;
                Ok(Response::Written {
                    function,
                    address: *address,
                    quantity,
                })
            }
            Request::WriteRegisters { address, values } => {
                let values = values.iter().map(|v| Value::Int(i128::from(*v))).collect();
                let quantity = self.store(slave, Table::HoldingRegisters, *address, values, now)?;
                Ok(Response::Written {
                    function,
                    address: *address,
                    quantity,
                })
            }
            Request::Diagnostics { sub: 0, data } => Ok(Response::Diagnostics {
                sub: 0,
                data: data.clone(),
            }),
            Request::Diagnostics { .. } => Err(Exception::IllegalFunction),
            Request::ReportServerId => Ok(Response::server_id(&self.config.server_id, &self.config.server_id_data)),
            Request::ReadDeviceId { code, object } => self.device_id(*code, *object),
            Request::Mei { .. } | Request::Unsupported { .. } => Err(Exception::IllegalFunction),
        }
    }

    /// Read Device Identification: the objects of the category `code` asks for from
    /// `object` on, as many as fit one PDU ("more follows" with the next id otherwise), or
    /// the one object `object` (code 4). The first object is cut to fit if it must.
    fn device_id(&self, code: u8, object: u8) -> Result<Response, Exception> {
        /// Bytes before the objects: function, MEI type, code, conformity, more follows,
        /// next object id, number of objects.
        const HEADER: usize = 7;
        let objects = &self.config.identification;
        let conformity = if objects.keys().any(|&k| k >= 0x80) {
            0x83
        } else if objects.keys().any(|&k| k >= 0x03) {
            0x82
        } else {
            0x81
        };
        let mut used = HEADER;
        let mut sent = Vec::new();
        let mut push = |id: u8, value: &[u8]| {
            let room = MAX_PDU.saturating_sub(used + 2).min(255);
            let v = value.get(..room.min(value.len())).unwrap_or_default();
            used += 2 + v.len();
            sent.push((id, v.to_vec()));
            used
        };
        let range = match code {
            1 => 0x00..=0x02,
            2 => 0x00..=0x7F,
            3 => 0x00..=0xFF,
            4 => {
                let value = objects.get(&object).ok_or(Exception::IllegalDataAddress)?;
                push(object, value);
                return Ok(Response::DeviceId {
                    code,
                    conformity,
                    more_follows: false,
                    next_object: 0,
                    objects: sent,
                });
            }
            _ => return Err(Exception::IllegalDataValue),
        };
        let start = if range.contains(&object) && objects.contains_key(&object) {
            object
        } else {
            0
        };
        let mut next = None;
        let mut filled = HEADER;
        for (&id, value) in objects.range(start..=*range.end()) {
            if filled > HEADER && filled + 2 + value.len() > MAX_PDU {
                next = Some(id);
                break;
            }
            filled = push(id, value);
        }
        Ok(Response::DeviceId {
            code,
            conformity,
            more_follows: next.is_some(),
            next_object: next.unwrap_or(0),
            objects: sent,
        })
    }
}

/// A databus value as a 16-bit register: integers wrap to 16 bits, floats round.
fn register(v: &Value) -> u16 {
    match v {
        Value::Float(f) => f.round().clamp(i32::MIN as f64, i32::MAX as f64) as i64 as u16,
        other => other.as_i128().map(|i| i as u16).unwrap_or(0),
    }
}
