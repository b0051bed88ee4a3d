//! The HTTP session driven as the listener drives it (conpot_core::drive::Driver).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section, device_of};
use conpot_core::template::{FileSource, Template};
use conpot_core::value::Value;
use conpot_http::HttpService;

const TEMPLATE: &str = r#"
[template]
unit = "S7-300"
vendor = "Siemens"
[persona]
vendor = "Siemens"
system_name = "PLC_7"
[databus]
holding = [10, 20, 30]
[protocols.http]
port = 0
server = "Device-Web/1.0 {persona.system_name}"
headers = [{ name = "Cache-Control", value = "no-cache" }]
request_timeout_s = 20

[[protocols.http.pages]]
path = "/"
redirect = "/start.htm"
content_type = ""

[[protocols.http.pages]]
path = "/start.htm"
content = "<title>{persona.system_name}</title><p id=v><condata source=\"databus\" key=\"holding\" index=\"1\" /></p>"

[[protocols.http.pages]]
path = "/index.htm"
alias = "/start.htm"

[[protocols.http.pages]]
path = "/admin.htm"
content = "settings"
auth = "basic"
realm = "S7 Web"

[[protocols.http.pages]]
path = "/digest.htm"
content = "digest settings"
auth = "digest"
realm = "S7 Web"
algorithms = ["SHA-256", "MD5"]

[[protocols.http.errors]]
status = 404
content = "<h2>Not here: {persona.system_name}</h2>"

[[users]]
name = "admin"
password = "pw-{persona.system_name}"
scope = ["http"]
"#;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200)
}

fn service() -> (HttpService, conpot_core::Device) {
    let (device, section) = device_and_section(TEMPLATE, "http").unwrap();
    let svc = HttpService::build(&section, &device, &FileSource::Embedded(&[])).unwrap();
    (svc, device)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn get_has_live_date_server_and_header_order() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(b"GET /start.htm HTTP/1.1\r\nHost: plc\r\n\r\n", t0());
    let body = "<title>PLC_7</title><p id=v>20</p>";
    let want = format!(
        "HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\nServer: Device-Web/1.0 PLC_7\r\n\
         Cache-Control: no-cache\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(text(&step.bytes), want);
    assert!(!step.close);
    // A later request carries a later date: never frozen.
    let later = t0() + Duration::from_secs(3661);
    let step = d.input(b"GET /start.htm HTTP/1.1\r\n\r\n", later);
    assert!(text(&step.bytes).contains("Date: Tue, 01 Dec 2026 01:01:01 GMT\r\n"));
}

#[test]
fn pipelined_requests_get_answers_in_order_in_one_write() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(
        b"GET / HTTP/1.1\r\n\r\nHEAD /start.htm HTTP/1.1\r\n\r\nGET /nothere HTTP/1.1\r\nConnection: close\r\n\r\n",
        t0(),
    );
    let out = text(&step.bytes);
    let statuses: Vec<&str> = out
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &out[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["302", "200", "404"]);
    assert!(out.contains("Location: /start.htm\r\n"));
    assert!(out.ends_with("Connection: close\r\nContent-Length: 24\r\n\r\n<h2>Not here: PLC_7</h2>"));
    // HEAD: the GET's length, no body.
    let head = &out[out.find("HTTP/1.1 200").unwrap()..out.find("HTTP/1.1 404").unwrap()];
    assert!(head.ends_with("Content-Length: 34\r\n\r\n"), "{head}");
    assert!(step.close);
    assert_eq!(step.types(), ["http.request", "http.request", "http.request"]);
}

#[test]
fn a_modbus_write_shows_on_the_page() {
    let (svc, device) = service();
    device
        .databus
        .set("holding", Value::List(vec![Value::Int(1), Value::Int(4242)]));
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(b"GET /index.htm HTTP/1.0\r\n\r\n", t0());
    let out = text(&step.bytes);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(out.ends_with("<p id=v>4242</p>"));
    // HTTP/1.0 without keep-alive closes.
    assert!(step.close);
    let ev = step.event("http.request").unwrap();
    assert_eq!(ev.body.data.get("page").and_then(|v| v.as_str()), Some("/start.htm"));
}

#[test]
fn methods_refused_and_options() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let out = text(&d.input(b"OPTIONS * HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(out.contains("Allow: GET,HEAD,POST,OPTIONS\r\nContent-Length: 0\r\n"));
    for m in ["PUT", "DELETE", "TRACE"] {
        let out = text(
            &d.input(format!("{m} / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").as_bytes(), t0())
                .bytes,
        );
        assert!(out.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{m}: {out}");
        assert!(out.contains("Allow: GET,HEAD,POST,OPTIONS\r\n"));
    }
    let out = text(&d.input(b"BREW / HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(out.starts_with("HTTP/1.1 501 Not Implemented\r\n"));
}

#[test]
fn post_bodies_are_logged_chunked_or_not() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(
        b"POST /start.htm HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nuser=adm&\r\n7\r\npw=s%21\r\n0\r\n\r\n",
        t0(),
    );
    assert!(text(&step.bytes).starts_with("HTTP/1.1 200 OK"));
    let req = step.event("http.request").unwrap().body.request.clone().unwrap();
    assert_eq!(req["body"], "user=adm&pw=s%21");
    assert_eq!(req["form"], serde_json::json!([["user", "adm"], ["pw", "s!"]]));
}

#[test]
fn expect_100_continue_then_the_body() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(
        b"POST /x HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        t0(),
    );
    assert_eq!(text(&step.bytes), "HTTP/1.1 100 Continue\r\n\r\n");
    let step = d.input(b"ab", t0());
    assert!(step.bytes.is_empty());
    let step = d.input(b"cd", t0() + Duration::from_millis(1500));
    assert!(text(&step.bytes).starts_with("HTTP/1.1 404 Not Found\r\n"));
    let ev = step.event("http.request").unwrap();
    assert_eq!(ev.body.data.get("receive_ms").and_then(|v| v.as_u64()), Some(1500));
    assert_eq!(
        step.event("http.request").unwrap().body.request.as_ref().unwrap()["body"],
        "abcd"
    );
}

#[test]
fn traversal_is_kept_at_the_root_and_reported() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(b"GET /%2e%2e/../start.htm HTTP/1.1\r\n\r\n", t0());
    assert!(text(&step.bytes).starts_with("HTTP/1.1 200 OK"));
    let ev = step.event("http.request").unwrap();
    assert_eq!(
        ev.body.data.get("traversal").and_then(|v| v.as_str()),
        Some("above_root")
    );
    let step = d.input(b"GET http://plc.local/start.htm HTTP/1.1\r\n\r\n", t0());
    assert!(text(&step.bytes).starts_with("HTTP/1.1 200 OK"));
    let step = d.input(b"GET /%zz HTTP/1.1\r\n\r\n", t0());
    assert!(text(&step.bytes).starts_with("HTTP/1.1 400 Bad Request"));
    assert!(step.close);
}

#[test]
fn malformed_and_oversized_requests_are_cut_with_events() {
    let (svc, _) = service();
    for (req, status) in [
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(), "400"),
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000)).into_bytes(),
            "414",
        ),
        (
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(20_000)).into_bytes(),
            "431",
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n".to_vec(), "413"),
        (b"GET / HTTP/3.0\r\n\r\n".to_vec(), "505"),
    ] {
        let (mut d, _) = Driver::tcp(&svc, 8800, t0());
        let step = d.input(&req, t0());
        let out = text(&step.bytes);
        assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
        assert!(step.close);
        let ev = step.event("http.malformed").unwrap();
        assert_eq!(
            ev.body.data.get("status").and_then(|v| v.as_u64()),
            Some(status.parse().unwrap())
        );
    }
}

#[test]
fn slowloris_is_cut_at_the_request_timeout() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let mut now = t0();
    d.input(b"GET / HTTP/1.1\r\n", now);
    for _ in 0..3 {
        now += Duration::from_secs(5);
        assert!(d.advance(now).events.is_empty());
        d.input(b"X-a: b\r\n", now);
    }
    assert_eq!(d.deadline, Some(t0() + Duration::from_secs(20)));
    let step = d.advance(t0() + Duration::from_secs(20));
    assert!(step.close);
    let ev = step.event("http.timeout").unwrap();
    assert_eq!(ev.body.data.get("buffered").and_then(|v| v.as_u64()), Some(16 + 3 * 8));
}

#[test]
fn http09_gets_the_body_alone() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(b"GET /start.htm\r\n", t0());
    assert_eq!(text(&step.bytes), "<title>PLC_7</title><p id=v>20</p>");
    assert!(step.close);
}

#[test]
fn conpot_default_template_serves_its_site_without_test_pages() {
    let dir = conpot_testkit::conpot_templates().join("default");
    let template = Template::load_dir(&dir).unwrap();
    let device = device_of(&template).unwrap();
    let svc = HttpService::build(&template.protocols["http"], &device, &template.source).unwrap();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let out = text(&d.input(b"GET / HTTP/1.1\r\n\r\n", t0()).bytes);
    assert_eq!(
        out,
        "HTTP/1.1 302 Found\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\nContent-Type: text/html\r\nLocation: /index.html\r\nContent-Length: 0\r\n\r\n"
    );
    let step = d.input(b"GET /index.htm HTTP/1.1\r\n\r\n", t0());
    let out = text(&step.bytes);
    assert!(
        out.contains(
            "Last-Modified: Tue, 19 May 1993 09:00:00 GMT\r\nContent-Type: text/html\r\nSet-cookie: path=/\r\n"
        )
    );
    assert!(
        out.contains("<TITLE>Overview - Siemens, SIMATIC, S7-200</TITLE>"),
        "{out}"
    );
    assert!(out.contains("<td>00:00:00</td>"));
    assert!(step.delay <= Duration::from_millis(300));
    let out = text(&d.input(b"GET /tests/unittest_base.html HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(out.contains("This resource could not be found."));
    let out = text(&d.input(b"PUT / HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(out.starts_with("HTTP/1.1 501 Not Implemented\r\n"));
    let out = text(&d.input(b"OPTIONS / HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(out.contains("Allow: GET,HEAD,POST,OPTIONS,TRACE\r\n"));
    let out = text(&d.input(b"TRACE / HTTP/1.1\r\nX-Probe: 1\r\n\r\n", t0()).bytes);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains("Content-Type: message/http\r\n"));
    assert!(out.ends_with("TRACE / HTTP/1.1\r\nX-Probe: 1\r\n"));
}

#[test]
fn basic_auth_checks_the_device_accounts() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(b"GET /admin.htm HTTP/1.1\r\n\r\n", t0());
    let out = text(&step.bytes);
    assert!(out.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    assert!(out.contains("WWW-Authenticate: Basic realm=\"S7 Web\"\r\n"));
    assert!(step.event("auth.attempt").is_none());
    // admin:wrong
    let step = d.input(
        b"GET /admin.htm HTTP/1.1\r\nAuthorization: Basic YWRtaW46d3Jvbmc=\r\n\r\n",
        t0(),
    );
    assert!(text(&step.bytes).starts_with("HTTP/1.1 401 "));
    assert_eq!(step.types(), ["auth.attempt", "http.request"]);
    let ev = step.event("auth.attempt").unwrap();
    assert_eq!(ev.body.data.get("password").and_then(|v| v.as_str()), Some("wrong"));
    // admin:pw-PLC_7
    let step = d.input(
        b"GET /admin.htm HTTP/1.1\r\nAuthorization: Basic YWRtaW46cHctUExDXzc=\r\n\r\n",
        t0(),
    );
    assert!(text(&step.bytes).ends_with("\r\n\r\nsettings"), "{}", text(&step.bytes));
    assert_eq!(step.types(), ["auth.attempt", "http.request"]);
}

#[test]
fn the_docroot_serves_the_device_files_with_their_modes() {
    let template = r#"
[template]
unit = "U"
vendor = "V"
[persona]
vendor = "V"
hostname = "plc-9"
[protocols.http]
port = 0
docroot = "/www"
[[filesystem.entries]]
path = "/www/index.html"
content = "<h1>{persona.hostname}</h1>"
mtime = "2021-06-03T08:14:00Z"
[[filesystem.entries]]
path = "/www/css/site.css"
content = "body {}"
[[filesystem.entries]]
path = "/www/secret.txt"
content = "no"
mode = 0o600
[[filesystem.entries]]
path = "/etc/passwd"
content = "root:x:0:0"
"#;
    let (device, section) = device_and_section(template, "http").unwrap();
    let svc = HttpService::build(&section, &device, &FileSource::Embedded(&[])).unwrap();
    let (mut d, _) = Driver::tcp(&svc, 80, t0());
    let out = text(&d.input(b"GET / HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(
        out.contains("Content-Type: text/html\r\nLast-Modified: Thu, 03 Jun 2021 08:14:00 GMT\r\n"),
        "{out}"
    );
    assert!(out.ends_with("<h1>plc-9</h1>"));
    let out = text(&d.input(b"GET /css/site.css HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(out.contains("Content-Type: text/css\r\n") && out.ends_with("body {}"));
    for path in ["/secret.txt", "/../etc/passwd", "/css"] {
        let out = text(&d.input(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes(), t0()).bytes);
        assert!(out.starts_with("HTTP/1.1 404 "), "{path}: {out}");
    }
}

#[test]
fn form_login_opens_a_web_session_for_every_connection() {
    let template = r#"
[template]
unit = "U"
vendor = "V"
[persona]
vendor = "V"
[protocols.http]
port = 0
[protocols.http.login]
path = "/login.htm"
user_field = "Login"
password_field = "Password"
success = "/plant.htm"
cookie = "siemens_ad_session"
[[protocols.http.pages]]
path = "/login.htm"
content = "<form method=post><input name=Login><input name=Password type=password></form>"
[[protocols.http.pages]]
path = "/plant.htm"
auth = "form"
content = "pump states"
[[users]]
name = "operator"
password = "op1"
"#;
    let (device, section) = device_and_section(template, "http").unwrap();
    let svc = HttpService::build(&section, &device, &FileSource::Embedded(&[])).unwrap();
    let (mut d, _) = Driver::tcp(&svc, 80, t0());
    let out = text(&d.input(b"GET /plant.htm HTTP/1.1\r\n\r\n", t0()).bytes);
    assert!(
        out.starts_with("HTTP/1.1 302 Found\r\n") && out.contains("Location: /login.htm\r\n"),
        "{out}"
    );
    let post = |body: &str| {
        format!(
            "POST /login.htm HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let step = d.input(post("Login=operator&Password=guess").as_bytes(), t0());
    assert!(text(&step.bytes).contains("Location: /login.htm\r\n"));
    assert!(!text(&step.bytes).contains("Set-Cookie"));
    assert_eq!(step.types(), ["auth.attempt", "http.request"]);
    let step = d.input(post("Login=operator&Password=op1").as_bytes(), t0());
    let out = text(&step.bytes);
    assert!(out.contains("Location: /plant.htm\r\n"), "{out}");
    let cookie = out
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("siemens_ad_session="));
    // Another connection with the cookie sees the page.
    let (mut other, _) = Driver::tcp(&svc, 80, t0());
    let out = text(
        &other
            .input(
                format!("GET /plant.htm HTTP/1.1\r\nCookie: x=1; {cookie}\r\n\r\n").as_bytes(),
                t0(),
            )
            .bytes,
    );
    assert!(out.ends_with("pump states"), "{out}");
    let out = text(
        &other
            .input(
                b"GET /plant.htm HTTP/1.1\r\nCookie: siemens_ad_session=forged\r\n\r\n",
                t0(),
            )
            .bytes,
    );
    assert!(out.starts_with("HTTP/1.1 302 "));
}

/// The Digest answer a client computes (RFC 7616 section 3.4.1), written out here with
/// the hash crates, apart from the crate's own code.
fn digest_answer(alg: &str, user: &str, pass: &str, nonce: &str, uri: &str, realm: &str) -> String {
    use sha2::Digest as _;
    let h = |s: String| -> String {
        if alg == "MD5" {
            conpot_core::hex::encode(&md5::Md5::digest(s.as_bytes()))
        } else {
            conpot_core::hex::encode(&sha2::Sha256::digest(s.as_bytes()))
        }
    };
    let ha1 = h(format!("{user}:{realm}:{pass}"));
    let ha2 = h(format!("GET:{uri}"));
    let response = h(format!("{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={alg}, qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{response}\""
    )
}

fn nonce_of(challenge: &str) -> String {
    let at = challenge.find("nonce=\"").unwrap() + 7;
    let rest = &challenge[at..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[test]
fn digest_auth_checks_the_device_accounts_with_md5_and_sha256() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 8800, t0());
    let step = d.input(b"GET /digest.htm HTTP/1.1\r\n\r\n", t0());
    let out = text(&step.bytes);
    assert!(out.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    let challenges: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate: Digest "))
        .collect();
    assert_eq!(challenges.len(), 2, "{out}");
    assert!(challenges[0].contains("algorithm=SHA-256") && challenges[1].contains("algorithm=MD5"));
    assert!(challenges[0].contains("realm=\"S7 Web\"") && challenges[0].contains("qop=\"auth\""));
    assert!(step.event("auth.attempt").is_none());
    let nonce = nonce_of(challenges[0]);
    for alg in ["SHA-256", "MD5"] {
        let auth = digest_answer(alg, "admin", "pw-PLC_7", &nonce, "/digest.htm", "S7 Web");
        let req = format!("GET /digest.htm HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n");
        let step = d.input(req.as_bytes(), t0() + Duration::from_secs(10));
        assert!(
            text(&step.bytes).ends_with("\r\n\r\ndigest settings"),
            "{}",
            text(&step.bytes)
        );
        let ev = step.event("auth.attempt").unwrap();
        assert_eq!(ev.body.data.get("success").and_then(|v| v.as_bool()), Some(true));
        let method = if alg == "MD5" {
            "http-digest-md5"
        } else {
            "http-digest-sha256"
        };
        assert_eq!(ev.body.data.get("method").and_then(|v| v.as_str()), Some(method));
    }
    // A wrong password, a request for another URI, a stale and a forged nonce: each an
    // attempt refused.
    let last = if nonce.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &nonce[..nonce.len() - 1]);
    let cases = [
        (
            digest_answer("MD5", "admin", "guess", &nonce, "/digest.htm", "S7 Web"),
            10,
            "bad_password",
            false,
        ),
        (
            digest_answer("MD5", "admin", "pw-PLC_7", &nonce, "/start.htm", "S7 Web"),
            10,
            "wrong_uri",
            false,
        ),
        (
            digest_answer("MD5", "admin", "pw-PLC_7", &nonce, "/digest.htm", "S7 Web"),
            600,
            "stale_nonce",
            true,
        ),
        (
            digest_answer("MD5", "admin", "pw-PLC_7", &forged, "/digest.htm", "S7 Web"),
            10,
            "unknown_nonce",
            false,
        ),
    ];
    for (auth, later, reason, stale) in cases {
        let req = format!("GET /digest.htm HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n");
        let step = d.input(req.as_bytes(), t0() + Duration::from_secs(later));
        let out = text(&step.bytes);
        assert!(out.starts_with("HTTP/1.1 401 "), "{out}");
        assert_eq!(out.contains("stale=true"), stale, "{reason}: {out}");
        let ev = step.event("auth.attempt").unwrap();
        assert_eq!(
            ev.body.data.get("reason").and_then(|v| v.as_str()),
            Some(reason),
            "{ev:?}"
        );
    }
}

/// Conpot's node and status `<proxy>`: read past, the page served from its files, nothing
/// connects anywhere.
#[test]
fn conpot_proxy_nodes_are_served_from_their_files() {
    use conpot_core::template::{ProtocolSection, SectionBody};
    let xml = r#"<http enabled="True" host="0.0.0.0" port="80">
  <global><config><entity name="protocol_version">HTTP/1.1</entity></config>
    <headers><entity name="Content-Type">text/html</entity></headers></global>
  <htdocs>
    <node name="/index.html"><status>200</status><proxy>192.0.2.7:80</proxy></node>
  </htdocs>
  <statuscodes>
    <status name="404"><tarpit>0</tarpit><proxy>192.0.2.7:80</proxy><entity name="Content-Type">text/html</entity></status>
  </statuscodes>
</http>"#;
    static FILES: &[(&str, &[u8])] = &[
        ("http/htdocs/index.html", b"local page"),
        ("http/statuscodes/404.status", b"local 404"),
    ];
    let (device, _) = device_and_section(TEMPLATE, "http").unwrap();
    let section = ProtocolSection {
        name: "http".into(),
        enabled: true,
        host: "0.0.0.0".into(),
        port: 0,
        file: "http/http.xml".into(),
        body: SectionBody::ConpotXml(xml.into()),
    };
    let svc = HttpService::build(&section, &device, &FileSource::Embedded(FILES)).unwrap();
    assert!(conpot_core::protocol::Service::upstream_targets(&svc).is_empty());
    let (mut d, _) = Driver::tcp(&svc, 80, t0());
    let step = d.input(b"GET /index.html HTTP/1.1\r\n\r\n", t0());
    assert!(
        text(&step.bytes).ends_with("\r\n\r\nlocal page"),
        "{}",
        text(&step.bytes)
    );
    assert!(step.requests.is_empty());
    let step = d.input(b"GET /nowhere HTTP/1.1\r\n\r\n", t0());
    assert!(text(&step.bytes).starts_with("HTTP/1.1 404 "));
    assert!(text(&step.bytes).ends_with("local 404"));
    assert!(step.requests.is_empty());
}
