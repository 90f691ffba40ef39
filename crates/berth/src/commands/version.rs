//! `berth version`

use crate::exit::Outcome;

/// Prints the version, as `docker version` does for its client.
pub fn run() -> Outcome {
    println!("berth:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!(
        " OS/Arch:    {}/{}",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!(" Daemon:     none (berth is daemonless)");
    Ok(0)
}
