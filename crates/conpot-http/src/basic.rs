//! HTTP Basic authentication (RFC 7617): the `Authorization: Basic` credentials decoded,
//! bounded, for the device's central authentication to check.

/// Longest encoded credentials read; longer ones are taken as malformed.
pub const MAX_ENCODED: usize = 1024;

fn sextet(b: u8) -> Option<u32> {
    Some(u32::from(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes standard base64 (padding optional); `None` if malformed or over
/// [`MAX_ENCODED`].
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() > MAX_ENCODED || s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &b in chunk {
            acc = acc << 6 | sextet(b)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(acc.to_be_bytes().get(1..4)?),
            3 => out.extend_from_slice(&((acc >> 2) as u16).to_be_bytes()),
            2 => out.push((acc >> 4) as u8),
            _ => return None,
        }
    }
    Some(out)
}

/// The user and password of an `Authorization` value, if it is `Basic` with well-formed
/// credentials (`user:password`; the password may hold colons).
pub fn credentials(authorization: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (scheme, rest) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64_decode(rest.trim())?;
    let colon = raw.iter().position(|&b| b == b':')?;
    let (user, pass) = raw.split_at(colon);
    Some((user.to_vec(), pass.get(1..).unwrap_or_default().to_vec()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_credentials() {
        assert_eq!(base64_decode("YWRtaW46c2VjcmV0").unwrap(), b"admin:secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("Y"), None);
        assert_eq!(base64_decode("YW!j"), None);
        assert_eq!(
            credentials("Basic YWRtaW46czpz").unwrap(),
            (b"admin".to_vec(), b"s:s".to_vec())
        );
        assert_eq!(credentials("Bearer abc"), None);
        assert_eq!(credentials("Basic bm9jb2xvbg=="), None);
    }
}
