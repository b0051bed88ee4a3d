//! Arbitrary bytes through an HTTP session, split into two reads (pipelining, partial
//! requests, every error path), then the peer closes.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::Driver;
use conpot_core::template::FileSource;
use conpot_http::HttpService;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = r#"
[template]
unit = "fuzz"
vendor = "fuzz"
[persona]
vendor = "fuzz"
[databus]
holding = [1, 2, 3]
[protocols.http]
port = 0
methods = { trace = true }
[[protocols.http.pages]]
path = "/"
content = "<condata source=\"databus\" key=\"holding\" index=\"1\" />"
[[protocols.http.pages]]
path = "/a"
alias = "/"
"#;

fn service() -> &'static HttpService {
    static SVC: OnceLock<HttpService> = OnceLock::new();
    SVC.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(TEMPLATE, "http").unwrap();
        HttpService::build(&section, &d, &FileSource::Embedded(&[])).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::tcp(service(), 80, now);
    let (a, b) = data.split_at(data.len() / 2);
    d.input(a, now);
    d.input(b, now);
    assert!(d.buffered().len() <= data.len());
    d.eof(now);
});
