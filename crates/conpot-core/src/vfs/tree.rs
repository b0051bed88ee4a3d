//! The nodes of the tree, their metadata, and the Unix permission check.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

/// Size a directory reports (an ext4 directory block), as `ls -l` on the device shows.
pub const DIR_SIZE: u64 = 4096;

/// The user every permission check lets through, as on Unix.
pub const SUPERUSER: &str = "root";

/// Who asks: a user name and the groups the user belongs to (first = primary group,
/// the group of the files the user creates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User name (as shown in listings).
    pub user: String,
    /// Group names, primary first.
    pub groups: Vec<String>,
}

impl Principal {
    /// `user` in `groups` (primary first).
    pub fn new(user: impl Into<String>, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Principal {
            user: user.into(),
            groups: groups.into_iter().map(Into::into).collect(),
        }
    }

    /// The superuser (`root` in group `root`): every permission check passes.
    pub fn root() -> Self {
        Principal::new(SUPERUSER, [SUPERUSER])
    }

    pub(crate) fn is_superuser(&self) -> bool {
        self.user == SUPERUSER
    }
}

/// Whether a node is a file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// Ownership, permission bits and times of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Owning user name.
    pub owner: String,
    /// Owning group name.
    pub group: String,
    /// Permission bits, `0o7777` at most (set-id, sticky, rwx for user, group, other).
    pub mode: u32,
    /// Last modification.
    pub mtime: SystemTime,
    /// Last access.
    pub atime: SystemTime,
}

/// Read, write and execute/search, as in the mode bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bit {
    Read = 4,
    Write = 2,
    Exec = 1,
}

impl Meta {
    /// Whether `who` has `bit` here: the owner's bits for the owner, else the group's for
    /// a member of the group, else the others' (the first class that matches decides, as
    /// on Unix: an owner without a bit does not fall back to the group's). The superuser
    /// may read and write everything, and execute a file anyone may execute.
    pub(crate) fn allows(&self, who: &Principal, bit: Bit) -> bool {
        let b = bit as u32;
        if who.is_superuser() {
            return bit != Bit::Exec || self.mode & 0o111 != 0;
        }
        let shift = if who.user == self.owner {
            6
        } else if who.groups.contains(&self.group) {
            3
        } else {
            0
        };
        (self.mode >> shift) & b != 0
    }

    /// Whether `who` may search this directory (look a name up in it): the `x` bit, and
    /// always for the superuser.
    pub(crate) fn searchable(&self, who: &Principal) -> bool {
        who.is_superuser() || self.allows(who, Bit::Exec)
    }
}

/// What a file holds.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// Bytes from the template (not counted against the quota).
    Template(Arc<Vec<u8>>),
    /// Bytes a protocol wrote (counted against the quota).
    Overlay(Arc<Vec<u8>>),
    /// The current value of a databus key, read at each read.
    Databus(String),
}

impl Content {
    /// Bytes counted against the quota.
    pub(crate) fn overlay_len(&self) -> u64 {
        match self {
            Content::Overlay(b) => b.len() as u64,
            _ => 0,
        }
    }
}

/// The body of a node.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// A directory: children by name (sorted, so listings are).
    Dir(BTreeMap<String, Node>),
    /// A file.
    File(Content),
}

/// One file or directory.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) meta: Meta,
    pub(crate) body: Body,
}

impl Node {
    pub(crate) fn dir(meta: Meta) -> Node {
        Node {
            meta,
            body: Body::Dir(BTreeMap::new()),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        match self.body {
            Body::Dir(_) => Kind::Dir,
            Body::File(_) => Kind::File,
        }
    }

    /// Nodes in this subtree, itself included.
    pub(crate) fn count(&self) -> usize {
        match &self.body {
            Body::Dir(c) => 1 + c.values().map(Node::count).sum::<usize>(),
            Body::File(_) => 1,
        }
    }

    /// Overlay bytes in this subtree.
    pub(crate) fn overlay_bytes(&self) -> u64 {
        match &self.body {
            Body::Dir(c) => c.values().map(Node::overlay_bytes).sum(),
            Body::File(content) => content.overlay_len(),
        }
    }

    /// Depth of the deepest node below this one (0 for a file or an empty directory),
    /// and the longest path below it in bytes (`/name` per level).
    pub(crate) fn extent(&self) -> (usize, usize) {
        match &self.body {
            Body::File(_) => (0, 0),
            Body::Dir(c) => c.iter().fold((0, 0), |(d, l), (name, n)| {
                let (cd, cl) = n.extent();
                (d.max(cd + 1), l.max(cl + 1 + name.len()))
            }),
        }
    }
}

/// What [`stat`](super::View::stat) and [`list`](super::View::list) report about a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The node's name (`/` for the root of a view).
    pub name: String,
    /// File or directory.
    pub kind: Kind,
    /// Bytes of content ([`DIR_SIZE`] for a directory; a databus file's current value).
    pub size: u64,
    /// Hard links, as `ls -l` shows them: 1 for a file, 2 plus subdirectories for a
    /// directory.
    pub nlink: u32,
    /// Owner, group, mode and times.
    pub meta: Meta,
}

impl Stat {
    /// Whether `who` may read the node (list it, for a directory).
    pub fn may_read(&self, who: &Principal) -> bool {
        self.meta.allows(who, Bit::Read)
    }

    /// Whether `who` may write the node (create and remove entries, for a directory).
    pub fn may_write(&self, who: &Principal) -> bool {
        self.meta.allows(who, Bit::Write)
    }

    /// Whether `who` may execute the file, or enter (search) the directory.
    pub fn may_exec(&self, who: &Principal) -> bool {
        match self.kind {
            Kind::Dir => self.meta.searchable(who),
            Kind::File => self.meta.allows(who, Bit::Exec),
        }
    }

    /// The mode as `ls -l` writes it: `drwxr-xr-x`, `-rw-r--r--`, with `s`/`S` for
    /// set-id bits and `t`/`T` for the sticky bit.
    pub fn mode_string(&self) -> String {
        mode_string(self.kind, self.meta.mode)
    }
}

/// `ls -l`'s ten-character mode text of a node of `kind` with `mode`.
pub fn mode_string(kind: Kind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(if kind == Kind::Dir { 'd' } else { '-' });
    for (shift, special, mark) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => mark,
            (true, false) => mark.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

impl Node {
    /// The node's [`Stat`] under `name`, with `size` given for a databus file (the
    /// caller reads the databus outside the tree's lock).
    pub(crate) fn stat(&self, name: &str, databus_size: u64) -> Stat {
        let (size, nlink) = match &self.body {
            Body::Dir(c) => (
                DIR_SIZE,
                2 + c
                    .values()
                    .filter(|n| n.kind() == Kind::Dir)
                    .count()
                    .min(u32::MAX as usize - 2) as u32,
            ),
            Body::File(Content::Template(b) | Content::Overlay(b)) => (b.len() as u64, 1),
            Body::File(Content::Databus(_)) => (databus_size, 1),
        };
        Stat {
            name: name.to_owned(),
            kind: self.kind(),
            size,
            nlink,
            meta: self.meta.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(owner: &str, group: &str, mode: u32) -> Meta {
        Meta {
            owner: owner.into(),
            group: group.into(),
            mode,
            mtime: SystemTime::UNIX_EPOCH,
            atime: SystemTime::UNIX_EPOCH,
        }
    }

    fn stat(m: Meta) -> Stat {
        Stat {
            name: "x".into(),
            kind: Kind::File,
            size: 0,
            nlink: 1,
            meta: m,
        }
    }

    #[test]
    fn unix_permission_classes() {
        let s = stat(meta("nobody", "ftp", 0o640));
        let owner = Principal::new("nobody", ["ftp"]);
        let member = Principal::new("test_user", ["users", "ftp"]);
        let other = Principal::new("guest", ["users"]);
        assert!(s.may_read(&owner) && s.may_write(&owner) && !s.may_exec(&owner));
        assert!(s.may_read(&member) && !s.may_write(&member));
        assert!(!s.may_read(&other) && !s.may_write(&other));
        assert!(s.may_read(&Principal::root()) && s.may_write(&Principal::root()));
        assert!(!s.may_exec(&Principal::root()));
        // The owner class decides even when the group would allow more.
        let s = stat(meta("nobody", "ftp", 0o070));
        assert!(!s.may_read(&owner));
        assert!(s.may_read(&member));
    }

    #[test]
    fn ls_mode_strings() {
        assert_eq!(mode_string(Kind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(Kind::File, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(Kind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(Kind::File, 0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string(Kind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(Kind::Dir, 0o1776), "drwxrwxrwT");
    }
}
