//! `berth-runc`, berth's runtime behind runc's command line: the OCI life cycle on a bundle,
//! `run`, `exec`, console sockets, bad input with runc's errors, and Podman driving it.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A state root, berth as `berth-runc` and a busybox bundle.
struct Runc {
    dir: tempfile::TempDir,
}

impl Runc {
    fn new() -> Runc {
        let dir = tempfile::Builder::new()
            .prefix("berth-runc-")
            .tempdir()
            .unwrap();
        // A hard link (or a copy): the name is what makes berth speak runc's command line.
        let (binary, link) = (
            assert_cmd::cargo::cargo_bin("berth"),
            dir.path().join("berth-runc"),
        );
        std::fs::hard_link(&binary, &link)
            .or_else(|_| std::fs::copy(&binary, &link).map(|_| ()))
            .unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        let tar = berth_testkit::busybox::layer().unwrap().tar();
        let mut untar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&rootfs)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut untar.stdin.take().unwrap(), &tar).unwrap();
        assert!(untar.wait().unwrap().success());
        let runc = Runc { dir };
        runc.ok(&["spec", "--bundle", runc.bundle().to_str().unwrap()]);
        runc.set_process(&["sh", "-c", "echo started > /tmp/out; sleep 30"], false);
        runc
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn rootfs_file(&self, path: &str) -> PathBuf {
        self.bundle().join("rootfs").join(path)
    }

    /// Edits the bundle's spec: the process's args and terminal, a writable root.
    fn set_process(&self, args: &[&str], terminal: bool) {
        self.edit_spec(|spec| {
            spec["process"]["args"] = serde_json::json!(args);
            spec["process"]["terminal"] = terminal.into();
            spec["root"]["readonly"] = false.into();
        });
    }

    fn edit_spec(&self, change: impl FnOnce(&mut Value)) {
        let path = self.bundle().join("config.json");
        let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        change(&mut spec);
        std::fs::write(&path, spec.to_string()).unwrap();
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(self.dir.path().join("berth-runc"));
        cmd.arg("--root")
            .arg(self.dir.path().join("state"))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs berth-runc. A created container inherits its streams, so for `create` and
    /// `run --detach` they go to files (a pipe would stay open as long as the container runs).
    fn output(&self, args: &[&str]) -> Output {
        let mut cmd = self.command();
        cmd.args(args);
        if !matches!(args.first(), Some(&"create") | Some(&"run")) {
            return cmd.output().unwrap();
        }
        let (out, err) = (
            self.dir.path().join("stdout"),
            self.dir.path().join("stderr"),
        );
        let status = cmd
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: std::fs::read(&out).unwrap_or_default(),
            stderr: std::fs::read(&err).unwrap_or_default(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "berth-runc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Asserts that berth-runc fails with exit code 1 and, as runc does without `--log`, an
    /// error log line on stderr whose message contains `needle`.
    fn fails(&self, args: &[&str], needle: &str) {
        let out = self.output(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "berth-runc {args:?}: {stderr}");
        let line = stderr.lines().last().unwrap_or_default();
        let (head, msg) = line.split_once(" msg=").expect("a log line");
        assert!(
            head.starts_with("time=\"") && head.ends_with(" level=error"),
            "{line}"
        );
        let message: String = serde_json::from_str(msg).expect("a quoted message");
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }

    /// Asserts that `run` of `bundle` as `id` fails with `needle` and that nothing is left of
    /// the container: no state, no cgroup in any hierarchy.
    fn refuses_run(&self, bundle: &str, id: &str, needle: &str) {
        self.fails(&["run", "--detach", "--bundle", bundle, id], needle);
        assert_eq!(self.ok(&["list", "-q"]).trim(), "");
        let hierarchies = std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten();
        for root in hierarchies
            .map(|e| e.path())
            .chain([PathBuf::from("/sys/fs/cgroup")])
        {
            let cgroup = root.join(id);
            assert!(
                !cgroup.exists(),
                "{} outlived the refusal",
                cgroup.display()
            );
        }
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    fn until_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.state(id)["status"] != status {
            assert!(Instant::now() < deadline, "{id} never became {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        let list = self.command().args(["list", "-q"]).output();
        if let Ok(list) = list {
            for id in String::from_utf8_lossy(&list.stdout).split_whitespace() {
                let _ = self.command().args(["delete", "--force", id]).output();
            }
        }
        // Podman's storage keeps its overlay directory mounted: nothing stays below the dir.
        let mut mounts = mounts_below(self.dir.path());
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in mounts {
            let _ = rustix::mount::unmount(mount.as_str(), rustix::mount::UnmountFlags::DETACH);
        }
    }
}

fn bundle_arg(runc: &Runc) -> String {
    runc.bundle().display().to_string()
}

#[test]
fn create_start_state_kill_and_delete() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    let pid_file = runc.dir.path().join("pid");
    runc.ok(&[
        "create",
        "--bundle",
        &bundle,
        "--pid-file",
        pid_file.to_str().unwrap(),
        "c1",
    ]);
    let state = runc.state("c1");
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], "c1");
    // The state root is root's alone (runc makes /run/runc 0700).
    let root_mode = std::fs::metadata(runc.dir.path().join("state")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&root_mode.permissions()) & 0o777,
        0o700
    );
    let pid = state["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // Set up, but its command has not run.
    assert!(!runc.rootfs_file("tmp/out").exists());
    runc.fails(
        &["create", "--bundle", &bundle, "c1"],
        "container with id exists: c1",
    );

    runc.ok(&["start", "c1"]);
    assert_eq!(runc.state("c1")["status"], "running");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !runc.rootfs_file("tmp/out").exists() {
        assert!(Instant::now() < deadline, "the command never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    runc.fails(
        &["start", "c1"],
        "cannot start an already running container",
    );
    let pids: Vec<i64> = serde_json::from_str(&runc.ok(&["ps", "--format", "json", "c1"])).unwrap();
    assert!(pids.contains(&pid), "{pids:?}");
    // The table: the process's host pid and its command line.
    let table = runc.ok(&["ps", "c1"]);
    assert!(table.starts_with("UID"), "{table}");
    assert!(
        table.lines().any(
            |l| l.split_whitespace().nth(1) == Some(&pid.to_string()) && l.contains("sleep 30")
        ),
        "{table}"
    );
    let list: Value = serde_json::from_str(&runc.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["id"], "c1");
    assert_eq!(list[0]["status"], "running");

    runc.ok(&["pause", "c1"]);
    assert_eq!(runc.state("c1")["status"], "paused");
    runc.ok(&["resume", "c1"]);
    assert_eq!(runc.state("c1")["status"], "running");
    let stats: Value = serde_json::from_str(&runc.ok(&["events", "--stats", "c1"])).unwrap();
    assert!(
        stats["data"]["pids"]["current"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    // update: new limits for the running container.
    runc.ok(&["update", "--memory", "67108864", "c1"]);
    let stats: Value = serde_json::from_str(&runc.ok(&["events", "--stats", "c1"])).unwrap();
    assert_eq!(
        stats["data"]["memory"]["usage"]["limit"], 67108864,
        "{stats}"
    );
    let resources = runc.dir.path().join("resources.json");
    std::fs::write(&resources, r#"{"memory":{"limit":33554432}}"#).unwrap();
    runc.ok(&["update", "--resources", resources.to_str().unwrap(), "c1"]);
    let stats: Value = serde_json::from_str(&runc.ok(&["events", "--stats", "c1"])).unwrap();
    assert_eq!(
        stats["data"]["memory"]["usage"]["limit"], 33554432,
        "{stats}"
    );

    runc.fails(
        &["delete", "c1"],
        "cannot delete container c1 that is not stopped: running",
    );
    runc.ok(&["kill", "c1", "KILL"]);
    runc.until_status("c1", "stopped");
    runc.fails(&["kill", "c1"], "container not running");
    runc.ok(&["delete", "c1"]);
    runc.fails(&["state", "c1"], "container \"c1\" does not exist");
    assert_eq!(runc.ok(&["list", "-q"]).trim(), "");
}

#[test]
fn run_passes_the_exit_code_and_deletes_the_container() {
    let runc = Runc::new();
    runc.set_process(&["sh", "-c", "echo $(hostname) > /tmp/host; exit 3"], false);
    let bundle = bundle_arg(&runc);
    let out = runc.output(&["run", "--bundle", &bundle, "r1"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        std::fs::read_to_string(runc.rootfs_file("tmp/host"))
            .unwrap()
            .trim(),
        "berth"
    );
    runc.fails(&["state", "r1"], "does not exist");

    // --detach returns once it runs; delete --force ends it.
    runc.set_process(&["sleep", "30"], false);
    runc.ok(&["run", "--detach", "--bundle", &bundle, "r2"]);
    assert_eq!(runc.state("r2")["status"], "running");
    runc.ok(&["delete", "--force", "r2"]);
    assert_eq!(runc.ok(&["list", "-q"]).trim(), "");
}

#[test]
fn exec_joins_the_container_and_returns_the_exit_code() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    runc.ok(&["run", "--detach", "--bundle", &bundle, "e1"]);
    let init = runc.state("e1")["pid"].as_i64().unwrap();
    let out = runc.output(&["exec", "e1", "sh", "-c", "echo $$; hostname; exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_ne!(
        lines[0],
        init.to_string(),
        "exec runs in the container's PID namespace"
    );
    assert_eq!(lines[1], "berth");
    // A process file, as conmon and the containerd shim pass it.
    let process = runc.dir.path().join("process.json");
    std::fs::write(
        &process,
        serde_json::json!({ "terminal": false, "args": ["sh", "-c", "echo from-process-file; exit 2"], "cwd": "/", "user": { "uid": 0, "gid": 0 }, "env": ["PATH=/bin"] }).to_string(),
    )
    .unwrap();
    let out = runc.output(&["exec", "--process", process.to_str().unwrap(), "e1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("from-process-file"));
    runc.ok(&["delete", "--force", "e1"]);
}

#[test]
fn namespaces_are_joined_by_path() {
    let runc = Runc::new();
    runc.edit_spec(|spec| spec["hostname"] = "first".into());
    let bundle = bundle_arg(&runc);
    runc.ok(&["run", "--detach", "--bundle", &bundle, "n1"]);
    let pid = runc.state("n1")["pid"].as_i64().unwrap();
    // A second container in the first one's UTS, IPC and network namespaces (a pod).
    let ns = |kind: &str| format!("/proc/{pid}/ns/{kind}");
    runc.edit_spec(|spec| {
        spec.as_object_mut().unwrap().remove("hostname");
        spec["linux"]["namespaces"] = serde_json::json!([
            { "type": "pid" }, { "type": "mount" },
            { "type": "uts", "path": ns("uts") },
            { "type": "ipc", "path": ns("ipc") },
            { "type": "network", "path": ns("net") },
        ]);
    });
    runc.set_process(&["sh", "-c", "hostname > /tmp/joined"], false);
    let out = runc.output(&["run", "--bundle", &bundle, "n2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(runc.rootfs_file("tmp/joined"))
            .unwrap()
            .trim(),
        "first"
    );
    // A mount namespace joined by path (a copy of the host's, where the bundle is): the
    // container's file system is made in it.
    let mut holder = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sleep", "30"])
        .spawn()
        .unwrap();
    let holder_ns = format!("/proc/{}/ns/mnt", holder.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(&holder_ns).ok() == std::fs::read_link("/proc/self/ns/mnt").ok() {
        assert!(
            Instant::now() < deadline,
            "unshare never made its namespace"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    runc.edit_spec(|spec| {
        spec["linux"]["namespaces"] = serde_json::json!([
            { "type": "pid" }, { "type": "uts" }, { "type": "mount", "path": holder_ns },
        ]);
    });
    runc.set_process(
        &["sh", "-c", "readlink /proc/self/ns/mnt > /tmp/mnt"],
        false,
    );
    let joined = runc.output(&["run", "--bundle", &bundle, "n3"]);
    let holder_mnt = std::fs::read_link(&holder_ns).unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(runc.rootfs_file("tmp/mnt"))
            .unwrap()
            .trim(),
        holder_mnt.to_str().unwrap()
    );
    // A hostname needs a UTS namespace apart from the host's.
    runc.edit_spec(|spec| {
        spec["hostname"] = "second".into();
        spec["linux"]["namespaces"] = serde_json::json!([{ "type": "mount" }]);
    });
    runc.fails(
        &["create", "--bundle", &bundle, "n4"],
        "unable to set hostname without a private UTS namespace",
    );
    runc.ok(&["delete", "--force", "n1"]);
}

/// The mount points below `dir` in this process's mount namespace.
fn mounts_below(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(dir))
        .map(str::to_owned)
        .collect()
}

#[test]
fn user_namespaces_map_ids_and_are_joined_by_exec_and_by_path() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    let mapping = serde_json::json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    runc.edit_spec(|spec| {
        let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.push(serde_json::json!({ "type": "user" }));
        spec["linux"]["uidMappings"] = mapping.clone();
        spec["linux"]["gidMappings"] = mapping.clone();
    });
    runc.set_process(
        &[
            "sh",
            "-c",
            "id -u > /tmp/uid; cat /proc/self/uid_map > /tmp/map; echo x > /dev/null; sleep 30",
        ],
        false,
    );
    runc.ok(&["run", "--detach", "--bundle", &bundle, "u1"]);
    let pid = runc.state("u1")["pid"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !runc.rootfs_file("tmp/map").exists() {
        assert!(
            Instant::now() < deadline,
            "the container never wrote its map"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    // Root inside, uid 100000 as the host sees it, and its files owned by that uid.
    assert_eq!(
        std::fs::read_to_string(runc.rootfs_file("tmp/uid"))
            .unwrap()
            .trim(),
        "0"
    );
    let map = std::fs::read_to_string(runc.rootfs_file("tmp/map")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("100000"),
        "{uid_line}"
    );
    let owner = std::os::unix::fs::MetadataExt::uid(
        &std::fs::metadata(runc.rootfs_file("tmp/uid")).unwrap(),
    );
    assert_eq!(owner, 100000);
    let user_ns = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    let user_ns = user_ns.to_str().unwrap();
    assert_ne!(
        std::fs::read_link("/proc/self/ns/user").unwrap().to_str(),
        Some(user_ns)
    );

    // exec joins the user namespace too.
    let out = runc.ok(&[
        "exec",
        "u1",
        "sh",
        "-c",
        "id -u; readlink /proc/self/ns/user",
    ]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", user_ns]);

    // A second container joins it by path, with namespaces of its own that belong to it.
    runc.edit_spec(|spec| {
        spec["linux"]["namespaces"] = serde_json::json!([
            { "type": "pid" }, { "type": "mount" }, { "type": "uts" }, { "type": "ipc" },
            { "type": "user", "path": format!("/proc/{pid}/ns/user") },
        ]);
        let linux = spec["linux"].as_object_mut().unwrap();
        linux.remove("uidMappings");
        linux.remove("gidMappings");
    });
    runc.set_process(
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/user > /tmp/joined; id -u >> /tmp/joined",
        ],
        false,
    );
    runc.ok(&["run", "--bundle", &bundle, "u2"]);
    let joined = std::fs::read_to_string(runc.rootfs_file("tmp/joined")).unwrap();
    assert_eq!(
        joined.split_whitespace().collect::<Vec<_>>(),
        [user_ns, "0"]
    );
    runc.ok(&["delete", "--force", "u1"]);

    // A new user namespace needs its mappings, and mappings need one.
    runc.edit_spec(|spec| {
        spec["linux"]["namespaces"] = serde_json::json!([{ "type": "mount" }, { "type": "user" }]);
    });
    runc.fails(
        &["create", "--bundle", &bundle, "u3"],
        "a new user namespace needs linux.uidMappings",
    );
    runc.edit_spec(|spec| {
        spec["linux"]["namespaces"] = serde_json::json!([{ "type": "mount" }]);
        spec["linux"]["uidMappings"] = mapping.clone();
        spec["linux"]["gidMappings"] = mapping;
    });
    runc.fails(
        &["create", "--bundle", &bundle, "u4"],
        "need a new user namespace",
    );
}

#[test]
fn a_container_without_a_mount_namespace_is_chrooted_and_its_mounts_undone() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    let rootfs = runc.bundle().join("rootfs");
    runc.edit_spec(|spec| {
        spec.as_object_mut().unwrap().remove("hostname");
        spec["linux"]["namespaces"] = serde_json::json!([{ "type": "pid" }]);
        let linux = spec["linux"].as_object_mut().unwrap();
        linux.remove("maskedPaths");
        linux.remove("readonlyPaths");
    });
    runc.set_process(
        &["sh", "-c", "ls /proc/1/ > /dev/null && echo in > /tmp/out"],
        false,
    );
    // As runc does, the mounts are made in the host's namespace below the rootfs...
    runc.ok(&["create", "--bundle", &bundle, "m1"]);
    let made = mounts_below(&rootfs);
    assert!(made.iter().any(|m| m.ends_with("/rootfs/proc")), "{made:?}");
    runc.ok(&["start", "m1"]);
    runc.until_status("m1", "stopped");
    assert_eq!(
        std::fs::read_to_string(runc.rootfs_file("tmp/out")).unwrap(),
        "in\n"
    );
    // ...and `delete` removes them, as `run` does when the container ends.
    runc.ok(&["delete", "m1"]);
    assert_eq!(mounts_below(&rootfs), Vec::<String>::new());
    runc.ok(&["run", "--bundle", &bundle, "m2"]);
    assert_eq!(mounts_below(&rootfs), Vec::<String>::new());
    // Masked paths need a mount namespace.
    runc.edit_spec(|spec| spec["linux"]["maskedPaths"] = serde_json::json!(["/proc/kcore"]));
    runc.fails(
        &["create", "--bundle", &bundle, "m3"],
        "unable to restrict sys entries without a private MNT namespace",
    );
}

#[test]
fn hooks_run_at_each_point_with_the_state() {
    let runc = Runc::new();
    let log = runc.dir.path().join("hooks.log");
    let script = runc.dir.path().join("hook.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1 $(cat)\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // startContainer runs inside the container: its program is the container's.
    std::fs::write(
        runc.rootfs_file("hook.sh"),
        "#!/bin/sh\necho \"$1 $(cat)\" >> /tmp/start-hook\n",
    )
    .unwrap();
    std::fs::set_permissions(
        runc.rootfs_file("hook.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let hook = |path: &Path, point: &str| serde_json::json!([{ "path": path, "args": ["hook.sh", point], "env": ["PATH=/bin:/usr/bin"] }]);
    runc.edit_spec(|spec| {
        spec["hooks"] = serde_json::json!({
            "createRuntime": hook(&script, "createRuntime"),
            "createContainer": hook(&script, "createContainer"),
            "startContainer": hook(Path::new("/hook.sh"), "startContainer"),
            "poststart": hook(&script, "poststart"),
            "poststop": hook(&script, "poststop"),
        });
    });
    runc.set_process(&["sleep", "30"], false);
    let bundle = bundle_arg(&runc);
    runc.ok(&["create", "--bundle", &bundle, "h1"]);
    let pid = runc.state("h1")["pid"].as_i64().unwrap();
    runc.ok(&["start", "h1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !runc.rootfs_file("tmp/start-hook").exists() {
        assert!(Instant::now() < deadline, "startContainer never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    runc.ok(&["delete", "--force", "h1"]);
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.extend(
        std::fs::read_to_string(runc.rootfs_file("tmp/start-hook"))
            .unwrap()
            .lines()
            .map(str::to_owned),
    );
    let mut seen = Vec::new();
    for line in &lines {
        let (point, state) = line.split_once(' ').unwrap();
        let state: Value = serde_json::from_str(state).unwrap();
        assert_eq!(state["id"], "h1", "{line}");
        assert_eq!(state["pid"], pid, "{line}");
        let want = match point {
            "createRuntime" | "createContainer" => "creating",
            "startContainer" => "created",
            "poststart" => "running",
            _ => "stopped",
        };
        assert_eq!(state["status"], want, "{line}");
        seen.push(point.to_owned());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "createContainer",
            "createRuntime",
            "poststart",
            "poststop",
            "startContainer"
        ]
    );

    // A hook that fails or outlives its timeout fails the create, and nothing stays.
    runc.edit_spec(|spec| {
        spec["hooks"] = serde_json::json!({
            "createRuntime": [{ "path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1 }],
        });
    });
    runc.fails(&["create", "--bundle", &bundle, "h2"], "timed out");
    runc.edit_spec(|spec| {
        spec["hooks"] = serde_json::json!({ "createContainer": [{ "path": "/bin/false" }] });
    });
    runc.fails(&["create", "--bundle", &bundle, "h3"], "failed");
    assert_eq!(runc.ok(&["list", "-q"]).trim(), "");
}

/// Listens on a unix socket and returns the first descriptor sent to it, with the message.
fn receive_terminal(path: &Path) -> std::thread::JoinHandle<(Vec<u8>, std::fs::File)> {
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let mut name = [0u8; 64];
        let got = rustix::net::recvmsg(
            &stream,
            &mut [std::io::IoSliceMut::new(&mut name)],
            &mut control,
            rustix::net::RecvFlags::empty(),
        )
        .unwrap();
        let fd = control
            .drain()
            .find_map(|m| match m {
                rustix::net::RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
                _ => None,
            })
            .expect("a descriptor");
        (name[..got.bytes].to_vec(), std::fs::File::from(fd))
    })
}

#[test]
fn a_terminal_goes_to_the_console_socket() {
    let runc = Runc::new();
    runc.set_process(&["sh", "-c", "tty; echo on-the-terminal; sleep 1"], true);
    let bundle = bundle_arg(&runc);
    runc.fails(
        &["create", "--bundle", &bundle, "t1"],
        "cannot allocate tty if runc will detach without setting console socket",
    );
    let socket = runc.dir.path().join("console.sock");
    let receiving = receive_terminal(&socket);
    runc.ok(&[
        "create",
        "--bundle",
        &bundle,
        "--console-socket",
        socket.to_str().unwrap(),
        "t1",
    ]);
    let (name, mut master) = receiving.join().unwrap();
    assert_eq!(name, b"/dev/ptmx");
    runc.ok(&["start", "t1"]);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut chunk = [0u8; 256];
    while !seen.contains("on-the-terminal") && Instant::now() < deadline {
        match std::io::Read::read(&mut master, &mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&chunk[..n])),
        }
    }
    assert!(seen.contains("on-the-terminal"), "{seen:?}");
    assert!(!seen.contains("not a tty"), "{seen:?}");
    runc.ok(&["delete", "--force", "t1"]);
}

#[test]
fn bad_input_gets_runcs_errors_and_leaves_nothing() {
    let runc = Runc::new();
    let empty = runc.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    runc.fails(
        &["create", "--bundle", empty.to_str().unwrap(), "b1"],
        "config.json",
    );
    runc.fails(
        &["create", "--bundle", &bundle_arg(&runc), "../x"],
        "invalid container id",
    );
    runc.edit_spec(|spec| spec["root"]["path"] = "missing".into());
    runc.fails(
        &["create", "--bundle", &bundle_arg(&runc), "b2"],
        "does not exist",
    );
    runc.edit_spec(|spec| spec["root"]["path"] = "rootfs".into());
    runc.set_process(&["no-such-command"], false);
    runc.fails(
        &["create", "--bundle", &bundle_arg(&runc), "b3"],
        "executable file not found",
    );
    runc.fails(&["start", "nope"], "container \"nope\" does not exist");
    runc.fails(&["delete", "nope"], "does not exist");
    runc.fails(&["kill", "nope"], "does not exist");
    // Nothing half-made: no state, no cgroup.
    assert_eq!(runc.ok(&["list", "-q"]).trim(), "");
    for id in ["b1", "b2", "b3"] {
        assert!(
            common::cgroup_hierarchies()
                .iter()
                .all(|root| !root.join(id).exists()),
            "cgroup of {id} left"
        );
    }
    let features: Value = serde_json::from_str(&runc.ok(&["features"])).unwrap();
    assert_eq!(features["ociVersionMax"], "1.2.0");
    assert!(runc.ok(&["--version"]).contains("spec: 1.2.0"));
}

#[test]
fn podman_runs_containers_through_berth_runc() {
    let bb = common::Busybox::pulled();
    let runc = Runc::new();
    let podman = |args: &[&str]| -> Output {
        Command::new("podman")
            .arg("--root")
            .arg(runc.dir.path().join("podman"))
            .arg("--runroot")
            .arg(runc.dir.path().join("podman-run"))
            .arg("--runtime")
            .arg(runc.dir.path().join("berth-runc"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("podman (scripts/deps installs it)")
    };
    let pulled = podman(&["pull", "-q", "--tls-verify=false", &bb.image]);
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    // Podman's default nofile limit is above this kind of host's hard limit.
    let limits = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(&limits);
    args.extend_from_slice(&[&bb.image, "sh", "-c", "echo via-berth; exit 4"]);
    let out = podman(&args);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("via-berth"));

    let mut args = vec!["run", "-d", "--name", "pd", "--network", "none"];
    args.extend_from_slice(&limits);
    args.extend_from_slice(&[&bb.image, "sleep", "60"]);
    assert!(podman(&args).status.success());
    let out = podman(&["exec", "pd", "sh", "-c", "echo exec-ok; exit 6"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stdout).contains("exec-ok"));
    let out = podman(&["rm", "-f", "-t", "0", "pd"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The first whole disk of this machine, as `major:minor`.
fn a_block_device() -> String {
    let mut disks: Vec<_> = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            !["loop", "ram", "zram", "nbd"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .collect();
    disks.sort();
    let disk = disks.first().expect("a block device");
    std::fs::read_to_string(format!("/sys/block/{disk}/dev"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn block_io_limits_domainname_and_runcs_exec_options() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    let device = a_block_device();
    let (major, minor) = device.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    runc.edit_spec(|spec| {
        spec["domainname"] = "berth.test".into();
        spec["linux"]["resources"]["blockIO"] = serde_json::json!({
            "throttleReadBpsDevice": [{ "major": major, "minor": minor, "rate": 1048576 }],
            "throttleWriteIOPSDevice": [{ "major": major, "minor": minor, "rate": 100 }],
        });
    });
    runc.set_process(&["sleep", "30"], false);
    runc.ok(&["run", "--detach", "--bundle", &bundle, "blk"]);
    let exec = |args: &[&str]| {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        runc.ok(&all)
    };
    assert_eq!(
        exec(&["blk", "cat", "/proc/sys/kernel/domainname"]),
        "berth.test\n"
    );

    // The throttles, as the container sees its own cgroup.
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let throttles = match v2 {
        true => exec(&["blk", "cat", "/sys/fs/cgroup/io.max"]),
        false => {
            exec(&[
                "blk",
                "cat",
                "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device",
            ]) + &exec(&[
                "blk",
                "cat",
                "/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device",
            ])
        }
    };
    let expected = match v2 {
        true => vec![format!(
            "{device} rbps=1048576 wbps=max riops=max wiops=100"
        )],
        false => vec![format!("{device} 1048576"), format!("{device} 100")],
    };
    assert_eq!(throttles.lines().collect::<Vec<_>>(), expected);

    // runc's exec options: a capability added, no_new_privs, more groups.
    let effective = |out: String| {
        let line = out
            .lines()
            .find(|l| l.starts_with("CapEff:"))
            .unwrap()
            .to_owned();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    const SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(
        effective(exec(&["blk", "cat", "/proc/self/status"])) & SYS_ADMIN,
        0
    );
    assert_ne!(
        effective(exec(&[
            "--cap",
            "CAP_SYS_ADMIN",
            "blk",
            "cat",
            "/proc/self/status"
        ])) & SYS_ADMIN,
        0
    );
    let status = exec(&["--no-new-privs", "blk", "cat", "/proc/self/status"]);
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let groups = exec(&["-g", "1234", "-g", "5678", "blk", "id", "-G"]);
    assert!(groups.split_whitespace().any(|g| g == "1234"), "{groups}");
    assert!(groups.split_whitespace().any(|g| g == "5678"), "{groups}");

    // --cgroup: only existing cgroups below the container's.
    runc.fails(
        &["exec", "--cgroup", "..", "blk", "true"],
        "below the container's",
    );
    runc.fails(
        &["exec", "--cgroup", "nowhere", "blk", "true"],
        "no such sub-cgroup",
    );
    runc.fails(
        &["exec", "--cgroup", "waaat:/", "blk", "true"],
        "no such cgroup controller",
    );
    exec(&["--cgroup=/", "blk", "true"]);

    // A paused container takes an exec only with --ignore-paused.
    runc.ok(&["pause", "blk"]);
    runc.fails(
        &["exec", "blk", "true"],
        "cannot exec in a paused container",
    );
    runc.ok(&["resume", "blk"]);
    runc.ok(&["delete", "--force", "blk"]);
}

#[test]
fn recursive_mount_attributes_umask_hook_env_and_a_symlinked_proc() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    // A host directory with a mount below it, bound recursively and read-only all the way.
    let source = runc.dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    let sub = source.join("sub");
    assert!(
        Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(&sub)
            .status()
            .unwrap()
            .success()
    );
    let unmount = || {
        let _ = Command::new("umount").arg("-l").arg(&sub).status();
    };
    runc.edit_spec(|spec| {
        spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "destination": "/mnt", "type": "bind", "source": source,
                "options": ["rbind", "rro"],
            }));
        spec["process"]["user"]["umask"] = 0o077.into();
        spec["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("FOO=bar".into());
        // A startContainer hook without an env of its own gets the process's.
        spec["hooks"] = serde_json::json!({ "startContainer": [{
            "path": "/bin/sh", "args": ["sh", "-c", "test \"$FOO\" = bar"],
        }]});
    });
    runc.set_process(
        &[
            "sh",
            "-c",
            "touch /tmp/made; touch /mnt/top 2>/dev/null && echo top; \
             touch /mnt/sub/below 2>/dev/null && echo below; echo done",
        ],
        false,
    );
    let out = runc.output(&["run", "--bundle", &bundle, "r1"]);
    unmount();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(runc.rootfs_file("tmp/made"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // proc and sysfs never go through a symbolic link of the image.
    runc.edit_spec(|spec| {
        spec.as_object_mut().unwrap().remove("hooks");
        spec["mounts"].as_array_mut().unwrap().pop();
    });
    let proc_dir = runc.rootfs_file("proc");
    let _ = std::fs::remove_dir_all(&proc_dir);
    std::os::unix::fs::symlink("/tmp", &proc_dir).unwrap();
    runc.fails(
        &["create", "--bundle", &bundle, "r2"],
        "/proc must be mounted on ordinary directory",
    );
    assert!(std::fs::read_dir(runc.rootfs_file("tmp")).is_ok());
}

#[test]
fn a_notifying_seccomp_filter_sends_its_listener_to_the_agent() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    let socket = runc.dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    runc.edit_spec(|spec| {
        spec["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket,
            "listenerMetadata": "from-the-test",
            "syscalls": [{ "names": ["getcwd"], "action": "SCMP_ACT_NOTIFY" }],
        });
    });
    runc.set_process(
        &[
            "sh",
            "-c",
            "while [ ! -e /tmp/agent-gone ]; do sleep 0.05; done; /bin/pwd || echo failed",
        ],
        false,
    );
    // The agent: takes the listener and the state, then goes away.
    let marker = runc.rootfs_file("tmp/agent-gone");
    let agent = std::thread::spawn(move || {
        let (connection, _) = listener.accept().unwrap();
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let mut message = vec![0u8; 8192];
        let received = rustix::net::recvmsg(
            &connection,
            &mut [std::io::IoSliceMut::new(&mut message)],
            &mut control,
            rustix::net::RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let fds: Vec<_> = control
            .drain()
            .flat_map(|m| match m {
                rustix::net::RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        let state: Value = serde_json::from_slice(&message[..received.bytes]).unwrap();
        drop(fds);
        std::fs::write(&marker, "").unwrap();
        state
    });
    let out = runc.output(&["run", "--bundle", &bundle, "sn1"]);
    let state = agent.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(state["metadata"], "from-the-test");
    assert_eq!(state["state"]["id"], "sn1");
    assert!(state["pid"].as_i64().unwrap() > 0, "{state}");
    // With the agent gone, the notified call fails (ENOSYS) instead of running.
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("failed\n"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not implemented"), "{stderr}");
}

#[test]
fn events_stream_samples_until_the_container_stops() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    runc.set_process(&["sleep", "30"], false);
    runc.ok(&["run", "--detach", "--bundle", &bundle, "ev1"]);
    let mut events = runc
        .command()
        .args(["events", "--interval", "100ms", "ev1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(events.stdout.take().unwrap()));
    for _ in 0..2 {
        let event: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(
            (event["type"].as_str(), event["id"].as_str()),
            (Some("stats"), Some("ev1"))
        );
        assert!(
            event["data"]["pids"]["current"].as_u64().unwrap() >= 1,
            "{event}"
        );
    }
    // The stream ends with the container.
    runc.ok(&["kill", "ev1", "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while events.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "events went on after the container stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(events.wait().unwrap().success());
    runc.fails(
        &["events", "--interval", "soon", "ev1"],
        "invalid --interval",
    );
    runc.ok(&["delete", "ev1"]);
}

/// The file of a hugetlb limit for process `pid`, found the way a user would: from the cgroup
/// /proc names for it, in a v1 hugetlb hierarchy or in a cgroup2 with the controller.
fn hugetlb_limit_file(pid: i64, size: &str) -> Option<PathBuf> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "hugetlb") {
            return Some(
                Path::new("/sys/fs/cgroup/hugetlb")
                    .join(path)
                    .join(format!("hugetlb.{size}.limit_in_bytes")),
            );
        }
        if controllers.is_empty() {
            for root in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
                let file = Path::new(root)
                    .join(path)
                    .join(format!("hugetlb.{size}.max"));
                if file.exists() {
                    return Some(file);
                }
            }
        }
    }
    None
}

#[test]
fn hugepage_limits_reach_the_hugetlb_controller_and_bad_sizes_are_refused() {
    let has_hugetlb = Path::new("/sys/fs/cgroup/hugetlb").is_dir()
        || ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .iter()
            .any(|root| {
                std::fs::read_to_string(Path::new(root).join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == "hugetlb"))
            });
    if !has_hugetlb || !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        eprintln!("skipped: this host has no hugetlb controller or no 2 MB pages");
        return;
    }
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    runc.edit_spec(|spec| {
        spec["linux"]["resources"]["hugepageLimits"] =
            serde_json::json!([{ "pageSize": "2MB", "limit": 4194304 }]);
    });
    runc.set_process(&["sleep", "30"], false);
    runc.ok(&["run", "--detach", "--bundle", &bundle, "huge"]);
    let pid = runc.state("huge")["pid"].as_i64().unwrap();
    let file = hugetlb_limit_file(pid, "2MB").expect("the container is in a hugetlb cgroup");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), "4194304");
    runc.ok(&["delete", "--force", "huge"]);
    assert!(!file.exists(), "{} outlived the container", file.display());

    // A page size the host does not have: refused, and nothing is left of the container.
    runc.edit_spec(|spec| {
        spec["linux"]["resources"]["hugepageLimits"] =
            serde_json::json!([{ "pageSize": "3MB", "limit": 4194304 }]);
    });
    runc.refuses_run(&bundle, "huge3", "invalid hugepage size 3MB");
}

/// The v1 hierarchy `controller` is bound to by the kernel (`/proc/cgroups`; 0: none of its
/// own), when the kernel has that controller.
fn v1_hierarchy_of(controller: &str) -> Option<u32> {
    std::fs::read_to_string("/proc/cgroups")
        .unwrap()
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.first() == Some(&controller) && fields.get(3) == Some(&"1"))
                .then(|| fields[1].parse().ok())
                .flatten()
        })
}

/// Shell steps that give a private mount namespace a v1 `net_cls,net_prio` hierarchy under
/// /sys/fs/cgroup beside the host's, laid out as v1 hosts do (a directory for the pair and a
/// symlink for each): a tmpfs over /sys/fs/cgroup holding the host's hierarchies again.
const MOUNT_NET_CLS: &str = r#"
host="$DIR/host-cgroup"
mkdir "$host"
mount --rbind /sys/fs/cgroup "$host"
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for entry in "$host"/*; do
    if [ -L "$entry" ]; then
        cp -P "$entry" /sys/fs/cgroup/
    else
        mkdir "/sys/fs/cgroup/${entry##*/}"
        mount --rbind "$entry" "/sys/fs/cgroup/${entry##*/}"
    fi
done
mkdir /sys/fs/cgroup/net_cls,net_prio
mount -t cgroup -o net_cls,net_prio cgroup /sys/fs/cgroup/net_cls,net_prio
ln -s net_cls,net_prio /sys/fs/cgroup/net_cls
ln -s net_cls,net_prio /sys/fs/cgroup/net_prio
"#;

/// Runs a container with a network class id and a priority for `lo`, reports what its
/// net_cls and net_prio cgroups hold, deletes it and reports whether its cgroup went too.
const RUN_WITH_NETWORK_LIMITS: &str = r#"
"$RUNC" --root "$ROOT" run --detach --bundle "$BUNDLE" --pid-file "$DIR/net.pid" net \
    </dev/null >"$DIR/run.out" 2>&1 || { cat "$DIR/run.out"; exit 1; }
pid=$(cat "$DIR/net.pid")
path=$(grep -E '^[0-9]+:([^:]*,)?net_cls(,[^:]*)?:' "/proc/$pid/cgroup" | cut -d: -f3)
dir="/sys/fs/cgroup/net_cls$path"
echo "cgroup=$path"
echo "classid=$(cat "$dir/net_cls.classid")"
echo "lo=$(grep '^lo ' "$dir/net_prio.ifpriomap" | cut -d' ' -f2)"
"$RUNC" --root "$ROOT" delete --force net
[ -e "$dir" ] && echo "left=$dir"
true
"#;

#[test]
fn network_class_and_priorities_reach_net_cls_and_net_prio_or_are_refused() {
    let runc = Runc::new();
    let bundle = bundle_arg(&runc);
    runc.edit_spec(|spec| {
        spec["linux"]["resources"]["network"] = serde_json::json!({
            "classID": 1048577,
            "priorities": [{ "name": "lo", "priority": 5 }],
        });
    });
    runc.set_process(&["sleep", "30"], false);
    let host_has_net_cls = Path::new("/sys/fs/cgroup/net_cls/net_cls.classid").exists();
    let mut steps = RUN_WITH_NETWORK_LIMITS.to_owned();
    if !host_has_net_cls {
        // Refused by name, as on every cgroup v2 host, and nothing is left of the container.
        runc.refuses_run(
            &bundle,
            "net",
            "a network class id is not supported on this host (no net_cls controller)",
        );
        // A v1 or hybrid host whose kernel has the controllers unmounted: mount them, only in
        // a mount namespace of the test's, and run there.
        let v1_layout = !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        if !v1_layout || v1_hierarchy_of("net_cls") != Some(0) {
            eprintln!("skipped the limits themselves: no v1 net_cls hierarchy can be mounted");
            return;
        }
        steps = format!("{MOUNT_NET_CLS}{steps}");
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-euc", &steps])
        .env("RUNC", runc.dir.path().join("berth-runc"))
        .env("ROOT", runc.dir.path().join("state"))
        .env("BUNDLE", &bundle)
        .env("DIR", runc.dir.path())
        .output()
        .unwrap();
    if !host_has_net_cls {
        release_net_cls_hierarchy();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: std::collections::HashMap<&str, &str> =
        stdout.lines().filter_map(|l| l.split_once('=')).collect();
    assert!(report["cgroup"].len() > 1, "{stdout}");
    assert_eq!(report["classid"], "1048577", "{stdout}");
    assert_eq!(report["lo"], "5", "{stdout}");
    assert_eq!(report.get("left"), None, "{stdout}");
}

/// A v1 hierarchy unmounted while a removed cgroup in it is still dying stays bound to its
/// controllers; mounted and unmounted again once empty, it goes, leaving the host as it was.
fn release_net_cls_hierarchy() {
    let released = || {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if v1_hierarchy_of("net_cls") == Some(0) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    for _ in 0..5 {
        if released() {
            return;
        }
        let _ = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t cgroup -o net_cls,net_prio cgroup /mnt && umount /mnt")
            .status();
    }
    panic!("the test's net_cls hierarchy stayed");
}

#[test]
fn a_console_sockets_terminal_is_a_pts_of_the_containers_devpts_with_or_without_a_user_namespace() {
    let mapping = serde_json::json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    for (id, mapped) in [("c1", false), ("c2", true)] {
        let runc = Runc::new();
        let script = "echo \"tty=$(tty)\"; echo \"fd0=$(readlink /proc/self/fd/0)\"; \
            [ \"$(stat -c %t:%T /dev/console)\" = \"$(stat -c %t:%T $(tty))\" ] && echo console-is-tty; \
            echo end-of-report; sleep 1";
        runc.set_process(&["sh", "-c", script], true);
        if mapped {
            runc.edit_spec(|spec| {
                let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
                namespaces.push(serde_json::json!({ "type": "user" }));
                spec["linux"]["uidMappings"] = mapping.clone();
                spec["linux"]["gidMappings"] = mapping.clone();
            });
        }
        let socket = runc.dir.path().join("console.sock");
        let receiving = receive_terminal(&socket);
        runc.ok(&[
            "create",
            "--bundle",
            &bundle_arg(&runc),
            "--console-socket",
            socket.to_str().unwrap(),
            id,
        ]);
        let (_, mut master) = receiving.join().unwrap();
        runc.ok(&["start", id]);
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut chunk = [0u8; 256];
        while !seen.contains("end-of-report") && Instant::now() < deadline {
            match std::io::Read::read(&mut master, &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&chunk[..n])),
            }
        }
        assert!(
            seen.contains("tty=/dev/pts/0"),
            "user namespace {mapped}: {seen:?}"
        );
        assert!(
            seen.contains("fd0=/dev/pts/0"),
            "user namespace {mapped}: {seen:?}"
        );
        assert!(
            seen.contains("console-is-tty"),
            "user namespace {mapped}: {seen:?}"
        );
        runc.ok(&["delete", "--force", id]);
    }
}

#[test]
fn a_prestart_hook_is_told_the_container_is_created() {
    let runc = Runc::new();
    let log = |point: &str| runc.dir.path().join(point);
    let hook = |point: &str| {
        let command = format!("cat > {}", log(point).display());
        serde_json::json!([{ "path": "/bin/sh", "args": ["sh", "-c", command] }])
    };
    runc.edit_spec(|spec| {
        spec["hooks"] = serde_json::json!({
            "prestart": hook("prestart"),
            "createRuntime": hook("createRuntime"),
        });
    });
    runc.set_process(&["sleep", "30"], false);
    runc.ok(&["create", "--bundle", &bundle_arg(&runc), "p1"]);
    let pid = runc.state("p1")["pid"].as_i64().unwrap();
    for (point, status) in [("prestart", "created"), ("createRuntime", "creating")] {
        let state: Value = serde_json::from_slice(&std::fs::read(log(point)).unwrap()).unwrap();
        assert_eq!(state["status"], status, "{point}: {state}");
        assert_eq!(state["pid"], pid, "{point}: {state}");
        assert_eq!(state["id"], "p1", "{point}: {state}");
    }
    runc.ok(&["delete", "--force", "p1"]);
}

/// A tmpfs mounted on the host for a test, unmounted when dropped.
struct HostMount(PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

/// The optional fields (`shared:N`, `master:N`, `unbindable`) of the mount at `point` in a
/// mountinfo table.
fn propagation_of<'a>(mountinfo: &'a str, point: &str) -> Vec<&'a str> {
    let line = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point}: {mountinfo}"));
    line.split(' ')
        .skip(6)
        .take_while(|f| *f != "-")
        .map(|f| f.split(':').next().unwrap())
        .collect()
}

#[test]
fn rootfs_propagation_and_recursive_mount_propagation_are_applied() {
    let runc = Runc::new();
    // A bind source with a mount below it: `rshared` must reach that one too.
    let source = runc.dir.path().join("source");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    let mounted = HostMount(source.join("sub"));
    rustix::mount::mount(
        "tmpfs",
        &mounted.0,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .unwrap();
    runc.set_process(&["cat", "/proc/self/mountinfo"], false);
    for (id, mode, expected) in [
        ("r1", "shared", vec!["shared"]),
        ("r2", "unbindable", vec!["unbindable"]),
        ("r3", "private", vec![]),
    ] {
        runc.edit_spec(|spec| {
            spec["linux"]["rootfsPropagation"] = mode.into();
            spec["mounts"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({
                    "destination": "/mnt", "type": "bind", "source": source,
                    "options": ["rbind", "rshared"],
                }));
        });
        let out = runc.output(&["run", "--bundle", &bundle_arg(&runc), id]);
        let mountinfo = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            propagation_of(&mountinfo, "/"),
            expected,
            "{mode}: {mountinfo}"
        );
        assert_eq!(
            propagation_of(&mountinfo, "/mnt"),
            ["shared"],
            "{mountinfo}"
        );
        assert_eq!(
            propagation_of(&mountinfo, "/mnt/sub"),
            ["shared"],
            "{mountinfo}"
        );
        runc.edit_spec(|spec| {
            spec["mounts"].as_array_mut().unwrap().pop();
        });
    }
    runc.edit_spec(|spec| spec["linux"]["rootfsPropagation"] = "sideways".into());
    runc.fails(
        &["create", "--bundle", &bundle_arg(&runc), "r4"],
        "rootfsPropagation",
    );
}

#[test]
fn kernel_tcp_limits_reach_a_v1_memory_hierarchy() {
    if !Path::new("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes").exists() {
        eprintln!("no v1 memory hierarchy with TCP accounting here: nothing to check");
        return;
    }
    let runc = Runc::new();
    runc.edit_spec(|spec| {
        spec["linux"]["resources"] =
            serde_json::json!({ "memory": { "limit": 50593792, "kernelTCP": 48234496 } });
    });
    runc.ok(&["create", "--bundle", &bundle_arg(&runc), "k1"]);
    let pid = runc.state("k1")["pid"].as_i64().unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = cgroups
        .lines()
        .find_map(|l| {
            let mut fields = l.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then_some(path)
        })
        .unwrap();
    let dir = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(read("memory.limit_in_bytes").trim(), "50593792");
    assert_eq!(read("memory.kmem.tcp.limit_in_bytes").trim(), "48234496");
    runc.ok(&["delete", "--force", "k1"]);
}
