//! Attacks on, and accidents to, berth's own state (issue 18): another local user reaching into
//! the data root, a reclaim killed half-way, a full disk, and directories that killed commands
//! left. Docker's behaviour is named beside each.

mod common;

use common::{
    Busybox, Env, assert_no_network_leftovers, assert_nothing_leaked, cgroup_dirs_of,
    free_ports_below_ephemeral, http_get,
};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `nobody`'s uid and gid.
const NOBODY: u32 = 65534;

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Runs `program` with `args` as `nobody` (no supplementary groups), named `busybox` (for a
/// copy of busybox to run its applet `args[0]`): what it printed, if it ran and succeeded.
fn as_nobody(program: &Path, args: &[&str]) -> Option<String> {
    std::process::Command::new(program)
        .arg0("busybox")
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The record of container `id`, as JSON.
fn record(env: &Env, id: &str) -> serde_json::Value {
    let path = env
        .root()
        .join("containers")
        .join(id)
        .join("container.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The full id of container `name`.
fn id_of(env: &Env, name: &str) -> String {
    let out = env.berth(&["inspect", name]).ok();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    json[0]["Id"].as_str().unwrap().to_owned()
}

/// Starts a detached web server `name` publishing host port `port`, answering `text`.
fn web_server(bb: &Busybox, name: &str, port: u16, text: &str) {
    let script = format!("mkdir -p /www; echo {text} > /www/index.html; httpd -f -p 80 -h /www");
    let publish = format!("{port}:80");
    bb.env
        .berth(&[
            "run", "-d", "--name", name, "-p", &publish, &bb.image, "sh", "-c", &script,
        ])
        .ok();
}

/// Whether `text` is what 127.0.0.1:`port` answers.
fn answers(port: u16, text: &str) -> bool {
    http_get(SocketAddr::from(([127, 0, 0, 1], port))).contains(text)
}

/// Kills the berth process that runs container `id` (`kill -9`) and waits until it is gone.
fn kill_owner(env: &Env, id: &str) {
    let owner = record(env, id)["owner"][0].as_i64().unwrap() as i32;
    // SAFETY: kill with the pid of the container's supervisor, a process of this test.
    unsafe { libc::kill(owner, libc::SIGKILL) };
    until("the supervisor to be gone", || {
        !Path::new(&format!("/proc/{owner}")).exists()
    });
}

#[test]
fn other_users_cannot_enter_the_data_root_and_containers_still_work() {
    // Docker: /var/lib/docker is 0710 and /run/docker 0700, both root's; its containers'
    // config.v2.json is 0600. Another user reaches no setuid file of a layer there.
    let bb = Busybox::pulled();
    // The temp dir is private; here it stands for /var/lib, which every user may enter.
    std::fs::set_permissions(bb.env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // A setuid-root program in a container's writable layer, and in an image layer.
    let out = bb
        .env
        .berth(&[
            "run",
            "-d",
            "--name",
            "secret",
            "-e",
            "PASSWORD=hunter2",
            &bb.image,
            "sh",
            "-c",
            "echo note > /note && cp /bin/busybox /suid && chmod 4755 /suid && sleep 300",
        ])
        .ok();
    let id = out.stdout.trim().to_owned();
    let dir = bb.env.root().join("containers").join(&id);
    until("the setuid copy", || {
        std::fs::metadata(dir.join("upper/suid"))
            .is_ok_and(|m| m.permissions().mode() & 0o4000 != 0)
    });
    let in_layer = bb.env.layer_with("bin/busybox").join("bin/busybox");
    std::fs::set_permissions(&in_layer, std::fs::Permissions::from_mode(0o4755)).unwrap();
    for program in [dir.join("upper/suid"), in_layer.clone()] {
        let ran = as_nobody(&program, &["id", "-u"]);
        assert_eq!(ran, None, "nobody ran {}", program.display());
    }
    std::fs::set_permissions(&in_layer, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(mode(&bb.env.root()), 0o710, "the data root");
    assert_eq!(mode(&bb.env.run_root()), 0o700, "the run root");
    // The spec with the container's environment: nobody can read it.
    let config = dir.join("config.json");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("hunter2")
    );
    let cat = as_nobody(Path::new("/bin/cat"), &[config.to_str().unwrap()]);
    assert_eq!(cat, None, "nobody read the config");
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&dir.join("container.json")), 0o600);

    // A wide data root (made before) is tightened by the next command.
    std::fs::set_permissions(bb.env.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(bb.env.run_root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(as_nobody(&in_layer, &["true"]).is_some());
    bb.env.berth(&["ps"]).ok();
    assert_eq!(mode(&bb.env.root()), 0o710);
    assert_eq!(mode(&bb.env.run_root()), 0o700);
    assert_eq!(as_nobody(&in_layer, &["true"]), None);

    // Containers still work as another user, with volumes, hosts files and cp.
    let volume = bb.env.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    std::fs::write(volume.join("in"), "from the host\n").unwrap();
    std::fs::set_permissions(&volume, std::fs::Permissions::from_mode(0o777)).unwrap();
    let bind = format!("{}:/data", volume.display());
    let out = bb
        .sh(
            &["-u", "1000", "-v", &bind],
            "cat /data/in && echo out > /data/out && grep -q localhost /etc/hosts && id -u && touch /tmp/x",
        )
        .ok();
    assert_eq!(out.stdout, "from the host\n1000\n");
    assert_eq!(
        std::fs::read_to_string(volume.join("out")).unwrap(),
        "out\n"
    );
    let copied = bb.env.path().join("copied");
    bb.env
        .berth(&["cp", "secret:/note", copied.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "note\n");
    bb.env.berth(&["rm", "-f", "secret"]).ok();

    // A user's own store: made 0710 for that user, and a pull into it works.
    let home = bb.env.path().join("nobody");
    std::fs::create_dir(&home).unwrap();
    rustix::fs::chown(
        &home,
        Some(rustix::fs::Uid::from_raw(NOBODY)),
        Some(rustix::fs::Gid::from_raw(NOBODY)),
    )
    .unwrap();
    let pull = bb
        .env
        .command()
        .env("BERTH_ROOT", home.join("root"))
        .env("BERTH_RUN_ROOT", home.join("run"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .args(["pull", "-q", &bb.image])
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let pull = common::Run::from(pull).ok();
    assert!(pull.stdout.starts_with("sha256:"), "{}", pull.stdout);
    assert_eq!(mode(&home.join("root")), 0o710);
    assert_eq!(mode(&home.join("run")), 0o700);
    assert_nothing_leaked(&bb.env);
}

/// A web server `web` publishing `port`, answering, whose berth process was then killed
/// (`kill -9`): what a reclaim finds. Its id.
fn orphaned_web_server(bb: &Busybox, port: u16) -> String {
    web_server(bb, "web", port, "first");
    until("the first server", || answers(port, "first"));
    let id = id_of(&bb.env, "web");
    kill_owner(&bb.env, &id);
    id
}

/// A directory of fake programs: `nft` kills the berth process that runs it (`kill -9`), as
/// if that process were killed while it tore a container's network down.
fn killing_nft(dir: &Path) -> String {
    let bin = dir.join("killing-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let nft = bin.join("nft");
    std::fs::write(&nft, "#!/bin/sh\nkill -9 $PPID\nexit 1\n").unwrap();
    std::fs::set_permissions(&nft, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_reclaim_killed_half_way_is_done_again_by_the_next_command() {
    // Docker: its daemon, started again, cleans up what it held for a container that died
    // with it (its network sandbox, its NAT rules) before the container counts as stopped.
    let bb = Busybox::pulled();
    let port = free_ports_below_ephemeral(23000, 1);
    let id = orphaned_web_server(&bb, port);
    // The next command reclaims the container, and is killed while it removes the rules.
    let killed = bb
        .env
        .command()
        .env("PATH", killing_nft(bb.env.path()))
        .args(["ps", "-a"])
        .output()
        .unwrap();
    assert_eq!(
        killed.status.code(),
        None,
        "the reclaim was not killed: {}{}",
        String::from_utf8_lossy(&killed.stdout),
        String::from_utf8_lossy(&killed.stderr)
    );
    // The one after it finishes the work: nothing of the container is left on the host.
    let ps = bb.env.berth(&["ps", "-a"]).ok().stdout;
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert_no_network_leftovers(&bb.env);
    assert!(
        cgroup_dirs_of(&bb.env, &id[..12]).is_empty(),
        "cgroup left: {:?}",
        cgroup_dirs_of(&bb.env, &id[..12])
    );
    // And a new container publishes the same port and answers on it.
    web_server(&bb, "web2", port, "second");
    until("the second server", || answers(port, "second"));
    bb.env.berth(&["rm", "-f", "web", "web2"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn rm_f_removes_what_an_interrupted_reclaim_left_of_an_exited_container() {
    // Docker: `docker rm -f` releases a stopped container's network endpoint and sandbox
    // too, whatever a crash left of them.
    let bb = Busybox::pulled();
    let port = free_ports_below_ephemeral(23100, 1);
    let id = orphaned_web_server(&bb, port);
    // What a reclaim that marked the container exited and was killed then left: the record
    // says exited, its namespace, lease, rules and cgroup are still there.
    let path = bb
        .env
        .root()
        .join("containers")
        .join(&id)
        .join("container.json");
    let mut exited = record(&bb.env, &id);
    exited["status"] = "exited".into();
    exited["exit_code"] = 137.into();
    exited["owner"] = serde_json::Value::Null;
    std::fs::write(&path, exited.to_string()).unwrap();
    let ps = bb.env.berth(&["ps", "-a"]).ok().stdout;
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert!(bb.env.run_root().join("netns").join(&id).exists());
    assert!(!cgroup_dirs_of(&bb.env, &id[..12]).is_empty());
    bb.env.berth(&["rm", "-f", "web"]).ok();
    assert_nothing_leaked(&bb.env);
    assert!(
        cgroup_dirs_of(&bb.env, &id[..12]).is_empty(),
        "cgroup left: {:?}",
        cgroup_dirs_of(&bb.env, &id[..12])
    );
    web_server(&bb, "web2", port, "second");
    until("the second server", || answers(port, "second"));
    bb.env.berth(&["rm", "-f", "web2"]).ok();
    assert_nothing_leaked(&bb.env);
}

/// A tmpfs mounted on a directory until dropped; the directory's parent (a test's temp dir,
/// which the unmount comes too late for) goes with it.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs");
        Tmpfs(at.to_path_buf())
    }

    /// Free bytes.
    fn free(&self) -> u64 {
        let stat = rustix::fs::statvfs(&self.0).unwrap();
        stat.f_bavail * stat.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

#[test]
fn on_a_full_disk_stop_kill_and_rm_f_still_work() {
    // Docker: `docker stop`, `kill` and `rm -f` work on a full disk (a state that cannot be
    // saved is logged by the daemon).
    let registry = berth_testkit::registry::Registry::start_open().expect("registry");
    let image = berth_testkit::busybox::image().expect("busybox").build();
    registry
        .client(None)
        .push_image("busybox", "latest", &image)
        .expect("push");
    let env = Env::new();
    let disk = Tmpfs::mount(&env.root(), "24m");
    let reference = format!("{}/busybox:latest", registry.host());
    env.berth(&["pull", "-q", &reference]).ok();
    let bb = Busybox {
        registry,
        env,
        image: reference,
    };
    for name in ["stopped", "killed"] {
        bb.env
            .berth(&["run", "-d", "--name", name, &bb.image, "sleep", "300"])
            .ok();
    }
    let ids: Vec<String> = ["stopped", "killed"]
        .iter()
        .map(|name| id_of(&bb.env, name))
        .collect();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "filler",
            &bb.image,
            "sh",
            "-c",
            "dd if=/dev/zero of=/fill bs=64k; sleep 300",
        ])
        .ok();
    until("the disk to fill", || disk.free() == 0);
    assert!(std::fs::write(bb.env.root().join("probe"), [0; 8192]).is_err());

    let stop = bb.env.berth(&["stop", "-t", "1", "stopped"]).ok();
    assert_eq!(stop.stdout.trim(), "stopped");
    assert!(
        stop.stderr.contains("cannot be recorded") && stop.stderr.contains("No space left"),
        "{}",
        stop.stderr
    );
    bb.env.berth(&["kill", "killed"]).ok();
    for id in &ids {
        until("the container to end", || {
            cgroup_dirs_of(&bb.env, &id[..12]).is_empty()
        });
    }
    bb.env.berth(&["rm", "-f", "filler"]).ok();
    assert!(disk.free() > 20 << 20, "the filler's layer is freed");
    let ps = bb.env.berth(&["ps", "-q"]).ok();
    assert_eq!(ps.stdout, "", "nothing runs");
    bb.env.berth(&["rm", "-f", "stopped", "killed"]).ok();
    // What `assert_nothing_leaked` checks, but for the tmpfs itself.
    assert_no_network_leftovers(&bb.env);
    let root = bb.env.root().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let left: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(&root) && !l.contains(" - tmpfs tmpfs "))
        .collect();
    assert!(left.is_empty(), "mounts left: {left:?}");
    let dirs: Vec<String> = std::fs::read_dir(bb.env.root().join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".spare")
        .collect();
    assert!(dirs.is_empty(), "container directories left: {dirs:?}");
    for id in &ids {
        assert!(cgroup_dirs_of(&bb.env, &id[..12]).is_empty());
    }
    drop(bb);
    drop(disk);
}

#[test]
fn a_container_directory_without_a_record_goes_with_the_next_command() {
    // Docker: its daemon removes, at start, a container directory it cannot load.
    let bb = Busybox::pulled();
    let containers = bb.env.root().join("containers");
    std::fs::create_dir_all(&containers).unwrap();
    let made = |name: &str| {
        let dir = containers.join(name);
        std::fs::create_dir_all(dir.join("upper/etc")).unwrap();
        std::fs::write(dir.join("hosts"), "x").unwrap();
        dir
    };
    let old = |dir: &Path| {
        let hour_ago = rustix::fs::Timespec {
            tv_sec: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                - 3600,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: hour_ago,
            last_modification: hour_ago,
        };
        rustix::fs::utimensat(rustix::fs::CWD, dir, &times, rustix::fs::AtFlags::empty()).unwrap();
    };
    let killed = made(&"a".repeat(64));
    old(&killed);
    // One that a live command is making (it holds the lock), one just made (its maker may
    // not hold the lock yet), and the spare.
    let locked = made(&"b".repeat(64));
    old(&locked);
    let lock = std::fs::File::open(&locked).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let fresh = made(&"c".repeat(64));
    let spare = made(".spare");
    old(&spare);
    bb.env.berth(&["ps", "-a"]).ok();
    assert!(!killed.exists(), "the killed command's directory is left");
    assert!(locked.exists() && fresh.exists() && spare.exists());
    drop(lock);
    old(&locked);
    old(&fresh);
    bb.env.berth(&["ps", "-a"]).ok();
    assert!(!locked.exists() && !fresh.exists() && spare.exists());
    std::fs::remove_dir_all(&spare).unwrap();
    // A run still makes, writes and removes its directory.
    bb.sh(&[], "true").ok();
    assert_nothing_leaked(&bb.env);
}
