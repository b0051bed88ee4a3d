//! Conpot's template value expressions, recognised without executing any code.
//!
//! Conpot evaluates the text of `<value type="value">` as Python. We accept only the forms
//! that templates use: string, number, boolean and `None` literals (negative numbers too),
//! list literals, `random.randint(a, b)`, `random.uniform(a, b)`, `round(x[, n])`, and list
//! comprehensions `[EXPR for NAME in range(a[, b])]`. Anything else is an error that names
//! what was found.

use crate::rng::Rng;
use crate::value::Value;

/// Largest list a comprehension or literal may build.
pub const MAX_LIST_LEN: usize = 1 << 20;
/// Deepest nesting of lists and calls accepted.
const MAX_DEPTH: usize = 16;

/// A parse or evaluation error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    /// Byte offset in the expression text.
    pub offset: usize,
    /// What was expected or what went wrong.
    pub message: String,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for ExprError {}

/// A parsed expression, evaluated each time a fresh value is wanted.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Literal(Value),
    /// A list literal.
    List(Vec<Expr>),
    /// `random.randint(lo, hi)`, both ends included.
    RandInt(i64, i64),
    /// `random.uniform(lo, hi)`.
    Uniform(f64, f64),
    /// `round(x, digits)`; digits `None` rounds to an integer.
    Round(Box<Expr>, Option<i32>),
    /// `[item for _ in range(start, stop)]`.
    Comprehension(Box<Expr>, i64, i64),
}

impl Expr {
    /// Parses expression text.
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let mut p = Parser {
            src: text.as_bytes(),
            pos: 0,
            depth: 0,
        };
        let e = p.expr()?;
        p.skip_ws();
        if p.pos != p.src.len() {
            return Err(p.err("end of expression"));
        }
        if e.size() > MAX_LIST_LEN as u64 {
            return Err(ExprError {
                offset: 0,
                message: format!("a value of at most {MAX_LIST_LEN} items in all"),
            });
        }
        Ok(e)
    }

    /// How many values evaluating the expression creates (saturating).
    pub fn size(&self) -> u64 {
        match self {
            Expr::Literal(_) | Expr::RandInt(..) | Expr::Uniform(..) => 1,
            Expr::List(items) => items.iter().fold(1u64, |acc, e| acc.saturating_add(e.size())),
            Expr::Round(inner, _) => inner.size(),
            Expr::Comprehension(item, start, stop) => {
                let n = u64::try_from(stop.saturating_sub(*start)).unwrap_or(0);
                n.saturating_mul(item.size()).saturating_add(1)
            }
        }
    }

    /// Evaluates the expression, drawing random numbers from `rng`.
    pub fn eval(&self, rng: &mut Rng) -> Value {
        match self {
            Expr::Literal(v) => v.clone(),
            Expr::List(items) => Value::List(items.iter().map(|e| e.eval(rng)).collect()),
            Expr::RandInt(lo, hi) => Value::Int(i128::from(rng.range_i64(*lo, *hi))),
            Expr::Uniform(lo, hi) => Value::Float(rng.range_f64(*lo, *hi)),
            Expr::Round(inner, digits) => {
                let x = match inner.eval(rng) {
                    Value::Float(f) => f,
                    Value::Int(i) => i as f64,
                    other => return other,
                };
                match digits {
                    None => Value::Int(x.round() as i128),
                    Some(d) => {
                        let m = 10f64.powi(*d);
                        Value::Float((x * m).round() / m)
                    }
                }
            }
            Expr::Comprehension(item, start, stop) => {
                let n = usize::try_from(stop.saturating_sub(*start)).unwrap_or(0);
                Value::List((0..n).map(|_| item.eval(rng)).collect())
            }
        }
    }
}

impl Expr {
    /// The expression written back in the syntax [`Expr::parse`] accepts, so that parsing
    /// the text gives this expression again: `conpot template import` writes a Conpot
    /// template's `<value type="value">` expressions into TOML `{ expr = "..." }` with it.
    pub fn to_source(&self) -> String {
        let mut out = String::new();
        self.write_source(&mut out);
        out
    }

    fn write_source(&self, out: &mut String) {
        match self {
            Expr::Literal(v) => write_literal(v, out),
            Expr::List(items) => {
                out.push('[');
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    e.write_source(out);
                }
                out.push(']');
            }
            Expr::RandInt(lo, hi) => out.push_str(&format!("random.randint({lo}, {hi})")),
            Expr::Uniform(lo, hi) => out.push_str(&format!("random.uniform({lo:?}, {hi:?})")),
            Expr::Round(inner, digits) => {
                out.push_str("round(");
                inner.write_source(out);
                if let Some(d) = digits {
                    out.push_str(&format!(", {d}"));
                }
                out.push(')');
            }
            Expr::Comprehension(item, start, stop) => {
                out.push('[');
                item.write_source(out);
                out.push_str(&format!(" for _ in range({start}, {stop})]"));
            }
        }
    }
}

/// Writes `v` as an expression literal (bytes as a string of `\xHH` escapes).
fn write_literal(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::BigUint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&format!("{f:?}")),
        Value::Str(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Bytes(b) => {
            out.push('"');
            for byte in b {
                out.push_str(&format!("\\x{byte:02x}"));
            }
            out.push('"');
        }
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(item, out);
            }
            out.push(']');
        }
    }
}

/// Parses and evaluates `text` in one step.
pub fn evaluate(text: &str, rng: &mut Rng) -> Result<Value, ExprError> {
    Ok(Expr::parse(text)?.eval(rng))
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, expected: &str) -> ExprError {
        let found = match self.src.get(self.pos) {
            None => "end of text".to_string(),
            Some(_) => {
                let rest = String::from_utf8_lossy(self.src.get(self.pos..).unwrap_or_default());
                let snippet: String = rest.chars().take(20).collect();
                format!("`{snippet}`")
            }
        };
        ExprError {
            offset: self.pos,
            message: format!(
                "expected {expected}, found {found} (only literals, lists, random.randint, random.uniform, round and list comprehensions over range are allowed)"
            ),
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.src.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.src.get(self.pos).copied()
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.src.get(self.pos..self.pos + tok.len()) == Some(tok.as_bytes()) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> Result<(), ExprError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.err(&format!("`{tok}`")))
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        while let Some(c) = self.src.get(self.pos) {
            if c.is_ascii_alphanumeric() || *c == b'_' || (*c == b'.' && self.pos > start) {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == start || self.src.get(start).is_some_and(|c| c.is_ascii_digit()) {
            self.pos = start;
            return None;
        }
        Some(String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or_default()).into_owned())
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("less nesting"));
        }
        let r = self.expr_inner();
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self) -> Result<Expr, ExprError> {
        match self.peek() {
            None => Err(self.err("a value")),
            Some(b'"' | b'\'') => self.string(),
            Some(b'[') => self.list(),
            Some(b'(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => Ok(Expr::Literal(self.number()?)),
            Some(_) => {
                let start = self.pos;
                let name = self.ident().ok_or_else(|| self.err("a value"))?;
                match name.as_str() {
                    "True" => Ok(Expr::Literal(Value::Bool(true))),
                    "False" => Ok(Expr::Literal(Value::Bool(false))),
                    "None" => Ok(Expr::Literal(Value::Null)),
                    "random.randint" => {
                        let (a, b) = self.two_args()?;
                        let lo = int_arg(&a).ok_or_else(|| self.err("integer arguments"))?;
                        let hi = int_arg(&b).ok_or_else(|| self.err("integer arguments"))?;
                        Ok(Expr::RandInt(lo, hi))
                    }
                    "random.uniform" => {
                        let (a, b) = self.two_args()?;
                        let lo = num_arg(&a).ok_or_else(|| self.err("number arguments"))?;
                        let hi = num_arg(&b).ok_or_else(|| self.err("number arguments"))?;
                        Ok(Expr::Uniform(lo, hi))
                    }
                    "round" => {
                        self.expect("(")?;
                        let inner = self.expr()?;
                        let digits = if self.eat(",") {
                            let d = self.number()?;
                            let d = d
                                .as_i128()
                                .and_then(|d| i32::try_from(d).ok())
                                .filter(|d| d.abs() <= 15);
                            Some(d.ok_or_else(|| self.err("a small integer digit count"))?)
                        } else {
                            None
                        };
                        self.expect(")")?;
                        Ok(Expr::Round(Box::new(inner), digits))
                    }
                    _ => {
                        self.pos = start;
                        Err(self.err("a value"))
                    }
                }
            }
        }
    }

    fn two_args(&mut self) -> Result<(Value, Value), ExprError> {
        self.expect("(")?;
        let a = self.number()?;
        self.expect(",")?;
        let b = self.number()?;
        self.expect(")")?;
        Ok((a, b))
    }

    fn list(&mut self) -> Result<Expr, ExprError> {
        self.expect("[")?;
        if self.eat("]") {
            return Ok(Expr::List(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat("for") {
            self.ident().ok_or_else(|| self.err("a loop variable"))?;
            self.expect("in")?;
            if self.ident().as_deref() != Some("range") {
                return Err(self.err("`range`"));
            }
            self.expect("(")?;
            let a = self.number()?;
            let (start, stop) = if self.eat(",") {
                let b = self.number()?;
                (int_arg(&a), int_arg(&b))
            } else {
                (Some(0), int_arg(&a))
            };
            self.expect(")")?;
            self.expect("]")?;
            let (start, stop) = start.zip(stop).ok_or_else(|| self.err("integer range bounds"))?;
            if stop.saturating_sub(start) > MAX_LIST_LEN as i64 {
                return Err(self.err(&format!("a range of at most {MAX_LIST_LEN} items")));
            }
            return Ok(Expr::Comprehension(Box::new(first), start, stop));
        }
        let mut items = vec![first];
        while self.eat(",") {
            if self.peek() == Some(b']') {
                break;
            }
            if items.len() >= MAX_LIST_LEN {
                return Err(self.err("a shorter list"));
            }
            items.push(self.expr()?);
        }
        self.expect("]")?;
        Ok(Expr::List(items))
    }

    fn string(&mut self) -> Result<Expr, ExprError> {
        let quote = self.peek().ok_or_else(|| self.err("a string"))?;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.src.get(self.pos).ok_or_else(|| self.err("a closing quote"))?;
            self.pos += 1;
            if c == quote {
                break;
            }
            if c == b'\\' {
                let e = *self.src.get(self.pos).ok_or_else(|| self.err("an escape"))?;
                self.pos += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'0' => out.push(0),
                    b'x' => {
                        let h = self
                            .src
                            .get(self.pos..self.pos + 2)
                            .ok_or_else(|| self.err("two hex digits"))?;
                        let v = crate::hex::decode(&String::from_utf8_lossy(h)).and_then(|v| v.first().copied());
                        out.push(v.ok_or_else(|| self.err("two hex digits"))?);
                        self.pos += 2;
                    }
                    other => out.push(other),
                }
            } else {
                out.push(c);
            }
        }
        Ok(Expr::Literal(Value::Str(String::from_utf8_lossy(&out).into_owned())))
    }

    fn number(&mut self) -> Result<Value, ExprError> {
        self.skip_ws();
        let start = self.pos;
        if matches!(self.src.get(self.pos), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        while matches!(self.src.get(self.pos), Some(c) if c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
            || (matches!(self.src.get(self.pos), Some(b'-' | b'+'))
                && matches!(self.src.get(self.pos.wrapping_sub(1)), Some(b'e' | b'E')))
        {
            self.pos += 1;
        }
        let text: String = String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or_default()).replace('_', "");
        let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            i128::from_str_radix(hex, 16).ok().map(Value::Int)
        } else if let Ok(i) = text.parse::<i128>() {
            Some(Value::Int(i))
        } else if let Ok(u) = text.trim_start_matches('+').parse::<u128>() {
            Some(Value::BigUint(u))
        } else if text.contains(['.', 'e', 'E']) {
            text.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float)
        } else {
            None
        };
        parsed.ok_or_else(|| {
            self.pos = start;
            self.err("a number")
        })
    }
}

fn int_arg(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

fn num_arg(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Value {
        evaluate(s, &mut Rng::from_seed(1)).unwrap()
    }

    #[test]
    fn literals() {
        assert_eq!(ev("\"Technodrome\""), Value::Str("Technodrome".into()));
        assert_eq!(ev("'0.0.0.0'"), Value::Str("0.0.0.0".into()));
        assert_eq!(ev("\"\""), Value::Str(String::new()));
        assert_eq!(ev("0"), Value::Int(0));
        assert_eq!(ev("-1"), Value::Int(-1));
        assert_eq!(ev("41.2"), Value::Float(41.2));
        assert_eq!(ev("340282366920938463463374607431768211455"), Value::BigUint(u128::MAX));
        assert_eq!(ev("True"), Value::Bool(true));
        assert_eq!(
            ev("[1, 'a', ]"),
            Value::List(vec![Value::Int(1), Value::Str("a".into())])
        );
    }

    #[test]
    fn conpot_forms() {
        let Value::List(bits) = ev("[random.randint(0,1) for b in range(0,128)]") else {
            panic!()
        };
        assert_eq!(bits.len(), 128);
        assert!(bits.iter().all(|b| matches!(b, Value::Int(0 | 1))));
        assert!(bits.contains(&Value::Int(1)));
        assert_eq!(ev("[0 for b in range(0,32)]"), Value::List(vec![Value::Int(0); 32]));
        assert_eq!(ev("[0 for b in range(4)]"), Value::List(vec![Value::Int(0); 4]));
        for _ in 0..100 {
            let Value::Int(i) = ev("random.randint(1000, 9050)") else {
                panic!()
            };
            assert!((1000..=9050).contains(&i));
        }
        let Value::Float(f) = ev("round(random.uniform(25.00, 75.99), 2)") else {
            panic!()
        };
        assert!((25.0..=75.99).contains(&f));
        assert_eq!((f * 100.0).round() / 100.0, f);
    }

    #[test]
    fn rejects_code() {
        for bad in [
            "__import__('os').system('id')",
            "open('/etc/passwd').read()",
            "1 + 1",
            "[x for x in range(10**9)]",
            "random.randint(0, 'a')",
            "\"unterminated",
            "[0 for b in range(0, 100000000)]",
            "[[0 for a in range(1000000)] for b in range(1000000)]",
            "",
            "random.choice([1,2])",
            "lambda: 0",
        ] {
            let e = Expr::parse(bad);
            assert!(e.is_err(), "accepted {bad:?}: {e:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(Expr::parse(&deep).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,64}") {
            let _ = evaluate(&s, &mut Rng::from_seed(3));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod source_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn conpot_expressions_survive_to_source() {
        for text in [
            "\"Technodrome\"",
            "'0.0.0.0'",
            "-0.44013",
            "340282366920938463463374607431768211455",
            "[random.randint(0,1) for b in range(0,128)]",
            "[0 for b in range(3, 10)]",
            "round(random.uniform(1.5, 2.25), 2)",
            "round(random.uniform(-1, 1e20))",
            "[1, 'a\\n\\t\\x01\"q\"', None, True, False, [2.5]]",
            "0x1e28",
        ] {
            let e = Expr::parse(text).unwrap();
            let back = e.to_source();
            assert_eq!(Expr::parse(&back).unwrap(), e, "{text} -> {back}");
        }
        assert_eq!(Expr::parse("'a\"b'").unwrap().to_source(), "\"a\\\"b\"");
    }

    proptest! {
        #[test]
        fn any_string_literal_survives(s in any::<String>(), i in any::<i64>(), f in -1e12f64..1e12) {
            let e = Expr::List(vec![
                Expr::Literal(Value::Str(s)),
                Expr::Literal(Value::Int(i128::from(i))),
                Expr::Literal(Value::Float(f)),
            ]);
            prop_assert_eq!(Expr::parse(&e.to_source()).unwrap(), e);
        }
    }
}
