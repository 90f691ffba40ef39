//! A container cannot reach the host's berth binary (issue 18, the runc CVE-2019-5736 class).
//! A container's first process is a clone of berth until its command's `execve`: whoever
//! opens its `/proc/PID/exe` holds the binary, and once nothing
//! executes the file any more (`berth-runc` exits after `start`), reopens that handle through
//! `/proc/self/fd/N` for writing. The tests take the handle as an attacker would (from the
//! host, which a non-dumpable process does not keep out) and try the append. Every attack runs
//! against a copy of berth in a temp dir, so that a failing defence corrupts only the copy.

mod common;

use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A copy of berth, as `berth` and (linked to it) `berth-runc`.
struct Copy {
    dir: tempfile::TempDir,
}

impl Copy {
    fn new() -> Copy {
        let dir = tempfile::Builder::new()
            .prefix("berth-exe-")
            .tempdir()
            .unwrap();
        let copy = Copy { dir };
        std::fs::copy(assert_cmd::cargo::cargo_bin("berth"), copy.berth()).unwrap();
        std::fs::hard_link(copy.berth(), copy.runc()).unwrap();
        copy
    }

    fn berth(&self) -> PathBuf {
        self.dir.path().join("berth")
    }

    fn runc(&self) -> PathBuf {
        self.dir.path().join("berth-runc")
    }

    fn sha256(&self) -> String {
        let out = Command::new("sha256sum")
            .arg(self.berth())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The handle on `/proc/PID/exe` that an attacker takes while `pid` runs berth.
fn take_handle(pid: i64) -> std::fs::File {
    std::fs::File::open(format!("/proc/{pid}/exe"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/exe: {e}"))
}

/// The attack's end, once nothing executes the binary: the handle is not the copy (another
/// device or inode), reopening it for an append fails as a read-only file system (or a sealed
/// memfd) refuses, and the copy is unchanged.
fn assert_repelled(copy: &Copy, handle: &std::fs::File, before: &str) {
    use std::os::fd::AsRawFd;
    let (held, host) = (
        handle.metadata().unwrap(),
        std::fs::metadata(copy.berth()).unwrap(),
    );
    let append = std::fs::OpenOptions::new()
        .append(true)
        .open(format!("/proc/self/fd/{}", handle.as_raw_fd()))
        .and_then(|mut file| file.write_all(b"PWNED"));
    assert_ne!(
        (held.dev(), held.ino()),
        (host.dev(), host.ino()),
        "the handle is the host's binary (append: {append:?})"
    );
    let error = append.expect_err("the append went through");
    assert!(
        matches!(error.raw_os_error(), Some(libc::EROFS) | Some(libc::EPERM)),
        "{error}"
    );
    assert_eq!(copy.sha256(), before, "the host's binary changed");
}

// runc (since 1.2) runs its container side from a read-only overlayfs view of its binary, or
// from a sealed memfd copy (runc 1.0-1.1, crun, youki): the container's append fails.
#[test]
fn a_created_container_cannot_append_to_berth_runc_after_it_exits() {
    let copy = Copy::new();
    let bundle = copy.dir.path().join("bundle");
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let mut untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&rootfs)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let layer = berth_testkit::busybox::layer().unwrap().tar();
    untar.stdin.take().unwrap().write_all(&layer).unwrap();
    assert!(untar.wait().unwrap().success());
    let runc = |args: &[&str]| {
        let out = Command::new(copy.runc())
            .arg("--root")
            .arg(copy.dir.path().join("state"))
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "berth-runc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bundle_arg = bundle.to_str().unwrap();
    runc(&["spec", "--bundle", bundle_arg]);
    let config = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    spec["process"]["args"] = serde_json::json!(["sleep", "30"]);
    spec["process"]["terminal"] = false.into();
    std::fs::write(&config, spec.to_string()).unwrap();
    let before = copy.sha256();

    // The created container inherits create's streams: no pipe of the test's.
    let created = Command::new(copy.runc())
        .arg("--root")
        .arg(copy.dir.path().join("state"))
        .args(["create", "--bundle", bundle_arg, "attacked"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success());
    let state: serde_json::Value = serde_json::from_str(&runc(&["state", "attacked"])).unwrap();
    let handle = take_handle(state["pid"].as_i64().unwrap());
    // The init execs its command; no berth-runc runs any more.
    runc(&["start", "attacked"]);
    let outcome = std::panic::catch_unwind(|| assert_repelled(&copy, &handle, &before));
    runc(&["delete", "--force", "attacked"]);
    outcome.unwrap();
}
