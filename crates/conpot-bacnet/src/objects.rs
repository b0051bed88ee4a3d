//! The device's objects: the Device object from the persona and the template's analog,
//! binary and multi-state inputs, outputs and values, their properties (ASHRAE 135
//! clause 12), and present values bound to the databus with a priority array for the
//! commandable ones.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use conpot_core::Value as BusValue;
use conpot_core::databus::Databus;

use crate::tag::Value;

/// Object types (clause 21, BACnetObjectType).
pub mod ty {
    /// analog-input.
    pub const ANALOG_INPUT: u16 = 0;
    /// analog-output.
    pub const ANALOG_OUTPUT: u16 = 1;
    /// analog-value.
    pub const ANALOG_VALUE: u16 = 2;
    /// binary-input.
    pub const BINARY_INPUT: u16 = 3;
    /// binary-output.
    pub const BINARY_OUTPUT: u16 = 4;
    /// binary-value.
    pub const BINARY_VALUE: u16 = 5;
    /// device.
    pub const DEVICE: u16 = 8;
    /// multi-state-input.
    pub const MULTI_STATE_INPUT: u16 = 13;
    /// multi-state-output.
    pub const MULTI_STATE_OUTPUT: u16 = 14;
    /// multi-state-value.
    pub const MULTI_STATE_VALUE: u16 = 19;
}

/// Property identifiers used here (clause 21, BACnetPropertyIdentifier).
pub mod prop {
    #![allow(missing_docs)]
    pub const ACTIVE_TEXT: u32 = 4;
    pub const ALL: u32 = 8;
    pub const APDU_TIMEOUT: u32 = 11;
    pub const APPLICATION_SOFTWARE_VERSION: u32 = 12;
    pub const DAYLIGHT_SAVINGS_STATUS: u32 = 24;
    pub const DESCRIPTION: u32 = 28;
    pub const DEVICE_ADDRESS_BINDING: u32 = 30;
    pub const EVENT_STATE: u32 = 36;
    pub const FIRMWARE_REVISION: u32 = 44;
    pub const INACTIVE_TEXT: u32 = 46;
    pub const LOCAL_DATE: u32 = 56;
    pub const LOCAL_TIME: u32 = 57;
    pub const LOCATION: u32 = 58;
    pub const MAX_APDU_LENGTH_ACCEPTED: u32 = 62;
    pub const MODEL_NAME: u32 = 70;
    pub const NUMBER_OF_APDU_RETRIES: u32 = 73;
    pub const NUMBER_OF_STATES: u32 = 74;
    pub const OBJECT_IDENTIFIER: u32 = 75;
    pub const OBJECT_LIST: u32 = 76;
    pub const OBJECT_NAME: u32 = 77;
    pub const OBJECT_TYPE: u32 = 79;
    pub const OPTIONAL: u32 = 80;
    pub const OUT_OF_SERVICE: u32 = 81;
    pub const POLARITY: u32 = 84;
    pub const PRESENT_VALUE: u32 = 85;
    pub const PRIORITY_ARRAY: u32 = 87;
    pub const PROTOCOL_OBJECT_TYPES_SUPPORTED: u32 = 96;
    pub const PROTOCOL_SERVICES_SUPPORTED: u32 = 97;
    pub const PROTOCOL_VERSION: u32 = 98;
    pub const RELINQUISH_DEFAULT: u32 = 104;
    pub const REQUIRED: u32 = 105;
    pub const SEGMENTATION_SUPPORTED: u32 = 107;
    pub const STATE_TEXT: u32 = 110;
    pub const STATUS_FLAGS: u32 = 111;
    pub const SYSTEM_STATUS: u32 = 112;
    pub const UNITS: u32 = 117;
    pub const UTC_OFFSET: u32 = 119;
    pub const VENDOR_IDENTIFIER: u32 = 120;
    pub const VENDOR_NAME: u32 = 121;
    pub const PROTOCOL_REVISION: u32 = 139;
    pub const DATABASE_REVISION: u32 = 155;
    pub const MAX_SEGMENTS_ACCEPTED: u32 = 167;
    pub const PROPERTY_LIST: u32 = 371;
}

/// The wildcard device instance: "whatever device you are".
pub const WILDCARD: u32 = 4_194_303;

/// What the template says about one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSpec {
    /// Object type.
    pub ty: u16,
    /// Instance.
    pub instance: u32,
    /// Name (unique within the device).
    pub name: String,
    /// Description.
    pub description: String,
    /// Databus key of the present value.
    pub key: String,
    /// Engineering units (analog objects; 95 = no-units).
    pub units: u32,
    /// State texts (multi-state objects).
    pub states: Vec<String>,
    /// Out of service at start.
    pub out_of_service: bool,
}

impl ObjectSpec {
    /// Whether the present value is commandable (outputs; values are too, here).
    pub fn commandable(&self) -> bool {
        matches!(
            self.ty,
            ty::ANALOG_OUTPUT
                | ty::ANALOG_VALUE
                | ty::BINARY_OUTPUT
                | ty::BINARY_VALUE
                | ty::MULTI_STATE_OUTPUT
                | ty::MULTI_STATE_VALUE
        )
    }

    fn analog(&self) -> bool {
        matches!(self.ty, ty::ANALOG_INPUT | ty::ANALOG_OUTPUT | ty::ANALOG_VALUE)
    }

    fn binary(&self) -> bool {
        matches!(self.ty, ty::BINARY_INPUT | ty::BINARY_OUTPUT | ty::BINARY_VALUE)
    }

    /// The present value's datatype applied to a databus value.
    pub fn typed(&self, v: &BusValue) -> Value {
        let num = match v {
            BusValue::Float(f) => *f,
            BusValue::Bool(b) => f64::from(u8::from(*b)),
            other => other.as_i128().map_or(0.0, |i| i as f64),
        };
        if self.analog() {
            Value::Real(num as f32)
        } else if self.binary() {
            Value::Enum(u32::from(num != 0.0))
        } else {
            Value::Unsigned(num.clamp(1.0, self.states.len().max(1) as f64) as u64)
        }
    }

    /// The databus value of a present value written over BACnet, if it has this
    /// object's datatype.
    pub fn to_bus(&self, v: &Value) -> Option<BusValue> {
        match (v, self.analog(), self.binary()) {
            (Value::Real(f), true, _) => Some(BusValue::Float(f64::from(*f))),
            (Value::Enum(e), _, true) if *e <= 1 => Some(BusValue::Int(i128::from(*e))),
            (Value::Unsigned(u), false, false) if *u >= 1 && *u <= self.states.len().max(1) as u64 => {
                Some(BusValue::Int(i128::from(*u)))
            }
            _ => None,
        }
    }

    fn relinquish_default(&self) -> Value {
        if self.analog() {
            Value::Real(0.0)
        } else if self.binary() {
            Value::Enum(0)
        } else {
            Value::Unsigned(1)
        }
    }

    /// Required properties, in the order `all` lists them.
    pub fn required(&self) -> Vec<u32> {
        use prop::*;
        let mut p = vec![
            OBJECT_IDENTIFIER,
            OBJECT_NAME,
            OBJECT_TYPE,
            PRESENT_VALUE,
            STATUS_FLAGS,
            EVENT_STATE,
            OUT_OF_SERVICE,
        ];
        if self.analog() {
            p.push(UNITS);
        }
        if matches!(self.ty, ty::BINARY_INPUT | ty::BINARY_OUTPUT) {
            p.push(POLARITY);
        }
        if !self.analog() && !self.binary() {
            p.push(NUMBER_OF_STATES);
        }
        if self.commandable() {
            p.extend([PRIORITY_ARRAY, RELINQUISH_DEFAULT]);
        }
        p
    }

    /// Optional properties this device has.
    pub fn optional(&self) -> Vec<u32> {
        let mut p = vec![prop::DESCRIPTION];
        if self.binary() {
            p.extend([prop::INACTIVE_TEXT, prop::ACTIVE_TEXT]);
        } else if !self.analog() {
            p.push(prop::STATE_TEXT);
        }
        p
    }
}

/// Why a property read or write failed: error class and code (clause 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacError {
    /// Error class.
    pub class: u32,
    /// Error code.
    pub code: u32,
}

/// object / unknown-object.
pub const UNKNOWN_OBJECT: BacError = BacError { class: 1, code: 31 };
/// property / unknown-property.
pub const UNKNOWN_PROPERTY: BacError = BacError { class: 2, code: 32 };
/// property / write-access-denied.
pub const WRITE_DENIED: BacError = BacError { class: 2, code: 40 };
/// property / invalid-array-index.
pub const BAD_INDEX: BacError = BacError { class: 2, code: 42 };
/// property / property-is-not-an-array.
pub const NOT_AN_ARRAY: BacError = BacError { class: 2, code: 50 };
/// property / invalid-data-type.
pub const BAD_TYPE: BacError = BacError { class: 2, code: 9 };
/// property / value-out-of-range.
pub const OUT_OF_RANGE: BacError = BacError { class: 2, code: 37 };
/// security / password-failure.
pub const PASSWORD_FAILURE: BacError = BacError { class: 4, code: 26 };

/// What the template says about the device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    /// Device instance.
    pub instance: u32,
    /// Object name.
    pub name: String,
    /// ASHRAE vendor identifier.
    pub vendor_id: u32,
    /// Vendor name (matching the identifier).
    pub vendor_name: String,
    /// Model name.
    pub model: String,
    /// Firmware revision.
    pub firmware: String,
    /// Application software version.
    pub application: String,
    /// Location.
    pub location: String,
    /// Description.
    pub description: String,
    /// Max APDU length accepted.
    pub max_apdu: usize,
    /// Protocol revision.
    pub protocol_revision: u32,
    /// The objects besides the Device object.
    pub objects: Vec<ObjectSpec>,
    /// Response delay profile (ms).
    pub response_time_ms: (u32, u32),
}

/// Segmentation supported: segmented-transmit (answers may be segmented; segmented
/// requests are refused).
pub const SEGMENTATION: u32 = 1;

/// Confirmed and unconfirmed services this device executes (bit positions of
/// BACnetServicesSupported).
pub const SERVICES: &[usize] = &[12, 14, 15, 17, 20, 26, 27, 32, 33, 34, 36];

/// Mutable state: priority arrays, out-of-service flags, communication control.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Per object: 16 priority slots.
    pub priorities: Vec<[Option<Value>; 16]>,
    /// Per object: out of service.
    pub out_of_service: Vec<bool>,
    /// Until when communication is disabled (`Some(None)`: until re-enabled).
    pub disabled: Option<Option<SystemTime>>,
    /// Database revision (grows with writes).
    pub database_revision: u32,
}

/// The device: its spec, the databus and the state commands change.
#[derive(Debug)]
pub struct BacDevice {
    /// The spec.
    pub spec: DeviceSpec,
    /// The databus.
    pub databus: Arc<Databus>,
    state: Mutex<State>,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// Days since 1970-01-01 to (year, month, day).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl BacDevice {
    /// A device of `spec` over `databus`.
    pub fn new(spec: DeviceSpec, databus: Arc<Databus>) -> BacDevice {
        let n = spec.objects.len();
        let out_of_service = spec.objects.iter().map(|o| o.out_of_service).collect();
        BacDevice {
            spec,
            databus,
            state: Mutex::new(State {
                priorities: vec![Default::default(); n],
                out_of_service,
                disabled: None,
                database_revision: 1,
            }),
        }
    }

    /// The state, locked.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the device answers now (DeviceCommunicationControl may have disabled it).
    pub fn communicating(&self, now: SystemTime) -> bool {
        let mut st = self.state();
        match st.disabled {
            Some(Some(until)) if until <= now => {
                st.disabled = None;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// The object `(ty, instance)`: `None` for the device itself, `Some(index)` for
    /// another, `Err` if there is none. The wildcard instance names the device.
    pub fn find(&self, ty: u16, instance: u32) -> Result<Option<usize>, BacError> {
        if ty == ty::DEVICE && (instance == self.spec.instance || instance == WILDCARD) {
            return Ok(None);
        }
        self.spec
            .objects
            .iter()
            .position(|o| o.ty == ty && o.instance == instance)
            .map(Some)
            .ok_or(UNKNOWN_OBJECT)
    }

    /// The properties `all`, `required` or `optional` stand for.
    pub fn properties(&self, object: Option<usize>, which: u32) -> Vec<u32> {
        use prop::*;
        let (req, opt) = match object.and_then(|i| self.spec.objects.get(i)) {
            Some(o) => (o.required(), o.optional()),
            None => (
                vec![
                    OBJECT_IDENTIFIER,
                    OBJECT_NAME,
                    OBJECT_TYPE,
                    SYSTEM_STATUS,
                    VENDOR_NAME,
                    VENDOR_IDENTIFIER,
                    MODEL_NAME,
                    FIRMWARE_REVISION,
                    APPLICATION_SOFTWARE_VERSION,
                    PROTOCOL_VERSION,
                    PROTOCOL_REVISION,
                    PROTOCOL_SERVICES_SUPPORTED,
                    PROTOCOL_OBJECT_TYPES_SUPPORTED,
                    OBJECT_LIST,
                    MAX_APDU_LENGTH_ACCEPTED,
                    SEGMENTATION_SUPPORTED,
                    APDU_TIMEOUT,
                    NUMBER_OF_APDU_RETRIES,
                    DEVICE_ADDRESS_BINDING,
                    DATABASE_REVISION,
                    PROPERTY_LIST,
                ],
                vec![
                    LOCATION,
                    DESCRIPTION,
                    MAX_SEGMENTS_ACCEPTED,
                    LOCAL_DATE,
                    LOCAL_TIME,
                    UTC_OFFSET,
                    DAYLIGHT_SAVINGS_STATUS,
                ],
            ),
        };
        match which {
            REQUIRED => req,
            OPTIONAL => opt,
            _ => req.into_iter().chain(opt).collect(),
        }
    }

    /// Reads a property (the whole value; array indexing is applied by the caller).
    pub fn read(&self, object: Option<usize>, property: u32, now: SystemTime) -> Result<Value, BacError> {
        let s = &self.spec;
        let all = self.properties(object, prop::ALL);
        if !all.contains(&property) {
            return Err(UNKNOWN_PROPERTY);
        }
        let Some(i) = object else {
            return Ok(self.read_device(property, now));
        };
        let o = s.objects.get(i).ok_or(UNKNOWN_OBJECT)?;
        let st = self.state();
        let oos = st.out_of_service.get(i).copied().unwrap_or(false);
        use prop::*;
        Ok(match property {
            OBJECT_IDENTIFIER => Value::ObjectId(o.ty, o.instance),
            OBJECT_NAME => text(&o.name),
            OBJECT_TYPE => Value::Enum(u32::from(o.ty)),
            PRESENT_VALUE => self.present_value(o, now),
            STATUS_FLAGS => Value::Bits(vec![false, false, false, oos]),
            EVENT_STATE => Value::Enum(0),
            OUT_OF_SERVICE => Value::Bool(oos),
            UNITS => Value::Enum(o.units),
            POLARITY => Value::Enum(0),
            NUMBER_OF_STATES => Value::Unsigned(o.states.len().max(1) as u64),
            STATE_TEXT => Value::List(o.states.iter().map(|t| text(t)).collect()),
            INACTIVE_TEXT => text("Off"),
            ACTIVE_TEXT => text("On"),
            DESCRIPTION => text(&o.description),
            PRIORITY_ARRAY => Value::List(
                st.priorities
                    .get(i)
                    .map(|p| p.iter().map(|v| v.clone().unwrap_or(Value::Null)).collect())
                    .unwrap_or_default(),
            ),
            RELINQUISH_DEFAULT => o.relinquish_default(),
            _ => return Err(UNKNOWN_PROPERTY),
        })
    }

    fn present_value(&self, o: &ObjectSpec, now: SystemTime) -> Value {
        match self.databus.get(&o.key, now) {
            Some(v) => o.typed(&v),
            None => o.relinquish_default(),
        }
    }

    fn read_device(&self, property: u32, now: SystemTime) -> Value {
        use prop::*;
        let s = &self.spec;
        match property {
            OBJECT_IDENTIFIER => Value::ObjectId(ty::DEVICE, s.instance),
            OBJECT_NAME => text(&s.name),
            OBJECT_TYPE => Value::Enum(u32::from(ty::DEVICE)),
            SYSTEM_STATUS => Value::Enum(0),
            VENDOR_NAME => text(&s.vendor_name),
            VENDOR_IDENTIFIER => Value::Unsigned(u64::from(s.vendor_id)),
            MODEL_NAME => text(&s.model),
            FIRMWARE_REVISION => text(&s.firmware),
            APPLICATION_SOFTWARE_VERSION => text(&s.application),
            LOCATION => text(&s.location),
            DESCRIPTION => text(&s.description),
            PROTOCOL_VERSION => Value::Unsigned(1),
            PROTOCOL_REVISION => Value::Unsigned(u64::from(s.protocol_revision)),
            PROTOCOL_SERVICES_SUPPORTED => {
                let mut bits = vec![false; 41];
                for b in SERVICES {
                    if let Some(x) = bits.get_mut(*b) {
                        *x = true;
                    }
                }
                Value::Bits(bits)
            }
            PROTOCOL_OBJECT_TYPES_SUPPORTED => {
                let mut bits = vec![false; 60];
                for t in s.objects.iter().map(|o| o.ty).chain([ty::DEVICE]) {
                    if let Some(x) = bits.get_mut(usize::from(t)) {
                        *x = true;
                    }
                }
                Value::Bits(bits)
            }
            OBJECT_LIST => Value::List(
                std::iter::once(Value::ObjectId(ty::DEVICE, s.instance))
                    .chain(s.objects.iter().map(|o| Value::ObjectId(o.ty, o.instance)))
                    .collect(),
            ),
            MAX_APDU_LENGTH_ACCEPTED => Value::Unsigned(s.max_apdu as u64),
            SEGMENTATION_SUPPORTED => Value::Enum(SEGMENTATION),
            MAX_SEGMENTS_ACCEPTED => Value::Unsigned(1),
            APDU_TIMEOUT => Value::Unsigned(3000),
            NUMBER_OF_APDU_RETRIES => Value::Unsigned(3),
            DEVICE_ADDRESS_BINDING => Value::List(Vec::new()),
            DATABASE_REVISION => Value::Unsigned(u64::from(self.state().database_revision)),
            PROPERTY_LIST => Value::List(
                self.properties(None, ALL)
                    .into_iter()
                    .filter(|p| !matches!(*p, OBJECT_IDENTIFIER | OBJECT_NAME | OBJECT_TYPE | PROPERTY_LIST))
                    .map(Value::Enum)
                    .collect(),
            ),
            LOCAL_DATE | LOCAL_TIME => {
                let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
                let (y, m, d) = civil(secs.div_euclid(86_400));
                if property == LOCAL_DATE {
                    let weekday = ((secs.div_euclid(86_400) + 3).rem_euclid(7) + 1) as u8;
                    Value::Date([(y - 1900).clamp(0, 255) as u8, m as u8, d as u8, weekday])
                } else {
                    let t = secs.rem_euclid(86_400);
                    Value::Time([(t / 3600) as u8, (t / 60 % 60) as u8, (t % 60) as u8, 0])
                }
            }
            UTC_OFFSET => Value::Signed(0),
            DAYLIGHT_SAVINGS_STATUS => Value::Bool(false),
            _ => Value::Null,
        }
    }

    /// Writes a property. Present values of commandable objects take a priority (1-16,
    /// default 16; NULL relinquishes); an input's present value is writable only while
    /// it is out of service. The effective value goes to the databus.
    pub fn write(
        &self,
        object: Option<usize>,
        property: u32,
        value: &Value,
        priority: Option<u8>,
    ) -> Result<(), BacError> {
        let Some(i) = object else {
            return Err(if self.properties(None, prop::ALL).contains(&property) {
                WRITE_DENIED
            } else {
                UNKNOWN_PROPERTY
            });
        };
        let o = self.spec.objects.get(i).ok_or(UNKNOWN_OBJECT)?;
        if !self.properties(object, prop::ALL).contains(&property) {
            return Err(UNKNOWN_PROPERTY);
        }
        let mut st = self.state();
        match property {
            prop::OUT_OF_SERVICE => match value {
                Value::Bool(b) => {
                    if let Some(x) = st.out_of_service.get_mut(i) {
                        *x = *b;
                    }
                }
                _ => return Err(BAD_TYPE),
            },
            prop::PRESENT_VALUE if o.commandable() => {
                let p = usize::from(priority.unwrap_or(16));
                if !(1..=16).contains(&p) || p == 6 {
                    return Err(OUT_OF_RANGE);
                }
                let slot = match value {
                    Value::Null => None,
                    v => {
                        o.to_bus(v).ok_or(BAD_TYPE)?;
                        Some(v.clone())
                    }
                };
                let slots = st.priorities.get_mut(i).ok_or(UNKNOWN_OBJECT)?;
                if let Some(s) = slots.get_mut(p - 1) {
                    *s = slot;
                }
                let effective = slots
                    .iter()
                    .flatten()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| o.relinquish_default());
                if let Some(bus) = o.to_bus(&effective) {
                    self.databus.set(&o.key, bus);
                }
            }
            prop::PRESENT_VALUE if st.out_of_service.get(i).copied().unwrap_or(false) => {
                let bus = o.to_bus(value).ok_or(BAD_TYPE)?;
                self.databus.set(&o.key, bus);
            }
            _ => return Err(WRITE_DENIED),
        }
        st.database_revision = st.database_revision.wrapping_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), (1970, 1, 1));
        assert_eq!(super::civil(20_819), (2027, 1, 1));
    }
}
