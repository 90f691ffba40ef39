//! The Docker Engine API (`berth system service`) driven by real clients: the docker CLI
//! (the one on PATH, and Debian's 20.10 when it is installed) and python3-docker, on a unix
//! socket in the test's temp dir. Containers made through the API are berth's own, and
//! berth's are the API's.

mod common;

use common::{Busybox, Env, Run, assert_nothing_leaked};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Debian's docker CLI (API 1.41), beside the newer one on PATH.
const DEBIAN_DOCKER: &str = "/usr/bin/docker";

/// A running `berth system service --time 0 unix://...`; killed when dropped.
struct Service {
    child: Child,
    socket: PathBuf,
    docker_config: PathBuf,
}

impl Service {
    fn start(env: &Env) -> Service {
        let socket = env.path().join("api.sock");
        let child = env
            .command()
            .args(["system", "service", "--time", "0"])
            .arg(format!("unix://{}", socket.display()))
            .spawn()
            .expect("start the service");
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the service did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Service {
            child,
            socket,
            docker_config: env.path().join("docker-cli"),
        }
    }

    fn uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The docker CLI `program` against the service.
    fn docker_with(&self, program: &str, args: &[&str]) -> Run {
        Run::from(
            Command::new(program)
                .arg("-H")
                .arg(self.uri())
                .args(args)
                .env("DOCKER_CONFIG", &self.docker_config)
                .env_remove("DOCKER_HOST")
                .output()
                .expect("run docker"),
        )
    }

    fn docker(&self, args: &[&str]) -> Run {
        self.docker_with("docker", args)
    }

    /// One raw HTTP/1.0 request without a body: the status and the body.
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        raw_request(&self.socket, method, path, "")
    }

    /// One raw HTTP/1.0 request with `body`: the status and the body.
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        raw_request(&self.socket, method, path, body)
    }
}

/// One HTTP/1.0 request on `socket`: the status and the body of the answer.
fn raw_request(socket: &std::path::Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // The service may answer before it has read a body it refuses.
    let _ = stream.write_all(body.as_bytes());
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_cli_runs_containers_through_the_socket() {
    let bb = Busybox::pulled();
    let service = Service::start(&bb.env);

    let version = service.docker(&["version"]).ok();
    assert!(
        version.stdout.contains("Server: berth"),
        "{}",
        version.stdout
    );
    assert!(version.stdout.contains("1.43"), "{}", version.stdout);
    if std::path::Path::new(DEBIAN_DOCKER).exists() {
        let old = service.docker_with(DEBIAN_DOCKER, &["version"]).ok();
        assert!(
            old.stdout.contains("API version:       1.41"),
            "{}",
            old.stdout
        );
        service.docker_with(DEBIAN_DOCKER, &["ps", "-a"]).ok();
    }

    // A pull through the API: the image is gone from berth first.
    bb.env.berth(&["rmi", &bb.image]).ok();
    let pull = service.docker(&["pull", &bb.image]).ok();
    assert!(
        pull.stdout.contains("Downloaded newer image"),
        "{}",
        pull.stdout
    );
    let images = service.docker(&["images"]).ok();
    assert!(images.stdout.contains("/busybox"), "{}", images.stdout);
    assert!(bb.env.berth(&["images", "-q"]).ok().stdout.trim().len() >= 12);

    // Created and started through the API: a berth container, seen by `berth ps`.
    let id = service
        .docker(&["run", "-d", "--name", "apisleep", &bb.image, "sleep", "30"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let ps = bb.env.berth(&["ps"]).ok();
    assert!(ps.stdout.contains("apisleep"), "{}", ps.stdout);
    let listed = service.docker(&["ps"]).ok();
    assert!(listed.stdout.contains("apisleep"), "{}", listed.stdout);
    let status = service
        .docker(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.Name}}",
            "apisleep",
        ])
        .ok();
    assert_eq!(status.stdout.trim(), "running /apisleep");

    // Made by berth, seen through the socket.
    bb.env
        .berth(&["run", "-d", "--name", "berthmade", &bb.image, "sleep", "30"])
        .ok();
    let listed = service.docker(&["ps", "--format", "{{.Names}}"]).ok();
    assert!(listed.stdout.contains("berthmade"), "{}", listed.stdout);

    // Logs in the multiplexed stream: stdout and stderr apart.
    service
        .docker(&[
            "run",
            "-d",
            "--name",
            "talker",
            &bb.image,
            "sh",
            "-c",
            "echo out; echo err >&2",
        ])
        .ok();
    assert_eq!(service.docker(&["wait", "talker"]).ok().stdout.trim(), "0");
    let logs = service.docker(&["logs", "talker"]).ok();
    assert_eq!(logs.stdout, "out\n");
    assert_eq!(logs.stderr, "err\n");

    service.docker(&["stop", "-t", "1", "apisleep"]).ok();
    let stopped = service
        .docker(&["inspect", "--format", "{{.State.Status}}", "apisleep"])
        .ok();
    assert_eq!(stopped.stdout.trim(), "exited");
    service.docker(&["rm", "apisleep", "talker"]).ok();
    let running_rm = service.docker(&["rm", "berthmade"]);
    assert_eq!(running_rm.code, 1, "{}", running_rm.stderr);
    assert!(
        running_rm.stderr.contains("container is running"),
        "{}",
        running_rm.stderr
    );
    service.docker(&["rm", "-f", "berthmade"]).ok();

    // Docker's error shapes.
    let (code, body) = service.http("GET", "/v1.41/containers/nope/json");
    assert_eq!(
        (code, body.as_str()),
        (404, r#"{"message":"No such container: nope"}"#)
    );
    let (code, body) = service.http("GET", "/v1.41/no/such/path");
    assert_eq!(code, 404);
    assert!(body.starts_with(r#"{"message":"#), "{body}");
    let (code, body) = service.http("GET", "/v1.10/info");
    assert_eq!(code, 400);
    assert!(body.contains("too old"), "{body}");
    let (code, body) = service.request("POST", "/containers/create", "{not json");
    assert_eq!(code, 400);
    assert!(body.contains("invalid JSON"), "{body}");
    let big = "x".repeat(5 << 20);
    let (code, _) = service.request("POST", "/containers/create", &big);
    assert_eq!(code, 413);
    // 20 clients at once.
    let lists: Vec<_> = (0..20)
        .map(|_| {
            let socket = service.socket.clone();
            std::thread::spawn(move || raw_request(&socket, "GET", "/containers/json?all=1", "").0)
        })
        .collect();
    for list in lists {
        assert_eq!(list.join().unwrap(), 200);
    }
    let missing = service.docker(&["inspect", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("No such object: nope"),
        "{}",
        missing.stderr
    );

    drop(service);
    assert_nothing_leaked(&bb.env);
}

#[test]
fn python_docker_sdk_runs_waits_logs_and_pulls() {
    let bb = Busybox::pulled();
    let service = Service::start(&bb.env);
    let (repository, _) = bb.image.rsplit_once(':').expect("a tag");
    let script = format!(
        r#"
import docker
client = docker.DockerClient(base_url={uri:?})
container = client.containers.run({image:?}, 'echo hi', detach=True)
print("wait", container.wait()["StatusCode"])
print("logs", container.logs().decode().strip())
container.remove()
image = client.images.pull({repository:?}, tag="latest")
print("pulled", image.id.startswith("sha256:"))
print("left", len(client.containers.list(all=True)))
"#,
        uri = service.uri(),
        image = bb.image,
    );
    let out = Run::from(
        Command::new("python3")
            .args(["-c", &script])
            .output()
            .expect("run python3"),
    );
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stdout, "wait 0\nlogs hi\npulled True\nleft 0\n");
    drop(service);
    assert_nothing_leaked(&bb.env);
}

/// Waits up to `limit` for `child` to exit by itself; its exit code.
fn exits_within(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the service did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn socket_activated_service_exits_when_idle_and_its_containers_stay() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let bb = Busybox::pulled();
    // systemd's part: the socket bound, then passed as fd 3 with LISTEN_PID and LISTEN_FDS.
    let socket = bb.env.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let berth = bb.env.command();
    let mut shell = Command::new("sh");
    shell
        .args(["-c", r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$@""#, "sh"])
        .arg(berth.get_program())
        .args(["system", "service", "--time", "1"]);
    for (key, value) in berth.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    let fd = listener.as_raw_fd();
    // SAFETY: dup2 and fcntl are async-signal-safe; they put the listener on fd 3 without
    // CLOEXEC (dup2 onto itself would keep the flag).
    unsafe {
        shell.pre_exec(move || {
            let placed = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if placed < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = shell.spawn().expect("start the service");
    let service = Service {
        child: Command::new("true").spawn().expect("true"),
        socket: socket.clone(),
        docker_config: bb.env.path().join("docker-cli"),
    };
    service
        .docker(&["run", "-d", "--name", "survivor", &bb.image, "sleep", "30"])
        .ok();
    assert_eq!(exits_within(&mut child, Duration::from_secs(15)), 0);
    // The container outlives the service; the socket is systemd's, left in place.
    let ps = bb
        .env
        .berth(&["ps", "--format", "{{.Names}} {{.State}}"])
        .ok();
    assert_eq!(ps.stdout.trim(), "survivor running");
    assert!(socket.exists());
    drop(listener);
    bb.env.berth(&["rm", "-f", "survivor"]).ok();

    // A socket of its own is removed when the service ends.
    let own = bb.env.path().join("own.sock");
    let mut child = bb
        .env
        .command()
        .args(["system", "service", "--time", "1"])
        .arg(format!("unix://{}", own.display()))
        .spawn()
        .expect("start the service");
    assert_eq!(exits_within(&mut child, Duration::from_secs(15)), 0);
    assert!(!own.exists());

    // TCP only when asked, with a warning.
    let tcp = bb
        .env
        .command()
        .args(["system", "service", "--time", "1", "tcp://127.0.0.1:0"])
        .output()
        .expect("run the service");
    assert_eq!(tcp.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&tcp.stderr).contains("has no authentication"),
        "{}",
        String::from_utf8_lossy(&tcp.stderr)
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn docker_cli_manages_networks_and_volumes_and_reads_events_and_df() {
    let env = Env::new();
    let service = Service::start(&env);

    let id = service.docker(&["network", "create", "apinet"]).ok().stdout;
    assert_eq!(id.trim().len(), 64, "{id}");
    let listed = service
        .docker(&["network", "ls", "--format", "{{.Name}}"])
        .ok();
    assert!(
        listed.stdout.lines().any(|l| l == "apinet"),
        "{}",
        listed.stdout
    );
    assert!(env.berth(&["network", "ls"]).ok().stdout.contains("apinet"));
    let name = service
        .docker(&[
            "network",
            "inspect",
            "--format",
            "{{.Name}} {{.Driver}}",
            "apinet",
        ])
        .ok();
    assert_eq!(name.stdout.trim(), "apinet bridge");
    let again = service.docker(&["network", "create", "apinet"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    service.docker(&["network", "rm", "apinet"]).ok();
    let gone = service.docker(&["network", "inspect", "apinet"]);
    assert_eq!(gone.code, 1, "{}", gone.stdout);

    service.docker(&["volume", "create", "apivol"]).ok();
    let volumes = service
        .docker(&["volume", "ls", "--format", "{{.Name}}"])
        .ok();
    assert_eq!(volumes.stdout.trim(), "apivol");
    let mountpoint = service
        .docker(&["volume", "inspect", "--format", "{{.Mountpoint}}", "apivol"])
        .ok();
    assert!(std::path::Path::new(mountpoint.stdout.trim()).is_dir());
    service.docker(&["volume", "rm", "apivol"]).ok();
    assert_eq!(env.berth(&["volume", "ls", "-q"]).ok().stdout, "");

    let df = service.docker(&["system", "df"]).ok();
    assert!(df.stdout.contains("Local Volumes"), "{}", df.stdout);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let events = service
        .docker(&[
            "events",
            "--since",
            "1",
            "--until",
            &now.to_string(),
            "--format",
            "{{.Type}} {{.Action}}",
        ])
        .ok();
    assert!(
        events.stdout.contains("network create"),
        "{}",
        events.stdout
    );
    assert!(
        events.stdout.contains("network destroy"),
        "{}",
        events.stdout
    );
    drop(service);
    assert_nothing_leaked(&env);
}
