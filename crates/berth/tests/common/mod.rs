//! What every end-to-end test shares: a private berth environment (data roots, Docker config
//! dir, berth config file) in a temp dir, and a way to run berth in it.

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::path::{Path, PathBuf};
use std::process::Output;

/// A private berth environment; removed when dropped. Its default network has a bridge and
/// a firewall table of its own, so environments run side by side.
pub struct Env {
    dir: tempfile::TempDir,
    /// The default network's bridge device.
    pub bridge: String,
    /// The nftables table.
    pub table: String,
}

/// What a berth command did.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// What a finished command did.
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the command exited 0.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "berth failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the command exited `code` and said `needle` on stderr.
    pub fn fails(self, code: i32, needle: &str) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

impl Env {
    /// A fresh environment.
    pub fn new() -> Env {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .expect("temp dir");
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{:04x}{:04x}", std::process::id() as u16, n as u16);
        let env = Env {
            dir,
            bridge: format!("bt{tag}"),
            table: format!("berth_test_{tag}"),
        };
        env.write_config(&serde_json::json!({}));
        env
    }

    /// The run root (`--run-root`).
    pub fn run_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// The data root (`--root`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The temp dir that holds everything.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes berth's config file: `json`, with this environment's bridge and table.
    pub fn write_config(&self, json: &serde_json::Value) {
        let mut json = json.clone();
        json["bridge"] = self.bridge.clone().into();
        json["firewall-table"] = self.table.clone().into();
        json["cgroup-parent"] = self.table.clone().into();
        std::fs::write(self.dir.path().join("config.json"), json.to_string())
            .expect("write config");
    }

    /// A berth command in this environment.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("berth"));
        cmd.env("BERTH_ROOT", self.root())
            .env("BERTH_RUN_ROOT", self.dir.path().join("run"))
            .env("BERTH_CONFIG", self.dir.path().join("config.json"))
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env_remove("BERTH_LOG")
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Starts berth with `args` and returns it with the first line it printed (a container
    /// that printed it runs by then).
    pub fn spawn_until_line(&self, args: &[&str]) -> (std::process::Child, String) {
        let mut child = self
            .command()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start berth");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read a line");
        (child, line.trim().to_owned())
    }

    /// Runs berth with `args` and collects what it did.
    pub fn berth(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("run berth"))
    }

    /// The stored layers' `diff` directories.
    pub fn layer_dirs(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.root().join("layers")) {
            Ok(entries) => entries
                .map(|e| e.expect("entry").path().join("diff"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The one layer directory that holds `path`.
    pub fn layer_with(&self, path: &str) -> PathBuf {
        let found: Vec<PathBuf> = self
            .layer_dirs()
            .into_iter()
            .filter(|d| d.join(path).symlink_metadata().is_ok())
            .collect();
        assert_eq!(found.len(), 1, "layers holding {path}: {found:?}");
        found.into_iter().next().expect("one")
    }

    /// Panics if a pull left work in progress behind: only lock files may stay in `tmp/`.
    pub fn assert_no_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.root().join("tmp")) else {
            return;
        };
        let left: Vec<String> = entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".lock"))
            .collect();
        assert!(left.is_empty(), "left in tmp/: {left:?}");
    }

    /// The tags `images.json` holds.
    pub fn tags(&self) -> Vec<String> {
        let Ok(bytes) = std::fs::read(self.root().join("images.json")) else {
            return Vec::new();
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("images.json");
        json["tags"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

impl Drop for Env {
    /// A test that failed half-way still takes its containers (and their supervisors) with it.
    fn drop(&mut self) {
        let Ok(out) = self
            .command()
            .args(["ps", "-a", "-q", "--no-trunc"])
            .output()
        else {
            return;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let _ = self.command().arg("rm").arg("-f").args(&ids).output();
        }
        // Networks: the user ones through berth, then the default bridge and the table.
        let user_networks: Vec<String> = std::fs::read_dir(self.root().join("networks"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let json: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
                let name = json["name"].as_str()?;
                (name != "bridge").then(|| name.to_owned())
            })
            .collect();
        if !user_networks.is_empty() {
            let _ = self
                .command()
                .args(["network", "rm"])
                .args(&user_networks)
                .output();
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .stderr(std::process::Stdio::null())
            .status();
        // The cgroup parent (named as the table), in every hierarchy.
        for hierarchy in cgroup_hierarchies() {
            let _ = std::fs::remove_dir(hierarchy.join(&self.table));
        }
    }
}

/// This host's cgroup hierarchy roots: /sys/fs/cgroup and every directory in it (a v1
/// controller's, or the unified one of a hybrid host).
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .chain([base.to_path_buf()])
        .collect()
}

/// Where the registry keeps a blob's bytes on disk.
pub fn registry_blob_path(registry: &berth_testkit::registry::Registry, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    registry
        .dir()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// A registry with busybox in it, and an environment that has pulled it.
pub struct Busybox {
    /// The registry (kept alive for the test).
    pub registry: berth_testkit::registry::Registry,
    /// The environment.
    pub env: Env,
    /// The image reference.
    pub image: String,
}

impl Busybox {
    /// Starts a registry, pushes busybox, pulls it.
    pub fn pulled() -> Busybox {
        let registry = berth_testkit::registry::Registry::start_open().expect("registry");
        let image = berth_testkit::busybox::image().expect("busybox").build();
        registry
            .client(None)
            .push_image("busybox", "latest", &image)
            .expect("push");
        let env = Env::new();
        let reference = format!("{}/busybox:latest", registry.host());
        env.berth(&["pull", "-q", &reference]).ok();
        Busybox {
            registry,
            env,
            image: reference,
        }
    }

    /// `berth run --rm IMAGE sh -c SCRIPT` with `flags` before the image.
    pub fn sh(&self, flags: &[&str], script: &str) -> Run {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&self.image, "sh", "-c", script]);
        self.env.berth(&args)
    }
}

/// Panics if the host still holds a mount, a container directory, a network namespace, a
/// lease, a port of a bridge or a container's firewall rule of `env`.
pub fn assert_nothing_leaked(env: &Env) {
    assert_no_network_leftovers(env);
    let root = env.root().display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&root),
        "a mount of this test is still on the host:\n{mounts}"
    );
    let removals = removals_left(env);
    // The spare directory the removals make ahead for the next container is no leftover
    // (one at most, and empty).
    let containers: Vec<_> = std::fs::read_dir(env.root().join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        containers.iter().all(|name| name == ".spare"),
        "container directories left: {containers:?}"
    );
    let spare = env.root().join("containers/.spare");
    let in_spare = walk(&spare);
    assert!(
        in_spare
            .iter()
            .all(|p| *p == spare.join("upper") || *p == spare.join("work")),
        "the spare directory holds {in_spare:?}"
    );
    assert!(
        removals.is_empty(),
        "ended --rm containers' directories left: {removals:?}"
    );
}

/// Every file and directory below `dir` (none when it is missing).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        found.push(entry.path());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(walk(&entry.path()));
        }
    }
    found
}

/// What is left in `removing/` once the processes that remove ended `--rm` containers (their
/// cgroups, then their directories there) are done: each holds its directory's lock until it
/// is.
pub fn removals_left(env: &Env) -> Vec<PathBuf> {
    let removing = env.root().join("removing");
    let entries = || -> Vec<PathBuf> {
        std::fs::read_dir(&removing)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    for dir in entries() {
        // Gone meanwhile, or locked until its remover is done.
        if let Ok(opened) = std::fs::File::open(&dir) {
            rustix::fs::flock(&opened, rustix::fs::FlockOperation::LockExclusive).unwrap();
        }
    }
    entries()
}

/// The cgroup directories of container `short_id` (its first 12 hex digits) still on the
/// host, under environment `env`'s cgroup parent, once the removals of ended `--rm`
/// containers are done.
pub fn cgroup_dirs_of(env: &Env, short_id: &str) -> Vec<PathBuf> {
    removals_left(env);
    let mut found = Vec::new();
    for base in cgroup_hierarchies() {
        if let Ok(entries) = std::fs::read_dir(base.join(&env.table)) {
            found.extend(entries.flatten().map(|e| e.path()).filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(short_id))
            }));
        }
    }
    found
}

/// Runs `cmd` with a new pseudo-terminal (of `rows` x `cols`) as its controlling terminal and
/// standard streams, types `input`, and returns what it wrote until it exited, with its code.
pub fn run_on_pty(
    cmd: std::process::Command,
    input: &[u8],
    rows: u16,
    cols: u16,
) -> (String, Option<i32>) {
    run_on_pty_after(cmd, input, rows, cols, std::time::Duration::ZERO)
}

/// `run_on_pty`, typing only after `settle` (once the program has set its terminal up).
pub fn run_on_pty_after(
    mut cmd: std::process::Command,
    input: &[u8],
    rows: u16,
    cols: u16,
    settle: std::time::Duration,
) -> (String, Option<i32>) {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let master =
        rustix::pty::openpt(rustix::pty::OpenptFlags::RDWR | rustix::pty::OpenptFlags::NOCTTY)
            .unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    rustix::termios::tcsetwinsize(
        &slave,
        rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .unwrap();
    let fd = slave.as_raw_fd();
    // SAFETY: in the child before exec: a new session with the pty as its controlling terminal
    // and standard streams; all async-signal-safe calls on a valid descriptor.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            libc::setsid();
            libc::ioctl(fd, libc::TIOCSCTTY, 0);
            for target in 0..3 {
                libc::dup2(fd, target);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    // The slave stays open here too: once the last slave descriptor closes, Linux may drop what
    // the child wrote last and answer EIO. Reading stops when the child has exited and the
    // master has been quiet for a while.
    let mut terminal = std::fs::File::from(master);
    std::thread::sleep(settle);
    terminal.write_all(input).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut exited_at = None;
    loop {
        let mut fds = [rustix::event::PollFd::new(
            &terminal,
            rustix::event::PollFlags::IN,
        )];
        let ready = rustix::event::poll(
            &mut fds,
            Some(&rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 100_000_000,
            }),
        )
        .unwrap_or(0);
        if ready > 0 {
            match terminal.read(&mut buf) {
                Ok(n) if n > 0 => {
                    seen.extend_from_slice(&buf[..n]);
                    continue;
                }
                _ => break,
            }
        }
        match exited_at {
            None if child.try_wait().unwrap().is_some() => {
                exited_at = Some(std::time::Instant::now())
            }
            Some(at) if at.elapsed() > std::time::Duration::from_millis(300) => break,
            _ => {}
        }
    }
    drop(slave);
    let status = child.wait().unwrap();
    (String::from_utf8_lossy(&seen).into_owned(), status.code())
}

/// Panics if `env` left a network namespace, an address lease, a bridge port (veth) or a
/// container's firewall rule behind.
pub fn assert_no_network_leftovers(env: &Env) {
    let entries = |dir: PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let netns = entries(env.run_root().join("netns"));
    assert!(netns.is_empty(), "network namespaces left: {netns:?}");
    for network in entries(env.run_root().join("networks")) {
        let leases = entries(
            env.run_root()
                .join("networks")
                .join(&network)
                .join("leases"),
        );
        let leases: Vec<&String> = leases
            .iter()
            .filter(|name| name.parse::<std::net::Ipv4Addr>().is_ok())
            .collect();
        assert!(leases.is_empty(), "leases left on {network}: {leases:?}");
    }
    let mut bridges = vec![env.bridge.clone()];
    bridges.extend(
        entries(env.root().join("networks"))
            .iter()
            .filter_map(|f| f.strip_suffix(".json"))
            .map(|id| format!("br-{}", &id[..12])),
    );
    // The kernel frees a container's namespace, and its veth pair, in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for bridge in bridges {
        let brif = PathBuf::from(format!("/sys/class/net/{bridge}/brif"));
        while !entries(brif.clone()).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let ports = entries(brif);
        assert!(ports.is_empty(), "veths left on {bridge}: {ports:?}");
    }
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &env.table])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        !rules.contains("berth container"),
        "container rules left:\n{rules}"
    );
}

/// The first element of `inspect`'s output for `what` (`inspect NAME`, `network inspect NAME`).
pub fn inspect(env: &Env, what: &[&str]) -> serde_json::Value {
    let out = env.berth(what).ok();
    serde_json::from_str::<serde_json::Value>(&out.stdout).expect("inspect JSON")[0].clone()
}

/// The default network's gateway (the bridge's address), making the network if needed.
pub fn gateway(env: &Env) -> std::net::Ipv4Addr {
    inspect(env, &["network", "inspect", "bridge"])["IPAM"]["Config"][0]["Gateway"]
        .as_str()
        .expect("a gateway")
        .parse()
        .expect("an IPv4 gateway")
}

/// A container's address on its first network.
pub fn ip_of(env: &Env, name: &str) -> std::net::Ipv4Addr {
    inspect(env, &["inspect", name])["NetworkSettings"]["IPAddress"]
        .as_str()
        .expect("an address")
        .parse()
        .expect("an IPv4 address")
}

/// An HTTP GET of `/` at `addr`: the response, or "" when nothing answered.
pub fn http_get(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(2);
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// `count` consecutive TCP ports, free on every address, from the first such run at or above
/// `from`: below the kernel's ephemeral range, so that no socket bound to port 0 (another
/// test's) can take them between this check and their use. Tests pass distinct `from`s.
pub fn free_ports_below_ephemeral(from: u16, count: u16) -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("ip_local_port_range");
    let ephemeral: u16 = range
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the first ephemeral port");
    (from..ephemeral.saturating_sub(count))
        .find(|first| {
            (*first..first + count).all(|p| std::net::TcpListener::bind(("0.0.0.0", p)).is_ok())
        })
        .unwrap_or_else(|| panic!("no {count} free ports from {from} below {ephemeral}"))
}

/// A network namespace of the test's own (`ip netns add NAME`, with `lo` up) that plays a
/// host; deleted, with all it holds, when dropped.
pub struct TestNetns(pub String);

impl TestNetns {
    /// Makes namespace `name`.
    pub fn new(name: &str) -> TestNetns {
        let status = std::process::Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .expect("run ip");
        assert!(status.success(), "ip netns add {name}");
        let netns = TestNetns(name.to_owned());
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// `ip -n NAME ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let status = std::process::Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .status()
            .expect("run ip");
        assert!(status.success(), "ip -n {} {args:?}", self.0);
    }

    /// `program` to be run in the namespace (through nsenter).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.0)).arg(program);
        cmd
    }

    /// Loads the nftables `rules` in the namespace.
    pub fn nft(&self, rules: &str) {
        let mut nft = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("run nft");
        std::io::Write::write_all(&mut nft.stdin.take().expect("stdin"), rules.as_bytes())
            .expect("write the rules");
        assert!(nft.wait().expect("wait for nft").success(), "{rules}");
    }

    /// berth of `env` with `args`, run in the namespace.
    pub fn berth(&self, env: &Env, args: &[&str]) -> Run {
        let cmd = env.command();
        let mut inside = self.command(cmd.get_program());
        inside.args(args);
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => inside.env(key, value),
                None => inside.env_remove(key),
            };
        }
        Run::from(
            inside
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run berth"),
        )
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// Docker's iptables rules as a host with Docker has them in `ip filter`: a FORWARD policy that
/// drops, and an empty DOCKER-USER chain that berth's accept rules go into.
pub const DOCKER_FORWARD_RULES: &str = "table ip filter {\n chain DOCKER-USER {\n }\n chain FORWARD {\n  type filter hook forward priority filter; policy drop;\n  jump DOCKER-USER\n }\n}\n";
