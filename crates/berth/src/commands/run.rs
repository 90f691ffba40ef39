//! `berth run` and `berth create`.

use super::Context;
use super::progress;
use crate::cli::RunArgs;
use crate::exit::{Failure, Outcome};
use berth_engine::options::RunOptions;
use berth_engine::run::RunError;
use berth_engine::{run, supervisor};
use berth_runtime::container::StdioMode;

/// The engine's options from the command line.
fn options(args: &RunArgs) -> Result<RunOptions, Failure> {
    Ok(RunOptions {
        image: args.image().to_owned(),
        command: args.command().to_vec(),
        entrypoint: args.entrypoint.clone(),
        // Docker takes `/web` for `web`.
        name: args
            .name
            .as_deref()
            .map(|n| n.strip_prefix('/').unwrap_or(n).to_owned()),
        hostname: args.hostname.clone(),
        env: args.env.clone(),
        env_files: args.env_file.clone(),
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        volumes: args.volume.clone(),
        mounts: args.mount.clone(),
        tmpfs: args.tmpfs.clone(),
        volumes_from: args.volumes_from.clone(),
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
        publish: args.publish.clone(),
        publish_all: args.publish_all,
        ip: args.ip.clone(),
        network_aliases: args.network_alias.clone(),
        dns: args.dns.clone(),
        dns_search: args.dns_search.clone(),
        dns_options: args.dns_option.clone(),
        add_hosts: args.add_host.clone(),
        platform: args.platform.clone(),
        restart: args.restart.clone(),
        log_driver: args.log_driver.clone(),
        detach: args.detach,
        labels: super::labels::read(&args.label, &args.label_file)?,
        health: berth_engine::health::HealthOptions {
            cmd: args.health.cmd.clone(),
            interval: args.health.interval,
            timeout: args.health.timeout,
            start_period: args.health.start_period,
            start_interval: args.health.start_interval,
            retries: args.health.retries,
            disabled: args.health.disabled,
        },
    })
}

/// Refuses to run a container without root, in one line and before anything is made, until
/// berth has a rootless mode (it would fail later at `clone`, having made the container).
pub fn needs_root() -> Result<(), Failure> {
    if rustix::process::geteuid().is_root() {
        return Ok(());
    }
    Err(
        anyhow::anyhow!("running containers needs root (rootless mode is not supported yet)")
            .into(),
    )
}

fn failure(e: RunError) -> Failure {
    Failure {
        code: e.exit_code(),
        error: e.into(),
    }
}

/// `berth run`: in the foreground berth exits with the container's code; with `-d` it prints
/// the id once the container runs.
pub fn run(ctx: &Context, args: &RunArgs) -> Outcome {
    needs_root()?;
    let options = options(args)?;
    let display = progress::for_output(false);
    if !args.detach {
        return run::run(&ctx.roots, &ctx.config, &options, display.as_ref()).map_err(failure);
    }
    let (record, _) =
        run::create(&ctx.roots, &ctx.config, &options, display.as_ref()).map_err(failure)?;
    supervisor::start_detached(&ctx.roots, &record.id).map_err(|e| {
        let _ = berth_engine::containers::Containers::new(&ctx.roots.root).remove(&record.id);
        failure(e)
    })?;
    println!("{}", record.id);
    Ok(0)
}

/// `berth create`: prints the new container's id.
pub fn create(ctx: &Context, args: &RunArgs) -> Outcome {
    needs_root()?;
    let display = progress::for_output(false);
    let (record, _) =
        run::create(&ctx.roots, &ctx.config, &options(args)?, display.as_ref()).map_err(failure)?;
    println!("{}", record.id);
    Ok(0)
}

/// Runs a created or stopped container in the foreground (`start -a`).
pub fn start_attached(ctx: &Context, id: &str, stdin: bool) -> Outcome {
    run::execute(&ctx.roots, id, None, StdioMode { stdin }, &mut || {}).map_err(failure)
}
