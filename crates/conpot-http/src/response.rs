//! Writing a response: the status line, header fields in the device's order, the live
//! `Date`, and the body, all into one buffer so the listener sends it in one write.

use std::time::SystemTime;

use conpot_core::time::Civil;

/// The standard reason phrase of `status` (empty for codes without one).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `now` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the `Date` header's form.
pub fn http_date(now: SystemTime) -> String {
    let c = Civil::from_system(now);
    let days = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    let weekday = DAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month = MONTHS.get(c.month.saturating_sub(1) as usize).copied().unwrap_or("Jan");
    format!(
        "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        c.day, c.year, c.hour, c.minute, c.second
    )
}

/// A response about to be written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields in the order they are sent (without `Content-Length`, which is added
    /// last unless `no_length`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Send no `Content-Length` (Conpot's TRACE; the connection then closes).
    pub no_length: bool,
}

impl Response {
    /// Whether a header `name` is present (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// Writes the response in `version` into `out`; `head` leaves the body out (HEAD),
    /// `bare` writes the body alone (an HTTP/0.9 request). Returns the bytes written.
    pub fn write(&self, version: &str, head: bool, bare: bool, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        if !bare {
            out.extend_from_slice(version.as_bytes());
            out.extend_from_slice(format!(" {} {}\r\n", self.status, reason(self.status)).as_bytes());
            for (n, v) in &self.headers {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            if !self.no_length && !self.has("content-length") {
                out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        if !head {
            out.extend_from_slice(&self.body);
        }
        out.len() - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_imf_fixdate() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200);
        assert_eq!(http_date(t), "Tue, 01 Dec 2026 00:00:00 GMT");
    }

    #[test]
    fn head_keeps_the_length_of_the_body() {
        let r = Response {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"hello".to_vec(),
            no_length: false,
        };
        let mut out = Vec::new();
        r.write("HTTP/1.1", true, false, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n".to_vec()
        );
        out.clear();
        r.write("HTTP/1.1", false, true, &mut out);
        assert_eq!(out, b"hello");
    }
}
