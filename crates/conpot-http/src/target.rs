//! The request target: origin form (`/a/b?q`), absolute form (`http://host/a`, as proxies
//! are asked), `*` (OPTIONS); the path percent-decoded and normalised so no `..` leaves
//! the site's root, and the attempt reported.

/// Longest decoded path we look up; longer ones are refused (400).
pub const MAX_PATH: usize = 2048;

/// A request target taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The normalised, decoded path (`/` for `*`), always starting with `/`.
    pub path: String,
    /// The query, undecoded, without the `?` (`None` if there was no `?`).
    pub query: Option<String>,
    /// The host of an absolute-form target.
    pub host: Option<String>,
    /// Whether the path had `..` segments.
    pub dot_dot: bool,
    /// Whether a `..` tried to climb above the root (stayed at the root).
    pub escaped: bool,
    /// The target was `*`.
    pub asterisk: bool,
}

/// Why a target cannot be served (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetError {
    /// Not origin, absolute or asterisk form.
    Form,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A NUL byte, decoded or not.
    Nul,
    /// Longer than [`MAX_PATH`] once decoded.
    TooLong,
}

impl TargetError {
    /// A stable description for the event.
    pub fn describe(self) -> &'static str {
        match self {
            TargetError::Form => "malformed request target",
            TargetError::BadEscape => "malformed percent-encoding",
            TargetError::Nul => "NUL byte in the path",
            TargetError::TooLong => "path too long",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (`+` stays `+`: it is a space only in form data).
pub fn percent_decode(s: &str) -> Result<Vec<u8>, TargetError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(TargetError::BadEscape);
            };
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// Decodes form data (`a=1&b=x+y`) into pairs, at most `max` of them; malformed escapes
/// are kept as sent.
pub fn form_pairs(body: &str, max: usize) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_decode(&s).map_or(s, |b| String::from_utf8_lossy(&b).into_owned())
    };
    body.split('&')
        .filter(|p| !p.is_empty())
        .take(max)
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Parses a request target.
pub fn parse(raw: &str) -> Result<Target, TargetError> {
    if raw == "*" {
        return Ok(Target {
            path: "/".into(),
            query: None,
            host: None,
            dot_dot: false,
            escaped: false,
            asterisk: true,
        });
    }
    let (host, rest) = if raw.starts_with('/') {
        (None, raw)
    } else {
        let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
        let after = if lower.starts_with("http://") {
            raw.get(7..)
        } else if lower.starts_with("https://") {
            raw.get(8..)
        } else {
            None
        }
        .ok_or(TargetError::Form)?;
        let split = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, path) = after.split_at(split);
        if authority.is_empty() {
            return Err(TargetError::Form);
        }
        let path = if path.is_empty() { "/" } else { path };
        (Some(authority.to_owned()), path)
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (rest, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    let decoded = percent_decode(path)?;
    if decoded.contains(&0) {
        return Err(TargetError::Nul);
    }
    if decoded.len() > MAX_PATH {
        return Err(TargetError::TooLong);
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let (path, dot_dot, escaped) = normalise(&decoded);
    Ok(Target {
        path,
        query,
        host,
        dot_dot,
        escaped,
        asterisk: false,
    })
}

/// Drops empty and `.` segments and resolves `..` (at the root it stays at the root);
/// keeps a trailing `/`. Returns the path, whether `..` occurred, whether it climbed
/// above the root.
pub fn normalise(path: &str) -> (String, bool, bool) {
    let mut segments: Vec<&str> = Vec::new();
    let (mut dot_dot, mut escaped) = (false, false);
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                dot_dot = true;
                if segments.pop().is_none() {
                    escaped = true;
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if out.is_empty() || path.ends_with('/') || last == "." || last == ".." {
        out.push('/');
    }
    (out, dot_dot, escaped)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origin_and_absolute_forms() {
        let t = parse("/a/b.html?x=1").unwrap();
        assert_eq!((t.path.as_str(), t.query.as_deref()), ("/a/b.html", Some("x=1")));
        let t = parse("http://plc.example:8080/index.html").unwrap();
        assert_eq!(t.host.as_deref(), Some("plc.example:8080"));
        assert_eq!(t.path, "/index.html");
        assert_eq!(parse("HTTP://h").unwrap().path, "/");
        assert!(parse("*").unwrap().asterisk);
        assert_eq!(parse("index.html"), Err(TargetError::Form));
        assert_eq!(parse("http:///x"), Err(TargetError::Form));
    }

    #[test]
    fn traversal_stays_at_the_root() {
        let t = parse("/%2e%2e/%2E%2E/etc/passwd").unwrap();
        assert_eq!(t.path, "/etc/passwd");
        assert!(t.dot_dot && t.escaped);
        let t = parse("/a/./b/../c//d/").unwrap();
        assert_eq!(t.path, "/a/c/d/");
        assert!(t.dot_dot && !t.escaped);
        assert_eq!(parse("/a/..").unwrap().path, "/");
        assert_eq!(parse("/%00"), Err(TargetError::Nul));
        assert_eq!(parse("/%zz"), Err(TargetError::BadEscape));
        assert_eq!(parse("/%4"), Err(TargetError::BadEscape));
    }

    #[test]
    fn form_data() {
        assert_eq!(
            form_pairs("user=admin&pass=a+b%21&flag", 8),
            vec![
                ("user".into(), "admin".into()),
                ("pass".into(), "a b!".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(form_pairs("a=1&b=2&c=3", 2).len(), 2);
    }
}
