//! One module per berth command, and the context they share.

pub mod archive;
pub mod build;
pub mod containers;
pub mod events;
pub mod groups;
pub mod image_out;
pub mod images;
pub mod info;
pub mod labels;
pub mod login;
pub mod network;
pub mod progress;
pub mod prune;
pub mod ps;
pub mod push;
pub mod reclaimed;
pub mod run;
pub mod service;
pub mod system;
pub mod update;
pub mod version;
pub mod volume;

use crate::exit::Outcome;
use crate::format;
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

/// Ends an `inspect` command as Docker does: print the found objects (as one indented JSON
/// array, a compact one for `--format json`, or each through the `--format` template),
/// report each missing name as `Error: {what}: NAME` and each template error, and exit 1
/// when any was missing or failed. A template that does not parse is exit 64, as Docker's.
fn print_inspect(
    found: &[serde_json::Value],
    missing: &[String],
    what: &str,
    format: Option<&str>,
) -> Outcome {
    let mut failed = Vec::new();
    match format {
        None | Some("") => println!(
            "{}",
            serde_json::to_string_pretty(found).expect("JSON values serialise")
        ),
        Some("json") => println!("{}", serde_json::Value::from(found.to_vec())),
        Some(text) => {
            let template = format::inspect_template(text)?;
            let mut out = String::new();
            for object in found {
                let value = format::Value::from_json(object, "types.InspectResponse");
                match template.render(&value, format::Missing::NoEntry) {
                    Ok(text) => {
                        out.push_str(&text);
                        out.push('\n');
                    }
                    Err(e) => failed.push(format!("template parsing error: {e}")),
                }
            }
            if out.is_empty() {
                out.push('\n');
            }
            let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
        }
    }
    for name in missing {
        eprintln!("Error: {what}: {name}");
    }
    for error in &failed {
        eprintln!("{error}");
    }
    Ok(if missing.is_empty() && failed.is_empty() {
        0
    } else {
        1
    })
}
