//! The real peers berth must interoperate with, run privately by a test: a Docker daemon with
//! its own data root, socket and containerd namespace (and no bridge or firewall rules of its
//! own), Podman and skopeo with their own storage. Each is removed when dropped.
//!
//! Debian's `docker.io`, `podman` and `skopeo` are installed by `scripts/deps`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private `dockerd`; stopped, and its data removed, when dropped.
pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts `dockerd` under a temp dir and waits until it answers. Registries on 127.0.0.0/8
    /// are plain-HTTP ("insecure") for Docker by default.
    pub fn start() -> crate::Result<Dockerd> {
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd.")
            .tempdir()?;
        let path = dir.path();
        let ns = format!("berth-test-{}", std::process::id());
        let log = std::fs::File::create(path.join("dockerd.log"))?;
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(path.join("data"))
            .arg("--exec-root")
            .arg(path.join("exec"))
            .arg("--pidfile")
            .arg(path.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", path.join("docker.sock").display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}-plugins")])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start dockerd (scripts/deps installs docker.io): {e}"))?;
        let dockerd = Dockerd { child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if dockerd.docker(&["info"]).status.success() {
                return Ok(dockerd);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!("dockerd did not answer in 60 s: {}", dockerd.log()).into())
    }

    /// The docker CLI, pointed at this daemon, with its own config dir.
    pub fn command(&self) -> Command {
        let mut command = Command::new("docker");
        command
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("docker.sock").display()
            ));
        command
    }

    /// Runs `docker ARGS` and returns what it did.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker CLI (scripts/deps installs docker.io)")
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// A scratch directory that is removed with the daemon.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd shims and unmount its data root.
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        unmount_under(self.dir.path());
    }
}

/// Podman with private storage (root, run root, config) under a temp dir.
pub struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    /// Flags `podman run` needs here: Podman's default nofile and nproc limits are above the
    /// hard limits of a test host.
    pub const RUN_LIMITS: [&str; 4] = [
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];

    /// A private Podman; its storage is removed when dropped.
    pub fn new() -> crate::Result<Podman> {
        Ok(Podman {
            dir: tempfile::Builder::new().prefix("berth-podman.").tempdir()?,
        })
    }

    /// `podman` with this storage, and runc for its runtime (Debian's crun refuses hybrid
    /// cgroup hosts).
    pub fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("run"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "none"])
            .args(["--runtime", "runc"])
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"));
        command
    }

    /// Runs `podman ARGS` and returns what it did.
    pub fn podman(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("podman (scripts/deps installs it)")
    }

    /// A scratch directory that is removed with this Podman.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["system", "reset", "--force"]);
        unmount_under(self.dir.path());
    }
}

/// Runs `skopeo ARGS` (plain HTTP to loopback registries needs `--tls-verify=false` per
/// command) and returns what it did.
pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("skopeo (scripts/deps installs it)")
}

/// Unmounts every mount at or below `dir`, deepest first (what a killed peer left).
fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
    }
}
