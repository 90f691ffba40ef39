//! `ps`, `start`, `stop`, `restart`, `kill`, `rm`, `logs`, `wait`, `inspect`, and the hidden
//! `__supervise`.

use super::Context;
use super::progress::Silent;
use super::ps::short;
use super::reclaimed::containers;
use crate::cli::{
    CpArgs, ExecArgs, InspectArgs, KillArgs, LogsArgs, NamesArgs, RmArgs, StartArgs, StatsArgs,
    StopArgs, SuperviseArgs, TopArgs,
};
use crate::exit::{Failure, Outcome};
use crate::format::{self, Format};
use anyhow::anyhow;
use berth_engine::containers::{Containers, FindError};
use berth_engine::lifecycle::{self, LifecycleError};
use berth_engine::record::{LogDriver, Record};
use berth_engine::{supervisor, time};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::time::Duration;

/// Docker's exit code for a failed container command: 1.
pub(super) fn one(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 1,
        error: error.into(),
    }
}

/// Runs `each` on every name; prints the error of each failure; exit 1 if any failed.
pub(super) fn for_each(
    names: &[String],
    mut each: impl FnMut(&str) -> Result<(), Failure>,
) -> Outcome {
    let mut failed = false;
    for name in names {
        if let Err(f) = each(name) {
            eprintln!("berth: {}", crate::exit::message(&f.error));
            failed = true;
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// Starts a container's supervisor; its failure keeps the code the start would have had.
fn start_detached(ctx: &Context, id: &str) -> Result<(), Failure> {
    supervisor::start_detached(&ctx.roots, id).map_err(|e| Failure {
        code: e.exit_code(),
        error: e.into(),
    })
}

/// `berth start`
pub fn start(ctx: &Context, args: &StartArgs) -> Outcome {
    super::run::needs_root()?;
    let all = containers(ctx);
    if args.attach {
        let [name] = args.containers.as_slice() else {
            return Err(anyhow!("you cannot start and attach multiple containers at once").into());
        };
        let record = all.find(name).map_err(one)?;
        if record.is_running() {
            return Err(one(anyhow!("container {name} is already running")));
        }
        return super::run::start_attached(ctx, &record.id, args.interactive);
    }
    for_each(&args.containers, |name| {
        let record = all.find(name).map_err(one)?;
        if !record.is_running()
            && let Err(failure) = start_detached(ctx, &record.id)
        {
            // Another start won the race: running is what was asked for.
            if !all.get(&record.id).is_ok_and(|r| r.is_running()) {
                return Err(failure);
            }
        }
        println!("{name}");
        Ok(())
    })
}

/// `berth stop`
pub fn stop(ctx: &Context, args: &StopArgs) -> Outcome {
    let all = containers(ctx);
    for_each(&args.containers, |name| {
        lifecycle::stop(&all, name, Duration::from_secs(args.time), &Silent).map_err(one)?;
        println!("{name}");
        Ok(())
    })
}

/// `berth restart`
pub fn restart(ctx: &Context, args: &StopArgs) -> Outcome {
    super::run::needs_root()?;
    let all = containers(ctx);
    for_each(&args.containers, |name| {
        let record =
            lifecycle::stop_to_restart(&all, name, Duration::from_secs(args.time), &Silent)
                .map_err(one)?;
        start_detached(ctx, &record.id)?;
        println!("{name}");
        Ok(())
    })
}

/// `berth kill`
pub fn kill(ctx: &Context, args: &KillArgs) -> Outcome {
    let all = containers(ctx);
    let signal = lifecycle::parse_signal(&args.signal).map_err(one)?;
    for_each(&args.containers, |name| {
        lifecycle::kill(&all, name, signal).map_err(one)?;
        println!("{name}");
        Ok(())
    })
}

/// `berth rm`
pub fn rm(ctx: &Context, args: &RmArgs) -> Outcome {
    let all = containers(ctx);
    for_each(&args.containers, |name| {
        let record = lifecycle::remove(&all, &ctx.roots.run_root, name, args.force).map_err(one)?;
        if args.volumes {
            berth_engine::volumes::remove_anonymous(&all, &record);
        }
        println!("{name}");
        Ok(())
    })
}

/// `berth wait`
pub fn wait(ctx: &Context, args: &NamesArgs) -> Outcome {
    let all = containers(ctx);
    for_each(&args.containers, |name| {
        println!("{}", lifecycle::wait(&all, name).map_err(one)?);
        Ok(())
    })
}

/// `--since`: an RFC 3339 time or a duration back from now (`42s`, `10m`, `1h30m`).
fn since(text: &str) -> Result<i64, Failure> {
    if let Some(t) = time::parse(text) {
        return Ok(t);
    }
    let back = crate::units::go_duration(text)
        .ok_or_else(|| anyhow!("invalid value for --since: {text}"))?;
    Ok(time::unix_now() - back.as_secs() as i64)
}

/// `berth logs`
pub fn logs(ctx: &Context, args: &LogsArgs) -> Outcome {
    let all = containers(ctx);
    let record = all.find(&args.container).map_err(one)?;
    if record.log_driver == LogDriver::None {
        return Err(one(anyhow!(
            "configured logging driver does not support reading"
        )));
    }
    let path = supervisor::log_path(&all, &record.id);
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<usize>()
                .map_err(|_| anyhow!("invalid value for --tail: {n}"))?,
        ),
    };
    let since = args.since.as_deref().map(since).transpose()?;
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !args.follow {
                return Ok(0);
            }
            // The container has not written yet.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(anyhow::Error::from)?
        }
        Err(e) => return Err(anyhow!("{}: {e}", path.display()).into()),
    };
    let lines: Vec<String> = BufReader::new(&file)
        .lines()
        .map_while(Result::ok)
        .collect();
    let skip = tail.map_or(0, |n| lines.len().saturating_sub(n));
    for line in &lines[skip..] {
        print_entry(line, args.timestamps, since);
    }
    if !args.follow {
        return Ok(0);
    }
    // Go on from where the read above stopped, so that nothing written meanwhile is lost.
    let mut file = file;
    let start = file.stream_position().map_err(anyhow::Error::from)?;
    follow(&all, &record, file, start, args.timestamps, since)
}

/// Prints new log lines as they come, until the container has stopped and all is read.
fn follow(
    all: &Containers,
    record: &Record,
    mut file: std::fs::File,
    start: u64,
    timestamps: bool,
    since: Option<i64>,
) -> Outcome {
    let mut position = start;
    let mut pending = String::new();
    loop {
        let running = all.get(&record.id).map(|r| r.is_running()).unwrap_or(false);
        file.seek(SeekFrom::Start(position))
            .map_err(anyhow::Error::from)?;
        let mut chunk = String::new();
        let n =
            std::io::Read::read_to_string(&mut file, &mut chunk).map_err(anyhow::Error::from)?;
        position += n as u64;
        pending.push_str(&chunk);
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            print_entry(line.trim_end(), timestamps, since);
        }
        if n == 0 && !running {
            return Ok(0);
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `berth attach`: the container's output from now on, until it exits; berth exits with its
/// code. A container with a terminal (`-t`) or an open stdin (`-i`) also gets this process's
/// input, until the detach keys (ctrl-p ctrl-q).
pub fn attach(ctx: &Context, args: &TopArgs) -> Outcome {
    let all = containers(ctx);
    let record = all.find(&args.container).map_err(one)?;
    if !record.is_running() {
        return Err(one(anyhow!(
            "you cannot attach to a stopped container, start it first"
        )));
    }
    if record.tty || record.interactive {
        let socket = berth_engine::attach::socket_path(&ctx.roots.run_root, &record.id);
        match berth_engine::attach::client(&socket, record.tty)
            .map_err(|e| one(anyhow!("cannot attach to {}: {e}", record.name)))?
        {
            berth_engine::attach::Ended::Detached => {
                eprintln!("read escape sequence");
                return Ok(0);
            }
            berth_engine::attach::Ended::Exited => {
                lifecycle::wait(&all, &record.id).map_err(one)?;
                return Ok(all
                    .get(&record.id)
                    .ok()
                    .and_then(|r| r.exit_code)
                    .unwrap_or(0));
            }
        }
    }
    if record.log_driver == LogDriver::None {
        return Err(one(anyhow!(
            "cannot attach: the container's log driver is none"
        )));
    }
    let path = supervisor::log_path(&all, &record.id);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&path)
        .map_err(anyhow::Error::from)?;
    let end = file.seek(SeekFrom::End(0)).map_err(anyhow::Error::from)?;
    follow(&all, &record, file, end, false, None)?;
    Ok(all
        .get(&record.id)
        .ok()
        .and_then(|r| r.exit_code)
        .unwrap_or(0))
}

fn print_entry(line: &str, timestamps: bool, since: Option<i64>) {
    let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
        return;
    };
    let when = entry["time"].as_str().unwrap_or("");
    if since.is_some_and(|s| time::parse(when).is_some_and(|t| t < s)) {
        return;
    }
    let text = entry["log"].as_str().unwrap_or("");
    let prefix = if timestamps {
        format!("{when} ")
    } else {
        String::new()
    };
    if entry["stream"] == "stderr" {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{prefix}{text}");
    } else {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{prefix}{text}");
        let _ = out.flush();
    }
}

/// `berth inspect`: containers, or images when no container has the name.
pub fn inspect(ctx: &Context, args: &InspectArgs) -> Outcome {
    let all = containers(ctx);
    let store = ctx.store()?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.containers {
        match all.find(name) {
            Ok(record) => found.push(berth_engine::inspect::container(&ctx.roots, &all, &record)),
            Err(FindError::NoSuch(_)) => match berth_image::local::inspect(&store, name) {
                Ok(image) => found.push(image),
                Err(_) => missing.push(name.clone()),
            },
            Err(e) => return Err(one(LifecycleError::from(e))),
        }
    }
    super::print_inspect(&found, &missing, "No such object", args.format.as_deref())
}

/// `berth __supervise ID`: the detached container's supervisor.
pub fn supervise(ctx: &Context, args: &SuperviseArgs) -> Outcome {
    Ok(supervisor::supervise(&ctx.roots, &args.id, !args.restarted))
}

/// `berth exec`
pub fn exec(ctx: &Context, args: &ExecArgs) -> Outcome {
    super::run::needs_root()?;
    if args.detach {
        // The same exec in a process of its own session, not waited for.
        let mut command = berth_runtime::sealed_exe::berth_command();
        command
            .arg("--root")
            .arg(&ctx.roots.root)
            .arg("--run-root")
            .arg(&ctx.roots.run_root)
            .arg("exec");
        for env in &args.env {
            command.args(["-e", env]);
        }
        if let Some(user) = &args.user {
            command.args(["-u", user]);
        }
        if let Some(workdir) = &args.workdir {
            command.args(["-w", workdir]);
        }
        command.arg(args.container()).args(args.command());
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: setsid in the child before exec is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::setsid();
                Ok(())
            });
        }
        let all = containers(ctx);
        let record = all.find(args.container()).map_err(one)?;
        if !record.is_running() {
            return Err(one(anyhow!("container {} is not running", record.id)));
        }
        command.spawn().map_err(anyhow::Error::from)?;
        return Ok(0);
    }
    let options = berth_engine::exec::ExecOptions {
        command: args.command().to_vec(),
        env: args.env.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        tty: args.tty,
        interactive: args.interactive,
    };
    containers(ctx);
    berth_engine::exec::exec(&ctx.roots, args.container(), &options).map_err(|e| Failure {
        code: e.exit_code(),
        error: e.into(),
    })
}

/// `berth pause` and `berth unpause`
pub fn pause(ctx: &Context, args: &NamesArgs, paused: bool) -> Outcome {
    let all = containers(ctx);
    for_each(&args.containers, |name| {
        lifecycle::set_paused(&all, name, paused).map_err(one)?;
        println!("{name}");
        Ok(())
    })
}

/// `berth top`
pub fn top(ctx: &Context, args: &TopArgs) -> Outcome {
    let processes = lifecycle::top(&containers(ctx), &args.container).map_err(one)?;
    print!("{}", process_table(&processes));
    Ok(0)
}

/// `top`'s table (and berth-runc `ps`'s): UID, PID, PPID and CMD columns.
pub fn process_table(processes: &[berth_runtime::host::ProcessInfo]) -> String {
    let mut table = format!("{:<8}{:<10}{:<10}CMD\n", "UID", "PID", "PPID");
    for p in processes {
        table.push_str(&format!(
            "{:<8}{:<10}{:<10}{}\n",
            p.uid, p.pid, p.ppid, p.command
        ));
    }
    table
}

/// berth's default `stats` table: Docker's, less the network and block I/O it does not
/// measure.
const STATS_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.PIDs}}";

/// Each field's column title, as Docker's `stats` names them.
const STATS_TITLES: [(&str, &str); 7] = [
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("PIDs", "PIDS"),
];

/// One container's usage as Docker's `stats` fields show it; `Container` is the name asked for.
fn stats_row(asked: &str, s: &lifecycle::Stats) -> format::Value {
    let usage = format!(
        "{} / {}",
        crate::units::human_binary(s.memory),
        crate::units::human_binary(s.memory_limit)
    );
    let mem_percent = 100.0 * s.memory as f64 / s.memory_limit.max(1) as f64;
    format::Value::from(format::Struct::new(
        "formatter.statsContext",
        vec![
            ("CPUPerc", format!("{:.2}%", s.cpu_percent).into()),
            ("Container", asked.into()),
            ("ID", short(&s.record.id).into()),
            ("MemPerc", format!("{mem_percent:.2}%").into()),
            ("MemUsage", usage.into()),
            ("Name", s.record.name.as_str().into()),
            ("PIDs", s.pids.to_string().into()),
        ],
    ))
}

/// `berth stats`: one table with `--no-stream`, else a table every second until interrupted or
/// until the containers named have all stopped.
pub fn stats(ctx: &Context, args: &StatsArgs) -> Outcome {
    let format = Format::new(&args.format, STATS_TABLE)?;
    let all = containers(ctx);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let mut names: Vec<String> = if args.containers.is_empty() {
            all.list()
                .into_iter()
                .filter(Record::is_running)
                .map(|r| r.id)
                .collect()
        } else {
            args.containers.clone()
        };
        if !args.no_stream {
            // While streaming, a container that stopped leaves the table.
            names.retain(|n| all.find(n).is_ok_and(|r| r.is_running()));
        }
        if !args.no_stream && terminal {
            // Redraw in place, as docker stats does.
            print!("\x1b[2J\x1b[H");
        }
        let mut rows = Vec::new();
        let code = for_each(&names, |name| {
            let s = lifecycle::stats(
                &all,
                name,
                Duration::from_millis(if args.no_stream { 200 } else { 1000 }),
            )
            .map_err(one)?;
            rows.push(stats_row(name, &s));
            Ok(())
        })?;
        print!("{}", format.render(&rows, &format::header(&STATS_TITLES))?);
        let _ = std::io::stdout().flush();
        let named_all_stopped = !args.containers.is_empty()
            && args
                .containers
                .iter()
                .all(|n| all.find(n).map(|r| !r.is_running()).unwrap_or(true));
        if args.no_stream || named_all_stopped {
            return Ok(code);
        }
        if names.is_empty() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// `berth cp`
pub fn cp(ctx: &Context, args: &CpArgs) -> Outcome {
    containers(ctx);
    berth_engine::cp::copy(&ctx.roots, &args.source, &args.destination).map_err(one)?;
    Ok(0)
}
