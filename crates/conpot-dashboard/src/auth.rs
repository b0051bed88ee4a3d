//! Who may see the dashboard: the bearer of the token (an `Authorization: Bearer` header, a
//! `?token=` query that turns into a cookie, or that cookie), or the operator's HTTP basic
//! credentials. Comparisons take the same time whatever byte differs.

/// Name of the cookie a `?token=` query sets.
pub const COOKIE: &str = "conpot_dashboard";

/// The decision on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Serve it.
    Granted,
    /// The query carried the right token: set the cookie and send the browser on without
    /// the token in its address bar (and history).
    SetCookie,
    /// 401.
    Denied,
}

/// What the dashboard accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The token.
    pub token: String,
    /// Basic user and password, if configured.
    pub basic: Option<(String, String)>,
}

/// Equality of two byte strings in time that depends on their lengths only.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of `name` in a query string (no percent-decoding: a token has only unreserved
/// characters, so an encoded one simply does not match).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Standard base64 (with or without padding) decoded; `None` if it is not base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character carries fewer than 8 bits: not base64.
    (bits < 6).then_some(out)
}

impl Credentials {
    /// Whether the `Authorization` header value `h` is the token or the basic credentials.
    fn authorization(&self, h: &str) -> bool {
        let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return same(rest.as_bytes(), self.token.as_bytes());
        }
        if scheme.eq_ignore_ascii_case("basic")
            && let Some((user, password)) = &self.basic
            && let Some(raw) = base64_decode(rest)
        {
            let expected = format!("{user}:{password}");
            return same(&raw, expected.as_bytes());
        }
        false
    }

    /// Decides on a request from its `Authorization` and `Cookie` headers and its query.
    pub fn check(&self, authorization: Option<&str>, cookie_header: Option<&str>, query: Option<&str>) -> Access {
        if let Some(t) = query.and_then(|q| query_param(q, "token")) {
            return if same(t.as_bytes(), self.token.as_bytes()) {
                Access::SetCookie
            } else {
                Access::Denied
            };
        }
        if authorization.is_some_and(|h| self.authorization(h)) {
            return Access::Granted;
        }
        if cookie_header
            .and_then(|h| cookie(h, COOKIE))
            .is_some_and(|c| same(c.as_bytes(), self.token.as_bytes()))
        {
            return Access::Granted;
        }
        Access::Denied
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            token: "0123456789abcdef0123".into(),
            basic: Some(("ops".into(), "s3cret-pass".into())),
        }
    }

    #[test]
    fn every_way_in_and_nothing_else() {
        let c = creds();
        assert_eq!(c.check(None, None, None), Access::Denied);
        assert_eq!(
            c.check(Some("Bearer 0123456789abcdef0123"), None, None),
            Access::Granted
        );
        assert_eq!(
            c.check(Some("bearer  0123456789abcdef0123 "), None, None),
            Access::Granted
        );
        assert_eq!(c.check(Some("Bearer 0123456789abcdef0124"), None, None), Access::Denied);
        assert_eq!(c.check(Some("Bearer 0123456789abcdef012"), None, None), Access::Denied);
        assert_eq!(c.check(Some("Bearer"), None, None), Access::Denied);
        // ops:s3cret-pass
        assert_eq!(c.check(Some("Basic b3BzOnMzY3JldC1wYXNz"), None, None), Access::Granted);
        // ops:wrong
        assert_eq!(c.check(Some("Basic b3B6Ondyb25n"), None, None), Access::Denied);
        assert_eq!(c.check(Some("Basic !!!"), None, None), Access::Denied);
        assert_eq!(
            c.check(None, None, Some("a=1&token=0123456789abcdef0123")),
            Access::SetCookie
        );
        assert_eq!(c.check(None, None, Some("token=nope")), Access::Denied);
        assert_eq!(
            c.check(None, Some("x=1; conpot_dashboard=0123456789abcdef0123"), None),
            Access::Granted
        );
        assert_eq!(c.check(None, Some("conpot_dashboard=wrong"), None), Access::Denied);
        // A wrong token in the query is not rescued by a good cookie: the request says who it is.
        assert_eq!(
            c.check(None, Some("conpot_dashboard=0123456789abcdef0123"), Some("token=x")),
            Access::Denied
        );
        let no_basic = Credentials { basic: None, ..creds() };
        assert_eq!(
            no_basic.check(Some("Basic b3BzOnMzY3JldC1wYXNz"), None, None),
            Access::Denied
        );
    }

    #[test]
    fn base64_vectors() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zm9v YQ"), None);
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}
