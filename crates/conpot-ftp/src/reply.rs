//! Replies on the control connection (RFC 959 section 4.2): a three-digit code and text,
//! one line (`226 Transfer complete.`) or several (`211-Features:` ... `211 End`).
//!
//! Text that came from the client or the filesystem (a file name in a reply) may hold
//! CR or LF; they are replaced, so a reply can never be split into forged lines. Inner
//! lines of a multi-line reply start with a space, so one that starts with digits can
//! never be read as the end.

/// Appends the one-line reply `code text` to `out`.
pub fn single(out: &mut Vec<u8>, code: u16, text: &str) {
    push_code(out, code, b' ');
    push_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// Appends a multi-line reply: `code-first`, each of `inner` as ` line`, and `code last`.
/// With no `inner` lines and `first` equal to `last` it is still two lines, as RFC 959
/// allows; use [`single`] for one.
pub fn multi<'a>(out: &mut Vec<u8>, code: u16, first: &str, inner: impl IntoIterator<Item = &'a str>, last: &str) {
    push_code(out, code, b'-');
    push_text(out, first);
    out.extend_from_slice(b"\r\n");
    for line in inner {
        out.push(b' ');
        push_text(out, line);
        out.extend_from_slice(b"\r\n");
    }
    single(out, code, last);
}

fn push_code(out: &mut Vec<u8>, code: u16, sep: u8) {
    let code = code.clamp(100, 999);
    out.extend_from_slice(code.to_string().as_bytes());
    out.push(sep);
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
}

/// Quotes a path for a `257` reply (RFC 959 appendix II): a `"` in the name is doubled.
pub fn quote_path(path: &str) -> String {
    let mut s = String::with_capacity(path.len() + 2);
    s.push('"');
    for c in path.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// The codes of the replies in `bytes` (what a client reads), for events and tests.
pub fn codes(bytes: &[u8]) -> Vec<u16> {
    let mut codes = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        if let [a, b, c, b' ', ..] = line
            && a.is_ascii_digit()
            && b.is_ascii_digit()
            && c.is_ascii_digit()
        {
            codes.push(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'));
        }
    }
    codes
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats() {
        let mut out = Vec::new();
        single(&mut out, 220, "ready");
        multi(&mut out, 211, "Features:", ["EPSV", "226 looks like an end"], "End");
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "220 ready\r\n211-Features:\r\n EPSV\r\n 226 looks like an end\r\n211 End\r\n"
        );
        assert_eq!(codes(&out), vec![220, 211]);
        assert_eq!(quote_path("/a\"b"), "\"/a\"\"b\"");
    }

    proptest! {
        #[test]
        fn one_reply_per_call_whatever_the_text(first in ".{0,80}", inner in proptest::collection::vec(".{0,80}", 0..5), last in ".{0,80}") {
            let mut out = Vec::new();
            single(&mut out, 550, &first);
            prop_assert_eq!(codes(&out), vec![550]);
            prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
            out.clear();
            multi(&mut out, 214, &first, inner.iter().map(String::as_str), &last);
            prop_assert_eq!(codes(&out), vec![214]);
            prop_assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), inner.len() + 2);
        }
    }
}
