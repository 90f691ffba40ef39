//! Networks: the default `bridge` network and user networks (`berth network create`), each a
//! record on disk and a bridge device on the host, with its leases under the run root.
//!
//! ```text
//! <root>/networks/<id>.json               the record: name, subnet, gateway, bridge, table
//! <run-root>/networks/<id>/leases/<ip>    its address leases (see berth_net::leases)
//! <run-root>/networks/<id>.lock           taken while its bridge is made or its hosts refreshed
//! ```
//!
//! Subnets are chosen (and checked) under one host-wide lock, against the host's routes and
//! every berth network, and the bridge is made before the lock goes: two berth instances
//! never pick the same subnet.

use berth_error::{Context, IoContext};
use berth_image::store::FileLock;
use berth_net::NetError;
use berth_net::bridge::{Bridge, BridgeDevice};
use berth_net::firewall::Firewall;
use berth_net::leases::Leases;
use berth_net::netlink::Rtnl;
use berth_net::subnet::{self, Subnet};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The name of the default network.
pub const DEFAULT: &str = "bridge";

/// A network's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Always `bridge`.
    pub driver: String,
    /// The subnet.
    pub subnet: Subnet,
    /// The bridge's address.
    pub gateway: Ipv4Addr,
    /// The bridge device.
    pub bridge: String,
    /// The nftables table its rules go in.
    pub table: String,
    /// When it was made (RFC 3339).
    pub created: String,
}

/// How the default network is made on first use (berth's config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkDefaults {
    /// The default bridge's device name.
    pub bridge: String,
    /// Its gateway address and prefix (`172.17.0.1/16`); picked from the pool when unset.
    pub bip: Option<String>,
    /// The nftables table.
    pub table: String,
}

impl Default for NetworkDefaults {
    fn default() -> NetworkDefaults {
        NetworkDefaults {
            bridge: "berth0".into(),
            bip: None,
            table: "berth".into(),
        }
    }
}

/// A network operation failed; the messages are Docker's.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// No network has that name or id.
    #[error("network {0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("network with name {0} already exists")]
    Exists(String),
    /// The subnet overlaps another network or a host route.
    #[error("Pool overlaps with other one on this address space: {0} overlaps {1}")]
    Overlaps(Subnet, String),
    /// Every subnet of the pool is taken.
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    PoolExhausted,
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// `rm` of a network that containers use.
    #[error("error while removing network: network {0} id {1} has active endpoints")]
    InUse(String, String),
    /// The host refused.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A system call failed.
    #[error(transparent)]
    Host(#[from] IoContext),
    /// The records could not be read or written.
    #[error("network records: {0}")]
    Io(#[from] io::Error),
}

/// The networks of a data root.
pub struct Networks {
    dir: PathBuf,
    run_dir: PathBuf,
}

fn lock(path: &Path) -> io::Result<FileLock> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    FileLock::acquire(path).map_err(|e| io::Error::new(e.kind(), e))
}

/// The lock that makes choosing a subnet and making its bridge one step, host-wide.
fn host_lock(run_dir: &Path) -> io::Result<FileLock> {
    if rustix::process::geteuid().is_root() && Path::new("/run/lock").is_dir() {
        lock(Path::new("/run/lock/berth-networks.lock"))
    } else {
        lock(&run_dir.join("subnets.lock"))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl Networks {
    /// The networks of data root `root` and run root `run_root`.
    pub fn new(root: &Path, run_root: &Path) -> Networks {
        Networks {
            dir: root.join("networks"),
            run_dir: run_root.join("networks"),
        }
    }

    /// Every network, the default one first, then by name.
    pub fn list(&self) -> Vec<Network> {
        let mut all: Vec<Network> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
            .collect();
        all.sort_by_key(|n: &Network| (n.name != DEFAULT, n.name.clone()));
        all
    }

    /// Finds a network by name, id or unique id prefix.
    pub fn find(&self, name: &str) -> Result<Network, NetworkError> {
        crate::ids::lookup(self.list(), name, |n| (&n.id, &n.name))
            .map_err(|_| NetworkError::NotFound(name.to_owned()))
    }

    /// The default network, made on first use from `defaults`.
    pub fn default_network(&self, defaults: &NetworkDefaults) -> Result<Network, NetworkError> {
        if let Ok(network) = self.find(DEFAULT) {
            return Ok(network);
        }
        let (subnet, gateway) = match &defaults.bip {
            Some(bip) => {
                let subnet: Subnet = bip
                    .parse()
                    .map_err(|e: subnet::BadSubnet| NetworkError::Invalid(e.to_string()))?;
                let gateway: Ipv4Addr = bip
                    .split('/')
                    .next()
                    .and_then(|ip| ip.parse().ok())
                    .filter(|ip| subnet.offset(*ip).is_some())
                    .unwrap_or_else(|| subnet.host(1).unwrap_or(subnet.network()));
                (Some(subnet), Some(gateway))
            }
            None => (None, None),
        };
        match self.create(DEFAULT, subnet, gateway, &defaults.bridge, &defaults.table) {
            Err(NetworkError::Exists(_)) => self.find(DEFAULT),
            other => other,
        }
    }

    /// `network create` as the user wrote it: the driver (`bridge` only), the subnet and the
    /// gateway as text, checked as Docker checks them, then `create_user`.
    pub fn create_from_text(
        &self,
        name: &str,
        driver: &str,
        subnet: Option<&str>,
        gateway: Option<&str>,
        defaults: &NetworkDefaults,
    ) -> Result<Network, NetworkError> {
        if driver != "bridge" {
            return Err(NetworkError::Invalid(format!(
                "plugin \"{driver}\" not found: berth has the bridge driver only"
            )));
        }
        let subnet = subnet
            .map(str::parse::<Subnet>)
            .transpose()
            .map_err(|e| NetworkError::Invalid(e.to_string()))?;
        let gateway = gateway
            .map(|g| {
                g.parse::<Ipv4Addr>()
                    .map_err(|_| NetworkError::Invalid(format!("invalid gateway address {g}")))
            })
            .transpose()?;
        if gateway.is_some() && subnet.is_none() {
            return Err(NetworkError::Invalid(
                "every ip-range or gateway must have a corresponding subnet".into(),
            ));
        }
        self.create_user(name, subnet, gateway, defaults)
    }

    /// Makes a user network `name` with its bridge, on `subnet` (or a free one of the pool).
    pub fn create_user(
        &self,
        name: &str,
        subnet: Option<Subnet>,
        gateway: Option<Ipv4Addr>,
        defaults: &NetworkDefaults,
    ) -> Result<Network, NetworkError> {
        if matches!(name, DEFAULT | "host" | "none") {
            return Err(NetworkError::Invalid(format!(
                "{name} is a pre-defined network and cannot be created"
            )));
        }
        self.create(name, subnet, gateway, "", &defaults.table)
    }

    fn create(
        &self,
        name: &str,
        subnet: Option<Subnet>,
        gateway: Option<Ipv4Addr>,
        device: &str,
        table: &str,
    ) -> Result<Network, NetworkError> {
        if !valid_name(name) {
            return Err(NetworkError::Invalid(format!(
                "invalid network name \"{name}\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if let (Some(subnet), Some(gateway)) = (subnet, gateway)
            && subnet.offset(gateway).is_none()
        {
            return Err(NetworkError::Invalid(format!(
                "no matching subnet for gateway {gateway}"
            )));
        }
        let _host = host_lock(&self.run_dir)?;
        if self.find(name).is_ok_and(|n| n.name == name) {
            return Err(NetworkError::Exists(name.to_owned()));
        }
        let mut rtnl = Rtnl::open().context("open netlink")?;
        // A bridge of this name that outlived its record (a data root wiped, say) is taken
        // over with its address, or made anew when it has none.
        let (subnet, gateway) = match self.adopt(&mut rtnl, device, subnet)? {
            Some((s, g)) => (Some(s), Some(g)),
            None => (subnet, gateway),
        };
        let taken = self.taken_subnets(&mut rtnl, device)?;
        let subnet = match subnet {
            Some(subnet) => {
                if let Some((_, owner)) = taken.iter().find(|(s, _)| s.overlaps(&subnet)) {
                    return Err(NetworkError::Overlaps(subnet, owner.clone()));
                }
                subnet
            }
            None => subnet::default_pool()
                .find(|s| !taken.iter().any(|(t, _)| t.overlaps(s)))
                .ok_or(NetworkError::PoolExhausted)?,
        };
        let gateway = gateway
            .or_else(|| subnet.host(1))
            .ok_or_else(|| NetworkError::Invalid(format!("subnet {subnet} is too small")))?;
        let id = crate::ids::new_id()?;
        let network = Network {
            bridge: if device.is_empty() {
                format!("br-{}", &id[..12])
            } else {
                device.to_owned()
            },
            id,
            name: name.to_owned(),
            driver: "bridge".into(),
            subnet,
            gateway,
            table: table.to_owned(),
            created: crate::time::now(),
        };
        self.bridge(&network)
            .ensure(&mut rtnl, &Firewall::new(table))?;
        fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(format!("{}.json", network.id));
        let tmp = path.with_extension("json.tmp");
        fs::write(
            &tmp,
            serde_json::to_vec(&network).expect("a network serialises"),
        )?;
        fs::rename(tmp, path)?;
        Ok(network)
    }

    /// The subnet and gateway of an existing bridge `device` that no record of this root
    /// names; a bridge without an address is deleted.
    fn adopt(
        &self,
        rtnl: &mut Rtnl,
        device: &str,
        wanted: Option<Subnet>,
    ) -> Result<Option<(Subnet, Ipv4Addr)>, NetworkError> {
        if device.is_empty() {
            return Ok(None);
        }
        let Some(link) = rtnl.link(device).context("look up the bridge")? else {
            return Ok(None);
        };
        let address = rtnl
            .addresses(link.index)
            .context("read the bridge's addresses")?
            .into_iter()
            .find_map(|(ip, prefix)| Subnet::new(ip, prefix).map(|s| (s, ip)));
        match (address, wanted) {
            (None, _) => {
                rtnl.delete_link(link.index)
                    .context("delete a stale bridge")?;
                Ok(None)
            }
            (Some((have, _)), Some(wanted)) if have != wanted => {
                Err(NetworkError::Invalid(format!(
                    "bridge {device} exists on {have}, not {wanted}: delete it or choose another bridge name"
                )))
            }
            (Some(found), _) => Ok(Some(found)),
        }
    }

    /// The subnets in use: every berth network's (by name) and the host's routes (by
    /// interface) but the default route and those through `own_device`.
    fn taken_subnets(
        &self,
        rtnl: &mut Rtnl,
        own_device: &str,
    ) -> Result<Vec<(Subnet, String)>, NetworkError> {
        let links = rtnl.links().context("read the host's routes")?;
        let mut taken: Vec<(Subnet, String)> = self
            .list()
            .into_iter()
            .map(|n| (n.subnet, format!("network {}", n.name)))
            .collect();
        taken.extend(
            rtnl.routes()
                .context("read the host's routes")?
                .into_iter()
                .filter(|r| r.destination.prefix() > 0)
                .filter_map(|r| {
                    let via = links
                        .iter()
                        .find(|l| Some(l.index) == r.interface)
                        .map(|l| l.name.clone())
                        .unwrap_or_default();
                    (own_device.is_empty() || via != own_device).then(|| {
                        (
                            r.destination,
                            format!("the route to {} via {via}", r.destination),
                        )
                    })
                }),
        );
        Ok(taken)
    }

    /// Removes network `network` (its bridge, rules, leases and record); refused while a
    /// container in `users` runs on it.
    pub fn remove(&self, network: &Network, users: &[String]) -> Result<(), NetworkError> {
        if network.name == DEFAULT {
            return Err(NetworkError::Invalid(
                "bridge is a pre-defined network and cannot be removed".into(),
            ));
        }
        if !users.is_empty() {
            return Err(NetworkError::InUse(
                network.name.clone(),
                network.id.clone(),
            ));
        }
        let _lock = self.lock(network)?;
        let mut rtnl = Rtnl::open().context("open netlink")?;
        self.bridge(network)
            .remove(&mut rtnl, &Firewall::new(&network.table))?;
        let _ = fs::remove_dir_all(self.run_dir.join(&network.id));
        fs::remove_file(self.dir.join(format!("{}.json", network.id)))?;
        Ok(())
    }

    /// The network's bridge as berth_net sees it.
    pub fn bridge(&self, network: &Network) -> Bridge {
        Bridge {
            network: network.name.clone(),
            device: network.bridge.clone(),
            subnet: network.subnet,
            gateway: network.gateway,
        }
    }

    /// The network's address leases.
    pub fn leases(&self, network: &Network) -> Leases {
        Leases::new(&self.run_dir.join(&network.id).join("leases"))
    }

    /// The network's lock (its bridge made, its containers' hosts files refreshed).
    pub fn lock(&self, network: &Network) -> io::Result<FileLock> {
        lock(&self.run_dir.join(format!("{}.lock", network.id)))
    }

    /// The network's bridge device, made again if it is gone (after a reboot, say).
    pub fn device(&self, network: &Network, rtnl: &mut Rtnl) -> Result<BridgeDevice, NetworkError> {
        let _lock = self.lock(network)?;
        Ok(self
            .bridge(network)
            .ensure(rtnl, &Firewall::new(&network.table))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("web-net_1.x"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a/b"));
    }
}
