//! Typed reading of TOML tables that collects every error with its file, key and what
//! was expected, instead of stopping at the first.

use super::TemplateError;

/// Collected validation errors.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<TemplateError>);

impl Errors {
    /// Records an error.
    pub fn push(&mut self, file: &str, key: &str, expected: impl Into<String>) {
        self.0.push(TemplateError {
            file: file.to_owned(),
            key: key.to_owned(),
            expected: expected.into(),
        });
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A view of one TOML table at a dotted key path in a file.
#[derive(Debug, Clone, Copy)]
pub struct Table<'a> {
    /// File the table came from.
    pub file: &'a str,
    /// Dotted path of the table ("" at the root).
    pub path: &'a str,
    /// The table.
    pub table: &'a toml::Table,
}

impl<'a> Table<'a> {
    /// A view of `table` at `path` in `file`.
    pub fn new(file: &'a str, path: &'a str, table: &'a toml::Table) -> Self {
        Table { file, path, table }
    }

    /// The full dotted key of `key` in this table.
    pub fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a toml::Value> {
        self.table.get(key)
    }

    /// A string; records an error if missing (when `required`) or not a string.
    pub fn str(&self, key: &str, required: bool, errs: &mut Errors) -> Option<&'a str> {
        match self.table.get(key) {
            None if required => {
                errs.push(self.file, &self.key(key), "a string (missing)");
                None
            }
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => {
                errs.push(
                    self.file,
                    &self.key(key),
                    format!("a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// An integer in `min..=max`; records an error if missing (when `required`), not an
    /// integer, or out of range.
    pub fn int(&self, key: &str, min: i64, max: i64, required: bool, errs: &mut Errors) -> Option<i64> {
        match self.table.get(key) {
            None if required => {
                errs.push(
                    self.file,
                    &self.key(key),
                    format!("an integer from {min} to {max} (missing)"),
                );
                None
            }
            None => None,
            Some(toml::Value::Integer(i)) if (min..=max).contains(i) => Some(*i),
            Some(other) => {
                errs.push(
                    self.file,
                    &self.key(key),
                    format!("an integer from {min} to {max}, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// A number (integer or float); records an error if present and not a number.
    pub fn float(&self, key: &str, errs: &mut Errors) -> Option<f64> {
        match self.table.get(key) {
            None => None,
            Some(toml::Value::Integer(i)) => Some(*i as f64),
            Some(toml::Value::Float(f)) => Some(*f),
            Some(other) => {
                errs.push(
                    self.file,
                    &self.key(key),
                    format!("a number, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A boolean; records an error if present and not a boolean.
    pub fn bool(&self, key: &str, errs: &mut Errors) -> Option<bool> {
        match self.table.get(key) {
            None => None,
            Some(toml::Value::Boolean(b)) => Some(*b),
            Some(other) => {
                errs.push(
                    self.file,
                    &self.key(key),
                    format!("true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A sub-table; records an error if missing (when `required`) or not a table.
    pub fn table(&self, key: &str, required: bool, errs: &mut Errors) -> Option<&'a toml::Table> {
        match self.table.get(key) {
            None if required => {
                errs.push(self.file, &self.key(key), "a table (missing)");
                None
            }
            None => None,
            Some(toml::Value::Table(t)) => Some(t),
            Some(other) => {
                errs.push(
                    self.file,
                    &self.key(key),
                    format!("a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// An array; records an error if missing (when `required`) or not an array.
    pub fn array(&self, key: &str, required: bool, errs: &mut Errors) -> Option<&'a Vec<toml::Value>> {
        match self.table.get(key) {
            None if required => {
                errs.push(self.file, &self.key(key), "an array (missing)");
                None
            }
            None => None,
            Some(toml::Value::Array(a)) => Some(a),
            Some(other) => {
                errs.push(
                    self.file,
                    &self.key(key),
                    format!("an array, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A response-time profile `[min, max]` in milliseconds; `(0, 0)` (no delay) when absent.
    pub fn millis_range(&self, key: &str, errs: &mut Errors) -> (u32, u32) {
        match self.array(key, false, errs) {
            None => (0, 0),
            Some(a) => match a.as_slice() {
                [toml::Value::Integer(lo), toml::Value::Integer(hi)] if 0 <= *lo && lo <= hi && *hi <= 10_000 => {
                    (*lo as u32, *hi as u32)
                }
                _ => {
                    errs.push(
                        self.file,
                        &self.key(key),
                        "[min, max] milliseconds, 0 <= min <= max <= 10000",
                    );
                    (0, 0)
                }
            },
        }
    }

    /// The tables of the array `key` (`[[key]]`), each with its dotted path; an element that
    /// is not a table is recorded as an error and skipped.
    pub fn tables(&self, key: &str, required: bool, errs: &mut Errors) -> Vec<(String, &'a toml::Table)> {
        let mut out = Vec::new();
        for (i, v) in self.array(key, required, errs).into_iter().flatten().enumerate() {
            let path = format!("{}[{i}]", self.key(key));
            match v.as_table() {
                Some(t) => out.push((path, t)),
                None => errs.push(self.file, &path, "a table"),
            }
        }
        out
    }

    /// Records an error for every key not in `known`.
    pub fn deny_unknown(&self, known: &[&str], errs: &mut Errors) {
        for k in self.table.keys() {
            if !known.contains(&k.as_str()) {
                errs.push(
                    self.file,
                    &self.key(k),
                    format!("one of the known keys ({})", known.join(", ")),
                );
            }
        }
    }
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::Integer(i) => i.to_string(),
        other => other.type_str().to_owned(),
    }
}

/// The first child element of `node` called `name`: how the Conpot XML importers of every
/// protocol walk a section.
pub fn xml_child<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|n| n.has_tag_name(name))
}

/// The trimmed text of the child element `name` of `node` (empty for an empty element).
pub fn xml_text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    xml_child(node, name).map(|n| n.text().unwrap_or_default().trim())
}
