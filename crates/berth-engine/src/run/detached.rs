//! A detached container: started with its output on pipes (or a terminal), waited for by the
//! relay, its end recorded.

use super::error::RunError;
use super::lifecycle::{conclude, prepare, record_exit, started};
use crate::connect::HeldPorts;
use crate::containers::Containers;
use crate::paths::Roots;
use crate::record::LogDriver;
use berth_error::Context;
use berth_runtime::cgroups;
use berth_runtime::container::{self as runtime, DetachedIo, OutputSink};

/// A detached container that runs: its pid and what berth holds of its output.
pub struct Detached {
    /// The container's init, a child of this process.
    pub pid: i32,
    /// Its output pipes, or its terminal.
    pub io: DetachedIo,
    /// The reservations of its published ports, held until it ends.
    pub held: HeldPorts,
    /// Whether its output is kept in a json-file log (`--log-driver none`: not).
    pub logged: bool,
}

/// Starts container `id` with its output on pipes and returns once it runs; this process must
/// then call `finish_detached` (possibly after an exec: it stays the container's parent).
pub fn launch_detached(roots: &Roots, id: &str) -> Result<Detached, RunError> {
    let containers = Containers::new(&roots.root);
    let prepared = prepare(roots, &containers, id, None)?;
    let open_stdin = prepared.record.interactive;
    match runtime::launch_detached(&prepared.config, &prepared.layout, open_stdin) {
        Ok((pid, io)) => {
            started(roots, &prepared.record, pid);
            Ok(Detached {
                pid,
                io,
                held: prepared.held,
                logged: prepared.record.log_driver != LogDriver::None,
            })
        }
        Err(e) => {
            let e = RunError::from(e);
            record_exit(
                roots,
                &containers,
                &prepared.record,
                Err(e.exit_code()),
                None,
            )?;
            Err(e)
        }
    }
}

/// Waits for a detached container to end, its output going to `sink`; records the exit (or
/// removes an `--rm` container) and returns its exit code. The record and the cgroup layout are
/// read after the wait, so that the relay waits with as little memory touched as it can.
pub fn finish_detached(
    roots: &Roots,
    id: &str,
    detached: Detached,
    sink: &mut OutputSink<'_>,
) -> Result<i32, RunError> {
    let code = match detached.io {
        DetachedIo::Pipes(runtime::Pipes {
            stdout,
            stderr,
            stdin: None,
        }) => runtime::wait_detached(detached.pid, stdout, stderr, sink).map_err(RunError::from),
        // A terminal or an open stdin: clients attach through the relay's socket.
        streams => {
            let socket = crate::attach::socket_path(&roots.run_root, id);
            crate::attach::serve(detached.pid, streams, &socket, sink)
                .context("relay the container's streams")
                .map_err(RunError::from)
        }
    };
    drop(detached.held);
    conclude_detached(roots, id, code)
}

/// After a detached container's end (`code`, or why the wait failed): its cgroup removed, its
/// exit recorded. Not inlined: its frame is not on the relay's stack while the relay waits.
#[inline(never)]
fn conclude_detached(
    roots: &Roots,
    id: &str,
    code: Result<i32, RunError>,
) -> Result<i32, RunError> {
    let containers = Containers::new(&roots.root);
    let record = containers.get(id).context("read the container record")?;
    let layout = cgroups::detect().context("read the cgroup layout")?;
    let oom_killed = runtime::finish_cgroup(&layout, &record.cgroup_path);
    let result = code.map(|code| runtime::Exit { code, oom_killed });
    conclude(roots, &containers, &record, result, None)
}
