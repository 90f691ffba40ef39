//! The eBPF device filter on its own, as root: a process in a cgroup2 directory with the filter
//! opens the devices its rules allow and no other, whatever v1's devices controller says.

use berth_runtime::cgroups::{self, CgroupMode};
use berth_runtime::devices::{DeviceRule, attach_filter};
use std::path::PathBuf;

/// A cgroup2 directory for this test: in the unified hierarchy of a hybrid host, or the root
/// of a v2 host. `None` on a pure v1 host, which has nowhere to attach the filter.
fn cgroup2_dir() -> Option<PathBuf> {
    let layout = cgroups::detect().expect("cgroup layout");
    let base = match layout.mode {
        CgroupMode::V2 => layout.root,
        CgroupMode::Hybrid => layout.root.join("unified"),
        CgroupMode::V1 => return None,
    };
    Some(base.join(format!("berth-devices-test-{}", std::process::id())))
}

#[test]
fn the_filter_allows_only_its_rules() {
    let Some(dir) = cgroup2_dir() else {
        assert!(
            std::env::var("CI").is_err(),
            "no cgroup2 hierarchy on this host"
        );
        return;
    };
    std::fs::create_dir(&dir).unwrap();
    let nodes = tempfile::tempdir().unwrap();
    let (null, zero) = (nodes.path().join("null"), nodes.path().join("zero"));
    for (path, minor) in [(&null, 3), (&zero, 5)] {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, minor),
        )
        .unwrap();
    }
    attach_filter(&dir, &[DeviceRule::parse("c 1:3 rwm").unwrap()]).unwrap();

    // SAFETY: fork in a test process; the child only makes plain system calls, then _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let joined =
            std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).is_ok();
        let null_ok = std::fs::File::open(&null).is_ok();
        let zero_denied = std::fs::File::open(&zero)
            .err()
            .and_then(|e| e.raw_os_error())
            == Some(libc::EPERM);
        let code = if !joined {
            10
        } else if !null_ok {
            11
        } else if !zero_denied {
            12
        } else {
            0
        };
        // SAFETY: ends the forked child without running the test harness's atexit work.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    std::fs::remove_dir(&dir).unwrap();
    match libc::WEXITSTATUS(status) {
        0 => {}
        10 => panic!("could not join the cgroup"),
        11 => panic!("an allowed device was refused"),
        12 => panic!("a device outside the rules could be opened"),
        other => panic!("child exited {other}"),
    }
}
