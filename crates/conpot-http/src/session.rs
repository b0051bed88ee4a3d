//! One HTTP connection as a sans-IO session: requests in (pipelined ones one after the
//! other), responses and one `http.request` event per request out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::Device;
use conpot_core::auth::Secret;
use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session, response_delay};
use serde_json::{Value as Json, json};

use crate::request::{self, ParseError, Parsed, Request, Version};
use crate::site::{Answer, Site};
use crate::target::{self, Target};

/// Most header fields, body bytes and form fields put into one event.
const EVENT_HEADERS: usize = 64;
const EVENT_BODY: usize = 4096;
const EVENT_FORM: usize = 32;
const EVENT_TEXT: usize = 1024;

/// A connection's state.
pub struct HttpSession {
    site: Arc<Site>,
    device: Arc<Device>,
    /// `100 Continue` was sent for the request being received.
    continued: bool,
    /// When the request being received started arriving, and how much of it is here.
    pending: Option<(SystemTime, usize)>,
    /// The client's address (login attempts are counted per source).
    peer: IpAddr,
}

impl HttpSession {
    /// A session serving `site` of `device` to a client at `peer`.
    pub fn new(site: Arc<Site>, device: Arc<Device>, peer: IpAddr) -> Self {
        HttpSession {
            site,
            device,
            continued: false,
            pending: None,
            peer,
        }
    }

    /// The answer to a request for a page: asks for or checks Basic credentials if the
    /// page is protected (every attempt an `auth.attempt` event), else the site's answer.
    fn answer(&self, req: &Request, target: &Target, now: SystemTime, out: &mut Output) -> Answer {
        let page_method = matches!(req.method.as_str(), "GET" | "HEAD" | "POST");
        if let Some(login) = &self.site.login {
            if req.method == "POST" && target.path == login.path {
                return self.form_login(login, req, now, out);
            }
            if page_method && self.site.needs_form_login(&target.path) {
                let token = req
                    .header("cookie")
                    .and_then(|c| crate::login::cookie(c, &login.cookie));
                if token.and_then(|t| self.site.sessions.user(t)).is_none() {
                    return self.site.redirect(&login.path, Vec::new(), now);
                }
            }
        }
        let Some(realm) = self.site.realm_of(&target.path).filter(|_| page_method) else {
            return self.site.answer(req, target, &self.device, now);
        };
        let algorithms = self.site.digest_of(&target.path);
        if !algorithms.is_empty() {
            return self.digest(req, target, realm, algorithms, now, out);
        }
        let mut denied = self.site.unauthorized(realm, &self.device, now);
        denied.head = req.method == "HEAD";
        let Some(value) = req.header("authorization") else {
            return denied;
        };
        let Some((user, pass)) = crate::basic::credentials(value) else {
            return denied;
        };
        let decision = self
            .device
            .auth
            .check("http", &user, Secret::Plain(&pass), self.peer, now);
        let ok = decision.success();
        out.events.push(decision.event);
        if ok {
            self.site.answer(req, target, &self.device, now)
        } else {
            denied
        }
    }

    /// [`HttpSession::answer`] for a page behind Digest: a well-formed answer is checked
    /// against the account's password (an `auth.attempt` event whatever the outcome: a
    /// stale or forged nonce, a `uri` or realm that is not this request's, an algorithm
    /// not offered are refusals of their own); anything else gets the challenge.
    fn digest(
        &self,
        req: &Request,
        target: &Target,
        realm: &str,
        algorithms: &[crate::digest::Algorithm],
        now: SystemTime,
        out: &mut Output,
    ) -> Answer {
        use conpot_core::auth::{Proof, Verdict};
        let head = req.method == "HEAD";
        let challenge = |stale: bool| {
            let mut a = self
                .site
                .unauthorized_digest(realm, algorithms, stale, &self.device, now);
            a.head = head;
            a
        };
        let Some(answer) = req.header("authorization").and_then(crate::digest::parse) else {
            return challenge(false);
        };
        let fresh = crate::digest::nonce_fresh(&self.site.digest_key, &answer.nonce, now);
        let chosen = answer.algorithm(algorithms);
        let alg = chosen.map_or(
            algorithms.first().copied().unwrap_or(crate::digest::Algorithm::Md5),
            |(a, _)| a,
        );
        let refusal = match (fresh, &chosen) {
            (None, _) => Some("unknown_nonce"),
            (Some(false), _) => Some("stale_nonce"),
            (_, Err(crate::digest::Unusable::Algorithm)) => Some("unsupported_algorithm"),
            (_, Err(crate::digest::Unusable::Qop)) => Some("unsupported_qop"),
            (_, Err(crate::digest::Unusable::Incomplete)) => Some("incomplete_digest"),
            _ if answer.realm != realm => Some("wrong_realm"),
            _ if answer.uri != req.target => Some("wrong_uri"),
            _ => None,
        };
        let verify = |user: &conpot_core::auth::User| match (refusal, chosen) {
            (Some(r), _) => Verdict::Refused(r),
            (None, Ok((alg, sess))) => {
                if answer.expected(alg, sess, user.password.as_bytes(), &req.method)
                    == answer.response.to_ascii_lowercase()
                {
                    Verdict::Match
                } else {
                    Verdict::Mismatch
                }
            }
            (None, Err(_)) => Verdict::Refused("unsupported_algorithm"),
        };
        // The proof and the nonce are hex: the event holds their bytes.
        let bytes = |s: &str| conpot_core::hex::decode(s).unwrap_or_else(|| s.as_bytes().to_vec());
        let (hash, nonce) = (bytes(&answer.response), bytes(&answer.nonce));
        let proof = Proof {
            method: alg.method(),
            hash_alg: alg.name(),
            hash: &hash,
            salt: answer.realm.as_bytes(),
            challenge: &nonce,
            verify: &verify,
        };
        let decision = self.device.auth.check(
            "http",
            answer.username.as_bytes(),
            Secret::Proof(&proof),
            self.peer,
            now,
        );
        let ok = decision.success();
        out.events.push(decision.event);
        match (ok, fresh) {
            (true, _) => self.site.answer(req, target, &self.device, now),
            (false, Some(false)) => challenge(true),
            (false, _) => challenge(false),
        }
    }

    fn respond(&self, answer: &Answer, version: Version, out: &mut Output) -> usize {
        if let Some(d) = answer.delay_ms {
            out.delay = out.delay.max(response_delay(d));
        }
        answer.response.write(
            &self.site.version,
            answer.head,
            version == Version::Http09,
            &mut out.bytes,
        )
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

fn headers_json(headers: &[(String, String)]) -> Json {
    Json::Array(
        headers
            .iter()
            .take(EVENT_HEADERS)
            .map(|(n, v)| json!([cut(n, 128), cut(v, EVENT_TEXT)]))
            .collect(),
    )
}

fn request_event(req: &Request, target: Option<&Target>, raw: &[u8], status: u16, size: usize) -> EventDraft {
    let body = String::from_utf8_lossy(req.body.get(..req.body.len().min(EVENT_BODY)).unwrap_or_default());
    let mut request = json!({
        "method": cut(&req.method, 64),
        "target": cut(&req.target, EVENT_TEXT),
        "version": req.version.as_str(),
        "headers": headers_json(&req.headers),
    });
    if let Some(r) = request.as_object_mut() {
        if !req.body.is_empty() {
            r.insert("body".into(), Json::from(body.as_ref()));
        }
        let form = req
            .header("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        if form {
            let pairs = target::form_pairs(&body, EVENT_FORM);
            r.insert(
                "form".into(),
                Json::Array(pairs.into_iter().map(|(k, v)| json!([k, v])).collect()),
            );
        }
    }
    let mut d = EventDraft::new("http.request")
        .with("method", cut(&req.method, 64))
        .with(
            "path",
            target.map_or(Json::Null, |t| Json::from(cut(&t.path, EVENT_TEXT))),
        )
        .with("status", status)
        .with("body_len", req.body.len())
        .with("response_size", size);
    if let Some(t) = target {
        if let Some(h) = &t.host {
            d = d.with("absolute_host", cut(h, 256));
        }
        if t.dot_dot {
            d = d.with("traversal", if t.escaped { "above_root" } else { "dot_dot" });
        }
    }
    d.body.request = Some(request);
    d.body.response = Some(json!({ "status": status, "size": size }));
    d.body.raw = Some(raw.to_vec());
    d
}

impl HttpSession {
    /// A POST of the login form: the fields checked against the device's accounts; a
    /// success opens a web session (its cookie set) and goes on to the start page, a
    /// failure back to the form.
    fn form_login(&self, login: &crate::login::LoginForm, req: &Request, now: SystemTime, out: &mut Output) -> Answer {
        let body = String::from_utf8_lossy(req.body.get(..req.body.len().min(EVENT_BODY)).unwrap_or_default());
        let fields = target::form_pairs(&body, EVENT_FORM);
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let (Some(user), Some(pass)) = (field(&login.user_field), field(&login.password_field)) else {
            return self.site.redirect(&login.path, Vec::new(), now);
        };
        let decision = self
            .device
            .auth
            .check("http", user.as_bytes(), Secret::Plain(pass.as_bytes()), self.peer, now);
        let ok = decision.success();
        out.events.push(decision.event);
        if !ok {
            return self.site.redirect(&login.path, Vec::new(), now);
        }
        let token = self.site.sessions.open(user);
        let cookie = format!("{}={token}; path=/; HttpOnly", login.cookie);
        self.site
            .redirect(&login.success, vec![("Set-Cookie".into(), cookie)], now)
    }
}

impl Session for HttpSession {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        match request::parse(input, &self.site.limits) {
            Parsed::Incomplete { expects_continue, .. } => {
                if expects_continue && !self.continued {
                    out.bytes.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    self.continued = true;
                }
                let started = self.pending.map_or(now, |(t, _)| t);
                if self.pending.is_none() {
                    out.set_deadline(started + Duration::from_secs(self.site.request_timeout_s));
                }
                self.pending = Some((started, input.len()));
                0
            }
            Parsed::Complete { request, used } => {
                // How long the request took to arrive (0 when it came in one read).
                let receive_ms = self
                    .pending
                    .take()
                    .map_or(0, |(t, _)| now.duration_since(t).unwrap_or_default().as_millis() as u64);
                self.continued = false;
                out.clear_deadline();
                let raw = input.get(..used).unwrap_or_default();
                let (answer, target) = match target::parse(&request.target) {
                    Ok(t) => (self.answer(&request, &t, now, out), Some(t)),
                    Err(e) => {
                        let mut a = self.site.error(400, &self.device, now);
                        if request.version == Version::Http11 {
                            a.response.headers.push(("Connection".into(), "close".into()));
                        }
                        let size = self.respond(&a, request.version, out);
                        let mut ev = request_event(&request, None, raw, 400, size);
                        ev.body.error = Some(e.describe().to_owned());
                        out.events.push(ev);
                        out.close = true;
                        return used;
                    }
                };
                let mut answer = answer;
                let close = answer.close || !request.keep_alive() || answer.response.no_length;
                if close && request.version == Version::Http11 {
                    answer.response.headers.push(("Connection".into(), "close".into()));
                } else if !close && request.version == Version::Http10 {
                    answer.response.headers.push(("Connection".into(), "keep-alive".into()));
                }
                let size = self.respond(&answer, request.version, out);
                let mut ev = request_event(&request, target.as_ref(), raw, answer.response.status, size);
                if let Some(p) = &answer.page {
                    ev = ev.with("page", p.clone());
                }
                ev = ev.with("receive_ms", receive_ms);
                out.events.push(ev);
                if close {
                    out.close = true;
                }
                used
            }
            Parsed::Error { error, version, method } => {
                self.pending = None;
                let mut answer = self.site.error(error.status(), &self.device, now);
                let version = version.unwrap_or(Version::Http11);
                if version == Version::Http11 {
                    answer.response.headers.push(("Connection".into(), "close".into()));
                }
                answer.head = method.as_deref() == Some("HEAD");
                let size = self.respond(&answer, version, out);
                out.events
                    .push(malformed(error, method.as_deref(), input, error.status(), size));
                out.close = true;
                input.len()
            }
        }
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        if let Some((started, len)) = self.pending.take() {
            let waited = now.duration_since(started).unwrap_or_default();
            out.events.push(
                EventDraft::new("http.timeout")
                    .with("reason", "request_incomplete")
                    .with("buffered", len)
                    .with("waited_ms", waited.as_millis() as u64),
            );
            out.close = true;
        }
    }

    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !rest.is_empty() {
            let mut d = EventDraft::new("http.malformed").with("reason", "truncated");
            d.body.error = Some("connection closed inside a request".into());
            d.body.raw = Some(rest.to_vec());
            out.events.push(d);
        }
    }
}

fn malformed(error: ParseError, method: Option<&str>, raw: &[u8], status: u16, size: usize) -> EventDraft {
    let mut d = EventDraft::new("http.malformed")
        .with("reason", error.describe())
        .with("method", method.map_or(Json::Null, |m| Json::from(cut(m, 64))))
        .with("status", status)
        .with("response_size", size);
    d.body.error = Some(error.describe().to_owned());
    d.body.raw = Some(raw.to_vec());
    d
}
