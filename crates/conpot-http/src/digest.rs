//! HTTP Digest authentication (RFC 7616) with MD5 and SHA-256, `qop=auth` (and RFC 2069's
//! form without qop, which old clients send): the challenge, the bounded parse of the
//! client's `Authorization: Digest` answer, and its check against an account's password.
//! Nonces are made from the site's secret and the time they were issued, so any
//! connection can check one without state, and one older than [`NONCE_LIFE`] is stale.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// How long a nonce is accepted.
pub const NONCE_LIFE: Duration = Duration::from_secs(300);
/// Longest `Authorization` value read; longer ones are malformed.
pub const MAX_AUTHORIZATION: usize = 4096;
/// Most parameters read from one value.
const MAX_PARAMS: usize = 24;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 2617's, what most devices offer).
    Md5,
    /// SHA-256 (RFC 7616).
    Sha256,
}

impl Algorithm {
    /// The name in challenges and answers.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// The method of the `auth.attempt` event.
    pub fn method(self) -> &'static str {
        match self {
            Algorithm::Md5 => "http-digest-md5",
            Algorithm::Sha256 => "http-digest-sha256",
        }
    }

    /// The hash of `data`, lower-case hex.
    pub fn hash(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => conpot_core::hex::encode(&Md5::digest(data)),
            Algorithm::Sha256 => conpot_core::hex::encode(&Sha256::digest(data)),
        }
    }

    fn parse(name: &str) -> Option<(Algorithm, bool)> {
        let lower = name.to_ascii_lowercase();
        let (base, sess) = match lower.strip_suffix("-sess") {
            Some(b) => (b.to_owned(), true),
            None => (lower, false),
        };
        match base.as_str() {
            "md5" => Some((Algorithm::Md5, sess)),
            "sha-256" => Some((Algorithm::Sha256, sess)),
            _ => None,
        }
    }
}

/// The nonce for a challenge at `now`: the issue time and a MAC of it under `key`, hex.
pub fn nonce(key: &[u8; 32], now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{secs:016x}{}", nonce_mac(key, secs))
}

fn nonce_mac(key: &[u8; 32], secs: u64) -> String {
    let mut h = Sha256::new();
    h.update(key);
    h.update(secs.to_be_bytes());
    let mut mac = conpot_core::hex::encode(&h.finalize());
    mac.truncate(32);
    mac
}

/// Whether `nonce` is one of ours: `Some(fresh)` if its MAC matches (fresh when younger
/// than [`NONCE_LIFE`]), `None` if it is forged or malformed.
pub fn nonce_fresh(key: &[u8; 32], nonce: &str, now: SystemTime) -> Option<bool> {
    let secs = u64::from_str_radix(nonce.get(..16)?, 16).ok()?;
    if nonce.get(16..)? != nonce_mac(key, secs) {
        return None;
    }
    let issued = UNIX_EPOCH + Duration::from_secs(secs);
    let age = now.duration_since(issued).unwrap_or_default();
    Some(age < NONCE_LIFE && issued <= now + Duration::from_secs(5))
}

/// The `WWW-Authenticate` values for `realm`: one per algorithm, in order.
pub fn challenges(realm: &str, algorithms: &[Algorithm], nonce: &str, opaque: &str, stale: bool) -> Vec<String> {
    let realm = realm.replace(['"', '\\'], "");
    algorithms
        .iter()
        .map(|a| {
            let mut v = format!(
                "Digest realm=\"{realm}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\", opaque=\"{opaque}\"",
                a.name()
            );
            if stale {
                v.push_str(", stale=true");
            }
            v
        })
        .collect()
}

/// A client's `Authorization: Digest` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (the request target it covers).
    pub uri: String,
    /// `response`, the proof.
    pub response: String,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Option<String>,
    /// `qop` (`auth`; absent for RFC 2069's form).
    pub qop: Option<String>,
    /// `nc`, the nonce count.
    pub nc: Option<String>,
    /// `cnonce`.
    pub cnonce: Option<String>,
    /// `opaque`.
    pub opaque: Option<String>,
}

/// Reads an `Authorization` value if it is `Digest` with the parameters a check needs.
pub fn parse(authorization: &str) -> Option<Answer> {
    if authorization.len() > MAX_AUTHORIZATION {
        return None;
    }
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut a = Answer::default();
    let mut seen = (false, false, false, false, false);
    let mut s = rest.trim_start();
    for _ in 0..MAX_PARAMS {
        if s.is_empty() {
            break;
        }
        let (name, after) = s.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            quoted(q)?
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after.get(..end)?.trim().to_owned(), after.get(end..)?)
        };
        match name.as_str() {
            "username" => (a.username, seen.0) = (value, true),
            "realm" => (a.realm, seen.1) = (value, true),
            "nonce" => (a.nonce, seen.2) = (value, true),
            "uri" => (a.uri, seen.3) = (value, true),
            "response" => (a.response, seen.4) = (value, true),
            "algorithm" => a.algorithm = Some(value),
            "qop" => a.qop = Some(value),
            "nc" => a.nc = Some(value),
            "cnonce" => a.cnonce = Some(value),
            "opaque" => a.opaque = Some(value),
            _ => {}
        }
        s = tail.trim_start();
        s = s.strip_prefix(',').unwrap_or(s).trim_start();
    }
    (seen == (true, true, true, true, true) && s.is_empty()).then_some(a)
}

/// A quoted string's value (backslash escapes undone) and what follows its closing quote.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, s.get(i + 1..)?)),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

/// Why an answer cannot be checked against any password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// An algorithm the page does not offer.
    Algorithm,
    /// A qop other than `auth` (`auth-int` is not offered).
    Qop,
    /// `qop=auth` without `nc` and `cnonce`.
    Incomplete,
}

impl Answer {
    /// The algorithm (and whether it is a `-sess` variant), if it is one of `offered`.
    pub fn algorithm(&self, offered: &[Algorithm]) -> Result<(Algorithm, bool), Unusable> {
        let (alg, sess) = match &self.algorithm {
            None => (Algorithm::Md5, false),
            Some(n) => Algorithm::parse(n).ok_or(Unusable::Algorithm)?,
        };
        if !offered.contains(&alg) {
            return Err(Unusable::Algorithm);
        }
        match self.qop.as_deref() {
            None => {}
            Some(q) if q.eq_ignore_ascii_case("auth") && (self.nc.is_none() || self.cnonce.is_none()) => {
                return Err(Unusable::Incomplete);
            }
            Some(q) if q.eq_ignore_ascii_case("auth") => {}
            Some(_) => return Err(Unusable::Qop),
        }
        Ok((alg, sess))
    }

    /// The response this answer should carry for `password` and `method`.
    pub fn expected(&self, alg: Algorithm, sess: bool, password: &[u8], method: &str) -> String {
        let mut a1 = Vec::with_capacity(self.username.len() + self.realm.len() + password.len() + 2);
        a1.extend_from_slice(self.username.as_bytes());
        a1.push(b':');
        a1.extend_from_slice(self.realm.as_bytes());
        a1.push(b':');
        a1.extend_from_slice(password);
        let mut ha1 = alg.hash(&a1);
        let cnonce = self.cnonce.as_deref().unwrap_or_default();
        if sess {
            ha1 = alg.hash(format!("{ha1}:{}:{cnonce}", self.nonce).as_bytes());
        }
        let ha2 = alg.hash(format!("{method}:{}", self.uri).as_bytes());
        match &self.qop {
            Some(qop) => alg.hash(
                format!(
                    "{ha1}:{}:{}:{cnonce}:{}:{ha2}",
                    self.nonce,
                    self.nc.as_deref().unwrap_or_default(),
                    qop.to_ascii_lowercase()
                )
                .as_bytes(),
            ),
            None => alg.hash(format!("{ha1}:{}:{ha2}", self.nonce).as_bytes()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_7616_examples() {
        // RFC 7616 section 3.9.1: Mufasa, "Circle of Life", realm http-auth@example.org.
        let a = Answer {
            username: "Mufasa".into(),
            realm: "http-auth@example.org".into(),
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".into()),
            ..Answer::default()
        };
        assert_eq!(
            a.expected(Algorithm::Md5, false, b"Circle of Life", "GET"),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert_eq!(
            a.expected(Algorithm::Sha256, false, b"Circle of Life", "GET"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn parses_curls_answer() {
        let v = "Digest username=\"admin\", realm=\"S7 Web\", nonce=\"abc\", uri=\"/a?b=1,2\", \
                 cnonce=\"Y2M=\", nc=00000001, qop=auth, response=\"0123\", opaque=\"o\", algorithm=SHA-256";
        let a = parse(v).unwrap();
        assert_eq!(a.username, "admin");
        assert_eq!(a.uri, "/a?b=1,2");
        assert_eq!(a.nc.as_deref(), Some("00000001"));
        assert_eq!(a.algorithm(&[Algorithm::Sha256]), Ok((Algorithm::Sha256, false)));
        assert_eq!(a.algorithm(&[Algorithm::Md5]), Err(Unusable::Algorithm));
        assert_eq!(
            parse("Digest username=\"a\\\"b\", realm=r, nonce=n, uri=/, response=x")
                .unwrap()
                .username,
            "a\"b"
        );
        assert_eq!(parse("Basic YWE6YQ=="), None);
        assert_eq!(parse("Digest username=\"a\", realm=\"r\""), None);
        assert_eq!(parse("Digest username=\"unterminated"), None);
    }

    #[test]
    fn nonces_expire_and_cannot_be_forged() {
        let key = [7u8; 32];
        let t = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let n = nonce(&key, t);
        assert_eq!(nonce_fresh(&key, &n, t), Some(true));
        assert_eq!(nonce_fresh(&key, &n, t + NONCE_LIFE), Some(false));
        assert_eq!(nonce_fresh(&[8u8; 32], &n, t), None);
        let mut forged = n.clone();
        forged.replace_range(15..16, if &n[15..16] == "0" { "1" } else { "0" });
        assert_eq!(nonce_fresh(&key, &forged, t), None);
        assert_eq!(nonce_fresh(&key, "short", t), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = parse(&format!("Digest {s}"));
        }

        #[test]
        fn quoted_values_round_trip(user in "[ -~]{0,40}") {
            let q = user.replace('\\', "\\\\").replace('"', "\\\"");
            let v = format!("Digest username=\"{q}\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"x\"");
            prop_assert_eq!(parse(&v).unwrap().username, user);
        }
    }
}
