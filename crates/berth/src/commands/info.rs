//! `berth info [--format]`: the facts a user needs to debug the host.

use crate::cli::FormatArgs;
use crate::exit::Outcome;
use crate::format;
use anyhow::Context;
use berth_engine::paths::Roots;
use berth_runtime::{cgroups, host};
use serde_json::json;

/// Prints kernel, cgroup layout and controllers, overlayfs support, data roots and version;
/// with `--format`, the template runs on them by Docker's `info` field names.
pub fn run(roots: &Roots, args: &FormatArgs) -> Outcome {
    let layout = cgroups::detect().context("cannot read the cgroup layout at /sys/fs/cgroup")?;
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let containers = berth_engine::containers::Containers::new(&roots.root).list();
    let running = containers.iter().filter(|r| r.is_running()).count();
    let paused = containers
        .iter()
        .filter(|r| r.is_running() && r.paused)
        .count();
    let images = berth_image::store::Store::open(&roots.root)
        .and_then(|s| s.images())
        .map(|i| i.images.len())
        .unwrap_or(0);
    let overlay = if host::overlay_supported() {
        "supported"
    } else {
        "NOT supported by this kernel"
    };
    if let Some(text) = args.format.as_deref() {
        let data = json!({
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
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": layout.mode.as_str(),
            "DockerRootDir": roots.root.display().to_string(),
            "ServerVersion": env!("CARGO_PKG_VERSION"),
        });
        println!("{}", format::document(text, "", &data, "system.info")?);
        return Ok(0);
    }
    println!("Containers: {}", containers.len());
    println!(" Running: {}", running - paused);
    println!(" Paused: {paused}");
    println!(" Stopped: {}", containers.len() - running);
    println!("Images: {images}");
    println!("Berth Version: {}", env!("CARGO_PKG_VERSION"));
    println!("Kernel Version: {}", host::kernel_release());
    println!("Operating System: {os}");
    println!("Architecture: {}", std::env::consts::ARCH);
    println!("Cgroup Driver: cgroupfs");
    println!("Cgroup Version: {}", layout.mode.as_str());
    println!("Cgroup Controllers: {}", layout.controllers.join(" "));
    println!("Storage Driver: overlay ({overlay})");
    println!("Root Dir: {}", roots.root.display());
    println!("Run Root: {}", roots.run_root.display());
    Ok(0)
}
