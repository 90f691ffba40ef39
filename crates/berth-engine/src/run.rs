//! `berth run`: find (or pull) the image, write the container's record and files, generate
//! its spec, run it, record how it ended, clean up.

use crate::config::EngineConfig;
use crate::containers::{Containers, Record, process_start_time};
use crate::options::{Mount, RunOptions};
use crate::paths::Roots;
use crate::spec;
use crate::users;
use berth_image::digest::Digest;
use berth_image::local::{self, LocalError};
use berth_image::manifest::Platform;
use berth_image::pull::{self, Progress, PullError};
use berth_image::reference::Reference;
use berth_image::store::{ImageRecord, Store};
use berth_runtime::cgroups::{self, CgroupMode};
use berth_runtime::container::{self as runtime, DetachedIo, OutputSink, RuntimeError, StdioMode};
use berth_runtime::rootfs::Overlay;
use oci_spec::runtime::Spec;
use std::fs;
use std::path::{Path, PathBuf};

/// `berth run` failed before the container's own exit code could be had.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An option is wrong.
    #[error("{0}")]
    Options(String),
    /// The image could not be found or pulled.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// The local image store failed.
    #[error(transparent)]
    Image(#[from] LocalError),
    /// The user does not exist in the image.
    #[error(transparent)]
    User(#[from] users::UserError),
    /// Starting the container failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The host refused something.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

impl RunError {
    /// Docker's exit code for this failure: 126/127 when the command cannot run, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Runtime(RuntimeError::Start(e)) => e.code,
            _ => 125,
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// Runs a container in the foreground and returns its exit code.
pub fn run(
    roots: &Roots,
    config: &EngineConfig,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<i32, RunError> {
    let (record, spec) = create(roots, config, options, progress)?;
    execute(
        roots,
        &record.id,
        Some(spec),
        StdioMode {
            stdin: options.interactive,
        },
        &mut || {},
    )
}

/// Creates a container: image found or pulled, its directory, files, spec and record written
/// (status `created`). Nothing runs yet.
pub fn create(
    roots: &Roots,
    config: &EngineConfig,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<(Record, Spec), RunError> {
    let plan = options.plan().map_err(RunError::Options)?;
    if !matches!(options.network.as_str(), "none" | "bridge" | "default" | "") {
        return Err(RunError::Options(format!(
            "network \"{}\" is not supported yet: berth gives containers an isolated network namespace with only lo (--network none)",
            options.network
        )));
    }
    let layout = cgroups::detect().map_err(io("read the cgroup layout"))?;
    let containers = Containers::new(&roots.root);
    containers.reclaim(&layout);
    tracing::debug!("options checked, leftovers reclaimed");

    let store = Store::open(&roots.root).map_err(|e| RunError::Io {
        what: "open the image store".into(),
        source: std::io::Error::other(e),
    })?;
    let (image_id, image) = find_or_pull(&store, config, options, progress)?;
    let image_config: serde_json::Value = store
        .read_blob(&image_id)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            RunError::Options(format!(
                "the config of image {} is missing or unreadable",
                image_id.short()
            ))
        })?;
    tracing::debug!(image = %image_id, "image found");
    let layers: Vec<PathBuf> = image
        .layers
        .iter()
        .rev()
        .map(|chain| store.layer_dir(chain).join("diff"))
        .collect();
    let user_spec = options.user.clone().unwrap_or_else(|| {
        image_config["config"]["User"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    });
    let user = users::resolve(
        &user_spec,
        &read_image_file(&layers, "etc/passwd"),
        &read_image_file(&layers, "etc/group"),
    )?;

    let id = new_id().map_err(io("make a container id"))?;
    let hostname = options
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_owned());
    let dir = containers.dir(&id);
    let result = (|| {
        for sub in ["rootfs", "upper", "work"] {
            fs::create_dir_all(dir.join(sub))
                .map_err(io(format!("create {}", dir.join(sub).display())))?;
        }
        for m in &plan.mounts {
            if let Mount::Bind { source, .. } = m {
                // Docker creates a missing host directory of a -v bind.
                if !Path::new(source).exists() {
                    fs::create_dir_all(source).map_err(io(format!("create {source}")))?;
                }
            }
        }
        fs::write(dir.join("hostname"), format!("{hostname}\n")).map_err(io("write hostname"))?;
        fs::write(dir.join("hosts"), HOSTS).map_err(io("write hosts"))?;
        fs::write(dir.join("resolv.conf"), resolv_conf()).map_err(io("write resolv.conf"))?;
        let cgroup_path = format!("berth/{id}");
        let v1 = if layout.mode == CgroupMode::V2 {
            Vec::new()
        } else {
            cgroups::v1_hierarchies(&layout.root)
        };
        let host_caps: Vec<String> = caps::read(None, caps::CapSet::Bounding)
            .map(|set| set.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default();
        let file = |n: &str| dir.join(n).display().to_string();
        let ctx = spec::Context {
            id: &id,
            hostname: &hostname,
            user: &user,
            image: &image_config["config"],
            host_capabilities: &host_caps,
            etc_files: [
                ("/etc/hostname", file("hostname")),
                ("/etc/hosts", file("hosts")),
                ("/etc/resolv.conf", file("resolv.conf")),
            ],
            v1_controllers: &v1,
            cgroup_path: &cgroup_path,
        };
        let spec = spec::generate(&plan, &ctx).map_err(RunError::Options)?;
        let swap_accounting = layout.mode == CgroupMode::V2
            || layout
                .root
                .join("memory/memory.memsw.limit_in_bytes")
                .exists();
        if options.memory_swap.is_some() && !swap_accounting {
            eprintln!(
                "WARNING: Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
            );
        }
        fs::write(
            dir.join("config.json"),
            serde_json::to_vec(&spec).expect("a spec serialises"),
        )
        .map_err(io("write config.json"))?;
        let mut lower: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
        if lower.is_empty() {
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).map_err(io("create an empty layer"))?;
            lower.push(empty.display().to_string());
        }
        let record = Record {
            id: id.clone(),
            image: options.image.clone(),
            image_id: image_id.to_string(),
            command: spec
                .process()
                .as_ref()
                .and_then(|p| p.args().clone())
                .unwrap_or_default(),
            created: crate::time::now(),
            status: "created".into(),
            auto_remove: options.remove,
            restart: plan.restart.clone(),
            log_driver: plan.log_driver.clone(),
            layers: lower,
            interactive: options.interactive,
            tty: options.tty,
            cgroup_path,
            stop_signal: options
                .stop_signal
                .clone()
                .or_else(|| {
                    image_config["config"]["StopSignal"]
                        .as_str()
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| "SIGTERM".into()),
            ..Record::default()
        };
        // Names are unique: checked and taken under one lock.
        let _names = containers
            .lock_names()
            .map_err(io("lock container names"))?;
        let existing = containers.list();
        let name = match &options.name {
            Some(name) => {
                if let Some(other) = existing.iter().find(|r| &r.name == name) {
                    return Err(RunError::Options(format!(
                        "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.id
                    )));
                }
                name.clone()
            }
            None => generated_name(&id, &existing),
        };
        let record = Record { name, ..record };
        containers
            .save(&record)
            .map_err(io("write the container record"))?;
        tracing::debug!(id, "container files, spec and record written");
        Ok((record, spec))
    })();
    if result.is_err()
        && let Err(e) = containers.remove(&id)
    {
        tracing::warn!(id, %e, "cannot remove the container's directory");
    }
    result
}

/// Runs a created (or exited) container to its end in this process, recording its start and
/// exit; removes it afterwards when it was made with `--rm`. `spec` saves reading config.json.
pub fn execute(
    roots: &Roots,
    id: &str,
    spec: Option<Spec>,
    stdio: StdioMode,
    on_started: &mut dyn FnMut(),
) -> Result<i32, RunError> {
    let containers = Containers::new(&roots.root);
    let (record, config, layout) = prepare(&containers, id, spec)?;
    let result = runtime::run(&config, &layout, stdio, &mut |pid| {
        let _ = containers.update(id, |r| r.pid = Some(pid));
        on_started();
    })
    .map_err(RunError::from);
    conclude(&containers, &record, result)
}

/// A detached container that runs: its pid and what berth holds of its output.
pub struct Detached {
    /// The container's init, a child of this process.
    pub pid: i32,
    /// Its output pipes, or its terminal.
    pub io: DetachedIo,
}

/// Starts container `id` with its output on pipes and returns once it runs; this process must
/// then call `finish_detached` (possibly after an exec: it stays the container's parent).
pub fn launch_detached(roots: &Roots, id: &str) -> Result<Detached, RunError> {
    let containers = Containers::new(&roots.root);
    let (record, config, layout) = prepare(&containers, id, None)?;
    match runtime::launch_detached(&config, &layout) {
        Ok((pid, io)) => {
            let _ = containers.update(id, |r| r.pid = Some(pid));
            Ok(Detached { pid, io })
        }
        Err(e) => {
            let e = RunError::from(e);
            record_exit(&containers, &record, Err(e.exit_code()))?;
            Err(e)
        }
    }
}

/// Waits for a detached container to end, its output going to `sink`; records the exit (or
/// removes an `--rm` container) and returns its exit code.
pub fn finish_detached(
    roots: &Roots,
    id: &str,
    detached: Detached,
    sink: &mut OutputSink<'_>,
) -> Result<i32, RunError> {
    let containers = Containers::new(&roots.root);
    let record = containers
        .get(id)
        .map_err(io("read the container record"))?;
    let layout = cgroups::detect().map_err(io("read the cgroup layout"))?;
    let result = match detached.io {
        DetachedIo::Pipes(stdout, stderr) => runtime::wait_detached(
            detached.pid,
            stdout,
            stderr,
            &layout,
            &record.cgroup_path,
            sink,
        )
        .map_err(RunError::from),
        DetachedIo::Terminal(master) => {
            let socket = crate::attach::socket_path(&roots.run_root, id);
            crate::attach::serve(detached.pid, master, &socket, sink)
                .map(|code| runtime::Exit {
                    code,
                    oom_killed: runtime::finish_cgroup(&layout, &record.cgroup_path),
                })
                .map_err(io("relay the container's terminal"))
        }
    };
    conclude(&containers, &record, result)
}

/// Claims the container (under its lock: two starts at once run it once) and builds the
/// runtime's configuration from its spec.
fn prepare(
    containers: &Containers,
    id: &str,
    spec: Option<Spec>,
) -> Result<
    (
        Record,
        berth_runtime::container::ContainerConfig,
        berth_runtime::cgroups::CgroupLayout,
    ),
    RunError,
> {
    let dir = containers.dir(id);
    let spec = match spec {
        Some(spec) => spec,
        None => serde_json::from_slice(
            &fs::read(dir.join("config.json")).map_err(io("read config.json"))?,
        )
        .map_err(|e| RunError::Options(format!("config.json of {id}: {e}")))?,
    };
    let layout = cgroups::detect().map_err(io("read the cgroup layout"))?;
    let me = std::process::id() as i32;
    let record = containers
        .update(id, |r| {
            if r.is_running() {
                return None;
            }
            r.status = "running".into();
            r.owner = process_start_time(me).map(|start| (me, start));
            r.started_at = Some(crate::time::now());
            r.exit_code = None;
            r.oom_killed = false;
            r.stopped_by_user = false;
            Some(r.clone())
        })
        .map_err(io("write the container record"))?
        .ok_or_else(|| RunError::Options(format!("container {id} is already running")))?;
    let overlay = Overlay {
        lower: record.layers.iter().map(PathBuf::from).collect(),
        upper: dir.join("upper"),
        work: dir.join("work"),
    };
    match berth_runtime::spec::container_config(id, &spec, &dir.join("rootfs"), Some(overlay)) {
        Ok(config) => Ok((record, config, layout)),
        Err(e) => {
            // Claimed but never started: end it like any other failed start.
            let e = RunError::Options(e.to_string());
            record_exit(containers, &record, Err(e.exit_code()))?;
            Err(e)
        }
    }
}

/// Records how the container ended and returns its exit code, or why it could not run.
fn conclude(
    containers: &Containers,
    record: &Record,
    result: Result<runtime::Exit, RunError>,
) -> Result<i32, RunError> {
    record_exit(
        containers,
        record,
        result
            .as_ref()
            .map(|e| (e.code, e.oom_killed))
            .map_err(RunError::exit_code),
    )?;
    result.map(|exit| exit.code)
}

/// Records how the container ended (exit code and OOM kill, or the code of a failed start), or
/// removes it when it was made with `--rm`.
fn record_exit(
    containers: &Containers,
    record: &Record,
    outcome: Result<(i32, bool), i32>,
) -> Result<(), RunError> {
    let id = &record.id;
    tracing::debug!(?outcome, "container ended");
    if record.auto_remove {
        if let Err(e) = containers.remove(id) {
            tracing::warn!(id, %e, "cannot remove the container's directory");
        }
        return Ok(());
    }
    let (code, oom) = outcome.unwrap_or_else(|code| (code, false));
    containers
        .update(id, |r| {
            r.status = "exited".into();
            r.exit_code = Some(code);
            r.oom_killed = oom;
            r.finished_at = Some(crate::time::now());
            r.owner = None;
            r.pid = None;
        })
        .map_err(io("write the container record"))
}

/// The image id for the reference, pulling it first when it is not in the store.
fn find_or_pull(
    store: &Store,
    config: &EngineConfig,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<(Digest, ImageRecord), RunError> {
    let read = || {
        store.images().map_err(|e| RunError::Io {
            what: "read images".into(),
            source: std::io::Error::other(e),
        })
    };
    let images = read()?;
    let id = match local::resolve(&images, &options.image) {
        Ok(id) => id,
        Err(LocalError::NoSuchImage(_)) => {
            let reference =
                Reference::parse(&options.image).map_err(|e| RunError::Options(e.to_string()))?;
            eprintln!("Unable to find image '{}' locally", options.image);
            let platform = match &options.platform {
                Some(p) => Some(
                    Platform::parse(p)
                        .ok_or_else(|| RunError::Options(format!("invalid platform \"{p}\"")))?,
                ),
                None => None,
            };
            let id = pull::pull(store, &reference, &config.pull_options(platform), progress)?.id;
            return read()?
                .images
                .get(&id)
                .cloned()
                .map(|record| (id, record))
                .ok_or_else(|| RunError::Image(LocalError::NoSuchImage(options.image.clone())));
        }
        Err(e) => return Err(e.into()),
    };
    let record = images
        .images
        .get(&id)
        .cloned()
        .ok_or_else(|| RunError::Image(LocalError::NoSuchImage(options.image.clone())))?;
    Ok((id, record))
}

/// The file at `path` in the topmost layer that has it, or "".
fn read_image_file(layers_top_first: &[PathBuf], path: &str) -> String {
    layers_top_first
        .iter()
        .find_map(|layer| fs::read_to_string(layer.join(path)).ok())
        .unwrap_or_default()
}

const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The host's resolv.conf without loopback nameservers, which mean nothing in another network
/// namespace.
fn resolv_conf() -> String {
    fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            !l.split_whitespace().nth(1).is_some_and(|ip| {
                l.starts_with("nameserver") && (ip.starts_with("127.") || ip == "::1")
            })
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// 64 random hex digits.
fn new_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A Docker-style `adjective_name`, unique among the existing containers.
fn generated_name(id: &str, existing: &[Record]) -> String {
    const ADJECTIVES: [&str; 16] = [
        "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nifty",
        "proud", "quiet", "sharp", "tender", "vivid", "witty",
    ];
    const NAMES: [&str; 16] = [
        "albattani",
        "babbage",
        "curie",
        "darwin",
        "euclid",
        "fermi",
        "galileo",
        "hopper",
        "hypatia",
        "kepler",
        "lovelace",
        "noether",
        "pascal",
        "ritchie",
        "turing",
        "wozniak",
    ];
    let seed = u64::from_str_radix(&id[..16], 16).unwrap_or(0);
    let base = format!(
        "{}_{}",
        ADJECTIVES[(seed % 16) as usize],
        NAMES[((seed >> 8) % 16) as usize]
    );
    if !existing.iter().any(|r| r.name == base) {
        return base;
    }
    format!("{base}_{}", &id[..6])
}
