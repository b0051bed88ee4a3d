//! The seccomp allow-list of the running sensor (issue 16). Once the listeners are bound
//! and root is given up, the sensor only parses what attackers send and writes events; a
//! flaw in a parser that gives an attacker code execution should find a process that can
//! do little more than that. The filter names every system call the sensor makes after
//! start (observed under `strace -f` over the interop suite, plus what the code paths
//! plainly need: tokio's epoll and futexes, mimalloc's mappings, the sinks' file and socket
//! I/O, glibc's resolver, serial lines' termios); everything else (execve, ptrace, mount,
//! bpf, unshare, keyctl, ...) is refused.
//!
//! Built with `seccompiler` (rust-vmm, the compiler behind Firecracker's jailer): it emits
//! the architecture check and the jump tables of a classic BPF program from a plain map of
//! syscall numbers and argument conditions, which is the error-prone part of writing the
//! program by hand. The install itself is done here (one `seccomp(2)` call) so the filter
//! can ask the kernel to log what it refuses (`SECCOMP_FILTER_FLAG_LOG`) and apply to every
//! thread at once (`SECCOMP_FILTER_FLAG_TSYNC`).
//!
//! A few calls are narrowed by argument: `ioctl` to the terminal and non-blocking requests,
//! `socket` to the address families the sensor uses, `clone` to flags without new
//! namespaces, `prctl` to thread names and mapping names. `clone3`, whose flags live in
//! memory a filter cannot read, answers ENOSYS (a second, tiny filter), so the C library
//! falls back to `clone`, whose flags are checked.
//!
//! This file holds nothing but the filter (no other module of the binary), so the test
//! crate compiles the same file and installs the same filter in a child process.

/// What the filter does with a system call outside the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fail it with EPERM (and have the kernel log it): the default, since a rare path the
    /// list missed then becomes an error the sensor already handles, not a dead sensor.
    Errno,
    /// Kill the whole process (SIGSYS).
    Kill,
    /// Allow it, and have the kernel log it: for finding what the list misses.
    Log,
}

impl Action {
    /// The name used in the configuration, the event and the log line.
    pub fn name(self) -> &'static str {
        match self {
            Action::Errno => "errno",
            Action::Kill => "kill",
            Action::Log => "log",
        }
    }
}

/// An installed filter, as reported in the start log and the `daemon.seccomp` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// How many system calls the list allows (some of them narrowed by argument).
    pub allowed: usize,
    /// What happens to the others.
    pub action: Action,
}

/// The filter installed by [`install`] in this process, if any: read when the first events
/// are written, long after the install (which happens before the runtime exists).
pub fn installed() -> Option<Installed> {
    INSTALLED.get().copied()
}

static INSTALLED: std::sync::OnceLock<Installed> = std::sync::OnceLock::new();

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use std::collections::BTreeMap;

    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };

    use super::{Action, Installed};

    /// A syscall by name and number, for the list and the tests.
    macro_rules! calls {
        ($($name:ident),* $(,)?) => {
            &[$((stringify!($name), libc::$name)),*]
        };
    }

    /// The calls allowed whatever their arguments, on both architectures.
    const COMMON: &[(&str, libc::c_long)] = calls![
        // Memory: mimalloc, the C library, thread stacks.
        SYS_brk,
        SYS_mmap,
        SYS_munmap,
        SYS_mremap,
        SYS_mprotect,
        SYS_madvise,
        SYS_mincore,
        SYS_membarrier,
        // Threads and their synchronisation (tokio, std, the sink threads, glibc).
        SYS_futex,
        SYS_set_robust_list,
        SYS_get_robust_list,
        SYS_rseq,
        SYS_set_tid_address,
        SYS_sched_yield,
        SYS_sched_getaffinity,
        SYS_getcpu,
        SYS_exit,
        SYS_exit_group,
        SYS_gettid,
        SYS_getpid,
        SYS_getppid,
        SYS_tgkill,
        SYS_getuid,
        SYS_geteuid,
        SYS_getgid,
        SYS_getegid,
        SYS_getresuid,
        SYS_getresgid,
        SYS_getrusage,
        SYS_prlimit64,
        SYS_uname,
        SYS_sysinfo,
        SYS_restart_syscall,
        // Signals (SIGHUP, SIGTERM, SIGINT through tokio's self-pipe; glibc's handlers).
        SYS_rt_sigaction,
        SYS_rt_sigprocmask,
        SYS_rt_sigreturn,
        SYS_sigaltstack,
        // Time.
        SYS_clock_gettime,
        SYS_clock_getres,
        SYS_clock_nanosleep,
        SYS_nanosleep,
        SYS_gettimeofday,
        // The event loop.
        SYS_epoll_create1,
        SYS_epoll_ctl,
        SYS_epoll_pwait,
        SYS_epoll_pwait2,
        SYS_eventfd2,
        SYS_pipe2,
        SYS_ppoll,
        SYS_pselect6,
        // File descriptors and files: sinks (JSON lines with rotation, SQLite with its WAL,
        // locks and shared memory, the spool), the state folder, captures, /etc for the
        // resolver, /proc for the runtime.
        SYS_read,
        SYS_write,
        SYS_readv,
        SYS_writev,
        SYS_pread64,
        SYS_pwrite64,
        SYS_preadv,
        SYS_pwritev,
        SYS_close,
        SYS_dup,
        SYS_dup3,
        SYS_fcntl,
        SYS_flock,
        SYS_fsync,
        SYS_fdatasync,
        SYS_ftruncate,
        SYS_fallocate,
        SYS_lseek,
        SYS_openat,
        SYS_fstat,
        SYS_newfstatat,
        SYS_statx,
        SYS_fstatfs,
        SYS_statfs,
        SYS_faccessat,
        SYS_faccessat2,
        SYS_getdents64,
        SYS_getcwd,
        SYS_mkdirat,
        SYS_unlinkat,
        SYS_renameat2,
        SYS_readlinkat,
        SYS_fchmod,
        SYS_fchmodat,
        SYS_fchown,
        SYS_utimensat,
        SYS_umask,
        SYS_getrandom,
        // Sockets: the listeners (accept, UDP with IP_PKTINFO), the metrics endpoint, the
        // sinks' and proxy's client connections, the resolver, sd_notify's datagram.
        SYS_bind,
        SYS_listen,
        SYS_accept,
        SYS_accept4,
        SYS_connect,
        SYS_shutdown,
        SYS_sendto,
        SYS_recvfrom,
        SYS_sendmsg,
        SYS_recvmsg,
        SYS_sendmmsg,
        SYS_recvmmsg,
        SYS_getsockname,
        SYS_getpeername,
        SYS_setsockopt,
        SYS_getsockopt,
        SYS_socketpair,
    ];

    /// The calls only x86_64 has (aarch64 has their `*at` or newer forms only).
    #[cfg(target_arch = "x86_64")]
    const LEGACY: &[(&str, libc::c_long)] = calls![
        SYS_renameat,
        SYS_open,
        SYS_stat,
        SYS_lstat,
        SYS_access,
        SYS_poll,
        SYS_select,
        SYS_epoll_wait,
        SYS_epoll_create,
        SYS_eventfd,
        SYS_pipe,
        SYS_dup2,
        SYS_rename,
        SYS_unlink,
        SYS_mkdir,
        SYS_rmdir,
        SYS_readlink,
        SYS_chmod,
        SYS_time,
        SYS_arch_prctl,
        SYS_getdents,
    ];
    #[cfg(not(target_arch = "x86_64"))]
    const LEGACY: &[(&str, libc::c_long)] = &[];

    /// `ioctl` requests allowed: non-blocking and close-on-exec switches, bytes waiting,
    /// and the termios and modem-line requests of a serial line (and of "is stderr a
    /// terminal"). The same numbers on x86_64 and aarch64.
    #[allow(clippy::unnecessary_cast)] // Ioctl is c_ulong on glibc, c_int on musl.
    const IOCTLS: &[u64] = &[
        libc::FIONBIO as u64,
        libc::FIOCLEX as u64,
        libc::FIONCLEX as u64,
        libc::FIONREAD as u64,
        libc::TCGETS as u64,
        libc::TCSETS as u64,
        libc::TCSETSW as u64,
        libc::TCSETSF as u64,
        libc::TCGETS2 as u64,
        libc::TCSETS2 as u64,
        libc::TCSETSW2 as u64,
        libc::TCSETSF2 as u64,
        libc::TCFLSH as u64,
        libc::TCXONC as u64,
        libc::TCSBRK as u64,
        libc::TIOCEXCL as u64,
        libc::TIOCNXCL as u64,
        libc::TIOCOUTQ as u64,
        libc::TIOCMGET as u64,
        libc::TIOCMSET as u64,
        libc::TIOCMBIS as u64,
        libc::TIOCMBIC as u64,
        libc::TIOCGWINSZ as u64,
    ];

    /// Address families of `socket`: local (sd_notify, syslog), IPv4, IPv6, and netlink,
    /// which glibc's resolver reads the interface addresses through.
    const FAMILIES: &[u64] = &[
        libc::AF_UNIX as u64,
        libc::AF_INET as u64,
        libc::AF_INET6 as u64,
        libc::AF_NETLINK as u64,
    ];

    /// `prctl` options: a thread's name, and naming anonymous mappings (glibc, mimalloc).
    const PRCTLS: &[u64] = &[
        libc::PR_SET_NAME as u64,
        libc::PR_GET_NAME as u64,
        libc::PR_SET_VMA as u64,
    ];

    /// `clone` flags that make new namespaces: never needed by a thread.
    const NEW_NAMESPACES: u64 = (libc::CLONE_NEWNS
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET) as u64;

    /// Every allowed call by name, the narrowed ones included: for the docs and tests.
    pub fn names() -> Vec<&'static str> {
        let mut v: Vec<&'static str> = COMMON.iter().chain(LEGACY).map(|(n, _)| strip(n)).collect();
        v.extend(["ioctl", "socket", "clone", "clone3", "prctl"]);
        v.sort_unstable();
        v
    }

    fn strip(name: &'static str) -> &'static str {
        name.strip_prefix("SYS_").unwrap_or(name)
    }

    fn arch() -> seccompiler::TargetArch {
        #[cfg(target_arch = "x86_64")]
        return seccompiler::TargetArch::x86_64;
        #[cfg(target_arch = "aarch64")]
        return seccompiler::TargetArch::aarch64;
    }

    fn err(e: impl std::fmt::Display) -> String {
        format!("cannot build the seccomp filter: {e}")
    }

    /// One rule per value: argument `arg` (32 bits, as the kernel reads it) equals it.
    fn one_of(arg: u8, values: &[u64]) -> Result<Vec<SeccompRule>, String> {
        values
            .iter()
            .map(|&v| {
                let c = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, v).map_err(err)?;
                SeccompRule::new(vec![c]).map_err(err)
            })
            .collect()
    }

    /// The allow-list as a BPF program, with `action` for what it does not name.
    pub fn program(action: Action) -> Result<BpfProgram, String> {
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        for (_, nr) in COMMON.iter().chain(LEGACY) {
            rules.insert(*nr, Vec::new());
        }
        rules.insert(libc::SYS_ioctl, one_of(1, IOCTLS)?);
        rules.insert(libc::SYS_socket, one_of(0, FAMILIES)?);
        rules.insert(libc::SYS_prctl, one_of(0, PRCTLS)?);
        let no_namespaces =
            SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(NEW_NAMESPACES), 0)
                .map_err(err)?;
        rules.insert(
            libc::SYS_clone,
            vec![SeccompRule::new(vec![no_namespaces]).map_err(err)?],
        );
        // Allowed here, refused with ENOSYS by the second filter (see `clone3_fallback`).
        rules.insert(libc::SYS_clone3, Vec::new());
        let mismatch = match action {
            Action::Errno => SeccompAction::Errno(libc::EPERM as u32),
            Action::Kill => SeccompAction::KillProcess,
            Action::Log => SeccompAction::Log,
        };
        let filter = SeccompFilter::new(rules, mismatch, SeccompAction::Allow, arch()).map_err(err)?;
        BpfProgram::try_from(filter).map_err(err)
    }

    /// The second filter: `clone3` answers ENOSYS (as on kernels before 5.3), everything
    /// else passes to the allow-list. The C library then creates threads with `clone`.
    fn clone3_fallback() -> Result<BpfProgram, String> {
        let rules = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch(),
        )
        .map_err(err)?;
        BpfProgram::try_from(filter).map_err(err)
    }

    /// Loads `prog` for every thread of the process; with `log`, the kernel logs what it
    /// refuses (the audit log, or the kernel log without auditd: `dmesg`).
    #[allow(unsafe_code)]
    fn load(prog: &BpfProgram, log: bool) -> Result<(), String> {
        let len = u16::try_from(prog.len()).map_err(|_| err("too many instructions"))?;
        let fprog = libc::sock_fprog {
            len,
            // seccompiler's instruction is the kernel's `struct sock_filter` (both
            // `repr(C)`: u16, u8, u8, u32); the kernel only reads the program (it copies it).
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        let call = |flags: libc::c_ulong| {
            // SAFETY: `fprog` points at `len` instructions that live across the call; the
            // kernel copies them and keeps no pointer.
            unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    flags,
                    &fprog as *const libc::sock_fprog,
                )
            }
        };
        let tsync = libc::SECCOMP_FILTER_FLAG_TSYNC;
        let mut rc = call(if log {
            tsync | libc::SECCOMP_FILTER_FLAG_LOG
        } else {
            tsync
        });
        if rc < 0 && log && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // A kernel before 4.14 knows no FLAG_LOG: the same filter, without the logging.
            rc = call(tsync);
        }
        match rc {
            0 => Ok(()),
            r if r > 0 => Err(format!(
                "cannot install the seccomp filter: thread {r} has another filter"
            )),
            _ => Err(format!(
                "cannot install the seccomp filter: {}",
                std::io::Error::last_os_error()
            )),
        }
    }

    /// Sets `no_new_privs` (required for an unprivileged filter) and installs both filters.
    #[allow(unsafe_code)]
    pub fn install(action: Action) -> Result<Installed, String> {
        let main = program(action)?;
        let fallback = clone3_fallback()?;
        // SAFETY: PR_SET_NO_NEW_PRIVS only sets a flag of this thread.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(format!("cannot set no_new_privs: {}", std::io::Error::last_os_error()));
        }
        // The fallback first: once the allow-list is in, `seccomp` itself is refused.
        // (Its ENOSYS is expected at every new thread: not logged.)
        load(&fallback, false)?;
        load(&main, true)?;
        Ok(Installed {
            allowed: names().len(),
            action,
        })
    }
}

#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
mod imp {
    use super::{Action, Installed};

    /// No list on this platform.
    pub fn names() -> Vec<&'static str> {
        Vec::new()
    }

    /// Nothing to install on this platform.
    pub fn install(_action: Action) -> Result<Installed, String> {
        Err("seccomp is not supported on this platform".to_owned())
    }
}

/// Whether this build can install the filter (Linux on x86_64 or aarch64).
pub const SUPPORTED: bool = cfg!(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
));

/// The names of the allowed system calls, sorted (empty where unsupported).
pub fn allowed_names() -> Vec<&'static str> {
    imp::names()
}

/// Installs the allow-list for this process and every thread it has or will have, with
/// `action` for calls outside it. Call once, after the listeners are bound and privileges
/// given up (`setresuid`, `setgroups` and `capset` are not on the list). The filter cannot
/// be removed, and a second call fails: `seccomp` itself is not on the list.
pub fn install(action: Action) -> Result<Installed, String> {
    let installed = imp::install(action)?;
    let _ = INSTALLED.set(installed);
    Ok(installed)
}

/// The action `[daemon] seccomp` asks for, unless `--no-seccomp` turned the filter off.
pub fn action(mode: conpot_core::config::Seccomp, disabled: bool) -> Option<Action> {
    use conpot_core::config::Seccomp;
    match mode {
        _ if disabled => None,
        Seccomp::Off => None,
        Seccomp::Errno => Some(Action::Errno),
        Seccomp::Kill => Some(Action::Kill),
        Seccomp::Log => Some(Action::Log),
    }
}

/// The sensor's start step: installs the filter the configuration asks for and says so in
/// the log. A filter asked for but impossible to install stops the start (the operator
/// then chooses `--no-seccomp` knowingly); on a platform without seccomp it is a warning.
pub fn start(mode: conpot_core::config::Seccomp, disabled: bool) -> Result<(), String> {
    let Some(action) = action(mode, disabled) else {
        tracing::info!("seccomp: off (no system call filter)");
        return Ok(());
    };
    if !SUPPORTED {
        tracing::warn!("seccomp: not available on this platform; running without a system call filter");
        return Ok(());
    }
    let installed = install(action).map_err(|e| format!("{e} (pass --no-seccomp to run without the filter)"))?;
    let others = match installed.action {
        Action::Errno => "fail with EPERM",
        Action::Kill => "kill the process",
        Action::Log => "are allowed and logged",
    };
    tracing::info!(
        "seccomp: allow-list of {} system calls installed; others {others}",
        installed.allowed
    );
    tracing::debug!("seccomp: allowed: {}", allowed_names().join(" "));
    Ok(())
}
