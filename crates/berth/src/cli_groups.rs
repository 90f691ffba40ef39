//! The `container` and `system` command groups, as clap derive types, and the arguments of
//! `rename`, `update`, `df` and the prunes. Beside `cli.rs`, whose argument types the
//! `container` group reuses: `container ls` is `ps`, `container rm` is `rm`, and so on.

use crate::cli::{
    CpArgs, Deferred, ExecArgs, FormatArgs, InspectArgs, KillArgs, LogsArgs, NamesArgs, PortArgs,
    PsArgs, RmArgs, RunArgs, StartArgs, StatsArgs, StopArgs, TopArgs,
};
use clap::{Args, Subcommand};

/// `berth container ...`: Docker's names for the container commands.
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Attach local standard output and error streams to a running container
    Attach(Deferred<TopArgs>),
    /// Create a new image from a container's changes
    Commit(Deferred<crate::commands::image_out::CommitArgs>),
    /// Copy files/folders between a container and the local filesystem
    Cp(Deferred<CpArgs>),
    /// Create a new container
    #[command(override_usage = "berth container create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Create(Deferred<Box<RunArgs>>),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(Deferred<crate::commands::image_out::DiffArgs>),
    /// Execute a command in a running container
    #[command(override_usage = "berth container exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(Deferred<ExecArgs>),
    /// Export a container's filesystem as a tar archive
    Export(Deferred<crate::commands::image_out::ExportArgs>),
    /// Display detailed information on one or more containers
    Inspect(Deferred<InspectArgs>),
    /// Kill one or more running containers
    Kill(Deferred<KillArgs>),
    /// Fetch the logs of a container
    Logs(Deferred<LogsArgs>),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(Deferred<PsArgs>),
    /// Pause all processes within one or more containers
    Pause(Deferred<NamesArgs>),
    /// List port mappings or a specific mapping for the container
    Port(Deferred<PortArgs>),
    /// Remove all stopped containers
    Prune(Deferred<ContainerPruneArgs>),
    /// Rename a container
    Rename(Deferred<RenameArgs>),
    /// Restart one or more containers
    Restart(Deferred<StopArgs>),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(Deferred<RmArgs>),
    /// Create and run a new container from an image
    #[command(override_usage = "berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Run(Deferred<Box<RunArgs>>),
    /// Start one or more stopped containers
    Start(Deferred<StartArgs>),
    /// Display a live stream of container(s) resource usage statistics
    Stats(Deferred<StatsArgs>),
    /// Stop one or more running containers
    Stop(Deferred<StopArgs>),
    /// Display the running processes of a container
    Top(Deferred<TopArgs>),
    /// Unpause all processes within one or more containers
    Unpause(Deferred<NamesArgs>),
    /// Update configuration of one or more containers
    Update(Deferred<UpdateArgs>),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Deferred<NamesArgs>),
}

impl ContainerCommand {
    /// Whether it starts processes inside a container (see `makes_container_processes`).
    pub fn makes_container_processes(&self) -> bool {
        matches!(
            self,
            ContainerCommand::Run(_)
                | ContainerCommand::Start(_)
                | ContainerCommand::Restart(_)
                | ContainerCommand::Exec(_)
        )
    }
}

/// `berth system ...`
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show berth disk usage
    Df(Deferred<DfArgs>),
    /// Display system-wide information
    Info(Deferred<FormatArgs>),
    /// Remove unused data
    Prune(Deferred<SystemPruneArgs>),
    /// Run the Docker Engine API service on a socket
    #[command(override_usage = "berth system service [OPTIONS] [URI]")]
    Service(Deferred<ServiceArgs>),
}

/// `berth system service`
#[derive(Args, Debug)]
pub struct ServiceArgs {
    /// Seconds without a connection before the service exits (0: never)
    #[arg(short, long, default_value_t = 5)]
    pub time: u64,
    /// Where to listen: unix:///PATH or tcp://HOST:PORT
    pub uri: Option<String>,
}

/// `berth rename`
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container
    pub container: String,
    /// Its new name
    pub new_name: String,
}

/// `berth update`
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth container prune`
#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>[=<value>]")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `berth network prune`
#[derive(Args, Debug)]
pub struct NetworkPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// `berth system prune`
#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

/// `berth system df`
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
}

#[cfg(test)]
mod tests {
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn the_container_group_has_dockers_aliases() {
        for alias in ["ls", "ps", "list"] {
            let cli = Cli::try_parse_from(["berth", "container", alias, "-a"]).unwrap();
            assert!(
                matches!(&cli.command, Command::Container(super::ContainerCommand::Ls(args)) if args.all),
                "{cli:?}"
            );
        }
        let cli = Cli::try_parse_from(["berth", "container", "remove", "-f", "x"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Container(super::ContainerCommand::Rm(_))
        ));
        let cli = Cli::try_parse_from(["berth", "update", "--memory-swap", "-1", "-m", "64m", "x"])
            .unwrap();
        let Command::Update(args) = &cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(args.memory_swap.as_deref(), Some("-1"));
        assert!(Cli::try_parse_from(["berth", "rename", "x"]).is_err());
    }
}
