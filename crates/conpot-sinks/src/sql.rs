//! What the two database transports share: the schema (sessions, events, captured files)
//! and how a batch of records becomes rows. One row per event, keyed by the event id so a
//! record delivered twice is stored once; one row per session, its first and last event
//! time widened as events come; one row per captured file, keyed by its SHA-256.

use std::collections::BTreeMap;

use crate::record::Record;

/// A session's row, folded from every record of the batch that belongs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow<'a> {
    /// The first record seen for the session (its envelope fills the row).
    pub record: &'a Record,
    /// Earliest event time in the batch.
    pub first: &'a str,
    /// Latest event time in the batch.
    pub last: &'a str,
}

/// The sessions of `batch` (records with an attacker address), one row each.
pub fn sessions(batch: &[Record]) -> Vec<SessionRow<'_>> {
    let mut by_id: BTreeMap<&str, SessionRow<'_>> = BTreeMap::new();
    for r in batch.iter().filter(|r| r.src_ip.is_some()) {
        let row = by_id.entry(r.session.as_str()).or_insert(SessionRow {
            record: r,
            first: &r.time,
            last: &r.time,
        });
        // RFC 3339 UTC times of one width sort as text.
        if r.time.as_str() < row.first {
            row.first = &r.time;
        }
        if r.time.as_str() > row.last {
            row.last = &r.time;
        }
    }
    by_id.into_values().collect()
}

/// The JSON text `body` with every NUL escape (`\u0000`) replaced by U+FFFD: PostgreSQL's
/// `jsonb` refuses NUL, and a hostile request full of NULs must not stop the sink. A
/// `\\u0000` (an escaped backslash followed by the text `u0000`) is left as it is.
pub fn without_nul_escapes(body: &str) -> std::borrow::Cow<'_, str> {
    if !body.contains("\\u0000") {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find('\\') {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        if let Some(after) = tail.strip_prefix("\\u0000") {
            out.push_str("\\ufffd");
            rest = after;
        } else {
            // Copy the backslash and the character it escapes as they are.
            let mut chars = tail.chars();
            chars.next();
            out.push('\\');
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nul_escapes_go_and_escaped_backslashes_stay() {
        assert_eq!(without_nul_escapes(r#"{"a":"x\u0000y"}"#), r#"{"a":"x\ufffdy"}"#);
        assert_eq!(without_nul_escapes(r#"{"a":"\\u0000"}"#), r#"{"a":"\\u0000"}"#);
        assert_eq!(without_nul_escapes(r#"{"a":"\\\u0000"}"#), r#"{"a":"\\\ufffd"}"#);
    }

    proptest! {
        #[test]
        fn the_result_is_the_same_json_less_the_nuls(s in "[a-c\\\\\u{0}\"\u{e9}]{0,40}") {
            let body = serde_json::to_string(&serde_json::json!({ "s": s })).unwrap();
            let clean = without_nul_escapes(&body);
            let v: serde_json::Value = serde_json::from_str(&clean).unwrap();
            prop_assert_eq!(v["s"].as_str().unwrap(), s.replace('\u{0}', "\u{fffd}"));
        }
    }
}
