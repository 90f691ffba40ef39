//! `berth-testkit serve`: a local registry with a busybox image pushed to it, for `scripts/try`
//! and for trying berth by hand. It prints the image reference, then serves until killed or
//! until its standard input closes.

use berth_testkit::{busybox, registry::Registry};
use std::io::Read;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("serve") {
        eprintln!(
            "usage: berth-testkit serve\n\nStarts a registry on 127.0.0.1, pushes busybox:latest to it and prints its reference."
        );
        std::process::exit(2);
    }
    if let Err(e) = serve() {
        eprintln!("berth-testkit: {e}");
        std::process::exit(1);
    }
}

fn serve() -> berth_testkit::Result<()> {
    let registry = Registry::start_open()?;
    let image = busybox::image()?.build();
    registry
        .client(None)
        .push_image("busybox", "latest", &image)?;
    println!("{}/busybox:latest", registry.host());
    // Serve until whoever started us closes our standard input (or kills us).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    Ok(())
}
