//! The filesystem as a template declares it, and the tree built from that declaration.
//!
//! The template readers (`[filesystem]` in TOML, `<ftp_vfs>` and `<tftp_root_path>` of a
//! Conpot template) produce a [`FilesystemSpec`]; [`Vfs::build`](super::Vfs::build) turns
//! it into the device's tree once per persona.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::path::VPath;
use super::tree::{Body, Content, Meta, Node};
use crate::persona::Persona;
use crate::template::TemplateError;

/// Most entries a template may declare.
pub const MAX_TEMPLATE_ENTRIES: usize = 4096;

/// The `[filesystem]` of a template: defaults, then the entries.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemSpec {
    /// Owner of every node that names none (and no `recursive` directory above names one).
    pub owner: String,
    /// Group of such nodes, and of files created by a user without a group.
    pub group: String,
    /// Mode of files that name none, and of files protocols create.
    pub file_mode: u32,
    /// Mode of directories that name none, and of directories protocols create.
    pub dir_mode: u32,
    /// Time of every node that names none; `None`: a date some months before the
    /// device's boot, drawn from the persona (see [`install_time`]).
    pub date: Option<SystemTime>,
    /// The declared files and directories, in declaration order. Their parents are
    /// created as directories with the defaults.
    pub entries: Vec<EntrySpec>,
}

impl Default for FilesystemSpec {
    fn default() -> Self {
        FilesystemSpec {
            owner: "root".into(),
            group: "root".into(),
            file_mode: 0o644,
            dir_mode: 0o755,
            date: None,
            entries: Vec::new(),
        }
    }
}

/// One declared file or directory.
#[derive(Debug, Clone, PartialEq)]
pub struct EntrySpec {
    /// File that declared it (for messages).
    pub file: String,
    /// Key or element that declared it (for messages).
    pub key: String,
    /// Where it is.
    pub path: VPath,
    /// A directory, or a file and its content.
    pub kind: EntryKind,
    /// Owner (else inherited from a `recursive` directory above, else the default).
    pub owner: Option<String>,
    /// Group (likewise).
    pub group: Option<String>,
    /// Permission bits (likewise).
    pub mode: Option<u32>,
    /// Modification time (else the default time).
    pub mtime: Option<SystemTime>,
    /// Access time (else the modification time).
    pub atime: Option<SystemTime>,
    /// For a directory: its owner, group and mode also apply to everything below it that
    /// does not name its own (as `chown -R` / `chmod -R` at installation would).
    pub recursive: bool,
}

/// A directory, or a file with where its content comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A file.
    File(ContentSpec),
}

/// Where a file's content comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentSpec {
    /// Text with `{persona.NAME}` references, filled when the device is built.
    Text(String),
    /// Bytes as they are (a template-relative file, read when the template loads).
    Bytes(Arc<Vec<u8>>),
    /// The current value of this databus key, read at every read.
    Databus(String),
}

/// The date the device's files were "installed" when the template gives none: midnight
/// 60 to 400 days (drawn from the persona's seed) before the start of the 90-day period
/// the boot falls in. It stays the same across restarts within a period, so a scanner
/// that comes back after a restart sees the same dates, and it is never after the boot.
pub fn install_time(boot: SystemTime, seed: u64) -> SystemTime {
    const DAY: u64 = 86_400;
    const PERIOD: u64 = 90 * DAY;
    let now = boot.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let anchor = now - now % PERIOD;
    let back = (60 + mix(seed, 1) % 341) * DAY;
    let hour = 7 + mix(seed, 2) % 10;
    let minute = mix(seed, 3) % 60;
    let t = anchor.saturating_sub(back) + hour * 3600 + minute * 60;
    UNIX_EPOCH + Duration::from_secs(t.min(now))
}

/// The default time of the node at `path`: `date` exactly when the template gave one;
/// else the install time plus up to an hour and a half per node, as files copied during
/// an installation differ by seconds or minutes.
fn default_time(spec: &FilesystemSpec, install: SystemTime, seed: u64, path: &VPath) -> SystemTime {
    match spec.date {
        Some(d) => d,
        None => install + Duration::from_secs(mix(seed ^ fnv(path.as_str().as_bytes()), 4) % 5400),
    }
}

/// FNV-1a: a stable hash (not the process-random one of `HashMap`), so dates stay the
/// same across restarts.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A splitmix64 step of `seed` and `salt`.
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed.wrapping_add(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The tree of `spec` for `persona`, and how many nodes it has.
pub(crate) fn build_tree(
    spec: &FilesystemSpec,
    persona: &Persona,
    boot: SystemTime,
) -> Result<(Node, usize), Vec<TemplateError>> {
    let install = install_time(boot, persona.seed);
    let mut errs = Vec::new();
    // Every path to create, parents before children (a prefix sorts first).
    let mut plan: BTreeMap<VPath, Option<&EntrySpec>> = BTreeMap::new();
    plan.insert(VPath::root(), None);
    for e in &spec.entries {
        let mut p = e.path.parent();
        while let Some(dir) = p {
            p = dir.parent();
            plan.entry(dir).or_insert(None);
        }
        plan.insert(e.path.clone(), Some(e));
    }
    let recursive: Vec<&EntrySpec> = spec
        .entries
        .iter()
        .filter(|e| e.recursive && e.kind == EntryKind::Dir)
        .collect();
    let mut root = None;
    let mut count = 0usize;
    for (path, entry) in &plan {
        // The nearest `recursive` directory strictly above the node.
        let above = recursive
            .iter()
            .filter(|r| r.path != *path && path.starts_with(&r.path))
            .max_by_key(|r| r.path.depth());
        let pick = |own: Option<&Option<String>>, up: Option<&Option<String>>, default: &str| {
            own.and_then(Option::clone)
                .or_else(|| up.and_then(Option::clone))
                .unwrap_or_else(|| default.to_owned())
        };
        let is_dir = entry.is_none_or(|e| e.kind == EntryKind::Dir);
        let mtime = entry
            .and_then(|e| e.mtime)
            .unwrap_or_else(|| default_time(spec, install, persona.seed, path));
        let meta = Meta {
            owner: pick(entry.map(|e| &e.owner), above.map(|r| &r.owner), &spec.owner),
            group: pick(entry.map(|e| &e.group), above.map(|r| &r.group), &spec.group),
            mode: entry
                .and_then(|e| e.mode)
                .or_else(|| above.and_then(|r| r.mode))
                .unwrap_or(if is_dir { spec.dir_mode } else { spec.file_mode }),
            mtime,
            atime: entry.and_then(|e| e.atime).unwrap_or(mtime),
        };
        let body = match entry.map(|e| (e, &e.kind)) {
            None | Some((_, EntryKind::Dir)) => Body::Dir(BTreeMap::new()),
            Some((e, EntryKind::File(c))) => Body::File(match c {
                ContentSpec::Text(t) => match persona.render(t) {
                    Ok(s) => Content::Template(Arc::new(s.into_bytes())),
                    Err(err) => {
                        errs.push(TemplateError {
                            file: e.file.clone(),
                            key: format!("{}.content", e.key),
                            expected: err.to_string(),
                        });
                        continue;
                    }
                },
                ContentSpec::Bytes(b) => Content::Template(Arc::clone(b)),
                ContentSpec::Databus(k) => Content::Databus(k.clone()),
            }),
        };
        let node = Node { meta, body };
        count += 1;
        match (&mut root, path.parent()) {
            (None, None) => root = Some(node),
            (Some(r), Some(parent)) => {
                if let Err(err) = insert(r, &parent, path, node) {
                    let (file, key) = entry.map(|e| (e.file.clone(), e.key.clone())).unwrap_or_default();
                    errs.push(TemplateError {
                        file,
                        key,
                        expected: format!("`{path}` inside a directory ({err})"),
                    });
                }
            }
            _ => {}
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let root = root.unwrap_or_else(|| {
        Node::dir(Meta {
            owner: spec.owner.clone(),
            group: spec.group.clone(),
            mode: spec.dir_mode,
            mtime: install,
            atime: install,
        })
    });
    Ok((root, count))
}

/// Places `node` as `path` in the directory `parent` of `root`.
fn insert(root: &mut Node, parent: &VPath, path: &VPath, node: Node) -> Result<(), &'static str> {
    let mut cur = root;
    for name in parent.components() {
        cur = match &mut cur.body {
            Body::Dir(children) => children.get_mut(name).ok_or("missing parent")?,
            Body::File(_) => return Err("a file is declared where a directory is needed"),
        };
    }
    match &mut cur.body {
        Body::Dir(children) => {
            children.insert(path.file_name().unwrap_or_default().to_owned(), node);
            Ok(())
        }
        Body::File(_) => Err("a file is declared where a directory is needed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_time_is_before_boot_and_stable_within_a_period() {
        let boot = UNIX_EPOCH + Duration::from_secs(1_795_611_702);
        let t = install_time(boot, 42);
        assert!(t < boot);
        assert!(boot.duration_since(t).unwrap() >= Duration::from_secs(60 * 86_400));
        assert!(boot.duration_since(t).unwrap() <= Duration::from_secs(491 * 86_400));
        assert_eq!(install_time(boot + Duration::from_secs(3600), 42), t);
        assert_ne!(install_time(boot, 43), t);
        assert_eq!(install_time(UNIX_EPOCH, 1), UNIX_EPOCH);
    }
}
