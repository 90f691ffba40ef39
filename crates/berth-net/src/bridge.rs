//! Bridge networks on the host: the bridge with its gateway address, forwarding and NAT, and
//! the veth pairs that connect network namespaces to it.

use crate::NetError;
use crate::firewall::Firewall;
use crate::netlink::{self, Rtnl};
use crate::netns;
use crate::subnet::Subnet;
use berth_error::Context;
use std::net::Ipv4Addr;
use std::path::Path;

/// A bridge network as the host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The network's name, which its firewall rules carry.
    pub network: String,
    /// The bridge device.
    pub device: String,
    /// The subnet.
    pub subnet: Subnet,
    /// The bridge's own address, the containers' default gateway.
    pub gateway: Ipv4Addr,
}

/// A bridge device that is up: its interface index and MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeDevice {
    /// Interface index.
    pub index: u32,
    /// MTU, which its veth pairs get too.
    pub mtu: u32,
}

/// One end of a container's connection to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The interface in the container (`eth0`).
    pub interface: String,
    /// Its peer on the host, a port of the bridge.
    pub host_interface: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The hardware address of `interface`.
    pub mac: [u8; 6],
}

/// How a namespace is connected to a bridge.
#[derive(Debug, Clone, Copy)]
pub struct Attachment<'a> {
    /// The network namespace (a kept file or `/proc/PID/ns/net`).
    pub netns: &'a Path,
    /// The name of the veth end on the bridge.
    pub host_interface: &'a str,
    /// The name of the end in the namespace (`eth0`).
    pub interface: &'a str,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Route everything through the gateway (the namespace's first network).
    pub default_route: bool,
}

/// Docker's hardware address for `ip`: `02:42` and the address's four bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `02:42:ac:11:00:02`
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn write_sysctl(path: &str, value: &str) -> Result<(), NetError> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    Ok(std::fs::write(path, value).with_context(|| format!("write {path}"))?)
}

/// The alias a bridge gets once its network's firewall rules, as this berth writes them, are
/// in place: a bridge without it (made by an older berth, whose rules left the host's
/// loopback open to containers and the networks unisolated) gets them at its next use.
const RULES_MARK: &str = "berth rules 2";

impl Bridge {
    /// The bridge device, created with its address, forwarding and firewall rules when it
    /// does not exist yet (the rules written again when it lacks their mark). Callers
    /// serialise calls for one network.
    pub fn ensure(&self, rtnl: &mut Rtnl, firewall: &Firewall) -> Result<BridgeDevice, NetError> {
        if let Some(link) = rtnl
            .link(&self.device)
            .with_context(|| format!("look up {}", self.device))?
        {
            if link.alias.as_deref() != Some(RULES_MARK) {
                let uplink = netlink::default_route_link(rtnl);
                self.add_rules(rtnl, firewall, link.index, uplink.as_ref())?;
            }
            return Ok(BridgeDevice {
                index: link.index,
                mtu: link.mtu.unwrap_or(1500),
            });
        }
        let uplink = netlink::default_route_link(rtnl);
        let mtu = uplink.as_ref().and_then(|l| l.mtu).unwrap_or(1500);
        let device = &self.device;
        rtnl.create_bridge(device, mtu)
            .with_context(|| format!("create bridge {device}"))?;
        let made = (|| {
            let index = rtnl
                .link(device)
                .with_context(|| format!("look up {device}"))?
                .ok_or_else(|| NetError::Invalid(format!("bridge {device} vanished")))?
                .index;
            rtnl.add_address(index, self.gateway, self.subnet.prefix())
                .with_context(|| format!("add {} to {device}", self.gateway))?;
            rtnl.set_up(index, None, Some(mtu))
                .with_context(|| format!("set {device} up"))?;
            write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
            // Lets connections to 127.0.0.1 be forwarded to containers (published ports).
            write_sysctl(
                &format!("/proc/sys/net/ipv4/conf/{device}/route_localnet"),
                "1",
            )?;
            self.add_rules(rtnl, firewall, index, uplink.as_ref())?;
            Ok(BridgeDevice { index, mtu })
        })();
        if made.is_err()
            && let Ok(Some(link)) = rtnl.link(device)
        {
            let _ = rtnl.delete_link(link.index);
        }
        made
    }

    /// Writes the network's firewall rules (`uplink`: the default route's interface) and
    /// marks its bridge, link `index`, as having them.
    fn add_rules(
        &self,
        rtnl: &mut Rtnl,
        firewall: &Firewall,
        index: u32,
        uplink: Option<&netlink::Link>,
    ) -> Result<(), NetError> {
        let uplink = uplink.map(|l| l.name.as_str());
        firewall.add_network(&self.network, &self.device, &self.subnet, uplink)?;
        rtnl.set_alias(index, RULES_MARK)
            .with_context(|| format!("mark {}", self.device))?;
        Ok(())
    }

    /// Removes the bridge device and the network's firewall rules.
    pub fn remove(&self, rtnl: &mut Rtnl, firewall: &Firewall) -> Result<(), NetError> {
        firewall.remove_network(&self.network)?;
        detach(rtnl, &self.device)
    }

    /// Connects a network namespace to the bridge as `how` says: a veth pair, one end on the
    /// bridge and the other in the namespace with its address, up, and maybe the default
    /// route through the gateway. Nothing stays on failure.
    pub fn attach(
        &self,
        rtnl: &mut Rtnl,
        device: BridgeDevice,
        how: &Attachment<'_>,
    ) -> Result<Endpoint, NetError> {
        let Attachment {
            netns,
            host_interface,
            interface,
            ip,
            default_route,
        } = *how;
        let namespace =
            netns::open_path(netns).with_context(|| format!("open {}", netns.display()))?;
        let mac = mac_for(ip);
        rtnl.create_veth(
            host_interface,
            interface,
            rustix::fd::AsFd::as_fd(&namespace),
            mac,
            device.mtu,
        )
        .with_context(|| format!("create veth {host_interface}"))?;
        let configured = (|| {
            let host = rtnl
                .link(host_interface)
                .with_context(|| format!("look up {host_interface}"))?
                .ok_or_else(|| NetError::Invalid(format!("veth {host_interface} vanished")))?;
            rtnl.set_up(host.index, Some(device.index), None)
                .with_context(|| format!("attach {host_interface} to {}", self.device))?;
            let _inside =
                netns::Entered::new(netns).with_context(|| format!("enter {}", netns.display()))?;
            let mut inner = Rtnl::open().context("open netlink in the container")?;
            for name in ["lo", interface] {
                let link = inner
                    .link(name)
                    .with_context(|| format!("look up {name}"))?
                    .ok_or_else(|| NetError::Invalid(format!("{name} missing in the container")))?;
                if name == interface {
                    inner
                        .add_address(link.index, ip, self.subnet.prefix())
                        .with_context(|| format!("add {ip} to {interface}"))?;
                }
                inner
                    .set_up(link.index, None, None)
                    .with_context(|| format!("set {name} up"))?;
            }
            if default_route {
                inner
                    .add_default_route(self.gateway)
                    .with_context(|| format!("route through {}", self.gateway))?;
            }
            Ok(())
        })();
        if let Err(e) = configured {
            let _ = detach(rtnl, host_interface);
            return Err(e);
        }
        Ok(Endpoint {
            interface: interface.to_owned(),
            host_interface: host_interface.to_owned(),
            ip,
            mac,
        })
    }
}

/// Deletes the link `name` (a veth: both ends) if it exists.
pub fn detach(rtnl: &mut Rtnl, name: &str) -> Result<(), NetError> {
    match rtnl.link(name).with_context(|| format!("look up {name}"))? {
        Some(link) => Ok(rtnl
            .delete_link(link.index)
            .with_context(|| format!("delete {name}"))?),
        None => Ok(()),
    }
}
