//! The template side of the device's filesystem: the native `[filesystem]` table, and
//! the import of Conpot's `<ftp_vfs>` (ftp/ftp.xml) and `<tftp_root_path>` (tftp/tftp.xml).
//! See docs/templates.md.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::native::check_refs;
use super::nav::{Errors, Table};
use super::{FileSource, ProtocolSection, SectionBody};
use crate::vfs::{ContentSpec, EntryKind, EntrySpec, FilesystemSpec, MAX_TEMPLATE_ENTRIES, VPath};

/// Largest template file served from the filesystem.
const MAX_SOURCE: usize = 16 << 20;
/// Most bytes of template files in all.
const MAX_SOURCES_TOTAL: usize = 64 << 20;
/// Latest time a template may give (9999-12-31T23:59:59Z).
const MAX_EPOCH: f64 = 253_402_300_799.0;

/// Reads `[filesystem]` and its `[[filesystem.entries]]`.
pub(super) fn from_toml(
    file: &str,
    top: &Table<'_>,
    source: &FileSource,
    persona_fields: &[String],
    databus_keys: &[&str],
    errs: &mut Errors,
) -> FilesystemSpec {
    let mut spec = FilesystemSpec::default();
    let Some(t) = top.table("filesystem", false, errs) else {
        return spec;
    };
    let fs = Table::new(file, "filesystem", t);
    fs.deny_unknown(&["owner", "group", "file_mode", "dir_mode", "date", "entries"], errs);
    if let Some(o) = name(&fs, "owner", errs) {
        spec.owner = o;
    }
    if let Some(g) = name(&fs, "group", errs) {
        spec.group = g;
    }
    if let Some(m) = mode(&fs, "file_mode", errs) {
        spec.file_mode = m;
    }
    if let Some(m) = mode(&fs, "dir_mode", errs) {
        spec.dir_mode = m;
    }
    spec.date = time(&fs, "date", errs);
    let tables = fs.tables("entries", false, errs);
    if tables.len() > MAX_TEMPLATE_ENTRIES {
        errs.push(
            file,
            "filesystem.entries",
            format!("at most {MAX_TEMPLATE_ENTRIES} entries, found {}", tables.len()),
        );
        return spec;
    }
    let mut total = 0usize;
    let mut seen: HashMap<VPath, String> = HashMap::new();
    for (key, t) in tables {
        let e = Table::new(file, &key, t);
        e.deny_unknown(
            &[
                "path",
                "kind",
                "content",
                "source",
                "render",
                "databus",
                "owner",
                "group",
                "mode",
                "mtime",
                "atime",
                "recursive",
            ],
            errs,
        );
        let Some(path) = e
            .str("path", true, errs)
            .and_then(|p| entry_path(file, &e.key("path"), p, errs))
        else {
            continue;
        };
        if let Some(first) = seen.get(&path) {
            errs.push(
                file,
                &e.key("path"),
                format!("a path declared once (`{path}` is also {first})"),
            );
            continue;
        }
        seen.insert(path.clone(), key.clone());
        let has = |k: &str| t.contains_key(k);
        let given: Vec<&str> = ["content", "source", "databus"]
            .into_iter()
            .filter(|k| has(k))
            .collect();
        let kind = match e.str("kind", false, errs) {
            Some("dir") => "dir",
            Some("file") => "file",
            Some(other) => {
                errs.push(file, &e.key("kind"), format!("\"file\" or \"dir\", found \"{other}\""));
                continue;
            }
            None if given.is_empty() => "dir",
            None => "file",
        };
        let kind = if kind == "dir" {
            for k in given.iter().chain(has("render").then_some(&"render")) {
                errs.push(file, &e.key(k), "no content on a directory");
            }
            EntryKind::Dir
        } else {
            if has("recursive") {
                errs.push(file, &e.key("recursive"), "`recursive` on a directory only");
            }
            if given.len() > 1 {
                errs.push(
                    file,
                    &key,
                    format!("one of content, source, databus (found {})", given.join(", ")),
                );
                continue;
            }
            let render = e.bool("render", errs).unwrap_or(false);
            if render && !has("source") {
                errs.push(
                    file,
                    &e.key("render"),
                    "`render` with `source` only (content is always rendered)",
                );
            }
            let content = if let Some(text) = e.str("content", false, errs) {
                check_refs(file, &e.key("content"), text, persona_fields, errs);
                ContentSpec::Text(text.to_owned())
            } else if let Some(rel) = e.str("source", false, errs) {
                let Some(c) = source_content(
                    file,
                    &e.key("source"),
                    rel,
                    render,
                    source,
                    persona_fields,
                    &mut total,
                    errs,
                ) else {
                    continue;
                };
                c
            } else if let Some(k) = e.str("databus", false, errs) {
                if !databus_keys.contains(&k) {
                    errs.push(file, &e.key("databus"), format!("a key of [databus], found \"{k}\""));
                }
                ContentSpec::Databus(k.to_owned())
            } else {
                ContentSpec::Text(String::new())
            };
            EntryKind::File(content)
        };
        spec.entries.push(EntrySpec {
            file: file.to_owned(),
            key: key.clone(),
            path,
            kind,
            owner: name(&e, "owner", errs),
            group: name(&e, "group", errs),
            mode: mode(&e, "mode", errs),
            mtime: time(&e, "mtime", errs),
            atime: time(&e, "atime", errs),
            recursive: e.bool("recursive", errs).unwrap_or(false),
        });
    }
    check_files_are_leaves(&spec, errs);
    spec
}

/// A declared path: absolute, inside the root, without `..`.
fn entry_path(file: &str, key: &str, text: &str, errs: &mut Errors) -> Option<VPath> {
    if !text.starts_with('/') {
        errs.push(
            file,
            key,
            format!("an absolute path (starting with `/`), found \"{text}\""),
        );
        return None;
    }
    if text.split('/').any(|c| c == "..") {
        errs.push(file, key, format!("a path without `..`, found \"{text}\""));
        return None;
    }
    match VPath::new(text) {
        Ok(p) => Some(p),
        Err(e) => {
            errs.push(file, key, format!("a valid path ({e})"));
            None
        }
    }
}

/// The content of a template-relative file, checked and counted.
#[allow(clippy::too_many_arguments)]
fn source_content(
    file: &str,
    key: &str,
    rel: &str,
    render: bool,
    source: &FileSource,
    persona_fields: &[String],
    total: &mut usize,
    errs: &mut Errors,
) -> Option<ContentSpec> {
    if rel.starts_with('/') || rel.split(['/', '\\']).any(|c| c == "..") || rel.contains('\0') {
        errs.push(file, key, format!("a path inside the template folder, found \"{rel}\""));
        return None;
    }
    let Some(bytes) = source.read(rel) else {
        errs.push(
            file,
            key,
            format!("a file in the template folder ({} is missing)", source.label(rel)),
        );
        return None;
    };
    if bytes.len() > MAX_SOURCE {
        errs.push(
            file,
            key,
            format!("a file of at most {MAX_SOURCE} bytes, found {}", bytes.len()),
        );
        return None;
    }
    *total += bytes.len();
    if *total > MAX_SOURCES_TOTAL {
        errs.push(file, key, format!("at most {MAX_SOURCES_TOTAL} bytes of files in all"));
        return None;
    }
    if !render {
        return Some(ContentSpec::Bytes(Arc::new(bytes)));
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            check_refs(file, key, &text, persona_fields, errs);
            Some(ContentSpec::Text(text))
        }
        Err(_) => {
            errs.push(file, key, "UTF-8 text (with `render = true`)");
            None
        }
    }
}

/// A user or group name: 1 to 32 characters, no space, colon or control character (so
/// listings keep their columns).
fn name(t: &Table<'_>, key: &str, errs: &mut Errors) -> Option<String> {
    let s = t.str(key, false, errs)?;
    if s.is_empty() || s.chars().count() > 32 || s.chars().any(|c| c.is_whitespace() || c.is_control() || c == ':') {
        errs.push(
            t.file,
            &t.key(key),
            format!("a user or group name (1-32 characters, no space or colon), found \"{s}\""),
        );
        return None;
    }
    Some(s.to_owned())
}

/// Permission bits: an integer (`0o644`) or a string of octal digits (`"0644"`, `"0o644"`).
fn mode(t: &Table<'_>, key: &str, errs: &mut Errors) -> Option<u32> {
    let v = t.get(key)?;
    let m = match v {
        toml::Value::Integer(i) => u32::try_from(*i).ok(),
        toml::Value::String(s) => parse_octal(s),
        _ => None,
    };
    match m {
        Some(m) if m <= 0o7777 => Some(m),
        _ => {
            errs.push(
                t.file,
                &t.key(key),
                "permission bits from 0 to 0o7777 (0o644 or \"0644\")",
            );
            None
        }
    }
}

/// `0644`, `644`, `0o644` as a number.
fn parse_octal(s: &str) -> Option<u32> {
    let s = s.trim();
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    u32::from_str_radix(digits, 8).ok()
}

/// A time: an RFC 3339 string or TOML date-time, or seconds since 1970 (integer or
/// fractional).
fn time(t: &Table<'_>, key: &str, errs: &mut Errors) -> Option<SystemTime> {
    let v = t.get(key)?;
    let parsed = match v {
        toml::Value::String(s) => crate::time::parse_rfc3339(s),
        toml::Value::Datetime(d) => crate::time::parse_rfc3339(&d.to_string()),
        toml::Value::Integer(i) => epoch(*i as f64),
        toml::Value::Float(f) => epoch(*f),
        _ => None,
    };
    if parsed.is_none() {
        errs.push(
            t.file,
            &t.key(key),
            "a time: RFC 3339 (\"2019-03-14T09:12:00Z\") or seconds since 1970, up to year 9999",
        );
    }
    parsed
}

/// Seconds since 1970 as a time, if from 1970 to 9999.
fn epoch(secs: f64) -> Option<SystemTime> {
    (secs.is_finite() && (0.0..=MAX_EPOCH).contains(&secs)).then(|| UNIX_EPOCH + Duration::from_secs_f64(secs))
}

/// A file cannot hold other entries.
fn check_files_are_leaves(spec: &FilesystemSpec, errs: &mut Errors) {
    let files: HashMap<&VPath, &EntrySpec> = spec
        .entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File(_)))
        .map(|e| (&e.path, e))
        .collect();
    if files.is_empty() {
        return;
    }
    for e in &spec.entries {
        let mut p = e.path.parent();
        while let Some(dir) = p {
            if let Some(f) = files.get(&dir) {
                errs.push(
                    &e.file,
                    &e.key,
                    format!("a path inside a directory (`{dir}` is a file, {})", f.key),
                );
                break;
            }
            p = dir.parent();
        }
    }
}

/// The filesystem of an imported Conpot template: FTP's jail (`<ftp_vfs><path>`, owned by
/// `default_owner` and the FTP users' group with `default_perms`, then its `<file>` and
/// `<dir>` entries) and TFTP's (`<tftp_root_path>`, owned by root, 0o755). Conpot's uids
/// are named by the template's `ftp_users` (plus Conpot's built-in 0 root, 13 nobody,
/// 22 anonymous); an unknown uid shows as its number, as `ls` shows it.
pub(super) fn from_conpot(
    protocols: &BTreeMap<String, ProtocolSection>,
    errs: &mut Errors,
    warnings: &mut Vec<String>,
) -> FilesystemSpec {
    let mut spec = FilesystemSpec::default();
    let mut index: HashMap<VPath, usize> = HashMap::new();
    let xml = |name: &str| match protocols.get(name).map(|s| (&s.file, &s.body)) {
        Some((file, SectionBody::ConpotXml(text))) => Some((file.clone(), text.clone())),
        _ => None,
    };
    if let Some((file, text)) = xml("ftp")
        && let Ok(doc) = roxmltree::Document::parse(&text)
    {
        ftp(&file, &doc, &mut spec, &mut index, errs, warnings);
    }
    if let Some((file, text)) = xml("tftp")
        && let Ok(doc) = roxmltree::Document::parse(&text)
    {
        let root = doc.root_element();
        if let Some(p) = child_text(root, "tftp_root_path") {
            let key = "tftp/tftp_root_path";
            if let Some(path) = entry_path(&file, key, &p.to_lowercase(), errs)
                && let Some(e) = upsert(&mut spec, &mut index, &file, key, path)
            {
                e.owner = Some("root".into());
                e.group = Some("root".into());
                e.mode = Some(0o755);
                e.recursive = true;
            }
        }
        if child_text(root, "add_src").is_some_and(|s| !s.is_empty()) {
            warnings.push(format!(
                "{file}: tftp/add_src: host folders are not mirrored; declare the files in [filesystem]"
            ));
        }
    }
    spec
}

fn ftp(
    file: &str,
    doc: &roxmltree::Document<'_>,
    spec: &mut FilesystemSpec,
    index: &mut HashMap<VPath, usize>,
    errs: &mut Errors,
    warnings: &mut Vec<String>,
) {
    let root = doc.root_element();
    let Some(vfs) = root.children().find(|n| n.has_tag_name("ftp_vfs")) else {
        return;
    };
    let users = root.children().find(|n| n.has_tag_name("ftp_users"));
    let group_attr = users
        .and_then(|u| u.children().find(|n| n.has_tag_name("users")))
        .and_then(|u| u.attribute("group"))
        .unwrap_or("45:ftp");
    let group = group_attr
        .split_once(':')
        .map_or(group_attr, |(_, g)| g)
        .trim()
        .to_owned();
    let mut names: HashMap<String, String> = [("0", "root"), ("13", "nobody"), ("22", "anonymous")]
        .into_iter()
        .map(|(u, n)| (u.to_owned(), n.to_owned()))
        .collect();
    for u in users.into_iter().flat_map(|u| u.descendants()) {
        if (u.has_tag_name("user") || u.has_tag_name("anon_login"))
            && let (Some(uid), Some(uname)) = (u.attribute("uid"), child_text(u, "uname"))
        {
            names.insert(uid.trim().to_owned(), uname);
        }
    }
    let user = |uid: &str| names.get(uid.trim()).cloned().unwrap_or_else(|| uid.trim().to_owned());
    let Some(jail_text) = child_text(vfs, "path") else {
        errs.push(file, "ftp/ftp_vfs/path", "the path FTP serves (e.g. /data/ftp/)");
        return;
    };
    let Some(jail) = entry_path(file, "ftp/ftp_vfs/path", &jail_text, errs) else {
        return;
    };
    if child_text(vfs, "add_src").is_some_and(|s| !s.is_empty()) {
        warnings.push(format!(
            "{file}: ftp/ftp_vfs/add_src: host folders are not mirrored; declare the files in [filesystem]"
        ));
    }
    let owner = child_text(vfs, "default_owner").map(|u| user(&u));
    let default_perms = perms(file, vfs, "default_perms", errs);
    if let Some(e) = upsert(spec, index, file, "ftp/ftp_vfs/path", jail.clone()) {
        e.owner = owner;
        e.group = Some(group.clone());
        e.mode = default_perms;
        e.recursive = true;
    }
    for n in vfs
        .children()
        .filter(|n| n.has_tag_name("file") || n.has_tag_name("dir"))
    {
        let tag = n.tag_name().name();
        let at = n.attribute("path").unwrap_or_default();
        let key = format!("ftp/ftp_vfs/{tag}[@path='{at}']");
        // Conpot reads a path under the jail's as that path, any other inside the jail.
        let jail_prefix = jail_text.trim_end_matches('/');
        let full = if at == jail_prefix || at.starts_with(&format!("{jail_prefix}/")) {
            entry_path(file, &key, at, errs)
        } else {
            VPath::new(at).ok().and_then(|rel| jail.join(&rel).ok()).or_else(|| {
                errs.push(file, &key, format!("a path inside the FTP root, found \"{at}\""));
                None
            })
        };
        let Some(path) = full else { continue };
        let is_file = tag == "file";
        let owner = child_text(n, "owner_uid").map(|u| user(&u));
        let mode = perms(file, n, "perms", errs);
        let atime = epoch_text(file, &key, n, "last_accessed", errs);
        let mtime = epoch_text(file, &key, n, "last_modified", errs);
        let recursive = !is_file && n.attribute("recursive").is_some_and(|r| !r.trim().is_empty());
        let Some(e) = upsert(spec, index, file, &key, path) else {
            continue;
        };
        if is_file {
            if e.kind == EntryKind::Dir {
                warnings.push(format!(
                    "{file}: {key}: Conpot takes the file's content from its package; served empty here"
                ));
            }
            e.kind = EntryKind::File(ContentSpec::Text(String::new()));
        }
        e.owner = owner.or(e.owner.take());
        e.group = Some(group.clone());
        e.mode = mode.or(e.mode);
        e.atime = atime.or(e.atime);
        e.mtime = mtime.or(e.mtime);
        e.recursive |= recursive;
    }
}

/// The entry of `path`, created as a directory when new (a later declaration of the same
/// path completes the earlier one, as Conpot's successive chown/chmod calls do).
fn upsert<'s>(
    spec: &'s mut FilesystemSpec,
    index: &mut HashMap<VPath, usize>,
    file: &str,
    key: &str,
    path: VPath,
) -> Option<&'s mut EntrySpec> {
    let i = match index.get(&path) {
        Some(&i) => i,
        None => {
            index.insert(path.clone(), spec.entries.len());
            spec.entries.push(EntrySpec {
                file: file.to_owned(),
                key: key.to_owned(),
                path,
                kind: EntryKind::Dir,
                owner: None,
                group: None,
                mode: None,
                mtime: None,
                atime: None,
                recursive: false,
            });
            spec.entries.len() - 1
        }
    };
    spec.entries.get_mut(i)
}

/// The trimmed text of the child element `name`.
fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.has_tag_name(name))
        .map(|n| n.text().unwrap_or_default().trim().to_owned())
}

/// Conpot's permission text (`0o777`, `777`).
fn perms(file: &str, node: roxmltree::Node<'_, '_>, name: &str, errs: &mut Errors) -> Option<u32> {
    let text = child_text(node, name)?;
    match parse_octal(&text) {
        Some(m) if m <= 0o7777 => Some(m),
        _ => {
            errs.push(
                file,
                &format!("ftp/ftp_vfs/{name}"),
                format!("octal permissions like 0o755, found `{text}`"),
            );
            None
        }
    }
}

/// Conpot's epoch seconds text (`1533152352.517261`).
fn epoch_text(
    file: &str,
    key: &str,
    node: roxmltree::Node<'_, '_>,
    name: &str,
    errs: &mut Errors,
) -> Option<SystemTime> {
    let text = child_text(node, name)?;
    let t = text.parse::<f64>().ok().and_then(epoch);
    if t.is_none() {
        errs.push(
            file,
            &format!("{key}/{name}"),
            format!("seconds since 1970, found `{text}`"),
        );
    }
    t
}
