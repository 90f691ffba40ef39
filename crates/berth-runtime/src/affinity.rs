//! Where the container's process sets up: on another CPU than berth's own.
//!
//! After the clone, berth makes the container's cgroup while the new process mounts its file
//! system; the two only overlap if they run on two CPUs at once. A new process is queued on
//! its parent's CPU, and the scheduler may leave it waiting there until the parent blocks
//! (~0.6 ms on a 2-CPU VM that packs tasks onto few virtual CPUs). So the parent narrows the
//! new process's CPUs to all of its own but the one it runs on, before the process first
//! runs, and gives it back every CPU berth may use once the cgroup is made, before the parent
//! waits and before the process may exec (its cgroup's cpuset, where it has one, still
//! applies: the kernel intersects).

use rustix::process::Pid;
use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};

/// The CPUs this process may run on, which the container's process gets back.
#[derive(Clone, Copy)]
pub(crate) struct Affinity(CpuSet);

impl Affinity {
    /// This process's CPUs, or None where the kernel does not tell.
    pub(crate) fn of_this_process() -> Option<Affinity> {
        sched_getaffinity(None).ok().map(Affinity)
    }

    /// Lets process `pid`, just cloned, run on any of these CPUs except the one this process
    /// runs on now; nothing when there is no other. A hint: a failure changes nothing.
    pub(crate) fn start_elsewhere(&self, pid: i32) {
        let mut others = self.0;
        others.unset(sched_getcpu());
        if others.count() > 0 {
            let _ = sched_setaffinity(Pid::from_raw(pid), &others);
        }
    }

    /// Lets process `pid` run on all of these CPUs again (after `start_elsewhere`). Fails
    /// only where none of them is left to it (its cpuset holds none of berth's CPUs), and then
    /// the process keeps its cpuset's, as it would have without this module.
    pub(crate) fn give_back(&self, pid: i32) {
        let _ = sched_setaffinity(Pid::from_raw(pid), &self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child moved elsewhere may not run on the parent's CPU; given back, it may run on all.
    #[test]
    fn a_child_starts_elsewhere_and_gets_every_cpu_back() {
        let Some(all) = Affinity::of_this_process() else {
            return;
        };
        if all.0.count() < 2 {
            eprintln!("skipped: one CPU");
            return;
        }
        let (read, write) = rustix::pipe::pipe().unwrap();
        // SAFETY: the test's child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let mut byte = [0u8];
            let _ = rustix::io::read(&read, &mut byte);
            // SAFETY: _exit ends the child without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        let here = sched_getcpu();
        all.start_elsewhere(pid);
        let moved = sched_getaffinity(Pid::from_raw(pid)).unwrap();
        all.give_back(pid);
        let back = sched_getaffinity(Pid::from_raw(pid)).unwrap();
        rustix::io::write(&write, b"1").unwrap();
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        assert!(
            !moved.is_set(here),
            "the child may still run on the parent's CPU"
        );
        assert_eq!(moved.count(), all.0.count() - 1);
        assert_eq!(back, all.0, "the child did not get every CPU back");
    }
}
