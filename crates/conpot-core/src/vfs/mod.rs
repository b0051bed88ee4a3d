//! The device's virtual filesystem: one tree per persona, built from the template,
//! shared by every protocol of the device (FTP and TFTP see the same files, HTTP can
//! serve from it), held in memory only.
//!
//! - [`Vfs`] is the tree (`Arc<Vfs>` in [`Device`](crate::Device)), behind one mutex that
//!   is never held across anything slow: no I/O, a databus read at most.
//! - [`View`] is what a protocol works on: the tree seen from a root (a jail: FTP's
//!   `/data/ftp` is its `/`). Every operation names the [`Principal`] asking and is
//!   checked against the Unix mode bits, as the device's own server would.
//! - Paths come from [`resolve`]: normalised inside the root, bounded, never touching
//!   the host. Use [`resolve_logged`] so refused and escaping inputs become events.
//! - Writes give files new bytes held in memory (the overlay) under [`VfsLimits`], and
//!   each completed write returns the [`Capture`] of the file, for the protocol to put
//!   into its [`Output`](crate::protocol::Output): every uploaded file is captured.
//!
//! Times are the device's: template files carry the template's dates (or an install
//! date drawn from the persona), writes stamp the `now` they are given; nothing reads
//! the host's clock or files.

mod overlay;
pub mod path;
mod served;
mod spec;
mod tree;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::databus::Databus;
use crate::event::EventDraft;
use crate::persona::Persona;
use crate::protocol::Capture;
use crate::template::TemplateError;
use crate::value::Value;

pub use overlay::{VfsLimits, WriteMode};
pub use path::{MAX_DEPTH, MAX_NAME, MAX_PATH, PathError, VPath, escape_event, refused_event, resolve, resolve_logged};
pub use served::{Rooted, Served};
pub use spec::{ContentSpec, EntryKind, EntrySpec, FilesystemSpec, MAX_TEMPLATE_ENTRIES, install_time};
pub use tree::{DIR_SIZE, Kind, Meta, Principal, Stat, mode_string};

use tree::{Bit, Body, Content, Node};

/// Why an operation failed. [`VfsError::as_str`] gives a stable name for events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfsError {
    /// The path was refused before any lookup.
    Path(PathError),
    /// Nothing is there (or a directory on the way is missing).
    NotFound,
    /// A directory was needed (a file is on the way, or listed).
    NotADirectory,
    /// A file was needed.
    IsADirectory,
    /// Something is there already.
    Exists,
    /// The directory to remove (or to replace by a rename) is not empty.
    NotEmpty,
    /// The mode bits (or ownership, for `chmod`) do not allow it.
    PermissionDenied,
    /// The write would take the overlay past [`VfsLimits::quota_bytes`].
    QuotaExceeded,
    /// The file would grow past [`VfsLimits::max_file`].
    FileTooLarge,
    /// The tree holds [`VfsLimits::max_entries`] nodes already.
    TooMany,
    /// A write offset past the end of the file.
    InvalidOffset,
    /// The root of the view cannot be removed, renamed or replaced.
    Busy,
    /// A mode above `0o7777`, or a directory moved into itself.
    Invalid,
}

impl VfsError {
    /// A stable name (`not_found`, `quota_exceeded`, a path error's name, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            VfsError::Path(e) => e.as_str(),
            VfsError::NotFound => "not_found",
            VfsError::NotADirectory => "not_a_directory",
            VfsError::IsADirectory => "is_a_directory",
            VfsError::Exists => "exists",
            VfsError::NotEmpty => "not_empty",
            VfsError::PermissionDenied => "permission_denied",
            VfsError::QuotaExceeded => "quota_exceeded",
            VfsError::FileTooLarge => "file_too_large",
            VfsError::TooMany => "too_many_entries",
            VfsError::InvalidOffset => "invalid_offset",
            VfsError::Busy => "busy",
            VfsError::Invalid => "invalid",
        }
    }

    /// For an error that is one of the filesystem's limits (quota, file size, node
    /// count), the `limit.hit` event saying which, with the path the protocol's user
    /// named; `None` for the other errors, which the protocol logs as its own replies.
    pub fn limit_event(&self, path: &VPath) -> Option<EventDraft> {
        let limit = match self {
            VfsError::QuotaExceeded => "fs_quota",
            VfsError::FileTooLarge => "fs_max_file",
            VfsError::TooMany => "fs_max_entries",
            _ => return None,
        };
        Some(
            EventDraft::new("limit.hit")
                .with("limit", limit)
                .with("path", path.as_str()),
        )
    }
}

impl From<PathError> for VfsError {
    fn from(e: PathError) -> Self {
        VfsError::Path(e)
    }
}

impl std::fmt::Display for VfsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VfsError::Path(e) => e.fmt(f),
            VfsError::NotFound => f.write_str("no such file or directory"),
            VfsError::NotADirectory => f.write_str("not a directory"),
            VfsError::IsADirectory => f.write_str("is a directory"),
            VfsError::Exists => f.write_str("file exists"),
            VfsError::NotEmpty => f.write_str("directory not empty"),
            VfsError::PermissionDenied => f.write_str("permission denied"),
            VfsError::QuotaExceeded => f.write_str("disk quota exceeded"),
            VfsError::FileTooLarge => f.write_str("file too large"),
            VfsError::TooMany => f.write_str("no space left on device (inodes)"),
            VfsError::InvalidOffset => f.write_str("offset past the end of the file"),
            VfsError::Busy => f.write_str("device or resource busy"),
            VfsError::Invalid => f.write_str("invalid argument"),
        }
    }
}

impl std::error::Error for VfsError {}

/// What the overlay holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes written by protocols and still held.
    pub bytes: u64,
    /// Nodes in the tree (the root included).
    pub entries: usize,
}

/// The filesystem of one persona. Build it with [`Vfs::build`], share it as `Arc<Vfs>`,
/// and hand each protocol a [`View`] from [`Vfs::view`].
pub struct Vfs {
    state: Mutex<State>,
    databus: Arc<Databus>,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let u = self.usage();
        f.debug_struct("Vfs")
            .field("entries", &u.entries)
            .field("overlay_bytes", &u.bytes)
            .finish()
    }
}

/// Owner, group and modes of what protocols create.
#[derive(Debug)]
struct Defaults {
    group: String,
    file_mode: u32,
    dir_mode: u32,
}

/// Everything behind the lock.
#[derive(Debug)]
struct State {
    root: Node,
    entries: usize,
    used: u64,
    limits: VfsLimits,
    defaults: Defaults,
}

impl Vfs {
    /// The tree of `spec` for `persona` (its `{persona.NAME}` texts filled, its default
    /// dates drawn from the persona's seed and `boot`), with default [`VfsLimits`]. Files
    /// backed by a databus key read it from `databus` at every read.
    pub fn build(
        spec: &FilesystemSpec,
        persona: &Persona,
        databus: Arc<Databus>,
        boot: SystemTime,
    ) -> Result<Vfs, Vec<TemplateError>> {
        let (root, entries) = spec::build_tree(spec, persona, boot)?;
        Ok(Vfs {
            state: Mutex::new(State {
                root,
                entries,
                used: 0,
                limits: VfsLimits::default(),
                defaults: Defaults {
                    group: spec.group.clone(),
                    file_mode: spec.file_mode,
                    dir_mode: spec.dir_mode,
                },
            }),
            databus,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The jail of the protocol of `section` at its configured `root`, or the template
    /// error naming `protocols.<name>.root`: how FTP, TFTP and HTTP find their files.
    pub fn section_view(
        self: &Arc<Self>,
        section: &crate::template::ProtocolSection,
        root: &str,
    ) -> Result<View, Vec<TemplateError>> {
        self.view(root).map_err(|e| {
            vec![TemplateError {
                file: section.file.clone(),
                key: format!("protocols.{}.root", section.name),
                expected: format!("a directory of the device's filesystem ({e})"),
            }]
        })
    }

    /// The tree seen from `root` (which must be a directory): a protocol's jail. `"/"`
    /// gives the whole tree.
    pub fn view(self: &Arc<Self>, root: &str) -> Result<View, VfsError> {
        let root = VPath::new(root)?;
        let st = self.state();
        match st.lookup(&Principal::root(), &root, 0)?.body {
            Body::Dir(_) => {}
            Body::File(_) => return Err(VfsError::NotADirectory),
        }
        drop(st);
        Ok(View {
            vfs: Arc::clone(self),
            base: root.depth(),
            root,
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> VfsLimits {
        self.state().limits
    }

    /// Replaces the limits (the sensor configuration's, once the device is built). What
    /// is held already stays; only later writes and creations are checked.
    pub fn set_limits(&self, limits: VfsLimits) {
        self.state().limits = limits;
    }

    /// Bytes and nodes held now.
    pub fn usage(&self) -> Usage {
        let st = self.state();
        Usage {
            bytes: st.used,
            entries: st.entries,
        }
    }
}

/// The tree seen from one directory: what a protocol holds. Paths given to it are
/// inside its root (`/` is the root), as [`resolve`] makes them; nothing above the root
/// can be named. Cheap to clone.
#[derive(Debug, Clone)]
pub struct View {
    vfs: Arc<Vfs>,
    root: VPath,
    /// Depth of `root`: permission checks start there, as they do in a chroot.
    base: usize,
}

impl View {
    /// Where the view's root lies in the device's tree.
    pub fn root(&self) -> &VPath {
        &self.root
    }

    /// The filesystem the view looks into.
    pub fn vfs(&self) -> &Arc<Vfs> {
        &self.vfs
    }

    fn full(&self, path: &VPath) -> Result<VPath, VfsError> {
        Ok(self.root.join(path)?)
    }

    /// What is at `path`. Needs search (`x`) permission on every directory on the way.
    pub fn stat(&self, who: &Principal, path: &VPath, now: SystemTime) -> Result<Stat, VfsError> {
        let full = self.full(path)?;
        let st = self.vfs.state();
        let node = st.lookup(who, &full, self.base)?;
        let name = path.file_name().unwrap_or("/");
        Ok(node.stat(name, self.databus_size(&st, node, now)))
    }

    /// The entries of the directory `path`, sorted by name (bytewise), with their
    /// metadata. Needs read permission on the directory.
    pub fn list(&self, who: &Principal, path: &VPath, now: SystemTime) -> Result<Vec<Stat>, VfsError> {
        let full = self.full(path)?;
        let st = self.vfs.state();
        let node = st.lookup(who, &full, self.base)?;
        let Body::Dir(children) = &node.body else {
            return Err(VfsError::NotADirectory);
        };
        if !node.meta.allows(who, Bit::Read) {
            return Err(VfsError::PermissionDenied);
        }
        Ok(children
            .iter()
            .map(|(name, n)| n.stat(name, self.databus_size(&st, n, now)))
            .collect())
    }

    /// Up to `max_len` bytes of the file `path` from `offset` on (empty past the end);
    /// `read(who, path, 0, usize::MAX, now)` reads it whole. Needs read permission. The
    /// access time moves as Linux's `relatime` moves it (when it was not after the last
    /// change, or is a day old).
    pub fn read(
        &self,
        who: &Principal,
        path: &VPath,
        offset: u64,
        max_len: usize,
        now: SystemTime,
    ) -> Result<Vec<u8>, VfsError> {
        let full = self.full(path)?;
        let mut st = self.vfs.state();
        let node = st.lookup(who, &full, self.base)?;
        let Body::File(content) = &node.body else {
            return Err(VfsError::IsADirectory);
        };
        if !node.meta.allows(who, Bit::Read) {
            return Err(VfsError::PermissionDenied);
        }
        let bytes = self.bytes_of(&st, content, now);
        if let Some(n) = st.node_mut(&full) {
            let m = &mut n.meta;
            if m.atime <= m.mtime || now.duration_since(m.atime).unwrap_or_default() >= Duration::from_secs(86_400) {
                m.atime = now;
            }
        }
        drop(st);
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        let end = start.saturating_add(max_len).min(bytes.len());
        Ok(bytes.get(start..end).unwrap_or_default().to_vec())
    }

    /// Writes `data` into the file `path` with `mode`, creating it when missing (owned by
    /// `who` and `who`'s primary group, with the filesystem's file mode), and returns the
    /// [`Capture`] of the file as it now is. Call it once per completed transfer.
    ///
    /// Creating needs write and search permission on the directory, changing a file
    /// write permission on it. Nothing is changed on error; a protocol that received
    /// the bytes anyway (a quota refusal after the upload) captures them with
    /// [`View::refused_capture`].
    pub fn write(
        &self,
        who: &Principal,
        path: &VPath,
        mode: WriteMode,
        data: &[u8],
        now: SystemTime,
    ) -> Result<Capture, VfsError> {
        let full = self.full(path)?;
        let mut st = self.vfs.state();
        let (parent, name) = self.parent_of(&full).map_err(|_| VfsError::IsADirectory)?;
        let pnode = st.lookup(who, &parent, self.base)?;
        let Body::Dir(children) = &pnode.body else {
            return Err(VfsError::NotADirectory);
        };
        let (old, old_overlay, exists) = match children.get(name) {
            Some(n) => {
                let Body::File(content) = &n.body else {
                    return Err(VfsError::IsADirectory);
                };
                if mode == WriteMode::CreateNew {
                    return Err(VfsError::Exists);
                }
                if !pnode.meta.searchable(who) || !n.meta.allows(who, Bit::Write) {
                    return Err(VfsError::PermissionDenied);
                }
                let old = match mode {
                    WriteMode::Truncate | WriteMode::CreateNew => Arc::new(Vec::new()),
                    _ => self.bytes_of(&st, content, now),
                };
                (old, content.overlay_len(), true)
            }
            None => {
                if !pnode.meta.allows(who, Bit::Write) || !pnode.meta.searchable(who) {
                    return Err(VfsError::PermissionDenied);
                }
                if st.entries >= st.limits.max_entries {
                    return Err(VfsError::TooMany);
                }
                (Arc::new(Vec::new()), 0, false)
            }
        };
        let new = Arc::new(overlay::apply(&old, mode, data, st.limits.max_file)?);
        drop(old);
        st.used = overlay::charge(st.used, old_overlay, new.len() as u64, st.limits.quota_bytes)?;
        let meta = Meta {
            owner: who.user.clone(),
            group: self.group_of(&st, who),
            mode: st.defaults.file_mode,
            mtime: now,
            atime: now,
        };
        let created = !exists;
        let pnode = st.node_mut(&parent).ok_or(VfsError::NotFound)?;
        if created {
            pnode.meta.mtime = now;
        }
        if let Body::Dir(children) = &mut pnode.body {
            match children.get_mut(name) {
                Some(n) => {
                    n.body = Body::File(Content::Overlay(Arc::clone(&new)));
                    n.meta.mtime = now;
                    n.meta.atime = now;
                }
                None => {
                    children.insert(
                        name.to_owned(),
                        Node {
                            meta,
                            body: Body::File(Content::Overlay(Arc::clone(&new))),
                        },
                    );
                }
            }
        }
        if created {
            st.entries += 1;
        }
        drop(st);
        Ok(overlay::capture(path, &full, mode, data.len(), &who.user, &new))
    }

    /// The capture of `data` that [`View::write`] refused to hold (over the quota, too
    /// large, no room): what the attacker sent is kept all the same. Its `data` has
    /// `refused` with the error's name.
    pub fn refused_capture(
        &self,
        who: &Principal,
        path: &VPath,
        mode: WriteMode,
        data: &[u8],
        err: VfsError,
    ) -> Capture {
        let full = self.full(path).unwrap_or_else(|_| path.clone());
        let mut c = overlay::capture(path, &full, mode, data.len(), &who.user, data);
        c.data.insert("refused".into(), err.as_str().into());
        c
    }

    /// Creates the directory `path`, owned by `who`, with the filesystem's directory
    /// mode. Needs write and search permission on the parent.
    pub fn mkdir(&self, who: &Principal, path: &VPath, now: SystemTime) -> Result<(), VfsError> {
        let full = self.full(path)?;
        let mut st = self.vfs.state();
        let (parent, name) = self.parent_of(&full).map_err(|_| VfsError::Exists)?;
        let pnode = st.lookup(who, &parent, self.base)?;
        let Body::Dir(children) = &pnode.body else {
            return Err(VfsError::NotADirectory);
        };
        if children.contains_key(name) {
            return Err(VfsError::Exists);
        }
        if !pnode.meta.allows(who, Bit::Write) || !pnode.meta.searchable(who) {
            return Err(VfsError::PermissionDenied);
        }
        if st.entries >= st.limits.max_entries {
            return Err(VfsError::TooMany);
        }
        let node = Node::dir(Meta {
            owner: who.user.clone(),
            group: self.group_of(&st, who),
            mode: st.defaults.dir_mode,
            mtime: now,
            atime: now,
        });
        let pnode = st.node_mut(&parent).ok_or(VfsError::NotFound)?;
        pnode.meta.mtime = now;
        if let Body::Dir(children) = &mut pnode.body {
            children.insert(name.to_owned(), node);
        }
        st.entries += 1;
        Ok(())
    }

    /// Removes the empty directory `path`. Needs write and search permission on the
    /// parent; the view's root cannot be removed ([`VfsError::Busy`]).
    pub fn rmdir(&self, who: &Principal, path: &VPath, now: SystemTime) -> Result<(), VfsError> {
        self.remove(who, path, Kind::Dir, now)
    }

    /// Removes the file `path` (not a directory). Needs write and search permission on
    /// the parent; frees the file's overlay bytes.
    pub fn delete(&self, who: &Principal, path: &VPath, now: SystemTime) -> Result<(), VfsError> {
        self.remove(who, path, Kind::File, now)
    }

    fn remove(&self, who: &Principal, path: &VPath, kind: Kind, now: SystemTime) -> Result<(), VfsError> {
        let full = self.full(path)?;
        let mut st = self.vfs.state();
        let (parent, name) = match self.parent_of(&full) {
            Ok(p) => p,
            Err(_) if kind == Kind::Dir => return Err(VfsError::Busy),
            Err(_) => return Err(VfsError::IsADirectory),
        };
        let pnode = st.lookup(who, &parent, self.base)?;
        let Body::Dir(children) = &pnode.body else {
            return Err(VfsError::NotADirectory);
        };
        let node = children.get(name).ok_or(VfsError::NotFound)?;
        match (&node.body, kind) {
            (Body::Dir(c), Kind::Dir) if !c.is_empty() => return Err(VfsError::NotEmpty),
            (Body::Dir(_), Kind::File) => return Err(VfsError::IsADirectory),
            (Body::File(_), Kind::Dir) => return Err(VfsError::NotADirectory),
            _ => {}
        }
        if !pnode.meta.allows(who, Bit::Write) || !pnode.meta.searchable(who) {
            return Err(VfsError::PermissionDenied);
        }
        let pnode = st.node_mut(&parent).ok_or(VfsError::NotFound)?;
        pnode.meta.mtime = now;
        let removed = match &mut pnode.body {
            Body::Dir(children) => children.remove(name),
            Body::File(_) => None,
        };
        if let Some(n) = removed {
            st.entries = st.entries.saturating_sub(n.count());
            st.used = st.used.saturating_sub(n.overlay_bytes());
        }
        Ok(())
    }

    /// Moves `from` to `to` (a file or a whole directory), replacing a file at `to`, or
    /// an empty directory when `from` is a directory too. Needs write and search
    /// permission on both parents. The moved nodes keep their metadata.
    pub fn rename(&self, who: &Principal, from: &VPath, to: &VPath, now: SystemTime) -> Result<(), VfsError> {
        let (ffull, tfull) = (self.full(from)?, self.full(to)?);
        let mut st = self.vfs.state();
        let (fparent, fname) = self.parent_of(&ffull).map_err(|_| VfsError::Busy)?;
        let (tparent, tname) = self.parent_of(&tfull).map_err(|_| VfsError::Busy)?;
        let fdir = st.lookup(who, &fparent, self.base)?;
        let Body::Dir(fchildren) = &fdir.body else {
            return Err(VfsError::NotADirectory);
        };
        let moving = fchildren.get(fname).ok_or(VfsError::NotFound)?;
        if !fdir.meta.allows(who, Bit::Write) || !fdir.meta.searchable(who) {
            return Err(VfsError::PermissionDenied);
        }
        if tfull != ffull && tfull.starts_with(&ffull) {
            return Err(VfsError::Invalid);
        }
        let tdir = st.lookup(who, &tparent, self.base)?;
        let Body::Dir(tchildren) = &tdir.body else {
            return Err(VfsError::NotADirectory);
        };
        if !tdir.meta.allows(who, Bit::Write) || !tdir.meta.searchable(who) {
            return Err(VfsError::PermissionDenied);
        }
        if tfull == ffull {
            return Ok(());
        }
        if let Some(target) = tchildren.get(tname) {
            match (&moving.body, &target.body) {
                (Body::File(_), Body::Dir(_)) => return Err(VfsError::IsADirectory),
                (Body::Dir(_), Body::File(_)) => return Err(VfsError::NotADirectory),
                (Body::Dir(_), Body::Dir(c)) if !c.is_empty() => return Err(VfsError::NotEmpty),
                _ => {}
            }
        }
        // The moved subtree must keep the bounds at its new place.
        let (depth, len) = moving.extent();
        if tfull.depth() + depth > MAX_DEPTH {
            return Err(VfsError::Path(PathError::TooDeep));
        }
        if tfull.as_str().len() + len > MAX_PATH {
            return Err(VfsError::Path(PathError::TooLong));
        }
        let node = match st.node_mut(&fparent).map(|n| {
            n.meta.mtime = now;
            &mut n.body
        }) {
            Some(Body::Dir(c)) => c.remove(fname).ok_or(VfsError::NotFound)?,
            _ => return Err(VfsError::NotFound),
        };
        let replaced = match st.node_mut(&tparent).map(|n| {
            n.meta.mtime = now;
            &mut n.body
        }) {
            Some(Body::Dir(c)) => c.insert(tname.to_owned(), node),
            _ => None,
        };
        if let Some(n) = replaced {
            st.entries = st.entries.saturating_sub(n.count());
            st.used = st.used.saturating_sub(n.overlay_bytes());
        }
        Ok(())
    }

    /// Sets the permission bits of `path` (at most `0o7777`). Only the owner and the
    /// superuser may, as on Unix.
    pub fn chmod(&self, who: &Principal, path: &VPath, mode: u32) -> Result<(), VfsError> {
        if mode > 0o7777 {
            return Err(VfsError::Invalid);
        }
        let full = self.full(path)?;
        let mut st = self.vfs.state();
        let node = st.lookup(who, &full, self.base)?;
        if node.meta.owner != who.user && !who.is_superuser() {
            return Err(VfsError::PermissionDenied);
        }
        if let Some(n) = st.node_mut(&full) {
            n.meta.mode = mode;
        }
        Ok(())
    }

    /// The parent and name of `full`, refusing the view's root (which has no parent
    /// inside the view).
    fn parent_of<'p>(&self, full: &'p VPath) -> Result<(VPath, &'p str), VfsError> {
        if full.depth() <= self.base {
            return Err(VfsError::Busy);
        }
        match (full.parent(), full.file_name()) {
            (Some(p), Some(n)) => Ok((p, n)),
            _ => Err(VfsError::Busy),
        }
    }

    /// The group of what `who` creates: the primary group, else the filesystem's.
    fn group_of(&self, st: &State, who: &Principal) -> String {
        who.groups.first().cloned().unwrap_or_else(|| st.defaults.group.clone())
    }

    /// The bytes of a file now (a databus file's current value, capped at the largest
    /// file size).
    fn bytes_of(&self, st: &State, content: &Content, now: SystemTime) -> Arc<Vec<u8>> {
        match content {
            Content::Template(b) | Content::Overlay(b) => Arc::clone(b),
            Content::Databus(key) => Arc::new(databus_bytes(&self.vfs.databus, key, now, st.limits.max_file)),
        }
    }

    /// The size of a databus file's current value (0 for anything else: its size is
    /// its bytes').
    fn databus_size(&self, st: &State, node: &Node, now: SystemTime) -> u64 {
        match &node.body {
            Body::File(Content::Databus(key)) => {
                databus_bytes(&self.vfs.databus, key, now, st.limits.max_file).len() as u64
            }
            _ => 0,
        }
    }
}

impl State {
    /// The node at `full`, checking that every directory entered from depth `base` on
    /// allows `who` to search it (`x`).
    fn lookup(&self, who: &Principal, full: &VPath, base: usize) -> Result<&Node, VfsError> {
        let mut cur = &self.root;
        for (i, name) in full.components().enumerate() {
            let Body::Dir(children) = &cur.body else {
                return Err(VfsError::NotADirectory);
            };
            if i >= base && !cur.meta.searchable(who) {
                return Err(VfsError::PermissionDenied);
            }
            cur = children.get(name).ok_or(VfsError::NotFound)?;
        }
        Ok(cur)
    }

    /// The node at `full`, unchecked (after [`State::lookup`] checked the way).
    fn node_mut(&mut self, full: &VPath) -> Option<&mut Node> {
        let mut cur = &mut self.root;
        for name in full.components() {
            cur = match &mut cur.body {
                Body::Dir(children) => children.get_mut(name)?,
                Body::File(_) => return None,
            };
        }
        Some(cur)
    }
}

/// The content of a databus-backed file: a text value's bytes, a bytes value as is,
/// nothing for null, anything else as its text; at most `cap` bytes (a missing key
/// reads as an empty file).
fn databus_bytes(databus: &Databus, key: &str, now: SystemTime, cap: u64) -> Vec<u8> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    databus
        .with(key, now, |v| match v {
            Value::Null => Vec::new(),
            Value::Str(s) => s.as_bytes().get(..cap.min(s.len())).unwrap_or_default().to_vec(),
            Value::Bytes(b) => b.get(..cap.min(b.len())).unwrap_or_default().to_vec(),
            other => {
                let mut w = Capped {
                    out: String::new(),
                    cap,
                };
                let _ = std::fmt::Write::write_fmt(&mut w, format_args!("{other}"));
                w.out.into_bytes()
            }
        })
        .unwrap_or_default()
}

/// A text sink that stops (with an error) once it holds `cap` bytes, so a huge databus
/// list is never rendered whole.
struct Capped {
    out: String,
    cap: usize,
}

impl std::fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.cap.saturating_sub(self.out.len());
        if s.len() <= room {
            self.out.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.out.push_str(s.get(..cut).unwrap_or_default());
        Err(std::fmt::Error)
    }
}
