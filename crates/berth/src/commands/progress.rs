//! Pull progress: a bar per layer on a terminal (as Docker draws them), plain lines otherwise,
//! nothing with `-q`; and the engine's warnings and notes, on stderr as Docker's CLI writes
//! them.

use berth_engine::notices::Notices;
use berth_image::digest::Digest;
use berth_image::pull::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Picks the display for this output.
pub fn for_output(quiet: bool) -> Box<dyn Notices> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stdout().is_terminal() {
        Box::new(Bars::default())
    } else {
        Box::new(Lines)
    }
}

/// The engine's warnings and notes, whatever shows the pull's progress (`-q` silences the
/// progress alone, as with Docker).
macro_rules! stderr_notices {
    ($($display:ty),*) => {$(
        impl Notices for $display {
            fn warning(&self, text: &str) {
                eprintln!("WARNING: {text}");
            }
            fn note(&self, text: &str) {
                eprintln!("{text}");
            }
        }
    )*};
}
stderr_notices!(Silent, Lines, Bars);

/// No progress at all (`-q`), and what needs none (`stop`).
pub struct Silent;

impl Progress for Silent {
    fn layer_waiting(&self, _: &Digest, _: u64) {}
    fn layer_exists(&self, _: &Digest) {}
    fn layer_bytes(&self, _: &Digest, _: u64) {}
    fn layer_done(&self, _: &Digest) {}
}

/// `a46fbb00284b: Pull complete`, one line per event that matters.
struct Lines;

impl Progress for Lines {
    fn layer_waiting(&self, layer: &Digest, _: u64) {
        println!("{}: Pulling fs layer", layer.short());
    }
    fn layer_exists(&self, layer: &Digest) {
        println!("{}: Already exists", layer.short());
    }
    fn layer_bytes(&self, _: &Digest, _: u64) {}
    fn layer_done(&self, layer: &Digest) {
        println!("{}: Pull complete", layer.short());
    }
}

#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl Progress for Bars {
    fn layer_waiting(&self, layer: &Digest, size: u64) {
        let style =
            ProgressStyle::with_template("{prefix}: {msg:<12} [{bar:40}] {bytes}/{total_bytes}")
                .expect("static template")
                .progress_chars("=> ");
        let bar = self.multi.add(
            ProgressBar::new(size)
                .with_style(style)
                .with_prefix(layer.short().to_owned()),
        );
        bar.set_message("Downloading");
        self.bars
            .lock()
            .expect("bars lock")
            .insert(layer.clone(), bar);
    }
    fn layer_exists(&self, layer: &Digest) {
        let _ = self
            .multi
            .println(format!("{}: Already exists", layer.short()));
    }
    fn layer_bytes(&self, layer: &Digest, bytes: u64) {
        if let Some(bar) = self.bars.lock().expect("bars lock").get(layer) {
            bar.inc(bytes);
        }
    }
    fn layer_done(&self, layer: &Digest) {
        if let Some(bar) = self.bars.lock().expect("bars lock").remove(layer) {
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").expect("static template"),
            );
            bar.finish_with_message("Pull complete");
        }
    }
}
