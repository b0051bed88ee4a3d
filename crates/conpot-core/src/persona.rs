//! Personas: the identity values of one emulated device (vendor, model, order code,
//! serial, firmware, names, MAC), generated per deployment from a seed and kept in the
//! state directory, so every sensor differs yet stays the same across restarts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::rng::{Rng, entropy_u64};

/// How one identity field is generated.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSpec {
    /// A fixed text (may reference other fields as `{persona.NAME}`).
    Fixed(String),
    /// One of these, picked by the seed.
    Choice(Vec<String>),
    /// A pattern: `#` a digit, `@` an upper-case letter, `%` an upper-case hex digit,
    /// `*` a digit or upper-case letter, `\` escapes the next character; anything else is
    /// kept. `{persona.NAME}` references are substituted after generation.
    Pattern(String),
}

/// The generator of a persona, as declared by a template.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonaSpec {
    /// Fields generated for every persona.
    pub fields: BTreeMap<String, FieldSpec>,
    /// Coherent alternatives (e.g. module type + order code + firmware of one CPU); one is
    /// picked per deployment and its fields override `fields`.
    pub variants: Vec<BTreeMap<String, FieldSpec>>,
}

/// The identity of one deployed device.
#[derive(Debug, Clone, PartialEq)]
pub struct Persona {
    /// Name of the template the persona belongs to.
    pub template: String,
    /// Seed it was generated from.
    pub seed: u64,
    /// Field values by name.
    pub values: BTreeMap<String, String>,
}

/// Error while rendering persona references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField(pub String);

impl std::fmt::Display for UnknownField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown persona field `{}`", self.0)
    }
}

impl std::error::Error for UnknownField {}

const PREFIX: &str = "{persona.";

impl PersonaSpec {
    /// Names of every field a persona from this spec has.
    pub fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.fields.keys().cloned().collect();
        for v in &self.variants {
            names.extend(v.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    /// Generates the persona for `seed`: the same seed always gives the same values.
    pub fn generate(&self, template: &str, seed: u64) -> Persona {
        let mut rng = Rng::from_seed(seed);
        let mut specs = self.fields.clone();
        if !self.variants.is_empty() {
            let pick = rng.index(self.variants.len());
            if let Some(v) = self.variants.get(pick) {
                specs.extend(v.clone());
            }
        }
        let mut values: BTreeMap<String, String> = specs
            .iter()
            .map(|(k, s)| (k.clone(), generate_field(s, &mut rng)))
            .collect();
        // Resolve references between fields (two passes allow one level of chaining).
        for _ in 0..2 {
            let snapshot = values.clone();
            for v in values.values_mut() {
                if v.contains(PREFIX) {
                    *v = render_with(v, &snapshot).unwrap_or_else(|_| v.clone());
                }
            }
        }
        Persona {
            template: template.to_owned(),
            seed,
            values,
        }
    }
}

fn generate_field(spec: &FieldSpec, rng: &mut Rng) -> String {
    match spec {
        FieldSpec::Fixed(s) => s.clone(),
        FieldSpec::Choice(list) => list.get(rng.index(list.len())).cloned().unwrap_or_default(),
        FieldSpec::Pattern(p) => {
            const DIGITS: &[u8] = b"0123456789";
            const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
            const HEX: &[u8] = b"0123456789ABCDEF";
            const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
            let mut out = String::with_capacity(p.len());
            let mut chars = p.chars();
            let pick = |set: &[u8], rng: &mut Rng| char::from(set.get(rng.index(set.len())).copied().unwrap_or(b'0'));
            while let Some(c) = chars.next() {
                match c {
                    '#' => out.push(pick(DIGITS, rng)),
                    '@' => out.push(pick(LETTERS, rng)),
                    '%' => out.push(pick(HEX, rng)),
                    '*' => out.push(pick(ALNUM, rng)),
                    '\\' => out.extend(chars.next()),
                    other => out.push(other),
                }
            }
            out
        }
    }
}

fn render_with(text: &str, values: &BTreeMap<String, String>) -> Result<String, UnknownField> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(PREFIX) {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + PREFIX.len()..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            out.push_str(rest.get(i..).unwrap_or_default());
            return Ok(out);
        };
        let name = after.get(..end).unwrap_or_default();
        let v = values.get(name).ok_or_else(|| UnknownField(name.to_owned()))?;
        out.push_str(v);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

impl Persona {
    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Substitutes every `{persona.NAME}` in `text`.
    pub fn render(&self, text: &str) -> Result<String, UnknownField> {
        render_with(text, &self.values)
    }

    /// A short label for logs: the template name and a hash of the seed.
    pub fn label(&self) -> String {
        format!("{}-{:08x}", self.template, (self.seed ^ (self.seed >> 32)) as u32)
    }

    /// Loads the persona kept under `key` (the template's identity, see
    /// `Template::persona_key`) from `state_dir`, or generates one for `template` from a
    /// fresh seed and stores it. Fields the spec gained since it was stored are generated
    /// from the stored seed; stored values are never changed.
    pub fn load_or_create(spec: &PersonaSpec, template: &str, key: &str, state_dir: &Path) -> std::io::Result<Persona> {
        let path = Self::path(state_dir, key);
        if let Ok(text) = std::fs::read_to_string(&path) {
            let stored = Self::parse_stored(&text).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a persona file", path.display()),
                )
            })?;
            let mut fresh = spec.generate(template, stored.seed);
            let changed = fresh.values.keys().any(|k| !stored.values.contains_key(k));
            fresh.values.extend(stored.values);
            if changed {
                fresh.store(state_dir, key)?;
            }
            return Ok(fresh);
        }
        let persona = spec.generate(template, entropy_u64());
        persona.store(state_dir, key)?;
        Ok(persona)
    }

    /// Counts this start of the device: the number of times it has booted, kept beside the
    /// persona (SNMP's snmpEngineBoots must grow with every restart).
    pub fn next_boot(state_dir: &Path, key: &str) -> std::io::Result<u32> {
        let path = Self::path(state_dir, key).with_extension("boots");
        let last = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .unwrap_or(0);
        let boots = last.saturating_add(1).min(i32::MAX as u32);
        std::fs::create_dir_all(state_dir)?;
        std::fs::write(&path, format!("{boots}\n"))?;
        Ok(boots)
    }

    /// Path of the persona file kept under `key` in `state_dir`.
    pub fn path(state_dir: &Path, key: &str) -> PathBuf {
        let safe: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        state_dir.join(format!("persona-{safe}.toml"))
    }

    /// Writes the persona into `state_dir` (created if missing), under `key`.
    pub fn store(&self, state_dir: &Path, key: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let mut table = toml::Table::new();
        table.insert("template".into(), toml::Value::String(self.template.clone()));
        table.insert("seed".into(), toml::Value::String(format!("{:016x}", self.seed)));
        let values: toml::Table = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
            .collect();
        table.insert("values".into(), toml::Value::Table(values));
        let text = format!(
            "# The identity of this deployment, generated once from the seed. Keep it to stay the same device.\n{}",
            toml::to_string(&table).map_err(std::io::Error::other)?
        );
        let path = Self::path(state_dir, key);
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, path)
    }

    fn parse_stored(text: &str) -> Option<Persona> {
        let table: toml::Table = text.parse().ok()?;
        let template = table.get("template")?.as_str()?.to_owned();
        let seed = u64::from_str_radix(table.get("seed")?.as_str()?, 16).ok()?;
        let values = table
            .get("values")?
            .as_table()?
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        Some(Persona { template, seed, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PersonaSpec {
        let mut fields = BTreeMap::new();
        fields.insert("vendor".into(), FieldSpec::Fixed("Siemens".into()));
        fields.insert("serial".into(), FieldSpec::Pattern("S C-@%%######".into()));
        fields.insert(
            "plant".into(),
            FieldSpec::Choice(vec!["A".into(), "B".into(), "C".into()]),
        );
        fields.insert(
            "label".into(),
            FieldSpec::Fixed("{persona.vendor} {persona.model}".into()),
        );
        let mut v1 = BTreeMap::new();
        v1.insert("model".into(), FieldSpec::Fixed("CPU 315".into()));
        let mut v2 = BTreeMap::new();
        v2.insert("model".into(), FieldSpec::Fixed("CPU 317".into()));
        PersonaSpec {
            fields,
            variants: vec![v1, v2],
        }
    }

    #[test]
    fn deterministic_per_seed_and_distinct_across_seeds() {
        let s = spec();
        assert_eq!(s.generate("t", 42), s.generate("t", 42));
        let serials: std::collections::HashSet<String> = (0..200)
            .map(|seed| s.generate("t", seed).values["serial"].clone())
            .collect();
        assert_eq!(serials.len(), 200);
        let p = s.generate("t", 1);
        let serial = &p.values["serial"];
        assert!(serial.starts_with("S C-"), "{serial}");
        assert_eq!(serial.len(), 13);
        assert!(p.values["label"] == "Siemens CPU 315" || p.values["label"] == "Siemens CPU 317");
        assert_eq!(p.render("x {persona.vendor} y").unwrap(), "x Siemens y");
        assert_eq!(p.render("{persona.nope}"), Err(UnknownField("nope".into())));
        assert_eq!(p.render("no refs {here}").unwrap(), "no refs {here}");
    }

    #[test]
    fn stored_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("conpot-persona-{}", entropy_u64()));
        let s = spec();
        let a = Persona::load_or_create(&s, "default", "default", &dir).unwrap();
        let b = Persona::load_or_create(&s, "default", "default", &dir).unwrap();
        assert_eq!(a, b);
        let other = std::env::temp_dir().join(format!("conpot-persona-{}", entropy_u64()));
        let c = Persona::load_or_create(&s, "default", "default", &other).unwrap();
        assert_ne!(a.values["serial"], c.values["serial"]);
        // A field added to the spec later is filled in; stored ones stay.
        let mut s2 = s.clone();
        s2.fields
            .insert("mac".into(), FieldSpec::Pattern("00:1B:1B:%%:%%:%%".into()));
        let d = Persona::load_or_create(&s2, "default", "default", &dir).unwrap();
        assert_eq!(d.values["serial"], a.values["serial"]);
        assert_eq!(d.values["mac"].len(), 17);
        assert_eq!(Persona::next_boot(&dir, "default").unwrap(), 1);
        assert_eq!(Persona::next_boot(&dir, "default").unwrap(), 2);
        // Another key in the same folder is another device, with its own boot count.
        let e = Persona::load_or_create(&s, "default", "default-1a2b3c4d", &dir).unwrap();
        assert_ne!(e.values["serial"], a.values["serial"]);
        assert_eq!(Persona::load_or_create(&s, "default", "default", &dir).unwrap(), d);
        assert_eq!(Persona::next_boot(&dir, "default-1a2b3c4d").unwrap(), 1);
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(other);
    }
}
