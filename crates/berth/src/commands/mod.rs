//! One module per berth command, and the context they share.

pub mod archive;
pub mod containers;
pub mod images;
pub mod info;
pub mod login;
pub mod network;
pub mod progress;
pub mod reclaimed;
pub mod run;
pub mod version;

use berth_engine::config::EngineConfig;
use berth_engine::paths::Roots;
use berth_image::store::Store;

/// What every command may need: where data lives and the config file's settings.
pub struct Context {
    /// Data roots.
    pub roots: Roots,
    /// The config file, with command-line additions.
    pub config: EngineConfig,
}

impl Context {
    /// The image store under the data root.
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.roots.root)?)
    }
}

/// Ends an `inspect` command as Docker does: print the found objects as one
/// JSON array, report each missing name as `Error: {what}: NAME`, and exit 1
/// when any was missing.
fn print_inspect(found: &[serde_json::Value], missing: &[String], what: &str) -> i32 {
    println!(
        "{}",
        serde_json::to_string_pretty(found).expect("JSON values serialise")
    );
    for name in missing {
        eprintln!("Error: {what}: {name}");
    }
    if missing.is_empty() { 0 } else { 1 }
}
