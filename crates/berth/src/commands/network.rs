//! `network create|ls|inspect|rm|connect|disconnect` and `port`, and the network parts of
//! `inspect` and `ps`.

use super::Context;
use super::reclaimed::containers;
use crate::cli::{
    NetworkCommand, NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs,
    NetworkInspectArgs, NetworkLsArgs, NetworkNamesArgs, PortArgs,
};
use crate::exit::{Failure, Outcome};
use crate::format::{self, Format, Struct};
use anyhow::anyhow;
use berth_engine::connect;
use berth_engine::events;
use berth_engine::networks::{DEFAULT, Network, NetworkError, Networks};
use berth_engine::record::Record;
use berth_net::ports::PortBinding;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;

/// Docker's CLI ends with 1 when the engine refuses a network or port request.
fn refused(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 1,
        error: error.into(),
    }
}

fn networks(ctx: &Context) -> Networks {
    Networks::new(&ctx.roots.root, &ctx.roots.run_root)
}

/// `berth network ...`
pub fn run(ctx: &Context, command: &NetworkCommand) -> Outcome {
    match command {
        NetworkCommand::Create(args) => create(ctx, args),
        NetworkCommand::Ls(args) => ls(ctx, args),
        NetworkCommand::Inspect(args) => inspect(ctx, args),
        NetworkCommand::Rm(args) => rm(ctx, args),
        NetworkCommand::Connect(args) => connect_container(ctx, args),
        NetworkCommand::Disconnect(args) => disconnect_container(ctx, args),
        NetworkCommand::Prune(args) => super::prune::network_prune(ctx, args),
    }
}

fn create(ctx: &Context, args: &NetworkCreateArgs) -> Outcome {
    let network = networks(ctx)
        .create_from_text(
            &args.name,
            &args.driver,
            args.subnet.as_deref(),
            args.gateway.as_deref(),
            &ctx.config.network_defaults(),
        )
        .map_err(refused)?;
    events::network(&ctx.roots.root, "create", &network.id, &network.name, None);
    println!("{}", network.id);
    Ok(0)
}

/// The pseudo-networks Docker lists beside the real ones.
const PSEUDO: [&str; 2] = ["host", "none"];

/// Each field's column title, as Docker's `network ls` names them.
const TITLES: [(&str, &str); 8] = [
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED"),
];

fn ls(ctx: &Context, args: &NetworkLsArgs) -> Outcome {
    let format = if args.quiet {
        Format::new("{{.ID}}", "")?
    } else {
        Format::new(
            &args.format,
            "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        )?
    };
    let networks = networks(ctx);
    // The default network exists from the first use on; list it as Docker always does.
    let _ = networks.default_network(&ctx.config.network_defaults());
    let row = |id: String, name: &str, driver: &str, created: &str| {
        format::Value::from(Struct {
            labels: Some(BTreeMap::new()),
            ..Struct::new(
                "*formatter.networkContext",
                vec![
                    (
                        "CreatedAt",
                        format::Value::from(crate::units::created_at(created)),
                    ),
                    ("Driver", format::Value::from(driver)),
                    ("ID", format::Value::from(id)),
                    ("IPv6", format::Value::from("false")),
                    ("Internal", format::Value::from("false")),
                    ("Labels", format::Value::from("")),
                    ("Name", format::Value::from(name)),
                    ("Scope", format::Value::from("local")),
                ],
            )
        })
    };
    let mut rows: Vec<format::Value> = networks
        .list()
        .iter()
        .map(|n| {
            let id = if args.no_trunc {
                n.id.clone()
            } else {
                n.id[..12].to_owned()
            };
            row(id, &n.name, &n.driver, &n.created)
        })
        .collect();
    rows.extend(PSEUDO.map(|name| row("-".repeat(12), name, name, "")));
    let text = format.render(&rows, &format::header(&TITLES))?;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(0)
}

fn inspect(ctx: &Context, args: &NetworkInspectArgs) -> Outcome {
    let networks = networks(ctx);
    let records = containers(ctx).list();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.networks {
        if name == DEFAULT {
            let _ = networks.default_network(&ctx.config.network_defaults());
        }
        match networks.find(name) {
            Ok(network) => found.push(berth_engine::inspect::network(&network, &records)),
            Err(_) => missing.push(name.clone()),
        }
    }
    super::print_inspect(&found, &missing, "No such network", args.format.as_deref())
}

/// Docker-shaped network JSON.
fn rm(ctx: &Context, args: &NetworkNamesArgs) -> Outcome {
    let networks = networks(ctx);
    let records = containers(ctx).list();
    let mut code = 0;
    for name in &args.networks {
        let removed = networks.find(name).and_then(|network| {
            networks.remove(&network, &connect::users_of(&records, &network))?;
            Ok(network)
        });
        match removed {
            Ok(network) => {
                events::network(&ctx.roots.root, "destroy", &network.id, &network.name, None);
                println!("{name}");
            }
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

fn container_and_network(
    ctx: &Context,
    container: &str,
    network: &str,
) -> Result<(Record, Network), Failure> {
    let record = containers(ctx).find(container).map_err(refused)?;
    let networks = networks(ctx);
    if network == DEFAULT {
        let _ = networks.default_network(&ctx.config.network_defaults());
    }
    let network = networks.find(network).map_err(refused)?;
    Ok((record, network))
}

fn connect_container(ctx: &Context, args: &NetworkConnectArgs) -> Outcome {
    for alias in &args.alias {
        berth_engine::options::check_alias(alias).map_err(|e| Failure::from(anyhow!(e)))?;
    }
    let (record, network) = container_and_network(ctx, &args.container, &args.network)?;
    let ip = args
        .ip
        .as_deref()
        .map(|ip| {
            ip.parse::<Ipv4Addr>()
                .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {ip}")))
        })
        .transpose()
        .map_err(refused)?;
    connect::connect_network(&ctx.roots, &record, &network, &args.alias, ip).map_err(refused)?;
    Ok(0)
}

fn disconnect_container(ctx: &Context, args: &NetworkDisconnectArgs) -> Outcome {
    let (record, network) = container_and_network(ctx, &args.container, &args.network)?;
    connect::disconnect_network(&ctx.roots, &record, &network).map_err(refused)?;
    Ok(0)
}

/// `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`
pub fn port(ctx: &Context, args: &PortArgs) -> Outcome {
    let record = containers(ctx).find(&args.container).map_err(refused)?;
    let wanted = args.port.as_deref().map(|p| match p.split_once('/') {
        Some((port, proto)) => (port.to_owned(), proto.to_owned()),
        None => (p.to_owned(), "tcp".to_owned()),
    });
    let bindings: Vec<&PortBinding> = record
        .port_bindings
        .iter()
        .filter(|b| {
            wanted.as_ref().is_none_or(|(port, proto)| {
                *port == b.container_port.to_string() && *proto == b.protocol.to_string()
            })
        })
        .collect();
    if let (Some(p), true) = (&args.port, bindings.is_empty()) {
        return Err(refused(anyhow!(
            "No public port '{}' published for {}",
            if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            },
            record.name
        )));
    }
    for binding in bindings {
        if args.port.is_some() {
            println!(
                "{}:{}",
                binding.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                binding.host_port
            );
        } else {
            println!("{binding}");
        }
    }
    Ok(0)
}

/// The PORTS column of `ps`: `0.0.0.0:8080->80/tcp, ...`.
pub fn ports_column(record: &Record) -> String {
    record
        .port_bindings
        .iter()
        .map(|b| {
            format!(
                "{}:{}->{}/{}",
                b.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                b.host_port,
                b.container_port,
                b.protocol
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
