//! cgroup layout detection: pure v1, pure v2 (unified) or hybrid, found at run time.

use std::fs;
use std::path::{Path, PathBuf};

/// `CGROUP2_SUPER_MAGIC` from linux/magic.h.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// How the host mounts its cgroup hierarchies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 hierarchies, one per controller, under `/sys/fs/cgroup/<controller>`.
    V1,
    /// v1 controllers plus an unused cgroup2 at `/sys/fs/cgroup/unified`.
    Hybrid,
    /// A single cgroup2 hierarchy at `/sys/fs/cgroup`.
    V2,
}

impl CgroupMode {
    /// The name `berth info` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupMode::V1 => "v1",
            CgroupMode::Hybrid => "hybrid",
            CgroupMode::V2 => "v2",
        }
    }
}

/// The host's cgroup layout and the controllers berth can use in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLayout {
    /// The mount mode.
    pub mode: CgroupMode,
    /// Where the hierarchies are mounted (normally `/sys/fs/cgroup`).
    pub root: PathBuf,
    /// The controllers that can be used to set limits, sorted by name.
    pub controllers: Vec<String>,
}

/// Finds the layout of the cgroup file system mounted at `/sys/fs/cgroup`.
pub fn detect() -> std::io::Result<CgroupLayout> {
    detect_at(Path::new("/sys/fs/cgroup"))
}

/// Finds the layout of the cgroup file system mounted at `root`.
pub fn detect_at(root: &Path) -> std::io::Result<CgroupLayout> {
    if is_cgroup2(root)? {
        let controllers = read_v2_controllers(&root.join("cgroup.controllers"))?;
        return Ok(CgroupLayout {
            mode: CgroupMode::V2,
            root: root.to_path_buf(),
            controllers,
        });
    }
    let unified = root.join("unified");
    let mode = if unified.is_dir() && is_cgroup2(&unified)? {
        CgroupMode::Hybrid
    } else {
        CgroupMode::V1
    };
    let controllers = v1_controllers(&fs::read_to_string("/proc/cgroups")?);
    Ok(CgroupLayout {
        mode,
        root: root.to_path_buf(),
        controllers,
    })
}

/// The v1 hierarchies mounted right below `root`, by directory name (`memory`,
/// `cpu,cpuacct`): a container gets the same names at its /sys/fs/cgroup. Named hierarchies
/// (`name=systemd`) are left out.
pub fn v1_hierarchies(root: &Path) -> Vec<String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut names: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = Path::new(left.split(' ').nth(4)?);
            let mut fields = right.split(' ');
            let is_v1 = fields.next() == Some("cgroup");
            let named = fields
                .nth(1)
                .is_some_and(|options| options.contains("name="));
            (is_v1 && !named && mount_point.parent() == Some(root))
                .then(|| mount_point.file_name()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn is_cgroup2(path: &Path) -> std::io::Result<bool> {
    let st = rustix::fs::statfs(path)?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets.
    Ok(st.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

fn read_v2_controllers(path: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_to_string(path)?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    names.sort();
    Ok(names)
}

/// The v1 controllers that are enabled and mounted, read from a `/proc/cgroups` text.
///
/// Its columns are `subsys_name hierarchy num_cgroups enabled`; a controller sits in a v1
/// hierarchy when its hierarchy id is not 0.
fn v1_controllers(proc_cgroups: &str) -> Vec<String> {
    let mut names: Vec<String> = proc_cgroups
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            match cols.as_slice() {
                [name, hierarchy, _, "1"] if *hierarchy != "0" => Some((*name).to_owned()),
                _ => None,
            }
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_controllers_are_the_enabled_mounted_ones() {
        let text = "\
#subsys_name\thierarchy\tnum_cgroups\tenabled
cpuset\t3\t1\t1
cpu\t1\t1\t1
memory\t4\t70\t1
hugetlb\t0\t1\t1
rdma\t9\t1\t0";
        assert_eq!(v1_controllers(text), ["cpu", "cpuset", "memory"]);
    }
}
