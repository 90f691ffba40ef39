//! The spec builder against Docker's documented `docker run` behaviour: each test builds a
//! spec from options and an image config, as `berth run` does, without root.

use super::*;
use crate::options::RunOptions;
use crate::users::{self, UserError};
use oci_spec::runtime::{LinuxNamespace, PosixRlimit};
use serde_json::json;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:1001:app\nwheel:x:10:root,app\n";
const HOST_CAPS: [&str; 4] = [
    "CAP_CHOWN",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_ADMIN",
];

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// An image with every field the spec reads.
fn image() -> Value {
    json!({
        "Env": ["PATH=/image/bin", "SHARED=image", "IMAGE_ONLY=1"],
        "Entrypoint": ["/entry", "-v"],
        "Cmd": ["serve"],
        "WorkingDir": "/srv",
    })
}

/// The spec of `options` for `image`, run as `user` (resolved from the image's files) on
/// `network`, with [`HOST_CAPS`] as the host's capabilities.
fn generate_as(
    options: &RunOptions,
    image: &Value,
    user: &str,
    network: NetworkNs<'_>,
) -> Result<Spec, String> {
    let plan = options.plan()?;
    let user = users::resolve(user, PASSWD, GROUP).map_err(|e| e.to_string())?;
    let host = owned(&HOST_CAPS);
    let ctx = Context {
        id: "0123456789abcdef",
        hostname: "0123456789ab",
        user: &user,
        image,
        host_capabilities: &host,
        etc_files: [
            ("/etc/hostname", "/c/hostname".into()),
            ("/etc/hosts", "/c/hosts".into()),
            ("/etc/resolv.conf", "/c/resolv.conf".into()),
        ],
        cgroup_path: "berth/0123456789abcdef",
        network,
    };
    generate(&plan, &ctx)
}

fn spec_of(options: &RunOptions) -> Spec {
    generate_as(options, &image(), "", NetworkNs::New).unwrap()
}

fn process(spec: &Spec) -> &Process {
    spec.process().as_ref().unwrap()
}

fn args(spec: &Spec) -> Vec<String> {
    process(spec).args().clone().unwrap_or_default()
}

fn env(spec: &Spec) -> Vec<String> {
    process(spec).env().clone().unwrap_or_default()
}

fn linux(spec: &Spec) -> &Linux {
    spec.linux().as_ref().unwrap()
}

fn resources(spec: &Spec) -> &LinuxResources {
    linux(spec).resources().as_ref().unwrap()
}

/// (destination, type, source, options) of each mount, in order.
fn mounts(spec: &Spec) -> Vec<(String, String, String, Vec<String>)> {
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| {
            (
                m.destination().display().to_string(),
                m.typ().clone().unwrap_or_default(),
                m.source()
                    .as_ref()
                    .map(|s| s.display().to_string())
                    .unwrap_or_default(),
                m.options().clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn mount_options(spec: &Spec, destination: &str) -> Vec<String> {
    mounts(spec)
        .into_iter()
        .find(|m| m.0 == destination)
        .map(|m| m.3)
        .unwrap_or_else(|| panic!("no mount at {destination}"))
}

fn with(change: impl FnOnce(&mut RunOptions)) -> RunOptions {
    let mut options = RunOptions::default();
    change(&mut options);
    options
}

fn caps(add: &[&str], drop: &[&str]) -> Vec<String> {
    let options = RunOptions {
        cap_add: owned(add),
        cap_drop: owned(drop),
        ..RunOptions::default()
    };
    capabilities(&options.plan().unwrap(), &owned(&HOST_CAPS))
}

// Docker (moby's TweakCapabilities): drops first, then adds; `--cap-drop ALL` keeps the
// added ones, `--cap-add ALL` gives the host's all but the dropped ones.
#[test]
fn drops_apply_before_adds_as_in_docker() {
    assert_eq!(
        caps(&["NET_BIND_SERVICE"], &["ALL"]),
        ["CAP_NET_BIND_SERVICE"]
    );
    assert_eq!(caps(&["net_admin"], &["all"]), ["CAP_NET_ADMIN"]);
    assert!(caps(&[], &["ALL"]).is_empty());
    assert_eq!(
        caps(&["ALL"], &["SYS_ADMIN"]),
        ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]
    );
    // A capability both dropped and added is kept: the add comes last.
    assert!(caps(&["CHOWN"], &["CHOWN"]).contains(&"CAP_CHOWN".to_owned()));
    let default = caps(&[], &["CHOWN"]);
    assert_eq!(default.len(), DEFAULT_CAPABILITIES.len() - 1);
    assert!(!default.contains(&"CAP_CHOWN".to_owned()));
    assert_eq!(
        caps(&["SYS_ADMIN"], &[]).len(),
        DEFAULT_CAPABILITIES.len() + 1
    );
}

// Docker: bounding, effective and permitted hold the container's capabilities; inheritable
// and ambient none. `--privileged` gives the host's all.
#[test]
fn the_capabilities_fill_bounding_effective_and_permitted() {
    let default = capability_set(&owned(&DEFAULT_CAPABILITIES)).unwrap();
    assert_eq!(default.len(), 14);
    let spec = spec_of(&RunOptions::default());
    let sets = process(&spec).capabilities().as_ref().unwrap();
    assert_eq!(sets.bounding().as_ref(), Some(&default));
    assert_eq!(sets.effective().as_ref(), Some(&default));
    assert_eq!(sets.permitted().as_ref(), Some(&default));
    assert_eq!(sets.inheritable().as_ref(), Some(&Capabilities::new()));
    assert_eq!(sets.ambient().as_ref(), Some(&Capabilities::new()));

    let spec = spec_of(&with(|o| o.privileged = true));
    let sets = process(&spec).capabilities().as_ref().unwrap();
    let host = capability_set(&owned(&HOST_CAPS)).unwrap();
    assert_eq!(sets.bounding().as_ref(), Some(&host));
}

#[test]
fn every_capability_of_the_host_has_a_spec_name() {
    for cap in caps::all() {
        assert!(capability_set(&[cap.to_string()]).is_ok(), "{cap}");
    }
    assert!(
        capability_set(&owned(&["CAP_NO_SUCH"]))
            .unwrap_err()
            .to_string()
            .contains("unknown capability CAP_NO_SUCH")
    );
}

// Docker: the image's ENTRYPOINT then CMD; arguments after the image replace CMD;
// `--entrypoint` replaces ENTRYPOINT and clears CMD; `--entrypoint ''` clears both.
#[test]
fn the_command_is_the_entrypoint_then_the_arguments_or_cmd() {
    let run = |entrypoint: Option<&str>, command: &[&str]| {
        args(&spec_of(&with(|o| {
            o.entrypoint = entrypoint.map(str::to_owned);
            o.command = owned(command);
        })))
    };
    assert_eq!(run(None, &[]), ["/entry", "-v", "serve"]);
    assert_eq!(
        run(None, &["check", "now"]),
        ["/entry", "-v", "check", "now"]
    );
    assert_eq!(run(Some("/bin/sh"), &[]), ["/bin/sh"]);
    assert_eq!(
        run(Some("/bin/sh"), &["-c", "true"]),
        ["/bin/sh", "-c", "true"]
    );
    assert_eq!(run(Some(""), &["echo", "hi"]), ["echo", "hi"]);
    let cleared = with(|o| o.entrypoint = Some(String::new()));
    assert_eq!(
        generate_as(&cleared, &image(), "", NetworkNs::New).unwrap_err(),
        "no command specified"
    );

    let cmd_only = json!({ "Cmd": ["sh"], "Entrypoint": null });
    let run = |image: &Value, command: &[&str]| {
        generate_as(
            &with(|o| o.command = owned(command)),
            image,
            "",
            NetworkNs::New,
        )
        .map(|spec| args(&spec))
    };
    assert_eq!(run(&cmd_only, &[]).unwrap(), ["sh"]);
    assert_eq!(run(&cmd_only, &["ls", "/"]).unwrap(), ["ls", "/"]);
    let neither = json!({ "Cmd": null });
    assert_eq!(run(&neither, &[]).unwrap_err(), "no command specified");
    assert_eq!(run(&neither, &["true"]).unwrap(), ["true"]);
}

// Docker: the image's ENV, then `--env-file`s, then `-e`, the later one winning; `-e NAME`
// takes the value berth has; PATH defaults when the image sets none; HOSTNAME is the
// container's; HOME is the user's; TERM=xterm comes with `-t`.
#[test]
fn the_environment_is_the_images_then_env_files_then_e() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env");
    std::fs::write(&file, "# a comment\n\nSHARED=file\nFILE_ONLY=2\n").unwrap();
    let spec = spec_of(&with(|o| {
        o.env_files = vec![file.display().to_string()];
        o.env = owned(&["SHARED=flag"]);
    }));
    assert_eq!(
        env(&spec),
        [
            "PATH=/image/bin",
            "IMAGE_ONLY=1",
            "HOSTNAME=0123456789ab",
            "FILE_ONLY=2",
            "SHARED=flag",
            "HOME=/root",
        ]
    );

    let host_path = std::env::var("PATH").unwrap();
    let spec = spec_of(&with(|o| {
        o.env = owned(&["PATH", "BERTH_SPEC_TEST_SURELY_UNSET"]);
    }));
    let vars = env(&spec);
    assert!(vars.contains(&format!("PATH={host_path}")), "{vars:?}");
    assert!(!vars.iter().any(|e| e.starts_with("BERTH_SPEC_TEST")));

    let bare = generate_as(
        &with(|o| o.command = owned(&["true"])),
        &json!({}),
        "",
        NetworkNs::New,
    )
    .unwrap();
    assert_eq!(env(&bare)[0], DEFAULT_PATH);

    let mine = spec_of(&with(|o| o.env = owned(&["HOSTNAME=mine", "HOME=/here"])));
    let mine = env(&mine);
    assert_eq!(
        mine.iter().filter(|e| e.starts_with("HOSTNAME=")).count(),
        1
    );
    assert!(mine.contains(&"HOSTNAME=mine".to_owned()));
    assert!(mine.contains(&"HOME=/here".to_owned()));

    let term = |options: &RunOptions| {
        env(&spec_of(options))
            .into_iter()
            .filter(|e| e.starts_with("TERM="))
            .collect::<Vec<_>>()
    };
    assert!(term(&RunOptions::default()).is_empty());
    assert_eq!(term(&with(|o| o.tty = true)), ["TERM=xterm"]);
    assert_eq!(
        term(&with(|o| {
            o.tty = true;
            o.env = owned(&["TERM=vt100"]);
        })),
        ["TERM=vt100"]
    );

    assert!(
        with(|o| o.env = owned(&["=oops"]))
            .plan()
            .unwrap_err()
            .contains("invalid environment variable")
    );
}

// Docker (runc's GetExecUser): `name`, `uid`, `name:group`, `uid:gid` against the image's
// passwd and group; supplementary groups with the implicit group only; a uid the image
// does not know runs in group 0 with HOME=/.
#[test]
fn the_user_in_every_form_comes_from_the_images_passwd_and_group() {
    let cases: [(&str, u32, u32, &[u32], &str); 8] = [
        ("", 0, 0, &[10], "/root"),
        ("root", 0, 0, &[10], "/root"),
        ("app", 1000, 1000, &[10, 1001], "/home/app"),
        ("1000", 1000, 1000, &[10, 1001], "/home/app"),
        ("app:extra", 1000, 1001, &[], "/home/app"),
        ("1000:1001", 1000, 1001, &[], "/home/app"),
        ("4242", 4242, 0, &[], "/"),
        ("4242:4343", 4242, 4343, &[], "/"),
    ];
    for (form, uid, gid, groups, home) in cases {
        let spec = generate_as(&RunOptions::default(), &image(), form, NetworkNs::New).unwrap();
        let user = process(&spec).user();
        assert_eq!(
            (user.uid(), user.gid(), user.additional_gids().clone()),
            (uid, gid, Some(groups.to_vec())),
            "-u {form:?}"
        );
        assert!(env(&spec).contains(&format!("HOME={home}")), "-u {form:?}");
    }
    assert_eq!(
        users::resolve("ghost", PASSWD, GROUP).unwrap_err(),
        UserError::NoUser("ghost".into())
    );
    assert_eq!(
        users::resolve("app:ghosts", PASSWD, GROUP).unwrap_err(),
        UserError::NoGroup("ghosts".into())
    );
}

// Docker: `-w` (absolute), else the image's WorkingDir, else `/`.
#[test]
fn the_working_directory_is_w_else_the_images_else_root() {
    let cwd = |options: &RunOptions, image: &Value| {
        generate_as(options, image, "", NetworkNs::New)
            .unwrap()
            .process()
            .as_ref()
            .unwrap()
            .cwd()
            .display()
            .to_string()
    };
    let w = with(|o| o.workdir = Some("/made/here".into()));
    assert_eq!(cwd(&w, &image()), "/made/here");
    assert_eq!(cwd(&RunOptions::default(), &image()), "/srv");
    let unset = json!({ "Cmd": ["sh"], "WorkingDir": "" });
    assert_eq!(cwd(&RunOptions::default(), &unset), "/");
    assert!(
        with(|o| o.workdir = Some("relative".into()))
            .plan()
            .is_err()
    );
}

// Docker's mounts, then the container's own /etc files and `-v`, `--mount` and `--tmpfs`,
// the shallower first; /dev/shm is 64 MiB; /sys and cgroupfs read-only but with
// `--privileged`.
#[test]
fn the_mounts_are_dockers_then_the_etc_files_then_the_runs() {
    let spec = spec_of(&with(|o| {
        o.volumes = owned(&["/host/a:/a:ro", "/host/b:/b"]);
        o.mounts = owned(&[
            "type=bind,source=/host/c,target=/c,readonly",
            "type=tmpfs,target=/t,tmpfs-size=1m",
        ]);
        o.tmpfs = owned(&["/run:size=2m"]);
    }));
    let all = mounts(&spec);
    let places: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|m| (m.0.as_str(), m.1.as_str(), m.2.as_str()))
        .collect();
    assert_eq!(
        places,
        [
            ("/proc", "proc", "proc"),
            ("/dev", "tmpfs", "tmpfs"),
            ("/dev/pts", "devpts", "devpts"),
            ("/dev/mqueue", "mqueue", "mqueue"),
            ("/dev/shm", "tmpfs", "shm"),
            ("/sys", "sysfs", "sysfs"),
            ("/sys/fs/cgroup", "cgroup", "cgroup"),
            ("/a", "bind", "/host/a"),
            ("/b", "bind", "/host/b"),
            ("/c", "bind", "/host/c"),
            ("/t", "tmpfs", "tmpfs"),
            ("/run", "tmpfs", "tmpfs"),
            ("/etc/hostname", "bind", "/c/hostname"),
            ("/etc/hosts", "bind", "/c/hosts"),
            ("/etc/resolv.conf", "bind", "/c/resolv.conf"),
        ]
    );
    assert_eq!(mount_options(&spec, "/a"), ["rbind", "rprivate", "ro"]);
    assert_eq!(mount_options(&spec, "/b"), ["rbind", "rprivate"]);
    assert_eq!(mount_options(&spec, "/c"), ["rbind", "rprivate", "ro"]);
    assert_eq!(
        mount_options(&spec, "/t"),
        ["nosuid", "nodev", "noexec", "size=1048576"]
    );
    assert_eq!(
        mount_options(&spec, "/run"),
        ["nosuid", "nodev", "noexec", "size=2m"]
    );
    assert_eq!(
        mount_options(&spec, "/dev/shm"),
        ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
    );
    assert_eq!(mount_options(&spec, "/etc/hosts"), ["rbind", "rprivate"]);
    for read_only in ["/sys", "/sys/fs/cgroup"] {
        assert!(mount_options(&spec, read_only).contains(&"ro".to_owned()));
    }
    let root = spec.root().as_ref().unwrap();
    assert_eq!(root.path().display().to_string(), "rootfs");
    assert_eq!(root.readonly(), Some(false));

    let privileged = spec_of(&with(|o| o.privileged = true));
    for writable in ["/sys", "/sys/fs/cgroup"] {
        assert!(mount_options(&privileged, writable).contains(&"rw".to_owned()));
    }

    // `--read-only` is the root's alone: a tmpfs stays writable.
    let read_only = spec_of(&with(|o| {
        o.read_only = true;
        o.tmpfs = owned(&["/tmp"]);
    }));
    assert_eq!(read_only.root().as_ref().unwrap().readonly(), Some(true));
    assert_eq!(
        mount_options(&read_only, "/tmp"),
        ["nosuid", "nodev", "noexec"]
    );
}

// Docker (moby's sortMounts): a mount is never hidden by a shallower one given after it.
#[test]
fn shallower_mounts_go_first_so_none_hides_another() {
    let spec = spec_of(&with(|o| {
        o.volumes = owned(&["/h/sub:/data/sub", "/h/etc:/etc", "/h/data:/data/"]);
        o.tmpfs = owned(&["/data/sub/deeper"]);
    }));
    let order: Vec<String> = mounts(&spec).into_iter().skip(7).map(|m| m.0).collect();
    assert_eq!(
        order,
        [
            "/etc",
            "/data/",
            "/etc/hostname",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/data/sub",
            "/data/sub/deeper",
        ]
    );
}

// Docker (moby's MergeTmpfsOptions): an option given to `--tmpfs` overrides the default
// `noexec`/`nosuid`/`nodev` it contradicts, and the last `size=` wins.
#[test]
fn tmpfs_options_override_the_defaults_they_contradict() {
    let spec = spec_of(&with(|o| {
        o.tmpfs = owned(&["/x:exec,size=2m,size=3m", "/y:ro,suid,dev,defaults"]);
    }));
    assert_eq!(
        mount_options(&spec, "/x"),
        ["nosuid", "nodev", "exec", "size=3m"]
    );
    assert_eq!(mount_options(&spec, "/y"), ["noexec", "ro", "suid", "dev"]);
    assert_eq!(
        merge_tmpfs_options(&["rprivate", "mode=700", "rshared", "mode=1777", "rw", "ro"]),
        ["rshared", "mode=1777", "ro"]
    );
}

// Docker hides and write-protects its lists of /proc and /sys paths; `--privileged` none.
#[test]
fn masked_and_read_only_paths_are_dockers_unless_privileged() {
    let spec = spec_of(&RunOptions::default());
    assert_eq!(
        linux(&spec).masked_paths().as_deref(),
        Some(&owned(&MASKED_PATHS)[..])
    );
    assert_eq!(
        linux(&spec).readonly_paths().as_deref(),
        Some(&owned(&READONLY_PATHS)[..])
    );
    let privileged = spec_of(&with(|o| o.privileged = true));
    assert_eq!(linux(&privileged).masked_paths().as_deref(), Some(&[][..]));
    assert_eq!(
        linux(&privileged).readonly_paths().as_deref(),
        Some(&[][..])
    );
}

// Docker: the device cgroup allows its default devices (the runtime's list when the spec
// names none); `--privileged` allows every device.
#[test]
fn devices_are_the_runtimes_defaults_or_all_with_privileged() {
    let spec = spec_of(&RunOptions::default());
    assert_eq!(resources(&spec).devices(), &None);
    assert_eq!(linux(&spec).devices(), &None);
    let privileged = spec_of(&with(|o| o.privileged = true));
    let rules = resources(&privileged).devices().clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].allow());
    assert_eq!(rules[0].typ(), None);
    assert_eq!((rules[0].major(), rules[0].minor()), (None, None));
    assert_eq!(rules[0].access().as_deref(), Some("rwm"));
}

// Docker: `-m` with swap twice it unless `--memory-swap` (-1 unlimited); `--cpus` as a CFS
// quota over a 100ms period; `--cpu-shares`, `--cpuset-cpus`, `--pids-limit`, `--ulimit`.
#[test]
fn limits_become_cgroup_resources_and_rlimits() {
    let none = spec_of(&RunOptions::default());
    let r = resources(&none);
    assert_eq!((r.memory(), r.cpu(), r.pids()), (&None, &None, &None));
    assert_eq!(process(&none).rlimits(), &Some(vec![]));

    let memory = |m: &str, swap: Option<&str>| {
        let spec = spec_of(&with(|o| {
            o.memory = Some(m.into());
            o.memory_swap = swap.map(str::to_owned);
        }));
        let memory = resources(&spec).memory().unwrap();
        (memory.limit(), memory.swap())
    };
    assert_eq!(memory("64m", None), (Some(64 << 20), Some(128 << 20)));
    assert_eq!(
        memory("64m", Some("100m")),
        (Some(64 << 20), Some(100 << 20))
    );
    assert_eq!(memory("64m", Some("-1")), (Some(64 << 20), Some(-1)));

    let spec = spec_of(&with(|o| {
        o.cpus = Some(0.5);
        o.cpu_shares = Some(512);
        o.cpuset_cpus = Some("0".into());
        o.pids_limit = Some(10);
        o.ulimits = owned(&["nofile=100:200", "nproc=5"]);
    }));
    let cpu = resources(&spec).cpu().clone().unwrap();
    assert_eq!(
        (
            cpu.quota(),
            cpu.period(),
            cpu.shares(),
            cpu.cpus().as_deref()
        ),
        (Some(50_000), Some(100_000), Some(512), Some("0"))
    );
    assert_eq!(resources(&spec).pids().unwrap().limit(), 10);
    let rlimit = |typ: PosixRlimitType, soft: u64, hard: u64| {
        PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    };
    let expected: Vec<PosixRlimit> = vec![
        rlimit(PosixRlimitType::RlimitNofile, 100, 200),
        rlimit(PosixRlimitType::RlimitNproc, 5, 5),
    ];
    assert_eq!(process(&spec).rlimits().as_ref(), Some(&expected));

    let shares_only = spec_of(&with(|o| o.cpu_shares = Some(2)));
    let cpu = resources(&shares_only).cpu().clone().unwrap();
    assert_eq!((cpu.quota(), cpu.period()), (None, None));
}

// Docker's default seccomp profile unless `seccomp=unconfined`, a profile of one's own, or
// `--privileged`; `no-new-privileges`; `--init`; `-t`.
#[test]
fn security_options_init_and_terminal() {
    let annotation = |options: &RunOptions, key: &str| {
        spec_of(options)
            .annotations()
            .as_ref()
            .and_then(|a| a.get(key).cloned())
    };
    let seccomp = |options: &RunOptions| annotation(options, "berth.seccomp").unwrap();
    assert_eq!(seccomp(&RunOptions::default()), "default");
    assert_eq!(seccomp(&with(|o| o.privileged = true)), "unconfined");
    let opt = |o: &str| with(|options| options.security_opts = owned(&[o]));
    assert_eq!(seccomp(&opt("seccomp=unconfined")), "unconfined");
    assert_eq!(
        seccomp(&opt("seccomp=/etc/profile.json")),
        "/etc/profile.json"
    );
    assert_eq!(seccomp(&opt("seccomp:/p.json")), "/p.json");

    let spec = spec_of(&RunOptions::default());
    assert_eq!(process(&spec).no_new_privileges(), Some(false));
    assert_eq!(process(&spec).terminal(), Some(false));
    assert_eq!(annotation(&RunOptions::default(), "berth.init"), None);
    let spec = spec_of(&opt("no-new-privileges"));
    assert_eq!(process(&spec).no_new_privileges(), Some(true));
    assert_eq!(
        annotation(&with(|o| o.init = true), "berth.init").as_deref(),
        Some("true")
    );
    assert_eq!(
        process(&spec_of(&with(|o| o.tty = true))).terminal(),
        Some(true)
    );
}

// A new pid, ipc, uts, mount and cgroup namespace each; the network namespace new, the one
// berth keeps for the container, or the host's (no entry); the hostname and cgroup path.
#[test]
fn namespaces_hostname_and_cgroup_path() {
    let types = |network: NetworkNs<'_>| -> Vec<LinuxNamespace> {
        generate_as(&RunOptions::default(), &image(), "", network)
            .unwrap()
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .clone()
            .unwrap()
    };
    let names = |all: &[LinuxNamespace]| -> Vec<(LinuxNamespaceType, Option<String>)> {
        all.iter()
            .map(|n| (n.typ(), n.path().as_ref().map(|p| p.display().to_string())))
            .collect()
    };
    use LinuxNamespaceType::{Cgroup, Ipc, Mount as Mnt, Network, Pid, Uts};
    let rest = [(Ipc, None), (Uts, None), (Mnt, None), (Cgroup, None)];
    let with_network = |network: Option<(LinuxNamespaceType, Option<String>)>| {
        let mut all = vec![(Pid, None)];
        all.extend(network);
        all.extend(rest.clone());
        all
    };
    assert_eq!(
        names(&types(NetworkNs::New)),
        with_network(Some((Network, None)))
    );
    assert_eq!(
        names(&types(NetworkNs::Path("/run/berth/netns/x"))),
        with_network(Some((Network, Some("/run/berth/netns/x".into()))))
    );
    assert_eq!(names(&types(NetworkNs::Host)), with_network(None));

    let spec = spec_of(&RunOptions::default());
    assert_eq!(spec.version(), "1.2.0");
    assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
    assert_eq!(
        linux(&spec)
            .cgroups_path()
            .as_ref()
            .map(|p| p.display().to_string()),
        Some("berth/0123456789abcdef".into())
    );
}
