//! The TAXII 2.1 transport (Conpot's `[taxii]`, which posted STIX 1 to TAXII 1.1 and broke
//! on real events): the STIX objects of a batch's bundles (the `stix` encoder) are posted as
//! one envelope to a collection's objects endpoint. Objects keep the ids the encoder derives
//! from the event, so a batch sent again after a lost answer adds no new object version.
//! Envelopes respect the API root's `max_content_length` (read before the first post).
//! A refused post (4xx other than authentication, not found, timeout or rate limit) would
//! be refused again: it is logged and counted as delivered so it does not block the sink.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use crate::http::{self, Url};
use crate::record::Record;
use crate::spec::TaxiiSpec;

/// The media type of TAXII 2.1 requests and answers.
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// Largest envelope posted at once, whatever the server allows: a post of this size takes
/// a real server well under its timeout, and a lost answer sends no more than this again.
const MAX_ENVELOPE: usize = 4 << 20;

/// The smallest cap a 413 leaves: one STIX object of a typical event fits.
const MIN_ENVELOPE: usize = 4096;

/// What an envelope adds around its objects: `{"objects":[` and `]}`.
const ENVELOPE_OVERHEAD: usize = 14;

/// How long a post may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A poster to one collection.
pub struct Taxii {
    url: Url,
    auth: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    delivered: usize,
    /// The API root's information endpoint, where `max_content_length` is read.
    api_root: Option<Url>,
    /// The largest request body the server takes (TAXII 2.1 section 4.2.1
    /// `max_content_length`), bounded by [`MAX_ENVELOPE`]; read before the first post and
    /// again after a 413, as a server's limit may change.
    limit: Option<usize>,
    /// The most any envelope may hold: [`MAX_ENVELOPE`], halved below a refused envelope
    /// after each 413 (a server, or a proxy before it, that takes less than it says).
    cap: usize,
}

impl std::fmt::Debug for Taxii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taxii").field("url", &self.url).finish()
    }
}

/// The objects of a record's bundle, as JSON text each.
fn objects(r: &Record) -> Vec<String> {
    match serde_json::from_str::<Json>(&r.body) {
        Ok(Json::Object(mut b)) => match b.remove("objects") {
            Some(Json::Array(objs)) => objs.iter().map(Json::to_string).collect(),
            _ => Vec::new(),
        },
        _ => {
            tracing::warn!(event_id = %r.id, "record is not a STIX bundle; not posted to TAXII");
            Vec::new()
        }
    }
}

impl Taxii {
    /// A poster to `spec`'s collection (the TLS roots are read now, for an https URL).
    pub fn new(spec: &TaxiiSpec) -> io::Result<Taxii> {
        let url = Url::parse(&spec.url)?;
        let tls = if url.tls {
            Some(crate::tls::client_config(spec.ca_file.as_deref())?)
        } else {
            None
        };
        let auth = spec.username.as_ref().map(|u| {
            let pw = spec.password.as_deref().unwrap_or_default();
            format!("Basic {}", http::base64(format!("{u}:{pw}").as_bytes()))
        });
        let api_root = api_root_of(&url);
        Ok(Taxii {
            url,
            auth,
            tls,
            delivered: 0,
            api_root,
            limit: None,
            cap: MAX_ENVELOPE,
        })
    }

    fn headers(&self, content_type: bool) -> Vec<(&'static str, String)> {
        let mut headers = vec![("Accept", MEDIA_TYPE.to_owned())];
        if content_type {
            headers.push(("Content-Type", MEDIA_TYPE.to_owned()));
        }
        if let Some(a) = &self.auth {
            headers.push(("Authorization", a.clone()));
        }
        headers
    }

    /// The largest envelope to post: the API root's `max_content_length` (read once), at
    /// most [`MAX_ENVELOPE`] (or the lower cap a 413 left). An unreachable server is an error (the batch waits, as its
    /// post would fail too); an API root that does not say is taken to allow
    /// [`MAX_ENVELOPE`].
    fn limit(&mut self) -> io::Result<usize> {
        if let Some(l) = self.limit {
            return Ok(l);
        }
        let Some(root) = &self.api_root else {
            self.limit = Some(self.cap);
            return Ok(self.cap);
        };
        let r = http::get(root, self.tls.as_ref(), &self.headers(false), TIMEOUT)?;
        let l = match r.status {
            200..=299 => max_content_length(&r.body).map_or(self.cap, |m| m.min(self.cap)),
            401 | 403 | 408 | 429 | 500..=599 => {
                return Err(io::Error::other(format!(
                    "TAXII API root answered {}: {}",
                    r.status,
                    String::from_utf8_lossy(r.body.get(..200).unwrap_or(&r.body))
                )));
            }
            s => {
                tracing::warn!(status = s, "the TAXII API root did not give its max_content_length");
                self.cap
            }
        };
        self.limit = Some(l);
        Ok(l)
    }

    fn post(&mut self, objects: &[String]) -> io::Result<()> {
        let body = format!("{{\"objects\":[{}]}}", objects.join(","));
        let r = http::post(
            &self.url,
            self.tls.as_ref(),
            &self.headers(true),
            body.as_bytes(),
            TIMEOUT,
        )?;
        match r.status {
            200..=299 => {
                if let Ok(status) = serde_json::from_slice::<Json>(&r.body)
                    && let Some(n) = status.get("failure_count").and_then(Json::as_u64)
                    && n > 0
                {
                    tracing::warn!(
                        failures = n,
                        status = %String::from_utf8_lossy(&r.body),
                        "the TAXII server refused some objects"
                    );
                }
                Ok(())
            }
            413 => {
                // The server's limit is smaller than it said (or changed): read it again,
                // never above half this envelope, and send the batch again in smaller
                // envelopes (so a server that keeps refusing still sees progress).
                self.limit = None;
                self.cap = (body.len() / 2).max(MIN_ENVELOPE);
                Err(io::Error::other(format!(
                    "TAXII server refused a {} byte envelope as too large",
                    body.len()
                )))
            }
            401 | 403 | 404 | 408 | 429 | 500..=599 => Err(io::Error::other(format!(
                "TAXII server answered {}: {}",
                r.status,
                String::from_utf8_lossy(r.body.get(..200).unwrap_or(&r.body))
            ))),
            s => {
                tracing::error!(
                    status = s,
                    body = %String::from_utf8_lossy(r.body.get(..500).unwrap_or(&r.body)),
                    "the TAXII server refused a post; it is not sent again"
                );
                Ok(())
            }
        }
    }
}

/// The API root of a collection's objects URL (`<root>/collections/<id>/objects/`).
fn api_root_of(objects: &Url) -> Option<Url> {
    let (root, _) = objects.path.rsplit_once("/collections/")?;
    Some(Url {
        path: format!("{root}/"),
        ..objects.clone()
    })
}

/// `max_content_length` of an API root's information resource.
fn max_content_length(body: &[u8]) -> Option<usize> {
    let v: Json = serde_json::from_slice(body).ok()?;
    let n = v.get("max_content_length")?.as_u64()?;
    usize::try_from(n).ok().filter(|&n| n > ENVELOPE_OVERHEAD)
}

impl crate::Deliver for Taxii {
    /// Posts the batch's objects in envelopes of at most the server's limit (objects of
    /// one record may be split over two envelopes: TAXII takes each object on its own).
    /// An object that alone exceeds the limit could never be taken: it is logged and left
    /// out.
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        self.delivered = 0;
        let limit = self.limit()?;
        let mut pending: Vec<String> = Vec::new();
        let mut bytes = ENVELOPE_OVERHEAD;
        for (i, r) in batch.iter().enumerate() {
            for o in objects(r) {
                if o.len() + ENVELOPE_OVERHEAD > limit {
                    tracing::error!(
                        event_id = %r.id,
                        size = o.len(),
                        limit,
                        "a STIX object is larger than the TAXII server takes; it is not posted"
                    );
                    continue;
                }
                if !pending.is_empty() && bytes + o.len() + 1 > limit {
                    self.post(&pending)?;
                    // Every record before this one has all its objects posted.
                    self.delivered = i;
                    pending.clear();
                    bytes = ENVELOPE_OVERHEAD;
                }
                bytes += o.len() + 1;
                pending.push(o);
            }
        }
        if !pending.is_empty() {
            self.post(&pending)?;
        }
        self.delivered = batch.len();
        Ok(())
    }

    fn delivered_before_error(&self) -> usize {
        self.delivered
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use conpot_core::event::Event;

    #[test]
    fn the_api_root_is_the_path_before_collections() {
        let u = Url::parse("https://h:9/taxii2/api1/collections/abc/objects/").unwrap();
        let r = api_root_of(&u).unwrap();
        assert_eq!((r.path.as_str(), r.port, r.tls), ("/taxii2/api1/", 9, true));
        assert!(api_root_of(&Url::parse("http://h/objects/").unwrap()).is_none());
    }

    /// A TAXII server (one request per connection) whose API root says it takes 1 MiB but
    /// that refuses bodies over 20,000 bytes with 413, as a proxy before it might; the ids
    /// of the objects it took.
    fn lying_server() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api1/collections/c1/objects/", l.local_addr().unwrap());
        let took = Arc::new(std::sync::Mutex::new(Vec::new()));
        let t = Arc::clone(&took);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let mut conn = BufReader::new(conn.unwrap());
                let (mut first, mut len) = (String::new(), 0usize);
                conn.read_line(&mut first).unwrap();
                loop {
                    let mut h = String::new();
                    conn.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                conn.read_exact(&mut body).unwrap();
                let (status, answer) = if first.starts_with("GET") {
                    ("200 OK", r#"{"max_content_length":1048576}"#.to_owned())
                } else if len > 20_000 {
                    ("413 Payload Too Large", "{}".to_owned())
                } else {
                    let v: Json = serde_json::from_slice(&body).unwrap();
                    for o in v["objects"].as_array().unwrap() {
                        t.lock().unwrap().push(o["id"].as_str().unwrap().to_owned());
                    }
                    ("202 Accepted", r#"{"failure_count":0}"#.to_owned())
                };
                let mut s = conn.into_inner();
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        (url, took)
    }

    #[test]
    fn a_413_halves_the_envelope_until_the_server_takes_it() {
        use crate::Deliver;
        use conpot_core::event::{EventDraft, Origin, SessionInfo, Transport};
        let (url, took) = lying_server();
        let spec = TaxiiSpec {
            url,
            username: None,
            password: None,
            ca_file: None,
        };
        let mut t = Taxii::new(&spec).unwrap();
        let o = Origin {
            sensor_id: "s1".into(),
            persona: "p".into(),
            public_ip: None,
            raw_limit: 0,
        };
        let s = SessionInfo::new(
            "modbus".into(),
            Transport::Tcp,
            Some("198.51.100.4:40000".parse().unwrap()),
            Some("10.0.0.5:502".parse().unwrap()),
        );
        let batch: Vec<Record> = (0..100)
            .map(|n| {
                let e = Event::stamp(
                    &o,
                    &s,
                    EventDraft::new("modbus.request").with("n", n),
                    std::time::SystemTime::now(),
                );
                Record::body_only(crate::Encoder::Stix, &e).unwrap()
            })
            .collect();
        let wanted: std::collections::HashSet<String> = batch
            .iter()
            .flat_map(objects)
            .map(|o| serde_json::from_str::<Json>(&o).unwrap()["id"].to_string())
            .collect();
        let mut tries = 0;
        while t.deliver(&batch).is_err() {
            tries += 1;
            assert!(tries < 10, "the envelope never shrank enough");
        }
        assert!(tries >= 2, "{tries}: the first envelopes were over 20,000 bytes");
        assert!(t.cap <= 20_000, "{}", t.cap);
        let got: std::collections::HashSet<String> = took.lock().unwrap().iter().map(|i| format!("\"{i}\"")).collect();
        assert_eq!(got, wanted, "every object of the batch was taken");
    }

    #[test]
    fn max_content_length_is_read_from_the_api_root_information() {
        assert_eq!(
            max_content_length(br#"{"title":"x","max_content_length":9437184}"#),
            Some(9437184)
        );
        assert_eq!(max_content_length(br#"{"max_content_length":"big"}"#), None);
        assert_eq!(
            max_content_length(br#"{"max_content_length":3}"#),
            None,
            "too small to hold anything"
        );
        assert_eq!(max_content_length(b"not json"), None);
    }
}
