//! Giving up root once the listeners are bound. The sensor is started as root to bind ports
//! below 1024 (or by a service manager that grants `CAP_NET_BIND_SERVICE` instead); from
//! then on it parses hostile bytes, so it switches to the configured account, keeps no
//! capability (permitted, effective, inheritable, ambient and bounding sets empty) and sets
//! `no_new_privs`. This runs while the process still has one thread, before the runtime
//! starts: credentials and `no_new_privs` are per thread in Linux, and every later thread
//! inherits them from this one.

use std::ffi::CString;
use std::path::Path;

use conpot_core::config::Daemon;

/// What the sensor runs as after [`drop_privileges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not started as root: nothing to give up (`no_new_privs` is set all the same).
    Unprivileged,
    /// Switched from root to this uid and gid.
    Switched {
        /// The account's user id.
        uid: u32,
        /// The group id.
        gid: u32,
    },
    /// Started as root and stays root, because the operator said so.
    StaysRoot,
}

/// Switches to `daemon.user`/`daemon.group` when running as root, first handing the state
/// folders (the sensor's, then each persona's: identity, certificates, captures) to that
/// account, since it will write there. As root without a
/// configured user it refuses, unless `allow_root` (the flag or `[daemon] allow_root`).
pub fn drop_privileges(daemon: &Daemon, allow_root: bool, state_dirs: &[&Path]) -> Result<Outcome, String> {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        no_new_privs()?;
        return Ok(Outcome::Unprivileged);
    }
    let Some(user) = daemon.user.as_deref() else {
        if allow_root || daemon.allow_root {
            return Ok(Outcome::StaysRoot);
        }
        return Err(
            "refusing to run as root: set `[daemon] user` (and `group`) in the configuration to switch to an \
             unprivileged account once the ports are bound, grant CAP_NET_BIND_SERVICE to an unprivileged \
             user instead, or pass --allow-root to run as root anyway"
                .to_owned(),
        );
    };
    let (uid, user_gid) = lookup_user(user)?;
    let gid = match daemon.group.as_deref() {
        Some(g) => lookup_group(g)?,
        None => user_gid,
    };
    if uid == 0 {
        return Err(format!("[daemon] user `{user}` is root: name an unprivileged account"));
    }
    for state_dir in state_dirs {
        std::fs::create_dir_all(state_dir).map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
        chown_tree(state_dir, uid, gid, 0)?;
    }
    switch(uid, gid)?;
    Ok(Outcome::Switched { uid, gid })
}

/// Hands `path` and what it holds (not following symbolic links, at most 8 levels: the
/// state folder is ours and shallow) to `uid:gid`, and makes the folder private.
fn chown_tree(path: &Path, uid: u32, gid: u32, depth: usize) -> Result<(), String> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_dir() || depth >= 8 {
        return Ok(());
    }
    if depth == 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    for entry in entries.flatten() {
        chown_tree(&entry.path(), uid, gid, depth + 1)?;
    }
    Ok(())
}

fn c_name(kind: &str, name: &str) -> Result<CString, String> {
    CString::new(name).map_err(|_| format!("[daemon] {kind} `{name}` holds a NUL byte"))
}

/// The uid and primary gid of a user name or number.
#[allow(unsafe_code)]
fn lookup_user(name: &str) -> Result<(u32, u32), String> {
    let c = c_name("user", name)?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwnam_r.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is its real size.
    let rc = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc == 0 && !found.is_null() {
        return Ok((pwd.pw_uid, pwd.pw_gid));
    }
    if let Ok(uid) = name.parse::<u32>() {
        return Ok((uid, uid));
    }
    Err(format!("[daemon] user `{name}`: no such account"))
}

/// The gid of a group name or number.
#[allow(unsafe_code)]
fn lookup_group(name: &str) -> Result<u32, String> {
    let c = c_name("group", name)?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: a zeroed group is a valid out-parameter for getgrnam_r.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is its real size.
    let rc = unsafe { libc::getgrnam_r(c.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc == 0 && !found.is_null() {
        return Ok(grp.gr_gid);
    }
    name.parse::<u32>()
        .map_err(|_| format!("[daemon] group `{name}`: no such group"))
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// The switch itself: empty the bounding and ambient sets (possible only while root), set
/// the groups, then the gid and uid (which clears the permitted and effective sets), then
/// `no_new_privs`; and check that root cannot be had back.
#[allow(unsafe_code)]
fn switch(uid: u32, gid: u32) -> Result<(), String> {
    // SAFETY: prctl with these options only changes this thread's capability sets.
    unsafe {
        let last = last_cap();
        for cap in 0..=last {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                return Err(os_error("cannot empty the capability bounding set"));
            }
        }
        // Fails with EINVAL on kernels without ambient capabilities, where there are none.
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        let groups = [gid];
        if libc::setgroups(1, groups.as_ptr()) != 0 {
            return Err(os_error("setgroups"));
        }
        if libc::setresgid(gid, gid, gid) != 0 {
            return Err(os_error("setresgid"));
        }
        if libc::setresuid(uid, uid, uid) != 0 {
            return Err(os_error("setresuid"));
        }
        if libc::setuid(0) == 0 {
            return Err("root could be regained after switching: refusing to run".to_owned());
        }
    }
    clear_capabilities()?;
    no_new_privs()
}

/// The highest capability number this kernel knows.
fn last_cap() -> libc::c_ulong {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Empties the permitted, effective and inheritable sets (setresuid emptied the first two
/// already; the inheritable set is kept by the kernel across it).
#[allow(unsafe_code)]
fn clear_capabilities() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset reads a version-3 header and two data words, which is what we pass.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    if rc != 0 {
        return Err(os_error("capset"));
    }
    Ok(())
}

/// Makes sure nothing this process executes can gain privileges.
#[allow(unsafe_code)]
fn no_new_privs() -> Result<(), String> {
    // SAFETY: PR_SET_NO_NEW_PRIVS only sets a flag of this thread.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(os_error("cannot set no_new_privs"));
    }
    Ok(())
}

/// The account names in a message, for the start line.
pub fn describe(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Unprivileged => None,
        Outcome::StaysRoot => Some("running as root (--allow-root)".to_owned()),
        Outcome::Switched { uid, gid } => Some(format!("switched to uid {uid}, gid {gid} after binding")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_without_a_user_is_refused_unless_allowed() {
        // SAFETY: geteuid has no preconditions.
        #[allow(unsafe_code)]
        let root = unsafe { libc::geteuid() } == 0;
        if !root {
            // Unprivileged: nothing to refuse, and nothing changes.
            assert_eq!(
                drop_privileges(&Daemon::default(), false, &[Path::new("/nonexistent")]),
                Ok(Outcome::Unprivileged)
            );
            return;
        }
        let err = drop_privileges(&Daemon::default(), false, &[Path::new("/nonexistent")]).unwrap_err();
        assert!(
            err.contains("refusing to run as root") && err.contains("--allow-root"),
            "{err}"
        );
        assert_eq!(
            drop_privileges(&Daemon::default(), true, &[Path::new("/nonexistent")]),
            Ok(Outcome::StaysRoot)
        );
        let bad = Daemon {
            user: Some("no-such-user-here".into()),
            ..Daemon::default()
        };
        assert!(
            drop_privileges(&bad, false, &[Path::new("/nonexistent")])
                .unwrap_err()
                .contains("no such account")
        );
    }

    #[test]
    fn lookups_know_root_and_numbers() {
        assert_eq!(lookup_user("root"), Ok((0, 0)));
        assert_eq!(lookup_user("4242"), Ok((4242, 4242)));
        assert_eq!(lookup_group("4243"), Ok(4243));
        assert!(lookup_group("no-such-group-here").is_err());
    }
}
