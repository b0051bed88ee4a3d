//! The events of the tank gauge, built in one place so the emulated console and the
//! proxy's decoder of a relayed gauge log the same schema.

use conpot_core::event::{ConpotView, EventDraft};
use serde_json::{Value as Json, json};

use crate::command::{Command, Format, Kind, escape};
use crate::reply::{self, ReplyKind};

/// Event type of one command and its answer.
pub const COMMAND: &str = "guardian_ast.command";
/// Event type of bytes that are not a command (no `SOH` in front).
pub const IGNORED: &str = "guardian_ast.ignored";
/// Event type of a command the peer never finished before closing.
pub const PARTIAL: &str = "guardian_ast.partial";
/// Most bytes of an answer's text kept in an event (a whole-station report is ~2 kB).
pub const MAX_LOGGED_REPLY: usize = 8 * 1024;
/// Most bytes of ignored or partial input kept in an event.
pub const MAX_LOGGED_NOISE: usize = 256;

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Display => "display",
        Format::Computer => "computer",
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Inquiry => "inquiry",
        Kind::Set => "set",
        Kind::Other => "other",
    }
}

/// The answer as text for an event: printable, bounded.
pub fn reply_text(answer: &[u8]) -> String {
    let body = reply::parse(answer).body;
    let cut = body.get(..MAX_LOGGED_REPLY).unwrap_or(body);
    escape(cut)
}

/// The event of `command` (its bytes `raw`, line end included) answered with `answer`
/// (empty when nothing was sent). `report` names the report when the caller knows it.
pub fn command_event(raw: &[u8], command: &Command<'_>, answer: &[u8], report: Option<&str>) -> EventDraft {
    let code = command.code_text();
    let decoded = reply::parse(answer);
    let reply_kind = if answer.is_empty() { "none" } else { decoded.kind.name() };
    let mut d = EventDraft::new(COMMAND)
        .with("code", code.clone())
        .with("format", format_name(command.format))
        .with("kind", kind_name(command.kind))
        .with("function", command.function.map_or(Json::Null, Json::from))
        .with("tank", command.tank.map_or(Json::Null, Json::from))
        .with("reply", reply_kind);
    if let ReplyKind::Computer { checksum_ok } = decoded.kind {
        d = d.with("checksum_ok", checksum_ok);
    }
    if let Some(r) = report {
        d = d.with("report", r.to_owned());
    }
    let data = command.data_text();
    d.body.request = Some(if data.is_empty() {
        json!({ "code": code })
    } else {
        json!({ "code": code, "data": data })
    });
    let text = (!answer.is_empty()).then(|| reply_text(answer));
    d.body.response = Some(text.clone().map_or(Json::Null, Json::String));
    // The answer is printable ASCII: its escaped text is the whole of it, so it is not
    // logged a second time as hex (a report is 1-3 kB; an event per command).
    d.body.raw = Some(raw.to_vec());
    if conpot_core::event::conpot_view_wanted() {
        d.body.conpot = Some(ConpotView {
            event_type: Some(format!("AST {code}")),
            request: Json::String(escape(raw)),
            response: text.map_or(Json::Null, Json::String),
        });
    }
    d
}

/// The event of `len` bytes outside any command, `head` their start.
pub fn ignored_event(head: &[u8], len: usize) -> EventDraft {
    let mut d = EventDraft::new(IGNORED).with("bytes", len);
    d.body.raw = Some(head.get(..MAX_LOGGED_NOISE).unwrap_or(head).to_vec());
    d
}

/// The event of a command cut off by the peer's close.
pub fn partial_event(rest: &[u8]) -> EventDraft {
    let mut d = EventDraft::new(PARTIAL).with("bytes", rest.len());
    d.body.raw = Some(rest.get(..MAX_LOGGED_NOISE).unwrap_or(rest).to_vec());
    d
}

/// The event of a command longer than [`crate::command::MAX_COMMAND`], cut.
pub fn too_long_event(head: &[u8]) -> EventDraft {
    let mut d = EventDraft::new("limit.hit")
        .with("limit", "guardian_command_length")
        .with("value", crate::command::MAX_COMMAND);
    d.body.raw = Some(head.get(..MAX_LOGGED_NOISE).unwrap_or(head).to_vec());
    d
}
