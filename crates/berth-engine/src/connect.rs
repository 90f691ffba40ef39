//! A container's network at start and at exit: its namespace, its endpoints on bridge
//! networks, its published ports, and the /etc/hosts files that name containers to each
//! other on user networks.
//!
//! Everything made here is named after the container (the namespace file
//! `<run-root>/netns/<id>`, host interfaces `vb<id[..11]><n>`, leases holding the id, firewall
//! rules with the id in their comment), so `disconnect` can find and undo it from the record
//! alone, also after a `kill -9` (see `Containers::reclaim`).

use crate::containers::Containers;
use crate::networks::{DEFAULT, Network, NetworkError, Networks};
use crate::paths::Roots;
use crate::record::{Endpoint, NetworkMode, Record};
use berth_error::Context;
use berth_net::bridge::Attachment;
use berth_net::firewall::Firewall;
use berth_net::netlink::Rtnl;
use berth_net::{NetError, bridge, netns, ports};
use berth_runtime::container::NetworkNamespace;
use rustix::fd::OwnedFd;
use std::fs;
use std::path::{Path, PathBuf};

/// The default /etc/hosts lines.
pub const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The file that keeps container `id`'s network namespace.
pub fn netns_path(run_root: &Path, id: &str) -> PathBuf {
    run_root.join("netns").join(id)
}

/// The host's end of the veth pair of container `id`'s `n`th endpoint.
fn host_interface(id: &str, n: usize) -> String {
    format!("vb{}{n}", &id[..11])
}

/// What the process that owns a running container holds for it: the sockets that reserve its
/// published host ports.
pub type HeldPorts = Vec<OwnedFd>;

/// Connects a starting container to its networks: the namespace the runtime is to use, and
/// the port reservations to hold while it runs. The record gets its addresses and ports.
/// Nothing stays behind on failure.
pub fn connect(
    roots: &Roots,
    record: &Record,
) -> Result<(NetworkNamespace, HeldPorts), NetworkError> {
    match &record.network_mode {
        NetworkMode::None => return Ok((NetworkNamespace::New, Vec::new())),
        NetworkMode::Host => return Ok((NetworkNamespace::Host, Vec::new())),
        NetworkMode::Container(other) => return join(roots, other),
        NetworkMode::Network(_) => {}
    }
    let path = netns_path(&roots.run_root, &record.id);
    let connected = connect_bridges(roots, record, &path);
    if connected.is_err() {
        disconnect(roots, record);
    }
    connected.map(|held| (NetworkNamespace::Join(path), held))
}

/// The namespace of container `other`, which must be running.
fn join(roots: &Roots, other: &str) -> Result<(NetworkNamespace, HeldPorts), NetworkError> {
    let containers = Containers::new(&roots.root);
    let other = containers
        .get(other)
        .ok()
        .and_then(|r| r.init_pid())
        .ok_or_else(|| {
            NetworkError::Invalid(format!(
                "cannot join network of a non running container: {other}"
            ))
        })?;
    Ok((
        NetworkNamespace::Join(PathBuf::from(format!("/proc/{other}/ns/net"))),
        Vec::new(),
    ))
}

fn connect_bridges(roots: &Roots, record: &Record, path: &Path) -> Result<HeldPorts, NetworkError> {
    let id = &record.id;
    let networks = Networks::new(&roots.root, &roots.run_root);
    netns::create(path).context("create the network namespace")?;
    let mut rtnl = Rtnl::open().context("open netlink")?;
    let mut endpoints = record.networks.clone();
    let mut first = None;
    for (n, endpoint) in endpoints.iter_mut().enumerate() {
        let network = networks.find(&endpoint.network)?;
        let device = networks.device(&network, &mut rtnl)?;
        let ip = networks
            .leases(&network)
            .allocate(&network.subnet, network.gateway, id, endpoint.requested_ip)
            .map_err(NetError::from)?;
        let (host_if, interface) = (host_interface(id, n), format!("eth{n}"));
        // The namespace of this container's last run may still be on its way out.
        bridge::detach(&mut rtnl, &host_if)?;
        let how = Attachment {
            netns: path,
            host_interface: &host_if,
            interface: &interface,
            ip,
            default_route: n == 0,
        };
        networks.bridge(&network).attach(&mut rtnl, device, &how)?;
        endpoint.ip = Some(ip);
        endpoint.interface = Some(interface);
        endpoint.host_interface = Some(host_if);
        first.get_or_insert((network, ip));
    }
    let (bindings, held) = match (&first, record.ports.is_empty()) {
        (Some((network, ip)), false) => {
            let (bindings, held) = ports::reserve(&record.ports).map_err(NetworkError::Invalid)?;
            Firewall::new(&network.table)
                .add_ports(id, *ip, &network.subnet, &bindings)
                .map_err(NetError::from)?;
            (bindings, held)
        }
        _ => Default::default(),
    };
    let containers = Containers::new(&roots.root);
    let record = containers.update(id, |r| {
        r.networks = endpoints;
        r.port_bindings = bindings;
        r.clone()
    })?;
    refresh_hosts(roots, &record, None);
    Ok(held)
}

/// Undoes `connect`: host interfaces, leases, the namespace, firewall rules; peers' hosts
/// files are refreshed, and the record loses its addresses. Safe to call on anything
/// `connect` left half-made.
pub fn disconnect(roots: &Roots, record: &Record) {
    release(roots, record);
    let containers = Containers::new(&roots.root);
    let _ = containers.update(&record.id, Record::clear_endpoints);
}

/// `disconnect` but for the record, which is left as it is (for a caller that holds its
/// lock): what the container holds on the host is let go, and peers' hosts files refreshed.
pub fn release(roots: &Roots, record: &Record) {
    if !record.network_mode.on_bridges() {
        return;
    }
    let id = &record.id;
    let networks = Networks::new(&roots.root, &roots.run_root);
    // Letting go of the namespace is enough: the kernel frees it, and with it the container's
    // veth ends and their host peers, in the background. Deleting a veth here would cost the
    // caller a wait for the kernel (an RCU grace period, ~15 ms). Only when the namespace
    // cannot be let go are the host ends deleted here.
    if let Err(e) = netns::remove(&netns_path(&roots.run_root, id)) {
        tracing::warn!(id, %e, "cannot remove the network namespace; deleting its interfaces");
        delete_host_interfaces(id);
    }
    let mut tables = Vec::new();
    for endpoint in &record.networks {
        if let Ok(network) = networks.find(&endpoint.network) {
            networks.leases(&network).release_owner(id);
            tables.push(network.table);
        }
    }
    if !record.ports.is_empty() {
        tables.dedup();
        for table in tables {
            if let Err(e) = Firewall::new(&table).remove_container(id) {
                tracing::warn!(id, %e, "cannot remove the container's firewall rules");
            }
        }
    }
    refresh_hosts(roots, record, Some(id));
}

/// Deletes every host interface of container `id` (`vb<id[..11]>N`).
fn delete_host_interfaces(id: &str) {
    let Ok(mut rtnl) = Rtnl::open() else { return };
    let prefix = host_interface(id, 0);
    let prefix = &prefix[..prefix.len() - 1];
    for link in rtnl.links().unwrap_or_default() {
        if link.name.starts_with(prefix)
            && let Err(e) = rtnl.delete_link(link.index)
        {
            tracing::warn!(link = link.name, %e, "cannot delete a container's interface");
        }
    }
}

/// The user networks (not the default one) of `record`.
fn user_networks(record: &Record) -> impl Iterator<Item = &Endpoint> {
    record.networks.iter().filter(|e| e.network != DEFAULT)
}

/// Rewrites the hosts file of `record` (unless it is `leaving`) and of every running
/// container that shares a user network with it.
pub fn refresh_hosts(roots: &Roots, record: &Record, leaving: Option<&str>) {
    let containers = Containers::new(&roots.root);
    let networks = Networks::new(&roots.root, &roots.run_root);
    let shared: Vec<String> = user_networks(record).map(|e| e.network.clone()).collect();
    let _locks: Vec<_> = shared
        .iter()
        .filter_map(|name| networks.find(name).ok())
        .filter_map(|n| networks.lock(&n).ok())
        .collect();
    let running: Vec<Record> = if shared.is_empty() {
        Vec::new()
    } else {
        containers
            .list()
            .into_iter()
            .filter(|r| Some(r.id.as_str()) != leaving && r.is_running())
            .collect()
    };
    let mut targets: Vec<&Record> = running
        .iter()
        .filter(|r| user_networks(r).any(|e| shared.contains(&e.network)))
        .collect();
    let fresh;
    if leaving.is_none() && !targets.iter().any(|r| r.id == record.id) {
        fresh = containers
            .get(&record.id)
            .unwrap_or_else(|_| record.clone());
        targets.push(&fresh);
    }
    for target in targets {
        let text = hosts_file(target, &running, &networks);
        // Written in place: the container sees the file through a bind mount of its inode.
        if let Err(e) = fs::write(containers.dir(&target.id).join("hosts"), text) {
            tracing::warn!(id = target.id, %e, "cannot write a hosts file");
        }
    }
}

/// The hosts file of `record`: localhost, its own address and name, `--add-host` entries, and
/// the containers that share a user network with it, by name and alias.
fn hosts_file(record: &Record, running: &[Record], networks: &Networks) -> String {
    let mut text = HOSTS.to_owned();
    let own = record.networks.iter().find_map(|e| e.ip);
    if let Some(ip) = own {
        let mut names = record.hostname.clone();
        if !record.name.is_empty() && record.name != record.hostname {
            names.push(' ');
            names.push_str(&record.name);
        }
        text.push_str(&format!("{ip}\t{names}\n"));
    }
    for entry in &record.extra_hosts {
        if let Some((name, ip)) = entry.split_once(':') {
            let ip = if ip == "host-gateway" {
                match record
                    .networks
                    .first()
                    .and_then(|e| networks.find(&e.network).ok())
                {
                    Some(network) => network.gateway.to_string(),
                    None => continue,
                }
            } else {
                ip.to_owned()
            };
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    for mine in user_networks(record) {
        for peer in running.iter().filter(|p| p.id != record.id) {
            for theirs in user_networks(peer).filter(|e| e.network == mine.network) {
                if let Some(ip) = theirs.ip {
                    let mut names = vec![peer.name.clone()];
                    names.extend(theirs.aliases.iter().cloned());
                    text.push_str(&format!("{ip}\t{}\n", names.join(" ")));
                }
            }
        }
    }
    text
}

/// The host's hardware address text for an endpoint's address.
pub fn mac_of(endpoint: &Endpoint) -> String {
    endpoint
        .ip
        .map(|ip| bridge::mac_text(&bridge::mac_for(ip)))
        .unwrap_or_default()
}

/// `network connect`: puts the container on `network` too; a running container gets its
/// interface at once, a stopped one at its next start.
pub fn connect_network(
    roots: &Roots,
    record: &Record,
    network: &Network,
    aliases: &[String],
    requested_ip: Option<std::net::Ipv4Addr>,
) -> Result<(), NetworkError> {
    if !record.network_mode.on_bridges() {
        return Err(NetworkError::Invalid(format!(
            "container sharing network namespace with another container or host cannot be connected to any other network (network mode {})",
            record.network_mode
        )));
    }
    if record.networks.iter().any(|e| e.network == network.name) {
        return Err(NetworkError::Invalid(format!(
            "endpoint with name {} already exists in network {}",
            record.name, network.name
        )));
    }
    if network.name == DEFAULT && (!aliases.is_empty() || requested_ip.is_some()) {
        return Err(NetworkError::Invalid(
            "network-scoped aliases and addresses are supported only for user defined networks"
                .into(),
        ));
    }
    let mut endpoint = Endpoint {
        network: network.name.clone(),
        aliases: aliases.to_vec(),
        requested_ip,
        ..Endpoint::default()
    };
    let containers = Containers::new(&roots.root);
    if record.is_running() {
        let networks = Networks::new(&roots.root, &roots.run_root);
        let mut rtnl = Rtnl::open().context("open netlink")?;
        let device = networks.device(network, &mut rtnl)?;
        let leases = networks.leases(network);
        let ip = leases
            .allocate(&network.subnet, network.gateway, &record.id, requested_ip)
            .map_err(NetError::from)?;
        let n = (0..10)
            .find(|n| {
                !record
                    .networks
                    .iter()
                    .any(|e| e.interface.as_deref() == Some(&format!("eth{n}")))
            })
            .ok_or_else(|| NetworkError::Invalid("too many networks".into()))?;
        let (host_if, interface) = (host_interface(&record.id, n), format!("eth{n}"));
        let path = netns_path(&roots.run_root, &record.id);
        let how = Attachment {
            netns: &path,
            host_interface: &host_if,
            interface: &interface,
            ip,
            default_route: false,
        };
        if let Err(e) = networks.bridge(network).attach(&mut rtnl, device, &how) {
            leases.release(ip);
            return Err(e.into());
        }
        endpoint.ip = Some(ip);
        endpoint.interface = Some(interface);
        endpoint.host_interface = Some(host_if);
    }
    let updated = containers.update(&record.id, |r| {
        r.networks.push(endpoint);
        r.clone()
    })?;
    if updated.is_running() {
        refresh_hosts(roots, &updated, None);
    }
    let (id, name) = (&network.id, &network.name);
    crate::events::network(&roots.root, "connect", id, name, Some(&record.id));
    Ok(())
}

/// `network disconnect`: takes the container off `network`.
pub fn disconnect_network(
    roots: &Roots,
    record: &Record,
    network: &Network,
) -> Result<(), NetworkError> {
    let Some(endpoint) = record.networks.iter().find(|e| e.network == network.name) else {
        return Err(NetworkError::Invalid(format!(
            "container {} is not connected to network {}",
            record.id, network.name
        )));
    };
    if let Some(host_if) = &endpoint.host_interface {
        let mut rtnl = Rtnl::open().context("open netlink")?;
        bridge::detach(&mut rtnl, host_if)?;
    }
    let networks = Networks::new(&roots.root, &roots.run_root);
    networks.leases(network).release_owner(&record.id);
    let containers = Containers::new(&roots.root);
    containers.update(&record.id, |r| {
        r.networks.retain(|e| e.network != network.name);
    })?;
    if record.is_running() {
        refresh_hosts(roots, record, None);
    }
    let (id, name) = (&network.id, &network.name);
    crate::events::network(&roots.root, "disconnect", id, name, Some(&record.id));
    Ok(())
}

/// The running containers on `network`, by name.
pub fn users_of(containers: &[Record], network: &Network) -> Vec<String> {
    containers
        .iter()
        .filter(|r| r.is_running() && r.networks.iter().any(|e| e.network == network.name))
        .map(|r| r.name.clone())
        .collect()
}
