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

/// Held by each test: run beside the created container of the other, the re-entered berth
/// did not see its stdin end.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

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

/// An OCI bundle in `copy`'s dir: busybox as its rootfs, the spec's defaults (no terminal),
/// `args` as its process.
fn bundle(copy: &Copy, args: serde_json::Value) -> PathBuf {
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
    let spec = Command::new(copy.runc())
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(spec.success());
    let config = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    spec["process"]["args"] = args;
    spec["process"]["terminal"] = false.into();
    std::fs::write(&config, spec.to_string()).unwrap();
    bundle
}

// runc (since 1.2) runs its container side from a read-only overlayfs view of its binary, or
// from a sealed memfd copy (runc 1.0-1.1, crun, youki): the container's append fails.
#[test]
fn a_created_container_cannot_append_to_berth_runc_after_it_exits() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let copy = Copy::new();
    let bundle = bundle(&copy, serde_json::json!(["sleep", "30"]));
    let bundle_arg = bundle.to_str().unwrap();
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

/// The container's watcher: takes the handle on the first berth whose `/proc/PID/exe` it may
/// read, logs it, and once nothing executes the binary any more appends to it through
/// `/proc/self/fd/3`; it logs `WROTE` or the last error.
const WATCHER: &str = r#"while :; do
  for d in /proc/[0-9]*; do
    case "$(readlink $d/exe 2>/dev/null)" in
    *berth*)
      exec 3< $d/exe
      echo "hit $(readlink $d/exe)" >> /log
      i=0
      while [ $i -lt 60 ]; do
        if err=$(echo PWNED-BY-CONTAINER 2>&1 >> /proc/self/fd/3); then
          echo WROTE >> /log
          exit 0
        fi
        sleep 0.1
        i=$((i + 1))
      done
      echo "failed: $err" >> /log
      exit 0 ;;
    esac
  done
done
"#;

// CVE-2019-5736 as runc met it, all from inside the container: a process re-enters the
// runtime's binary through `/proc/self/exe` (here as `/x`'s interpreter), a watcher in the
// container takes that process's `/proc/PID/exe` and writes to it once the process exits. runc
// since 1.2 runs from a read-only overlayfs view of its binary (a sealed memfd copy before):
// the write fails with EROFS, as it must for berth.
#[test]
fn a_container_cannot_write_to_berth_runc_through_a_reentered_proc_self_exe() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let copy = Copy::new();
    let bundle = bundle(&copy, serde_json::json!(["/bin/sh", "/watch.sh"]));
    let rootfs = bundle.join("rootfs");
    let config = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    spec["process"]["env"] = serde_json::json!(["PATH=/bin"]);
    // The watcher logs, and the re-entered berth makes its data root, in the rootfs.
    spec["root"]["readonly"] = false.into();
    std::fs::write(&config, spec.to_string()).unwrap();
    // The debug berth is dynamically linked: its loader and libraries at their host paths.
    let ldd = Command::new("ldd").arg(copy.berth()).output().unwrap();
    assert!(ldd.status.success());
    for library in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
    {
        let inside = rootfs.join(library.trim_start_matches('/'));
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::copy(library, inside).unwrap();
    }
    // The option swallows the `/x` that the kernel appends, so that berth takes the subcommand
    // after it from exec's arguments.
    std::fs::write(rootfs.join("x"), "#!/proc/self/exe --insecure-registry\n").unwrap();
    std::fs::set_permissions(
        rootfs.join("x"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(rootfs.join("watch.sh"), WATCHER).unwrap();
    let before = copy.sha256();
    let runc = || {
        let mut runc = Command::new(copy.runc());
        runc.arg("--root").arg(copy.dir.path().join("state"));
        runc
    };

    let run = runc()
        .args(["run", "-d", "--bundle"])
        .arg(&bundle)
        .arg("attacked")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(run.success());
    // The re-entered berth reads a password until its stdin ends, and exits then.
    let mut login = runc()
        .args(["exec", "attacked", "/x", "login", "--password-stdin"])
        .args(["-u", "a", "127.0.0.1:9"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    drop(login.stdin.take());
    let login = login.wait_with_output().unwrap();
    let login = String::from_utf8_lossy(&login.stderr);
    let log = rootfs.join("log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let verdict = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("WROTE") || text.contains("failed") || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let after = copy.sha256();
    let deleted = runc()
        .args(["delete", "--force", "attacked"])
        .status()
        .unwrap();
    assert!(deleted.success());
    assert!(
        verdict.contains("hit "),
        "the watcher found no berth: {verdict:?} (exec: {login})"
    );
    assert!(
        verdict.contains("Read-only file system"),
        "{verdict} (exec: {login})"
    );
    assert_eq!(after, before, "the host's binary changed");
}
