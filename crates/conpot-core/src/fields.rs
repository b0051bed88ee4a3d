//! `Fields`: the protocol-specific fields of an event. A small ordered list with
//! `'static` keys, so filling it on every request costs one allocation, not one per key.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as Json;

/// Named JSON values in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(Cow<'static, str>, Json)>);

static NULL: Json = Json::Null;

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Fields(Vec::new())
    }

    /// Sets `key` (replacing an earlier value of it).
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: Json) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields in order, values mutable (to bound them before an event is stamped).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Json)> {
        self.0.iter_mut().map(|(k, v)| (&**k, v))
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

/// A JSON object of `entries`, moving the values in. `serde_json::json!` serializes every
/// interpolated expression by reference, so a value that is itself JSON (an array of
/// varbinds, a nested object) is copied whole; on the hot paths that copy was as much
/// work as building the value.
pub fn json_object<const N: usize>(entries: [(&'static str, Json); N]) -> Json {
    let mut m = serde_json::Map::new();
    for (k, v) in entries {
        m.insert(k.to_owned(), v);
    }
    Json::Object(m)
}

impl std::ops::Index<&str> for Fields {
    type Output = Json;

    /// The value of `key`, or JSON null.
    fn index(&self, key: &str) -> &Json {
        self.get(key).unwrap_or(&NULL)
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_ref(), v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_index_serialize() {
        let mut f = Fields::new();
        f.insert("a", Json::from(1));
        f.insert(String::from("b"), Json::from("x"));
        f.insert("a", Json::from(2));
        assert_eq!(f["a"], 2);
        assert_eq!(f["missing"], Json::Null);
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"{"a":2,"b":"x"}"#);
    }

    #[test]
    fn json_object_is_what_json_macro_gives() {
        let inner = serde_json::json!([{"oid": "1.3", "value": null}]);
        assert_eq!(
            json_object([("varbinds", inner.clone()), ("n", Json::from(2))]),
            serde_json::json!({"varbinds": inner, "n": 2})
        );
    }
}
