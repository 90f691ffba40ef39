//! The supervisors the service starts are its children, and they run as long as their
//! containers: a thread reaps those that ended (`waitpid` on each pid, never on any child,
//! so that the exit status of a program the engine runs and waits for is not taken).

use berth_engine::containers::Containers;
use std::sync::Mutex;
use std::time::Duration;

/// The supervisors not reaped yet; `None` until the reaper thread runs.
static ADOPTED: Mutex<Option<Vec<i32>>> = Mutex::new(None);

/// How often ended supervisors are looked for.
const EVERY: Duration = Duration::from_secs(1);

/// Adds the owner of container `id` (its supervisor, just started by this process) to the
/// children to reap.
pub fn adopt(all: &Containers, id: &str) {
    let Some((pid, _)) = all.get(id).ok().and_then(|r| r.owner) else {
        return;
    };
    let Ok(mut adopted) = ADOPTED.lock() else {
        return;
    };
    match adopted.as_mut() {
        Some(pids) => pids.push(pid),
        None => {
            *adopted = Some(vec![pid]);
            std::thread::spawn(reap_loop);
        }
    }
}

/// Reaps the adopted supervisors that ended, forever.
fn reap_loop() {
    loop {
        std::thread::sleep(EVERY);
        let Ok(mut adopted) = ADOPTED.lock() else {
            return;
        };
        if let Some(pids) = adopted.as_mut() {
            pids.retain(|&pid| {
                let mut status = 0;
                // SAFETY: waitpid on one pid with WNOHANG only reads the status into `status`.
                let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                reaped == 0
            });
        }
    }
}
