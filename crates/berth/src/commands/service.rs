//! `berth system service [--time SECONDS] [URI]`: the Docker Engine API on a socket, as
//! `podman system service` serves it; the only command that starts an async runtime.

use super::Context;
use crate::cli_groups::ServiceArgs;
use crate::exit::Outcome;
use anyhow::anyhow;
use berth_api::listen::{self, Endpoint};
use std::time::Duration;

/// Serves until `--time` passes without a connection (never for 0) or a stop signal; listens
/// on the socket systemd passed when there is one, else on URI.
pub fn run(ctx: &Context, args: &ServiceArgs) -> Outcome {
    super::run::needs_root()?;
    let bound = match listen::activated()
        .map_err(|e| anyhow!("take the socket systemd passed: {e}"))?
    {
        Some(bound) => bound,
        None => {
            let uri = args.uri.as_deref().unwrap_or(listen::DEFAULT_URI);
            let endpoint = Endpoint::parse(uri).map_err(|e| anyhow!("listen: {e}"))?;
            if let Endpoint::Tcp(address) = &endpoint {
                eprintln!(
                    "WARNING: the API on tcp://{address} has no authentication: anyone who can reach it controls berth as root"
                );
            }
            listen::bind(&endpoint).map_err(|e| anyhow!("listen on {uri}: {e}"))?
        }
    };
    let idle = (args.time > 0).then(|| Duration::from_secs(args.time));
    berth_api::serve(ctx.roots.clone(), ctx.config.clone(), bound, idle)
        .map_err(|e| anyhow!("{e}"))?;
    Ok(0)
}
