//! `berth version [--format]`

use crate::cli::FormatArgs;
use crate::exit::Outcome;
use crate::format;
use serde_json::json;

/// Prints the version, as `docker version` does for its client; with `--format`, the
/// template runs on Docker's `Client` and `Server` fields (berth is both: the engine runs in
/// each command).
pub fn run(args: &FormatArgs) -> Outcome {
    let version = env!("CARGO_PKG_VERSION");
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    let Some(text) = args.format.as_deref() else {
        println!("berth:");
        println!(" Version:    {version}");
        println!(" OS/Arch:    {os}/{arch}");
        println!(" Daemon:     none (berth is daemonless)");
        return Ok(0);
    };
    let data = json!({
        "Client": { "Platform": { "Name": "berth" }, "Version": version, "Os": os, "Arch": arch, "Context": "default" },
        "Server": {
            "Platform": { "Name": "berth (daemonless)" },
            "Components": [{ "Name": "Engine", "Version": version }],
            "Version": version,
            "Os": os,
            "Arch": arch,
            "KernelVersion": berth_runtime::host::kernel_release(),
        },
    });
    println!(
        "{}",
        format::document(text, "version", &data, "system.versionInfo")?
    );
    Ok(0)
}
