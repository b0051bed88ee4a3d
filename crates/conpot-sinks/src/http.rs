//! The small blocking HTTP/1.1 client the TAXII transport posts with: one request per
//! connection (`Connection: close`), over TCP or TLS, the answer's head and body bounded.
//! A sink posts a few requests a second at most, so a connection pool would buy nothing.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::tls;

/// Longest response head read.
const MAX_HEAD: usize = 64 * 1024;
/// Longest response body kept (the status resource of a TAXII post is small).
const MAX_BODY: usize = 1 << 20;

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Whether the scheme is `https`.
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (80 or 443 when none is given).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

impl Url {
    /// Parses `s`; only `http` and `https` are known.
    pub fn parse(s: &str) -> io::Result<Url> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(invalid(format!("not an http(s) URL: {s}")));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or_default(), rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        let default = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| invalid(format!("bad host in {s}")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| invalid(format!("bad port in {s}")))?,
                None => default,
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse().map_err(|_| invalid(format!("bad port in {s}")))?,
                ),
                None => (authority.to_owned(), default),
            }
        };
        if host.is_empty() || host.contains('@') {
            return Err(invalid(format!(
                "bad host in {s} (put credentials in username/password)"
            )));
        }
        Ok(Url {
            tls,
            host,
            port,
            path: path.to_owned(),
        })
    }

    /// The `Host` header's value.
    fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.tls { 443 } else { 80 } {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body (up to 1 MiB).
    pub body: Vec<u8>,
}

/// Standard base64 with padding (for HTTP basic authentication).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(ABC.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Splits a response into status and body; `None` until the head is complete. The body
/// is what follows the head, cut to `Content-Length` when there is one (chunked bodies are
/// not decoded: the status code is what a sink acts on).
pub fn parse_response(buf: &[u8]) -> io::Result<Option<Response>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP response head too long",
            ));
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(buf.get(..end).unwrap_or_default());
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: {status_line}"),
            )
        })?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    let body = buf.get(end + 4..).unwrap_or_default();
    let body = match length {
        Some(n) => body.get(..n.min(MAX_BODY)).unwrap_or(body),
        None => body.get(..MAX_BODY).unwrap_or(body),
    };
    Ok(Some(Response {
        status,
        body: body.to_vec(),
    }))
}

/// Posts `body` to `url` with `headers`, and reads the answer until the server closes.
pub fn post(
    url: &Url,
    tls_config: Option<&Arc<rustls::ClientConfig>>,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    request("POST", url, tls_config, headers, body, timeout)
}

/// Gets `url` with `headers` (a TAXII sink reads its API root's limits this way), and
/// reads the answer until the server closes.
pub fn get(
    url: &Url,
    tls_config: Option<&Arc<rustls::ClientConfig>>,
    headers: &[(&str, String)],
    timeout: Duration,
) -> io::Result<Response> {
    request("GET", url, tls_config, headers, &[], timeout)
}

/// One request, `Connection: close`, the answer read until the server closes.
fn request(
    method: &str,
    url: &Url,
    tls_config: Option<&Arc<rustls::ClientConfig>>,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no address for {}", url.host)))?;
    let tcp = TcpStream::connect_timeout(&addr, timeout.min(Duration::from_secs(5)))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_nodelay(true)?;
    let mut req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\nUser-Agent: conpot-rs\r\n",
        url.path,
        url.host_header(),
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut stream: Box<dyn ReadWrite> = match (url.tls, tls_config) {
        (true, Some(c)) => Box::new(tls::connect(c, &url.host, tcp)?),
        (true, None) => return Err(invalid("https URL without a TLS configuration")),
        (false, _) => Box::new(tcp),
    };
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A TLS server that closes without close_notify: what came is the answer.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_HEAD + MAX_BODY {
            break;
        }
    }
    parse_response(&buf)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed before answering"))
}

/// A byte stream both ways (TCP or TLS).
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_brackets() {
        let u = Url::parse("http://127.0.0.1:5000/api1/collections/x/objects/").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "127.0.0.1", 5000));
        assert_eq!(u.path, "/api1/collections/x/objects/");
        assert_eq!(u.host_header(), "127.0.0.1:5000");
        let s = Url::parse("https://[::1]/t").unwrap();
        assert_eq!(
            (s.tls, s.host.as_str(), s.port, s.host_header()),
            (true, "::1", 443, "[::1]".into())
        );
        assert!(Url::parse("ftp://x/").is_err());
        assert!(Url::parse("http://u:p@x/").is_err());
        assert!(Url::parse("http://x:99999/").is_err());
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn responses_are_split_and_bounded() {
        assert_eq!(parse_response(b"HTTP/1.1 202 Accepted\r\nContent-Le").unwrap(), None);
        let r = parse_response(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}junk")
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (202, &b"{}"[..]));
        assert!(parse_response(b"SSH-2.0-x\r\n\r\n").is_err());
        assert!(parse_response(&vec![b'a'; MAX_HEAD + 1]).is_err());
    }
}
