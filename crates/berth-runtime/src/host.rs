//! Facts about the host kernel that decide what a container can use.

use std::fs;

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// Whether the kernel knows the overlay file system (built in or as a loaded module).
pub fn overlay_supported() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|text| filesystems_include(&text, "overlay"))
        .unwrap_or(false)
}

fn filesystems_include(proc_filesystems: &str, name: &str) -> bool {
    proc_filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some(name))
}

/// The start time of process `pid` (field 22 of /proc/PID/stat, clock ticks after boot), if
/// it exists: with the pid, it names one process even after the pid is reused.
pub fn process_start_time(pid: i32) -> Option<u64> {
    stat_field(pid, 22)
}

/// Field `number` (3 or later, numbered as in proc(5)) of /proc/PID/stat.
fn stat_field<T: std::str::FromStr>(pid: i32, number: usize) -> Option<T> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow its closing ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(number - 3)?.parse().ok()
}

/// The children of process `pid` (of its main thread, as /proc/PID/task/PID/children lists
/// them; from every process's parent in /proc where the kernel lacks that file).
pub fn children_of(pid: i32) -> Vec<i32> {
    let parse = |text: &str| -> Vec<i32> {
        text.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    match fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        Ok(text) => parse(&text),
        Err(_) => children_by_parent(pid),
    }
}

/// The processes whose parent is `pid`, found by reading every process's stat.
fn children_by_parent(pid: i32) -> Vec<i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&child| parent_of(child) == Some(pid))
        .collect()
}

/// The parent of process `pid`, if it exists.
fn parent_of(pid: i32) -> Option<i32> {
    stat_field(pid, 4)
}

/// Whether process `pid` is PID 1 of a PID namespace below the host's (its `NSpid` has a
/// second level that is 1): the init of a container.
pub fn is_namespace_init(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .is_some_and(|levels| levels.split_whitespace().nth(1) == Some("1"))
    })
}

/// What `top` and `ps` show of a process: its user, parent and command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Its real uid as the host sees it.
    pub uid: u32,
    /// Its pid.
    pub pid: i32,
    /// Its parent's pid.
    pub ppid: i32,
    /// Its arguments, joined by spaces.
    pub command: String,
}

/// `ProcessInfo` of process `pid` from /proc (zeros and an empty command for one that is gone).
pub fn process_info(pid: i32) -> ProcessInfo {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    ProcessInfo {
        uid: field("Uid:") as u32,
        pid,
        ppid: field("PPid:") as i32,
        command: String::from_utf8_lossy(&cmdline)
            .split('\0')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_file_system_by_its_last_column() {
        let text = "nodev\tsysfs\nnodev\toverlay\n\text4\n";
        assert!(filesystems_include(text, "overlay"));
        assert!(filesystems_include(text, "ext4"));
        assert!(!filesystems_include(text, "btrfs"));
    }

    #[test]
    fn reads_its_own_process() {
        let me = process_info(std::process::id() as i32);
        assert_eq!(me.uid, rustix::process::getuid().as_raw());
        assert_eq!(
            me.ppid,
            rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
        );
        assert!(!me.command.is_empty());
    }

    #[test]
    fn finds_the_children_of_a_process_both_ways() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let id = child.id() as i32;
        // The test runs on a thread, whose children /proc lists under that thread's task.
        let thread = rustix::thread::gettid().as_raw_nonzero().get();
        assert!(children_of(thread).contains(&id));
        assert!(children_by_parent(std::process::id() as i32).contains(&id));
        assert!(
            !is_namespace_init(id),
            "a child in the host's PID namespace"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!children_of(thread).contains(&id));
    }
}
