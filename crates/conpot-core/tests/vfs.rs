//! The device's virtual filesystem: built from a template, paths resolved safely (each
//! escape form refused or kept inside with an event), writes under a quota captured
//! whole, listings with owner names, databus files read live, Conpot's FTP/TFTP folders
//! imported; property tests over arbitrary paths and operation sequences.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conpot_core::Device;
use conpot_core::rng::Rng;
use conpot_core::template::Template;
use conpot_core::value::Value;
use conpot_core::vfs::{
    Kind, MAX_DEPTH, MAX_NAME, MAX_PATH, PathError, Principal, VPath, VfsError, VfsLimits, View, WriteMode, resolve,
    resolve_logged,
};
use proptest::prelude::*;

const BOOT: u64 = 1_795_611_702; // 2026-11-25T13:01:42Z

fn boot() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(BOOT)
}

fn at(secs: u64) -> SystemTime {
    boot() + Duration::from_secs(secs)
}

const TEMPLATE: &str = r#"
[template]
unit = "CP 343-1"
vendor = "Siemens"
[persona]
hostname = "plc-17"
serial = "S C-X4U123452019"
[databus]
status = "RUN"
[filesystem]
owner = "root"
group = "root"
date = "2021-06-03T08:14:00Z"
[[filesystem.entries]]
path = "/data/ftp"
owner = "nobody"
group = "ftp"
mode = 0o775
recursive = true
[[filesystem.entries]]
path = "/data/ftp/readme.txt"
content = "Station {persona.hostname}, serial {persona.serial}\n"
mtime = 1533152352
[[filesystem.entries]]
path = "/data/ftp/status.txt"
databus = "status"
mode = "0644"
[[filesystem.entries]]
path = "/data/tftp"
kind = "dir"
[[filesystem.entries]]
path = "/etc/passwd"
content = "root:x:0:0::/root:/bin/sh\n"
mode = 0o600
"#;

fn device(text: &str) -> Device {
    let t = Template::from_toml("test", text).unwrap();
    let p = t.persona.generate("test", 7);
    Device::build(&t, p, boot(), &mut Rng::from_seed(1)).unwrap()
}

fn ftp_view(d: &Device) -> View {
    d.vfs.view("/data/ftp").unwrap()
}

fn nobody() -> Principal {
    Principal::new("nobody", ["ftp"])
}

fn p(s: &str) -> VPath {
    VPath::new(s).unwrap()
}

#[test]
fn tree_from_the_template_with_names_modes_times_and_persona_text() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    let list = ftp.list(&nobody(), &VPath::root(), at(5)).unwrap();
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["readme.txt", "status.txt"]);
    let readme = &list[0];
    let text = "Station plc-17, serial S C-X4U123452019\n";
    assert_eq!(readme.size, text.len() as u64);
    assert_eq!(readme.meta.owner, "nobody");
    assert_eq!(readme.meta.group, "ftp");
    // Inherited from the recursive directory above.
    assert_eq!(readme.mode_string(), "-rwxrwxr-x");
    assert_eq!(readme.meta.mtime, UNIX_EPOCH + Duration::from_secs(1_533_152_352));
    assert_eq!(readme.meta.atime, readme.meta.mtime);
    assert_eq!(list[1].mode_string(), "-rw-r--r--");
    let date = conpot_core::time::parse_rfc3339("2021-06-03T08:14:00Z").unwrap();
    assert_eq!(list[1].meta.mtime, date);
    assert_eq!(
        ftp.read(&nobody(), &p("readme.txt"), 0, usize::MAX, at(5)).unwrap(),
        text.as_bytes()
    );
    // The root of the whole tree and parents created implicitly have the defaults.
    let all = d.vfs.view("/").unwrap();
    let data = all.stat(&Principal::root(), &p("/data"), at(5)).unwrap();
    assert_eq!(
        (data.kind, data.meta.owner.as_str(), data.mode_string().as_str()),
        (Kind::Dir, "root", "drwxr-xr-x")
    );
    assert_eq!(data.nlink, 4);
    let root = all.stat(&Principal::root(), &VPath::root(), at(5)).unwrap();
    assert_eq!(root.name, "/");
    assert_eq!(root.size, 4096);
}

#[test]
fn default_times_are_the_devices_not_the_hosts() {
    let d = device(
        r#"
[template]
unit = "x"
vendor = "y"
[[filesystem.entries]]
path = "/a.txt"
content = "a"
[[filesystem.entries]]
path = "/b.txt"
content = "b"
"#,
    );
    let all = d.vfs.view("/").unwrap();
    let a = all.stat(&Principal::root(), &p("/a.txt"), at(1)).unwrap();
    let b = all.stat(&Principal::root(), &p("/b.txt"), at(1)).unwrap();
    for s in [&a, &b] {
        let age = boot().duration_since(s.meta.mtime).unwrap();
        assert!(
            age > Duration::from_secs(59 * 86_400) && age < Duration::from_secs(492 * 86_400),
            "{age:?}"
        );
    }
    // Files of one installation differ by minutes, not months.
    let gap = a
        .meta
        .mtime
        .max(b.meta.mtime)
        .duration_since(a.meta.mtime.min(b.meta.mtime))
        .unwrap();
    assert!(gap < Duration::from_secs(5400));
    // The same persona rebooted an hour later shows the same dates.
    let t = Template::from_toml(
        "test",
        "[template]\nunit = \"x\"\nvendor = \"y\"\n[[filesystem.entries]]\npath = \"/a.txt\"\ncontent = \"a\"\n",
    )
    .unwrap();
    let d2 = Device::build(&t, t.persona.generate("test", 7), at(3600), &mut Rng::from_seed(1)).unwrap();
    let a2 = d2
        .vfs
        .view("/")
        .unwrap()
        .stat(&Principal::root(), &p("/a.txt"), at(3601))
        .unwrap();
    assert_eq!(a2.meta.mtime, a.meta.mtime);
}

/// Each escape form: refused with `fs.refused`, or kept inside the root with `fs.escape`.
#[test]
fn every_escape_form_is_refused_or_kept_inside_with_an_event() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    let cwd = VPath::root();
    let mut events = Vec::new();

    // Climbing above the root stays at the root, as a chroot does; the attempt is an event.
    for (input, resolved) in [
        ("../../etc/passwd", "/etc/passwd"),
        ("/..", "/"),
        ("a/../../b", "/b"),
        ("../", "/"),
    ] {
        events.clear();
        let path = resolve_logged(&cwd, input, &mut events).unwrap();
        assert_eq!(path.as_str(), resolved, "{input}");
        assert_eq!(events.len(), 1, "{input}");
        assert_eq!(events[0].event_type, "fs.escape");
        assert_eq!(events[0].body.data["reason"], "above_root");
        assert_eq!(events[0].body.data["resolved"], resolved);
    }
    // The device's /etc/passwd is not reachable from FTP's jail: it names the jail's own.
    let escaped = resolve(&cwd, "../../etc/passwd").unwrap();
    assert_eq!(
        ftp.read(&nobody(), &escaped, 0, usize::MAX, at(1)),
        Err(VfsError::NotFound)
    );
    assert_eq!(
        ftp.stat(&nobody(), &resolve(&cwd, "/..").unwrap(), at(1)).unwrap().name,
        "/"
    );

    // Input no path can hold is refused, with the reason.
    let long_name = "n".repeat(MAX_NAME + 1);
    let long_path = "d/".repeat(MAX_PATH / 2 + 1);
    let deep = "d/".repeat(MAX_DEPTH + 1);
    for (input, err) in [
        ("ftp_data.txt\0.jpg", PathError::Nul),
        ("\\..\\..\\windows\\win.ini", PathError::Backslash),
        ("..\\", PathError::Backslash),
        ("x\r\n226 Transfer complete", PathError::Control),
        (long_name.as_str(), PathError::NameTooLong),
        (long_path.as_str(), PathError::TooLong),
        (deep.as_str(), PathError::TooDeep),
    ] {
        events.clear();
        assert_eq!(resolve_logged(&cwd, input, &mut events), Err(err), "{input:?}");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, "fs.refused");
        assert_eq!(events[0].body.data["reason"], err.as_str());
        let logged = events[0].body.data["path"].as_str().unwrap();
        assert!(!logged.contains('\0') && !logged.contains('\r'), "{logged:?}");
    }

    // A jail's own depth counts: a path valid inside it may not fit below its root.
    let near = "d/".repeat(MAX_DEPTH - 1);
    let rel = resolve(&cwd, &near).unwrap();
    assert_eq!(
        ftp.stat(&nobody(), &rel, at(1)),
        Err(VfsError::Path(PathError::TooDeep))
    );
}

#[test]
fn too_many_entries_are_refused_with_a_limit_event() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    let used = d.vfs.usage().entries;
    d.vfs.set_limits(VfsLimits {
        max_entries: used + 2,
        ..VfsLimits::default()
    });
    ftp.mkdir(&nobody(), &p("/one"), at(1)).unwrap();
    ftp.write(&nobody(), &p("/one/x"), WriteMode::Truncate, b"x", at(1))
        .unwrap();
    let err = ftp.mkdir(&nobody(), &p("/two"), at(1)).unwrap_err();
    assert_eq!(err, VfsError::TooMany);
    assert_eq!(
        ftp.write(&nobody(), &p("/y"), WriteMode::Truncate, b"y", at(1)),
        Err(VfsError::TooMany)
    );
    let e = err.limit_event(&p("/two")).unwrap();
    assert_eq!(e.event_type, "limit.hit");
    assert_eq!(e.body.data["limit"], "fs_max_entries");
    assert_eq!(e.body.data["path"], "/two");
    // Removing frees room again.
    ftp.delete(&nobody(), &p("/one/x"), at(2)).unwrap();
    ftp.mkdir(&nobody(), &p("/two"), at(2)).unwrap();
    assert_eq!(d.vfs.usage().entries, used + 2);
}

#[test]
fn quota_and_file_size_are_kept_and_freed() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    d.vfs.set_limits(VfsLimits {
        quota_bytes: 10,
        max_file: 8,
        max_entries: 100,
    });
    let who = nobody();
    ftp.write(&who, &p("a"), WriteMode::Truncate, b"123456", at(1)).unwrap();
    assert_eq!(d.vfs.usage().bytes, 6);
    let err = ftp
        .write(&who, &p("b"), WriteMode::Truncate, b"12345", at(1))
        .unwrap_err();
    assert_eq!(err, VfsError::QuotaExceeded);
    assert_eq!(err.limit_event(&p("b")).unwrap().body.data["limit"], "fs_quota");
    assert_eq!(ftp.stat(&who, &p("b"), at(1)), Err(VfsError::NotFound));
    assert_eq!(
        ftp.write(&who, &p("a"), WriteMode::Append, b"789", at(1)),
        Err(VfsError::FileTooLarge)
    );
    // Overwriting replaces the file's bytes in the count.
    ftp.write(&who, &p("a"), WriteMode::Truncate, b"12", at(2)).unwrap();
    ftp.write(&who, &p("b"), WriteMode::Truncate, b"12345678", at(2))
        .unwrap();
    assert_eq!(d.vfs.usage().bytes, 10);
    ftp.delete(&who, &p("b"), at(3)).unwrap();
    assert_eq!(d.vfs.usage().bytes, 2);
    // What was refused can still be captured.
    let c = ftp.refused_capture(
        &who,
        &p("big"),
        WriteMode::Truncate,
        b"0123456789abc",
        VfsError::FileTooLarge,
    );
    assert_eq!(c.bytes, b"0123456789abc");
    assert_eq!(c.data["refused"], "file_too_large");
}

#[test]
fn a_write_yields_the_capture_of_the_whole_file() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    let who = nobody();
    let c = ftp
        .write(&who, &p("/up/../mal.bin"), WriteMode::Truncate, b"\x7fELF\x01", at(10))
        .unwrap();
    assert_eq!(c.name, "/mal.bin");
    assert_eq!(c.bytes, b"\x7fELF\x01");
    assert_eq!(c.original_len, 5);
    assert_eq!(c.data["vfs_path"], "/data/ftp/mal.bin");
    assert_eq!(c.data["write_mode"], "truncate");
    assert_eq!(c.data["owner"], "nobody");
    let c = ftp
        .write(&who, &p("mal.bin"), WriteMode::Append, b"AB", at(11))
        .unwrap();
    assert_eq!(c.bytes, b"\x7fELF\x01AB");
    assert_eq!(c.data["sent"], 2);
    let c = ftp.write(&who, &p("mal.bin"), WriteMode::At(1), b"xy", at(12)).unwrap();
    assert_eq!(c.bytes, b"\x7fxyF\x01AB");
    assert_eq!(c.data["offset"], 1);
    assert_eq!(
        ftp.write(&who, &p("mal.bin"), WriteMode::At(99), b"z", at(12)),
        Err(VfsError::InvalidOffset)
    );
    assert_eq!(
        ftp.write(&who, &p("mal.bin"), WriteMode::CreateNew, b"z", at(12)),
        Err(VfsError::Exists)
    );
    // The capture store hashes it as any other capture.
    let dir = std::env::temp_dir().join(format!("conpot-vfs-capture-{}", conpot_core::rng::entropy_u64()));
    let store = conpot_core::capture::FileStore::new(dir.clone(), 1 << 20, 1 << 20);
    let e = store.store(c);
    assert_eq!(
        e.body.data["sha256"],
        conpot_core::capture::hex_digest(b"\x7fxyF\x01AB")
    );
    assert_eq!(e.body.data["vfs_path"], "/data/ftp/mal.bin");
    assert_eq!(e.body.data["name"], "/mal.bin");
    // The store's own `path` (where it keeps the file) is not overwritten by the capture's.
    assert!(e.body.data["path"].as_str().unwrap().starts_with(dir.to_str().unwrap()));
    let _ = std::fs::remove_dir_all(dir);
    // The file belongs to its writer, with the filesystem's file mode, at the write's time.
    let s = ftp.stat(&who, &p("mal.bin"), at(13)).unwrap();
    assert_eq!((s.meta.owner.as_str(), s.meta.group.as_str()), ("nobody", "ftp"));
    assert_eq!(s.mode_string(), "-rw-r--r--");
    assert_eq!(s.meta.mtime, at(12));
    // Another protocol of the device sees the same file.
    let all = d.vfs.view("/").unwrap();
    assert_eq!(
        all.read(&Principal::root(), &p("/data/ftp/mal.bin"), 1, 2, at(14))
            .unwrap(),
        b"xy"
    );
}

#[test]
fn databus_files_are_read_live_and_detach_when_written() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    let who = nobody();
    assert_eq!(ftp.read(&who, &p("status.txt"), 0, usize::MAX, at(1)).unwrap(), b"RUN");
    d.databus.set("status", Value::Str("STOP".into()));
    assert_eq!(ftp.read(&who, &p("status.txt"), 0, usize::MAX, at(2)).unwrap(), b"STOP");
    assert_eq!(ftp.stat(&who, &p("status.txt"), at(2)).unwrap().size, 4);
    d.databus.set("status", Value::List(vec![Value::Int(1), Value::Int(2)]));
    assert_eq!(
        ftp.read(&who, &p("status.txt"), 0, usize::MAX, at(3)).unwrap(),
        b"[1, 2]"
    );
    // A huge value is cut at the largest file size, never rendered whole.
    d.vfs.set_limits(VfsLimits {
        max_file: 10,
        ..VfsLimits::default()
    });
    d.databus.set("status", Value::List(vec![Value::Int(12345); 100_000]));
    assert_eq!(
        ftp.read(&who, &p("status.txt"), 0, usize::MAX, at(4)).unwrap(),
        b"[12345, 12"
    );
    d.vfs.set_limits(VfsLimits::default());
    // Written, the file holds what was written and no longer follows the key.
    ftp.write(&who, &p("status.txt"), WriteMode::Truncate, b"mine", at(5))
        .unwrap();
    d.databus.set("status", Value::Str("RUN".into()));
    assert_eq!(ftp.read(&who, &p("status.txt"), 0, usize::MAX, at(6)).unwrap(), b"mine");
}

#[test]
fn unix_permissions_decide() {
    let d = device(TEMPLATE);
    let all = d.vfs.view("/").unwrap();
    let ftp = ftp_view(&d);
    let guest = Principal::new("guest", ["users"]);
    let member = Principal::new("test_user", ["ftp"]);
    // /etc/passwd is 0600 root: nobody else reads it.
    assert_eq!(
        all.read(&guest, &p("/etc/passwd"), 0, 10, at(1)),
        Err(VfsError::PermissionDenied)
    );
    assert!(all.read(&Principal::root(), &p("/etc/passwd"), 0, 4, at(1)).is_ok());
    // The jail is 0775 nobody:ftp: group members write, others do not.
    assert!(ftp.mkdir(&member, &p("/incoming"), at(1)).is_ok());
    assert_eq!(ftp.mkdir(&guest, &p("/x"), at(1)), Err(VfsError::PermissionDenied));
    assert_eq!(
        ftp.write(&guest, &p("/x"), WriteMode::Truncate, b"", at(1)),
        Err(VfsError::PermissionDenied)
    );
    assert_eq!(
        ftp.delete(&guest, &p("/readme.txt"), at(1)),
        Err(VfsError::PermissionDenied)
    );
    // The root directory is 0755 root: nobody creates at the top.
    assert_eq!(all.mkdir(&nobody(), &p("/tmp"), at(1)), Err(VfsError::PermissionDenied));
    // chmod: the owner only (not a group member with write permission).
    assert_eq!(
        ftp.chmod(&member, &p("/readme.txt"), 0o777),
        Err(VfsError::PermissionDenied)
    );
    ftp.chmod(&nobody(), &p("/readme.txt"), 0o640).unwrap();
    assert_eq!(ftp.chmod(&nobody(), &p("/readme.txt"), 0o10000), Err(VfsError::Invalid));
    assert_eq!(
        ftp.stat(&guest, &p("/readme.txt"), at(2)).unwrap().mode_string(),
        "-rw-r-----"
    );
    assert_eq!(
        ftp.read(&guest, &p("/readme.txt"), 0, 10, at(2)),
        Err(VfsError::PermissionDenied)
    );
    // A directory without search permission hides what is in it.
    ftp.chmod(&member, &p("/incoming"), 0o700).unwrap();
    ftp.write(&member, &p("/incoming/f"), WriteMode::Truncate, b"f", at(3))
        .unwrap();
    assert_eq!(
        ftp.stat(&nobody(), &p("/incoming/f"), at(3)),
        Err(VfsError::PermissionDenied)
    );
    assert!(ftp.stat(&Principal::root(), &p("/incoming/f"), at(3)).is_ok());
}

#[test]
fn directory_operations() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    let who = nobody();
    ftp.mkdir(&who, &p("/a"), at(1)).unwrap();
    assert_eq!(ftp.mkdir(&who, &p("/a"), at(1)), Err(VfsError::Exists));
    assert_eq!(ftp.mkdir(&who, &p("/"), at(1)), Err(VfsError::Exists));
    assert_eq!(ftp.mkdir(&who, &p("/none/b"), at(1)), Err(VfsError::NotFound));
    assert_eq!(
        ftp.mkdir(&who, &p("/readme.txt/b"), at(1)),
        Err(VfsError::NotADirectory)
    );
    ftp.mkdir(&who, &p("/a/b"), at(2)).unwrap();
    assert_eq!(ftp.stat(&who, &p("/a"), at(2)).unwrap().meta.mtime, at(2));
    assert_eq!(ftp.rmdir(&who, &p("/a"), at(3)), Err(VfsError::NotEmpty));
    assert_eq!(ftp.rmdir(&who, &p("/"), at(3)), Err(VfsError::Busy));
    assert_eq!(ftp.rmdir(&who, &p("/readme.txt"), at(3)), Err(VfsError::NotADirectory));
    assert_eq!(ftp.delete(&who, &p("/a"), at(3)), Err(VfsError::IsADirectory));
    assert_eq!(ftp.read(&who, &p("/a"), 0, 1, at(3)), Err(VfsError::IsADirectory));
    assert_eq!(ftp.list(&who, &p("/readme.txt"), at(3)), Err(VfsError::NotADirectory));
    // rename: files and whole directories, never into themselves or over the root.
    ftp.write(&who, &p("/a/b/f"), WriteMode::Truncate, b"f", at(4)).unwrap();
    assert_eq!(ftp.rename(&who, &p("/a"), &p("/a/b/c"), at(5)), Err(VfsError::Invalid));
    assert_eq!(ftp.rename(&who, &p("/"), &p("/x"), at(5)), Err(VfsError::Busy));
    assert_eq!(ftp.rename(&who, &p("/a"), &p("/"), at(5)), Err(VfsError::Busy));
    assert_eq!(
        ftp.rename(&who, &p("/a"), &p("/readme.txt"), at(5)),
        Err(VfsError::NotADirectory)
    );
    assert_eq!(
        ftp.rename(&who, &p("/readme.txt"), &p("/a"), at(5)),
        Err(VfsError::IsADirectory)
    );
    ftp.rename(&who, &p("/a"), &p("/z"), at(5)).unwrap();
    assert_eq!(ftp.read(&who, &p("/z/b/f"), 0, 9, at(5)).unwrap(), b"f");
    assert_eq!(ftp.stat(&who, &p("/a"), at(5)), Err(VfsError::NotFound));
    let entries = d.vfs.usage().entries;
    ftp.rename(&who, &p("/z/b/f"), &p("/readme.txt"), at(6)).unwrap();
    assert_eq!(d.vfs.usage().entries, entries - 1);
    assert_eq!(ftp.read(&who, &p("/readme.txt"), 0, 9, at(6)).unwrap(), b"f");
    // A move may not take a subtree past the depth bound.
    let mut deep = VPath::root();
    for _ in 0..(MAX_DEPTH - 3) {
        deep = resolve(&deep, "d").unwrap();
        ftp.mkdir(&who, &deep, at(7)).unwrap();
    }
    assert_eq!(
        ftp.rename(&who, &p("/z"), &resolve(&deep, "z").unwrap(), at(8)),
        Err(VfsError::Path(PathError::TooDeep))
    );
}

#[test]
fn views_share_one_tree_and_jails_stay_shut() {
    let d = device(TEMPLATE);
    let ftp = ftp_view(&d);
    let tftp = d.vfs.view("/data/tftp").unwrap();
    assert_eq!(d.vfs.view("/data/ftp/readme.txt").unwrap_err(), VfsError::NotADirectory);
    assert_eq!(d.vfs.view("/nothing").unwrap_err(), VfsError::NotFound);
    assert_eq!(tftp.root().as_str(), "/data/tftp");
    let who = Principal::root();
    tftp.write(&who, &p("/fw.bin"), WriteMode::Truncate, b"fw", at(1))
        .unwrap();
    assert!(ftp.stat(&who, &p("/fw.bin"), at(1)).is_err());
    // Above the jail root, nothing is named: `/../tftp` is the jail's own `/tftp`.
    let up = resolve(&VPath::root(), "/../tftp/fw.bin").unwrap();
    assert_eq!(ftp.stat(&who, &up, at(1)), Err(VfsError::NotFound));
    let all = d.vfs.view("/").unwrap();
    assert_eq!(all.read(&who, &p("/data/tftp/fw.bin"), 0, 9, at(1)).unwrap(), b"fw");
}

#[test]
fn template_errors_name_the_key() {
    let base = "[template]\nunit = \"x\"\nvendor = \"y\"\n[databus]\nk = 1\n";
    let cases = [
        ("[filesystem]\nfile_mode = 0o17777\n", "filesystem.file_mode"),
        ("[filesystem]\nowner = \"a b\"\n", "filesystem.owner"),
        ("[filesystem]\ndate = \"yesterday\"\n", "filesystem.date"),
        ("[filesystem]\nsize = 1\n", "filesystem.size"),
        ("[[filesystem.entries]]\npath = \"a\"\n", "filesystem.entries[0].path"),
        (
            "[[filesystem.entries]]\npath = \"/a/../b\"\n",
            "filesystem.entries[0].path",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\\u0000\"\n",
            "filesystem.entries[0].path",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\n[[filesystem.entries]]\npath = \"/a/\"\n",
            "filesystem.entries[1].path",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\nkind = \"link\"\n",
            "filesystem.entries[0].kind",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\nkind = \"dir\"\ncontent = \"x\"\n",
            "filesystem.entries[0].content",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\ncontent = \"x\"\nsource = \"y\"\n",
            "filesystem.entries[0]",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\nsource = \"missing.bin\"\n",
            "filesystem.entries[0].source",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\nsource = \"../../etc/shadow\"\n",
            "filesystem.entries[0].source",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\ndatabus = \"nope\"\n",
            "filesystem.entries[0].databus",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\ncontent = \"{persona.nope}\"\n",
            "filesystem.entries[0].content",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\nmode = \"rwx\"\n",
            "filesystem.entries[0].mode",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\nmtime = -5\n",
            "filesystem.entries[0].mtime",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\ncontent = \"x\"\nrecursive = true\n",
            "filesystem.entries[0].recursive",
        ),
        (
            "[[filesystem.entries]]\npath = \"/a\"\ncontent = \"x\"\n[[filesystem.entries]]\npath = \"/a/b\"\n",
            "filesystem.entries[1]",
        ),
    ];
    for (text, key) in cases {
        let errs = Template::from_toml("t", &format!("{base}{text}")).unwrap_err();
        assert!(errs.iter().any(|e| e.key == key), "{text}: {errs:?}");
    }
    // Native TOML date-times and epoch floats are times too.
    let t = Template::from_toml(
        "t",
        &format!("{base}[filesystem]\ndate = 2019-03-14T09:12:00Z\n[[filesystem.entries]]\npath = \"/a\"\nmtime = 1533152352.5\n"),
    )
    .unwrap();
    assert_eq!(
        t.filesystem.date,
        conpot_core::time::parse_rfc3339("2019-03-14T09:12:00Z")
    );
}

#[test]
fn template_relative_files_with_and_without_persona_text() {
    let dir = std::env::temp_dir().join(format!("conpot-vfs-tpl-{}", conpot_core::rng::entropy_u64()));
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(dir.join("files/fw.bin"), [0u8, 1, 2, 0xff]).unwrap();
    std::fs::write(dir.join("files/net.cfg"), "hostname={persona.hostname}\n").unwrap();
    std::fs::write(
        dir.join("template.toml"),
        r#"
[template]
unit = "x"
vendor = "y"
[persona]
hostname = "rtu-4"
[[filesystem.entries]]
path = "/fw/fw.bin"
source = "files/fw.bin"
[[filesystem.entries]]
path = "/etc/net.cfg"
source = "files/net.cfg"
render = true
[[filesystem.entries]]
path = "/etc/raw.cfg"
source = "files/net.cfg"
"#,
    )
    .unwrap();
    let t = Template::load_dir(&dir).unwrap();
    let d = Device::build(&t, t.persona.generate("x", 1), boot(), &mut Rng::from_seed(1)).unwrap();
    let all = d.vfs.view("/").unwrap();
    let r = |path: &str| all.read(&Principal::root(), &p(path), 0, usize::MAX, at(1)).unwrap();
    assert_eq!(r("/fw/fw.bin"), [0u8, 1, 2, 0xff]);
    assert_eq!(r("/etc/net.cfg"), b"hostname=rtu-4\n");
    assert_eq!(r("/etc/raw.cfg"), b"hostname={persona.hostname}\n");
    let _ = std::fs::remove_dir_all(dir);
}

/// A Conpot template folder, written here: FTP's `<ftp_vfs>` and TFTP's root.
#[test]
fn conpot_ftp_and_tftp_folders_are_imported() {
    let dir = std::env::temp_dir().join(format!("conpot-vfs-xml-{}", conpot_core::rng::entropy_u64()));
    std::fs::create_dir_all(dir.join("ftp")).unwrap();
    std::fs::create_dir_all(dir.join("tftp")).unwrap();
    std::fs::write(
        dir.join("template.xml"),
        r#"<core><template><entity name="unit">S7-200</entity><entity name="vendor">Siemens</entity></template>
           <databus><key_value_mappings/></databus></core>"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("ftp/ftp.xml"),
        r#"<ftp enabled="True" host="0.0.0.0" port="2121">
  <ftp_users>
    <users group="45:ftp">
      <user uid="13"><uname>nobody</uname><password>nobody</password></user>
      <user uid="10"><uname>test_user</uname><password>test</password></user>
    </users>
    <anon_login enabled="True" uid="32"><uname>ftp</uname></anon_login>
  </ftp_users>
  <ftp_vfs>
    <path>/data/ftp/</path>
    <add_src></add_src>
    <default_owner>13</default_owner>
    <default_perms>0o777</default_perms>
    <file path="/data/ftp/ftp_data.txt">
      <owner_uid>10</owner_uid>
      <perms>0o644</perms>
      <last_accessed>1533152352.517261</last_accessed>
      <last_modified>1533152352.517261</last_modified>
    </file>
    <file path="/logs/run.log">
      <owner_uid>99</owner_uid>
      <perms>0o600</perms>
    </file>
    <dir path="/" recursive="True">
      <owner_uid>32</owner_uid>
      <perms>0o775</perms>
      <last_accessed>1533148068.517261</last_accessed>
      <last_modified>1533148068.517261</last_modified>
    </dir>
  </ftp_vfs>
</ftp>"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("tftp/tftp.xml"),
        r#"<tftp enabled="True" host="0.0.0.0" port="6969"><tftp_root_path>/DATA/tftp/</tftp_root_path><add_src></add_src></tftp>"#,
    )
    .unwrap();
    let t = Template::load_dir(&dir).unwrap();
    assert!(
        t.warnings
            .iter()
            .any(|w| w.contains("ftp_data.txt") && w.contains("empty")),
        "{:?}",
        t.warnings
    );
    let d = Device::build(&t, t.persona.generate("x", 1), boot(), &mut Rng::from_seed(1)).unwrap();
    let ftp = d.vfs.view("/data/ftp").unwrap();
    let root = ftp.stat(&Principal::root(), &VPath::root(), at(1)).unwrap();
    assert_eq!((root.meta.owner.as_str(), root.meta.group.as_str()), ("ftp", "ftp"));
    assert_eq!(root.mode_string(), "drwxrwxr-x");
    assert_eq!(root.meta.mtime, UNIX_EPOCH + Duration::from_secs_f64(1533148068.517261));
    let list = ftp.list(&Principal::root(), &VPath::root(), at(1)).unwrap();
    let lines: Vec<String> = list
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {} {}",
                s.mode_string(),
                s.meta.owner,
                s.meta.group,
                s.size,
                s.name
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "-rw-r--r-- test_user ftp 0 ftp_data.txt",
            "drwxrwxr-x ftp ftp 4096 logs"
        ]
    );
    let data = &list[0];
    assert_eq!(data.meta.mtime, UNIX_EPOCH + Duration::from_secs_f64(1533152352.517261));
    // A jail-relative path lands inside the jail; an unknown uid shows as its number.
    let log = ftp.stat(&Principal::root(), &p("/logs/run.log"), at(1)).unwrap();
    assert_eq!(
        (log.meta.owner.as_str(), log.mode_string().as_str()),
        ("99", "-rw-------")
    );
    // TFTP's root (lower-cased, as Conpot does) is owned by root.
    let tftp = d.vfs.view("/data/tftp").unwrap();
    let s = tftp.stat(&Principal::root(), &VPath::root(), at(1)).unwrap();
    assert_eq!(
        (s.meta.owner.as_str(), s.mode_string().as_str()),
        ("root", "drwxr-xr-x")
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Conpot's own `default` template: its FTP and TFTP folders.
#[test]
fn conpot_default_template_imports() {
    let dir = conpot_testkit::conpot_templates().join("default");
    let t = Template::load_dir(&dir).unwrap();
    let d = Device::build(&t, t.persona.generate("default", 1), boot(), &mut Rng::from_seed(1)).unwrap();
    let ftp = d.vfs.view("/data/ftp").unwrap();
    let list = ftp.list(&Principal::root(), &VPath::root(), at(1)).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "ftp_data.txt");
    assert_eq!(list[0].meta.owner, "nobody");
    assert_eq!(list[0].meta.group, "ftp");
    assert_eq!(list[0].mode_string(), "-rwxrwxrwx");
    assert!(d.vfs.view("/data/tftp").is_ok());
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just(String::new()),
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("\\..".to_owned()),
        Just("\0".to_owned()),
        Just("é".to_owned()),
        "[a-z]{200,260}",
        any::<String>(),
    ]
}

fn path_strategy() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(name_strategy(), 0..50)).prop_map(|(abs, names)| {
        let joined = names.join("/");
        if abs { format!("/{joined}") } else { joined }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Whatever the input, the result is inside the root and within every bound.
    #[test]
    fn resolution_never_escapes_and_keeps_the_bounds(cwd in path_strategy(), input in path_strategy()) {
        let cwd = resolve(&VPath::root(), &cwd).unwrap_or_default();
        match resolve(&cwd, &input) {
            Ok(p) => {
                let s = p.as_str();
                prop_assert!(s.starts_with('/'));
                prop_assert!(s.len() <= MAX_PATH);
                prop_assert!(p.depth() <= MAX_DEPTH);
                prop_assert!(s == "/" || !s.ends_with('/'));
                for c in p.components() {
                    prop_assert!(!c.is_empty() && c != "." && c != "..");
                    prop_assert!(c.len() <= MAX_NAME);
                    prop_assert!(!c.chars().any(|ch| ch == '\\' || ch.is_control()));
                }
                // Resolving the result again changes nothing.
                prop_assert_eq!(resolve(&VPath::root(), s).unwrap(), p.clone());
                // Inside a jail, the full path stays below the jail's root.
                let jail = VPath::new("/data/ftp").unwrap();
                if let Ok(full) = jail.join(&p) {
                    prop_assert!(full.starts_with(&jail));
                    prop_assert_eq!(full.strip_prefix(&jail).unwrap(), p);
                }
            }
            Err(e) => {
                let ev = conpot_core::vfs::refused_event(&input, &e);
                prop_assert_eq!(ev.body.data["reason"].as_str(), Some(e.as_str()));
            }
        }
    }

    /// Arbitrary bytes (lossily decoded, as a protocol would) never panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let text = String::from_utf8_lossy(&bytes);
        let mut events = Vec::new();
        let r = resolve_logged(&VPath::root(), &text, &mut events);
        prop_assert!(r.is_ok() || events.len() == 1);
    }

}

/// Short paths over a few names, so operations meet each other's files.
fn op_path() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![1 => Just(".."), 4 => Just("a"), 4 => Just("b"), 4 => Just("c"), 1 => Just("")],
        1..5,
    )
    .prop_map(|names| names.join("/"))
}

/// Writes and creations more often than the rest, so the limits are met.
fn op_kind() -> impl Strategy<Value = u8> {
    prop_oneof![3 => 0u8..4, 1 => 4u8..8]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Any sequence of operations keeps the books: the quota and node limit hold, and
    /// the counts match what a walk of the tree finds.
    #[test]
    fn operation_sequences_keep_the_limits(ops in prop::collection::vec((op_kind(), op_path(), op_path(), prop::collection::vec(any::<u8>(), 0..40)), 1..60)) {
        let d = device(TEMPLATE);
        let limits = VfsLimits { quota_bytes: 100, max_file: 64, max_entries: 20 };
        d.vfs.set_limits(limits);
        let ftp = ftp_view(&d);
        let who = nobody();
        let mut cwd = VPath::root();
        for (i, (op, a, b, data)) in ops.into_iter().enumerate() {
            let now = at(i as u64);
            let mut events = Vec::new();
            let (Ok(pa), Ok(pb)) = (resolve_logged(&cwd, &a, &mut events), resolve_logged(&cwd, &b, &mut events)) else {
                prop_assert!(!events.is_empty());
                continue;
            };
            let _ = match op {
                0 => ftp.write(&who, &pa, WriteMode::Truncate, &data, now).map(|c| assert!(c.bytes.len() <= 64)),
                1 => ftp.write(&who, &pa, WriteMode::Append, &data, now).map(drop),
                2 => ftp.write(&who, &pa, WriteMode::At(data.len() as u64 % 7), &data, now).map(drop),
                3 => ftp.mkdir(&who, &pa, now),
                4 => ftp.rmdir(&who, &pa, now),
                5 => ftp.delete(&who, &pa, now),
                6 => ftp.rename(&who, &pa, &pb, now),
                _ => {
                    if ftp.stat(&who, &pa, now).is_ok_and(|s| s.kind == Kind::Dir) {
                        cwd = pa;
                    }
                    Ok(())
                }
            };
            let u = d.vfs.usage();
            prop_assert!(u.bytes <= limits.quota_bytes);
            prop_assert!(u.entries <= limits.max_entries);
        }
        // Walk the whole tree: node count and overlay bytes agree with the books.
        let all = d.vfs.view("/").unwrap();
        let root = Principal::root();
        let (mut nodes, mut stack) = (1usize, vec![VPath::root()]);
        let mut bytes = 0u64;
        while let Some(dir) = stack.pop() {
            for s in all.list(&root, &dir, at(999)).unwrap() {
                nodes += 1;
                let child = resolve(&dir, &s.name).unwrap();
                prop_assert!(child.depth() <= MAX_DEPTH && child.as_str().len() <= MAX_PATH);
                if s.kind == Kind::Dir {
                    stack.push(child);
                } else if child.starts_with(&VPath::new("/data/ftp").unwrap()) && s.meta.mtime >= at(0) {
                    bytes += s.size;
                }
            }
        }
        prop_assert_eq!(nodes, d.vfs.usage().entries);
        prop_assert_eq!(bytes, d.vfs.usage().bytes);
    }
}

#[test]
fn one_tree_per_device_shared_through_the_device() {
    let d = device(TEMPLATE);
    let clone = d.clone();
    assert!(Arc::ptr_eq(&d.vfs, &clone.vfs));
}
