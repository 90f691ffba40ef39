//! What `info` tells about the host and the engine, by Docker's `info` field names: shared
//! by `berth info` and the API's `GET /info`.

use crate::paths::Roots;
use berth_runtime::{cgroups, host};
use serde_json::{Value, json};

/// Docker's `info` fields that berth has, and the cgroup controllers (`CgroupControllers`,
/// berth's own). Fails only when the cgroup layout cannot be read.
pub fn system_info(roots: &Roots) -> Result<Value, std::io::Error> {
    let layout = cgroups::detect()?;
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let containers = crate::containers::Containers::new(&roots.root).list();
    let running = containers.iter().filter(|r| r.is_running()).count();
    let paused = containers
        .iter()
        .filter(|r| r.is_running() && r.paused)
        .count();
    let images = berth_image::store::Store::open(&roots.root)
        .and_then(|s| s.images())
        .map(|i| i.images.len())
        .unwrap_or(0);
    let memory = rustix::system::sysinfo();
    Ok(json!({
        "Containers": containers.len(),
        "ContainersRunning": running - paused,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running,
        "Images": images,
        "Driver": "overlay",
        "KernelVersion": host::kernel_release(),
        "OperatingSystem": os,
        "OSType": std::env::consts::OS,
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": memory.totalram as u64 * u64::from(memory.mem_unit),
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": layout.mode.as_str(),
        "CgroupControllers": layout.controllers,
        "DockerRootDir": roots.root.display().to_string(),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Name": rustix::system::uname().nodename().to_string_lossy(),
    }))
}
