//! IPv4 subnets in CIDR form: parsing, containment, overlap, and the addresses in them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 subnet such as `172.18.0.0/16` (the network address and the prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `address`/`prefix`, host bits cleared.
    pub fn new(address: Ipv4Addr, prefix: u8) -> Option<Subnet> {
        (prefix <= 32).then(|| Subnet {
            network: Ipv4Addr::from(u32::from(address) & mask(prefix)),
            prefix,
        })
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.network)
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The `n`th address after the network address (`host(1)` is the usual gateway), if it
    /// is a usable host address: not the network nor the broadcast address.
    pub fn host(&self, n: u32) -> Option<Ipv4Addr> {
        let ip = u32::from(self.network).checked_add(n)?;
        (n >= 1 && n < self.size().saturating_sub(1)).then(|| Ipv4Addr::from(ip))
    }

    /// How far `ip` is from the network address, if it is a usable host address.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let n = u32::from(ip).wrapping_sub(u32::from(self.network));
        (self.contains(ip) && self.host(n).is_some()).then_some(n)
    }

    /// The number of addresses, network and broadcast included (saturating at `u32::MAX`).
    pub fn size(&self) -> u32 {
        1u32.checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(u32::MAX)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Text that is not an IPv4 CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subnet \"{0}\": want an IPv4 CIDR such as 172.18.0.0/16")]
pub struct BadSubnet(pub String);

impl FromStr for Subnet {
    type Err = BadSubnet;

    fn from_str(text: &str) -> Result<Subnet, BadSubnet> {
        let bad = || BadSubnet(text.to_owned());
        let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Subnet::new(ip, prefix).ok_or_else(bad)
    }
}

impl TryFrom<String> for Subnet {
    type Error = BadSubnet;

    fn try_from(text: String) -> Result<Subnet, BadSubnet> {
        text.parse()
    }
}

impl From<Subnet> for String {
    fn from(subnet: Subnet) -> String {
        subnet.to_string()
    }
}

/// The subnets berth picks networks from when none is given, in order (Docker's default
/// pools: 172.17-31.0.0/16, then 192.168.0.0/20 steps).
pub fn default_pool() -> impl Iterator<Item = Subnet> {
    let wide = (17..=31).map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let narrow = (0..16).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    wide.chain(narrow).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let s: Subnet = "172.18.3.4/16".parse().unwrap();
        assert_eq!(s.to_string(), "172.18.0.0/16");
        assert!("172.18.0.0".parse::<Subnet>().is_err());
        assert!("172.18.0.0/33".parse::<Subnet>().is_err());
        assert!("fe80::/64".parse::<Subnet>().is_err());
    }

    #[test]
    fn hosts_exclude_network_and_broadcast() {
        let s: Subnet = "10.1.2.0/30".parse().unwrap();
        assert_eq!(s.host(0), None);
        assert_eq!(s.host(1), Some(Ipv4Addr::new(10, 1, 2, 1)));
        assert_eq!(s.host(2), Some(Ipv4Addr::new(10, 1, 2, 2)));
        assert_eq!(s.host(3), None);
        assert_eq!(s.offset(Ipv4Addr::new(10, 1, 2, 2)), Some(2));
        assert_eq!(s.offset(Ipv4Addr::new(10, 1, 2, 3)), None);
        assert_eq!(s.offset(Ipv4Addr::new(10, 1, 3, 1)), None);
    }

    #[test]
    fn overlap() {
        let a: Subnet = "172.18.0.0/16".parse().unwrap();
        let b: Subnet = "172.18.5.0/24".parse().unwrap();
        let c: Subnet = "172.19.0.0/16".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(
            default_pool().next(),
            Some("172.17.0.0/16".parse().unwrap())
        );
        assert_eq!(default_pool().count(), 31);
    }
}
