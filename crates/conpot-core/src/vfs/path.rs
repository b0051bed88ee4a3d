//! Safe resolution of the paths attackers type into paths inside the virtual root.
//!
//! Every path a protocol hands to the filesystem goes through [`resolve`] first. The
//! result is a [`VPath`]: absolute, normalised (no `.`, `..` or empty components), with
//! every name and the whole path within bounds. Nothing here touches the host: a
//! [`VPath`] only ever names a node of the in-memory tree.
//!
//! `..` at the root stays at the root, as the kernel does for a chrooted FTP or TFTP
//! server (vsftpd, ProFTPD `DefaultRoot`, pure-ftpd): `CWD ../../..` lands in `/` and
//! `RETR ../../etc/passwd` looks for `/etc/passwd` inside the device. The attempt is
//! not lost: the path remembers it ([`VPath::escaped_root`]) and [`resolve_logged`]
//! records it as an `fs.escape` event. Input that no real path can contain (a NUL byte,
//! a control character, a backslash, an over-long name, path or depth) is refused with
//! a [`PathError`] and an `fs.refused` event.
//!
//! Decoding is the protocol's job: a percent sign or a `+` is an ordinary character
//! here, so an HTTP server decodes its URL before it resolves the path, and a name that
//! still holds `%2e%2e` after that is a file named `%2e%2e`.

use crate::event::EventDraft;

/// Longest name of one file or directory, in bytes (`NAME_MAX` of Linux file systems).
pub const MAX_NAME: usize = 255;
/// Longest path, in bytes, both as typed and once resolved.
pub const MAX_PATH: usize = 1024;
/// Most components in a path (directories nested below the root, plus the name).
pub const MAX_DEPTH: usize = 32;
/// Most characters of an attacker's input kept in an event (the rest is counted).
const EVENT_INPUT_CHARS: usize = 256;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The input holds a NUL byte (C string truncation tricks).
    Nul,
    /// The input holds a backslash (Windows-style `..\..\` traversal).
    Backslash,
    /// The input holds another control character (CR/LF would forge listing lines).
    Control,
    /// One name is longer than [`MAX_NAME`] bytes.
    NameTooLong,
    /// The input or the resolved path is longer than [`MAX_PATH`] bytes.
    TooLong,
    /// The resolved path has more than [`MAX_DEPTH`] components.
    TooDeep,
}

impl PathError {
    /// A stable name for events and tests (`nul_byte`, `backslash`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            PathError::Nul => "nul_byte",
            PathError::Backslash => "backslash",
            PathError::Control => "control_character",
            PathError::NameTooLong => "name_too_long",
            PathError::TooLong => "path_too_long",
            PathError::TooDeep => "too_deep",
        }
    }
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::Nul => "path holds a NUL byte",
            PathError::Backslash => "path holds a backslash",
            PathError::Control => "path holds a control character",
            PathError::NameTooLong => "file name too long",
            PathError::TooLong => "path too long",
            PathError::TooDeep => "path too deep",
        })
    }
}

impl std::error::Error for PathError {}

/// An absolute, normalised path inside the virtual root (`/`, `/data/ftp/x.txt`).
///
/// Only [`resolve`] and the methods here make one, so a `VPath` always keeps the
/// bounds. Equality ignores [`VPath::escaped_root`].
#[derive(Debug, Clone)]
pub struct VPath {
    /// `/` or `/a/b`: no trailing slash, no empty, `.` or `..` component.
    text: String,
    /// Whether a `..` tried to climb above the root while resolving.
    escaped: bool,
}

impl PartialEq for VPath {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for VPath {}

impl PartialOrd for VPath {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VPath {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl std::hash::Hash for VPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl std::fmt::Display for VPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Default for VPath {
    fn default() -> Self {
        VPath::root()
    }
}

impl VPath {
    /// The root, `/`.
    pub fn root() -> VPath {
        VPath {
            text: "/".to_owned(),
            escaped: false,
        }
    }

    /// `text` resolved from the root (a relative text is read as starting at `/`).
    pub fn new(text: &str) -> Result<VPath, PathError> {
        resolve(&VPath::root(), text)
    }

    /// The path as text, always starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.text.len() == 1
    }

    /// The names from the root down (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.text.split('/').filter(|c| !c.is_empty())
    }

    /// How many components the path has (0 for the root).
    pub fn depth(&self) -> usize {
        self.components().count()
    }

    /// The last name (`None` for the root).
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// The directory holding this path (`None` for the root).
    pub fn parent(&self) -> Option<VPath> {
        if self.is_root() {
            return None;
        }
        let cut = self.text.rfind('/').unwrap_or(0);
        let text = if cut == 0 {
            "/".to_owned()
        } else {
            self.text.get(..cut).unwrap_or("/").to_owned()
        };
        Some(VPath { text, escaped: false })
    }

    /// Whether a `..` in the input tried to climb above the root (and was dropped there,
    /// as a chroot drops it). Protocols record it: [`resolve_logged`] does.
    pub fn escaped_root(&self) -> bool {
        self.escaped
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &VPath) -> bool {
        other.is_root()
            || (self.text.starts_with(&other.text)
                && matches!(self.text.as_bytes().get(other.text.len()), None | Some(b'/')))
    }

    /// `rel` (a path inside a jail) placed below `self` (the jail's root), keeping the
    /// bounds: the jail's own depth and length count.
    pub fn join(&self, rel: &VPath) -> Result<VPath, PathError> {
        if rel.is_root() {
            return Ok(VPath {
                text: self.text.clone(),
                escaped: rel.escaped,
            });
        }
        if self.is_root() {
            return Ok(rel.clone());
        }
        if self.text.len() + rel.text.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        if self.depth() + rel.depth() > MAX_DEPTH {
            return Err(PathError::TooDeep);
        }
        Ok(VPath {
            text: format!("{}{}", self.text, rel.text),
            escaped: rel.escaped,
        })
    }

    /// `self` seen from inside the jail rooted at `root` (`None` when it lies outside).
    pub fn strip_prefix(&self, root: &VPath) -> Option<VPath> {
        if !self.starts_with(root) {
            return None;
        }
        if root.is_root() {
            return Some(self.clone());
        }
        let rest = self.text.get(root.text.len()..).unwrap_or_default();
        Some(VPath {
            text: if rest.is_empty() {
                "/".to_owned()
            } else {
                rest.to_owned()
            },
            escaped: false,
        })
    }
}

/// Refuses NUL, backslash and control characters (C0, DEL and C1).
fn check_chars(text: &str) -> Result<(), PathError> {
    for c in text.chars() {
        match c {
            '\0' => return Err(PathError::Nul),
            '\\' => return Err(PathError::Backslash),
            c if c.is_control() => return Err(PathError::Control),
            _ => {}
        }
    }
    Ok(())
}

/// Resolves `input` (as typed by an attacker) against the working directory `cwd`.
///
/// An input starting with `/` starts at the root, anything else at `cwd`; empty, `.` and
/// repeated-slash components are dropped; `..` goes up one level and stays at the root
/// when already there (see [`VPath::escaped_root`]). The input is checked as a whole
/// before any work, so a huge input costs one length comparison.
pub fn resolve(cwd: &VPath, input: &str) -> Result<VPath, PathError> {
    if input.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    check_chars(input)?;
    let mut parts: Vec<&str> = if input.starts_with('/') {
        Vec::new()
    } else {
        cwd.components().collect()
    };
    let mut escaped = false;
    for comp in input.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    escaped = true;
                }
            }
            name => {
                if name.len() > MAX_NAME {
                    return Err(PathError::NameTooLong);
                }
                if parts.len() >= MAX_DEPTH {
                    return Err(PathError::TooDeep);
                }
                parts.push(name);
            }
        }
    }
    let len: usize = parts.iter().map(|p| p.len() + 1).sum();
    if len > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let mut text = String::with_capacity(len.max(1));
    for p in &parts {
        text.push('/');
        text.push_str(p);
    }
    if text.is_empty() {
        text.push('/');
    }
    Ok(VPath { text, escaped })
}

/// [`resolve`], recording what an analyst wants to see: a refused input as an
/// `fs.refused` event, an input that climbed above the root as an `fs.escape` event
/// (the path is still served, from the root, as a chroot would).
pub fn resolve_logged(
    cwd: &VPath,
    input: &str,
    events: &mut Vec<crate::event::EventDraft>,
) -> Result<VPath, PathError> {
    match resolve(cwd, input) {
        Ok(p) => {
            if p.escaped_root() {
                events.push(escape_event(input, &p));
            }
            Ok(p)
        }
        Err(e) => {
            events.push(refused_event(input, &e));
            Err(e)
        }
    }
}

/// The `fs.refused` event for `protocol_input` refused with `err`: the input escaped
/// (control characters and backslashes written as `\0`, `\\`, `\u{1b}`; at most 256
/// characters kept, the full length beside it) and the reason as a stable string.
pub fn refused_event(protocol_input: &str, err: &PathError) -> EventDraft {
    let (text, truncated) = escape_input(protocol_input);
    EventDraft::new("fs.refused")
        .with("path", text)
        .with("path_len", protocol_input.len() as u64)
        .with("path_truncated", truncated)
        .with("reason", err.as_str())
}

/// The `fs.escape` event for `protocol_input`, which tried to climb above the root and
/// was resolved to `resolved` instead.
pub fn escape_event(protocol_input: &str, resolved: &VPath) -> EventDraft {
    let (text, truncated) = escape_input(protocol_input);
    EventDraft::new("fs.escape")
        .with("path", text)
        .with("path_len", protocol_input.len() as u64)
        .with("path_truncated", truncated)
        .with("reason", "above_root")
        .with("resolved", resolved.as_str())
}

/// At most [`EVENT_INPUT_CHARS`] characters of `input`, with backslashes and control
/// characters escaped so the text log shows them instead of acting on them.
fn escape_input(input: &str) -> (String, bool) {
    let mut out = String::with_capacity(input.len().min(EVENT_INPUT_CHARS * 2));
    let mut truncated = false;
    for (i, c) in input.chars().enumerate() {
        if i >= EVENT_INPUT_CHARS {
            truncated = true;
            break;
        }
        match c {
            '\0' => out.push_str("\\0"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    (out, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cwd: &str, input: &str) -> Result<String, PathError> {
        resolve(&VPath::new(cwd).unwrap(), input).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn normalises_inside_the_root() {
        assert_eq!(r("/", "").unwrap(), "/");
        assert_eq!(r("/a/b", "").unwrap(), "/a/b");
        assert_eq!(r("/a/b", "c").unwrap(), "/a/b/c");
        assert_eq!(r("/a/b", "/c").unwrap(), "/c");
        assert_eq!(r("/a/b", "../c/./d//").unwrap(), "/a/c/d");
        assert_eq!(r("/", "testing/testing/../demo").unwrap(), "/testing/demo");
        assert_eq!(r("/a", "%2e%2e/x").unwrap(), "/a/%2e%2e/x");
    }

    #[test]
    fn dotdot_at_the_root_stays_there_and_is_remembered() {
        let p = resolve(&VPath::root(), "../../etc/passwd").unwrap();
        assert_eq!(p.as_str(), "/etc/passwd");
        assert!(p.escaped_root());
        let p = resolve(&VPath::new("/a").unwrap(), "a/../../b").unwrap();
        assert_eq!(p.as_str(), "/b");
        assert!(!p.escaped_root());
        let p = resolve(&VPath::root(), "a/../../b").unwrap();
        assert_eq!(p.as_str(), "/b");
        assert!(p.escaped_root());
        let p = resolve(&VPath::new("/a").unwrap(), "../../b").unwrap();
        assert_eq!(p.as_str(), "/b");
        assert!(p.escaped_root());
        assert_eq!(r("/", "/..").unwrap(), "/");
    }

    #[test]
    fn refuses_what_no_path_holds() {
        assert_eq!(r("/", "a\0b"), Err(PathError::Nul));
        assert_eq!(r("/", "\\..\\..\\x"), Err(PathError::Backslash));
        assert_eq!(r("/", "a\r\n227 x"), Err(PathError::Control));
        assert_eq!(r("/", "a\u{85}"), Err(PathError::Control));
        assert_eq!(r("/", &"n".repeat(256)), Err(PathError::NameTooLong));
        assert!(r("/", &"n".repeat(255)).is_ok());
        assert_eq!(r("/", &"a/".repeat(33)), Err(PathError::TooDeep));
        assert!(r("/", &"a/".repeat(32)).is_ok());
        assert_eq!(r("/", &"x".repeat(1025)), Err(PathError::TooLong));
        let deep_cwd = VPath::new(&format!("/{}", vec!["n".repeat(200); 5].join("/"))).unwrap();
        assert_eq!(
            resolve(&deep_cwd, &"m".repeat(200)).map(|_| ()),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn parent_join_strip() {
        let p = VPath::new("/data/ftp/x.txt").unwrap();
        assert_eq!(p.parent().unwrap().as_str(), "/data/ftp");
        assert_eq!(VPath::new("/x").unwrap().parent().unwrap(), VPath::root());
        assert_eq!(VPath::root().parent(), None);
        assert_eq!(p.file_name(), Some("x.txt"));
        let root = VPath::new("/data/ftp").unwrap();
        let rel = p.strip_prefix(&root).unwrap();
        assert_eq!(rel.as_str(), "/x.txt");
        assert_eq!(root.join(&rel).unwrap(), p);
        assert_eq!(root.strip_prefix(&root).unwrap(), VPath::root());
        assert!(VPath::new("/data/ftpx").unwrap().strip_prefix(&root).is_none());
        assert!(!VPath::new("/data/ftpx").unwrap().starts_with(&root));
    }

    #[test]
    fn events_escape_the_input() {
        let e = refused_event("a\0\\b\x1b", &PathError::Nul);
        assert_eq!(e.event_type, "fs.refused");
        assert_eq!(e.body.data["path"], "a\\0\\\\b\\u{1b}");
        assert_eq!(e.body.data["reason"], "nul_byte");
        let long = "é".repeat(300);
        let e = refused_event(&long, &PathError::TooLong);
        assert_eq!(e.body.data["path"].as_str().unwrap().chars().count(), 256);
        assert_eq!(e.body.data["path_truncated"], true);
        assert_eq!(e.body.data["path_len"], 600);
        let mut events = Vec::new();
        let p = resolve_logged(&VPath::root(), "../../etc/passwd", &mut events).unwrap();
        assert_eq!(p.as_str(), "/etc/passwd");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "fs.escape");
        assert!(resolve_logged(&VPath::root(), "ok/file", &mut events).is_ok());
        assert_eq!(events.len(), 1);
    }
}
