//! cgroup layout detection: pure v1, pure v2 (unified) or hybrid, found at run time.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `CGROUP2_SUPER_MAGIC` from linux/magic.h.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// `CGROUP_SUPER_MAGIC` (a v1 hierarchy) from linux/magic.h.
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

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

/// Finds the layout of the cgroup file system mounted at `/sys/fs/cgroup`, once per process:
/// a host does not change it under a running berth.
pub fn detect() -> std::io::Result<CgroupLayout> {
    static DETECTED: OnceLock<CgroupLayout> = OnceLock::new();
    if let Some(layout) = DETECTED.get() {
        return Ok(layout.clone());
    }
    let layout = detect_at(Path::new("/sys/fs/cgroup"))?;
    Ok(DETECTED.get_or_init(|| layout).clone())
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

impl CgroupLayout {
    /// The v1 hierarchies mounted right below the root, by directory name (`memory`,
    /// `cpu,cpuacct`): a container gets the same names at its /sys/fs/cgroup. Named
    /// hierarchies (`systemd`) and the symlinks of co-mounted controllers are left out.
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets.
    pub fn v1_hierarchies(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| {
                name.split(',')
                    .all(|part| self.controllers.iter().any(|c| c == part))
                    && rustix::fs::statfs(self.root.join(name))
                        .is_ok_and(|st| st.f_type as i64 == CGROUP_SUPER_MAGIC)
            })
            .collect();
        names.sort();
        names
    }
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

    #[test]
    fn v1_hierarchies_are_the_hosts_unnamed_v1_mounts() {
        let layout = detect().unwrap();
        // What /proc/self/mountinfo says: v1 mounts right below the root, without `name=`.
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut expected: Vec<String> = mountinfo
            .lines()
            .filter_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                let mount_point = Path::new(left.split(' ').nth(4)?);
                let fields: Vec<&str> = right.split(' ').collect();
                (fields[0] == "cgroup"
                    && !fields[2].contains("name=")
                    && mount_point.parent() == Some(layout.root.as_path()))
                .then(|| mount_point.file_name()?.to_str().map(str::to_owned))?
            })
            .collect();
        expected.sort();
        expected.dedup();
        assert_eq!(layout.v1_hierarchies(), expected);
        if layout.mode != CgroupMode::V2 {
            assert!(layout.v1_hierarchies().iter().any(|h| h.contains("memory")));
        }
    }
}
