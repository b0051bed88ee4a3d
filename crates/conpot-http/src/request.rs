//! The HTTP/1.x request parser: request line, headers, Content-Length and chunked bodies,
//! every size checked against [`Limits`]. It reads from the connection's buffered bytes
//! and says how many of them one request took, so pipelined requests follow one another
//! and nothing is lost to the log. Our own parser, so that every byte is seen and every
//! refusal is the device's.

/// Bounds on one request; anything larger is refused with the status of [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version): beyond it, 414.
    pub max_line: usize,
    /// Most bytes of all header lines together: beyond it, 431.
    pub max_head: usize,
    /// Most header fields: beyond it, 431.
    pub max_headers: usize,
    /// Largest body (after chunked decoding): beyond it, 413. Kept below the listener's
    /// buffer (64 KiB by default) so the device answers before the listener cuts.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8 * 1024,
            max_head: 16 * 1024,
            max_headers: 100,
            max_body: 32 * 1024,
        }
    }
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// A request line without a version (`GET /`): the answer is the body alone.
    Http09,
    /// HTTP/1.0: the connection closes after the answer unless kept alive.
    Http10,
    /// HTTP/1.1: the connection stays open unless closed.
    Http11,
}

impl Version {
    /// As written on the request line (`HTTP/0.9` for a line without one).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http09 => "HTTP/0.9",
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// One parsed request, with its bytes as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method token, as sent (methods are case-sensitive).
    pub method: String,
    /// The request target, as sent (lossily as text).
    pub target: String,
    /// The version.
    pub version: Version,
    /// Header fields in order, names as sent, values trimmed (lossily as text).
    pub headers: Vec<(String, String)>,
    /// The body (decoded if it was chunked).
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a `Connection` header lists `token` (case-insensitive).
    pub fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after this request's answer: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http09 => false,
            Version::Http10 => self.connection_has("keep-alive") && !self.connection_has("close"),
            Version::Http11 => !self.connection_has("close"),
        }
    }
}

/// Why a request was refused, with the status the device answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a request line, a header line or a body framing we can read (400).
    BadRequest(&'static str),
    /// The request line is longer than [`Limits::max_line`] (414).
    UriTooLong,
    /// Too many or too large header fields (431).
    HeadersTooLarge,
    /// The body is larger than [`Limits::max_body`] (413).
    BodyTooLarge,
    /// A version we do not speak (`HTTP/2.0`, 505).
    VersionNotSupported,
}

impl ParseError {
    /// The status code of the answer.
    pub fn status(self) -> u16 {
        match self {
            ParseError::BadRequest(_) => 400,
            ParseError::UriTooLong => 414,
            ParseError::HeadersTooLarge => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::VersionNotSupported => 505,
        }
    }

    /// A stable description for the event.
    pub fn describe(self) -> &'static str {
        match self {
            ParseError::BadRequest(why) => why,
            ParseError::UriTooLong => "request line too long",
            ParseError::HeadersTooLarge => "header fields too large",
            ParseError::BodyTooLarge => "body too large",
            ParseError::VersionNotSupported => "HTTP version not supported",
        }
    }
}

/// What the buffered bytes hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole request yet.
    Incomplete {
        /// The head is complete and the client waits for `100 Continue` before its body.
        expects_continue: bool,
        /// The head is complete (only the body is missing).
        head_done: bool,
    },
    /// One whole request, which took `used` bytes of the buffer.
    Complete {
        /// The request.
        request: Box<Request>,
        /// Bytes of the buffer it took.
        used: usize,
    },
    /// Bytes that are no request; the connection ends after the answer.
    Error {
        /// Why.
        error: ParseError,
        /// The version, if the request line got that far (the answer's shape).
        version: Option<Version>,
        /// The method, if the request line got that far.
        method: Option<String>,
    },
}

/// Position of the first `\n` in `buf` at or after `from`, searching at most `max` bytes.
fn line_end(buf: &[u8], from: usize, max: usize) -> Option<usize> {
    let hay = buf.get(from..)?;
    let hay = hay.get(..hay.len().min(max)).unwrap_or(hay);
    hay.iter().position(|&b| b == b'\n').map(|p| from + p)
}

/// `line` without a trailing `\r`.
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A token character of RFC 9110 (method and header names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses the request at the start of `buf` (empty lines before it are skipped, as
/// RFC 9112 allows).
pub fn parse(buf: &[u8], limits: &Limits) -> Parsed {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let incomplete = Parsed::Incomplete {
        expects_continue: false,
        head_done: false,
    };
    if start == buf.len() {
        return incomplete;
    }
    let Some(eol) = line_end(buf, start, limits.max_line + 2) else {
        if buf.len() - start > limits.max_line + 1 {
            let line = buf.get(start..).unwrap_or_default();
            let error = if line.contains(&b' ') {
                ParseError::UriTooLong
            } else {
                ParseError::BadRequest("no request line")
            };
            return Parsed::Error {
                error,
                version: None,
                method: None,
            };
        }
        return incomplete;
    };
    let line = trim_cr(buf.get(start..eol).unwrap_or_default());
    let (method, target, version) = match request_line(line) {
        Ok(parts) => parts,
        Err((error, method, version)) => return Parsed::Error { error, version, method },
    };
    let named = method.clone();
    let fail = move |error| Parsed::Error {
        error,
        version: Some(version),
        method: Some(named.clone()),
    };
    if version == Version::Http09 {
        return Parsed::Complete {
            request: Box::new(Request {
                method,
                target,
                version,
                headers: Vec::new(),
                body: Vec::new(),
                chunked: false,
            }),
            used: eol + 1,
        };
    }
    // Header fields, up to the empty line.
    let mut headers = Vec::new();
    let mut pos = eol + 1;
    let head_start = pos;
    loop {
        let budget = (head_start + limits.max_head + 2).saturating_sub(pos);
        let Some(end) = line_end(buf, pos, budget) else {
            if buf.len() - head_start > limits.max_head + 1 {
                return fail(ParseError::HeadersTooLarge);
            }
            return incomplete;
        };
        let line = trim_cr(buf.get(pos..end).unwrap_or_default());
        pos = end + 1;
        if line.is_empty() {
            break;
        }
        if pos - head_start > limits.max_head {
            return fail(ParseError::HeadersTooLarge);
        }
        if headers.len() >= limits.max_headers {
            return fail(ParseError::HeadersTooLarge);
        }
        match header_line(line) {
            Ok(h) => headers.push(h),
            Err(why) => return fail(ParseError::BadRequest(why)),
        }
    }
    let mut request = Request {
        method,
        target,
        version,
        headers,
        body: Vec::new(),
        chunked: false,
    };
    let framing = match body_framing(&request, limits) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let expects_continue = version == Version::Http11
        && request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let waiting = Parsed::Incomplete {
        expects_continue,
        head_done: true,
    };
    let rest = buf.get(pos..).unwrap_or_default();
    match framing {
        Framing::None => Parsed::Complete {
            request: Box::new(request),
            used: pos,
        },
        Framing::Length(n) => match rest.get(..n) {
            Some(body) => {
                request.body = body.to_vec();
                Parsed::Complete {
                    request: Box::new(request),
                    used: pos + n,
                }
            }
            None => waiting,
        },
        Framing::Chunked => match chunked(rest, limits) {
            Ok(Some((body, n))) => {
                request.body = body;
                request.chunked = true;
                Parsed::Complete {
                    request: Box::new(request),
                    used: pos + n,
                }
            }
            Ok(None) => waiting,
            Err(e) => fail(e),
        },
    }
}

type LineError = (ParseError, Option<String>, Option<Version>);

/// `METHOD SP target SP version`, or `GET SP target` (HTTP/0.9).
fn request_line(line: &[u8]) -> Result<(String, String, Version), LineError> {
    let bad = |why| (ParseError::BadRequest(why), None, None);
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    if method.is_empty() || method.len() > 32 || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad("malformed method"));
    }
    let method = text(method);
    let target = parts.next().unwrap_or_default();
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err((ParseError::BadRequest("malformed request target"), Some(method), None));
    }
    let target = text(target);
    let version = match parts.next() {
        None if method == "GET" => return Ok((method, target, Version::Http09)),
        None => {
            return Err((
                ParseError::BadRequest("no version"),
                Some(method),
                Some(Version::Http09),
            ));
        }
        Some(v) => v,
    };
    if parts.next().is_some() {
        return Err((ParseError::BadRequest("malformed request line"), Some(method), None));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            let error = if *major >= b'2' {
                ParseError::VersionNotSupported
            } else {
                ParseError::BadRequest("unknown HTTP version")
            };
            return Err((error, Some(method), Some(Version::Http11)));
        }
        _ => return Err((ParseError::BadRequest("malformed version"), Some(method), None)),
    };
    Ok((method, target, version))
}

/// `name: value`; no space before the colon, no obsolete line folding.
fn header_line(line: &[u8]) -> Result<(String, String), &'static str> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err("obsolete header line folding");
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or("header line without a colon")?;
    let name = line.get(..colon).unwrap_or_default();
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err("malformed header name");
    }
    let value = line.get(colon + 1..).unwrap_or_default();
    if value.iter().any(|&b| b == 0 || b == b'\r') {
        return Err("control character in a header value");
    }
    Ok((text(name), text(value.trim_ascii())))
}

enum Framing {
    None,
    Length(usize),
    Chunked,
}

fn body_framing(req: &Request, limits: &Limits) -> Result<Framing, ParseError> {
    let te: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        .map(|(_, v)| v.as_str())
        .collect();
    let lengths: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    if !te.is_empty() {
        if !lengths.is_empty() {
            // Both framings: the classic request smuggling shape.
            return Err(ParseError::BadRequest("both Transfer-Encoding and Content-Length"));
        }
        let last = te
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|t| !t.is_empty())
            .unwrap_or_default();
        if !last.eq_ignore_ascii_case("chunked") || req.version == Version::Http10 {
            return Err(ParseError::BadRequest("unsupported transfer coding"));
        }
        return Ok(Framing::Chunked);
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::None);
    };
    if lengths.iter().any(|l| l != first) {
        return Err(ParseError::BadRequest("conflicting Content-Length values"));
    }
    if first.is_empty() || first.len() > 19 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadRequest("malformed Content-Length"));
    }
    let n: u64 = first
        .parse()
        .map_err(|_| ParseError::BadRequest("malformed Content-Length"))?;
    match usize::try_from(n) {
        Ok(n) if n <= limits.max_body => Ok(if n == 0 { Framing::None } else { Framing::Length(n) }),
        _ => Err(ParseError::BodyTooLarge),
    }
}

/// Decodes a chunked body at the start of `buf`: `Ok(None)` while incomplete, else the
/// body and the bytes the body (with its trailer section) took.
fn chunked(buf: &[u8], limits: &Limits) -> Result<Option<(Vec<u8>, usize)>, ParseError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(eol) = line_end(buf, pos, 1024) else {
            if buf.len() - pos > 1024 {
                return Err(ParseError::BadRequest("chunk size line too long"));
            }
            return Ok(None);
        };
        let line = trim_cr(buf.get(pos..eol).unwrap_or_default());
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
        if size_text.is_empty() || size_text.len() > 8 || !size_text.iter().all(u8::is_ascii_hexdigit) {
            return Err(ParseError::BadRequest("malformed chunk size"));
        }
        let size =
            usize::from_str_radix(&text(size_text), 16).map_err(|_| ParseError::BadRequest("malformed chunk size"))?;
        pos = eol + 1;
        if size == 0 {
            break;
        }
        if body.len() + size > limits.max_body {
            return Err(ParseError::BodyTooLarge);
        }
        let Some(data) = buf.get(pos..pos + size) else {
            return Ok(None);
        };
        body.extend_from_slice(data);
        pos += size;
        match buf.get(pos..) {
            Some([b'\r', b'\n', ..]) => pos += 2,
            Some([b'\n', ..]) => pos += 1,
            Some([]) | Some([b'\r']) => return Ok(None),
            _ => return Err(ParseError::BadRequest("chunk without its line end")),
        }
    }
    // The trailer section, up to the empty line (fields are read past, not kept).
    let trailer_start = pos;
    loop {
        let Some(eol) = line_end(buf, pos, limits.max_head + 2) else {
            if buf.len() - trailer_start > limits.max_head {
                return Err(ParseError::HeadersTooLarge);
            }
            return Ok(None);
        };
        let line = trim_cr(buf.get(pos..eol).unwrap_or_default());
        pos = eol + 1;
        if line.is_empty() {
            return Ok(Some((body, pos)));
        }
        if pos - trailer_start > limits.max_head {
            return Err(ParseError::HeadersTooLarge);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Request, usize) {
        match parse(buf, &Limits::default()) {
            Parsed::Complete { request, used } => (*request, used),
            other => panic!("{other:?}"),
        }
    }

    fn error(buf: &[u8]) -> ParseError {
        match parse(buf, &Limits::default()) {
            Parsed::Error { error, .. } => error,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_with_headers() {
        let (r, used) = complete(b"\r\nGET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent:  curl/8 \r\n\r\nGET");
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/a?b=1");
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.header("user-agent"), Some("curl/8"));
        assert_eq!(used, 56);
        assert!(r.keep_alive());
    }

    #[test]
    fn content_length_body_waits_for_all_bytes() {
        let head = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
        assert_eq!(
            parse(head, &Limits::default()),
            Parsed::Incomplete {
                expects_continue: true,
                head_done: true
            }
        );
        let mut full = head.to_vec();
        full.extend_from_slice(b"a=1&b");
        let (r, used) = complete(&full);
        assert_eq!(r.body, b"a=1&b");
        assert_eq!(used, full.len());
    }

    #[test]
    fn chunked_body_is_decoded() {
        let req =
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        let (r, used) = complete(req);
        assert_eq!(r.body, b"abcde");
        assert!(r.chunked);
        assert_eq!(used, req.len());
        assert!(matches!(
            parse(&req[..req.len() - 2], &Limits::default()),
            Parsed::Incomplete { head_done: true, .. }
        ));
    }

    #[test]
    fn refusals_have_the_device_statuses() {
        assert_eq!(error(b"G(T / HTTP/1.1\r\n\r\n").status(), 400);
        assert_eq!(error(b"GET / HTTP/2.0\r\n\r\n").status(), 505);
        assert_eq!(error(b"GET / HTTP/1.1\r\n bad fold\r\n\r\n").status(), 400);
        assert_eq!(error(b"GET / HTTP/1.1\r\nNo colon\r\n\r\n").status(), 400);
        assert_eq!(
            error(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").status(),
            400
        );
        assert_eq!(
            error(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n").status(),
            413
        );
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert_eq!(error(long.as_bytes()).status(), 414);
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(error(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).status(), 431);
        let big = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(17_000));
        assert_eq!(error(big.as_bytes()).status(), 431);
    }

    #[test]
    fn http09_and_http10() {
        let (r, _) = complete(b"GET /\r\n");
        assert_eq!(r.version, Version::Http09);
        let (r, _) = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(r.keep_alive());
        let (r, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!r.keep_alive());
        let (r, _) = complete(b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n");
        assert!(!r.keep_alive());
    }
}
