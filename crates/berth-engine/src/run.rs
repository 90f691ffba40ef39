//! `berth run`: find (or pull) the image, write the container's record and files, generate
//! its spec, run it, record how it ended, clean up.

use crate::config::EngineConfig;
use crate::connect::{self, HeldPorts};
use crate::containers::{Containers, process_start_time};
use crate::ids::new_id;
use crate::networks::{DEFAULT, NetworkError, Networks};
use crate::notices::Notices;
use crate::options::{Mount, NetworkPlan, RunOptions};
use crate::paths::Roots;
use crate::record::{Endpoint, LogDriver, NetworkMode, Record, Status};
use crate::spec;
use crate::spec::NetworkNs;
use crate::users;
use berth_image::digest::Digest;
use berth_image::local::{self, LocalError};
use berth_image::manifest::Platform;
use berth_image::pull::{self, PullError};
use berth_image::reference::Reference;
use berth_image::store::{ImageRecord, Placeholder, Store};
use berth_net::ports::{PortRequest, Protocol};
use berth_runtime::cgroups::{self, CgroupMode};
use berth_runtime::container::{
    self as runtime, DetachedIo, OutputSink, Remains, RuntimeError, StdioMode,
};
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
    /// Its network could not be set up.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// `-it` without a terminal on standard input.
    #[error("the input device is not a TTY")]
    NotATty,
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
            // Docker's client refuses it with 1, before anything is made.
            RunError::NotATty => 1,
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
    notices: &dyn Notices,
) -> Result<i32, RunError> {
    let (record, spec) = make(roots, config, options, notices, true)?;
    let id = record.id.clone();
    execute(
        roots,
        &id,
        Some((record, spec)),
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
    notices: &dyn Notices,
) -> Result<(Record, Spec), RunError> {
    make(roots, config, options, notices, false)
}

/// Creates a container; one that this process runs next (`claimed`) is recorded as running
/// here from the start, which saves claiming it with a second write of its record.
fn make(
    roots: &Roots,
    config: &EngineConfig,
    options: &RunOptions,
    notices: &dyn Notices,
    claimed: bool,
) -> Result<(Record, Spec), RunError> {
    if options.interactive
        && options.tty
        && !options.detach
        && !std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        return Err(RunError::NotATty);
    }
    let plan = options.plan().map_err(RunError::Options)?;
    if plan.network.mode == NetworkMode::Host
        && (!options.publish.is_empty() || options.publish_all)
    {
        notices.warning("Published ports are discarded when using host network mode");
    }
    let layout = cgroups::detect().map_err(io("read the cgroup layout"))?;
    let containers = Containers::new(&roots.root);
    let network = resolve_network(roots, config, &containers, &plan.network)?;
    tracing::debug!("options checked");

    let store = Store::open(&roots.root).map_err(|e| RunError::Io {
        what: "open the image store".into(),
        source: std::io::Error::other(e),
    })?;
    let (image_id, image) = find_or_pull(&store, config, options, notices)?;
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
        .or_else(|| network.hostname.clone())
        .unwrap_or_else(|| id[..12].to_owned());
    let mut ports = plan.network.ports.clone();
    if plan.network.publish_all && network.mode.on_bridges() {
        ports.extend(exposed_ports(&image_config["config"]));
    }
    let netns = connect::netns_path(&roots.run_root, &id)
        .display()
        .to_string();
    let dir = containers.dir(&id);
    let result = (|| {
        // Held until the record is written: no reclaim takes the directory for a leftover.
        let _creating = containers
            .make_dir(&id)
            .map_err(io(format!("create {}", dir.display())))?;
        for m in &plan.mounts {
            if let Mount::Bind { source, .. } = m {
                // Docker creates a missing host directory of a -v bind.
                if !Path::new(source).exists() {
                    fs::create_dir_all(source).map_err(io(format!("create {source}")))?;
                }
            }
        }
        fs::write(dir.join("hostname"), format!("{hostname}\n")).map_err(io("write hostname"))?;
        let (hosts, resolv) = if network.mode == NetworkMode::Host {
            let host = fs::read_to_string("/etc/hosts").unwrap_or_else(|_| connect::HOSTS.into());
            (
                with_extra_hosts(host, &plan.network.extra_hosts),
                fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            )
        } else {
            (
                etc_hosts(&plan.network.extra_hosts),
                resolv_conf(&plan.network),
            )
        };
        fs::write(dir.join("hosts"), hosts).map_err(io("write hosts"))?;
        fs::write(dir.join("resolv.conf"), resolv).map_err(io("write resolv.conf"))?;
        let cgroup_path = format!("{}/{id}", config.cgroup_parent());
        let host_caps: Vec<String> = caps::read(None, caps::CapSet::Bounding)
            .map(|set| set.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default();
        // A container on another's network shares its names too.
        let files_dir = network.files_of.clone().unwrap_or_else(|| dir.clone());
        let file = |n: &str| files_dir.join(n).display().to_string();
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
            cgroup_path: &cgroup_path,
            network: match network.mode {
                NetworkMode::Host => NetworkNs::Host,
                NetworkMode::Network(_) => NetworkNs::Path(&netns),
                NetworkMode::None | NetworkMode::Container(_) => NetworkNs::New,
            },
        };
        let spec = spec::generate(&plan, &ctx).map_err(RunError::Options)?;
        let swap_accounting = layout.mode == CgroupMode::V2
            || layout
                .root
                .join("memory/memory.memsw.limit_in_bytes")
                .exists();
        if options.memory_swap.is_some() && !swap_accounting {
            notices.warning(
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
            );
        }
        // Its environment may hold secrets (`-e`): readable by its owner only.
        crate::containers::write_private(
            &dir.join("config.json"),
            &serde_json::to_vec(&spec).expect("a spec serialises"),
        )
        .map_err(io("write config.json"))?;
        let mut lower: Vec<String> = init_layer(&store, &image, &layers)
            .into_iter()
            .chain(layers.iter().cloned())
            .map(|l| l.display().to_string())
            .collect();
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
            status: Status::Created,
            auto_remove: options.remove,
            restart: plan.restart,
            log_driver: plan.log_driver,
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
            networks: network
                .attach_to
                .iter()
                .map(|name| Endpoint {
                    network: name.clone(),
                    aliases: plan.network.aliases.clone(),
                    requested_ip: plan.network.ip,
                    ..Endpoint::default()
                })
                .collect(),
            network_mode: network.mode.clone(),
            ports,
            hostname: hostname.clone(),
            extra_hosts: plan.network.extra_hosts.clone(),
            ..Record::default()
        };
        // Names are unique: checked and taken under one lock. The one reading of every record
        // that the check needs also reclaims what killed berth processes left (before this
        // container connects to its networks), so that a run reads each record once.
        let _names = containers
            .lock_names()
            .map_err(io("lock container names"))?;
        let existing = containers.reclaim(&roots.run_root, &layout);
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
        let record = match claimed {
            true => claim(Record { name, ..record }),
            false => Record { name, ..record },
        };
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
/// exit; removes it afterwards when it was made with `--rm`. `created`, the record and spec of
/// a container this process has just made and claimed, saves reading and claiming it again.
pub fn execute(
    roots: &Roots,
    id: &str,
    created: Option<(Record, Spec)>,
    stdio: StdioMode,
    on_started: &mut dyn FnMut(),
) -> Result<i32, RunError> {
    let containers = Containers::new(&roots.root);
    let prepared = prepare(roots, &containers, id, created)?;
    let ended = runtime::run(&prepared.config, &prepared.layout, stdio, &mut |_| {
        on_started()
    });
    drop(prepared.held);
    let (result, remains) = match ended {
        Ok(ended) => (Ok(ended.exit), Some(ended.remains)),
        Err(e) => (Err(RunError::from(e)), None),
    };
    conclude(roots, &containers, &prepared.record, result, remains)
}

/// A detached container that runs: its pid and what berth holds of its output.
pub struct Detached {
    /// The container's init, a child of this process.
    pub pid: i32,
    /// Its output pipes, or its terminal.
    pub io: DetachedIo,
    /// The reservations of its published ports, held until it ends.
    pub held: HeldPorts,
    /// Whether its output is kept in a json-file log (`--log-driver none`: not).
    pub logged: bool,
}

/// Starts container `id` with its output on pipes and returns once it runs; this process must
/// then call `finish_detached` (possibly after an exec: it stays the container's parent).
pub fn launch_detached(roots: &Roots, id: &str) -> Result<Detached, RunError> {
    let containers = Containers::new(&roots.root);
    let prepared = prepare(roots, &containers, id, None)?;
    let open_stdin = prepared.record.interactive;
    match runtime::launch_detached(&prepared.config, &prepared.layout, open_stdin) {
        Ok((pid, io)) => Ok(Detached {
            pid,
            io,
            held: prepared.held,
            logged: prepared.record.log_driver != LogDriver::None,
        }),
        Err(e) => {
            let e = RunError::from(e);
            record_exit(
                roots,
                &containers,
                &prepared.record,
                Err(e.exit_code()),
                None,
            )?;
            Err(e)
        }
    }
}

/// Waits for a detached container to end, its output going to `sink`; records the exit (or
/// removes an `--rm` container) and returns its exit code. The record and the cgroup layout are
/// read after the wait, so that the relay waits with as little memory touched as it can.
pub fn finish_detached(
    roots: &Roots,
    id: &str,
    detached: Detached,
    sink: &mut OutputSink<'_>,
) -> Result<i32, RunError> {
    let code = match detached.io {
        DetachedIo::Pipes(runtime::Pipes {
            stdout,
            stderr,
            stdin: None,
        }) => runtime::wait_detached(detached.pid, stdout, stderr, sink).map_err(RunError::from),
        // A terminal or an open stdin: clients attach through the relay's socket.
        streams => {
            let socket = crate::attach::socket_path(&roots.run_root, id);
            crate::attach::serve(detached.pid, streams, &socket, sink)
                .map_err(io("relay the container's streams"))
        }
    };
    drop(detached.held);
    conclude_detached(roots, id, code)
}

/// After a detached container's end (`code`, or why the wait failed): its cgroup removed, its
/// exit recorded. Not inlined: its frame is not on the relay's stack while the relay waits.
#[inline(never)]
fn conclude_detached(
    roots: &Roots,
    id: &str,
    code: Result<i32, RunError>,
) -> Result<i32, RunError> {
    let containers = Containers::new(&roots.root);
    let record = containers
        .get(id)
        .map_err(io("read the container record"))?;
    let layout = cgroups::detect().map_err(io("read the cgroup layout"))?;
    let oom_killed = runtime::finish_cgroup(&layout, &record.cgroup_path);
    let result = code.map(|code| runtime::Exit { code, oom_killed });
    conclude(roots, &containers, &record, result, None)
}

/// A claimed container, ready for the runtime.
struct Prepared {
    record: Record,
    config: berth_runtime::container::ContainerConfig,
    layout: berth_runtime::cgroups::CgroupLayout,
    held: HeldPorts,
}

/// Claims the container (under its lock: two starts at once run it once), connects it to its
/// networks and builds the runtime's configuration from its spec.
fn prepare(
    roots: &Roots,
    containers: &Containers,
    id: &str,
    created: Option<(Record, Spec)>,
) -> Result<Prepared, RunError> {
    let dir = containers.dir(id);
    let layout = cgroups::detect().map_err(io("read the cgroup layout"))?;
    let mount_point = containers
        .make_mount_point()
        .map_err(io("create the containers' mount point"))?;
    let started_again = created.is_none();
    let (record, spec) = match created {
        Some(created) => created,
        None => {
            let spec = serde_json::from_slice(
                &fs::read(dir.join("config.json")).map_err(io("read config.json"))?,
            )
            .map_err(|e| RunError::Options(format!("config.json of {id}: {e}")))?;
            let record = containers
                .update(id, |r| {
                    if r.is_running() {
                        return None;
                    }
                    *r = claim(std::mem::take(r));
                    Some(r.clone())
                })
                .map_err(io("write the container record"))?
                .ok_or_else(|| RunError::Options(format!("container {id} is already running")))?;
            (record, spec)
        }
    };
    let overlay = Overlay {
        lower: record.layers.iter().map(PathBuf::from).collect(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        // An `--rm` container's layer goes with it: nothing to sync when it ends.
        volatile: record.auto_remove,
    };
    // An `--rm` container started again (`restart`): its layer was mounted volatile before,
    // and unmounted cleanly with the container (after a crash the next berth command removes
    // an `--rm` container).
    let cleared = match started_again && overlay.volatile {
        true => overlay
            .clear_volatile_mark()
            .map_err(io("clear the writable layer's volatile mark")),
        false => Ok(()),
    };
    let configured = cleared
        .and_then(|()| {
            berth_runtime::spec::container_config(id, &spec, &mount_point, Some(overlay))
                .map_err(|e| RunError::Options(e.to_string()))
        })
        .and_then(|config| {
            let (network, held) = connect::connect(roots, &record)?;
            tracing::debug!("network connected");
            Ok((config, network, held))
        });
    match configured {
        Ok((config, network, held)) => Ok(Prepared {
            record,
            config: berth_runtime::container::ContainerConfig { network, ..config },
            layout,
            held,
        }),
        Err(e) => {
            // Claimed but never started: end it like any other failed start.
            record_exit(roots, containers, &record, Err(e.exit_code()), None)?;
            Err(e)
        }
    }
}

/// `record` as this process runs it: running, owned by this process, started now, with no
/// outcome of an earlier run.
fn claim(record: Record) -> Record {
    let me = std::process::id() as i32;
    Record {
        status: Status::Running,
        owner: process_start_time(me).map(|start| (me, start)),
        started_at: Some(crate::time::now()),
        exit_code: None,
        oom_killed: false,
        stopped_by_user: false,
        restarting: false,
        ..record
    }
}

/// Records how the container ended and returns its exit code, or why it could not run.
/// `remains`: what is left of the container to remove, if anything.
fn conclude(
    roots: &Roots,
    containers: &Containers,
    record: &Record,
    result: Result<runtime::Exit, RunError>,
    remains: Option<Remains>,
) -> Result<i32, RunError> {
    record_exit(
        roots,
        containers,
        record,
        result
            .as_ref()
            .map(|e| (e.code, e.oom_killed))
            .map_err(RunError::exit_code),
        remains,
    )?;
    result.map(|exit| exit.code)
}

/// Disconnects the container from its networks and records how it ended (exit code and OOM
/// kill, or the code of a failed start), or removes it when it was made with `--rm`; removes
/// `remains`, what is left of the container when anything is (an `--rm` container's after
/// this process has exited, see `Containers::remove_soon`).
fn record_exit(
    roots: &Roots,
    containers: &Containers,
    record: &Record,
    outcome: Result<(i32, bool), i32>,
    remains: Option<Remains>,
) -> Result<(), RunError> {
    let id = &record.id;
    tracing::debug!(?outcome, "container ended");
    connect::disconnect(roots, record);
    tracing::debug!("network disconnected");
    // An `--rm` container goes, unless `restart` stopped it (the record on disk says so).
    if record.auto_remove && !containers.get(id).is_ok_and(|r| r.restarting) {
        if let Err(e) = containers.remove_soon(id, remains) {
            tracing::warn!(id, %e, "cannot remove the container's directory");
        }
        return Ok(());
    }
    if let Some(remains) = remains {
        remains.remove();
    }
    let (code, oom) = outcome.unwrap_or_else(|code| (code, false));
    containers
        .update(id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.oom_killed = oom;
            r.finished_at = Some(crate::time::now());
            r.owner = None;
        })
        .map_err(io("write the container record"))
}

/// The image id for the reference, pulling it first when it is not in the store.
fn find_or_pull(
    store: &Store,
    config: &EngineConfig,
    options: &RunOptions,
    notices: &dyn Notices,
) -> Result<(Digest, ImageRecord), RunError> {
    let read = || {
        store.images().map_err(|e| RunError::Io {
            what: "read images".into(),
            source: std::io::Error::other(e),
        })
    };
    let images = read()?;
    let wanted = match &options.platform {
        Some(p) => Some(
            Platform::parse(p)
                .ok_or_else(|| RunError::Options(format!("invalid platform \"{p}\"")))?,
        ),
        None => None,
    };
    let id = match local::resolve(&images, &options.image) {
        Ok(id) => match wanted.as_ref().map(|w| (w, platform_of(store, &id))) {
            // Docker pulls the asked platform over a local image of another one, and refuses
            // when none can be had.
            Some((wanted, Some(actual))) if !same_platform(wanted, &actual) => {
                let pulled = Reference::parse(&options.image)
                    .map_err(|e| e.to_string())
                    .and_then(|reference| {
                        let pull_options = config.pull_options(Some(wanted.clone()));
                        pull::pull(store, &reference, &pull_options, notices)
                            .map_err(|e| e.to_string())
                    });
                let pulled = pulled.map_err(|why| {
                    RunError::Options(format!(
                        "image with reference {} was found but does not match the specified platform: wanted {wanted}, actual: {actual} ({why})",
                        options.image
                    ))
                })?;
                return image_record(read()?, pulled.id, options);
            }
            _ => id,
        },
        Err(LocalError::NoSuchImage(_)) => {
            let reference =
                Reference::parse(&options.image).map_err(|e| RunError::Options(e.to_string()))?;
            notices.note(&format!("Unable to find image '{}' locally", options.image));
            let id = pull::pull(store, &reference, &config.pull_options(wanted), notices)?.id;
            return image_record(read()?, id, options);
        }
        Err(e) => return Err(e.into()),
    };
    image_record(images, id, options)
}

/// The record of image `id` in `images`.
fn image_record(
    images: berth_image::store::Images,
    id: Digest,
    options: &RunOptions,
) -> Result<(Digest, ImageRecord), RunError> {
    let record = images
        .images
        .get(&id)
        .cloned()
        .ok_or_else(|| RunError::Image(LocalError::NoSuchImage(options.image.clone())))?;
    Ok((id, record))
}

/// The platform that the config of image `id` names.
fn platform_of(store: &Store, id: &Digest) -> Option<Platform> {
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(id).ok()?).ok()?;
    let text = |key: &str| config[key].as_str().unwrap_or("").to_owned();
    Platform::parse(&format!(
        "{}/{}/{}",
        text("os"),
        text("architecture"),
        text("variant")
    ))
}

/// Whether an image of `actual` is one of `wanted`; an empty variant matches any.
fn same_platform(wanted: &Platform, actual: &Platform) -> bool {
    wanted.os == actual.os
        && wanted.architecture == actual.architecture
        && (wanted.variant.is_empty()
            || actual.variant.is_empty()
            || wanted.variant == actual.variant)
}

/// The mount targets of every container (berth's spec mounts /proc, /sys, /dev and the three
/// files of /etc it writes), as an image's init layer holds them where the image lacks them.
const MOUNT_TARGETS: [Placeholder; 6] = [
    Placeholder::Dir("proc"),
    Placeholder::Dir("sys"),
    Placeholder::Dir("dev"),
    Placeholder::File("etc/hostname"),
    Placeholder::File("etc/hosts"),
    Placeholder::File("etc/resolv.conf"),
];

/// The image's init layer (see `Store::init_layer`), when it has layers. Without one (a full
/// disk, say) the container still runs: its mount targets are then made in its own layer.
fn init_layer(store: &Store, image: &ImageRecord, layers_top_first: &[PathBuf]) -> Option<PathBuf> {
    let top = image.layers.last()?;
    store
        .init_layer(top, layers_top_first, &MOUNT_TARGETS)
        .map_err(|e| tracing::warn!(%e, "no init layer: mount targets go to the container's layer"))
        .ok()
}

/// The file at `path` in the topmost layer that has it, or "".
fn read_image_file(layers_top_first: &[PathBuf], path: &str) -> String {
    layers_top_first
        .iter()
        .find_map(|layer| fs::read_to_string(layer.join(path)).ok())
        .unwrap_or_default()
}

/// /etc/hosts before the container has an address: localhost and the `--add-host` entries
/// with a literal address.
fn etc_hosts(extra_hosts: &[String]) -> String {
    with_extra_hosts(connect::HOSTS.to_owned(), extra_hosts)
}

/// `hosts` with the `--add-host` entries that have a literal address appended.
fn with_extra_hosts(mut text: String, extra_hosts: &[String]) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for (name, ip) in extra_hosts.iter().filter_map(|e| e.split_once(':')) {
        if ip != "host-gateway" {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    text
}

/// The container's resolv.conf: `--dns`, `--dns-search` and `--dns-option` where given, else
/// the host's. A loopback nameserver (systemd-resolved's 127.0.0.53, say) means nothing in
/// another network namespace: as Docker does, it gives way to the upstream servers that
/// systemd-resolved lists, else to public ones.
fn resolv_conf(plan: &NetworkPlan) -> String {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let upstream = fs::read_to_string("/run/systemd/resolve/resolv.conf").unwrap_or_default();
    compose_resolv_conf(plan, &host, &upstream)
}

fn compose_resolv_conf(plan: &NetworkPlan, host: &str, upstream: &str) -> String {
    let entries = |text: &str, key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(key)).then(|| words.collect::<Vec<_>>().join(" "))
            })
            .collect()
    };
    let loopback = |ip: &String| ip.starts_with("127.") || ip == "::1";
    let mut servers: Vec<String> = plan.dns.iter().map(|ip| ip.to_string()).collect();
    if servers.is_empty() {
        servers = entries(host, "nameserver");
        servers.retain(|ip| !loopback(ip));
        if servers.is_empty() {
            servers = entries(upstream, "nameserver");
            servers.retain(|ip| !loopback(ip));
        }
        if servers.is_empty() {
            servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
        }
    }
    let search = match plan.dns_search.as_slice() {
        [] => entries(host, "search"),
        given => vec![given.join(" ")],
    };
    let options = match plan.dns_options.as_slice() {
        [] => entries(host, "options"),
        given => vec![given.join(" ")],
    };
    let mut text = String::new();
    for (key, values) in [("search", search), ("options", options)] {
        for value in values.iter().filter(|v| !v.is_empty()) {
            text.push_str(&format!("{key} {value}\n"));
        }
    }
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    text
}

/// The ports the image exposes (`ExposedPorts`), each to publish on a free host port (`-P`).
fn exposed_ports(image: &serde_json::Value) -> Vec<PortRequest> {
    let Some(exposed) = image["ExposedPorts"].as_object() else {
        return Vec::new();
    };
    exposed
        .keys()
        .filter_map(|key| {
            let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
            Some(PortRequest {
                host_ip: None,
                host_ports: (0, 0),
                container_port: port.parse().ok()?,
                protocol: Protocol::parse(protocol)?,
            })
        })
        .collect()
}

/// The network a new container goes on, resolved.
struct ResolvedNetwork {
    /// The record's network mode (`container:<full id>` for another's namespace).
    mode: NetworkMode,
    /// The networks to connect it to.
    attach_to: Vec<String>,
    /// The hostname it gets unless `--hostname` says otherwise.
    hostname: Option<String>,
    /// Whose directory the /etc files come from, when not its own.
    files_of: Option<PathBuf>,
}

/// Finds the network (made on first use for the default one) or the container whose
/// namespace the new container joins.
fn resolve_network(
    roots: &Roots,
    config: &EngineConfig,
    containers: &Containers,
    plan: &NetworkPlan,
) -> Result<ResolvedNetwork, RunError> {
    let networks = Networks::new(&roots.root, &roots.run_root);
    let mut resolved = ResolvedNetwork {
        mode: plan.mode.clone(),
        attach_to: Vec::new(),
        hostname: None,
        files_of: None,
    };
    match &plan.mode {
        NetworkMode::None => {}
        NetworkMode::Host => {
            resolved.hostname = Some(
                rustix::system::uname()
                    .nodename()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        NetworkMode::Container(other) => {
            let other = containers
                .find(other)
                .map_err(|e| RunError::Options(e.to_string()))?;
            resolved.mode = NetworkMode::Container(other.id.clone());
            resolved.hostname = Some(other.hostname.clone()).filter(|h| !h.is_empty());
            resolved.files_of = Some(containers.dir(&other.id));
        }
        NetworkMode::Network(name) if name == DEFAULT => {
            networks.default_network(&config.network_defaults())?;
            resolved.attach_to.push(DEFAULT.into());
        }
        NetworkMode::Network(name) => {
            let network = networks.find(name)?;
            resolved.mode = NetworkMode::Network(network.name.clone());
            resolved.attach_to.push(network.name);
        }
    }
    Ok(resolved)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_servers_for_upstream_ones() {
        let plan = NetworkPlan::default();
        let resolved = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let upstream = "nameserver 10.0.0.1\nnameserver 10.0.0.2\n";
        assert_eq!(
            compose_resolv_conf(&plan, resolved, upstream),
            "search lan\noptions edns0 trust-ad\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n"
        );
        assert_eq!(
            compose_resolv_conf(&plan, "nameserver 127.0.0.1\n", ""),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            compose_resolv_conf(&plan, "nameserver 192.0.2.53\n", upstream),
            "nameserver 192.0.2.53\n"
        );
        let given = NetworkPlan {
            dns: vec![std::net::Ipv4Addr::new(10, 1, 1, 1)],
            dns_search: vec!["a.test".into(), "b.test".into()],
            dns_options: vec!["ndots:2".into()],
            ..NetworkPlan::default()
        };
        assert_eq!(
            compose_resolv_conf(&given, resolved, upstream),
            "search a.test b.test\noptions ndots:2\nnameserver 10.1.1.1\n"
        );
    }

    #[test]
    fn exposed_ports_become_requests() {
        let image =
            serde_json::json!({ "ExposedPorts": { "80/tcp": {}, "53/udp": {}, "x/tcp": {} } });
        let mut ports: Vec<(u16, Protocol)> = exposed_ports(&image)
            .iter()
            .map(|p| (p.container_port, p.protocol))
            .collect();
        ports.sort_by_key(|p| p.0);
        assert_eq!(ports, [(53, Protocol::Udp), (80, Protocol::Tcp)]);
    }
}
