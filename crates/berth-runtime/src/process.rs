//! The container process's last steps before `execve`: rlimits, user and groups, capabilities,
//! no_new_privs, seccomp, and the search of the command in `$PATH`.

use berth_error::Context;
use caps::{CapSet, Capability, CapsHashSet};
use std::ffi::CString;

/// Why the process could not be started; `code` is the exit code Docker uses for it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StartError {
    /// 125 (setup), 126 (cannot invoke) or 127 (not found).
    pub code: i32,
    /// What went wrong.
    pub message: String,
}

impl StartError {
    /// A setup failure (exit 125).
    pub fn setup(message: impl Into<String>) -> StartError {
        StartError {
            code: 125,
            message: message.into(),
        }
    }
}

/// A failed system call of the setup is a setup failure (exit 125) saying what failed.
impl From<berth_error::IoContext> for StartError {
    fn from(e: berth_error::IoContext) -> StartError {
        StartError::setup(e.to_string())
    }
}

/// The capability sets to give the process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilitySets {
    /// Bounding set.
    pub bounding: Vec<Capability>,
    /// Effective set.
    pub effective: Vec<Capability>,
    /// Permitted set.
    pub permitted: Vec<Capability>,
    /// Inheritable set.
    pub inheritable: Vec<Capability>,
    /// Ambient set.
    pub ambient: Vec<Capability>,
}

/// A resource limit: `RLIMIT_*` number, soft and hard values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// The resource (`libc::RLIMIT_NOFILE`, ...).
    pub resource: i32,
    /// Its name, for messages.
    pub name: &'static str,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Maps a runtime-spec rlimit name to its number.
pub fn rlimit_resource(name: &str) -> Option<(i32, &'static str)> {
    let table: [(&'static str, i32); 16] = [
        ("RLIMIT_AS", libc::RLIMIT_AS as i32),
        ("RLIMIT_CORE", libc::RLIMIT_CORE as i32),
        ("RLIMIT_CPU", libc::RLIMIT_CPU as i32),
        ("RLIMIT_DATA", libc::RLIMIT_DATA as i32),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE as i32),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS as i32),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK as i32),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE as i32),
        ("RLIMIT_NICE", libc::RLIMIT_NICE as i32),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE as i32),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC as i32),
        ("RLIMIT_RSS", libc::RLIMIT_RSS as i32),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO as i32),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME as i32),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING as i32),
        ("RLIMIT_STACK", libc::RLIMIT_STACK as i32),
    ];
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, r)| (*r, *n))
}

/// Applies the limits. Raising a hard limit above berth's own needs CAP_SYS_RESOURCE, which
/// many hosts do not grant: that is an error naming both values, never a crash.
pub fn set_rlimits(limits: &[Rlimit]) -> Result<(), StartError> {
    for limit in limits {
        let value = libc::rlimit {
            rlim_cur: limit.soft,
            rlim_max: limit.hard,
        };
        // SAFETY: `value` is a valid rlimit that outlives the call.
        if unsafe { libc::setrlimit(limit.resource as _, &value) } != 0 {
            let error = std::io::Error::last_os_error();
            let mut current = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `current` is a valid, writable rlimit.
            unsafe { libc::getrlimit(limit.resource as _, &mut current) };
            return Err(StartError::setup(format!(
                "cannot set {} to {}:{} (this host allows at most {}): {error}",
                limit.name, limit.soft, limit.hard, current.rlim_max
            )));
        }
    }
    Ok(())
}

/// Drops every capability not in `bounding` from the bounding set. Capabilities this kernel
/// does not know are skipped.
pub fn limit_bounding_set(bounding: &[Capability]) -> Result<(), StartError> {
    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                StartError::setup(format!("cannot drop {cap} from the bounding set: {e}"))
            })?;
        }
    }
    Ok(())
}

/// Gives the standard streams to `uid` where it is not root, keeping their group, as runc's
/// `fixStdioPermissions` does: a terminal (`/dev/pts/N`, root's until now) or a pipe that the
/// container's user must be able to open again by name (`tty`, `echo > $(tty)`, `script`).
/// /dev/null stays root's. Best effort: a stream that cannot change hands stays as it is.
pub fn give_streams_to(uid: u32) {
    if uid == 0 {
        return;
    }
    for fd in [
        rustix::stdio::stdin(),
        rustix::stdio::stdout(),
        rustix::stdio::stderr(),
    ] {
        let Ok(stat) = rustix::fs::fstat(fd) else {
            continue;
        };
        let dev_null = (stat.st_mode & libc::S_IFMT) == libc::S_IFCHR
            && rustix::fs::major(stat.st_rdev) == 1
            && rustix::fs::minor(stat.st_rdev) == 3;
        if !dev_null && stat.st_uid != uid {
            let _ = rustix::fs::fchown(fd, Some(rustix::process::Uid::from_raw(uid)), None);
        }
    }
}

/// Switches to `uid`/`gid` with `groups`, keeping the permitted capabilities for `set_capabilities`.
pub fn switch_user(uid: u32, gid: u32, groups: &[u32]) -> Result<(), StartError> {
    let groups: Vec<libc::gid_t> = groups.to_vec();
    // SAFETY: prctl with PR_SET_KEEPCAPS takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    // SAFETY: `groups` is a valid array of `groups.len()` gids; the process is single-threaded,
    // so the raw syscalls change the credentials of the whole process.
    let failed = unsafe {
        libc::setgroups(groups.len(), groups.as_ptr()) != 0
            || libc::setresgid(gid, gid, gid) != 0
            || libc::setresuid(uid, uid, uid) != 0
    };
    if failed {
        return Err(StartError::setup(format!(
            "cannot switch to user {uid}:{gid}: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    Ok(())
}

/// Sets the effective, permitted, inheritable and ambient sets.
pub fn set_capabilities(sets: &CapabilitySets) -> Result<(), StartError> {
    let set = |which: CapSet, caps: &[Capability]| {
        let wanted: CapsHashSet = caps.iter().copied().collect();
        caps::set(None, which, &wanted)
            .map_err(|e| StartError::setup(format!("cannot set the {which:?} capabilities: {e}")))
    };
    set(CapSet::Effective, &sets.effective)?;
    set(CapSet::Permitted, &sets.permitted)?;
    set(CapSet::Inheritable, &sets.inheritable)?;
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| StartError::setup(format!("cannot clear the ambient capabilities: {e}")))?;
    // The kernel raises an ambient capability only if it is both permitted and inheritable;
    // the others are left out, as runc and crun do (their default specs list ambient
    // capabilities with an empty inheritable set).
    for cap in sets
        .ambient
        .iter()
        .filter(|c| sets.permitted.contains(c) && sets.inheritable.contains(c))
    {
        caps::raise(None, CapSet::Ambient, *cap)
            .map_err(|e| StartError::setup(format!("cannot raise ambient {cap}: {e}")))?;
    }
    Ok(())
}

/// Sets no_new_privs: no exec can gain privileges (setuid bits, file capabilities).
pub fn set_no_new_privs() -> Result<(), StartError> {
    rustix::thread::set_no_new_privs(true).context("cannot set no_new_privs")?;
    Ok(())
}

/// Loads a seccomp filter. Unlike `seccompiler::apply_filter`, this does not set
/// no_new_privs: without it the kernel asks for CAP_SYS_ADMIN, which the caller still has.
pub fn load_seccomp(program: &seccompiler::BpfProgram) -> Result<(), StartError> {
    load_filter(program, 0).map(|_| ())
}

/// Loads a filter that hands calls to a supervisor (`SCMP_ACT_NOTIFY`) and returns the
/// descriptor on which that supervisor receives them.
pub fn load_seccomp_with_listener(
    program: &seccompiler::BpfProgram,
) -> Result<rustix::fd::OwnedFd, StartError> {
    let fd = load_filter(program, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
    // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a new descriptor that
    // this process alone owns.
    Ok(unsafe { <rustix::fd::OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

fn load_filter(program: &seccompiler::BpfProgram, flags: libc::c_ulong) -> Result<i64, StartError> {
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `program`, whose instructions have libc's sock_filter layout
    // (seccompiler's is repr(C) with the same fields) and outlive the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if r < 0 {
        let error = std::io::Error::last_os_error();
        return Err(StartError::setup(format!(
            "cannot load the seccomp filter: {}",
            os_error_text(&error)
        )));
    }
    Ok(r)
}

/// An OS error as Docker words it: `permission denied`, without the errno number.
pub fn os_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Executes `args[0]`, searched in the `PATH` of `env` when it has no `/`. Returns only on
/// failure, with Docker's code: 127 when the command is not found, 126 when it cannot run.
pub fn exec(args: &[String], env: &[String]) -> StartError {
    let Some(command) = args.first() else {
        return StartError {
            code: 127,
            message: "no command specified".into(),
        };
    };
    let to_c = |s: &String| CString::new(s.as_bytes()).ok();
    let (Some(argv), Some(envp)) = (
        args.iter().map(to_c).collect::<Option<Vec<_>>>(),
        env.iter().map(to_c).collect::<Option<Vec<_>>>(),
    ) else {
        return StartError {
            code: 126,
            message: format!("exec: \"{command}\": an argument or variable contains a NUL byte"),
        };
    };
    let candidates = candidates(command, env);
    let mut denied = None;
    for candidate in &candidates {
        let Ok(path) = CString::new(candidate.as_bytes()) else {
            continue;
        };
        // A `PATH` directory without the command is passed over at the cost of a lookup: an
        // execve that fails still sets up (and tears down) a new address space first.
        let missing = matches!(
            rustix::fs::access(path.as_c_str(), rustix::fs::Access::EXISTS),
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR)
        );
        if missing && !command.contains('/') {
            continue;
        }
        let (argv_ptrs, envp_ptrs) = (to_ptrs(&argv), to_ptrs(&envp));
        // SAFETY: `path` is a valid C string; both arrays are NULL-terminated and point at C
        // strings that outlive the call. execve returns only on failure.
        unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) if !command.contains('/') => continue,
            Some(libc::EACCES) if !command.contains('/') => denied = Some(error),
            Some(libc::ENOENT) => {
                return StartError {
                    code: 127,
                    message: format!("exec: \"{command}\": no such file or directory"),
                };
            }
            _ => {
                return StartError {
                    code: 126,
                    message: format!("exec: \"{command}\": {}", os_error_text(&error)),
                };
            }
        }
    }
    match denied {
        Some(error) => StartError {
            code: 126,
            message: format!("exec: \"{command}\": {}", os_error_text(&error)),
        },
        None => StartError {
            code: 127,
            message: format!("exec: \"{command}\": executable file not found in $PATH"),
        },
    }
}

/// Where `command` may be: itself when it has a `/`, else each directory of `PATH` in `env`.
fn candidates(command: &str, env: &[String]) -> Vec<String> {
    if command.contains('/') {
        return vec![command.to_owned()];
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| format!("{}/{command}", if dir.is_empty() { "." } else { dir }))
        .collect()
}

/// Checks that `args[0]` names an executable file (as `exec` would find it), without running
/// it: Docker's 127 when it is missing.
pub fn find_command(args: &[String], env: &[String]) -> Result<(), StartError> {
    let Some(command) = args.first() else {
        return Err(StartError {
            code: 127,
            message: "no command specified".into(),
        });
    };
    let found = candidates(command, env).iter().any(|candidate| {
        rustix::fs::access(candidate.as_str(), rustix::fs::Access::EXEC_OK).is_ok()
            && std::fs::metadata(candidate).is_ok_and(|m| m.is_file())
    });
    if found {
        Ok(())
    } else {
        Err(StartError {
            code: 127,
            message: format!("exec: \"{command}\": executable file not found in $PATH"),
        })
    }
}

/// A NULL-terminated array of pointers to the strings, for execve.
fn to_ptrs(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}
