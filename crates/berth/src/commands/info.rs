//! `berth info [--format]`: the facts a user needs to debug the host.

use crate::cli::FormatArgs;
use crate::exit::Outcome;
use crate::format;
use anyhow::Context;
use berth_engine::paths::Roots;
use berth_runtime::host;

/// Prints kernel, cgroup layout and controllers, overlayfs support, data roots and version;
/// with `--format`, the template runs on them by Docker's `info` field names.
pub fn run(roots: &Roots, args: &FormatArgs) -> Outcome {
    let data = berth_engine::info::system_info(roots)
        .context("cannot read the cgroup layout at /sys/fs/cgroup")?;
    if let Some(text) = args.format.as_deref() {
        println!("{}", format::document(text, "", &data, "system.info")?);
        return Ok(0);
    }
    let overlay = if host::overlay_supported() {
        "supported"
    } else {
        "NOT supported by this kernel"
    };
    let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
    println!("Containers: {}", data["Containers"]);
    println!(" Running: {}", data["ContainersRunning"]);
    println!(" Paused: {}", data["ContainersPaused"]);
    println!(" Stopped: {}", data["ContainersStopped"]);
    println!("Images: {}", data["Images"]);
    println!("Berth Version: {}", text("ServerVersion"));
    println!("Kernel Version: {}", text("KernelVersion"));
    println!("Operating System: {}", text("OperatingSystem"));
    println!("Architecture: {}", text("Architecture"));
    println!("Cgroup Driver: cgroupfs");
    println!("Cgroup Version: {}", text("CgroupVersion"));
    let controllers: Vec<&str> = data["CgroupControllers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str())
        .collect();
    println!("Cgroup Controllers: {}", controllers.join(" "));
    println!("Storage Driver: overlay ({overlay})");
    println!("Root Dir: {}", roots.root.display());
    println!("Run Root: {}", roots.run_root.display());
    Ok(0)
}
