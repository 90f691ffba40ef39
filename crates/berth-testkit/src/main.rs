//! `berth-testkit serve [--big MB] [--python]`: a local registry with images pushed to it, for
//! `scripts/try`, the benchmarks and trying berth by hand. It prints one image reference per
//! line, then serves until killed or until its standard input closes.
//!
//! - `busybox:latest` always;
//! - with `--big MB`, `big:latest` too: five layers of about MB/5 megabytes each of files that
//!   compress about as well as real binaries do;
//! - with `--python`, `python:latest` too: a Debian-Python-like image of seven layers made of
//!   this host's files (`host_image::python_image`), and `python-base:latest`, its first
//!   four layers.

use berth_testkit::image::{ImageSpec, Layer};
use berth_testkit::{busybox, host_image, registry::Registry};
use std::io::{Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let python = args.iter().any(|a| a == "--python");
    let rest: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--python")
        .collect();
    let big_mb = match rest.as_slice() {
        ["serve"] => None,
        ["serve", "--big", mb] => mb.parse::<usize>().ok(),
        _ => {
            eprintln!(
                "usage: berth-testkit serve [--big MB] [--python]\n\nStarts a registry on 127.0.0.1, pushes busybox:latest (and big:latest, python:latest) and prints their references."
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = serve(big_mb, python) {
        eprintln!("berth-testkit: {e}");
        std::process::exit(1);
    }
}

fn serve(big_mb: Option<usize>, python: bool) -> berth_testkit::Result<()> {
    let registry = Registry::start_open()?;
    let client = registry.client(None);
    client.push_image("busybox", "latest", &busybox::image()?.build())?;
    let mut out = std::io::stdout();
    writeln!(out, "{}/busybox:latest", registry.host())?;
    if let Some(mb) = big_mb {
        client.push_image("big", "latest", &big_image(mb).build())?;
        writeln!(out, "{}/big:latest", registry.host())?;
    }
    if python {
        let image = host_image::python_image();
        client.push_image("python", "latest", &image.build())?;
        writeln!(out, "{}/python:latest", registry.host())?;
        client.push_image(
            "python-base",
            "latest",
            &host_image::base_of(&image).build(),
        )?;
        writeln!(out, "{}/python-base:latest", registry.host())?;
    }
    out.flush()?;
    // Serve until whoever started us closes our standard input (or kills us).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    Ok(())
}

/// Five layers of 1 MiB files, `mb` megabytes in all: half pseudo-random bytes, half text, so
/// that gzip shrinks them to roughly half, as it does real binaries.
fn big_image(mb: usize) -> ImageSpec {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let files_per_layer = (mb / 5).max(1);
    let layers = (0..5)
        .map(|l| {
            let mut layer = Layer::new().dir(&format!("layer{l}"), 0o755);
            for f in 0..files_per_layer {
                let mut data = Vec::with_capacity(1 << 20);
                while data.len() < 1 << 20 {
                    if (data.len() / 4096) % 2 == 0 {
                        data.extend_from_slice(&next().to_le_bytes());
                    } else {
                        data.extend_from_slice(
                            format!("line {f} {l} {:016x}\n", next() % 1000).as_bytes(),
                        );
                    }
                }
                layer = layer.file(&format!("layer{l}/file{f}"), &data, 0o644);
            }
            layer
        })
        .collect();
    ImageSpec::new(layers, &["sh"])
}
