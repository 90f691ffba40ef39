//! Seccomp filters: Docker's default profile, and Docker-format profiles from a file.
//!
//! The default is an allowlist: every other system call fails with EPERM. Capabilities widen it
//! as in Docker's profile (CAP_SYS_ADMIN allows `mount`, `unshare`, `setns` and namespace flags
//! to `clone`; CAP_SYS_PTRACE, CAP_SYS_TIME, ... their calls). Without CAP_SYS_ADMIN, `clone`
//! with namespace flags is refused and `clone3` answers ENOSYS so that libcs fall back to it.

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// A filter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("seccomp: {0}")]
pub struct SeccompError(pub String);

macro_rules! syscalls {
    ($($name:ident),* $(,)?) => { &[$((stringify!($name), libc::$name as i64)),*] };
}

/// Calls every container may make, on every architecture.
const ALLOWED: &[(&str, i64)] = syscalls![
    SYS_accept,
    SYS_accept4,
    SYS_adjtimex,
    SYS_bind,
    SYS_brk,
    SYS_capget,
    SYS_capset,
    SYS_chdir,
    SYS_clock_adjtime,
    SYS_clock_getres,
    SYS_clock_gettime,
    SYS_clock_nanosleep,
    SYS_close,
    SYS_close_range,
    SYS_connect,
    SYS_copy_file_range,
    SYS_dup,
    SYS_dup3,
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_eventfd2,
    SYS_execve,
    SYS_execveat,
    SYS_exit,
    SYS_exit_group,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fadvise64,
    SYS_fallocate,
    SYS_fanotify_mark,
    SYS_fchdir,
    SYS_fchmod,
    SYS_fchmodat,
    SYS_fchown,
    SYS_fchownat,
    SYS_fcntl,
    SYS_fdatasync,
    SYS_fgetxattr,
    SYS_flistxattr,
    SYS_flock,
    SYS_fremovexattr,
    SYS_fsetxattr,
    SYS_fstat,
    SYS_fstatfs,
    SYS_fsync,
    SYS_ftruncate,
    SYS_futex,
    SYS_futex_waitv,
    SYS_getcpu,
    SYS_getcwd,
    SYS_getdents64,
    SYS_getegid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getgroups,
    SYS_getitimer,
    SYS_getpeername,
    SYS_getpgid,
    SYS_getpid,
    SYS_getppid,
    SYS_getpriority,
    SYS_getrandom,
    SYS_getresgid,
    SYS_getresuid,
    SYS_getrlimit,
    SYS_get_robust_list,
    SYS_getrusage,
    SYS_getsid,
    SYS_getsockname,
    SYS_getsockopt,
    SYS_gettid,
    SYS_gettimeofday,
    SYS_getuid,
    SYS_getxattr,
    SYS_inotify_add_watch,
    SYS_inotify_init1,
    SYS_inotify_rm_watch,
    SYS_io_cancel,
    SYS_ioctl,
    SYS_io_destroy,
    SYS_io_getevents,
    SYS_ioprio_get,
    SYS_ioprio_set,
    SYS_io_setup,
    SYS_io_submit,
    SYS_kcmp,
    SYS_kill,
    SYS_landlock_add_rule,
    SYS_landlock_create_ruleset,
    SYS_landlock_restrict_self,
    SYS_lgetxattr,
    SYS_linkat,
    SYS_listen,
    SYS_listxattr,
    SYS_llistxattr,
    SYS_lremovexattr,
    SYS_lseek,
    SYS_lsetxattr,
    SYS_madvise,
    SYS_membarrier,
    SYS_memfd_create,
    SYS_mincore,
    SYS_mkdirat,
    SYS_mknodat,
    SYS_mlock,
    SYS_mlock2,
    SYS_mlockall,
    SYS_mmap,
    SYS_mprotect,
    SYS_mq_getsetattr,
    SYS_mq_notify,
    SYS_mq_open,
    SYS_mq_timedreceive,
    SYS_mq_timedsend,
    SYS_mq_unlink,
    SYS_mremap,
    SYS_msgctl,
    SYS_msgget,
    SYS_msgrcv,
    SYS_msgsnd,
    SYS_msync,
    SYS_munlock,
    SYS_munlockall,
    SYS_munmap,
    SYS_name_to_handle_at,
    SYS_nanosleep,
    SYS_newfstatat,
    SYS_openat,
    SYS_openat2,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_pipe2,
    SYS_pkey_alloc,
    SYS_pkey_free,
    SYS_pkey_mprotect,
    SYS_ppoll,
    SYS_prctl,
    SYS_pread64,
    SYS_preadv,
    SYS_preadv2,
    SYS_prlimit64,
    SYS_process_mrelease,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_pselect6,
    SYS_ptrace,
    SYS_pwrite64,
    SYS_pwritev,
    SYS_pwritev2,
    SYS_read,
    SYS_readahead,
    SYS_readlinkat,
    SYS_readv,
    SYS_recvfrom,
    SYS_recvmmsg,
    SYS_recvmsg,
    SYS_remap_file_pages,
    SYS_removexattr,
    SYS_renameat,
    SYS_renameat2,
    SYS_restart_syscall,
    SYS_rseq,
    SYS_rt_sigaction,
    SYS_rt_sigpending,
    SYS_rt_sigprocmask,
    SYS_rt_sigqueueinfo,
    SYS_rt_sigreturn,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_rt_tgsigqueueinfo,
    SYS_sched_getaffinity,
    SYS_sched_getattr,
    SYS_sched_getparam,
    SYS_sched_get_priority_max,
    SYS_sched_get_priority_min,
    SYS_sched_getscheduler,
    SYS_sched_rr_get_interval,
    SYS_sched_setaffinity,
    SYS_sched_setattr,
    SYS_sched_setparam,
    SYS_sched_setscheduler,
    SYS_sched_yield,
    SYS_seccomp,
    SYS_semctl,
    SYS_semget,
    SYS_semop,
    SYS_semtimedop,
    SYS_sendfile,
    SYS_sendmmsg,
    SYS_sendmsg,
    SYS_sendto,
    SYS_setfsgid,
    SYS_setfsuid,
    SYS_setgid,
    SYS_setgroups,
    SYS_setitimer,
    SYS_setpgid,
    SYS_setpriority,
    SYS_setregid,
    SYS_setresgid,
    SYS_setresuid,
    SYS_setreuid,
    SYS_setrlimit,
    SYS_set_robust_list,
    SYS_setsid,
    SYS_setsockopt,
    SYS_set_tid_address,
    SYS_setuid,
    SYS_setxattr,
    SYS_shmat,
    SYS_shmctl,
    SYS_shmdt,
    SYS_shmget,
    SYS_shutdown,
    SYS_sigaltstack,
    SYS_signalfd4,
    SYS_socket,
    SYS_socketpair,
    SYS_splice,
    SYS_statfs,
    SYS_statx,
    SYS_symlinkat,
    SYS_sync,
    SYS_sync_file_range,
    SYS_syncfs,
    SYS_sysinfo,
    SYS_tee,
    SYS_tgkill,
    SYS_timer_create,
    SYS_timer_delete,
    SYS_timer_getoverrun,
    SYS_timer_gettime,
    SYS_timer_settime,
    SYS_timerfd_create,
    SYS_timerfd_gettime,
    SYS_timerfd_settime,
    SYS_times,
    SYS_tkill,
    SYS_truncate,
    SYS_umask,
    SYS_uname,
    SYS_unlinkat,
    SYS_utimensat,
    SYS_vmsplice,
    SYS_wait4,
    SYS_waitid,
    SYS_write,
    SYS_writev,
];

/// The older calls x86_64 still has.
#[cfg(target_arch = "x86_64")]
const ALLOWED_ARCH: &[(&str, i64)] = syscalls![
    SYS_access,
    SYS_alarm,
    SYS_arch_prctl,
    SYS_chmod,
    SYS_chown,
    SYS_creat,
    SYS_dup2,
    SYS_epoll_create,
    SYS_epoll_wait,
    SYS_eventfd,
    SYS_fork,
    SYS_futimesat,
    SYS_getdents,
    SYS_getpgrp,
    SYS_inotify_init,
    SYS_lchown,
    SYS_link,
    SYS_lstat,
    SYS_mkdir,
    SYS_mknod,
    SYS_open,
    SYS_pause,
    SYS_pipe,
    SYS_poll,
    SYS_readlink,
    SYS_rename,
    SYS_rmdir,
    SYS_select,
    SYS_signalfd,
    SYS_stat,
    SYS_symlink,
    SYS_time,
    SYS_unlink,
    SYS_utime,
    SYS_utimes,
    SYS_vfork,
    SYS_modify_ldt,
];
#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_ARCH: &[(&str, i64)] = &[];

/// Calls that a capability brings, as in Docker's profile.
const BY_CAPABILITY: &[(caps::Capability, &[(&str, i64)])] = &[
    (
        caps::Capability::CAP_SYS_ADMIN,
        syscalls![
            SYS_bpf,
            SYS_clone3,
            SYS_fanotify_init,
            SYS_fsconfig,
            SYS_fsmount,
            SYS_fsopen,
            SYS_fspick,
            SYS_lookup_dcookie,
            SYS_mount,
            SYS_mount_setattr,
            SYS_move_mount,
            SYS_open_tree,
            SYS_perf_event_open,
            SYS_quotactl,
            SYS_setdomainname,
            SYS_sethostname,
            SYS_setns,
            SYS_syslog,
            SYS_umount2,
            SYS_unshare,
            SYS_pivot_root,
            SYS_open_by_handle_at,
        ],
    ),
    (caps::Capability::CAP_SYS_BOOT, syscalls![SYS_reboot]),
    (caps::Capability::CAP_SYS_CHROOT, syscalls![SYS_chroot]),
    (
        caps::Capability::CAP_SYS_MODULE,
        syscalls![SYS_delete_module, SYS_init_module, SYS_finit_module],
    ),
    (caps::Capability::CAP_SYS_PACCT, syscalls![SYS_acct]),
    (
        caps::Capability::CAP_SYS_TIME,
        syscalls![SYS_settimeofday, SYS_clock_settime],
    ),
    (
        caps::Capability::CAP_SYS_NICE,
        syscalls![SYS_get_mempolicy, SYS_mbind, SYS_set_mempolicy],
    ),
    (caps::Capability::CAP_SYSLOG, syscalls![SYS_syslog]),
    (caps::Capability::CAP_BPF, syscalls![SYS_bpf]),
    (
        caps::Capability::CAP_PERFMON,
        syscalls![SYS_perf_event_open],
    ),
];

/// The namespace flags of `clone` (CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME).
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0080;

/// The personalities Docker's profile allows.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

fn arch() -> Result<TargetArch, SeccompError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| {
        SeccompError(format!(
            "no seccomp support for {}: {e:?}",
            std::env::consts::ARCH
        ))
    })
}

/// Docker's default filter for a container with the capabilities `granted`.
///
/// Built here rather than by seccompiler: the allowlist is a set of numbers, so the filter is a
/// binary search over ranges of them (about a tenth of a linear chain's length). The kernel
/// loads it faster, and every system call of the container walks a few instructions, not
/// hundreds.
pub fn default_filter(granted: &[caps::Capability]) -> Result<BpfProgram, SeccompError> {
    let mut allowed: Vec<u32> = ALLOWED
        .iter()
        .chain(ALLOWED_ARCH)
        .map(|(_, nr)| *nr as u32)
        .collect();
    for (capability, calls) in BY_CAPABILITY {
        if granted.contains(capability) {
            allowed.extend(calls.iter().map(|(_, nr)| *nr as u32));
        }
    }
    let sys_admin = granted.contains(&caps::Capability::CAP_SYS_ADMIN);
    if sys_admin {
        allowed.push(libc::SYS_clone as u32);
    }
    allowed.sort_unstable();
    allowed.dedup();
    Ok(bpf::allowlist(audit_arch()?, &allowed, sys_admin))
}

/// The AUDIT_ARCH_* value the kernel reports for this architecture.
fn audit_arch() -> Result<u32, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(0xc000_003e),
        "aarch64" => Ok(0xc000_00b7),
        other => Err(SeccompError(format!("no seccomp support for {other}"))),
    }
}

/// Classic BPF for the default filter.
mod bpf {
    use super::{CLONE_NAMESPACE_FLAGS, PERSONALITIES};
    use seccompiler::sock_filter;

    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const JGT_K: u16 = 0x25;
    const JSET_K: u16 = 0x45;
    const JA: u16 = 0x05;
    const RET_K: u16 = 0x06;
    pub(super) const RET_ALLOW: u32 = 0x7fff_0000;
    pub(super) const RET_ERRNO: u32 = 0x0005_0000;
    pub(super) const RET_KILL_PROCESS: u32 = 0x8000_0000;
    const OFFSET_NR: u32 = 0;
    const OFFSET_ARCH: u32 = 4;
    const OFFSET_ARG0_LOW: u32 = 16;

    fn op(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
        sock_filter { code, jt, jf, k }
    }

    fn ret(k: u32) -> sock_filter {
        op(RET_K, 0, 0, k)
    }

    /// The whole program: arch check, special cases, then the allowlist; EPERM otherwise.
    pub(super) fn allowlist(arch: u32, allowed: &[u32], sys_admin: bool) -> Vec<sock_filter> {
        let deny = RET_ERRNO | libc::EPERM as u32;
        let mut out = vec![
            op(LD_W_ABS, 0, 0, OFFSET_ARCH),
            op(JEQ_K, 1, 0, arch),
            ret(RET_KILL_PROCESS),
            op(LD_W_ABS, 0, 0, OFFSET_NR),
        ];
        if !sys_admin {
            // clone3 hides its flags in memory: ENOSYS makes libcs fall back to clone.
            out.extend([
                op(JEQ_K, 0, 1, libc::SYS_clone3 as u32),
                ret(RET_ERRNO | libc::ENOSYS as u32),
            ]);
            // clone: allowed without namespace flags (they sit in the low word of arg 0).
            out.extend([
                op(JEQ_K, 0, 4, libc::SYS_clone as u32),
                op(LD_W_ABS, 0, 0, OFFSET_ARG0_LOW),
                op(JSET_K, 1, 0, CLONE_NAMESPACE_FLAGS as u32),
                ret(RET_ALLOW),
                ret(deny),
            ]);
        }
        // personality: only Docker's values.
        // Layout: jeq personality (else past the block); load arg 0; one comparison per value,
        // each jumping to the allow; deny; allow; then the syscall number again.
        let n = PERSONALITIES.len() as u8;
        out.push(op(JEQ_K, 0, n + 3, libc::SYS_personality as u32));
        out.push(op(LD_W_ABS, 0, 0, OFFSET_ARG0_LOW));
        for (i, value) in PERSONALITIES.iter().enumerate() {
            out.push(op(JEQ_K, n - i as u8, 0, *value as u32));
        }
        out.extend([ret(deny), ret(RET_ALLOW)]);
        out.push(op(LD_W_ABS, 0, 0, OFFSET_NR));
        out.extend(search(&ranges(allowed), deny));
        out
    }

    /// Consecutive numbers as (first, last) ranges.
    pub(super) fn ranges(sorted: &[u32]) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for &nr in sorted {
            match out.last_mut() {
                Some((_, last)) if *last + 1 == nr => *last = nr,
                _ => out.push((nr, nr)),
            }
        }
        out
    }

    /// A binary search over `ranges` for the number in the accumulator: allow inside, deny
    /// outside. Every jump is relative and forward.
    fn search(ranges: &[(u32, u32)], deny: u32) -> Vec<sock_filter> {
        if ranges.len() <= 3 {
            let mut out = Vec::new();
            for &(first, last) in ranges {
                if first == last {
                    out.extend([op(JEQ_K, 0, 1, first), ret(RET_ALLOW)]);
                } else {
                    out.extend([
                        op(JGE_K, 0, 2, first),
                        op(JGT_K, 1, 0, last),
                        ret(RET_ALLOW),
                    ]);
                }
            }
            out.push(ret(deny));
            return out;
        }
        let mid = ranges.len() / 2;
        let left = search(&ranges[..mid], deny);
        let right = search(&ranges[mid..], deny);
        // nr >= first of the right half: over the left half (a long jump); else into it.
        let mut out = vec![
            op(JGE_K, 0, 1, ranges[mid].0),
            op(JA, 0, 0, left.len() as u32),
        ];
        out.extend(left);
        out.extend(right);
        out
    }
}

/// A Docker-format seccomp profile.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    syscalls: Vec<ProfileRule>,
}

/// One rule of a profile.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileRule {
    #[serde(default)]
    names: Vec<String>,
    name: Option<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<ProfileArg>,
    #[serde(default)]
    includes: ProfileScope,
    #[serde(default)]
    excludes: ProfileScope,
}

/// An argument condition of a rule.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileArg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// When a rule applies: capabilities, architectures, a minimum kernel.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ProfileScope {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    min_kernel: Option<String>,
}

/// For each call: `None` when it matches whatever its arguments, else the alternatives of
/// conditions (all of one alternative must hold).
type CallRules = BTreeMap<i64, Option<Vec<Vec<SeccompCondition>>>>;

fn add(rules: &mut CallRules, nr: i64, conditions: &[SeccompCondition]) {
    let entry = rules.entry(nr).or_insert_with(|| Some(Vec::new()));
    match (entry.as_mut(), conditions.is_empty()) {
        (None, _) => {}
        (Some(_), true) => *entry = None,
        (Some(alternatives), false) => alternatives.push(conditions.to_vec()),
    }
}

/// Filters from a Docker-format profile (`defaultAction`, `syscalls: [{names, action, errnoRet,
/// args, includes, excludes}]`) for a container with the capabilities `granted`.
///
/// A seccompiler filter has one action for its matches, so the profile becomes several filters,
/// all loaded: one that answers the default action to every call no rule matches, and one per
/// other action for the rules with that action. The kernel applies the strictest answer of all
/// the filters; a call a rule allows passes them all.
pub fn profile_filters(
    json: &[u8],
    granted: &[caps::Capability],
) -> Result<Vec<BpfProgram>, SeccompError> {
    let profile: Profile =
        serde_json::from_slice(json).map_err(|e| SeccompError(format!("invalid profile: {e}")))?;
    let has_cap = |name: &String| {
        name.parse::<caps::Capability>()
            .is_ok_and(|c| granted.contains(&c))
    };
    let arch_names: &[&str] = match std::env::consts::ARCH {
        "x86_64" => &["amd64", "x86_64", "SCMP_ARCH_X86_64"],
        "aarch64" => &["arm64", "aarch64", "SCMP_ARCH_AARCH64"],
        _ => &[],
    };
    let kernel = kernel_version(&crate::host::kernel_release());
    let applies = |rule: &ProfileRule| {
        let (inc, exc) = (&rule.includes, &rule.excludes);
        inc.caps.iter().all(has_cap)
            && (inc.arches.is_empty()
                || inc.arches.iter().any(|a| arch_names.contains(&a.as_str())))
            && inc
                .min_kernel
                .as_deref()
                .is_none_or(|min| kernel >= kernel_version(min))
            && !exc.caps.iter().any(has_cap)
            && !exc.arches.iter().any(|a| arch_names.contains(&a.as_str()))
            && exc
                .min_kernel
                .as_deref()
                .is_none_or(|min| kernel < kernel_version(min))
    };
    let default = action(&profile.default_action, profile.default_errno_ret)?;
    let mut by_action: BTreeMap<String, (SeccompAction, CallRules)> = BTreeMap::new();
    let mut named = CallRules::new();
    for rule in profile.syscalls.iter().filter(|r| applies(r)) {
        let act = action(&rule.action, rule.errno_ret)?;
        let conditions = rule
            .args
            .iter()
            .map(condition)
            .collect::<Result<Vec<_>, _>>()?;
        let group = &mut by_action
            .entry(format!("{act:?}"))
            .or_insert_with(|| (act.clone(), CallRules::new()))
            .1;
        for name in rule.names.iter().chain(&rule.name) {
            if let Some(nr) = syscall_number(name) {
                add(group, nr, &conditions);
                add(&mut named, nr, &conditions);
            }
        }
    }
    let arch = arch()?;
    let build = |rules: CallRules,
                 mismatch: SeccompAction,
                 matched: SeccompAction|
     -> Result<BpfProgram, SeccompError> {
        let mut converted = BTreeMap::new();
        for (nr, alternatives) in rules {
            let list = match alternatives {
                None => Vec::new(),
                Some(alternatives) => alternatives
                    .into_iter()
                    .map(|c| SeccompRule::new(c).map_err(|e| SeccompError(e.to_string())))
                    .collect::<Result<_, _>>()?,
            };
            converted.insert(nr, list);
        }
        let filter = SeccompFilter::new(converted, mismatch, matched, arch)
            .map_err(|e| SeccompError(e.to_string()))?;
        let mut program: BpfProgram = filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| SeccompError(e.to_string()))?;
        for instruction in &mut program {
            if instruction.code == BPF_RET_K && instruction.k == RET_TRACE | NOTIFY_MARK {
                instruction.k = RET_USER_NOTIF;
            }
        }
        Ok(program)
    };
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        filters.push(build(named, default, SeccompAction::Allow)?);
    }
    for (_, (act, rules)) in by_action {
        if act != SeccompAction::Allow && !rules.is_empty() {
            filters.push(build(rules, SeccompAction::Allow, act)?);
        }
    }
    Ok(filters)
}

/// `BPF_RET | BPF_K`: return a constant.
const BPF_RET_K: u16 = 0x06;
/// `SECCOMP_RET_TRACE`.
const RET_TRACE: u32 = 0x7ff0_0000;
/// `SECCOMP_RET_USER_NOTIF`: the call waits for the supervisor holding the listener.
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// The data of the trace action that stands for `SCMP_ACT_NOTIFY` until compiled.
const NOTIFY_MARK: u32 = 0xb17e;

/// Whether `program` hands calls to a supervisor (it was built with `SCMP_ACT_NOTIFY`
/// rules): it must be loaded with a listener.
pub fn notifies(program: &BpfProgram) -> bool {
    program
        .iter()
        .any(|i| i.code == BPF_RET_K && i.k == RET_USER_NOTIF)
}

/// `major * 1000 + minor` of a kernel release such as `6.18.44-fc` or a profile's `4.8`.
fn kernel_version(release: &str) -> u32 {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    parts.next().unwrap_or(0) * 1000 + parts.next().unwrap_or(0)
}

/// A profile's argument condition as seccompiler's.
fn condition(arg: &ProfileArg) -> Result<SeccompCondition, SeccompError> {
    let op = match arg.op.as_str() {
        "SCMP_CMP_EQ" => SeccompCmpOp::Eq,
        "SCMP_CMP_NE" => SeccompCmpOp::Ne,
        "SCMP_CMP_LT" => SeccompCmpOp::Lt,
        "SCMP_CMP_LE" => SeccompCmpOp::Le,
        "SCMP_CMP_GT" => SeccompCmpOp::Gt,
        "SCMP_CMP_GE" => SeccompCmpOp::Ge,
        "SCMP_CMP_MASKED_EQ" => {
            return SeccompCondition::new(
                arg.index,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(arg.value),
                arg.value_two,
            )
            .map_err(|e| SeccompError(e.to_string()));
        }
        other => {
            return Err(SeccompError(format!(
                "unsupported argument comparison {other}"
            )));
        }
    };
    SeccompCondition::new(arg.index, SeccompCmpArgLen::Qword, op, arg.value)
        .map_err(|e| SeccompError(e.to_string()))
}

fn action(name: &str, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        // seccompiler has no user notification: a trace with a mark, rewritten once compiled.
        "SCMP_ACT_NOTIFY" => SeccompAction::Trace(NOTIFY_MARK),
        other => return Err(SeccompError(format!("unsupported action {other}"))),
    })
}

/// The number of a call named in a profile, if this architecture has it.
fn syscall_number(name: &str) -> Option<i64> {
    let wanted = format!("SYS_{name}");
    ALLOWED
        .iter()
        .chain(ALLOWED_ARCH)
        .chain(BY_CAPABILITY.iter().flat_map(|(_, calls)| calls.iter()))
        .chain(syscalls![SYS_clone, SYS_personality])
        .find(|(n, _)| *n == wanted)
        .map(|(_, nr)| *nr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_for_default_and_sys_admin() {
        assert!(default_filter(&[]).unwrap().len() > 100);
        assert!(default_filter(&[caps::Capability::CAP_SYS_ADMIN]).is_ok());
    }

    /// Runs a classic BPF program on one `seccomp_data` (nr, arch, args[0]).
    fn evaluate(program: &[seccompiler::sock_filter], nr: u32, arch: u32, arg0: u64) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = &program[pc];
            let next = |taken: bool| pc + 1 + if taken { i.jt as usize } else { i.jf as usize };
            match i.code {
                0x20 => {
                    acc = match i.k {
                        0 => nr,
                        4 => arch,
                        16 => arg0 as u32,
                        20 => (arg0 >> 32) as u32,
                        k => panic!("load at {k}"),
                    };
                    pc += 1;
                }
                0x15 => pc = next(acc == i.k),
                0x35 => pc = next(acc >= i.k),
                0x25 => pc = next(acc > i.k),
                0x45 => pc = next(acc & i.k != 0),
                0x05 => pc += 1 + i.k as usize,
                0x06 => return i.k,
                code => panic!("opcode {code:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_decides_as_the_rules_say() {
        let arch = audit_arch().unwrap();
        for sys_admin in [false, true] {
            let granted = if sys_admin {
                vec![caps::Capability::CAP_SYS_ADMIN]
            } else {
                vec![]
            };
            let program = default_filter(&granted).unwrap();
            assert!(
                program.len() < 400,
                "compact: {} instructions",
                program.len()
            );
            let mut allowed: Vec<i64> = ALLOWED
                .iter()
                .chain(ALLOWED_ARCH)
                .map(|(_, nr)| *nr)
                .collect();
            if sys_admin {
                allowed.extend(BY_CAPABILITY[0].1.iter().map(|(_, nr)| *nr));
            }
            let eperm = bpf::RET_ERRNO | libc::EPERM as u32;
            for nr in 0..600u32 {
                let got = evaluate(&program, nr, arch, 0);
                let nr = nr as i64;
                let want = if nr == libc::SYS_clone3 && !sys_admin {
                    bpf::RET_ERRNO | libc::ENOSYS as u32
                } else if allowed.contains(&nr)
                    || nr == libc::SYS_clone
                    || nr == libc::SYS_personality
                {
                    bpf::RET_ALLOW
                } else {
                    eperm
                };
                assert_eq!(got, want, "syscall {nr} (sys_admin: {sys_admin})");
            }
            let clone = libc::SYS_clone as u32;
            let new_net = libc::CLONE_NEWNET as u64;
            assert_eq!(
                evaluate(&program, clone, arch, libc::SIGCHLD as u64),
                bpf::RET_ALLOW
            );
            assert_eq!(
                evaluate(&program, clone, arch, new_net),
                if sys_admin { bpf::RET_ALLOW } else { eperm }
            );
            let personality = libc::SYS_personality as u32;
            assert_eq!(evaluate(&program, personality, arch, 0x8), bpf::RET_ALLOW);
            assert_eq!(evaluate(&program, personality, arch, 0x40000), eperm);
            assert_eq!(
                evaluate(&program, 0, 0x1234, 0),
                bpf::RET_KILL_PROCESS,
                "a foreign architecture"
            );
        }
    }

    #[test]
    fn ranges_collapse_runs() {
        assert_eq!(bpf::ranges(&[1, 2, 3, 7, 9, 10]), [(1, 3), (7, 7), (9, 10)]);
    }

    #[test]
    fn profiles_become_one_filter_per_action() {
        let blocklist = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdirat","mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;
        assert_eq!(profile_filters(blocklist, &[]).unwrap().len(), 1);
        let mixed = br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
            {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#;
        // The default filter, and one for ERRNO(38).
        assert_eq!(profile_filters(mixed, &[]).unwrap().len(), 2);
        let bad = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_NOPE"}]}]}"#;
        assert!(
            profile_filters(bad, &[])
                .unwrap_err()
                .to_string()
                .contains("unsupported argument comparison")
        );
        assert!(profile_filters(b"{", &[]).is_err());
    }

    #[test]
    fn kernel_versions_compare() {
        assert!(kernel_version("6.18.44-fc-v669") >= kernel_version("4.8"));
        assert!(kernel_version("5.4.0") < kernel_version("5.10"));
    }
}
