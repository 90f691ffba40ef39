//! `rename` and `update`: a container's name, limits and restart policy changed after its
//! creation.

use super::Context;
use super::containers::{for_each, one};
use super::reclaimed::containers;
use crate::cli_groups::{RenameArgs, UpdateArgs};
use crate::exit::{ENGINE, Failure, Outcome};
use anyhow::anyhow;
use berth_engine::options::parse_size;
use berth_engine::update::{self, Update};

/// `berth rename CONTAINER NEW_NAME`: silent when done, as Docker is.
pub fn rename(ctx: &Context, args: &RenameArgs) -> Outcome {
    containers(ctx);
    berth_engine::rename::rename(&ctx.roots, &args.container, &args.new_name).map_err(one)?;
    Ok(0)
}

/// `berth update [OPTIONS] CONTAINER...`: each container's name printed once updated; exit 1
/// when any was not.
pub fn update(ctx: &Context, args: &UpdateArgs) -> Outcome {
    let wanted = requested(args)?;
    if wanted.is_empty() {
        return Err(one(anyhow!(
            "you must provide one or more flags when using this command"
        )));
    }
    wanted.check().map_err(one)?;
    let all = containers(ctx);
    for_each(&args.containers, |name| {
        update::update(&all, name, &wanted).map_err(one)?;
        println!("{name}");
        Ok(())
    })
}

/// The flags in the engine's terms; a value that does not parse is a usage error (125), as
/// Docker's flag parser makes it.
fn requested(args: &UpdateArgs) -> Result<Update, Failure> {
    let usage = |flag: &str, value: &str, why: String| Failure {
        code: ENGINE,
        error: anyhow!("invalid argument \"{value}\" for \"{flag}\" flag: {why}"),
    };
    let size = |flag: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|text| parse_size(text).map_err(|why| usage(flag, text, why)))
            .transpose()
    };
    let memory_swap = match args.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        _ => size("--memory-swap", &args.memory_swap)?,
    };
    let restart = args
        .restart
        .as_deref()
        .map(|text| text.parse().map_err(|why| usage("--restart", text, why)))
        .transpose()?;
    Ok(Update {
        cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        memory: size("-m, --memory", &args.memory)?,
        memory_swap,
        memory_reservation: size("--memory-reservation", &args.memory_reservation)?,
        pids_limit: args.pids_limit,
        restart,
    })
}
