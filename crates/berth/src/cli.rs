//! The command line, as clap derive types. Parsing does no I/O: commands get plain values.

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

/// berth: a daemonless, Docker-compatible container engine.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about, propagate_version = true)]
pub struct Cli {
    /// Root of persistent data: images, layers, containers [default: /var/lib/berth]
    #[arg(long, global = true, env = "BERTH_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Root of runtime state [default: /run/berth]
    #[arg(
        long = "run-root",
        global = true,
        env = "BERTH_RUN_ROOT",
        value_name = "DIR"
    )]
    pub run_root: Option<PathBuf>,

    /// Config file [default: /etc/berth/config.json]
    #[arg(long, global = true, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Allow plain HTTP to this registry (host:port); may be repeated
    #[arg(long = "insecure-registry", global = true, value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,

    /// Set the logging level ("error"|"warn"|"info"|"debug"|"trace")
    #[arg(
        long = "log-level",
        global = true,
        env = "BERTH_LOG",
        value_name = "LEVEL"
    )]
    pub log_level: Option<String>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every berth command.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download an image from a registry
    Pull(Deferred<PullArgs>),
    /// Upload an image to a registry
    Push(Deferred<PushArgs>),
    /// List images
    Images(Deferred<ImagesArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(Deferred<TagArgs>),
    /// Remove one or more images
    Rmi(Deferred<RmiArgs>),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(Deferred<SaveArgs>),
    /// Load an image from a tar archive or STDIN
    Load(Deferred<LoadArgs>),
    /// Create and run a new container from an image
    #[command(override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Run(Deferred<Box<RunArgs>>),
    /// Create a new container
    #[command(override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Create(Deferred<Box<RunArgs>>),
    /// Start one or more stopped containers
    Start(Deferred<StartArgs>),
    /// Stop one or more running containers
    Stop(Deferred<StopArgs>),
    /// Restart one or more containers
    Restart(Deferred<StopArgs>),
    /// Kill one or more running containers
    Kill(Deferred<KillArgs>),
    /// Remove one or more containers
    Rm(Deferred<RmArgs>),
    /// List containers
    Ps(Deferred<PsArgs>),
    /// Fetch the logs of a container
    Logs(Deferred<LogsArgs>),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Deferred<NamesArgs>),
    /// Copy files/folders between a container and the local filesystem
    Cp(Deferred<CpArgs>),
    /// Attach local standard output and error streams to a running container
    Attach(Deferred<TopArgs>),
    /// Pause all processes within one or more containers
    Pause(Deferred<NamesArgs>),
    /// Unpause all processes within one or more containers
    Unpause(Deferred<NamesArgs>),
    /// Display the running processes of a container
    Top(Deferred<TopArgs>),
    /// Display a live stream of container(s) resource usage statistics
    Stats(Deferred<StatsArgs>),
    /// Runs a detached container (berth's own supervisor; not for direct use)
    #[command(name = "__supervise", hide = true)]
    Supervise(Deferred<SuperviseArgs>),
    /// Execute a command in a running container
    #[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(Deferred<ExecArgs>),
    /// Return low-level information on berth objects
    Inspect(Deferred<InspectArgs>),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// List port mappings or a specific mapping for the container
    Port(Deferred<PortArgs>),
    /// Log in to a registry
    Login(Deferred<LoginArgs>),
    /// Log out from a registry
    Logout(Deferred<LogoutArgs>),
    /// Rename a container
    Rename(Deferred<crate::cli_groups::RenameArgs>),
    /// Update configuration of one or more containers
    Update(Deferred<crate::cli_groups::UpdateArgs>),
    /// Manage containers
    #[command(subcommand)]
    Container(crate::cli_groups::ContainerCommand),
    /// Manage berth
    #[command(subcommand)]
    System(crate::cli_groups::SystemCommand),
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth build [OPTIONS] PATH | -")]
    Build(Deferred<crate::commands::build::BuildArgs>),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Create a new image from a container's changes
    Commit(Deferred<crate::commands::image_out::CommitArgs>),
    /// Export a container's filesystem as a tar archive
    Export(Deferred<crate::commands::image_out::ExportArgs>),
    /// Import the contents from a tarball to create a filesystem image
    Import(Deferred<crate::commands::image_out::ImportArgs>),
    /// Show the history of an image
    History(Deferred<crate::commands::image_out::HistoryArgs>),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(Deferred<crate::commands::image_out::DiffArgs>),
    /// Get real time events from the server
    Events(Deferred<EventsArgs>),
    /// Show the berth version information
    Version(Deferred<FormatArgs>),
    /// Display system-wide information
    Info(Deferred<FormatArgs>),
}

/// `berth builder ...`
#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth builder build [OPTIONS] PATH | -")]
    Build(Deferred<crate::commands::build::BuildArgs>),
}

/// `berth image ...`
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    #[command(override_usage = "berth image build [OPTIONS] PATH | -")]
    Build(Deferred<crate::commands::build::BuildArgs>),
    /// Display detailed information on one or more images
    Inspect(Deferred<ImageInspectArgs>),
    /// Remove unused images
    Prune(Deferred<PruneArgs>),
    /// List images
    #[command(alias = "list")]
    Ls(Deferred<ImagesArgs>),
    /// Download an image from a registry
    Pull(Deferred<PullArgs>),
    /// Upload an image to a registry
    Push(Deferred<PushArgs>),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(Deferred<RmiArgs>),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(Deferred<TagArgs>),
    /// Show the history of an image
    History(Deferred<crate::commands::image_out::HistoryArgs>),
    /// Import the contents from a tarball to create a filesystem image
    Import(Deferred<crate::commands::image_out::ImportArgs>),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(Deferred<SaveArgs>),
    /// Load an image from a tar archive or STDIN
    Load(Deferred<LoadArgs>),
}

/// `berth run`
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (`-h` is --hostname, as in Docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Bind mount a volume (/host/path:/container/path[:ro], NAME:/container/path[:ro], /container/path)
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|tmpfs|volume,...)
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Mount a tmpfs directory (/path[:options])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Connect a container to a network (bridge, none, host, container:NAME, or a network's name)
    #[arg(long, visible_alias = "net", default_value = "bridge")]
    pub network: String,
    /// Publish a container's port(s) to the host ([hostIP:][hostPort:]containerPort[/proto])
    #[arg(short, long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)
    #[arg(long)]
    pub restart: Option<String>,
    /// Logging driver for the container (json-file, none)
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<String>,
    /// The healthcheck
    #[command(flatten)]
    pub health: HealthArgs,
    /// The image, then the container's command and its arguments (all from IMAGE on is the
    /// container's, verbatim)
    #[arg(value_names = ["IMAGE", "COMMAND"], required = true, num_args = 1.., trailing_var_arg = true)]
    image_and_command: Vec<String>,
}

impl RunArgs {
    /// The image.
    pub fn image(&self) -> &str {
        &self.image_and_command[0]
    }

    /// The container's command and its arguments: what follows the image.
    pub fn command(&self) -> &[String] {
        &self.image_and_command[1..]
    }
}

/// Container names or ids.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth inspect`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' for compact JSON, or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Containers or images
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth start`
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth stop` and `berth restart`
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short, long, default_value_t = 10)]
    pub time: u64,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth kill`
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth rm`
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth ps`
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output (status, name, id, label, ancestor, exited, network, volume, before,
    /// since, health)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Show n last created containers (includes all states; -1 for no limit)
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

/// `berth logs`
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339) or relative (e.g. 42s, 10m, 1h)
    #[arg(long)]
    pub since: Option<String>,
    /// The container
    pub container: String,
}

/// `berth cp`
#[derive(Args, Debug)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH or a host path
    pub source: String,
    /// CONTAINER:DEST_PATH or a host path
    pub destination: String,
}

/// `berth top`
#[derive(Args, Debug)]
pub struct TopArgs {
    /// The container
    pub container: String,
}

/// `berth stats`
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Containers (default: every running one)
    pub containers: Vec<String>,
}

/// `berth exec`
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// The container, then the command and its arguments (all after CONTAINER is the
    /// command's, verbatim)
    #[arg(value_names = ["CONTAINER", "COMMAND"], required = true, num_args = 2.., trailing_var_arg = true)]
    container_and_command: Vec<String>,
}

impl ExecArgs {
    /// The container.
    pub fn container(&self) -> &str {
        &self.container_and_command[0]
    }

    /// The command and its arguments: what follows the container.
    pub fn command(&self) -> &[String] {
        &self.container_and_command[1..]
    }
}

/// `berth __supervise`
#[derive(Args, Debug)]
pub struct SuperviseArgs {
    /// Started by a restart policy: no one waits for the start
    #[arg(long)]
    pub restarted: bool,
    /// The container id
    pub id: String,
}

/// `berth pull`
#[derive(Args, Debug)]
pub struct PullArgs {
    /// The image: NAME[:TAG|@DIGEST]
    pub name: String,
    /// Suppress verbose output: print the digest alone
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if the image is multi-platform (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
}

/// `berth push`
#[derive(Args, Debug)]
pub struct PushArgs {
    /// The image: NAME[:TAG]
    pub name: String,
    /// Push all tags of an image to the repository
    #[arg(short, long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

/// `berth images`
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Only images of this repository [REPOSITORY[:TAG]]
    pub repository: Option<String>,
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output (dangling=true|false, label=KEY[=VALUE], reference=PATTERN)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// `berth tag`
#[derive(Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// `berth rmi`
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Images to remove
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Force removal of the image
    #[arg(short, long)]
    pub force: bool,
}

/// `berth save`
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Images to save
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// `berth load`
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

/// `berth image inspect`
#[derive(Args, Debug)]
pub struct ImageInspectArgs {
    /// Format output using a custom template ('json' for compact JSON, or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Images to inspect
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth image prune`
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// `berth login`
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The registry [default: docker.io]
    pub server: Option<String>,
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
}

/// `berth logout`
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry [default: docker.io]
    pub server: Option<String>,
}

/// `berth network ...`
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create(Deferred<NetworkCreateArgs>),
    /// List networks
    #[command(alias = "list")]
    Ls(Deferred<NetworkLsArgs>),
    /// Display detailed information on one or more networks
    Inspect(Deferred<NetworkInspectArgs>),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(Deferred<NetworkNamesArgs>),
    /// Connect a container to a network
    Connect(Deferred<NetworkConnectArgs>),
    /// Disconnect a container from a network
    Disconnect(Deferred<NetworkDisconnectArgs>),
    /// Remove all unused networks
    Prune(Deferred<crate::cli_groups::NetworkPruneArgs>),
}

/// `berth network create`
#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Driver to manage the Network (bridge)
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Option<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Option<String>,
    /// The network's name
    pub name: String,
}

/// `berth network ls`
#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// `berth network inspect`
#[derive(Args, Debug)]
pub struct NetworkInspectArgs {
    /// Format output using a custom template ('json' for compact JSON, or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Networks
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// Network names or ids.
#[derive(Args, Debug)]
pub struct NetworkNamesArgs {
    /// Networks
    #[arg(required = true)]
    pub networks: Vec<String>,
}

/// `berth network connect`
#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// The network
    pub network: String,
    /// The container
    pub container: String,
}

/// `berth network disconnect`
#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub force: bool,
    /// The network
    pub network: String,
    /// The container
    pub container: String,
}

/// `berth volume ...`
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(Deferred<VolumeCreateArgs>),
    /// List volumes
    #[command(alias = "list")]
    Ls(Deferred<VolumeLsArgs>),
    /// Display detailed information on one or more volumes
    Inspect(Deferred<VolumeInspectArgs>),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(Deferred<VolumeRmArgs>),
    /// Remove unused local volumes
    Prune(Deferred<VolumePruneArgs>),
}

/// `berth volume create`
#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Set driver specific options (type=tmpfs|bind|ext4..., device=..., o=...)
    #[arg(short, long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// The volume's name (a random one when none is given)
    pub name: Option<String>,
}

/// `berth volume ls`
#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (dangling=true|false, name=..., label=KEY[=VALUE], driver=...)
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// `berth volume prune`
#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// `berth volume inspect`
#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template ('json' for compact JSON, or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Volumes
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `berth volume rm`
#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes (a missing one is no error)
    #[arg(short, long)]
    pub force: bool,
    /// Volumes
    #[arg(required = true)]
    pub volumes: Vec<String>,
}

/// `berth version` and `berth info`
#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a custom template ('json' for JSON, or a Go template)
    #[arg(short, long)]
    pub format: Option<String>,
}

/// `berth port`
#[derive(Args, Debug)]
pub struct PortArgs {
    /// The container
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// A command's arguments, defined only when that command runs (clap's
/// `Command::defer`): parsing then builds one command's arguments instead of every command's,
/// which took a quarter of a millisecond and a hundred page faults of each berth process.
#[derive(Debug)]
pub struct Deferred<T>(T);

impl<T> std::ops::Deref for Deferred<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Deferred)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args_for_update))
    }
}

/// `augment(cmd)` with `cmd`'s description as it was: the command's own (its variant's doc
/// comment), not that of its arguments' type, which clap would otherwise apply last.
fn keep_about(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let cmd = augment(cmd);
    match (about, long_about) {
        (Some(about), Some(long_about)) => cmd.about(about).long_about(long_about),
        (Some(about), None) => cmd.about(about).long_about(None),
        (None, Some(long_about)) => cmd.about(None).long_about(long_about),
        (None, None) => cmd.about(None).long_about(None),
    }
}

/// `run`/`create`'s healthcheck options.
#[derive(Args, Debug, Default)]
pub struct HealthArgs {
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_parser = duration)]
    pub interval: Option<std::time::Duration>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_parser = duration)]
    pub timeout: Option<std::time::Duration>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", allow_hyphen_values = true)]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_parser = duration)]
    pub start_period: Option<std::time::Duration>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_parser = duration)]
    pub start_interval: Option<std::time::Duration>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub disabled: bool,
}

/// A Go duration flag (`1s`, `500ms`, `1m30s`).
fn duration(text: &str) -> Result<std::time::Duration, String> {
    crate::units::go_duration(text).ok_or_else(|| format!("invalid duration: {text}"))
}

/// `berth events`
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output: "json" for one JSON object per line (default: Docker's text lines)
    #[arg(long)]
    pub format: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_deferred_command_parses_and_keeps_its_own_description() {
        let help = Cli::try_parse_from(["berth", "run", "--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let help = help.to_string();
        assert!(
            help.starts_with("Create and run a new container from an image"),
            "{help}"
        );
        assert!(help.contains("--memory"), "{help}");
        let cli = Cli::try_parse_from(["berth", "--root", "/r", "run", "--rm", "-m", "64m", "img"])
            .unwrap();
        let Command::Run(args) = &cli.command else {
            panic!("{cli:?}")
        };
        assert!(args.rm);
        assert_eq!(args.memory.as_deref(), Some("64m"));
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/r")));
    }

    fn run_args(argv: &[&str]) -> Box<RunArgs> {
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(Deferred(args)) | Command::Create(Deferred(args)) => args,
            other => panic!("{other:?}"),
        }
    }

    // Docker stops parsing its own flags at IMAGE (and exec's at CONTAINER): what follows is
    // the container's command, verbatim, with no `--` needed.
    #[test]
    fn everything_from_the_image_on_is_the_containers_command() {
        let args = run_args(&[
            "berth",
            "run",
            "--entrypoint",
            "/bin/echo",
            "img",
            "-e",
            "hi",
        ]);
        assert_eq!(args.image(), "img");
        assert_eq!(args.command(), ["-e", "hi"]);
        assert!(args.env.is_empty());
        let args = run_args(&["berth", "create", "-e", "A=1", "img", "-t", "--rm", "--"]);
        assert_eq!(args.command(), ["-t", "--rm", "--"]);
        assert!(!args.tty && !args.rm);
        assert_eq!(args.env, ["A=1"]);
        let args = run_args(&["berth", "run", "--", "img", "sh", "-c", "echo $0"]);
        assert_eq!(
            (args.image(), args.command()),
            ("img", &["sh".to_owned(), "-c".into(), "echo $0".into()][..])
        );
        assert!(run_args(&["berth", "run", "img"]).command().is_empty());
        let Command::Exec(Deferred(args)) =
            Cli::try_parse_from(["berth", "exec", "-u", "0", "web", "ls", "-l", "-u"])
                .unwrap()
                .command
        else {
            panic!()
        };
        assert_eq!(
            (args.container(), args.command()),
            ("web", &["ls".to_owned(), "-l".into(), "-u".into()][..])
        );
        assert_eq!(args.user.as_deref(), Some("0"));
    }

    #[test]
    fn berths_own_flags_and_usage_stay_checked() {
        let unknown = Cli::try_parse_from(["berth", "run", "--bogus", "img"]).unwrap_err();
        assert_eq!(unknown.kind(), clap::error::ErrorKind::UnknownArgument);
        let missing = Cli::try_parse_from(["berth", "run", "-d"]).unwrap_err();
        assert_eq!(
            missing.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(Cli::try_parse_from(["berth", "exec", "web"]).is_err());
        for (command, usage) in [
            ("run", "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"),
            ("create", "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]"),
            ("exec", "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]"),
        ] {
            let help = Cli::try_parse_from(["berth", command, "--help"])
                .unwrap_err()
                .to_string();
            assert!(help.contains(usage), "{help}");
        }
    }
}
