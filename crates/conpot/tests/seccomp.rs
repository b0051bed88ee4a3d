//! The seccomp allow-list refuses what the sensor never does. The filter cannot be removed
//! once installed, so each check runs in a child process: this test binary started again
//! with an environment variable that makes its (otherwise ignored) `child` test install the
//! sensor's own filter (the same source file, compiled here) and try forbidden calls. The
//! release binary has no such hook: the child is this test binary.
#![cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, unsafe_code)]

#[path = "../src/seccomp.rs"]
#[allow(dead_code)]
mod seccomp;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

const CHILD: &str = "CONPOT_SECCOMP_TEST_CHILD";

fn run_child(mode: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .output()
        .unwrap()
}

/// The errno of the last failed call, after checking that it failed.
fn errno_of(rc: libc::c_long) -> i32 {
    if rc >= 0 {
        return 0;
    }
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// What the child tries under the filter, one line per call: `name errno`.
fn forbidden_calls() -> Vec<(&'static str, i32)> {
    let path = c"/bin/true";
    let argv = [path.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let mut out = Vec::new();
    // SAFETY: every call gets valid pointers or none; each is refused before it runs.
    unsafe {
        out.push((
            "execve",
            errno_of(libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) as libc::c_long),
        ));
        out.push(("ptrace", errno_of(libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0))));
        let none = c"none";
        let target = c"/tmp";
        out.push((
            "mount",
            errno_of(
                libc::mount(none.as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()) as libc::c_long,
            ),
        ));
        out.push(("unshare", errno_of(libc::unshare(libc::CLONE_NEWUSER) as libc::c_long)));
        out.push((
            "socket(AF_PACKET)",
            errno_of(libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) as libc::c_long),
        ));
        out.push((
            "ioctl(TIOCSTI)",
            errno_of(libc::ioctl(0, libc::TIOCSTI, c"x".as_ptr()) as libc::c_long),
        ));
        out.push((
            "clone(CLONE_NEWUSER)",
            errno_of(libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                0,
                0,
                0,
                0,
            )),
        ));
        out.push((
            "clone3",
            errno_of(libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize)),
        ));
        out.push(("setuid", errno_of(libc::syscall(libc::SYS_setuid, 0))));
        out.push(("bpf", errno_of(libc::syscall(libc::SYS_bpf, 0, 0, 0))));
    }
    out
}

/// What the sensor does must still work under the filter: threads (through the `clone`
/// fallback), a TCP listener and connection, a file written, renamed, synced and read.
fn allowed_work() -> Result<(), String> {
    let t = std::thread::spawn(|| 41 + 1);
    if t.join().map_err(|_| "thread panicked")? != 42 {
        return Err("thread".into());
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let mut c = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let (mut s, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
    use std::io::{Read, Write};
    c.write_all(b"ping").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("conpot-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir: {e}"))?;
    let a = dir.join("a");
    let mut f = std::fs::File::create(&a).map_err(|e| format!("create: {e}"))?;
    f.write_all(&buf).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| format!("fsync: {e}"))?;
    std::fs::rename(&a, dir.join("b")).map_err(|e| format!("rename: {e}"))?;
    let back = std::fs::read(dir.join("b")).map_err(|e| format!("read: {e}"))?;
    std::fs::remove_dir_all(&dir).map_err(|e| format!("rmdir: {e}"))?;
    if back != b"ping" {
        return Err("file contents".into());
    }
    Ok(())
}

/// The child: only does something when started by the tests below.
#[test]
#[ignore = "run by the other tests in a child process"]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    match mode.as_str() {
        "errno" => {
            let installed = seccomp::install(seccomp::Action::Errno).unwrap();
            println!("installed {}", installed.allowed);
            for (name, errno) in forbidden_calls() {
                println!("refused {name} {errno}");
            }
            match allowed_work() {
                Ok(()) => println!("allowed work ok"),
                Err(e) => println!("allowed work failed: {e}"),
            }
        }
        "kill" => {
            seccomp::install(seccomp::Action::Kill).unwrap();
            allowed_work().unwrap();
            println!("before ptrace");
            // SAFETY: PTRACE_TRACEME takes no pointer; the filter kills the process first.
            unsafe { libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) };
            println!("survived ptrace");
        }
        other => panic!("unknown mode {other}"),
    }
}

#[test]
fn forbidden_calls_fail_with_eperm_and_the_sensors_work_goes_on() {
    let out = run_child("errno");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("installed "), "{text}");
    for (name, errno) in [
        ("execve", libc::EPERM),
        ("ptrace", libc::EPERM),
        ("mount", libc::EPERM),
        ("unshare", libc::EPERM),
        ("socket(AF_PACKET)", libc::EPERM),
        ("ioctl(TIOCSTI)", libc::EPERM),
        ("clone(CLONE_NEWUSER)", libc::EPERM),
        ("clone3", libc::ENOSYS),
        ("setuid", libc::EPERM),
        ("bpf", libc::EPERM),
    ] {
        assert!(text.contains(&format!("refused {name} {errno}\n")), "{name}: {text}");
    }
    assert!(text.contains("allowed work ok"), "{text}");
}

#[test]
fn the_kill_action_kills_the_process_at_a_forbidden_call() {
    let out = run_child("kill");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("before ptrace"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("survived"), "{text}");
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{:?}", out.status);
}

#[test]
fn the_list_names_what_the_sensor_needs_and_not_what_an_intruder_wants() {
    let names = seccomp::allowed_names();
    for needed in [
        "epoll_pwait",
        "futex",
        "accept4",
        "recvmsg",
        "sendmsg",
        "setsockopt",
        "openat",
        "fsync",
        "renameat",
        "pwrite64",
        "fcntl",
        "getrandom",
        "mmap",
        "madvise",
        "rt_sigaction",
        "clock_gettime",
        "ioctl",
        "socket",
        "connect",
        "clone",
        "exit_group",
    ] {
        assert!(names.contains(&needed), "{needed} missing");
    }
    for forbidden in [
        "execve",
        "execveat",
        "ptrace",
        "mount",
        "umount2",
        "unshare",
        "setns",
        "bpf",
        "keyctl",
        "add_key",
        "init_module",
        "finit_module",
        "kexec_load",
        "process_vm_writev",
        "process_vm_readv",
        "setuid",
        "setresuid",
        "capset",
        "chroot",
        "pivot_root",
        "reboot",
        "swapon",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "seccomp",
        "fork",
        "vfork",
    ] {
        assert!(!names.contains(&forbidden), "{forbidden} allowed");
    }
    let mut sorted = names.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "a name twice");
}

#[test]
fn the_config_modes_map_to_actions() {
    use conpot_core::config::Seccomp;
    assert_eq!(seccomp::action(Seccomp::Errno, false), Some(seccomp::Action::Errno));
    assert_eq!(seccomp::action(Seccomp::Kill, false), Some(seccomp::Action::Kill));
    assert_eq!(seccomp::action(Seccomp::Log, false), Some(seccomp::Action::Log));
    assert_eq!(seccomp::action(Seccomp::Off, false), None);
    // --no-seccomp wins over the configuration.
    assert_eq!(seccomp::action(Seccomp::Kill, true), None);
}
