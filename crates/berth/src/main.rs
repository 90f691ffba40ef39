//! `berth`: the Docker-like command line.

mod cli;
mod cli_groups;
mod commands;
mod exit;
mod format;
mod runc;
mod units;

use berth_engine::config::EngineConfig;
use clap::Parser;
use cli::{BuilderCommand, Cli, Command, ImageCommand};
use commands::{Context, containers, image_out, images, login};
use exit::{Failure, Outcome};

/// Picks one of berth's three faces by its name and first argument. Kept small: the relay of a
/// detached container runs on this frame for as long as the container, and the CLI's frames
/// are many kilobytes of stack it would otherwise touch.
fn main() {
    if runc::invoked_as_runc() {
        runc::main();
    }
    match std::env::args_os().nth(1) {
        Some(arg) if arg == "__relay" => relay_main(),
        Some(arg) if arg == "__health" => health_main(),
        _ => {}
    }
    cli_main();
}

/// A detached container's relay: no parser, no logging.
#[inline(never)]
fn relay_main() -> ! {
    let args: Vec<String> = std::env::args().skip(2).collect();
    match berth_engine::supervisor::relay_main(&args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!(
                "berth: cannot start the relay of a detached container: {e} (the arguments are not what this berth's supervisor writes)"
            );
            std::process::exit(exit::ENGINE);
        }
    }
}

/// A container's healthcheck monitor: no parser, no logging.
#[inline(never)]
fn health_main() -> ! {
    let args: Vec<String> = std::env::args().skip(2).collect();
    std::process::exit(berth_engine::health::monitor_main(&args));
}

/// The Docker-like command line.
#[inline(never)]
fn cli_main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::ENGINE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // Without root the command is refused further on (`needs_root`), with no re-exec first.
    if makes_container_processes(&cli.command)
        && rustix::process::geteuid().is_root()
        && let Err(e) = berth_runtime::sealed_exe::reexec_protected()
    {
        eprintln!("berth: {e}");
        std::process::exit(exit::ENGINE);
    }
    if !matches!(cli.command, Command::Supervise(_)) {
        // Like every Unix tool, end quietly when the reader of our output goes away
        // (`berth ps | head`). The supervisor keeps ignoring SIGPIPE: it must outlive a caller
        // that stopped waiting for it.
        // SAFETY: restores the default action of one signal; no handler is involved.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    init_logging(cli.log_level.as_deref());
    let result = context(&cli).and_then(|ctx| dispatch(&ctx, &cli.command));
    match result {
        Ok(code) => std::process::exit(code),
        Err(failure) => {
            eprintln!("berth: {}", exit::message(&failure.error));
            std::process::exit(failure.code);
        }
    }
}

/// Whether `command` starts processes inside a container (or starts the supervisor that does):
/// those run from a read-only view of the binary, out of the container's reach
/// (`berth_runtime::sealed_exe`). The supervisor and `exec -d` re-execute berth from that
/// view, so that only the first of them re-executes.
fn makes_container_processes(command: &Command) -> bool {
    matches!(
        command,
        Command::Run(_)
            | Command::Build(_)
            | Command::Builder(BuilderCommand::Build(_))
            | Command::Image(ImageCommand::Build(_))
            | Command::Start(_)
            | Command::Restart(_)
            | Command::Exec(_)
            | Command::Supervise(_)
    ) || matches!(command, Command::Container(c) if c.makes_container_processes())
}

/// The data roots and the engine's configuration, as the global flags and the config file say.
fn context(cli: &Cli) -> Result<Context, Failure> {
    let roots = berth_engine::paths::Roots::resolve(cli.root.clone(), cli.run_root.clone());
    roots
        .secure()
        .map_err(|e| anyhow::anyhow!("prepare the data roots: {e}"))?;
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(EngineConfig::default_path);
    let mut config = EngineConfig::load(&config_path).map_err(anyhow::Error::from)?;
    config
        .insecure_registries
        .extend(cli.insecure_registries.iter().cloned());
    Ok(Context { roots, config })
}

fn dispatch(ctx: &Context, command: &Command) -> Outcome {
    match command {
        Command::Version(args) => commands::version::run(args),
        Command::Info(args) => commands::info::run(&ctx.roots, args),
        Command::Events(args) => commands::events::run(ctx, args),
        Command::Pull(args) | Command::Image(ImageCommand::Pull(args)) => {
            images::run_pull(ctx, args)
        }
        Command::Push(args) | Command::Image(ImageCommand::Push(args)) => {
            commands::push::run(ctx, args)
        }
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            images::run_images(ctx, args)
        }
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => images::run_tag(ctx, args),
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => images::run_rmi(ctx, args),
        Command::Image(ImageCommand::Inspect(args)) => images::run_inspect(ctx, args),
        Command::Image(ImageCommand::Prune(args)) => images::run_prune(ctx, args),
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            commands::archive::run_save(ctx, args)
        }
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            commands::archive::run_load(ctx, args)
        }
        Command::Build(args)
        | Command::Image(ImageCommand::Build(args))
        | Command::Builder(BuilderCommand::Build(args)) => commands::build::run(ctx, args),
        Command::Run(args) => commands::run::run(ctx, args),
        Command::Create(args) => commands::run::create(ctx, args),
        Command::Start(args) => containers::start(ctx, args),
        Command::Stop(args) => containers::stop(ctx, args),
        Command::Restart(args) => containers::restart(ctx, args),
        Command::Kill(args) => containers::kill(ctx, args),
        Command::Rm(args) => containers::rm(ctx, args),
        Command::Ps(args) => commands::ps::ps(ctx, args),
        Command::Logs(args) => containers::logs(ctx, args),
        Command::Wait(args) => containers::wait(ctx, args),
        Command::Exec(args) => containers::exec(ctx, args),
        Command::Attach(args) => containers::attach(ctx, args),
        Command::Cp(args) => containers::cp(ctx, args),
        Command::Pause(args) => containers::pause(ctx, args, true),
        Command::Unpause(args) => containers::pause(ctx, args, false),
        Command::Top(args) => containers::top(ctx, args),
        Command::Stats(args) => containers::stats(ctx, args),
        Command::Inspect(args) => containers::inspect(ctx, args),
        Command::Supervise(args) => containers::supervise(ctx, args),
        Command::Login(args) => login::run_login(ctx, args),
        Command::Logout(args) => login::run_logout(ctx, args),
        Command::Network(command) => commands::network::run(ctx, command),
        Command::Port(args) => commands::network::port(ctx, args),
        Command::Volume(command) => commands::volume::run(ctx, command),
        Command::Rename(args) => commands::update::rename(ctx, args),
        Command::Update(args) => commands::update::update(ctx, args),
        Command::Container(command) => commands::groups::container(ctx, command),
        Command::System(command) => commands::groups::system(ctx, command),
        Command::Commit(args) => image_out::run_commit(ctx, args),
        Command::Export(args) => image_out::run_export(ctx, args),
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            image_out::run_import(ctx, args)
        }
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            image_out::run_history(ctx, args)
        }
        Command::Diff(args) => image_out::run_diff(ctx, args),
    }
}

/// Logs go to stderr, quiet (warnings only) unless `--log-level` or `BERTH_LOG` asks for more.
fn init_logging(level: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_new(level.unwrap_or("warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
