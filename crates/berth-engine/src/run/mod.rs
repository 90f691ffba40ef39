//! `berth run`: find (or pull) the image, write the container's record and files, generate
//! its spec, run it, record how it ended, clean up.

mod detached;
mod error;
mod files;
mod image;
mod lifecycle;

pub use detached::{Detached, finish_detached, launch_detached};
pub use error::RunError;

use crate::config::EngineConfig;
use crate::connect;
use crate::containers::Containers;
use crate::ids::new_id;
use crate::networks::{DEFAULT, Networks};
use crate::notices::Notices;
use crate::options::{Mount, NetworkPlan, RunOptions, RunPlan};
use crate::paths::Roots;
use crate::record::{Endpoint, NetworkMode, Record, Status};
use crate::spec;
use crate::spec::NetworkNs;
use crate::users;
use crate::volumes;
use berth_error::Context;
use berth_image::store::Store;
use berth_runtime::cgroups::{self, CgroupMode};
use berth_runtime::container::{self as runtime, StdioMode};
use files::{etc_hosts, resolv_conf, with_extra_hosts};
use image::{exposed_ports, find_or_pull, init_layer, read_image_file};
use lifecycle::{claim, conclude, prepare};
use oci_spec::runtime::Spec;
use std::fs;
use std::path::{Path, PathBuf};
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
    let mut plan = checked_plan(options, notices)?;
    let layout = cgroups::detect().context("read the cgroup layout")?;
    let containers = Containers::new(&roots.root);
    let network = resolve_network(roots, config, &containers, &plan.network)?;
    tracing::debug!("options checked");

    let store = Store::open(&roots.root)
        .map_err(std::io::Error::other)
        .context("open the image store")?;
    let Found {
        id: image_id,
        record: image,
        config: image_config,
        layers,
    } = found_image(&store, config, options, notices)?;
    let healthcheck =
        crate::health::resolve(&options.health, &image_config["config"]["Healthcheck"])
            .map_err(RunError::Options)?;
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

    let id = new_id().context("make a container id")?;
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
    // Anonymous volumes made for it: removed again when it cannot be made.
    let mut made_volumes = Vec::new();
    let result = (|| {
        // Held until the record is written: no reclaim takes the directory for a leftover.
        let _creating = containers
            .make_dir(&id)
            .with_context(|| format!("create {}", dir.display()))?;
        create_bind_sources(&plan.mounts)?;
        let lower = lower_dirs(&store, &image, &layers, &dir)?;
        let attached = volumes::attach(
            &containers,
            &plan.mounts,
            &plan.volumes_from,
            &image_config["config"]["Volumes"],
            &lower,
            &dir,
        )
        .map_err(|e| RunError::Options(e.to_string()))?;
        made_volumes = attached.made;
        plan.mounts = attached.mounts;
        write_etc_files(&dir, &hostname, &network.mode, &plan.network)?;
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
        if options.memory_swap.is_some() && !swap_accounting(&layout) {
            notices.warning(
                "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
            );
        }
        // Its environment may hold secrets (`-e`): readable by its owner only.
        crate::containers::write_private(
            &dir.join("config.json"),
            &serde_json::to_vec(&spec).expect("a spec serialises"),
        )
        .context("write config.json")?;
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
            stop_signal: stop_signal(options, &image_config),
            networks: endpoints(&network.attach_to, &plan.network),
            network_mode: network.mode.clone(),
            ports,
            hostname: hostname.clone(),
            extra_hosts: plan.network.extra_hosts.clone(),
            mounts: attached.points,
            labels: image::labels(&image_config, &options.labels),
            healthcheck,
            ..Record::default()
        };
        let record = save_named(
            roots,
            &containers,
            &layout,
            options.name.as_deref(),
            record,
            claimed,
        )?;
        tracing::debug!(id, "container files, spec and record written");
        crate::events::container(&roots.root, &record, "create", &[]);
        Ok((record, spec))
    })();
    if result.is_err() {
        if let Err(e) = containers.remove(&id) {
            tracing::warn!(id, %e, "cannot remove the container's directory");
        }
        volumes::remove_made(&containers, &made_volumes);
    }
    result
}

/// The run's checked options: `-it` needs a terminal; published ports mean nothing with the
/// host's network (a warning, as Docker's).
fn checked_plan(options: &RunOptions, notices: &dyn Notices) -> Result<RunPlan, RunError> {
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
    Ok(plan)
}

/// Makes the missing host directories of `-v` binds, as Docker does.
fn create_bind_sources(mounts: &[Mount]) -> Result<(), RunError> {
    for m in mounts {
        if let Mount::Bind { source, .. } = m
            && !Path::new(source).exists()
        {
            fs::create_dir_all(source).with_context(|| format!("create {source}"))?;
        }
    }
    Ok(())
}

/// The overlay's lower directories, top first: the image's init layer, then its layers (an
/// empty directory in the container's for an image without layers).
fn lower_dirs(
    store: &Store,
    image: &berth_image::store::ImageRecord,
    layers: &[PathBuf],
    dir: &Path,
) -> Result<Vec<String>, RunError> {
    let mut lower: Vec<String> = init_layer(store, image, layers)
        .into_iter()
        .chain(layers.iter().cloned())
        .map(|l| l.display().to_string())
        .collect();
    if lower.is_empty() {
        let empty = dir.join("empty");
        fs::create_dir_all(&empty).context("create an empty layer")?;
        lower.push(empty.display().to_string());
    }
    Ok(lower)
}

/// The image a container is made of, found or pulled.
struct Found {
    /// Its id (the config digest).
    id: berth_image::digest::Digest,
    /// Its record in the store.
    record: berth_image::store::ImageRecord,
    /// Its config.
    config: serde_json::Value,
    /// Its layers' directories, top first.
    layers: Vec<PathBuf>,
}

/// Finds the image `options` name, pulling it when it is missing, with its config and layers.
fn found_image(
    store: &Store,
    config: &EngineConfig,
    options: &RunOptions,
    notices: &dyn Notices,
) -> Result<Found, RunError> {
    let (id, record) = find_or_pull(store, config, options, notices)?;
    let image_config: serde_json::Value = store
        .read_blob(&id)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            RunError::Options(format!(
                "the config of image {} is missing or unreadable",
                id.short()
            ))
        })?;
    tracing::debug!(image = %id, "image found");
    let layers = record
        .layers
        .iter()
        .rev()
        .map(|chain| store.layer_dir(chain).join("diff"))
        .collect();
    Ok(Found {
        id,
        record,
        config: image_config,
        layers,
    })
}

/// Writes the container's `hostname`, `hosts` and `resolv.conf` into its directory: the
/// host's own two with `--network host`, else made from the options.
fn write_etc_files(
    dir: &Path,
    hostname: &str,
    mode: &NetworkMode,
    plan: &NetworkPlan,
) -> Result<(), RunError> {
    fs::write(dir.join("hostname"), format!("{hostname}\n")).context("write hostname")?;
    let (hosts, resolv) = if *mode == NetworkMode::Host {
        let host = fs::read_to_string("/etc/hosts").unwrap_or_else(|_| connect::HOSTS.into());
        (
            with_extra_hosts(host, &plan.extra_hosts),
            fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        )
    } else {
        (etc_hosts(&plan.extra_hosts), resolv_conf(plan))
    };
    fs::write(dir.join("hosts"), hosts).context("write hosts")?;
    fs::write(dir.join("resolv.conf"), resolv).context("write resolv.conf")?;
    Ok(())
}

/// Whether the host accounts for swap (v2, or v1's `memory.memsw.*`).
fn swap_accounting(layout: &cgroups::CgroupLayout) -> bool {
    layout.mode == CgroupMode::V2
        || layout
            .root
            .join("memory/memory.memsw.limit_in_bytes")
            .exists()
}

/// `--stop-signal`, else the image's StopSignal, else SIGTERM.
fn stop_signal(options: &RunOptions, image_config: &serde_json::Value) -> String {
    options
        .stop_signal
        .clone()
        .or_else(|| {
            image_config["config"]["StopSignal"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "SIGTERM".into())
}

/// The container's endpoints on the networks it joins, with the run's aliases and address.
fn endpoints(networks: &[String], plan: &NetworkPlan) -> Vec<Endpoint> {
    networks
        .iter()
        .map(|name| Endpoint {
            network: name.clone(),
            aliases: plan.aliases.clone(),
            requested_ip: plan.ip,
            ..Endpoint::default()
        })
        .collect()
}

/// Names the record (`name`, or a generated one) and saves it. Names are unique: checked and
/// taken under one lock. The one reading of every record that the check needs also reclaims
/// what killed berth processes left (before this container connects to its networks), so that
/// a run reads each record once. A `volume rm` decides under this lock too: it saw no record,
/// or this sees no volume.
fn save_named(
    roots: &Roots,
    containers: &Containers,
    layout: &cgroups::CgroupLayout,
    name: Option<&str>,
    record: Record,
    claimed: bool,
) -> Result<Record, RunError> {
    let _names = containers.lock_names().context("lock container names")?;
    let existing = containers.reclaim(&roots.run_root, layout);
    volumes::still_there(&roots.root, &record.mounts)
        .map_err(|e| RunError::Options(e.to_string()))?;
    let name = match name {
        Some(name) => {
            if let Some(other) = existing.iter().find(|r| r.name == name) {
                return Err(RunError::Options(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                )));
            }
            name.to_owned()
        }
        None => generated_name(&record.id, &existing),
    };
    let record = match claimed {
        true => claim(Record { name, ..record }),
        false => Record { name, ..record },
    };
    containers
        .save(&record)
        .context("write the container record")?;
    Ok(record)
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
    let ended = runtime::run(&prepared.config, &prepared.layout, stdio, &mut |pid| {
        lifecycle::started(roots, &prepared.record, pid);
        on_started()
    });
    drop(prepared.held);
    let (result, remains) = match ended {
        Ok(ended) => (Ok(ended.exit), Some(ended.remains)),
        Err(e) => (Err(RunError::from(e)), None),
    };
    conclude(roots, &containers, &prepared.record, result, remains)
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
