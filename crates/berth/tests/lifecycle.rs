//! Detached containers and their life cycle: `run -d`, `create`, `start`, `ps`, `logs`, `stop`,
//! `kill`, `restart`, `rm`, `wait`, `inspect`, restart policies, and a killed supervisor.

mod common;

use common::{Busybox, assert_nothing_leaked, cgroup_dirs_of};
use std::time::{Duration, Instant};

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn inspect(bb: &Busybox, name: &str) -> serde_json::Value {
    let out = bb.env.berth(&["inspect", name]).ok();
    serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

#[test]
fn a_detached_server_is_listed_logged_followed_stopped_and_removed() {
    let bb = Busybox::pulled();
    // Until networking lands, "requests" reach the server through a FIFO on a volume.
    let shared = bb.env.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        shared.join("requests"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o666),
        0,
    )
    .unwrap();
    let volume = format!("{}:/srv", shared.display());
    let server = "echo listening; echo ready >&2; while true; do read req < /srv/requests; [ -n \"$req\" ] && echo \"served $req\"; done";
    let id = bb
        .env
        .berth(&[
            "run", "-d", "--name", "web", "-v", &volume, &bb.image, "sh", "-c", server,
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(id.len(), 64, "run -d prints the id: {id}");

    let ps = bb.env.berth(&["ps"]).ok().stdout;
    let header = ps.lines().next().unwrap();
    for column in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(column), "{ps}");
    }
    assert!(
        ps.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(&id[..12]) && l.contains("Up ") && l.ends_with("web")),
        "{ps}"
    );
    assert_eq!(bb.env.berth(&["ps", "-q"]).ok().stdout.trim(), &id[..12]);

    // Follow the logs while requests arrive.
    let follower = bb
        .env
        .command()
        .args(["logs", "-f", "web"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for n in 1..=3 {
        std::fs::write(shared.join("requests"), format!("request-{n}\n")).unwrap();
        until("the request to be logged", || {
            bb.env
                .berth(&["logs", "web"])
                .stdout
                .contains(&format!("served request-{n}"))
        });
    }
    let logs = bb.env.berth(&["logs", "web"]).ok();
    assert_eq!(
        logs.stdout,
        "listening\nserved request-1\nserved request-2\nserved request-3\n"
    );
    assert_eq!(logs.stderr, "ready\n", "stderr kept apart");
    assert_eq!(
        bb.env.berth(&["logs", "--tail", "1", "web"]).ok().stdout,
        "served request-3\n"
    );
    let stamped = bb
        .env
        .berth(&["logs", "-t", "--tail", "1", "web"])
        .ok()
        .stdout;
    assert!(
        stamped.starts_with("20") && stamped.contains("Z served request-3"),
        "{stamped}"
    );

    let state = inspect(&bb, "web");
    assert_eq!(state["Id"], id);
    assert_eq!(state["Name"], "/web");
    assert_eq!(state["State"]["Running"], true);
    // The host's pid of the container's init: the `sh` it runs, PID 1 of its own namespace.
    let pid = state["State"]["Pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Name:\tsh\n"), "{status}");
    assert!(status.contains(&format!("NSpid:\t{pid}\t1\n")), "{status}");
    assert_eq!(state["Mounts"][0]["Destination"], "/srv");

    bb.env
        .berth(&["rm", "web"])
        .fails(1, "container is running");
    assert_eq!(
        bb.env.berth(&["stop", "-t", "1", "web"]).ok().stdout.trim(),
        "web"
    );
    let followed = follower.wait_with_output().unwrap();
    let followed = String::from_utf8_lossy(&followed.stdout);
    assert!(
        followed.contains("served request-3"),
        "logs -f missed lines: {followed}"
    );
    let state = inspect(&bb, "web");
    assert_eq!(state["State"]["Status"], "exited");
    assert_eq!(
        state["State"]["ExitCode"], 137,
        "sh as PID 1 ignores SIGTERM: killed after -t"
    );
    assert!(bb.env.berth(&["ps"]).ok().stdout.lines().count() == 1);
    assert!(
        bb.env
            .berth(&["ps", "-a"])
            .ok()
            .stdout
            .contains("Exited (137)")
    );
    bb.env.berth(&["stop", "web"]).ok();
    bb.env.berth(&["rm", "web"]).ok();
    bb.env
        .berth(&["rm", "web"])
        .fails(1, "No such container: web");
    bb.env
        .berth(&["inspect", "web"])
        .fails(1, "No such object: web");
    assert!(cgroup_dirs_of(&bb.env, &id[..12]).is_empty());
    assert_nothing_leaked(&bb.env);
}

/// `restart` of an `--rm` container starts it again, as Docker's does (its stop alone would
/// remove it); it keeps what it wrote, and it still goes once it ends otherwise.
#[test]
fn restart_of_an_rm_container_runs_it_again_and_stop_then_removes_it() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--rm",
            "--name",
            "brief",
            &bb.image,
            "sh",
            "-c",
            "date +%s%N >> /runs; while true; do sleep 0.1; done",
        ])
        .ok();
    let started = |env: &common::Env| -> String {
        let out = env.berth(&["inspect", "brief"]).ok().stdout;
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["State"]["Running"], true, "not running: {out}");
        v[0]["State"]["StartedAt"].as_str().unwrap().to_owned()
    };
    // One line per start, in its writable layer.
    let starts = || {
        bb.env
            .berth(&["exec", "brief", "cat", "/runs"])
            .stdout
            .lines()
            .count()
    };
    until("the container to write its first line", || starts() == 1);
    let first = started(&bb.env);
    bb.env.berth(&["restart", "-t", "1", "brief"]).ok();
    until("the restarted container to write its second line", || {
        starts() == 2
    });
    assert_ne!(started(&bb.env), first, "not started again");
    bb.env.berth(&["stop", "-t", "1", "brief"]).ok();
    until("the container to go", || {
        bb.env.berth(&["ps", "-aq"]).stdout.trim().is_empty()
    });
    assert_nothing_leaked(&bb.env);
}

#[test]
fn create_start_wait_kill_restart_and_bad_input() {
    let bb = Busybox::pulled();
    let id = bb
        .env
        .berth(&[
            "create",
            "--name",
            "job",
            &bb.image,
            "sh",
            "-c",
            "echo hi; exit 3",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert!(
        bb.env
            .berth(&["ps", "-a", "--filter", "status=created"])
            .ok()
            .stdout
            .contains("Created")
    );
    bb.env
        .berth(&["create", "--name", "job", &bb.image, "true"])
        .fails(125, "is already in use");
    let attached = bb.env.berth(&["start", "-a", "job"]);
    assert_eq!((attached.code, attached.stdout.as_str()), (3, "hi\n"));
    assert_eq!(
        bb.env.berth(&["wait", &id[..8]]).ok().stdout.trim(),
        "3",
        "wait by id prefix"
    );

    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "sleeper",
            &bb.image,
            "sh",
            "-c",
            "trap 'exit 42' USR1; echo trapped; while true; do sleep 0.1; done",
        ])
        .ok();
    // PID 1 ignores a signal it has no handler for: signal once the trap is set.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !bb
        .env
        .berth(&["logs", "sleeper"])
        .stdout
        .contains("trapped")
    {
        assert!(Instant::now() < deadline, "the trap was never set");
        std::thread::sleep(Duration::from_millis(20));
    }
    bb.env.berth(&["kill", "-s", "USR1", "sleeper"]).ok();
    assert_eq!(bb.env.berth(&["wait", "sleeper"]).ok().stdout.trim(), "42");
    bb.env
        .berth(&["kill", "sleeper"])
        .fails(1, "is not running");
    bb.env
        .berth(&["kill", "-s", "NOPE", "sleeper"])
        .fails(1, "invalid signal");
    bb.env.berth(&["restart", "-t", "1", "sleeper"]).ok();
    until("the restarted container to run", || {
        bb.env
            .berth(&["ps", "-q", "--filter", "name=sleeper"])
            .stdout
            .trim()
            .len()
            == 12
    });
    bb.env.berth(&["rm", "-f", "sleeper", "job"]).ok();

    bb.env
        .berth(&["stop", "nothing"])
        .fails(1, "No such container: nothing");
    bb.env
        .berth(&[
            "run",
            "-d",
            "--log-driver",
            "none",
            "--name",
            "quiet",
            &bb.image,
            "echo",
            "x",
        ])
        .ok();
    bb.env
        .berth(&["logs", "quiet"])
        .fails(1, "does not support reading");
    bb.env
        .berth(&["run", "-d", &bb.image, "no-such-command"])
        .fails(127, "executable file not found");
    bb.env
        .berth(&[
            "run",
            "-d",
            "--restart",
            "always",
            "--rm",
            &bb.image,
            "true",
        ])
        .fails(125, "--restart and --rm");
    bb.env.berth(&["wait", "quiet"]).ok();
    bb.env.berth(&["rm", "quiet"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_restart_policy_restarts_a_crashing_container_n_times() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "crashy",
            "--restart",
            "on-failure:3",
            &bb.image,
            "sh",
            "-c",
            "echo attempt; exit 1",
        ])
        .ok();
    until("the last attempt", || {
        inspect(&bb, "crashy")["RestartCount"] == 3
            && inspect(&bb, "crashy")["State"]["Running"] == false
    });
    assert_eq!(bb.env.berth(&["wait", "crashy"]).ok().stdout.trim(), "1");
    assert_eq!(
        bb.env.berth(&["logs", "crashy"]).ok().stdout,
        "attempt\n".repeat(4)
    );
    bb.env.berth(&["rm", "crashy"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_quiet_container_keeps_a_small_relay_and_its_later_output() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "quiet",
            &bb.image,
            "sh",
            "-c",
            "sleep 3; echo late; echo oops >&2; exit 7",
        ])
        .ok();
    // After a quiet second the relay gives back its mappings of code: what it still maps of
    // files is well below the megabytes it touched on its way (7 MiB in a debug build, 3 in
    // a release one; under 1 once given back).
    std::thread::sleep(Duration::from_millis(2000));
    let pid = inspect(&bb, "quiet")["State"]["Pid"].as_i64().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let relay = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    let status = std::fs::read_to_string(format!("/proc/{relay}/status")).unwrap();
    let mapped_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssFile:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        mapped_kib < 2048,
        "the idle relay still maps {mapped_kib} KiB of files"
    );
    // Woken by the output, it logs it and records the exit as before.
    assert_eq!(bb.env.berth(&["wait", "quiet"]).ok().stdout.trim(), "7");
    let logs = bb.env.berth(&["logs", "quiet"]).ok();
    assert_eq!(logs.stdout, "late\n");
    assert_eq!(logs.stderr, "oops\n");
    bb.env.berth(&["rm", "quiet"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn what_a_killed_removal_of_an_rm_container_left_goes_with_the_next_command() {
    // An `--rm` container's end moves its directory into removing/ and leaves its cgroup and
    // directory to a process of their own: here that process was killed before it began.
    let bb = Busybox::pulled();
    let id = bb
        .env
        .berth(&["run", "--name", "ended", &bb.image, "true"])
        .ok();
    assert!(id.stdout.is_empty(), "{}", id.stdout);
    let dir = std::fs::read_dir(bb.env.root().join("containers"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let id = dir.file_name().unwrap().to_string_lossy().into_owned();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("container.json")).unwrap()).unwrap();
    let cgroup = record["cgroup_path"].as_str().unwrap().to_owned();
    assert!(cgroup.starts_with(&bb.env.table), "{cgroup}");
    let made: Vec<_> = common::cgroup_hierarchies()
        .into_iter()
        .filter(|h| h.join(&bb.env.table).is_dir())
        .map(|h| h.join(&cgroup))
        .collect();
    for cgroup_dir in &made {
        std::fs::create_dir(cgroup_dir).unwrap();
    }
    assert!(!cgroup_dirs_of(&bb.env, &id[..12]).is_empty());
    let removing = bb.env.root().join("removing");
    std::fs::create_dir_all(&removing).unwrap();
    std::fs::rename(&dir, removing.join(&id)).unwrap();
    assert_eq!(bb.env.berth(&["ps", "-a", "-q"]).ok().stdout, "");
    assert!(
        made.iter().all(|d| !d.exists()),
        "cgroup left: {:?}",
        cgroup_dirs_of(&bb.env, &id[..12])
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_killed_supervisor_leaves_an_exited_container_and_no_cgroup() {
    let bb = Busybox::pulled();
    let id = bb
        .env
        .berth(&["run", "-d", "--name", "orphan", &bb.image, "sleep", "300"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            bb.env
                .root()
                .join("containers")
                .join(&id)
                .join("container.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let supervisor = record["owner"][0].as_i64().unwrap() as i32;
    // SAFETY: kill with the supervisor's pid.
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    until("berth to see the container as exited", || {
        bb.env.berth(&["ps", "-q"]).stdout.trim().is_empty()
    });
    assert!(
        bb.env
            .berth(&["ps", "-a"])
            .ok()
            .stdout
            .contains("Exited (137)")
    );
    assert!(
        cgroup_dirs_of(&bb.env, &id[..12]).is_empty(),
        "cgroup left: {:?}",
        cgroup_dirs_of(&bb.env, &id[..12])
    );
    // It can be started again.
    bb.env.berth(&["start", "orphan"]).ok();
    until("it to run again", || {
        bb.env.berth(&["ps", "-q"]).stdout.trim() == &id[..12]
    });
    bb.env.berth(&["rm", "-f", "orphan"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn fifty_containers_in_parallel_are_listed_and_removed() {
    let bb = Busybox::pulled();
    let names: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            bb.env
                .command()
                .args(["run", "-d", "--name", name, &bb.image, "sleep", "300"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let listed = bb.env.berth(&["ps", "--format", "json"]).ok().stdout;
    let mut seen: Vec<String> = listed
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Names"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    seen.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(seen, expected);
    // Two commands on the same containers at once: the records stay whole.
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    let racing = bb
        .env
        .command()
        .args(["stop", "-t", "0", "c0", "c1", "c2"])
        .output()
        .unwrap();
    let removed = bb.env.berth(&args);
    assert!(racing.status.code().is_some());
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert_eq!(bb.env.berth(&["ps", "-a", "-q"]).ok().stdout.trim(), "");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn exec_joins_the_container_as_its_own_processes() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "box",
            "-e",
            "FOO=bar",
            "--cap-drop",
            "chown",
            &bb.image,
            "sleep",
            "300",
        ])
        .ok();
    let hostname = inspect(&bb, "box")["Config"]["Hostname"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = bb
        .env
        .berth(&["exec", "box", "sh", "-c", "echo $$; hostname; echo $FOO; grep -E '^(CapEff|Seccomp):' /proc/self/status; ps -o pid,comm | grep -c sleep; [ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] && echo same-cgroup"])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_ne!(lines[0], "1");
    assert!(
        lines[0].parse::<u32>().unwrap() < 10,
        "a pid of the container's namespace: {}",
        lines[0]
    );
    assert_eq!(lines[1], hostname);
    assert_eq!(lines[2], "bar");
    assert!(
        lines[3].ends_with("00000000a80425fa"),
        "the container's capabilities: {}",
        lines[3]
    );
    assert!(
        lines[4].ends_with('2'),
        "the container's seccomp filter: {}",
        lines[4]
    );
    assert_eq!(lines[5], "1", "sees the container's processes");
    assert_eq!(lines[6], "same-cgroup");
    let user = bb
        .env
        .berth(&[
            "exec",
            "-u",
            "app",
            "-w",
            "/tmp",
            "-e",
            "FOO=baz",
            "box",
            "sh",
            "-c",
            "echo $(id -u) $(pwd) $FOO",
        ])
        .ok();
    assert_eq!(user.stdout.trim(), "1000 /tmp baz");
    assert_eq!(bb.env.berth(&["exec", "box", "sh", "-c", "exit 9"]).code, 9);
    bb.env
        .berth(&["exec", "box", "no-such"])
        .fails(127, "executable file not found");
    bb.env
        .berth(&["exec", "-u", "ghost", "box", "true"])
        .fails(1, "unable to find user ghost");

    let mut cmd = bb.env.command();
    cmd.args(["exec", "-it", "box", "sh"]);
    let (text, code) = common::run_on_pty(cmd, b"echo inside-$((40+2)); exit 4\n", 24, 80);
    assert!(text.contains("inside-42"), "{text}");
    assert_eq!(code, Some(4), "{text}");

    bb.env
        .berth(&["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/mark"])
        .ok();
    until("the detached exec", || {
        bb.env.berth(&["exec", "box", "cat", "/tmp/mark"]).stdout == "detached\n"
    });

    bb.env.berth(&["stop", "-t", "0", "box"]).ok();
    bb.env
        .berth(&["exec", "box", "true"])
        .fails(1, "is not running");
    bb.env.berth(&["rm", "box"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn pause_top_and_stats_read_and_drive_the_cgroup() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "busy",
            "-m",
            "64m",
            &bb.image,
            "sh",
            "-c",
            "while true; do :; done",
        ])
        .ok();
    let top = bb.env.berth(&["top", "busy"]).ok().stdout;
    assert!(
        top.starts_with("UID") && top.contains("sh -c while true"),
        "{top}"
    );
    let busy: f64 = stats_cpu(&bb);
    assert!(busy > 50.0, "a busy loop uses a core: {busy}%");
    let line = bb.env.berth(&["stats", "--no-stream", "busy"]).ok().stdout;
    assert!(line.contains("/ 64.00MiB"), "{line}");
    bb.env.berth(&["pause", "busy"]).ok();
    assert!(bb.env.berth(&["ps"]).ok().stdout.contains("(Paused)"));
    assert_eq!(inspect(&bb, "busy")["State"]["Paused"], true);
    let paused = stats_cpu(&bb);
    assert!(paused < 5.0, "a paused container uses no CPU: {paused}%");
    bb.env.berth(&["pause", "busy"]).fails(1, "already paused");
    bb.env.berth(&["unpause", "busy"]).ok();
    assert!(stats_cpu(&bb) > 50.0);
    // A paused container still stops.
    bb.env.berth(&["pause", "busy"]).ok();
    bb.env.berth(&["rm", "-f", "busy"]).ok();
    bb.env.berth(&["top", "busy"]).fails(1, "No such container");
    assert_nothing_leaked(&bb.env);
}

fn stats_cpu(bb: &Busybox) -> f64 {
    let out = bb.env.berth(&["stats", "--no-stream", "busy"]).ok().stdout;
    let line = out.lines().nth(1).unwrap().to_owned();
    line.split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap()
}

#[test]
fn attach_streams_the_output_until_the_exit() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "talker",
            &bb.image,
            "sh",
            "-c",
            "echo before; sleep 1; echo after; echo oops >&2; exit 5",
        ])
        .ok();
    until("the first line in the log", || {
        bb.env.berth(&["logs", "talker"]).stdout.contains("before")
    });
    let out = bb.env.berth(&["attach", "talker"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stdout.contains("after") && !out.stdout.contains("before"),
        "only what comes after attaching: {}",
        out.stdout
    );
    assert_eq!(out.stderr, "oops\n");
    bb.env
        .berth(&["attach", "talker"])
        .fails(1, "cannot attach to a stopped container");
    bb.env.berth(&["rm", "talker"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn cp_copies_both_ways_running_or_stopped_and_stays_inside() {
    let bb = Busybox::pulled();
    bb.env.berth(&["run", "-d", "--name", "files", &bb.image, "sh", "-c", "mkdir -p /data/sub; echo inside > /data/sub/a; ln -s / /data/root-link; mknod /data/disk b 8 0; ln -s /etc/hostname /escape; sleep 300"]).ok();
    until("the files", || {
        bb.env
            .berth(&["exec", "files", "test", "-L", "/escape"])
            .code
            == 0
    });
    let out = bb.env.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Container -> host: a directory into an existing directory, a file to a new name.
    bb.env
        .berth(&["cp", "files:/data", out.to_str().unwrap()])
        .ok();
    assert_eq!(
        std::fs::read_to_string(out.join("data/sub/a")).unwrap(),
        "inside\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("data/root-link"))
            .unwrap()
            .to_str(),
        Some("/"),
        "symlinks are copied as symlinks"
    );
    assert!(
        std::fs::symlink_metadata(out.join("data/disk")).is_err(),
        "a container's device node was made on the host"
    );
    bb.env
        .berth(&[
            "cp",
            "files:/data/sub/a",
            out.join("renamed").to_str().unwrap(),
        ])
        .ok();
    assert_eq!(
        std::fs::read_to_string(out.join("renamed")).unwrap(),
        "inside\n"
    );
    // Host -> container, into a directory; then through the container's symlink to "/": the
    // write lands inside the container, never on the host.
    let host_file = bb.env.path().join("from-host");
    std::fs::write(&host_file, "hello").unwrap();
    bb.env
        .berth(&["cp", host_file.to_str().unwrap(), "files:/data/sub"])
        .ok();
    assert_eq!(
        bb.env
            .berth(&["exec", "files", "cat", "/data/sub/from-host"])
            .ok()
            .stdout,
        "hello"
    );
    bb.env
        .berth(&[
            "cp",
            host_file.to_str().unwrap(),
            "files:/data/root-link/tmp",
        ])
        .ok();
    assert_eq!(
        bb.env
            .berth(&["exec", "files", "cat", "/tmp/from-host"])
            .ok()
            .stdout,
        "hello"
    );
    assert!(
        !std::path::Path::new("/tmp/from-host").exists(),
        "a container symlink sent a write to the host"
    );
    // A stopped container: its overlay is mounted privately for the copy, on the data
    // root's shared mount point, made again where missing (a root older than it), as is a
    // start's.
    bb.env.berth(&["stop", "-t", "0", "files"]).ok();
    std::fs::remove_dir(bb.env.root().join("rootfs")).unwrap();
    bb.env
        .berth(&[
            "cp",
            "files:/tmp/from-host",
            out.join("after-stop").to_str().unwrap(),
        ])
        .ok();
    assert_eq!(
        std::fs::read_to_string(out.join("after-stop")).unwrap(),
        "hello"
    );
    bb.env
        .berth(&["cp", host_file.to_str().unwrap(), "files:/stopped-copy"])
        .ok();
    bb.env
        .berth(&["cp", "files:/nope", out.to_str().unwrap()])
        .fails(1, "could not find the file /nope");
    bb.env
        .berth(&["cp", "a", "b"])
        .fails(1, "name one side as CONTAINER:PATH");
    std::fs::remove_dir(bb.env.root().join("rootfs")).unwrap();
    bb.env.berth(&["start", "files"]).ok();
    until("it runs", || {
        bb.env
            .berth(&["exec", "files", "cat", "/stopped-copy"])
            .stdout
            == "hello"
    });
    bb.env.berth(&["rm", "-f", "files"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn after_a_reboot_containers_show_as_exited_and_start_again() {
    let bb = Busybox::pulled();
    let id = bb
        .env
        .berth(&["create", "--name", "survivor", &bb.image, "sleep", "300"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // What a reboot leaves: a record that says running, owned by a process that no longer
    // exists (here a pid with a start time no process has).
    let path = bb
        .env
        .root()
        .join("containers")
        .join(&id)
        .join("container.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["status"] = "running".into();
    record["owner"] = serde_json::json!([1, 1]);
    std::fs::write(&path, record.to_string()).unwrap();
    let ps = bb.env.berth(&["ps", "-a"]).ok().stdout;
    assert!(ps.contains("Exited (137)"), "{ps}");
    bb.env.berth(&["start", "survivor"]).ok();
    assert_eq!(inspect(&bb, "survivor")["State"]["Running"], true);
    bb.env.berth(&["rm", "-f", "survivor"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn an_ambiguous_id_prefix_is_refused() {
    let bb = Busybox::pulled();
    let ids: Vec<String> = (0..20)
        .map(|_| {
            bb.env
                .berth(&["create", &bb.image, "true"])
                .ok()
                .stdout
                .trim()
                .to_owned()
        })
        .collect();
    // Among 20 random ids two share their first hex digit.
    let shared = ids
        .iter()
        .find(|a| ids.iter().filter(|b| b[..1] == a[..1]).count() > 1)
        .expect("a shared first digit");
    bb.env
        .berth(&["inspect", &shared[..1]])
        .fails(1, "multiple containers match");
    let mut args = vec!["rm"];
    args.extend(ids.iter().map(String::as_str));
    bb.env.berth(&args).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn stats_streams_until_the_container_stops() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "brief",
            &bb.image,
            "sh",
            "-c",
            "sleep 2.5",
        ])
        .ok();
    let out = bb.env.berth(&["stats", "brief"]).ok();
    let tables = out.stdout.matches("CONTAINER ID").count();
    assert!(
        tables >= 2,
        "a table every second while it runs: {}",
        out.stdout
    );
    assert!(out.stdout.contains("brief"), "{}", out.stdout);
    bb.env.berth(&["rm", "brief"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn stop_ends_a_restart_loop() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "looper",
            "--restart",
            "always",
            &bb.image,
            "sh",
            "-c",
            "sleep 0.2; exit 1",
        ])
        .ok();
    until("a restart", || {
        inspect(&bb, "looper")["RestartCount"].as_u64().unwrap_or(0) >= 1
    });
    bb.env.berth(&["stop", "-t", "1", "looper"]).ok();
    let count = inspect(&bb, "looper")["RestartCount"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let after = inspect(&bb, "looper");
    assert_eq!(after["State"]["Running"], false, "restarted after stop");
    assert_eq!(
        after["RestartCount"].as_u64().unwrap(),
        count,
        "restarted after stop"
    );
    bb.env.berth(&["rm", "looper"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn concurrent_starts_run_the_container_once() {
    let bb = Busybox::pulled();
    let id = bb
        .env
        .berth(&["create", "--name", "once", &bb.image, "sleep", "300"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let starts: Vec<_> = (0..5)
        .map(|_| {
            bb.env
                .command()
                .args(["start", "once"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for start in starts {
        let out = start.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "every start succeeds: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The supervisor becomes the relay (`berth __relay ... ID ...`) once the container runs.
    let supervisors = std::process::Command::new("pgrep")
        .args(["-f", &format!("__(supervise|relay) .*{id}")])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&supervisors.stdout).lines().count(),
        1,
        "one supervisor for the container"
    );
    bb.env.berth(&["rm", "-f", "once"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_detached_terminal_can_be_attached_detached_and_reattached() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["run", "-dit", "--name", "term", &bb.image, "sh"])
        .ok();
    until("the shell", || {
        inspect(&bb, "term")["State"]["Running"] == true
    });
    // Type a command, then the detach keys: the command runs, the container runs on.
    let settle = Duration::from_millis(500);
    let mut cmd = bb.env.command();
    cmd.args(["attach", "term"]);
    let (text, code) = common::run_on_pty_after(
        cmd,
        b"echo typed-$((40+2)) > /tmp/mark\n\x10\x11",
        24,
        80,
        settle,
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("read escape sequence"), "{text}");
    assert_eq!(
        inspect(&bb, "term")["State"]["Running"],
        true,
        "detaching stopped the container"
    );
    until("the typed command", || {
        bb.env.berth(&["exec", "term", "cat", "/tmp/mark"]).stdout == "typed-42\n"
    });
    // Attach again from a terminal of another size: the container's terminal takes it. See
    // output, end the shell: attach ends with its exit code.
    let mut cmd = bb.env.command();
    cmd.args(["attach", "term"]);
    let (text, code) =
        common::run_on_pty_after(cmd, b"stty size; cat /tmp/mark; exit 7\n", 33, 111, settle);
    assert!(text.contains("33 111"), "{text}");
    assert!(text.contains("typed-42"), "{text}");
    assert_eq!(code, Some(7), "{text}");
    assert!(
        bb.env
            .berth(&["logs", "term"])
            .ok()
            .stdout
            .contains("typed-42"),
        "the terminal's output is logged"
    );
    bb.env.berth(&["rm", "term"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_detached_container_with_open_stdin_reads_what_attach_sends() {
    let bb = Busybox::pulled();
    let script = "read line; echo \"got $line\"; echo \"err $line\" >&2; exit 3";
    bb.env
        .berth(&[
            "run", "-d", "-i", "--name", "reader", &bb.image, "sh", "-c", script,
        ])
        .ok();
    until("the reader", || {
        inspect(&bb, "reader")["State"]["Running"] == true
    });
    assert_eq!(inspect(&bb, "reader")["Config"]["OpenStdin"], true);
    // Its stdin stays open while nobody is attached: it still waits for its line.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(inspect(&bb, "reader")["State"]["Running"], true);
    let mut attach = bb.env.command();
    attach
        .args(["attach", "reader"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = attach.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    // Its stdout and stderr arrive apart, and attach ends with its code.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err hello\n");
    assert_eq!(out.status.code(), Some(3));
    let logs = bb.env.berth(&["logs", "reader"]).ok();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("got hello\n", "err hello\n")
    );
    bb.env.berth(&["rm", "reader"]).ok();
    assert_nothing_leaked(&bb.env);
}
