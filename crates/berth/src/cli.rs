//! The command line, as clap derive types. Parsing does no I/O: commands get plain values.

use clap::{Args, Parser, Subcommand};
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
    Pull(Unbuilt),
    /// List images
    Images(Unbuilt),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(Unbuilt),
    /// Remove one or more images
    Rmi(Unbuilt),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Create and run a new container from an image
    Run(Unbuilt),
    /// Create a new container
    Create(Unbuilt),
    /// Start one or more stopped containers
    Start(Unbuilt),
    /// Stop one or more running containers
    Stop(Unbuilt),
    /// Kill one or more running containers
    Kill(Unbuilt),
    /// Remove one or more containers
    Rm(Unbuilt),
    /// List containers
    Ps(Unbuilt),
    /// Fetch the logs of a container
    Logs(Unbuilt),
    /// Execute a command in a running container
    Exec(Unbuilt),
    /// Return low-level information on berth objects
    Inspect(Unbuilt),
    /// Manage networks
    Network(Unbuilt),
    /// Log in to a registry
    Login(Unbuilt),
    /// Log out from a registry
    Logout(Unbuilt),
    /// Show the berth version information
    Version,
    /// Display system-wide information
    Info,
}

/// `berth image ...`
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Display detailed information on one or more images
    Inspect(Unbuilt),
    /// Remove unused images
    Prune(Unbuilt),
}

/// The arguments of a command that is not built yet: taken as they come, so that the command
/// can say it is not built rather than complain about its flags.
#[derive(Args, Debug)]
pub struct Unbuilt {
    /// Arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

impl Command {
    /// The command's name as the user typed it, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Pull(_) => "pull",
            Command::Images(_) => "images",
            Command::Tag(_) => "tag",
            Command::Rmi(_) => "rmi",
            Command::Image(ImageCommand::Inspect(_)) => "image inspect",
            Command::Image(ImageCommand::Prune(_)) => "image prune",
            Command::Run(_) => "run",
            Command::Create(_) => "create",
            Command::Start(_) => "start",
            Command::Stop(_) => "stop",
            Command::Kill(_) => "kill",
            Command::Rm(_) => "rm",
            Command::Ps(_) => "ps",
            Command::Logs(_) => "logs",
            Command::Exec(_) => "exec",
            Command::Inspect(_) => "inspect",
            Command::Network(_) => "network",
            Command::Login(_) => "login",
            Command::Logout(_) => "logout",
            Command::Version => "version",
            Command::Info => "info",
        }
    }
}
