//! The agent's MIB view: OIDs in lexicographic order, each with where its value comes
//! from (a constant, a databus key, a counter that moves with time, the uptime) and
//! whether and how it may be written.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use conpot_core::Value;
use conpot_core::databus::Databus;

use crate::message::{SnmpValue, parse_oid};

/// The SMI type of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// INTEGER / Integer32.
    Integer,
    /// OCTET STRING (DisplayString, PhysAddress...).
    Octets,
    /// OBJECT IDENTIFIER.
    Oid,
    /// IpAddress.
    IpAddress,
    /// Counter32.
    Counter32,
    /// Gauge32 / Unsigned32.
    Gauge32,
    /// TimeTicks.
    TimeTicks,
    /// Counter64.
    Counter64,
}

impl Ty {
    /// Parses a type name as templates write it.
    pub fn parse(s: &str) -> Option<Ty> {
        Some(match s.to_ascii_lowercase().as_str() {
            "integer" | "integer32" | "int" => Ty::Integer,
            "string" | "octets" | "octet_string" | "displaystring" => Ty::Octets,
            "oid" | "object_identifier" => Ty::Oid,
            "ipaddress" | "ip" => Ty::IpAddress,
            "counter" | "counter32" => Ty::Counter32,
            "gauge" | "gauge32" | "unsigned32" => Ty::Gauge32,
            "timeticks" => Ty::TimeTicks,
            "counter64" => Ty::Counter64,
            _ => return None,
        })
    }

    /// Whether `v` is a value of this type (for SET).
    pub fn accepts(self, v: &SnmpValue) -> bool {
        matches!(
            (self, v),
            (Ty::Integer, SnmpValue::Integer(_))
                | (Ty::Octets, SnmpValue::Octets(_))
                | (Ty::Oid, SnmpValue::Oid(_))
                | (Ty::IpAddress, SnmpValue::IpAddress(_))
                | (Ty::Counter32, SnmpValue::Counter32(_))
                | (Ty::Gauge32, SnmpValue::Gauge32(_))
                | (Ty::TimeTicks, SnmpValue::TimeTicks(_))
                | (Ty::Counter64, SnmpValue::Counter64(_))
        )
    }

    /// Converts a databus value to this type.
    pub fn from_value(self, v: &Value) -> SnmpValue {
        let int = v
            .as_i128()
            .unwrap_or_else(|| v.to_string().trim().parse::<i128>().unwrap_or(0));
        match self {
            Ty::Integer => SnmpValue::Integer(int.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i64),
            Ty::Octets => SnmpValue::Octets(match v {
                Value::Bytes(b) => b.clone(),
                other => other.to_string().into_bytes(),
            }),
            Ty::Oid => SnmpValue::Oid(parse_oid(&v.to_string()).unwrap_or_else(|| vec![0, 0])),
            Ty::IpAddress => {
                let ip = v
                    .to_string()
                    .parse::<std::net::Ipv4Addr>()
                    .map(|a| a.octets())
                    .unwrap_or([0; 4]);
                SnmpValue::IpAddress(ip)
            }
            Ty::Counter32 => SnmpValue::Counter32((int as u64 % (1 << 32)) as u32),
            Ty::Gauge32 => SnmpValue::Gauge32(int.clamp(0, i128::from(u32::MAX)) as u32),
            Ty::TimeTicks => SnmpValue::TimeTicks((int as u64 % (1 << 32)) as u32),
            Ty::Counter64 => SnmpValue::Counter64(int.max(0) as u64),
        }
    }

    /// Converts a value set over SNMP to what the databus stores.
    pub fn to_value(v: &SnmpValue) -> Value {
        match v {
            SnmpValue::Integer(i) => Value::Int(i128::from(*i)),
            SnmpValue::Octets(b) => match String::from_utf8(b.clone()) {
                Ok(s) => Value::Str(s),
                Err(_) => Value::Bytes(b.clone()),
            },
            SnmpValue::Oid(o) => Value::Str(crate::message::oid_string(o)),
            SnmpValue::IpAddress(a) => Value::Str(std::net::Ipv4Addr::from(*a).to_string()),
            SnmpValue::Counter32(x) | SnmpValue::Gauge32(x) | SnmpValue::TimeTicks(x) => Value::Int(i128::from(*x)),
            SnmpValue::Counter64(x) => Value::Int(i128::from(*x)),
            _ => Value::Null,
        }
    }
}

/// Where an object's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A constant.
    Static(SnmpValue),
    /// A databus key, converted to the object's type on each read.
    Databus(String),
    /// A counter growing from `base` at `rate` per second since boot, with a little wobble.
    Counter {
        /// Value at boot.
        base: u64,
        /// Mean increase per second.
        rate: f64,
    },
    /// Hundredths of a second since boot.
    Uptime,
    /// One of the agent's own statistics (index into its counters).
    Stat(usize),
}

/// One object instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Its type.
    pub ty: Ty,
    /// Where its value comes from.
    pub source: Source,
    /// Whether SET may change it (databus-backed objects only).
    pub writable: bool,
    /// For strings, the longest value a SET may store.
    pub max_len: usize,
    /// For integers, the values a SET may store.
    pub range: Option<(i64, i64)>,
}

/// The ordered MIB view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mib {
    /// Objects by OID.
    pub objects: BTreeMap<Vec<u32>, Object>,
}

impl Mib {
    /// Adds (or replaces) an object.
    pub fn add(&mut self, oid: Vec<u32>, ty: Ty, source: Source, writable: bool) {
        self.objects.insert(
            oid,
            Object {
                ty,
                source,
                writable,
                max_len: 255,
                range: None,
            },
        );
    }

    /// The first object after `oid`.
    pub fn next_after(&self, oid: &[u32]) -> Option<(&Vec<u32>, &Object)> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.objects.range::<[u32], _>((Excluded(oid), Unbounded)).next()
    }

    /// Whether any object lies under `prefix` (to tell noSuchInstance from noSuchObject).
    pub fn has_prefix(&self, prefix: &[u32]) -> bool {
        self.next_after(prefix).is_some_and(|(o, _)| o.starts_with(prefix))
    }
}

/// Reads an object's value at `now`; `stats` are the agent's counters.
pub fn read(obj: &Object, bus: &Databus, boot: SystemTime, now: SystemTime, stats: &[AtomicU32]) -> SnmpValue {
    let up = now.duration_since(boot).unwrap_or(Duration::ZERO);
    match &obj.source {
        Source::Static(v) => v.clone(),
        Source::Databus(key) => bus
            .get(key, now)
            .map_or(SnmpValue::NoSuchInstance, |v| obj.ty.from_value(&v)),
        Source::Counter { base, rate } => {
            let t = up.as_secs_f64();
            let v = *base as f64 + rate * t + (t / 11.0).sin() * rate * 0.9;
            obj.ty.from_value(&Value::Int(v.max(0.0) as i128))
        }
        Source::Uptime => SnmpValue::TimeTicks(((up.as_millis() / 10) % (1 << 32)) as u32),
        Source::Stat(i) => match obj.ty {
            Ty::Integer => SnmpValue::Integer(i64::from(stats.get(*i).map_or(0, |s| s.load(Ordering::Relaxed)))),
            _ => SnmpValue::Counter32(stats.get(*i).map_or(0, |s| s.load(Ordering::Relaxed))),
        },
    }
}
