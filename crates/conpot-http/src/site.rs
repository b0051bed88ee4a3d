//! The device's web site: its pages, error pages, global header fields and the methods
//! it answers, and how one parsed request becomes a [`Response`]. Built once per device
//! from the template (native TOML or Conpot's `http.xml`, see `config`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use conpot_core::Device;

use crate::page;
use crate::request::{Limits, Request};
use crate::response::{Response, http_date};
use crate::target::Target;

/// A header field sent with every response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalHeader {
    /// `Date`, always the time of the response (never frozen, unlike Conpot).
    Date,
    /// A fixed field.
    Fixed(String, String),
}

/// Where a page's body comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// The bytes (read from the template when it loaded).
    pub bytes: Vec<u8>,
    /// Fill `<condata>` markers when serving (HTML pages).
    pub render: bool,
}

/// A query condition that serves another variant of a page (Conpot's `<triggers>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// `key=value` pairs that must all be in the query.
    pub conditions: Vec<(String, String)>,
    /// What is served then.
    pub body: Body,
}

/// One page of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Status code (200; 302 for a redirect).
    pub status: u16,
    /// Header fields after the global ones, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// Serve another page's content under this path (Conpot's `<alias>`).
    pub alias: Option<String>,
    /// Extra delay before answering, `[min, max]` ms (Conpot's `<tarpit>`).
    pub delay_ms: Option<(u32, u32)>,
    /// Query-selected variants.
    pub triggers: Vec<Trigger>,
    /// Served only after HTTP Basic authentication against the device's accounts, with
    /// this realm.
    pub realm: Option<String>,
    /// Served only within a web session opened by the login form.
    pub form_login: bool,
    /// With a realm: HTTP Digest with these algorithms (in the challenges' order) instead
    /// of Basic.
    pub digest: Vec<crate::digest::Algorithm>,
}

/// An error page of the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPage {
    /// Header fields after the global ones.
    pub headers: Vec<(String, String)>,
    /// The body (error pages are always rendered).
    pub body: Vec<u8>,
    /// Extra delay, `[min, max]` ms.
    pub delay_ms: Option<(u32, u32)>,
}

/// The methods a site answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods {
    /// HEAD.
    pub head: bool,
    /// OPTIONS.
    pub options: bool,
    /// TRACE (echoes the request's header fields, as Conpot does).
    pub trace: bool,
    /// POST.
    pub post: bool,
}

/// A whole site.
#[derive(Debug, Clone)]
pub struct Site {
    /// The status line's version (`HTTP/1.1`), whatever the request's.
    pub version: String,
    /// Fields sent first with every response, in order.
    pub headers: Vec<GlobalHeader>,
    /// Pages by normalised path.
    pub pages: BTreeMap<String, Page>,
    /// Error pages by status.
    pub errors: BTreeMap<u16, ErrorPage>,
    /// The methods answered.
    pub methods: Methods,
    /// The status for a known method the site does not answer (PUT, DELETE, a disabled
    /// one): 501 as Conpot, 405 as many devices.
    pub refused_status: u16,
    /// Request bounds.
    pub limits: Limits,
    /// Seconds a client may take to send a whole request once it started (slowloris).
    pub request_timeout_s: u64,
    /// Delay of every response, `[min, max]` ms (the section's `response_time_ms`).
    pub response_time_ms: (u32, u32),
    /// A folder of the device's filesystem served for paths without a page.
    pub docroot: Option<conpot_core::vfs::View>,
    /// The login form, if the device has one.
    pub login: Option<crate::login::LoginForm>,
    /// Web sessions opened by the login form, shared by every connection.
    pub sessions: std::sync::Arc<crate::login::Sessions>,
    /// The secret Digest nonces are made and checked with (random per start).
    pub digest_key: [u8; 32],
}

/// Methods the device knows but may refuse (others are 501).
const KNOWN: &[&str] = &[
    "GET", "HEAD", "POST", "OPTIONS", "TRACE", "PUT", "DELETE", "PATCH", "CONNECT",
];

/// What the site answers to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The response.
    pub response: Response,
    /// Leave the body out (HEAD).
    pub head: bool,
    /// Extra delay, `[min, max]` ms.
    pub delay_ms: Option<(u32, u32)>,
    /// Close after it.
    pub close: bool,
    /// Which page served it (for the event).
    pub page: Option<String>,
}

impl Site {
    /// The `Allow` list.
    pub fn allow(&self) -> String {
        let m = self.methods;
        let mut list = vec!["GET"];
        for (on, name) in [
            (m.head, "HEAD"),
            (m.post, "POST"),
            (m.options, "OPTIONS"),
            (m.trace, "TRACE"),
        ] {
            if on {
                list.push(name);
            }
        }
        list.join(",")
    }

    fn global(&self, now: SystemTime) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|h| match h {
                GlobalHeader::Date => ("Date".to_owned(), http_date(now)),
                GlobalHeader::Fixed(n, v) => (n.clone(), v.clone()),
            })
            .collect()
    }

    /// The device's error page for `status`.
    pub fn error(&self, status: u16, device: &Device, now: SystemTime) -> Answer {
        let mut headers = self.global(now);
        let (body, delay_ms) = match self.errors.get(&status) {
            Some(e) => {
                headers.extend(e.headers.iter().cloned());
                let body = page::render(&String::from_utf8_lossy(&e.body), device, now).into_bytes();
                (body, e.delay_ms)
            }
            None => (Vec::new(), None),
        };
        if status == 405 && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("allow")) {
            headers.push(("Allow".into(), self.allow()));
        }
        Answer {
            response: Response {
                status,
                headers,
                body,
                no_length: false,
            },
            head: false,
            delay_ms,
            close: false,
            page: None,
        }
    }

    /// The answer to `req` for `target` (already parsed and normalised).
    pub fn answer(&self, req: &Request, target: &Target, device: &Device, now: SystemTime) -> Answer {
        let m = self.methods;
        let method = req.method.as_str();
        let enabled = match method {
            "GET" => true,
            "HEAD" => m.head,
            "POST" => m.post,
            "OPTIONS" => m.options,
            "TRACE" => m.trace,
            _ => false,
        };
        if !enabled {
            let status = if KNOWN.contains(&method) {
                self.refused_status
            } else {
                501
            };
            let mut a = self.error(status, device, now);
            a.head = method == "HEAD";
            return a;
        }
        match method {
            "OPTIONS" => {
                let mut headers = self.global(now);
                headers.push(("Allow".into(), self.allow()));
                Answer {
                    response: Response {
                        status: 200,
                        headers,
                        body: Vec::new(),
                        no_length: false,
                    },
                    head: false,
                    delay_ms: None,
                    close: false,
                    page: None,
                }
            }
            "TRACE" => {
                let mut headers = self.global(now);
                headers.push(("Content-Type".into(), "message/http".into()));
                let mut body = format!("TRACE {} {}\r\n", req.target, req.version.as_str()).into_bytes();
                for (n, v) in &req.headers {
                    body.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
                }
                Answer {
                    response: Response {
                        status: 200,
                        headers,
                        body,
                        no_length: false,
                    },
                    head: false,
                    delay_ms: None,
                    close: false,
                    page: None,
                }
            }
            _ => {
                let mut a = self.page(target, device, now);
                a.head = method == "HEAD";
                a
            }
        }
    }

    /// The Basic realm protecting the page at `path` (its own, or its alias's).
    pub fn realm_of(&self, path: &str) -> Option<&str> {
        let page = self.pages.get(path)?;
        let target = page.alias.as_ref().and_then(|a| self.pages.get(a));
        page.realm.as_deref().or(target.and_then(|t| t.realm.as_deref()))
    }

    /// The Digest algorithms of the page at `path` (or its alias's): empty for Basic.
    pub fn digest_of(&self, path: &str) -> &[crate::digest::Algorithm] {
        let Some(page) = self.pages.get(path) else {
            return &[];
        };
        if page.realm.is_some() {
            return &page.digest;
        }
        page.alias
            .as_ref()
            .and_then(|a| self.pages.get(a))
            .map_or(&[], |t| t.digest.as_slice())
    }

    /// The 401 answer asking for Digest credentials of `realm` with `algorithms` (a fresh
    /// nonce; `stale` when the client's was one of ours but too old).
    pub fn unauthorized_digest(
        &self,
        realm: &str,
        algorithms: &[crate::digest::Algorithm],
        stale: bool,
        device: &Device,
        now: SystemTime,
    ) -> Answer {
        let mut a = self.error(401, device, now);
        let nonce = crate::digest::nonce(&self.digest_key, now);
        let opaque = crate::digest::nonce(&self.digest_key, std::time::UNIX_EPOCH);
        for c in crate::digest::challenges(realm, algorithms, &nonce, opaque.get(16..).unwrap_or_default(), stale) {
            a.response.headers.push(("WWW-Authenticate".into(), c));
        }
        a
    }

    /// Whether the page at `path` (or its alias's) needs a login by form.
    pub fn needs_form_login(&self, path: &str) -> bool {
        let Some(page) = self.pages.get(path) else {
            return false;
        };
        let target = page.alias.as_ref().and_then(|a| self.pages.get(a));
        page.form_login || target.is_some_and(|t| t.form_login)
    }

    /// A `302` to `location`, with extra header fields.
    pub fn redirect(&self, location: &str, extra: Vec<(String, String)>, now: SystemTime) -> Answer {
        let mut headers = self.global(now);
        headers.push(("Location".into(), location.to_owned()));
        headers.extend(extra);
        Answer {
            response: Response {
                status: 302,
                headers,
                body: Vec::new(),
                no_length: false,
            },
            head: false,
            delay_ms: None,
            close: false,
            page: None,
        }
    }

    /// The 401 answer asking for credentials of `realm`.
    pub fn unauthorized(&self, realm: &str, device: &Device, now: SystemTime) -> Answer {
        let mut a = self.error(401, device, now);
        let realm = realm.replace(['"', '\\'], "");
        a.response
            .headers
            .push(("WWW-Authenticate".into(), format!("Basic realm=\"{realm}\"")));
        a
    }

    /// The file at `target` under the docroot, or the 404 page.
    fn file(&self, target: &Target, device: &Device, now: SystemTime) -> Answer {
        let Some(found) = self
            .docroot
            .as_ref()
            .and_then(|v| crate::files::lookup(v, &target.path, now))
        else {
            return self.error(404, device, now);
        };
        let mut headers = self.global(now);
        headers.push(("Content-Type".into(), found.content_type.into()));
        headers.push(("Last-Modified".into(), found.last_modified));
        Answer {
            response: Response {
                status: 200,
                headers,
                body: found.bytes,
                no_length: false,
            },
            head: false,
            delay_ms: None,
            close: false,
            page: Some(format!("docroot:{}", target.path)),
        }
    }

    /// The page at `target`, or the 404 page.
    fn page(&self, target: &Target, device: &Device, now: SystemTime) -> Answer {
        let Some(found) = self.pages.get(&target.path) else {
            return self.file(target, device, now);
        };
        // One level of alias, as Conpot: the alias's page gives status, fields and body.
        let (name, page) = match &found.alias {
            Some(a) => match self.pages.get(a) {
                Some(p) => (a.clone(), p),
                None => return self.error(404, device, now),
            },
            None => (target.path.clone(), found),
        };
        let query: Vec<(&str, &str)> = target
            .query
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .collect();
        let body = page
            .triggers
            .iter()
            .find(|t| {
                t.conditions
                    .iter()
                    .all(|(k, v)| query.contains(&(k.as_str(), v.as_str())))
            })
            .map_or(&page.body, |t| &t.body);
        let bytes = if body.render {
            page::render(&String::from_utf8_lossy(&body.bytes), device, now).into_bytes()
        } else {
            body.bytes.clone()
        };
        let mut headers = self.global(now);
        headers.extend(page.headers.iter().cloned());
        Answer {
            response: Response {
                status: page.status,
                headers,
                body: bytes,
                no_length: false,
            },
            head: false,
            delay_ms: page.delay_ms.or(found.delay_ms),
            close: false,
            page: Some(name),
        }
    }
}
