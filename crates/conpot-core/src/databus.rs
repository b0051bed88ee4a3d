//! The databus: one key/value store per persona, shared by all of its protocols.
//!
//! Values are either plain [`Value`]s or [`Emulator`]s computed on read. A write replaces
//! the stored value and notifies the key's observers, so a Modbus write is seen by any
//! later reader of the same key, whatever its protocol.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::emulators::Emulator;
use crate::value::Value;

/// What a databus key holds.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A stored value.
    Value(Value),
    /// A value computed on each read.
    Emulator(Arc<dyn Emulator>),
}

/// A callback run after a key is written, with the key and its new value.
pub type Observer = Arc<dyn Fn(&str, &Value) + Send + Sync>;

/// Error from a databus operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabusError {
    /// The key does not exist.
    NoSuchKey(String),
    /// The key holds an emulator or a value of another shape.
    NotWritable(String),
}

impl std::fmt::Display for DatabusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabusError::NoSuchKey(k) => write!(f, "no databus key `{k}`"),
            DatabusError::NotWritable(k) => {
                write!(f, "databus key `{k}` cannot be written that way")
            }
        }
    }
}

impl std::error::Error for DatabusError {}

/// The key/value store of one persona.
#[derive(Default)]
pub struct Databus {
    entries: RwLock<HashMap<String, Entry>>,
    observers: RwLock<HashMap<String, Vec<Observer>>>,
}

impl std::fmt::Debug for Databus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.entries.read().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("Databus").field("keys", &n).finish()
    }
}

impl Databus {
    /// An empty databus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines or replaces a key without notifying observers (template loading).
    pub fn insert(&self, key: impl Into<String>, entry: Entry) {
        if let Ok(mut e) = self.entries.write() {
            e.insert(key.into(), entry);
        }
    }

    /// Whether the key holds an emulator (computed on read).
    pub fn is_emulated(&self, key: &str) -> bool {
        self.entries
            .read()
            .map(|e| matches!(e.get(key), Some(Entry::Emulator(_))))
            .unwrap_or(false)
    }

    /// Whether the key exists.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.read().map(|e| e.contains_key(key)).unwrap_or(false)
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .entries
            .read()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    }

    /// The value of `key` at time `now` (emulators are computed).
    pub fn get(&self, key: &str, now: SystemTime) -> Option<Value> {
        let entry = {
            let e = self.entries.read().ok()?;
            match e.get(key)? {
                Entry::Value(v) => return Some(v.clone()),
                Entry::Emulator(em) => Arc::clone(em),
            }
        };
        Some(entry.read(now))
    }

    /// Runs `f` on the value of `key` without copying it (emulators are computed first).
    pub fn with<R>(&self, key: &str, now: SystemTime, f: impl FnOnce(&Value) -> R) -> Option<R> {
        let em = {
            let e = self.entries.read().ok()?;
            match e.get(key)? {
                Entry::Value(v) => return Some(f(v)),
                Entry::Emulator(em) => Arc::clone(em),
            }
        };
        Some(f(&em.read(now)))
    }

    /// Replaces the value of `key` (creating it if needed) and notifies observers.
    pub fn set(&self, key: &str, value: Value) {
        if let Ok(mut e) = self.entries.write() {
            e.insert(key.to_owned(), Entry::Value(value.clone()));
        }
        self.notify(key, &value);
    }

    /// Changes a stored value in place with `f` and notifies observers. An emulator is
    /// first frozen to its current value, as a write to a real device's register would.
    pub fn update<R>(&self, key: &str, now: SystemTime, f: impl FnOnce(&mut Value) -> R) -> Result<R, DatabusError> {
        let (r, snapshot) = {
            let mut e = self
                .entries
                .write()
                .map_err(|_| DatabusError::NotWritable(key.to_owned()))?;
            let entry = e.get_mut(key).ok_or_else(|| DatabusError::NoSuchKey(key.to_owned()))?;
            if let Entry::Emulator(em) = entry {
                *entry = Entry::Value(em.read(now));
            }
            let Entry::Value(v) = entry else {
                return Err(DatabusError::NotWritable(key.to_owned()));
            };
            let r = f(v);
            let has_observers = self.observers.read().map(|o| o.contains_key(key)).unwrap_or(false);
            (r, has_observers.then(|| v.clone()))
        };
        if let Some(v) = snapshot {
            self.notify(key, &v);
        }
        Ok(r)
    }

    /// Registers `f` to run after every write of `key`.
    pub fn observe(&self, key: &str, f: Observer) {
        if let Ok(mut o) = self.observers.write() {
            o.entry(key.to_owned()).or_default().push(f);
        }
    }

    fn notify(&self, key: &str, value: &Value) {
        let list: Vec<Observer> = match self.observers.read() {
            Ok(o) => o.get(key).cloned().unwrap_or_default(),
            Err(_) => return,
        };
        for f in list {
            f(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulators::{Uptime, UptimeUnit};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn write_is_seen_by_readers_and_observers() {
        let bus = Databus::new();
        bus.insert("regs", Entry::Value(Value::List(vec![Value::Int(0); 4])));
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = Arc::clone(&seen);
        bus.observe(
            "regs",
            Arc::new(move |k, v| {
                assert_eq!(k, "regs");
                if let Value::List(l) = v {
                    s2.store(l.len(), Ordering::SeqCst);
                }
            }),
        );
        let now = SystemTime::UNIX_EPOCH;
        bus.update("regs", now, |v| {
            if let Value::List(l) = v {
                l[2] = Value::Int(7);
            }
        })
        .unwrap();
        assert_eq!(
            bus.with("regs", now, |v| v.clone()),
            Some(Value::List(vec![
                Value::Int(0),
                Value::Int(0),
                Value::Int(7),
                Value::Int(0)
            ]))
        );
        assert_eq!(seen.load(Ordering::SeqCst), 4);
        assert_eq!(
            bus.update("nope", now, |_| ()),
            Err(DatabusError::NoSuchKey("nope".into()))
        );
    }

    #[test]
    fn emulators_compute_on_read_and_freeze_on_write() {
        let bus = Databus::new();
        let boot = SystemTime::UNIX_EPOCH;
        bus.insert(
            "up",
            Entry::Emulator(Arc::new(Uptime {
                boot,
                unit: UptimeUnit::Seconds,
            })),
        );
        assert_eq!(bus.get("up", boot + Duration::from_secs(5)), Some(Value::Int(5)));
        assert_eq!(bus.get("up", boot + Duration::from_secs(9)), Some(Value::Int(9)));
        bus.update("up", boot + Duration::from_secs(10), |v| *v = Value::Int(1))
            .unwrap();
        assert_eq!(bus.get("up", boot + Duration::from_secs(99)), Some(Value::Int(1)));
        assert_eq!(bus.get("missing", boot), None);
    }
}
