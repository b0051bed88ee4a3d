//! Property tests of the request parser, the target normalisation and the session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_core::template::FileSource;
use conpot_http::HttpService;
use conpot_http::request::{Limits, Parsed, parse};
use conpot_http::target::{self, normalise};
use proptest::prelude::*;

const TEMPLATE: &str = r#"
[template]
unit = "U"
vendor = "V"
[persona]
vendor = "V"
[protocols.http]
port = 0
[[protocols.http.pages]]
path = "/a"
content = "page a"
"#;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "OPTIONS", "PUT", "XYZ"]);
    let path = prop::sample::select(vec!["/", "/a", "/a?x=1", "/../a", "/nope", "http://h/a"]);
    let body = prop::collection::vec(any::<u8>(), 0..40);
    (method, path, body, any::<bool>()).prop_map(|(m, p, body, chunked)| {
        let mut r = format!("{m} {p} HTTP/1.1\r\nHost: x\r\n").into_bytes();
        if chunked {
            r.extend_from_slice(format!("Transfer-Encoding: chunked\r\n\r\n{:x}\r\n", body.len()).as_bytes());
            r.extend_from_slice(&body);
            if !body.is_empty() {
                r.extend_from_slice(b"\r\n0\r\n\r\n");
            } else {
                r.extend_from_slice(b"\r\n");
            }
        } else {
            r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            r.extend_from_slice(&body);
        }
        r
    })
}

proptest! {
    #[test]
    fn parse_never_panics_and_stays_in_bounds(buf in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Parsed::Complete { used, request } = parse(&buf, &Limits::default()) {
            prop_assert!(used <= buf.len());
            prop_assert!(request.body.len() <= Limits::default().max_body);
        }
    }

    #[test]
    fn normalised_paths_never_climb(path in "[a-z./%2e]{0,40}") {
        let (p, _, _) = normalise(&format!("/{path}"));
        prop_assert!(p.starts_with('/'));
        prop_assert!(!p.split('/').any(|s| s == ".." || s == "."));
        prop_assert_eq!(normalise(&p).0, p.clone());
        if let Ok(t) = target::parse(&format!("/{path}")) {
            prop_assert!(!t.path.split('/').any(|s| s == ".."));
        }
    }

    /// However the stream is cut into reads, a pipeline gets the same answers and events.
    #[test]
    fn answers_do_not_depend_on_how_the_stream_is_split(
        reqs in prop::collection::vec(request(), 1..5),
        cuts in prop::collection::vec(1usize..64, 0..20),
    ) {
        let (device, section) = device_and_section(TEMPLATE, "http").unwrap();
        let svc = HttpService::build(&section, &device, &FileSource::Embedded(&[])).unwrap();
        let stream: Vec<u8> = reqs.concat();
        let (mut whole, _) = Driver::tcp(&svc, 80, t0());
        let all = whole.input(&stream, t0());
        let (mut split, _) = Driver::tcp(&svc, 80, t0());
        let (mut bytes, mut events) = (Vec::new(), Vec::new());
        let mut rest = &stream[..];
        for c in cuts.iter().chain(std::iter::repeat(&64)) {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*c).min(rest.len()));
            let step = split.input(now, t0());
            bytes.extend_from_slice(&step.bytes);
            events.extend(step.types().into_iter().map(str::to_owned));
            rest = later;
        }
        prop_assert_eq!(String::from_utf8_lossy(&bytes), String::from_utf8_lossy(&all.bytes));
        prop_assert_eq!(events, all.types().into_iter().map(str::to_owned).collect::<Vec<_>>());
    }
}
