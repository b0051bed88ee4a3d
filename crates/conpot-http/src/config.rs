//! Building a [`Site`] from a template section: native TOML (`[protocols.http]`) or
//! Conpot's `http/http.xml` with its `htdocs/` and `statuscodes/` folders.

use std::collections::BTreeMap;

use conpot_core::Device;
use conpot_core::template::nav::{Errors, Table as TomlTable};
use conpot_core::template::nav::{xml_child as child, xml_text as text};
use conpot_core::template::{FileSource, ProtocolSection, TemplateError};

use crate::request::Limits;
use crate::site::{Body, ErrorPage, GlobalHeader, Methods, Page, Site, Trigger};

/// Largest file of a site (a page or an error page).
pub const MAX_FILE: usize = 4 * 1024 * 1024;
/// Most pages of a site.
pub const MAX_PAGES: usize = 1024;

/// Builds the site of `section` for `device`, reading page files from `source`.
pub fn build(section: &ProtocolSection, device: &Device, source: &FileSource) -> Result<Site, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, source, errs),
        |file, x, errs| from_xml(file, x, source, errs),
    )
}

fn base_site() -> Site {
    Site {
        version: "HTTP/1.1".into(),
        headers: vec![GlobalHeader::Date],
        pages: BTreeMap::new(),
        errors: BTreeMap::new(),
        methods: Methods {
            head: true,
            options: true,
            trace: false,
            post: true,
        },
        refused_status: 405,
        limits: Limits::default(),
        request_timeout_s: 30,
        response_time_ms: (0, 0),
        docroot: None,
        login: None,
        sessions: Default::default(),
        digest_key: {
            let mut k = [0u8; 32];
            for chunk in k.chunks_mut(8) {
                let v = conpot_core::rng::entropy_u64().to_le_bytes();
                chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
            }
            k
        },
    }
}

fn render(file: &str, key: &str, text: &str, device: &Device, errs: &mut Errors) -> String {
    device.persona.render(text).unwrap_or_else(|e| {
        errs.push(file, key, format!("known persona fields only: {e}"));
        String::new()
    })
}

/// A template file, bounded.
fn read_file(source: &FileSource, rel: &str, file: &str, key: &str, errs: &mut Errors) -> Option<Vec<u8>> {
    match source.read(rel) {
        Some(b) if b.len() <= MAX_FILE => Some(b),
        Some(_) => {
            errs.push(file, key, format!("a file of at most {MAX_FILE} bytes ({rel})"));
            None
        }
        None => {
            errs.push(file, key, format!("a file of the template folder (no {rel})"));
            None
        }
    }
}

fn header_list(t: &TomlTable<'_>, device: &Device, errs: &mut Errors) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, h) in t.tables("headers", false, errs) {
        let h = TomlTable::new(t.file, &path, h);
        h.deny_unknown(&["name", "value"], errs);
        let (Some(name), Some(value)) = (h.str("name", true, errs), h.str("value", true, errs)) else {
            continue;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            errs.push(t.file, &h.key("name"), "a header field name");
            continue;
        }
        let value = render(t.file, &h.key("value"), value, device, errs);
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            errs.push(t.file, &h.key("value"), "a value on one line");
            continue;
        }
        out.push((name.to_owned(), value));
    }
    out
}

/// `content` (inline, persona references filled) or `file` (from the template folder).
fn body_of(t: &TomlTable<'_>, device: &Device, source: &FileSource, errs: &mut Errors) -> Vec<u8> {
    match (t.str("content", false, errs), t.str("file", false, errs)) {
        (Some(_), Some(_)) => {
            errs.push(t.file, &t.key("file"), "one of content and file");
            Vec::new()
        }
        (Some(c), None) => render(t.file, &t.key("content"), c, device, errs).into_bytes(),
        (None, Some(f)) => read_file(source, f, t.file, &t.key("file"), errs).unwrap_or_default(),
        (None, None) => Vec::new(),
    }
}

fn delay(t: &TomlTable<'_>, errs: &mut Errors) -> Option<(u32, u32)> {
    t.get("delay_ms").map(|_| t.millis_range("delay_ms", errs))
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, source: &FileSource, errs: &mut Errors) -> Option<Site> {
    let root = TomlTable::new(file, "protocols.http", t);
    root.deny_unknown(
        &[
            "version",
            "server",
            "headers",
            "methods",
            "refused_status",
            "response_time_ms",
            "request_timeout_s",
            "max_body",
            "pages",
            "errors",
            "docroot",
            "login",
        ],
        errs,
    );
    let mut site = base_site();
    match root.str("version", false, errs) {
        None | Some("HTTP/1.1") => {}
        Some("HTTP/1.0") => site.version = "HTTP/1.0".into(),
        Some(o) => errs.push(
            file,
            &root.key("version"),
            format!("HTTP/1.1 or HTTP/1.0, found \"{o}\""),
        ),
    }
    if let Some(s) = root.str("server", false, errs) {
        let s = render(file, &root.key("server"), s, device, errs);
        site.headers.push(GlobalHeader::Fixed("Server".into(), s));
    }
    site.headers.extend(
        header_list(&root, device, errs)
            .into_iter()
            .map(|(n, v)| GlobalHeader::Fixed(n, v)),
    );
    if let Some(m) = root.table("methods", false, errs) {
        let m = TomlTable::new(file, "protocols.http.methods", m);
        m.deny_unknown(&["head", "options", "trace", "post"], errs);
        let get = |k, default, errs: &mut Errors| m.bool(k, errs).unwrap_or(default);
        site.methods = Methods {
            head: get("head", true, errs),
            options: get("options", true, errs),
            trace: get("trace", false, errs),
            post: get("post", true, errs),
        };
    }
    if let Some(s) = root.int("refused_status", 405, 501, false, errs) {
        if s != 405 && s != 501 {
            errs.push(file, &root.key("refused_status"), "405 or 501");
        }
        site.refused_status = s as u16;
    }
    site.response_time_ms = root.millis_range("response_time_ms", errs);
    if let Some(s) = root.int("request_timeout_s", 1, 3600, false, errs) {
        site.request_timeout_s = s as u64;
    }
    if let Some(n) = root.int("max_body", 0, 48 * 1024, false, errs) {
        site.limits.max_body = n as usize;
    }
    if let Some(d) = root.str("docroot", false, errs) {
        match device.vfs.view(d) {
            Ok(v) => site.docroot = Some(v),
            Err(e) => errs.push(
                file,
                &root.key("docroot"),
                format!("a folder of the device's filesystem ({d}: {e:?})"),
            ),
        }
    }
    for (path, p) in root.tables("pages", false, errs) {
        let p = TomlTable::new(file, &path, p);
        p.deny_unknown(
            &[
                "path",
                "status",
                "redirect",
                "alias",
                "content",
                "file",
                "content_type",
                "render",
                "headers",
                "delay_ms",
                "auth",
                "realm",
                "algorithms",
            ],
            errs,
        );
        let Some(name) = p.str("path", true, errs) else {
            continue;
        };
        let form_login = p.str("auth", false, errs) == Some("form");
        let mut digest = Vec::new();
        let realm = match p.str("auth", false, errs) {
            None | Some("none") | Some("form") => None,
            Some("digest") => {
                use crate::digest::Algorithm;
                match p.array("algorithms", false, errs) {
                    None => digest.push(Algorithm::Md5),
                    Some(list) => {
                        for v in list {
                            match v.as_str() {
                                Some("MD5") => digest.push(Algorithm::Md5),
                                Some("SHA-256") => digest.push(Algorithm::Sha256),
                                _ => errs.push(file, &p.key("algorithms"), "a list of \"SHA-256\" and \"MD5\""),
                            }
                        }
                        digest.dedup();
                        if digest.is_empty() {
                            errs.push(file, &p.key("algorithms"), "at least one of \"SHA-256\" and \"MD5\"");
                        }
                    }
                }
                let realm = p.str("realm", false, errs).unwrap_or("Login");
                Some(render(file, &p.key("realm"), realm, device, errs))
            }
            Some("basic") => {
                let realm = p.str("realm", false, errs).unwrap_or("Login");
                Some(render(file, &p.key("realm"), realm, device, errs))
            }
            Some(o) => {
                errs.push(
                    file,
                    &p.key("auth"),
                    format!("\"basic\", \"digest\", \"form\" or \"none\", found \"{o}\""),
                );
                None
            }
        };
        let (normal, _, _) = crate::target::normalise(name);
        if !name.starts_with('/') || normal != name {
            errs.push(
                file,
                &p.key("path"),
                format!("a normalised absolute path, found \"{name}\""),
            );
            continue;
        }
        let redirect = p.str("redirect", false, errs);
        let status = p
            .int("status", 100, 599, false, errs)
            .map_or(if redirect.is_some() { 302 } else { 200 }, |s| s as u16);
        let bytes = body_of(&p, device, source, errs);
        let content_type = p.str("content_type", false, errs).unwrap_or("text/html");
        let mut headers = Vec::new();
        if !content_type.is_empty() {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        if let Some(r) = redirect {
            headers.push(("Location".to_owned(), render(file, &p.key("redirect"), r, device, errs)));
        }
        headers.extend(header_list(&p, device, errs));
        let render_it = p.bool("render", errs).unwrap_or(content_type.starts_with("text/html"));
        let page = Page {
            status,
            headers,
            body: Body {
                bytes,
                render: render_it,
            },
            alias: p.str("alias", false, errs).map(str::to_owned),
            delay_ms: delay(&p, errs),
            triggers: Vec::new(),
            realm,
            form_login,
            digest,
        };
        if site.pages.len() >= MAX_PAGES {
            errs.push(file, &path, format!("at most {MAX_PAGES} pages"));
            break;
        }
        if site.pages.insert(name.to_owned(), page).is_some() {
            errs.push(file, &p.key("path"), format!("one page per path (\"{name}\" twice)"));
        }
    }
    check_aliases(file, &site, errs);
    if let Some(l) = root.table("login", false, errs) {
        let l = TomlTable::new(file, "protocols.http.login", l);
        l.deny_unknown(&["path", "user_field", "password_field", "success", "cookie"], errs);
        let text = |k: &str, default: &str, errs: &mut Errors| l.str(k, false, errs).unwrap_or(default).to_owned();
        let form = crate::login::LoginForm {
            path: text("path", "/login.htm", errs),
            user_field: text("user_field", "username", errs),
            password_field: text("password_field", "password", errs),
            success: text("success", "/", errs),
            cookie: text("cookie", "session", errs),
        };
        if form.cookie.is_empty()
            || !form
                .cookie
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            errs.push(file, &l.key("cookie"), "a cookie name of letters, digits, _ and -");
        }
        site.login = Some(form);
    } else if site.pages.values().any(|p| p.form_login) {
        errs.push(
            file,
            "protocols.http.login",
            "a login form for the pages with auth = \"form\"",
        );
    }
    for (path, e) in root.tables("errors", false, errs) {
        let e = TomlTable::new(file, &path, e);
        e.deny_unknown(
            &["status", "content", "file", "content_type", "headers", "delay_ms"],
            errs,
        );
        let Some(status) = e.int("status", 400, 599, true, errs) else {
            continue;
        };
        let mut headers = Vec::new();
        let content_type = e.str("content_type", false, errs).unwrap_or("text/html");
        if !content_type.is_empty() {
            headers.push(("Content-Type".to_owned(), content_type.to_owned()));
        }
        headers.extend(header_list(&e, device, errs));
        let page = ErrorPage {
            headers,
            body: body_of(&e, device, source, errs),
            delay_ms: delay(&e, errs),
        };
        site.errors.insert(status as u16, page);
    }
    Some(site)
}

fn check_aliases(file: &str, site: &Site, errs: &mut Errors) {
    for (name, p) in &site.pages {
        if let Some(a) = &p.alias
            && !site.pages.contains_key(a)
        {
            errs.push(
                file,
                "protocols.http.pages",
                format!("the alias of \"{name}\" to be a page (\"{a}\")"),
            );
        }
    }
}

fn entities<'a>(node: Option<roxmltree::Node<'a, 'a>>) -> Vec<(String, String)> {
    node.into_iter()
        .flat_map(|n| n.children().filter(|c| c.has_tag_name("entity")))
        .filter_map(|e| {
            let name = e.attribute("name")?;
            Some((name.to_owned(), e.text().unwrap_or_default().trim().to_owned()))
        })
        .collect()
}

/// Conpot's tarpit: `"x"` seconds or `"x;y"` a range; empty or zero is none.
fn tarpit(s: &str) -> Option<(u32, u32)> {
    let ms = |t: &str| {
        t.trim()
            .parse::<f64>()
            .ok()
            .map(|s| (s * 1000.0).clamp(0.0, 10_000.0) as u32)
    };
    let (lo, hi) = match s.split_once(';') {
        Some((a, b)) => (ms(a)?, ms(b)?),
        None => {
            let v = ms(s)?;
            (v, v)
        }
    };
    (hi > 0).then_some((lo.min(hi), hi))
}

fn from_xml(file: &str, xml: &str, source: &FileSource, errs: &mut Errors) -> Option<Site> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let root = doc.root_element();
    let mut site = base_site();
    // Conpot's answers: 501 for what it does not serve, TRACE on, no Server field.
    site.refused_status = 501;
    site.methods.trace = true;
    site.headers.clear();
    let global = child(root, "global");
    let mut conf = BTreeMap::new();
    for (k, v) in entities(global.and_then(|g| child(g, "config"))) {
        conf.insert(k, v);
    }
    let flag = |k: &str| conf.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    site.methods.head = !flag("disable_method_head");
    site.methods.trace = !flag("disable_method_trace");
    site.methods.options = !flag("disable_method_options");
    if conf.get("protocol_version").map(String::as_str) == Some("HTTP/1.0") {
        site.version = "HTTP/1.0".into();
    }
    let global_delay = conf.get("tarpit").and_then(|t| tarpit(t));
    let mut dated = false;
    for (n, v) in entities(global.and_then(|g| child(g, "headers"))) {
        if n.eq_ignore_ascii_case("date") {
            // Always the live date: Conpot's frozen start-up date is a fingerprint.
            dated = true;
            site.headers.push(GlobalHeader::Date);
        } else {
            site.headers.push(GlobalHeader::Fixed(n, v));
        }
    }
    if !dated {
        site.headers.insert(0, GlobalHeader::Date);
    }
    let htdocs = |name: &str| source.read(&format!("http/htdocs/{}", name.trim_start_matches('/')));
    for node in child(root, "htdocs")
        .into_iter()
        .flat_map(|h| h.children().filter(|c| c.has_tag_name("node")))
    {
        let Some(name) = node.attribute("name") else {
            errs.push(file, "http.htdocs.node", "a name attribute");
            continue;
        };
        // Conpot's unit-test pages are a fingerprint of a stock install: never served.
        if name.starts_with("/tests/unittest_") {
            continue;
        }
        let headers = entities(child(node, "headers"));
        let render = headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.eq_ignore_ascii_case("text/html"));
        let bytes = htdocs(name).filter(|b| b.len() <= MAX_FILE).unwrap_or_default();
        let triggers = child(node, "triggers")
            .into_iter()
            .flat_map(|t| t.children().filter(|c| c.has_tag_name("entity")))
            .filter_map(|e| {
                let appendix = e.attribute("appendix")?;
                let conditions = e
                    .text()
                    .unwrap_or_default()
                    .trim()
                    .split(';')
                    .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .collect();
                let bytes = htdocs(&format!("{name}_{appendix}")).unwrap_or_default();
                Some(Trigger {
                    conditions,
                    body: Body { bytes, render: false },
                })
            })
            .collect();
        let status = match text(node, "status").map(str::parse::<u16>) {
            None => 200,
            Some(Ok(s)) if (100..=599).contains(&s) => s,
            Some(_) => {
                errs.push(file, &format!("http.htdocs.node[{name}].status"), "a status code");
                200
            }
        };
        let page = Page {
            status,
            headers,
            body: Body { bytes, render },
            alias: text(node, "alias").map(str::to_owned),
            delay_ms: text(node, "tarpit").and_then(tarpit).or(global_delay),
            triggers,
            realm: None,
            form_login: false,
            digest: Vec::new(),
        };
        if site.pages.len() < MAX_PAGES {
            site.pages.insert(crate::target::normalise(name).0, page);
        }
    }
    for status in child(root, "statuscodes")
        .into_iter()
        .flat_map(|s| s.children().filter(|c| c.has_tag_name("status")))
    {
        let Some(code) = status.attribute("name").and_then(|n| n.parse::<u16>().ok()) else {
            errs.push(file, "http.statuscodes.status", "a status code as name");
            continue;
        };
        site.errors.insert(
            code,
            ErrorPage {
                headers: entities(child(status, "headers")),
                body: Vec::new(),
                delay_ms: text(status, "tarpit").and_then(tarpit).or(global_delay),
            },
        );
    }
    // Status pages exist as files even when http.xml does not name them.
    for code in [400u16, 401, 403, 404, 405, 413, 414, 431, 500, 501, 503, 505] {
        if let Some(b) = source
            .read(&format!("http/statuscodes/{code}.status"))
            .filter(|b| b.len() <= MAX_FILE)
        {
            site.errors.entry(code).or_default().body = b;
        }
    }
    Some(site)
}

#[cfg(test)]
mod tests {
    use super::tarpit;

    #[test]
    fn tarpits() {
        assert_eq!(tarpit("0"), None);
        assert_eq!(tarpit("0.0;0.3"), Some((0, 300)));
        assert_eq!(tarpit("5"), Some((5000, 5000)));
        assert_eq!(tarpit("x"), None);
    }
}
