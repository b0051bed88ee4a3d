//! Arbitrary text through the filesystem's path resolution, then through a jail and the
//! operations a protocol runs on what it resolved: never outside the root, never past a
//! bound, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use conpot_core::vfs::{
    FilesystemSpec, MAX_DEPTH, MAX_NAME, MAX_PATH, Principal, VPath, Vfs, WriteMode, refused_event, resolve,
};
use libfuzzer_sys::fuzz_target;

/// One small tree shared by every run (its limits keep it small however long the run).
fn vfs() -> &'static Arc<Vfs> {
    static VFS: OnceLock<Arc<Vfs>> = OnceLock::new();
    VFS.get_or_init(|| {
        let persona = conpot_core::persona::Persona {
            template: "fuzz".into(),
            seed: 0,
            values: Default::default(),
        };
        let databus = Arc::new(conpot_core::databus::Databus::new());
        let vfs = Vfs::build(&FilesystemSpec::default(), &persona, databus, SystemTime::UNIX_EPOCH).unwrap();
        vfs.set_limits(conpot_core::vfs::VfsLimits {
            quota_bytes: 1 << 16,
            max_file: 1 << 12,
            max_entries: 256,
        });
        Arc::new(vfs)
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // A first line names the working directory, the rest the path typed.
    let (cwd, input) = text.split_once('\n').unwrap_or(("/", &text));
    let cwd = resolve(&VPath::root(), cwd).unwrap_or_default();
    let path = match resolve(&cwd, input) {
        Ok(p) => p,
        Err(e) => {
            let ev = refused_event(input, &e);
            assert_eq!(ev.body.data["reason"].as_str(), Some(e.as_str()));
            return;
        }
    };
    let s = path.as_str();
    assert!(s.starts_with('/') && s.len() <= MAX_PATH && path.depth() <= MAX_DEPTH);
    assert!(path.components().all(|c| c != "." && c != ".." && !c.is_empty() && c.len() <= MAX_NAME));
    assert_eq!(resolve(&VPath::root(), s).unwrap(), path);
    let jail_root = VPath::new("/jail").unwrap();
    if let Ok(full) = jail_root.join(&path) {
        assert!(full.starts_with(&jail_root));
    }
    let all = vfs().view("/").unwrap();
    let root = Principal::root();
    let now = SystemTime::UNIX_EPOCH;
    let _ = all.mkdir(&root, &jail_root, now);
    let jail = vfs().view("/jail").unwrap();
    let _ = jail.mkdir(&root, &path, now);
    let _ = jail.write(&root, &path, WriteMode::Append, data, now);
    let _ = jail.stat(&root, &path, now);
    let _ = jail.list(&root, &path, now);
    let _ = jail.read(&root, &path, 0, 64, now);
    if data.first().is_some_and(|b| b % 2 == 0) {
        let _ = jail.delete(&root, &path, now);
        let _ = jail.rmdir(&root, &path, now);
    }
    assert!(vfs().usage().entries <= 256);
});
