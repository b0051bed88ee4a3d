//! Serving the device's filesystem under a folder (`docroot`): what the web server of the
//! device would find on its flash, with the file's own modification time, read as an
//! unprivileged web user so the files' modes apply.

use std::time::SystemTime;

use conpot_core::vfs::{Kind, Principal, VPath, View};

use crate::config::MAX_FILE;
use crate::response::http_date;

/// Index files tried for a directory, in order.
const INDEX: &[&str] = &["index.html", "index.htm"];

/// The account the web server reads files as.
pub fn web_user() -> Principal {
    Principal::new("www-data", ["www-data"])
}

/// The media type of a file name, by extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" | "mwsl" => "text/html",
        "css" => "text/css",
        "js" => "application/javascript",
        "json" => "application/json",
        "xml" => "text/xml",
        "txt" | "log" | "csv" => "text/plain",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// A file found under the docroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its content.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub content_type: &'static str,
    /// Its modification time as an HTTP date.
    pub last_modified: String,
}

/// The file at `path` (decoded, normalised) under `view`, or a directory's index file.
/// `None` when nothing readable is there.
pub fn lookup(view: &View, path: &str, now: SystemTime) -> Option<Found> {
    let who = web_user();
    let vpath = VPath::new(path).ok()?;
    let stat = view.stat(&who, &vpath, now).ok()?;
    let (vpath, stat) = match stat.kind {
        Kind::File => (vpath, stat),
        Kind::Dir => INDEX.iter().find_map(|i| {
            let p = VPath::new(&format!("{}/{i}", path.trim_end_matches('/'))).ok()?;
            let s = view.stat(&who, &p, now).ok()?;
            (s.kind == Kind::File).then_some((p, s))
        })?,
    };
    if stat.size > MAX_FILE as u64 {
        return None;
    }
    let bytes = view.read(&who, &vpath, 0, MAX_FILE, now).ok()?;
    Some(Found {
        bytes,
        content_type: content_type(&stat.name),
        last_modified: http_date(stat.meta.mtime),
    })
}
