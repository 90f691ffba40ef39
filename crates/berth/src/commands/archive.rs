//! `save` and `load` (and `image save`, `image load`): image archives as Docker writes and
//! reads them. Failures exit 1, as the docker CLI's do.

use super::Context;
use crate::cli::{LoadArgs, SaveArgs};
use crate::exit::{Failure, Outcome};
use anyhow::anyhow;
use berth_image::archive::{familiar, load, save};
use std::io::IsTerminal;

/// The exit code of a failed save or load (the docker CLI's).
const FAILED: i32 = 1;

fn failed(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: FAILED,
        error: error.into(),
    }
}

/// `berth save [-o FILE] IMAGE...`
pub fn run_save(ctx: &Context, args: &SaveArgs) -> Outcome {
    let store = ctx.store().map_err(failed)?;
    let cannot = |e| failed(anyhow!("cannot save {}: {e}", args.images.join(" ")));
    match &args.output {
        Some(path) => save::save_to_file(&store, &args.images, path).map_err(cannot)?,
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(failed(anyhow!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                )));
            }
            save::save(&store, &args.images, stdout.lock()).map_err(cannot)?;
        }
    }
    Ok(0)
}

/// `berth load [-i FILE] [-q]`
pub fn run_load(ctx: &Context, args: &LoadArgs) -> Outcome {
    let store = ctx.store().map_err(failed)?;
    let made = ctx.config.made_layers();
    let before = store.images().unwrap_or_default();
    let loaded = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| failed(anyhow!("cannot open {}: {e}", path.display())))?;
            load::load(&store, file, made)
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(failed(anyhow!(
                    "requested load from stdin, but stdin is empty"
                )));
            }
            load::load(&store, stdin.lock(), made)
        }
    }
    .map_err(|e| failed(anyhow!("cannot load the archive: {e}")))?;
    // Docker prints these whether or not -q (which quiets progress, which berth has none of).
    for image in loaded {
        if image.tags.is_empty() {
            println!("Loaded image ID: {}", image.id);
        }
        for tag in &image.tags {
            if let Some(old) = before.tags.get(&tag.to_string())
                && *old != image.id
            {
                println!(
                    "The image {} already exists, renaming the old one with ID {old} to empty string",
                    familiar(tag)
                );
            }
            println!("Loaded image: {}", familiar(tag));
        }
    }
    Ok(0)
}
