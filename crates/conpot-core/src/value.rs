//! Typed values held by the databus and produced by template expressions.

use std::fmt;

/// A value stored in the databus.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (Python's `None`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i128),
    /// An unsigned integer too large for [`Value::Int`].
    BigUint(u128),
    /// A floating point number.
    Float(f64),
    /// A text string.
    Str(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values (register blocks, bit arrays).
    List(Vec<Value>),
}

impl Value {
    /// The value as an integer, when it is a number or boolean that fits.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Bool(b) => Some(i128::from(*b)),
            Value::Int(i) => Some(*i),
            Value::BigUint(u) => i128::try_from(*u).ok(),
            Value::Float(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i128),
            _ => None,
        }
    }

    /// The value as a 16-bit register, when it is an integer in `0..=65535`.
    pub fn as_u16(&self) -> Option<u16> {
        self.as_i128().and_then(|v| u16::try_from(v).ok())
    }

    /// The value read as a bit: non-zero numbers and `true` are set.
    pub fn as_bit(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Float(f) => Some(*f != 0.0),
            other => other.as_i128().map(|v| v != 0),
        }
    }

    /// The value as text, when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigUint(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
        }
    }

    /// Converts the value to JSON for event logs.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => match i64::try_from(*i) {
                Ok(v) => v.into(),
                Err(_) => i.to_string().into(),
            },
            Value::BigUint(u) => u.to_string().into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.clone().into(),
            Value::Bytes(b) => crate::hex::encode(b).into(),
            Value::List(l) => l.iter().map(Value::to_json).collect(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str(""),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigUint(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => f.write_str(&crate::hex::encode(b)),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i128::from(i))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Value::Int(65535).as_u16(), Some(65535));
        assert_eq!(Value::Int(65536).as_u16(), None);
        assert_eq!(Value::Int(-1).as_u16(), None);
        assert_eq!(Value::Bool(true).as_u16(), Some(1));
        assert_eq!(Value::Float(3.0).as_u16(), Some(3));
        assert_eq!(Value::Float(3.5).as_u16(), None);
        assert_eq!(Value::Int(2).as_bit(), Some(true));
        assert_eq!(Value::Str("x".into()).as_bit(), None);
        assert_eq!(
            Value::BigUint(u128::MAX).to_json(),
            serde_json::json!(u128::MAX.to_string())
        );
    }
}
