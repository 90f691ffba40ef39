//! `rename`, `update`, `container prune`, `network prune`, `system df`, `system prune` and the
//! `container ...` aliases, driven as a user drives them, with Docker's outputs and codes.

mod common;

use common::{Busybox, Run, assert_nothing_leaked, cgroup_hierarchies};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn inspect(bb: &Busybox, name: &str) -> serde_json::Value {
    common::inspect(&bb.env, &["inspect", name])
}

fn id_of(bb: &Busybox, name: &str) -> String {
    inspect(bb, name)["Id"].as_str().unwrap().to_owned()
}

/// The file `file` of container `id`'s cgroup in the hierarchy `controller` (v1).
fn cgroup_file(bb: &Busybox, controller: &str, id: &str, file: &str) -> String {
    let path: PathBuf = cgroup_hierarchies()
        .into_iter()
        .find(|h| h.ends_with(controller))
        .expect("a v1 hierarchy")
        .join(&bb.env.table)
        .join(id)
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// berth `args` with `input` on its stdin.
fn with_input(bb: &Busybox, args: &[&str], input: &str) -> Run {
    let mut child = bb
        .env
        .command()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Run::from(child.wait_with_output().unwrap())
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The names `ps -a` lists.
fn names(bb: &Busybox) -> Vec<String> {
    let out = bb.env.berth(&["ps", "-a", "--format", "json"]).ok();
    let mut names: Vec<String> = out
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Names"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn rename_renames_running_and_stopped_containers_and_frees_the_old_name() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["run", "-d", "--name", "web", &bb.image, "sleep", "60"])
        .ok();
    bb.env
        .berth(&["create", "--name", "idle", &bb.image, "true"])
        .ok();
    let out = bb.env.berth(&["rename", "web", "web2"]).ok();
    assert_eq!(out.stdout, "");
    bb.env
        .berth(&["container", "rename", "idle", "/idle2"])
        .ok();
    assert_eq!(names(&bb), ["idle2", "web2"]);
    assert_eq!(inspect(&bb, "web2")["Name"], "/web2");
    assert_eq!(inspect(&bb, "web2")["State"]["Running"], true);
    assert_eq!(inspect(&bb, "idle2")["Name"], "/idle2");
    // The old names are free, the new ones taken.
    bb.env
        .berth(&["create", "--name", "web", &bb.image, "true"])
        .ok();
    let idle2 = id_of(&bb, "idle2");
    bb.env.berth(&["rename", "web", "idle2"]).fails(
        1,
        &format!("Conflict. The container name \"/idle2\" is already in use by container \"{idle2}\". You have to remove (or rename) that container to be able to reuse that name."),
    );
    bb.env.berth(&["rename", "web2", "web2"]).fails(
        1,
        "Renaming a container with the same name as its current name",
    );
    bb.env.berth(&["rename", "web2", "a/b"]).fails(
        1,
        "Invalid container name (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    );
    bb.env
        .berth(&["rename", "nope", "x"])
        .fails(1, "No such container: nope");
    // The renamed container still stops and goes by its new name.
    bb.env.berth(&["rm", "-f", "web2", "idle2", "web"]).ok();
    assert!(names(&bb).is_empty());
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_renamed_container_is_found_by_its_new_name_on_a_user_network() {
    let bb = Busybox::pulled();
    bb.env.berth(&["network", "create", "talk"]).ok();
    for name in ["a", "b"] {
        bb.env
            .berth(&[
                "run",
                "-d",
                "--network",
                "talk",
                "--name",
                name,
                &bb.image,
                "sleep",
                "60",
            ])
            .ok();
    }
    bb.env.berth(&["rename", "a", "renamed"]).ok();
    let hosts = bb
        .env
        .berth(&["exec", "b", "cat", "/etc/hosts"])
        .ok()
        .stdout;
    let ip = common::ip_of(&bb.env, "renamed");
    assert!(hosts.contains(&format!("{ip}\trenamed\n")), "{hosts}");
    assert!(!hosts.contains("\ta\n"), "{hosts}");
    bb.env
        .berth(&["exec", "b", "ping", "-c", "1", "-W", "2", "renamed"])
        .ok();
    bb.env.berth(&["rm", "-f", "renamed", "b"]).ok();
    bb.env.berth(&["network", "rm", "talk"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn update_changes_a_running_containers_cgroup_and_a_restart_keeps_it() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "u",
            "-m",
            "64m",
            "--pids-limit",
            "100",
            &bb.image,
            "sleep",
            "60",
        ])
        .ok();
    let id = id_of(&bb, "u");
    assert_eq!(
        cgroup_file(&bb, "memory", &id, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    let out = bb
        .env
        .berth(&[
            "update",
            "-m",
            "32m",
            "--memory-swap",
            "32m",
            "--pids-limit",
            "20",
            "u",
        ])
        .ok();
    assert_eq!(out.stdout, "u\n");
    assert_eq!(
        cgroup_file(&bb, "memory", &id, "memory.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(
        cgroup_file(&bb, "memory", &id, "memory.memsw.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(cgroup_file(&bb, "pids", &id, "pids.max"), "20");
    let host_config = &inspect(&bb, "u")["HostConfig"];
    assert_eq!(host_config["Memory"], 32 << 20);
    assert_eq!(host_config["MemorySwap"], 32 << 20);
    assert_eq!(host_config["PidsLimit"], 20);
    // A memory hog in the container dies at the new limit.
    let hog = bb.env.berth(&["exec", "u", "tail", "/dev/zero"]);
    assert_eq!(hog.code, 137, "{}", hog.stderr);
    // ...at the new limit, not the old one: the peak of the container's memory is below it.
    let peak: u64 = cgroup_file(&bb, "memory", &id, "memory.max_usage_in_bytes")
        .parse()
        .unwrap();
    assert!((24 << 20..=32 << 20).contains(&peak), "peak {peak}");
    assert_eq!(inspect(&bb, "u")["State"]["Running"], true);
    // Raised past the swap limit it had: both change, in the order the kernel takes.
    bb.env
        .berth(&[
            "container",
            "update",
            "-m",
            "256m",
            "--memory-swap",
            "512m",
            "--cpu-shares",
            "512",
            "u",
        ])
        .ok();
    assert_eq!(
        cgroup_file(&bb, "memory", &id, "memory.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    assert_eq!(
        cgroup_file(&bb, "memory", &id, "memory.memsw.limit_in_bytes"),
        (512u64 << 20).to_string()
    );
    assert_eq!(cgroup_file(&bb, "cpu", &id, "cpu.shares"), "512");
    // A restart makes the cgroup again, with the new limits.
    bb.env.berth(&["restart", "-t", "0", "u"]).ok();
    assert_eq!(inspect(&bb, "u")["State"]["Running"], true);
    assert_eq!(
        cgroup_file(&bb, "memory", &id, "memory.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    assert_eq!(cgroup_file(&bb, "pids", &id, "pids.max"), "20");
    bb.env.berth(&["rm", "-f", "u"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn update_refuses_what_docker_refuses() {
    let bb = Busybox::pulled();
    // 30 MB in a tmpfs: memory the kernel cannot reclaim without swap.
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "full",
            "-m",
            "64m",
            &bb.image,
            "sh",
            "-c",
            "head -c 30000000 /dev/zero > /dev/shm/fill && echo filled && sleep 60",
        ])
        .ok();
    until("the fill", || {
        bb.env.berth(&["logs", "full"]).stdout.contains("filled")
    });
    let id = id_of(&bb, "full");
    let out = bb
        .env
        .berth(&["update", "-m", "10m", "--memory-swap", "10m", "full"]);
    out.fails(
        1,
        &format!(
            "Cannot update container {id}: unable to set memory limit to 10485760 (current usage: "
        ),
    );
    assert_eq!(
        cgroup_file(&bb, "memory", &id, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(inspect(&bb, "full")["HostConfig"]["Memory"], 64 << 20);
    // Above the swap limit already set (twice the memory) without a new one.
    bb.env.berth(&["update", "-m", "200m", "full"]).fails(
        1,
        &format!("Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),
    );
    bb.env
        .berth(&["update", "-m", "20m", "--memory-swap", "10m", "full"])
        .fails(
            1,
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        );
    bb.env
        .berth(&["update", "-m", "1m", "full"])
        .fails(1, "Minimum memory limit allowed is 6MB");
    bb.env.berth(&["update", "full"]).fails(
        1,
        "you must provide one or more flags when using this command",
    );
    bb.env
        .berth(&["update", "-m", "lots", "full"])
        .fails(125, "invalid argument \"lots\" for \"-m, --memory\" flag");
    // One container unknown: the others are updated, the exit code is 1.
    let out = bb
        .env
        .berth(&["update", "--pids-limit", "50", "nope", "full"])
        .fails(1, "No such container: nope");
    assert_eq!(out.stdout, "full\n");
    assert_eq!(cgroup_file(&bb, "pids", &id, "pids.max"), "50");
    bb.env.berth(&["rm", "-f", "full"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn update_of_a_stopped_container_changes_its_record_and_its_next_start() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["create", "--name", "s", &bb.image, "sleep", "60"])
        .ok();
    bb.env
        .berth(&[
            "update",
            "--restart",
            "on-failure:3",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "7",
            "--cpuset-cpus",
            "0",
            "s",
        ])
        .ok();
    let host_config = &inspect(&bb, "s")["HostConfig"];
    assert_eq!(host_config["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(host_config["RestartPolicy"]["MaximumRetryCount"], 3);
    assert_eq!(host_config["CpuShares"], 512);
    assert_eq!(host_config["CpusetCpus"], "0");
    assert_eq!(host_config["PidsLimit"], 7);
    bb.env.berth(&["start", "s"]).ok();
    let id = id_of(&bb, "s");
    assert_eq!(cgroup_file(&bb, "pids", &id, "pids.max"), "7");
    assert_eq!(cgroup_file(&bb, "cpu", &id, "cpu.shares"), "512");
    assert_eq!(cgroup_file(&bb, "cpuset", &id, "cpuset.cpus"), "0");
    bb.env.berth(&["update", "--restart", "always", "s"]).ok();
    assert_eq!(
        inspect(&bb, "s")["HostConfig"]["RestartPolicy"]["Name"],
        "always"
    );
    bb.env
        .berth(&["update", "--restart", "sometimes", "s"])
        .fails(125, "invalid restart policy");
    bb.env.berth(&["rm", "-f", "s"]).ok();
    // An --rm container keeps no restart policy.
    bb.env
        .berth(&[
            "run", "-d", "--rm", "--name", "gone", &bb.image, "sleep", "60",
        ])
        .ok();
    let gone = id_of(&bb, "gone");
    bb.env.berth(&["update", "--restart", "always", "gone"]).fails(
        1,
        &format!("Cannot update container {gone}: Restart policy cannot be updated because AutoRemove is enabled for the container"),
    );
    bb.env.berth(&["rm", "-f", "gone"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn prunes_remove_stopped_containers_unused_networks_and_images() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["run", "-d", "--name", "up", &bb.image, "sleep", "60"])
        .ok();
    bb.env
        .berth(&[
            "run",
            "--name",
            "done",
            &bb.image,
            "sh",
            "-c",
            "echo 123456789 > /file",
        ])
        .ok();
    bb.env
        .berth(&["create", "--name", "new", &bb.image, "true"])
        .ok();
    let (done, new) = (id_of(&bb, "done"), id_of(&bb, "new"));
    // Not confirmed: nothing goes, exit 1.
    let out = with_input(&bb, &["container", "prune"], "n\n");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(names(&bb), ["done", "new", "up"]);
    // Filters that select nothing.
    let out = bb
        .env
        .berth(&["container", "prune", "-f", "--filter", "until=1h"])
        .ok();
    assert_eq!(out.stdout, "Total reclaimed space: 0B\n");
    bb.env
        .berth(&["container", "prune", "-f", "--filter", "label=app"])
        .ok();
    // A label filter that selects one: only it goes.
    bb.env
        .berth(&[
            "create", "--name", "tagged", "--label", "app=web", &bb.image, "true",
        ])
        .ok();
    let tagged = id_of(&bb, "tagged");
    let out = bb
        .env
        .berth(&["container", "prune", "-f", "--filter", "label=app=web"])
        .ok();
    assert!(
        out.stdout
            .starts_with(&format!("Deleted Containers:\n{tagged}\n")),
        "{}",
        out.stdout
    );
    bb.env
        .berth(&["container", "prune", "-f", "--filter", "color=red"])
        .fails(1, "invalid filter 'color'");
    assert_eq!(names(&bb), ["done", "new", "up"]);
    let out = with_input(&bb, &["container", "prune"], "y\n").ok();
    let mut ids = [done, new];
    ids.sort();
    let expected = format!(
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] Deleted Containers:\n{}\n{}\n\nTotal reclaimed space: ",
        ids[0], ids[1]
    );
    assert!(out.stdout.starts_with(&expected), "{}", out.stdout);
    // `done` wrote 10 bytes.
    assert!(!out.stdout.ends_with(" 0B\n"), "{}", out.stdout);
    assert_eq!(names(&bb), ["up"]);

    // Networks: the unused one goes, the used one and the default stay.
    bb.env.berth(&["network", "create", "idle-net"]).ok();
    bb.env.berth(&["network", "create", "busy-net"]).ok();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "on-net",
            "--network",
            "busy-net",
            &bb.image,
            "sleep",
            "60",
        ])
        .ok();
    let out = with_input(&bb, &["network", "prune"], "\n");
    assert_eq!(out.code, 1);
    let out = bb.env.berth(&["network", "prune", "-f"]).ok();
    assert_eq!(out.stdout, "Deleted Networks:\nidle-net\n\n");
    let listed = bb.env.berth(&["network", "ls"]).ok().stdout;
    assert!(
        listed.contains("busy-net") && listed.contains("bridge"),
        "{listed}"
    );
    assert!(!listed.contains("idle-net"), "{listed}");

    // System: stopped containers and unused networks; images only when dangling, or with -a.
    bb.env.berth(&["stop", "-t", "0", "on-net"]).ok();
    let on_net = id_of(&bb, "on-net");
    let out = bb.env.berth(&["system", "prune", "-f"]).ok();
    assert_eq!(
        out.stdout,
        format!(
            "Deleted Containers:\n{on_net}\n\nDeleted Networks:\nbusy-net\n\nTotal reclaimed space: 0B\n"
        )
    );
    assert_eq!(names(&bb), ["up"]);
    // The image is used: -a keeps it.
    let out = bb.env.berth(&["system", "prune", "-a", "-f"]).ok();
    assert_eq!(out.stdout, "Total reclaimed space: 0B\n");
    bb.env.berth(&["rm", "-f", "up"]).ok();
    // An anonymous volume left by a removed container, and a named one: --volumes takes only
    // the anonymous one, as Docker's does.
    bb.env
        .berth(&["run", "--name", "anon", "-v", "/data", &bb.image, "true"])
        .ok();
    bb.env.berth(&["rm", "anon"]).ok();
    let anonymous = bb.env.berth(&["volume", "ls", "-q"]).ok().stdout;
    assert_eq!(anonymous.trim().len(), 64, "{anonymous}");
    bb.env.berth(&["volume", "create", "kept"]).ok();
    let image_id = bb.env.berth(&["images", "-q", "--no-trunc"]).ok().stdout;
    let out = with_input(&bb, &["system", "prune", "-a", "--volumes"], "y\n").ok();
    let familiar = bb.image.clone();
    assert!(
        out.stdout.starts_with("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n\nAre you sure you want to continue? [y/N] "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("Deleted Volumes:\n{}\n\n", anonymous.trim())),
        "{}",
        out.stdout
    );
    assert_eq!(bb.env.berth(&["volume", "ls", "-q"]).ok().stdout, "kept\n");
    bb.env.berth(&["volume", "rm", "kept"]).ok();
    assert!(
        out.stdout.contains(&format!(
            "Deleted Images:\nuntagged: {familiar}\ndeleted: {}\n\nTotal reclaimed space: ",
            image_id.trim()
        )),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.ends_with(" 0B\n"), "{}", out.stdout);
    assert_eq!(bb.env.berth(&["images", "-q"]).ok().stdout, "");
    assert_nothing_leaked(&bb.env);
}

/// The cells of the row of `df` whose first cell is `kind`.
fn df_row(df: &str, kind: &str) -> Vec<String> {
    let line = df
        .lines()
        .find(|l| l.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} in\n{df}"));
    line[kind.len()..]
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Bytes of a size as Docker prints it (`4.26MB`).
fn bytes(size: &str) -> f64 {
    let split = size.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (number, unit) = size.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unit {other}"),
    };
    number.parse::<f64>().unwrap() * scale
}

#[test]
fn system_df_counts_what_images_containers_and_volumes_take() {
    let bb = Busybox::pulled();
    let df = bb.env.berth(&["system", "df"]).ok().stdout;
    let image = df_row(&df, "Images");
    assert_eq!(&image[..2], ["1", "0"], "{df}");
    let listed: serde_json::Value = serde_json::from_str(
        bb.env
            .berth(&["images", "--format", "json"])
            .ok()
            .stdout
            .trim(),
    )
    .unwrap();
    let listed = bytes(listed["Size"].as_str().unwrap());
    assert!(
        (bytes(&image[2]) - listed).abs() <= listed * 0.005,
        "{df} vs {listed}"
    );
    assert!(image[3].ends_with("(100%)"), "{df}");
    assert_eq!(df_row(&df, "Containers"), ["0", "0", "0B", "0B"]);
    assert_eq!(df_row(&df, "Local Volumes"), ["0", "0", "0B", "0B"]);
    assert_eq!(df_row(&df, "Build Cache"), ["0", "0", "0B", "0B"]);
    assert!(
        df.starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n"),
        "{df}"
    );

    bb.env
        .berth(&["run", "-d", "--name", "up", &bb.image, "sleep", "60"])
        .ok();
    bb.env
        .berth(&[
            "run",
            "--name",
            "wrote",
            &bb.image,
            "sh",
            "-c",
            "head -c 1500 /dev/zero > /data",
        ])
        .ok();
    bb.env.berth(&["volume", "create", "v1"]).ok();
    let volume = bb.env.root().join("volumes/v1/_data");
    std::fs::write(volume.join("f"), [1u8; 5]).unwrap();
    let df = bb.env.berth(&["system", "df"]).ok().stdout;
    let image = df_row(&df, "Images");
    assert_eq!(&image[..2], ["1", "1"], "{df}");
    // The image is in use: nothing of it is reclaimable.
    assert_eq!(image[3], "0B (0%)", "{df}");
    assert_eq!(
        df_row(&df, "Containers"),
        ["2", "1", "1.5kB", "1.5kB (100%)"],
        "{df}"
    );
    assert_eq!(
        df_row(&df, "Local Volumes"),
        ["1", "0", "5B", "5B (100%)"],
        "{df}"
    );

    let verbose = bb.env.berth(&["system", "df", "-v"]).ok().stdout;
    assert!(
        verbose.starts_with("Images space usage:\n\nREPOSITORY"),
        "{verbose}"
    );
    let wrote = verbose
        .lines()
        .find(|l| l.ends_with("wrote"))
        .unwrap_or_else(|| panic!("{verbose}"));
    assert!(
        wrote.contains("\"sh -c head -c 1500 …\"") && wrote.contains("1.5kB"),
        "{wrote}"
    );
    assert!(verbose.contains("\nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\nv1            0         5B\n"), "{verbose}");
    assert!(verbose.contains("\nBuild cache usage: 0B\n"), "{verbose}");
    bb.env.berth(&["rm", "-f", "up", "wrote"]).ok();
    bb.env.berth(&["volume", "rm", "v1"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn the_container_group_names_the_same_commands() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "container",
            "run",
            "-d",
            "--name",
            "c",
            &bb.image,
            "sleep",
            "60",
        ])
        .ok();
    let ps = bb.env.berth(&["ps"]).ok().stdout;
    for alias in ["ls", "ps", "list"] {
        let listed = bb.env.berth(&["container", alias]).ok().stdout;
        assert_eq!(listed.lines().count(), 2, "{listed}");
        assert_eq!(
            listed.lines().nth(1).map(|l| &l[..12]),
            ps.lines().nth(1).map(|l| &l[..12])
        );
    }
    let out = bb.env.berth(&["container", "inspect", "c"]).ok();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json[0]["Name"], "/c");
    // Containers only: an image's name is no container.
    bb.env
        .berth(&["container", "inspect", &bb.image])
        .fails(1, &format!("Error: No such container: {}", bb.image));
    assert_eq!(
        bb.env
            .berth(&["container", "exec", "c", "echo", "hi"])
            .ok()
            .stdout,
        "hi\n"
    );
    bb.env.berth(&["container", "stop", "-t", "0", "c"]).ok();
    bb.env.berth(&["container", "remove", "c"]).ok();
    assert!(
        bb.env
            .berth(&["system", "info"])
            .ok()
            .stdout
            .contains("Containers")
    );
    assert_nothing_leaked(&bb.env);
}
