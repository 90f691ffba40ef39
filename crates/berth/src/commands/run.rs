//! `berth run`: a container in the foreground; berth exits with its exit code.

use super::Context;
use super::progress;
use crate::cli::RunArgs;
use crate::exit::{Failure, Outcome};
use berth_engine::options::RunOptions;

/// Runs the container and returns its exit code.
pub fn run(ctx: &Context, args: &RunArgs) -> Outcome {
    if args.detach {
        return Err(Failure::not_built("run -d"));
    }
    let options = RunOptions {
        image: args.image.clone(),
        command: args.command.clone(),
        entrypoint: args.entrypoint.clone(),
        name: args.name.clone(),
        hostname: args.hostname.clone(),
        env: args.env.clone(),
        env_files: args.env_file.clone(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        volumes: args.volume.clone(),
        mounts: args.mount.clone(),
        tmpfs: args.tmpfs.clone(),
        read_only: args.read_only,
        cpus: args.cpus,
        cpu_shares: args.cpu_shares,
        cpuset_cpus: args.cpuset_cpus.clone(),
        memory: args.memory.clone(),
        memory_swap: args.memory_swap.clone(),
        pids_limit: args.pids_limit,
        ulimits: args.ulimit.clone(),
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        privileged: args.privileged,
        security_opts: args.security_opt.clone(),
        init: args.init,
        stop_signal: args.stop_signal.clone(),
        interactive: args.interactive,
        tty: args.tty,
        remove: args.rm,
        network: args.network.clone(),
        platform: args.platform.clone(),
    };
    let display = progress::for_output(false);
    berth_engine::run::run(&ctx.roots, &ctx.config, &options, display.as_ref()).map_err(|e| {
        Failure {
            code: e.exit_code(),
            error: e.into(),
        }
    })
}
