//! `berth-runc`: berth under a second name (a link to the same binary) speaks runc's command
//! line, so that Podman, Docker and containerd can run containers with berth's runtime.
//! Errors go to stderr and, with `--log`, to that file (JSON lines with `--log-format json`,
//! which conmon and the containerd shim read); every failure exits 1, as runc's do.

use anyhow::{Context as _, anyhow, bail};
use berth_runtime::oci::{CreateOptions, OciRuntime, Status};
use berth_runtime::{cgroups, exec, spec};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether this process was started under the runtime's name (`berth-runc`, `runc`).
pub fn invoked_as_runc() -> bool {
    std::env::args_os()
        .next()
        .and_then(|arg0| {
            Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().ends_with("runc"))
        })
        .unwrap_or(false)
}

/// berth-runc: berth's OCI runtime with runc's command line.
#[derive(Parser, Debug)]
#[command(name = "berth-runc", version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"))]
struct Runc {
    /// Root directory for the containers' state
    #[arg(long, global = true, default_value = "/run/berth-runc")]
    root: PathBuf,
    /// Also write errors to this file
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// The log file's format (text or json)
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// cgroupsPath is systemd's slice:prefix:name (berth writes cgroupfs directly)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Debug output on stderr
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility; berth has no checkpoint support
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    /// Accepted for runc compatibility (true, false or auto; `spec --rootless` too)
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    #[command(subcommand)]
    command: RuncCommand,
}

#[derive(Subcommand, Debug)]
enum RuncCommand {
    /// Create a container
    Create(CreateArgs),
    /// Execute the user process in a created container
    Start(IdArgs),
    /// Output the state of a container
    State(IdArgs),
    /// Send a signal to the container's init process
    Kill(KillArgs),
    /// Delete any resources held by the container
    Delete(DeleteArgs),
    /// Create and run a container
    Run(RunArgs),
    /// Execute a new process inside the container
    Exec(ExecArgs),
    /// Display the processes running inside a container
    Ps(PsArgs),
    /// List containers started by berth-runc with the given root
    List(ListArgs),
    /// Suspend all processes inside the container
    Pause(IdArgs),
    /// Resume all processes that have been previously paused
    Resume(IdArgs),
    /// Display container events (with --stats, one sample)
    Events(EventsArgs),
    /// Update the container's resource limits
    Update(UpdateArgs),
    /// Show the enabled features
    Features,
    /// Create a new specification file
    Spec(SpecArgs),
    /// Checkpoint a running container (CRIU): not supported by berth-runc
    #[command(disable_help_flag = true)]
    Checkpoint(UnsupportedArgs),
    /// Restore a container from a checkpoint (CRIU): not supported by berth-runc
    #[command(disable_help_flag = true)]
    Restore(UnsupportedArgs),
}

/// Whatever a command that berth-runc does not implement was given.
#[derive(Args, Debug)]
struct UnsupportedArgs {
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<String>,
}

#[derive(Args, Debug)]
struct IdArgs {
    /// The container id
    id: String,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Path to the root of the bundle directory
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the process id to this file
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pseudoterminal's master
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility (berth always uses pivot_root)
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility (berth makes no session keyring)
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass this many extra descriptors (from 3) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// The container id
    id: String,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    create: CreateArgs,
    /// Detach from the container's process
    #[arg(short, long)]
    detach: bool,
    /// Keep the container's state after it exits
    #[arg(long)]
    keep: bool,
}

#[derive(Args, Debug)]
struct KillArgs {
    /// Send the signal to every process of the container
    #[arg(short, long)]
    all: bool,
    /// The container id
    id: String,
    /// The signal (name or number)
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

#[derive(Args, Debug)]
struct DeleteArgs {
    /// Kill a running container first
    #[arg(short, long)]
    force: bool,
    /// The container id
    id: String,
}

#[derive(Args, Debug)]
#[command(trailing_var_arg = true)]
struct ExecArgs {
    /// A JSON file with the process to run (runtime-spec `process`)
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Detach from the process (not supported yet)
    #[arg(short, long)]
    detach: bool,
    /// Write the process id to this file
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pseudoterminal's master (not supported yet)
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Working directory
    #[arg(long)]
    cwd: Option<String>,
    /// Environment variables (KEY=value)
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    /// Additional groups
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective and permitted sets
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Run in a sub-cgroup of the container's: [controller:]path
    #[arg(long)]
    cgroup: Vec<String>,
    /// Exec even if the container is paused
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Pass N more descriptors (3 to 3+N-1) to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// AppArmor profile (accepted; this host has no AppArmor support in berth)
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label (accepted; this host has no SELinux support in berth)
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// The container id
    id: String,
    /// The command and its arguments
    #[arg(allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct PsArgs {
    /// table or json
    #[arg(short, long, default_value = "table")]
    format: String,
    /// The container id
    id: String,
}

#[derive(Args, Debug)]
struct ListArgs {
    /// table or json
    #[arg(short, long, default_value = "table")]
    format: String,
    /// Only the ids
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct EventsArgs {
    /// Print one sample of the container's resource use and exit
    #[arg(long)]
    stats: bool,
    /// Time between samples (`5s`, `500ms`)
    #[arg(long, default_value = "5s")]
    interval: String,
    /// The container id
    id: String,
}

#[derive(Args, Debug)]
struct UpdateArgs {
    /// A JSON file of runtime-spec `linux.resources` ("-" for stdin)
    #[arg(short, long)]
    resources: Option<PathBuf>,
    /// Memory limit in bytes
    #[arg(long)]
    memory: Option<i64>,
    /// Memory plus swap limit in bytes (-1: unlimited)
    #[arg(long = "memory-swap")]
    memory_swap: Option<i64>,
    /// Soft memory limit in bytes
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPUs to use (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Maximum number of processes
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    /// Block I/O weight (10-1000)
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// The container id
    id: String,
}

#[derive(Args, Debug)]
struct SpecArgs {
    /// Where to write config.json
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
}

/// Runs the runc command line and exits.
#[inline(never)]
pub fn main() -> ! {
    let runc = match Runc::try_parse() {
        Ok(runc) => runc,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if runc.debug {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(std::io::stderr)
            .try_init();
    }
    match dispatch(&runc) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            // As runc: the error as a log line on stderr, or, with --log, the plain message on
            // stderr and the log line in the file (which conmon and the containerd shim read).
            let message = crate::exit::message(&error);
            match &runc.log {
                None => eprintln!("{}", log_line("text", &message)),
                Some(path) => {
                    eprintln!("{message}");
                    if let Ok(mut file) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                    {
                        let _ = writeln!(file, "{}", log_line(&runc.log_format, &message));
                    }
                }
            }
            std::process::exit(1);
        }
    }
}

/// An error as runc logs it: logrus's text or JSON line.
fn log_line(format: &str, message: &str) -> String {
    let time = berth_runtime::time::now();
    match format {
        "json" => serde_json::json!({ "level": "error", "msg": message, "time": time }).to_string(),
        _ => format!(
            "time=\"{time}\" level=error msg={}",
            serde_json::Value::from(message)
        ),
    }
}

fn dispatch(runc: &Runc) -> anyhow::Result<i32> {
    if matches!(
        runc.command,
        RuncCommand::Create(_) | RuncCommand::Run(_) | RuncCommand::Exec(_)
    ) {
        // The container's processes are clones of this one: out of their reach, its binary.
        berth_runtime::sealed_exe::reexec_protected()?;
    }
    let runtime = OciRuntime::new(&runc.root);
    match &runc.command {
        RuncCommand::Create(args) => {
            runtime.create(&args.id, &args.bundle, &create_options(runc, args))?;
            Ok(0)
        }
        RuncCommand::Start(args) => {
            runtime.start(&args.id)?;
            Ok(0)
        }
        RuncCommand::State(args) => {
            let state = runtime.state(&args.id)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(0)
        }
        RuncCommand::Kill(args) => {
            let signal = berth_engine::lifecycle::parse_signal(&args.signal)?;
            runtime.kill(&args.id, signal, args.all)?;
            Ok(0)
        }
        RuncCommand::Delete(args) => {
            runtime.delete(&args.id, args.force)?;
            Ok(0)
        }
        RuncCommand::Run(args) => run(runc, &runtime, args),
        RuncCommand::Exec(args) => exec_process(&runtime, args),
        RuncCommand::Ps(args) => ps(&runtime, args),
        RuncCommand::List(args) => list(&runtime, args),
        RuncCommand::Pause(args) => {
            runtime.set_paused(&args.id, true)?;
            Ok(0)
        }
        RuncCommand::Resume(args) => {
            runtime.set_paused(&args.id, false)?;
            Ok(0)
        }
        RuncCommand::Events(args) => events(&runtime, args),
        RuncCommand::Update(args) => update(&runtime, args),
        RuncCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            Ok(0)
        }
        RuncCommand::Checkpoint(_) | RuncCommand::Restore(_) => {
            bail!("checkpoint and restore (CRIU) are not supported by berth-runc")
        }
        RuncCommand::Spec(args) => {
            let path = args.bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            std::fs::write(&path, serde_json::to_string_pretty(&default_spec())?)
                .with_context(|| format!("write {}", path.display()))?;
            Ok(0)
        }
    }
}

fn create_options(runc: &Runc, args: &CreateArgs) -> CreateOptions {
    CreateOptions {
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
        systemd_cgroup: runc.systemd_cgroup,
        preserve_fds: args.preserve_fds,
    }
}

/// `run`: create and start; in the foreground, wait for the process (signals forwarded) and
/// delete the container after, exiting with the process's code.
fn run(runc: &Runc, runtime: &OciRuntime, args: &RunArgs) -> anyhow::Result<i32> {
    let create = &args.create;
    let options = create_options(runc, create);
    if !args.detach {
        return Ok(runtime.run_foreground(&create.id, &create.bundle, &options, args.keep)?);
    }
    runtime.create(&create.id, &create.bundle, &options)?;
    if let Err(e) = runtime.start(&create.id) {
        let _ = runtime.delete(&create.id, true);
        return Err(e.into());
    }
    Ok(0)
}

/// `exec`: a new process in the container, with the container's spec as the base.
fn exec_process(runtime: &OciRuntime, args: &ExecArgs) -> anyhow::Result<i32> {
    let state = runtime.state(&args.id)?;
    match state.status {
        Status::Running => {}
        Status::Paused if args.ignore_paused => {}
        Status::Paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        _ => bail!("cannot exec in a stopped container"),
    }
    let mut spec = berth_runtime::oci::load_spec(&state.bundle)?;
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| anyhow!("the container's spec has no process"))?;
    if let Some(path) = &args.process {
        let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        process = serde_json::from_slice(&text).with_context(|| format!("{}", path.display()))?;
    } else {
        if args.command.is_empty() {
            bail!("exec needs a command or --process");
        }
        process.set_args(Some(args.command.clone()));
        process.set_terminal(Some(args.tty));
        if let Some(cwd) = &args.cwd {
            process.set_cwd(cwd.into());
        }
        // --env overrides the spec's variable of the same name.
        let mut env = process.env().clone().unwrap_or_default();
        for entry in &args.env {
            let name = entry.split_once('=').map_or(entry.as_str(), |(n, _)| n);
            env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != name);
            env.push(entry.clone());
        }
        process.set_env(Some(env));
        if let Some(user) = &args.user {
            let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
            let mut u = process.user().clone();
            u.set_uid(uid.parse().context("--user wants uid[:gid]")?);
            u.set_gid(gid.parse().context("--user wants uid[:gid]")?);
            process.set_user(u);
        }
    }
    add_exec_options(&mut process, args)?;
    spec.set_process(Some(process));
    let mut config = spec::container_config(&args.id, &spec, &state.rootfs, None)?;
    config.preserve_fds = args.preserve_fds;
    let mut cgroup = runtime.cgroup(&args.id)?;
    if !args.cgroup.is_empty() {
        cgroup = cgroup.below(&args.cgroup)?;
    }
    if args.detach {
        if config.terminal && args.console_socket.is_none() {
            bail!("cannot allocate tty if runc will detach without setting console socket");
        }
        config.outlive_parent = true;
        let (pid, master) = exec::exec_detached(state.pid, &config, &cgroup)?;
        if let (Some(socket), Some(master)) = (&args.console_socket, &master) {
            berth_runtime::oci::send_terminal(socket, master)?;
        }
        if let Some(path) = &args.pid_file {
            std::fs::write(path, pid.to_string())
                .with_context(|| format!("write {}", path.display()))?;
        }
        return Ok(0);
    }
    let pid_file = args.pid_file.clone();
    let code = exec::exec(state.pid, &config, &cgroup, true, &mut |pid| {
        if let Some(path) = &pid_file {
            let _ = std::fs::write(path, pid.to_string());
        }
    })?;
    Ok(code)
}

/// runc's `exec` options that change the process: `--cap` (bounding, effective and permitted;
/// ambient too when the process has inheritable capabilities), `--no-new-privs`,
/// `--additional-gids`, `--apparmor` and `--process-label`.
fn add_exec_options(
    process: &mut oci_spec::runtime::Process,
    args: &ExecArgs,
) -> anyhow::Result<()> {
    if !args.cap.is_empty() {
        let mut caps = process.capabilities().clone().unwrap_or_default();
        let named: Vec<oci_spec::runtime::Capability> = args
            .cap
            .iter()
            .map(|c| {
                serde_json::from_value(c.as_str().into())
                    .map_err(|_| anyhow!("unknown capability {c:?}"))
            })
            .collect::<anyhow::Result<_>>()?;
        let extend = |set: Option<oci_spec::runtime::Capabilities>| {
            let mut set = set.unwrap_or_default();
            set.extend(named.iter().cloned());
            Some(set)
        };
        let with_ambient = caps.inheritable().as_ref().is_some_and(|i| !i.is_empty());
        caps.set_bounding(extend(caps.bounding().clone()));
        caps.set_effective(extend(caps.effective().clone()));
        caps.set_permitted(extend(caps.permitted().clone()));
        if with_ambient {
            caps.set_ambient(extend(caps.ambient().clone()));
        }
        process.set_capabilities(Some(caps));
    }
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !args.additional_gids.is_empty() {
        let mut user = process.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(&args.additional_gids);
        user.set_additional_gids(Some(gids));
        process.set_user(user);
    }
    if let Some(profile) = &args.apparmor {
        process.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &args.process_label {
        process.set_selinux_label(Some(label.clone()));
    }
    Ok(())
}

/// `ps`: the container's pids (`--format json`), or a table of its processes as `berth top`
/// prints it (UID, PID, PPID, CMD) read from /proc, where runc runs `ps -ef`.
fn ps(runtime: &OciRuntime, args: &PsArgs) -> anyhow::Result<i32> {
    let pids = runtime.pids(&args.id)?;
    if args.format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let processes: Vec<_> = pids
        .into_iter()
        .map(berth_runtime::host::process_info)
        .collect();
    print!("{}", crate::commands::containers::process_table(&processes));
    Ok(0)
}

fn list(runtime: &OciRuntime, args: &ListArgs) -> anyhow::Result<i32> {
    let states = runtime.list()?;
    if args.quiet {
        for s in &states {
            println!("{}", s.id);
        }
    } else if args.format == "json" {
        println!("{}", serde_json::to_string(&states)?);
    } else {
        println!(
            "ID                  PID         STATUS      BUNDLE                            CREATED"
        );
        for s in &states {
            println!(
                "{:<20}{:<12}{:<12}{:<34}{}",
                s.id,
                s.pid,
                s.status.to_string(),
                s.bundle.display(),
                s.created
            );
        }
    }
    Ok(0)
}

/// `events`: the container's resource use as runc prints it, one JSON line per sample: one
/// sample with `--stats`, else one every `--interval`, with an `oom` event when the OOM killer
/// strikes, until the container stops.
fn events(runtime: &OciRuntime, args: &EventsArgs) -> anyhow::Result<i32> {
    let interval = crate::units::go_duration(&args.interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow!("invalid --interval {:?}", args.interval))?;
    runtime.state(&args.id)?;
    let cgroup = runtime.cgroup(&args.id)?;
    let sample = || {
        let (usage, limit) = cgroup.memory().unwrap_or((0, None));
        serde_json::json!({
            "type": "stats",
            "id": args.id,
            "data": {
                "cpu": { "usage": { "total": cgroup.cpu_usage_ns().unwrap_or(0) } },
                "memory": { "usage": { "usage": usage, "limit": limit.unwrap_or(0) } },
                "pids": { "current": cgroup.pids_current().unwrap_or(0) },
            },
        })
    };
    let mut out = std::io::stdout();
    if args.stats {
        writeln!(out, "{}", sample())?;
        return Ok(0);
    }
    // OOM kills are looked for often; samples come every interval.
    let tick = interval.min(std::time::Duration::from_millis(100));
    let mut oom_reported = cgroup.oom_killed();
    let mut next_sample = std::time::Instant::now();
    loop {
        match runtime.state(&args.id) {
            Ok(state) if state.status != Status::Stopped => {}
            _ => return Ok(0),
        }
        if !oom_reported && cgroup.oom_killed() {
            oom_reported = true;
            writeln!(
                out,
                "{}",
                serde_json::json!({ "type": "oom", "id": args.id })
            )?;
        }
        if std::time::Instant::now() >= next_sample {
            writeln!(out, "{}", sample())?;
            out.flush()?;
            next_sample += interval;
        }
        std::thread::sleep(tick);
    }
}

/// `update`: new limits for a running container's cgroup, from `--resources` and the flags.
fn update(runtime: &OciRuntime, args: &UpdateArgs) -> anyhow::Result<i32> {
    let state = runtime.state(&args.id)?;
    if state.status == Status::Stopped {
        bail!("container {} is stopped", args.id);
    }
    let mut limits = match &args.resources {
        Some(path) => {
            let text = if path == Path::new("-") {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                text
            } else {
                std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?
            };
            let resources: oci_spec::runtime::LinuxResources =
                serde_json::from_str(&text).context("linux.resources")?;
            spec::limits_of(Some(&resources))
        }
        None => berth_runtime::cgroup::Limits::default(),
    };
    limits.memory = args.memory.or(limits.memory);
    limits.memory_swap = args.memory_swap.or(limits.memory_swap);
    limits.memory_reservation = args.memory_reservation.or(limits.memory_reservation);
    limits.cpu_shares = args.cpu_shares.or(limits.cpu_shares);
    limits.cpu_quota = args.cpu_quota.or(limits.cpu_quota);
    limits.cpu_period = args.cpu_period.or(limits.cpu_period);
    limits.cpuset_cpus = args.cpuset_cpus.clone().or(limits.cpuset_cpus);
    limits.pids = args.pids_limit.or(limits.pids);
    limits.block_io.weight = args.blkio_weight.or(limits.block_io.weight);
    runtime.cgroup(&args.id)?.update(&limits)?;
    Ok(0)
}

/// What `features` reports (the runtime-spec's features document).
fn features() -> serde_json::Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": [],
        "mountOptions": ["ro", "rw", "nosuid", "nodev", "noexec", "bind", "rbind", "private", "rprivate", "slave", "rslave", "shared", "rshared", "relatime", "strictatime", "noatime"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"], "operators": ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"] },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": { "org.opencontainers.runc.version": "berth-runc", "io.github.berth.cgroup-mode": cgroups::detect().map(|l| format!("{:?}", l.mode)).unwrap_or_default() },
    })
}

/// The `spec` command's config.json: runc's default, running `sh` on a terminal.
fn default_spec() -> serde_json::Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    serde_json::json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true,
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "berth",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] },
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [{ "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    })
}
