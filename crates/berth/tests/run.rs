//! `berth run` end to end, as root: each point checked from inside the container, as a user
//! would, and after each test nothing of the container left on the host.

mod common;

use common::{Busybox, Run, assert_nothing_leaked, cgroup_dirs_of, walk};
use std::path::Path;

/// Docker's default capability mask.
const DOCKER_CAPS: &str = "00000000a80425fb";

fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_owned()
}

#[test]
fn the_command_is_pid_1_and_sees_no_host_pids_mounts_or_interfaces() {
    let bb = Busybox::pulled();
    let out = bb
        .sh(&[], "echo pid=$$; echo host=$(hostname); ls /proc | grep -c '^[0-9]'; cut -d' ' -f5 /proc/mounts | sort | tr '\\n' ' '; echo; ls /sys/class/net")
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "pid=1");
    let hostname = lines[1].strip_prefix("host=").unwrap();
    assert_eq!(hostname.len(), 12, "hostname is the short id: {hostname}");
    assert!(
        lines[2].parse::<u32>().unwrap() <= 4,
        "processes visible: {}",
        lines[2]
    );
    for host_mount in ["/work", "/boot", "/sys/fs/cgroup/unified"] {
        assert!(
            !lines[3].split(' ').any(|m| m == host_mount),
            "host mount {host_mount} visible: {}",
            lines[3]
        );
    }
    // Its own eth0 on the bridge network and lo: none of the host's interfaces.
    let interfaces: Vec<&str> = lines[4..].iter().map(|l| l.trim()).collect();
    assert_eq!(interfaces, ["eth0", "lo"], "interfaces: {interfaces:?}");
    assert!(
        cgroup_dirs_of(&bb.env, hostname).is_empty(),
        "cgroup left: {:?}",
        cgroup_dirs_of(&bb.env, hostname)
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn proc_sys_and_sys_are_read_only_and_mount_and_unshare_fail() {
    let bb = Busybox::pulled();
    let out = bb
        .sh(
            &[],
            "echo x > /proc/sys/kernel/domainname && echo procsys-writable; \
             touch /sys/berth 2>/dev/null && echo sys-writable; \
             touch /sys/fs/cgroup/berth 2>/dev/null && echo cgroupfs-writable; \
             mount -t tmpfs none /tmp 2>/dev/null && echo mounted; \
             unshare -n true 2>/dev/null && echo unshared; \
             cat /proc/kcore 2>/dev/null | head -c1 | grep -q . && echo kcore-readable; \
             echo done",
        )
        .ok();
    assert_eq!(out.stdout.trim(), "done", "{}", out.stdout);
    assert_nothing_leaked(&bb.env);
}

#[test]
fn capabilities_match_docker_and_follow_cap_add_and_drop() {
    let bb = Busybox::pulled();
    let status = bb.sh(&[], "cat /proc/self/status").ok().stdout;
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status_field(&status, set), DOCKER_CAPS, "{set}");
    }
    assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
    assert_eq!(
        status_field(&status, "Seccomp"),
        "2",
        "Docker's default seccomp filter"
    );
    assert_eq!(status_field(&status, "NoNewPrivs"), "0");

    let dropped = bb
        .sh(
            &["--cap-drop", "chown"],
            "grep CapEff /proc/self/status; chown 1000 /tmp 2>/dev/null && echo chowned; true",
        )
        .ok()
        .stdout;
    assert!(
        dropped.contains("00000000a80425fa") && !dropped.contains("chowned"),
        "{dropped}"
    );
    let added = bb
        .sh(
            &["--cap-add", "SYS_ADMIN"],
            "mount -t tmpfs none /tmp && echo mounted",
        )
        .ok()
        .stdout;
    assert!(added.contains("mounted"), "{added}");
    let nnp = bb
        .sh(
            &["--security-opt", "no-new-privileges"],
            "grep NoNewPrivs /proc/self/status",
        )
        .ok()
        .stdout;
    assert!(nnp.contains('1'), "{nnp}");
    let unconfined = bb
        .sh(
            &["--security-opt", "seccomp=unconfined"],
            "grep Seccomp: /proc/self/status",
        )
        .ok()
        .stdout;
    assert!(unconfined.contains('0'), "{unconfined}");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn privileged_gets_every_capability_the_host_has() {
    let bb = Busybox::pulled();
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let inside = bb
        .sh(
            &["--privileged"],
            "cat /proc/self/status; mount -t tmpfs none /tmp && echo mounted",
        )
        .ok()
        .stdout;
    assert_eq!(
        status_field(&inside, "CapEff"),
        status_field(&host, "CapBnd")
    );
    assert_eq!(status_field(&inside, "Seccomp"), "0");
    assert!(inside.contains("mounted"));
    assert_nothing_leaked(&bb.env);
}

#[test]
fn pids_limit_stops_forks() {
    let bb = Busybox::pulled();
    let limit = bb
        .sh(
            &["--pids-limit", "10"],
            "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
        )
        .ok();
    assert_eq!(limit.stdout.trim(), "10");
    let out = bb.sh(
        &["--pids-limit", "10"],
        "for i in $(seq 30); do sleep 2 & done; echo all-forked",
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("can't fork") && !out.stdout.contains("all-forked"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_memory_hog_is_oom_killed_with_137() {
    let bb = Busybox::pulled();
    // Not --rm: the record keeps OOMKilled.
    let out = bb.env.berth(&[
        "run",
        "-m",
        "32m",
        "--name",
        "hog",
        &bb.image,
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(out.code, 137, "{}", out.stderr);
    let dirs: Vec<_> = std::fs::read_dir(bb.env.root().join("containers"))
        .unwrap()
        .flatten()
        .collect();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dirs[0].path().join("container.json")).unwrap())
            .unwrap();
    assert_eq!(record["oom_killed"], true);
    assert_eq!(record["exit_code"], 137);
    assert_eq!(record["status"], "exited");
    assert_eq!(record["stop_signal"], "SIGTERM");
    std::fs::remove_dir_all(dirs[0].path()).unwrap();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_containers_layer_holds_only_what_it_writes() {
    // The test image has no /etc/hosts, /etc/hostname nor /etc/resolv.conf: berth mounts its
    // own there, on placeholders of the image's init layer, not on files made in the
    // container's writable layer.
    let bb = Busybox::pulled();
    for name in ["first", "second"] {
        let out = bb
            .env
            .berth(&[
                "run",
                "--name",
                name,
                "--network",
                "none",
                &bb.image,
                "sh",
                "-c",
                "cat /etc/hostname; grep -c localhost /etc/hosts; head -1 /etc/passwd; echo x > /written",
            ])
            .ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines[0].len(), 12, "{}", out.stdout);
        assert_eq!(lines[1], "2");
        assert_eq!(lines[2], "root:x:0:0:root:/root:/bin/sh");
    }
    for entry in std::fs::read_dir(bb.env.root().join("containers")).unwrap() {
        let upper = entry.unwrap().path().join("upper");
        let written: Vec<String> = walk(&upper)
            .iter()
            .map(|p| p.strip_prefix(&upper).unwrap().display().to_string())
            .collect();
        assert_eq!(written, ["written"], "{}", upper.display());
    }
    // Both share one init layer, which goes with the image.
    let inits: Vec<_> = std::fs::read_dir(bb.env.root().join("layers"))
        .unwrap()
        .flatten()
        .filter(|l| l.path().join("init/etc/hosts").is_file())
        .collect();
    assert_eq!(inits.len(), 1);
    bb.env.berth(&["rm", "first", "second"]).ok();
    bb.env.berth(&["rmi", &bb.image]).ok();
    assert!(!inits[0].path().exists());
    assert_nothing_leaked(&bb.env);
}

#[test]
fn an_rm_containers_layer_is_volatile_and_a_kept_ones_is_not() {
    // The root's mount options, as the container sees them in its mountinfo.
    let root_options = "awk '$5 == \"/\" { print $NF }' /proc/self/mountinfo";
    let bb = Busybox::pulled();
    let removed = bb.sh(&["--network", "none"], root_options).ok();
    assert!(removed.stdout.contains("volatile"), "{}", removed.stdout);
    let kept = bb
        .env
        .berth(&[
            "run",
            "--name",
            "kept",
            "--network",
            "none",
            &bb.image,
            "sh",
            "-c",
            root_options,
        ])
        .ok();
    assert!(!kept.stdout.contains("volatile"), "{}", kept.stdout);
    bb.env.berth(&["rm", "kept"]).ok();
    // A volatile layer mounts only once: a copy into a created `--rm` container mounts its
    // layer without, so that its start still can.
    bb.env
        .berth(&[
            "create",
            "--rm",
            "--name",
            "later",
            "--network",
            "none",
            &bb.image,
            "cat",
            "/copied",
        ])
        .ok();
    let file = bb.env.path().join("copied");
    std::fs::write(&file, "copied in\n").unwrap();
    bb.env
        .berth(&["cp", file.to_str().unwrap(), "later:/copied"])
        .ok();
    let started = bb.env.berth(&["start", "-a", "later"]).ok();
    assert_eq!(started.stdout, "copied in\n");
    bb.env.berth(&["rm", "later"]).fails(1, "No such container");
    assert_nothing_leaked(&bb.env);
}

/// Makes this hybrid host's cgroup2 the whole of /sys/fs/cgroup, in the mount namespace of the
/// script that follows: berth there sees a pure cgroup v2 host.
const AS_V2_HOST: &str = "if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then \
     mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup; fi\n";

/// Reports, on a cgroup v2 host, what a container gets: berth's view of the host, whether its
/// process was born in its cgroup; for a detached one its
/// cgroup and the processes in it, what its device filter lets through (a block device of the
/// host's, `$DEVICE`: only a privileged container may open it, whatever its capabilities);
/// then whether its cgroup went with it and how a memory limit is answered.
const CGROUP_V2_CHECKS: &str = r#"
berth info | grep 'Cgroup Version'
BERTH_LOG=debug NO_COLOR=1 berth run --rm --network none "$IMAGE" true 2>&1 | grep -o 'born_in_cgroup=[a-z]*'
id=$(berth run -d --name v2 --network none "$IMAGE" sleep 30)
[ -d "/sys/fs/cgroup/$PARENT/$id" ] && echo "cgroup procs=$(wc -l < "/sys/fs/cgroup/$PARENT/$id/cgroup.procs")"
dev="mknod /tmp/dev b $DEVICE && (exec 3< /tmp/dev) 2>/dev/null && echo dev=opened || echo dev=denied"
berth exec v2 sh -c "$dev"
berth run --rm --cap-add ALL --network none "$IMAGE" sh -c "$dev" | sed s/dev=/all-caps-dev=/
berth run --rm --privileged --network none "$IMAGE" sh -c "$dev" | sed s/dev=/privileged-dev=/
berth exec v2 sh -c 'echo zero=$(head -c 4 /dev/zero | wc -c)'
berth rm -f v2 >/dev/null
[ -e "/sys/fs/cgroup/$PARENT/$id" ] && echo "left=$id"
berth run --rm -m 64m --network none "$IMAGE" true 2>&1 && echo memory=set || echo "memory=refused $?"
"#;

#[test]
fn on_cgroup_v2_a_container_gets_a_cgroup_a_device_filter_and_clear_refusals() {
    let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    if !hybrid && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: no cgroup2 on this host");
        return;
    }
    let bb = Busybox::pulled();
    let berth = bb.env.command();
    let bin = berth.get_program().to_owned();
    let dir = bin.to_string_lossy().rsplit_once('/').unwrap().0.to_owned();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-euc"])
        .arg(format!("{AS_V2_HOST}{CGROUP_V2_CHECKS}"))
        .env("PATH", format!("{dir}:/usr/sbin:/usr/bin:/sbin:/bin"))
        .env("IMAGE", &bb.image)
        .env("DEVICE", a_block_device())
        .env("PARENT", &bb.env.table)
        .stdin(std::process::Stdio::null());
    for (key, value) in berth.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0].trim(), "Cgroup Version: v2", "{stdout}");
    // Born in its cgroup (clone3's CLONE_INTO_CGROUP), not moved there after the clone.
    assert_eq!(lines[1], "born_in_cgroup=true", "{stdout}");
    assert!(lines.contains(&"cgroup procs=1"), "{stdout}");
    assert!(lines.contains(&"dev=denied"), "{stdout}");
    assert!(lines.contains(&"all-caps-dev=denied"), "{stdout}");
    assert!(lines.contains(&"privileged-dev=opened"), "{stdout}");
    assert!(lines.contains(&"zero=4"), "{stdout}");
    assert!(!stdout.contains("left="), "{stdout}");
    // A memory limit where no memory controller is: refused by name, with Docker's 125.
    let v2_root = if hybrid {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    let controllers =
        std::fs::read_to_string(Path::new(v2_root).join("cgroup.controllers")).unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        assert!(
            stdout.contains("a memory limit is not supported on this host (no memory controller)"),
            "{stdout}"
        );
        assert!(stdout.contains("memory=refused 125"), "{stdout}");
    }
    assert_nothing_leaked(&bb.env);
}

/// `major minor` of a block device of this host (the first in /sys/dev/block).
fn a_block_device() -> String {
    std::fs::read_dir("/sys/dev/block")
        .unwrap()
        .flatten()
        .find_map(|e| e.file_name().to_str().map(|n| n.replace(':', " ")))
        .expect("a block device")
}

#[test]
fn a_cpu_burner_under_cpus_0_1_gets_about_a_tenth_of_a_core() {
    let bb = Busybox::pulled();
    // Burn for 3 s of wall time, then compare the cgroup's CPU time with the wall time.
    let script = "read up0 rest < /proc/uptime; end=$(( $(date +%s) + 3 )); while [ $(date +%s) -lt $end ]; do :; done; read up1 rest < /proc/uptime; \
                  if [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then ns=$(cat /sys/fs/cgroup/cpuacct/cpuacct.usage); else ns=$(( $(grep usage_usec /sys/fs/cgroup/cpu.stat | cut -d' ' -f2) * 1000 )); fi; \
                  echo $up0 $up1 $ns";
    let out = bb.sh(&["--cpus", "0.1"], script).ok();
    let fields: Vec<f64> = out
        .stdout
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    let (wall, cpu) = (fields[1] - fields[0], fields[2] / 1e9);
    let share = cpu / wall;
    assert!(
        (0.03..0.25).contains(&share),
        "CPU share {share:.3} ({cpu:.2} s in {wall:.2} s)"
    );
    assert_nothing_leaked(&bb.env);
}

/// The container's process may run on the CPUs berth may (berth starts it on another CPU than
/// its own during the setup, then gives them back), within its `--cpuset-cpus`.
#[test]
fn the_container_runs_on_berths_cpus_within_its_cpuset() {
    let bb = Busybox::pulled();
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let own = status_field(&own, "Cpus_allowed_list");
    let script = "grep Cpus_allowed_list /proc/1/status | cut -f2";
    assert_eq!(bb.sh(&[], script).ok().stdout.trim(), own);
    assert_eq!(
        bb.sh(&["--cpuset-cpus", "0"], script).ok().stdout.trim(),
        "0"
    );
    // berth held to one CPU (its last): so is the container.
    let last = rustix::thread::sched_getaffinity(None)
        .map(|set| {
            (0..rustix::thread::CpuSet::MAX_CPU)
                .rfind(|&c| set.is_set(c))
                .unwrap()
        })
        .unwrap();
    let mut cmd = bb.env.command();
    cmd.args(["run", "--rm", &bb.image, "sh", "-c", script]);
    // SAFETY: between fork and exec the hook only makes one system call.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            let mut one = rustix::thread::CpuSet::new();
            one.set(last);
            rustix::thread::sched_setaffinity(None, &one).map_err(std::io::Error::from)
        })
    };
    let out = Run::from(cmd.output().unwrap()).ok();
    assert_eq!(out.stdout.trim(), last.to_string());
    assert_nothing_leaked(&bb.env);
}

#[test]
fn user_workdir_env_volumes_and_read_only_behave() {
    let bb = Busybox::pulled();
    let ids = bb.sh(&["-u", "app"], "id -u; id -g; id -G").ok().stdout;
    assert_eq!(
        ids.lines().collect::<Vec<_>>(),
        ["1000", "1000", "1000 1001"]
    );
    assert_eq!(
        bb.sh(&["-u", "4242:4343"], "echo $(id -u):$(id -g)")
            .ok()
            .stdout
            .trim(),
        "4242:4343"
    );
    bb.sh(&["-u", "ghost"], "true")
        .fails(125, "unable to find user ghost");

    assert_eq!(
        bb.sh(&["-w", "/made/for/you"], "pwd").ok().stdout.trim(),
        "/made/for/you"
    );
    let env = bb
        .sh(
            &["-e", "GREETING=hello world", "-e", "PATH=/bin"],
            "echo \"$GREETING|$PATH|$HOSTNAME|$HOME\"",
        )
        .ok()
        .stdout;
    let parts: Vec<&str> = env.trim().split('|').collect();
    assert_eq!(&parts[..2], ["hello world", "/bin"]);
    assert_eq!(parts[2].len(), 12);
    assert_eq!(parts[3], "/root");

    let host_dir = bb.env.path().join("shared");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("from-host"), "hi").unwrap();
    let volume = format!("{}:/data", host_dir.display());
    // Field 7 of mountinfo is `-` when a mount has no peers: private, as Docker's rprivate
    // binds are, though this host's / is shared.
    let out = bb
        .sh(
            &["-v", &volume],
            "cat /data/from-host; echo back > /data/from-container; \
             awk '$5 == \"/data\" || $5 == \"/etc/hosts\" { print \"\", $5, $7 }' /proc/self/mountinfo",
        )
        .ok();
    // /data first: the shallower mount goes first, as in Docker.
    assert_eq!(out.stdout, "hi /data -\n /etc/hosts -\n");
    assert_eq!(
        std::fs::read_to_string(host_dir.join("from-container")).unwrap(),
        "back\n"
    );
    let ro = format!("{}:/data:ro", host_dir.display());
    let out = bb
        .sh(
            &["-v", &ro],
            "echo x > /data/nope 2>/dev/null || echo refused",
        )
        .ok();
    assert_eq!(out.stdout.trim(), "refused");
    let mount = format!("type=bind,source={},target=/m,readonly", host_dir.display());
    assert_eq!(
        bb.sh(&["--mount", &mount], "cat /m/from-host").ok().stdout,
        "hi"
    );

    let out = bb
        .sh(
            &["--read-only", "--tmpfs", "/tmp"],
            "touch /etc/x 2>/dev/null || echo root-ro; touch /tmp/x && echo tmp-rw",
        )
        .ok();
    assert_eq!(out.stdout, "root-ro\ntmp-rw\n");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn ulimits_apply_and_limits_above_the_host_are_an_error() {
    let bb = Busybox::pulled();
    assert_eq!(
        bb.sh(&["--ulimit", "nofile=100:200"], "ulimit -n")
            .ok()
            .stdout
            .trim(),
        "100"
    );
    let mut host = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut host) };
    // Raising the hard limit needs CAP_SYS_RESOURCE: where the host lacks it, a clear error.
    let above = format!("nofile={0}:{0}", host.rlim_max + 1000);
    let out = bb.sh(&["--ulimit", &above], "ulimit -n");
    if status_field(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd",
    )
    .ends_with("fb")
    {
        out.fails(125, "cannot set RLIMIT_NOFILE");
    }
    assert_nothing_leaked(&bb.env);
}

#[test]
fn exit_codes_follow_docker() {
    let bb = Busybox::pulled();
    assert_eq!(bb.sh(&[], "exit 42").code, 42);
    bb.env
        .berth(&["run", "--rm", &bb.image, "no-such-command"])
        .fails(127, "executable file not found in $PATH");
    bb.env
        .berth(&["run", "--rm", &bb.image, "/etc/passwd"])
        .fails(126, "permission denied");
    bb.env
        .berth(&["run", "--rm", &bb.image, "/no/such/file"])
        .fails(127, "no such file or directory");
    bb.env
        .berth(&["run", "--rm", "127.0.0.1:1/missing:latest"])
        .fails(125, "cannot reach registry");
    bb.env
        .berth(&["run", "--rm", "-w", "/etc/passwd", &bb.image, "true"])
        .fails(125, "/etc/passwd");
    bb.env
        .berth(&["run", "--rm", "--entrypoint", "", &bb.image])
        .fails(125, "no command specified");
    bb.env
        .berth(&["run", "--rm", "-v", "a/b:/x", &bb.image, "true"])
        .fails(125, "includes invalid characters for a local volume name");
    bb.env
        .berth(&["run", "--rm", "-m", "1m", &bb.image, "true"])
        .fails(125, "minimum memory limit");
    bb.env
        .berth(&["run", "--rm", "--memory-swap", "1g", &bb.image, "true"])
        .fails(125, "memory limit");
    bb.env
        .berth(&["run", "--rm", "--bogus", &bb.image])
        .fails(125, "unexpected argument");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn signals_sent_to_berth_reach_the_container() {
    let bb = Busybox::pulled();
    for (signal, name) in [
        (libc::SIGTERM, "TERM"),
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
        (libc::SIGUSR1, "USR1"),
    ] {
        let script = format!(
            "trap 'echo got-{name}; exit 7' {name}; echo ready; while true; do sleep 0.05; done"
        );
        let mut child = bb
            .env
            .command()
            .args(["run", "--rm", &bb.image, "sh", "-c", &script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        assert_eq!(line, "ready\n");
        // SAFETY: kill with the child's pid and a valid signal.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        assert_eq!(rest, format!("got-{name}\n"));
        assert_eq!(status.code(), Some(7));
    }
    assert_nothing_leaked(&bb.env);
}

#[test]
fn init_reaps_and_forwards_and_hides_the_berth_binary() {
    let bb = Busybox::pulled();
    let out = bb.sh(&["--init"], "echo $$; cat /proc/1/exe > /dev/null 2>&1 && echo exe-readable; echo x >> /proc/1/exe 2>/dev/null && echo exe-writable; true").ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_ne!(lines[0], "1", "the command is not PID 1 under --init");
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert_eq!(bb.sh(&["--init"], "exit 5").code, 5);
    assert_nothing_leaked(&bb.env);
}

#[test]
fn dev_has_dockers_devices_and_no_other_device_opens() {
    let bb = Busybox::pulled();
    let out = bb
        .sh(&[], "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/urandom | wc -c; mknod /tmp/disk b 8 0 && head -c 1 /tmp/disk >/dev/null 2>&1 && echo disk-readable; true")
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    for device in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd",
        "stdin", "stdout", "stderr",
    ] {
        assert!(
            lines[0].split(' ').any(|d| d == device),
            "/dev lacks {device}: {}",
            lines[0]
        );
    }
    assert_eq!(lines[1].trim(), "4");
    assert_eq!(
        lines.len(),
        2,
        "a block device could be read: {}",
        out.stdout
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn only_the_standard_streams_reach_the_container() {
    let bb = Busybox::pulled();
    let mut cmd = bb.env.command();
    cmd.args(["run", "--rm", &bb.image, "ls", "/proc/self/fd"]);
    // Hand berth an extra open descriptor, as a careless parent would.
    let leaked = std::fs::File::open("/etc/hostname").unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&leaked);
    // SAFETY: in the child before exec, dup2 onto fd 7 and clearing its close-on-exec flag are
    // async-signal-safe calls on valid descriptors.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            libc::dup2(raw, 7);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let fds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert!(
        fds.iter()
            .all(|fd| ["0", "1", "2", "3"].contains(&fd.as_str())),
        "descriptors in the container: {fds:?}"
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn kill_9_of_berth_is_reclaimed_by_the_next_command() {
    let bb = Busybox::pulled();
    let (mut child, short_id) =
        bb.env
            .spawn_until_line(&["run", "--rm", &bb.image, "sh", "-c", "hostname; sleep 7732"]);
    assert!(
        !cgroup_dirs_of(&bb.env, &short_id).is_empty(),
        "no cgroup while running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The container dies with berth (PR_SET_PDEATHSIG): its cgroup empties.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline
        && std::process::Command::new("pgrep")
            .args(["-f", "sleep 7732"])
            .status()
            .is_ok_and(|s| s.success())
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The next berth command reclaims the cgroup and the --rm container's directory.
    bb.sh(&[], "true").ok();
    assert!(
        cgroup_dirs_of(&bb.env, &short_id).is_empty(),
        "cgroup not reclaimed: {:?}",
        cgroup_dirs_of(&bb.env, &short_id)
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn interactive_tty_gives_a_working_shell() {
    let bb = Busybox::pulled();
    let mut cmd = bb.env.command();
    cmd.args(["run", "--rm", "-it", &bb.image, "sh"]);
    let (text, code) = common::run_on_pty(
        cmd,
        b"echo answer-$((6*7)); stty size; tty; exit 3\n",
        33,
        111,
    );
    assert!(text.contains("answer-42"), "{text}");
    assert!(text.contains("33 111"), "window size not passed on: {text}");
    assert!(
        text.contains("/dev/console") || text.contains("/dev/pts/"),
        "no terminal: {text}"
    );
    assert_eq!(code, Some(3), "{text}");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn seccomp_profiles_with_argument_conditions_and_several_actions() {
    let bb = Busybox::pulled();
    // chmod to 0777 is refused (EPERM), any other mode is fine; mkdir answers ENOSYS.
    let profile = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["chmod"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":1,"value":511,"op":"SCMP_CMP_EQ"}]},
        {"names":["fchmodat"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":2,"value":511,"op":"SCMP_CMP_EQ"}]},
        {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}"#;
    let path = bb.env.path().join("profile.json");
    std::fs::write(&path, profile).unwrap();
    let opt = format!("seccomp={}", path.display());
    let out = bb
        .sh(&["--security-opt", &opt], "touch /tmp/f; chmod 755 /tmp/f && echo mode-755-ok; chmod 777 /tmp/f 2>&1; mkdir /tmp/d 2>&1; grep Seccomp: /proc/self/status; true")
        .ok();
    assert!(out.stdout.contains("mode-755-ok"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Operation not permitted"),
        "chmod 777 passed: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Function not implemented"),
        "mkdir passed: {}",
        out.stdout
    );
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.stdout);
    let bad = bb.env.path().join("bad.json");
    std::fs::write(&bad, r#"{"defaultAction":"SCMP_ACT_NOPE"}"#).unwrap();
    bb.sh(
        &["--security-opt", &format!("seccomp={}", bad.display())],
        "true",
    )
    .fails(125, "unsupported action");
    assert_nothing_leaked(&bb.env);
}

/// A start that fails, in the child's setup or on berth's side after the clone, leaves
/// nothing: the process killed and reaped, its cgroup removed, its mounts gone.
#[test]
fn a_start_that_fails_at_any_stage_leaves_no_cgroup_or_mount() {
    let bb = Busybox::pulled();
    // After the go-ahead: the command is not there.
    bb.env
        .berth(&["run", "--rm", &bb.image, "no-such-command"])
        .fails(127, "executable file not found");
    bb.env
        .berth(&["run", "-d", &bb.image, "no-such-command"])
        .fails(127, "executable file not found");
    // In the child's setup, in its root: a sysctl that is not there.
    let sysctl = bb.sh(&["--sysctl", "net.ipv4.no_such_sysctl=1"], "true");
    assert_eq!(sysctl.code, 125, "{}", sysctl.stderr);
    // On berth's side, between the clone and the go-ahead: a limit the kernel refuses.
    let cpuset = bb.sh(&["--cpuset-cpus", "4095"], "true");
    assert_eq!(cpuset.code, 125, "{}", cpuset.stderr);
    let left: Vec<_> = cgroup_dirs_of(&bb.env, "")
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
    assert_nothing_leaked(&bb.env);
}

// Docker (runc's user lookup; moby's merge of tmpfs options and order of mounts): `-u
// name:group` runs with that group alone, a uid the image does not know runs in group root,
// `--tmpfs DIR:exec` lifts the default `noexec`, and a mount given before a shallower one
// is not hidden by it.
#[test]
fn explicit_groups_unknown_uids_tmpfs_exec_and_mount_order_follow_docker() {
    let bb = Busybox::pulled();
    assert_eq!(
        bb.sh(&["-u", "app:app"], "id -G").ok().stdout.trim(),
        "1000"
    );
    assert_eq!(
        bb.sh(&["-u", "app"], "id -G").ok().stdout.trim(),
        "1000 1001"
    );
    assert_eq!(
        bb.sh(&["-u", "4242"], "echo $(id -u):$(id -g):$(id -G)")
            .ok()
            .stdout
            .trim(),
        "4242:0:0"
    );
    let out = bb
        .sh(
            &["--tmpfs", "/x:exec", "--tmpfs", "/y"],
            "cp /bin/busybox /x/true && /x/true && echo exec; \
             cp /bin/busybox /y/true && /y/true 2>/dev/null || echo noexec",
        )
        .ok();
    assert_eq!(out.stdout, "exec\nnoexec\n");

    let outer = bb.env.path().join("outer");
    let inner = bb.env.path().join("inner");
    std::fs::create_dir_all(&outer).unwrap();
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(outer.join("o"), "outer ").unwrap();
    std::fs::write(inner.join("i"), "inner").unwrap();
    let inner_at = format!("{}:/data/sub", inner.display());
    let outer_at = format!("{}:/data", outer.display());
    let out = bb
        .sh(
            &["-v", &inner_at, "-v", &outer_at],
            "cat /data/o /data/sub/i",
        )
        .ok();
    assert_eq!(out.stdout, "outer inner");
    assert_nothing_leaked(&bb.env);
}
