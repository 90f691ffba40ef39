//! `berth build` (and `image build`, `builder build`): the context (a directory, or a tar on
//! standard input) and its Dockerfile read, `.dockerignore` applied, then the builder run.

use super::Context;
use crate::exit::{Failure, Outcome};
use anyhow::anyhow;
use berth_build::builder::{self, BuildOptions, Progress};
use berth_build::dockerignore::Ignore;
use berth_image::reference::Reference;
use clap::Args;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// `berth build`
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from STDIN)
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set the networking mode for the RUN instructions during build ("bridge", "none", "host")
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Type of progress output ("auto", "plain", "tty")
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// The context: a directory, or "-" for a tar on STDIN
    #[arg(value_name = "PATH | -")]
    pub context: String,
}

fn failed(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 1,
        error: error.into(),
    }
}

fn usage(error: anyhow::Error) -> Failure {
    Failure {
        code: crate::exit::ENGINE,
        error,
    }
}

/// `KEY=VALUE` pairs; `KEY` alone takes the variable of berth's environment, when set (as the
/// docker CLI does), else is left out.
fn build_args(args: &[String]) -> BTreeMap<String, String> {
    args.iter()
        .filter_map(|arg| match arg.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(arg).ok().map(|v| (arg.clone(), v)),
        })
        .collect()
}

/// The standard input, decompressed when it is gzip or zstd.
fn stdin_tar() -> std::io::Result<Box<dyn Read>> {
    let mut input = BufReader::with_capacity(256 << 10, std::io::stdin());
    let magic = input
        .fill_buf()?
        .get(..4)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    Ok(match magic.as_slice() {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(input)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::Decoder::with_buffer(input)?),
        _ => Box::new(input),
    })
}

/// `berth build [OPTIONS] PATH | -`
pub fn run(ctx: &Context, args: &BuildArgs) -> Outcome {
    super::run::needs_root()?;
    let mut tags = Vec::new();
    for tag in &args.tag {
        let reference = Reference::parse(tag).map_err(|e| {
            usage(anyhow!(
                "invalid argument \"{tag}\" for \"-t, --tag\" flag: {e}"
            ))
        })?;
        let name = reference.tag.clone().unwrap_or_else(|| "latest".into());
        tags.push(reference.with_tag(&name));
    }
    let mut labels = BTreeMap::new();
    for label in &args.label {
        let (k, v) = label.split_once('=').unwrap_or((label, ""));
        labels.insert(k.to_owned(), v.to_owned());
    }
    let network = match args.network.as_str() {
        "default" | "bridge" => "bridge",
        "none" => "none",
        "host" => "host",
        other => {
            return Err(usage(anyhow!(
                "network mode \"{other}\" not supported by berth build (bridge, none or host)"
            )));
        }
    };
    let progress = match (args.quiet, args.progress.as_str()) {
        (true, _) => Progress::Quiet,
        (false, "plain") => Progress::Plain,
        (false, "auto" | "tty") => Progress::Classic,
        (false, other) => {
            return Err(usage(anyhow!(
                "invalid progress mode \"{other}\": auto, plain or tty"
            )));
        }
    };
    if args.context == "-" && args.file.as_deref() == Some("-") {
        return Err(usage(anyhow!(
            "invalid argument: can't use stdin for both build context and dockerfile"
        )));
    }
    let store = ctx.store().map_err(failed)?;
    // A context from standard input is unpacked into the store's temporary directory, removed
    // when this ends.
    let unpacked;
    let context: PathBuf = if args.context == "-" {
        unpacked = tempfile::Builder::new()
            .prefix("build-context-")
            .tempdir_in(store.tmp_dir())
            .map_err(|e| failed(anyhow!("unpack the context: {e}")))?;
        let mut archive = tar::Archive::new(
            stdin_tar().map_err(|e| failed(anyhow!("read the context from stdin: {e}")))?,
        );
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive
            .unpack(unpacked.path())
            .map_err(|e| failed(anyhow!("unpack the context from stdin: {e}")))?;
        unpacked.path().to_owned()
    } else {
        let path = Path::new(&args.context);
        if !path.is_dir() {
            return Err(failed(anyhow!(
                "unable to prepare context: context must be a directory: {}",
                args.context
            )));
        }
        path.to_owned()
    };
    let text = match args.file.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| failed(anyhow!("read the Dockerfile from stdin: {e}")))?;
            text
        }
        file => {
            let path = match (file, args.context == "-") {
                (Some(f), true) => context.join(f),
                (Some(f), false) => PathBuf::from(f),
                (None, _) => context.join("Dockerfile"),
            };
            std::fs::read_to_string(&path).map_err(|e| {
                failed(anyhow!(
                    "unable to prepare context: read the Dockerfile {}: {e}",
                    path.display()
                ))
            })?
        }
    };
    let dockerfile = berth_build::dockerfile::parse::parse(&text).map_err(failed)?;
    let ignore = match std::fs::read_to_string(context.join(".dockerignore")) {
        Ok(text) => Ignore::parse(&text).map_err(failed)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
        Err(e) => return Err(failed(anyhow!("read .dockerignore: {e}"))),
    };
    let excluded = |path: &str, is_dir: bool| ignore.is_excluded(path, is_dir);
    let options = BuildOptions {
        dockerfile: &dockerfile,
        context: &context,
        excluded: &excluded,
        tags,
        build_args: build_args(&args.build_arg),
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels,
        network: network.to_owned(),
        progress,
    };
    let notices = super::progress::for_output(args.quiet);
    let id = builder::build(&ctx.roots, &ctx.config, &options, notices.as_ref()).map_err(failed)?;
    if let Some(file) = &args.iidfile {
        std::fs::write(file, id.to_string())
            .map_err(|e| failed(anyhow!("write {}: {e}", file.display())))?;
    }
    Ok(0)
}
