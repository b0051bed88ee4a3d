//! The TAXII 2.1 transport (Conpot's `[taxii]`, which posted STIX 1 to TAXII 1.1 and broke
//! on real events): the STIX objects of a batch's bundles (the `stix` encoder) are posted as
//! one envelope to a collection's objects endpoint. Objects keep the ids the encoder derives
//! from the event, so a batch sent again after a lost answer adds no new object version.
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

/// Largest envelope posted at once (servers bound request bodies; medallion's default is
/// about 9 MiB).
const MAX_ENVELOPE: usize = 4 << 20;

/// How long a post may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A poster to one collection.
pub struct Taxii {
    url: Url,
    auth: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    delivered: usize,
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
        Ok(Taxii {
            url,
            auth,
            tls,
            delivered: 0,
        })
    }

    fn post(&self, objects: &[String]) -> io::Result<()> {
        let body = format!("{{\"objects\":[{}]}}", objects.join(","));
        let mut headers = vec![
            ("Accept", MEDIA_TYPE.to_owned()),
            ("Content-Type", MEDIA_TYPE.to_owned()),
        ];
        if let Some(a) = &self.auth {
            headers.push(("Authorization", a.clone()));
        }
        let r = http::post(&self.url, self.tls.as_ref(), &headers, body.as_bytes(), TIMEOUT)?;
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

impl crate::Deliver for Taxii {
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        self.delivered = 0;
        let mut pending: Vec<String> = Vec::new();
        let mut bytes = 0;
        // Records whose objects are all in `pending`.
        let mut covered = 0;
        for (i, r) in batch.iter().enumerate() {
            let objs = objects(r);
            let size: usize = objs.iter().map(|o| o.len() + 1).sum();
            if !pending.is_empty() && bytes + size > MAX_ENVELOPE {
                self.post(&pending)?;
                self.delivered = covered;
                pending.clear();
                bytes = 0;
            }
            bytes += size;
            pending.extend(objs);
            covered = i + 1;
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
