//! Defects a new user met (issues 18 and 19), each against Docker's behaviour: the command
//! line after IMAGE, capabilities, `cp` with `-`, `--add-host` on the host network,
//! `--platform` over a local image, `-it` without a terminal, names and aliases, `--stop-signal`
//! and `--cpus`, and running without root.

mod common;

use berth_testkit::image::{self, Format};
use common::{Busybox, Env, Run, assert_nothing_leaked};
use std::os::unix::process::CommandExt;

/// The numeric id of `nobody`.
const NOBODY: u32 = 65534;

/// The effective capability set of a container's shell, from /proc/self/status.
fn cap_eff(bb: &Busybox, flags: &[&str]) -> u64 {
    let out = bb.sh(flags, "grep CapEff /proc/self/status").ok().stdout;
    let hex = out.split_whitespace().nth(1).expect("a CapEff line");
    u64::from_str_radix(hex, 16).expect("hex")
}

/// No container record and no container directory is left in `env`.
fn assert_no_container(env: &Env) {
    let ps = env.berth(&["ps", "-a", "-q"]).ok().stdout;
    assert!(ps.trim().is_empty(), "containers: {ps}");
    let dirs: Vec<_> = std::fs::read_dir(env.root().join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let dirs: Vec<_> = dirs
        .iter()
        .filter(|n| n.to_string_lossy().len() == 64)
        .collect();
    assert!(dirs.is_empty(), "container directories: {dirs:?}");
}

// Docker stops parsing its flags at IMAGE (pflag's SetInterspersed(false)): `docker run
// --entrypoint /bin/echo busybox -e hello` prints `hello`; `-t` after the image is the
// command's; `docker exec CTR id -u` prints the uid.
#[test]
fn everything_after_the_image_is_the_containers_command() {
    let bb = Busybox::pulled();
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        bb.env.berth(&all).ok().stdout
    };
    let image = bb.image.as_str();
    assert_eq!(
        run(&["--entrypoint", "/bin/echo", image, "-e", "hello"]),
        "hello\n"
    );
    assert_eq!(
        run(&["--entrypoint", "/bin/echo", image, "-t", "--rm", "x"]),
        "-t --rm x\n"
    );
    assert_eq!(
        run(&[
            "--entrypoint",
            "/bin/sh",
            image,
            "-c",
            "echo $((1+2)) $0",
            "-e"
        ]),
        "3 -e\n"
    );
    let id = bb
        .env
        .berth(&["create", image, "sh", "-c", "echo created", "-d"])
        .ok()
        .stdout;
    let inspect = bb.env.berth(&["inspect", id.trim()]).ok().stdout;
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(
        inspect[0]["Config"]["Cmd"],
        serde_json::json!(["sh", "-c", "echo created", "-d"])
    );
    bb.env.berth(&["rm", id.trim()]).ok();
    bb.env
        .berth(&["run", "-d", "--name", "web", image, "sleep", "60"])
        .ok();
    let out = bb.env.berth(&["exec", "web", "id", "-u"]).ok().stdout;
    assert_eq!(out, "0\n");
    let out = bb
        .env
        .berth(&[
            "exec",
            "-u",
            "65534",
            "web",
            "sh",
            "-c",
            "id -u; echo \"[$1]\"",
            "-",
            "-e",
        ])
        .ok()
        .stdout;
    assert_eq!(out, "65534\n[-e]\n");
    bb.env.berth(&["rm", "-f", "web"]).ok();
    assert_nothing_leaked(&bb.env);
}

// Docker (moby's TweakCapabilities): drops first, then adds. `--cap-drop ALL --cap-add
// NET_BIND_SERVICE` gives CapEff 0x400; `--cap-add ALL --cap-drop CHOWN` all but CHOWN.
#[test]
fn capabilities_are_dropped_then_added_as_in_docker() {
    let bb = Busybox::pulled();
    assert_eq!(
        cap_eff(&bb, &["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"]),
        0x400
    );
    let all_but_chown = cap_eff(&bb, &["--cap-add", "ALL", "--cap-drop", "CHOWN"]);
    assert_eq!(all_but_chown & 1, 0, "{all_but_chown:#x}");
    assert_ne!(
        all_but_chown & (1 << 21),
        0,
        "CAP_SYS_ADMIN: {all_but_chown:#x}"
    );
    assert_eq!(cap_eff(&bb, &["--cap-drop", "ALL"]), 0);
    assert_nothing_leaked(&bb.env);
}

// Docker: `docker cp CTR:/dir -` writes a tar archive to standard output; `docker cp -
// CTR:/dir` unpacks one from standard input into the directory; a copy through a symlink to
// a missing directory fails with a message and exit 1.
#[test]
fn cp_streams_a_tar_through_a_dash_and_explains_a_missing_directory() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["run", "-d", "--name", "box", &bb.image, "sleep", "60"])
        .ok();
    bb.env
        .berth(&[
            "exec",
            "box",
            "sh",
            "-c",
            "mkdir /data && echo inside > /data/f && ln -s /missing /link",
        ])
        .ok();
    let cwd = tempfile::tempdir().unwrap();
    let out = bb
        .env
        .command()
        .current_dir(cwd.path())
        .args(["cp", "box:/data", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !cwd.path().join("-").exists(),
        "a directory named - was made"
    );
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        files.push((entry.path().unwrap().display().to_string(), text));
    }
    assert!(
        files.contains(&("data/f".into(), "inside\n".into())),
        "{files:?}"
    );

    let mut upload = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    upload
        .append_data(&mut header, "sent.txt", "sent\n".as_bytes())
        .unwrap();
    let upload = upload.into_inner().unwrap();
    let mut child = bb
        .env
        .command()
        .args(["cp", "-", "box:/data"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &upload).unwrap();
    assert!(child.wait().unwrap().success());
    let out = bb.env.berth(&["exec", "box", "cat", "/data/sent.txt"]).ok();
    assert_eq!(out.stdout, "sent\n");

    let big = bb.env.path().join("big");
    std::fs::write(&big, vec![7u8; 4 << 20]).unwrap();
    let big = big.display().to_string();
    let run = bb.env.berth(&["cp", &big, "box:/link/sub"]);
    assert_eq!(run.code, 1, "not killed by SIGPIPE: {}", run.stderr);
    assert!(run.stderr.starts_with("berth: "), "{}", run.stderr);
    assert!(run.stderr.contains("/link"), "{}", run.stderr);
    bb.env.berth(&["rm", "-f", "box"]).ok();
    assert_nothing_leaked(&bb.env);
}

// Docker writes `--add-host` entries into the container's /etc/hosts with `--network host`
// too.
#[test]
fn add_host_reaches_etc_hosts_on_the_host_network() {
    let bb = Busybox::pulled();
    let out = bb
        .sh(
            &["--network", "host", "--add-host", "berth-extra:10.9.8.7"],
            "grep berth-extra /etc/hosts",
        )
        .ok()
        .stdout;
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["10.9.8.7", "berth-extra"]
    );
    assert_nothing_leaked(&bb.env);
}

// Docker's CLI writes its notes and warnings on stderr, apart from the container's output:
// `Unable to find image 'x' locally` before it pulls, and `WARNING: Published ports are
// discarded when using host network mode`.
#[test]
fn notes_and_warnings_go_to_stderr_apart_from_the_output() {
    let bb = Busybox::pulled();
    let other = Env::new();
    let run = other.berth(&["run", "--rm", &bb.image, "echo", "out"]).ok();
    assert_eq!(run.stdout.lines().last(), Some("out"));
    assert!(
        run.stderr
            .contains(&format!("Unable to find image '{}' locally", bb.image)),
        "{}",
        run.stderr
    );
    let run = bb
        .env
        .berth(&[
            "run",
            "--rm",
            "--network",
            "host",
            "-p",
            "8080:80",
            &bb.image,
            "echo",
            "out",
        ])
        .ok();
    assert_eq!(run.stdout, "out\n");
    assert!(
        run.stderr
            .contains("WARNING: Published ports are discarded when using host network mode"),
        "{}",
        run.stderr
    );
    assert_nothing_leaked(&bb.env);
    assert_nothing_leaked(&other);
}

// Docker pulls the asked `--platform` when the local image is of another one, and fails when
// the registry has none for it.
#[test]
fn platform_is_honoured_over_a_local_image_of_another_platform() {
    let registry = berth_testkit::registry::Registry::start_open().expect("registry");
    let host = image::host_architecture();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let variant = |arch: &str| (arch == "arm64").then_some("v8");
    let images = [host, other]
        .iter()
        .map(|arch| {
            berth_testkit::busybox::image()
                .expect("busybox")
                .platform(arch, variant(arch))
                .build()
        })
        .collect();
    let index = image::index(images, Format::Docker);
    registry
        .client(None)
        .push_index("multi", "latest", &index)
        .unwrap();
    let env = Env::new();
    let name = format!("{}/multi:latest", registry.host());
    env.berth(&["pull", "-q", &name]).ok();
    let arch = || {
        let out = env.berth(&["image", "inspect", &name]).ok().stdout;
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["Architecture"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(arch(), host);
    let wanted = format!("linux/{other}");
    env.berth(&["run", "--rm", "--platform", &wanted, &name, "true"])
        .ok();
    assert_eq!(arch(), other);
    env.berth(&["run", "--rm", "--platform", "linux/s390x", &name, "true"])
        .fails(
            125,
            "does not match the specified platform: wanted linux/s390x",
        );
    assert_no_container(&env);
    assert_nothing_leaked(&env);
}

// Docker's client: `docker run -it` with no terminal on stdin says "the input device is not
// a TTY" and exits 1, having made nothing.
#[test]
fn interactive_tty_without_a_terminal_exits_1() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["run", "-it", "--rm", &bb.image, "true"])
        .fails(1, "the input device is not a TTY");
    bb.env
        .berth(&["run", "-it", &bb.image, "true"])
        .fails(1, "the input device is not a TTY");
    assert_no_container(&bb.env);
}

// Docker: "Invalid container name (NAME), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", exit
// 125; aliases and hostnames are checked too, so nothing reaches another container's
// /etc/hosts.
#[test]
fn a_name_or_alias_with_a_newline_injects_nothing_into_other_containers_hosts() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["network", "create", "--subnet", "10.234.19.0/24", "defects"])
        .ok();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "victim",
            "--network",
            "defects",
            &bb.image,
            "sleep",
            "60",
        ])
        .ok();
    let injected = "x\n10.66.66.66 evil";
    let refused = |args: &[&str], needle: &str| {
        let mut all = vec!["run", "--rm", "--network", "defects"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[&bb.image, "true"]);
        bb.env.berth(&all).fails(125, needle);
    };
    refused(
        &["--name", injected],
        "Invalid container name (x\n10.66.66.66 evil), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    );
    refused(&["--network-alias", injected], "Invalid network alias");
    refused(&["--hostname", injected], "invalid hostname format");
    refused(&["--name=-dash"], "Invalid container name (-dash)");
    // Docker takes a leading slash for none.
    bb.env
        .berth(&["run", "-d", "--name", "/other", &bb.image, "sleep", "60"])
        .ok();
    bb.env
        .berth(&[
            "network", "connect", "--alias", injected, "defects", "other",
        ])
        .fails(125, "Invalid network alias");
    let hosts = bb
        .env
        .berth(&["exec", "victim", "cat", "/etc/hosts"])
        .ok()
        .stdout;
    assert!(!hosts.contains("evil"), "{hosts}");
    assert_no_leftover_names(&bb.env);
    bb.env.berth(&["rm", "-f", "victim", "other"]).ok();
    bb.env.berth(&["network", "rm", "defects"]).ok();
    assert_nothing_leaked(&bb.env);
}

/// Only the two containers of the test exist.
fn assert_no_leftover_names(env: &Env) {
    let ps = env.berth(&["ps", "-a", "--format", "json"]).ok().stdout;
    let names: Vec<String> = ps
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["Names"].to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

// Docker: `--stop-signal SIGBOGUS` gives "Invalid signal: SIGBOGUS"; `--cpus` above the
// host's count gives "range of CPUs is from 0.01 to N.00, as there are only N CPUs
// available"; both exit 125 and make nothing.
#[test]
fn a_bogus_stop_signal_or_too_many_cpus_is_refused() {
    let bb = Busybox::pulled();
    let cpus = std::thread::available_parallelism().unwrap().get();
    for (flags, needle) in [
        (
            ["--stop-signal", "SIGBOGUS"],
            "Invalid signal: SIGBOGUS".to_owned(),
        ),
        (
            ["--cpus", "1000"],
            format!(
                "range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            ),
        ),
    ] {
        for command in ["run", "create"] {
            let mut args = vec![command];
            args.extend_from_slice(&flags);
            args.extend_from_slice(&[&bb.image, "true"]);
            bb.env.berth(&args).fails(125, &needle);
        }
    }
    assert_no_container(&bb.env);
}

/// `berth ARGS` in `env` as the user `nobody` (and no supplementary group), with a home and
/// XDG directories of its own.
fn as_nobody(env: &Env, args: &[&str]) -> Run {
    let home = env.path().join("home");
    let mut command = env.command();
    command
        .args(args)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .uid(NOBODY)
        .gid(NOBODY);
    Run::from(command.output().expect("run berth"))
}

// Docker refuses without root too (its socket is root's); berth says what is missing in one
// line, exit 125, and makes nothing, while a pull without root works.
#[test]
fn without_root_containers_are_refused_in_one_line_and_pull_works() {
    let registry = berth_testkit::registry::Registry::start_open().expect("registry");
    let busybox = berth_testkit::busybox::image().expect("busybox").build();
    registry
        .client(None)
        .push_image("busybox", "latest", &busybox)
        .expect("push");
    let env = Env::new();
    std::fs::create_dir_all(env.path().join("home/run")).unwrap();
    for entry in common::walk(env.path())
        .iter()
        .chain([&env.path().to_path_buf()])
    {
        std::os::unix::fs::lchown(entry, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let image = format!("{}/busybox:latest", registry.host());
    as_nobody(&env, &["pull", "-q", &image]).ok();
    let message = "berth: running containers needs root (rootless mode is not supported yet)";
    for args in [
        &["run", "--rm", &image, "true"][..],
        &["run", "-d", &image, "true"],
        &["create", &image, "true"],
        &["start", "nothing"],
        &["exec", "nothing", "true"],
    ] {
        let run = as_nobody(&env, args).fails(125, message);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    }
    assert_no_container(&env);
    assert_nothing_leaked(&env);
}
