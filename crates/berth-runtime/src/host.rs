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
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow its closing ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
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
}
