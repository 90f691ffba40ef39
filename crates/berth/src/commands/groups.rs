//! The `container` and `system` groups: Docker's longer names for berth's commands, each
//! dispatched to the command it names. `container inspect` looks at containers only.

use super::Context;
use super::reclaimed::containers;
use crate::cli::InspectArgs;
use crate::cli_groups::{ContainerCommand, SystemCommand};
use crate::exit::Outcome;
use berth_engine::containers::FindError;

/// `berth container ...`
pub fn container(ctx: &Context, command: &ContainerCommand) -> Outcome {
    use super::containers as c;
    match command {
        ContainerCommand::Attach(args) => c::attach(ctx, args),
        ContainerCommand::Commit(args) => super::image_out::run_commit(ctx, args),
        ContainerCommand::Cp(args) => c::cp(ctx, args),
        ContainerCommand::Create(args) => super::run::create(ctx, args),
        ContainerCommand::Diff(args) => super::image_out::run_diff(ctx, args),
        ContainerCommand::Exec(args) => c::exec(ctx, args),
        ContainerCommand::Export(args) => super::image_out::run_export(ctx, args),
        ContainerCommand::Inspect(args) => inspect(ctx, args),
        ContainerCommand::Kill(args) => c::kill(ctx, args),
        ContainerCommand::Logs(args) => c::logs(ctx, args),
        ContainerCommand::Ls(args) => super::ps::ps(ctx, args),
        ContainerCommand::Pause(args) => c::pause(ctx, args, true),
        ContainerCommand::Port(args) => super::network::port(ctx, args),
        ContainerCommand::Prune(args) => super::prune::container_prune(ctx, args),
        ContainerCommand::Rename(args) => super::update::rename(ctx, args),
        ContainerCommand::Restart(args) => c::restart(ctx, args),
        ContainerCommand::Rm(args) => c::rm(ctx, args),
        ContainerCommand::Run(args) => super::run::run(ctx, args),
        ContainerCommand::Start(args) => c::start(ctx, args),
        ContainerCommand::Stats(args) => c::stats(ctx, args),
        ContainerCommand::Stop(args) => c::stop(ctx, args),
        ContainerCommand::Top(args) => c::top(ctx, args),
        ContainerCommand::Unpause(args) => c::pause(ctx, args, false),
        ContainerCommand::Update(args) => super::update::update(ctx, args),
        ContainerCommand::Wait(args) => c::wait(ctx, args),
    }
}

/// `berth system ...`
pub fn system(ctx: &Context, command: &SystemCommand) -> Outcome {
    match command {
        SystemCommand::Df(args) => super::system::df(ctx, args),
        SystemCommand::Info(args) => super::info::run(&ctx.roots, args),
        SystemCommand::Prune(args) => super::prune::system_prune(ctx, args),
        SystemCommand::Service(args) => super::service::run(ctx, args),
    }
}

/// `berth container inspect`: containers only (`inspect` falls back to images), missing ones
/// reported as `Error: No such container: NAME`.
fn inspect(ctx: &Context, args: &InspectArgs) -> Outcome {
    let all = containers(ctx);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.containers {
        match all.find(name) {
            Ok(record) => found.push(berth_engine::inspect::container(&ctx.roots, &all, &record)),
            Err(FindError::NoSuch(_)) => missing.push(name.clone()),
            Err(e) => return Err(super::containers::one(e)),
        }
    }
    super::print_inspect(
        &found,
        &missing,
        "No such container",
        args.format.as_deref(),
    )
}
