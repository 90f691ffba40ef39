//! `push` (and `image push`): Docker's lines, a bar per layer on a terminal, exit 1 on failure
//! as the docker CLI.

use super::Context;
use crate::cli::PushArgs;
use crate::exit::{Failure, Outcome};
use anyhow::anyhow;
use berth_image::digest::Digest;
use berth_image::push::{LayerPushed, PushOptions, PushProgress, push};
use berth_image::reference::Reference;
use berth_image::registry::credentials::DockerConfig;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// `berth push [-a] [-q] NAME[:TAG]`
pub fn run(ctx: &Context, args: &PushArgs) -> Outcome {
    push_all(ctx, args).map_err(|error| Failure { code: 1, error })
}

fn push_all(ctx: &Context, args: &PushArgs) -> anyhow::Result<i32> {
    let reference = Reference::parse(&args.name)?;
    if reference.digest.is_some() {
        return Err(anyhow!(
            "cannot push a digest reference \"{}\": push a tag",
            args.name
        ));
    }
    // `Reference::parse` fills in `latest`; whether a tag was given is in the text.
    let tagged = args
        .name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    let store = ctx.store()?;
    let tags: Vec<Reference> = match (args.all_tags, tagged) {
        (true, true) => return Err(anyhow!("tag can't be used with --all-tags/-a")),
        (true, false) => {
            let images = store.images()?;
            let tags: Vec<Reference> = images
                .tags
                .keys()
                .filter_map(|t| Reference::parse(t).ok())
                .filter(|r| r.full_name() == reference.full_name())
                .collect();
            if tags.is_empty() {
                return Err(anyhow!(
                    "An image does not exist locally with the tag: {}",
                    reference.familiar_name()
                ));
            }
            tags
        }
        (false, true) => vec![reference.clone()],
        (false, false) => {
            if !args.quiet {
                println!("Using default tag: latest");
            }
            vec![reference.with_tag("latest")]
        }
    };
    let options = PushOptions {
        client: ctx.config.client_options(),
        credentials: DockerConfig::default_location(),
    };
    if !args.quiet {
        println!("The push refers to repository [{}]", reference.full_name());
    }
    for tag in &tags {
        let display = for_output(args.quiet);
        let pushed = push(&store, tag, &options, display.as_ref())?;
        if !args.quiet {
            println!(
                "{}: digest: {} size: {}",
                pushed.tag, pushed.digest, pushed.size
            );
        }
    }
    if args.quiet {
        match args.all_tags {
            true => println!("{}", reference.full_name()),
            false => println!("{}", tags[0]),
        }
    }
    Ok(0)
}

/// Picks the display for this output: bars on a terminal, lines otherwise, nothing with `-q`.
fn for_output(quiet: bool) -> Box<dyn PushProgress> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stdout().is_terminal() {
        Box::new(Bars::default())
    } else {
        Box::new(Lines)
    }
}

/// What Docker prints when a layer is done.
fn done_text(how: &LayerPushed) -> String {
    match how {
        LayerPushed::Exists => "Layer already exists".to_owned(),
        LayerPushed::Mounted(from) => format!("Mounted from {from}"),
        LayerPushed::Uploaded => "Pushed".to_owned(),
    }
}

/// `-q`: nothing.
struct Silent;

impl PushProgress for Silent {
    fn layer_waiting(&self, _: &Digest, _: u64) {}
    fn layer_sent(&self, _: &Digest, _: u64) {}
    fn layer_done(&self, _: &Digest, _: &LayerPushed) {}
}

/// `a46fbb00284b: Pushed`, one line per event that matters.
struct Lines;

impl PushProgress for Lines {
    fn layer_waiting(&self, layer: &Digest, _: u64) {
        println!("{}: Preparing", layer.short());
    }
    fn layer_sent(&self, _: &Digest, _: u64) {}
    fn layer_done(&self, layer: &Digest, how: &LayerPushed) {
        println!("{}: {}", layer.short(), done_text(how));
    }
}

/// A bar per layer, as Docker draws them.
#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl PushProgress for Bars {
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
        bar.set_message("Pushing");
        self.bars
            .lock()
            .expect("bars lock")
            .insert(layer.clone(), bar);
    }
    fn layer_sent(&self, layer: &Digest, sent: u64) {
        if let Some(bar) = self.bars.lock().expect("bars lock").get(layer) {
            bar.set_position(sent);
        }
    }
    fn layer_done(&self, layer: &Digest, how: &LayerPushed) {
        if let Some(bar) = self.bars.lock().expect("bars lock").remove(layer) {
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").expect("static template"),
            );
            bar.finish_with_message(done_text(how));
        }
    }
}
