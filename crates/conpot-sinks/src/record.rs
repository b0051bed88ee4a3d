//! A record: one event as a sink delivers it, the encoded body plus the few envelope
//! fields transports index or frame with (database columns, syslog header). Records are
//! what the runner batches, retries and spools to disk, so a spooled event is delivered
//! later exactly as it would have been at once.

use conpot_core::event::Event;
use conpot_core::time::Iso8601;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::encode::Encoder;

/// A captured file an event points at (`file.upload`), for the databases' files table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// SHA-256 of the content, hex: the file's name in the capture store.
    pub sha256: String,
    /// The name the attacker gave it.
    pub name: Option<String>,
    /// Bytes kept.
    pub size: Option<u64>,
    /// What the store did with it (`stored`, `duplicate`, `quota_exceeded`).
    pub status: Option<String>,
}

/// One encoded event with its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The event id (UUIDv7): the idempotency key of every transport.
    pub id: String,
    /// Event time, RFC 3339 UTC with microseconds.
    pub time: String,
    /// Event time, microseconds since the Unix epoch.
    pub time_us: i64,
    /// Sensor id.
    pub sensor: String,
    /// Session id.
    pub session: String,
    /// Protocol.
    pub protocol: String,
    /// Transport of the session (`tcp`, `udp`, `none`).
    pub transport: String,
    /// Dotted event type.
    pub event_type: String,
    /// Attacker's address.
    pub src_ip: Option<String>,
    /// Attacker's port.
    pub src_port: Option<u16>,
    /// Our address.
    pub dst_ip: Option<String>,
    /// Our port.
    pub dst_port: Option<u16>,
    /// The captured file, for `file.upload` events.
    pub file: Option<FileRef>,
    /// The event in the sink's encoding (JSON text, or a text line).
    pub body: String,
}

impl Record {
    /// Encodes `event` with `encoder`, without the envelope fields: for the transports
    /// that write only the body (a file, the text log), which saves a dozen small
    /// allocations per event.
    pub fn body_only(encoder: Encoder, event: &Event) -> serde_json::Result<Record> {
        let mut body = Vec::with_capacity(512);
        encoder.encode(event, &mut body)?;
        Ok(Record::from_body(body))
    }

    /// A record of an already encoded body, without the envelope fields (see
    /// [`Record::body_only`]; the bus's prepared queues hand these over).
    pub fn from_body(body: Vec<u8>) -> Record {
        Record {
            id: String::new(),
            time: String::new(),
            time_us: 0,
            sensor: String::new(),
            session: String::new(),
            protocol: String::new(),
            transport: String::new(),
            event_type: String::new(),
            src_ip: None,
            src_port: None,
            dst_ip: None,
            dst_port: None,
            file: None,
            body: String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }

    /// Encodes `event` with `encoder`.
    pub fn new(encoder: Encoder, event: &Event) -> serde_json::Result<Record> {
        let mut body = Vec::with_capacity(512);
        encoder.encode(event, &mut body)?;
        let time_us = event
            .timestamp
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let file = (event.event_type == "file.upload")
            .then(|| {
                let sha = event.data.get("sha256").and_then(Json::as_str)?;
                Some(FileRef {
                    sha256: sha.to_owned(),
                    name: event.data.get("name").and_then(Json::as_str).map(str::to_owned),
                    size: event.data.get("size").and_then(Json::as_u64),
                    status: event.data.get("status").and_then(Json::as_str).map(str::to_owned),
                })
            })
            .flatten();
        Ok(Record {
            id: event.event_id.hyphenated().to_string(),
            time: Iso8601 {
                time: event.timestamp,
                zone: true,
            }
            .to_string(),
            time_us,
            sensor: event.sensor_id.to_string(),
            session: event.session_id.hyphenated().to_string(),
            protocol: event.protocol.to_string(),
            transport: event.transport.as_str().to_owned(),
            event_type: event.event_type.to_string(),
            src_ip: event.src.map(|a| a.ip().to_string()),
            src_port: event.src.map(|a| a.port()),
            dst_ip: event.dst.map(|a| a.ip().to_string()),
            dst_port: event.dst.map(|a| a.port()),
            file,
            // Every encoder writes UTF-8 (JSON, or text built from a String).
            body: String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        })
    }
}
