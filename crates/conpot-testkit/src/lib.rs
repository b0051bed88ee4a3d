//! Helpers for the tests of conpot-rs: find Conpot's own templates (and its sample
//! `testing.cfg`) on any machine, so a fresh clone passes its tests; and, in [`process`],
//! start the `conpot` binary and read what it prints and logs; in [`modbus`], ask it a
//! Modbus question.
//!
//! Conpot's templates are looked for, in order:
//! 1. `$CONPOT_TEMPLATES`, a folder holding Conpot's template folders (`default/`, ...);
//! 2. `<repository>/../shared/conpot-templates`, where it exists (skipped when
//!    `$CONPOT_NO_SHARED` is set to anything but `0`, to try the next way on a machine that
//!    has it);
//! 3. Conpot's source package from PyPI, fetched once with pip (pinned by its SHA-256),
//!    unpacked into `<target>/conpot-0.6.0/` (or `$CONPOT_TEMPLATES_CACHE`), and read from
//!    `conpot-0.6.0/conpot/templates` inside it. A lock file keeps parallel test binaries
//!    from fetching it twice, and the unpacked folder is moved into place in one rename, so
//!    nobody ever sees half of it.
//!
//! The PyPI release (0.6.0) and `../shared` (Conpot's later sources) differ a little: the
//! release lacks the `snmp` template and the `xsd/` folder, keeps `testing.cfg` beside the
//! templates folder rather than in it, and its `IEC104` template serves SNMP on port 161 (not
//! 16100) with a few fixed values where the later one uses emulators. `default` is the same.

pub mod modbus;
pub mod process;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The Conpot release fetched from PyPI when no copy is at hand.
pub const CONPOT_VERSION: &str = "0.6.0";

/// SHA-256 of `conpot-0.6.0.tar.gz` on PyPI: pip refuses any other file, and so do we.
const SDIST_SHA256: &str = "adddee0e857b0626106e16477aff5b7f3e88795b407d1a84258171485846c9fd";

/// The folder of Conpot's templates (`default/`, `IEC104/`, ...), found or fetched once per
/// process. Panics with the reason when there is no way to get them (tests cannot go on).
pub fn conpot_templates() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(|| locate(&Settings::from_env())) {
        Ok(p) => p.clone(),
        Err(e) => panic!("Conpot's templates are not available: {e}"),
    }
}

/// Conpot's sample configuration `testing.cfg` (`[json] enabled = False`), from the same
/// copy as [`conpot_templates`]: inside the templates folder in `../shared`, beside it in
/// the PyPI package.
pub fn conpot_testing_cfg() -> PathBuf {
    let templates = conpot_templates();
    let inside = templates.join("testing.cfg");
    if inside.is_file() {
        return inside;
    }
    templates.parent().map_or(inside.clone(), |p| p.join("testing.cfg"))
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// Where to look, as read from the environment (a value, so tests can vary it).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `$CONPOT_TEMPLATES`.
    pub templates: Option<PathBuf>,
    /// The `../shared/conpot-templates` of the repository, unless `$CONPOT_NO_SHARED`.
    pub shared: Option<PathBuf>,
    /// Folder the PyPI package is unpacked into.
    pub cache: PathBuf,
}

impl Settings {
    /// The settings of this process's environment.
    pub fn from_env() -> Settings {
        let no_shared = std::env::var_os("CONPOT_NO_SHARED").is_some_and(|v| !v.is_empty() && v != "0");
        let root = repo_root();
        Settings {
            templates: std::env::var_os("CONPOT_TEMPLATES")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            shared: (!no_shared).then(|| root.join("../shared/conpot-templates")),
            cache: std::env::var_os("CONPOT_TEMPLATES_CACHE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| target_dir(&root).join(format!("conpot-{CONPOT_VERSION}"))),
        }
    }
}

/// Finds the templates as `settings` say, fetching the PyPI package if need be.
pub fn locate(settings: &Settings) -> Result<PathBuf, String> {
    if let Some(dir) = &settings.templates {
        return if dir.join("default").is_dir() {
            Ok(dir.clone())
        } else {
            Err(format!(
                "CONPOT_TEMPLATES={} does not hold Conpot's template folders (no default/ in it)",
                dir.display()
            ))
        };
    }
    if let Some(dir) = settings.shared.as_ref().filter(|d| d.join("default").is_dir()) {
        return Ok(dir.clone());
    }
    cached(&settings.cache, &|into: &Path| fetch_sdist(&repo_root(), into))
}

/// The templates folder inside an unpacked package in `cache`.
fn templates_in(cache: &Path) -> PathBuf {
    cache.join(format!("conpot-{CONPOT_VERSION}/conpot/templates"))
}

/// Returns the templates in `cache`, filling it first with `fetch` (which unpacks the
/// package into the empty folder it is given) when they are not there yet. Under a lock
/// beside `cache`, so concurrent callers (threads or processes) fetch once; the fetched
/// folder becomes `cache` in one rename.
pub fn cached(cache: &Path, fetch: &dyn Fn(&Path) -> Result<(), String>) -> Result<PathBuf, String> {
    let found = templates_in(cache);
    if found.join("default").is_dir() {
        return Ok(found);
    }
    let parent = cache
        .parent()
        .ok_or_else(|| format!("{} has no parent folder", cache.display()))?;
    std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let name = cache.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let lock_path = parent.join(format!("{name}.lock"));
    let lock = std::fs::File::create(&lock_path).map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // Someone else may have filled it while we waited.
    if found.join("default").is_dir() {
        return Ok(found);
    }
    if cache.exists() {
        // A folder without the templates is not ours to trust: start over.
        std::fs::remove_dir_all(cache).map_err(|e| format!("cannot remove {}: {e}", cache.display()))?;
    }
    let partial = parent.join(format!("{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let outcome = fetch(&partial).and_then(|()| {
        if templates_in(&partial).join("default").is_dir() {
            std::fs::rename(&partial, cache)
                .map_err(|e| format!("cannot move the package into {}: {e}", cache.display()))
        } else {
            Err(format!(
                "the package holds no conpot/templates/default (looked in {})",
                partial.display()
            ))
        }
    });
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    outcome.map(|()| found)
}

/// Downloads Conpot's source package with pip (the repository's `.venv` pip if there is
/// one, else `python3 -m pip`), checks its SHA-256, and unpacks it into `into`.
pub fn fetch_sdist(repo: &Path, into: &Path) -> Result<(), String> {
    let requirement = into.join("requirement.txt");
    std::fs::write(
        &requirement,
        format!("conpot=={CONPOT_VERSION} --hash=sha256:{SDIST_SHA256}\n"),
    )
    .map_err(|e| format!("cannot write {}: {e}", requirement.display()))?;
    let venv_pip = repo.join(".venv/bin/pip");
    let mut pip = if venv_pip.is_file() {
        Command::new(venv_pip)
    } else {
        let mut c = Command::new("python3");
        c.args(["-m", "pip"]);
        c
    };
    pip.args([
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--require-hashes",
        "-r",
    ])
    .arg(&requirement)
    .arg("-d")
    .arg(into);
    run(&mut pip, "pip download").map_err(|e| {
        format!(
            "{e}\n(tests/setup-deps makes a .venv with pip; or set CONPOT_TEMPLATES to a copy of Conpot's templates)"
        )
    })?;
    let archive = into.join(format!("conpot-{CONPOT_VERSION}.tar.gz"));
    let got = sha256_of(&archive)?;
    if got != SDIST_SHA256 {
        return Err(format!(
            "{} has SHA-256 {got}, expected {SDIST_SHA256}",
            archive.display()
        ));
    }
    run(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(into), "tar")
}

/// Runs `cmd`, turning a failure into its stderr.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The SHA-256 of a file, as lower-case hex.
fn sha256_of(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The cargo target folder this test runs from: the nearest folder above the running
/// executable that cargo marked with `CACHEDIR.TAG`, else `$CARGO_TARGET_DIR`, else
/// `<repository>/target`.
fn target_dir(root: &Path) -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|d| d.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    });
    from_exe
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("target"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("conpot-testkit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A stand-in for the download: the package's layout, slowly, counted.
    fn fake_fetch(calls: &AtomicUsize, into: &Path) -> Result<(), String> {
        calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let t = into.join(format!("conpot-{CONPOT_VERSION}/conpot/templates/default"));
        std::fs::create_dir_all(&t).map_err(|e| e.to_string())?;
        std::fs::write(t.join("template.xml"), "<core/>").map_err(|e| e.to_string())
    }

    #[test]
    fn concurrent_callers_fetch_once_and_all_see_the_whole_folder() {
        let d = scratch("concurrent");
        let cache = d.join("conpot-cache");
        let calls = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (cache, calls) = (cache.clone(), Arc::clone(&calls));
                std::thread::spawn(move || cached(&cache, &|into: &Path| fake_fetch(&calls, into)).unwrap())
            })
            .collect();
        for t in threads {
            let found = t.join().unwrap();
            assert!(found.join("default/template.xml").is_file());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Nothing half-done is left beside it.
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(left.iter().all(|n| !n.contains("partial")), "{left:?}");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_failed_fetch_leaves_nothing_and_is_tried_again() {
        let d = scratch("failed");
        let cache = d.join("c");
        let err = cached(&cache, &|_: &Path| Err("offline".into())).unwrap_err();
        assert_eq!(err, "offline");
        assert!(!cache.exists());
        let empty = cached(&cache, &|_: &Path| Ok(())).unwrap_err();
        assert!(empty.contains("no conpot/templates/default"), "{empty}");
        let calls = AtomicUsize::new(0);
        assert!(cached(&cache, &|into: &Path| fake_fetch(&calls, into)).is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn conpot_templates_env_must_hold_templates() {
        let d = scratch("env");
        let s = Settings {
            templates: Some(d.clone()),
            shared: None,
            cache: d.join("never"),
        };
        assert!(locate(&s).unwrap_err().contains("CONPOT_TEMPLATES"));
        std::fs::create_dir_all(d.join("default")).unwrap();
        assert_eq!(locate(&s).unwrap(), d);
        let _ = std::fs::remove_dir_all(d);
    }

    /// The real thing, without `../shared`: Conpot 0.6.0 from PyPI into this target folder's
    /// cache (fetched on the first run only), with the layout the tests rely on.
    #[test]
    fn without_shared_the_pypi_package_is_fetched_and_has_the_templates() {
        let s = Settings {
            templates: None,
            shared: None,
            ..Settings::from_env()
        };
        let dir = locate(&s).unwrap();
        assert!(dir.ends_with("conpot-0.6.0/conpot/templates"), "{}", dir.display());
        for t in ["default", "IEC104", "guardian_ast", "ipmi", "kamstrup_382", "proxy"] {
            assert!(dir.join(t).join("template.xml").is_file(), "{t}");
        }
        for p in ["modbus/modbus.xml", "s7comm/s7comm.xml", "snmp/snmp.xml"] {
            assert!(dir.join("default").join(p).is_file(), "{p}");
        }
        assert!(dir.parent().unwrap().join("testing.cfg").is_file());
    }
}
