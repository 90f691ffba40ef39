//! berth's networks: bridges, veth pairs, IP leases, NAT and published ports.
//!
//! Mechanisms only: which containers are on which network is the engine's record. The
//! pieces: [`netns`] keeps namespaces as files, [`netlink`] makes links, addresses and routes,
//! [`bridge`] builds a bridge network from them, [`leases`] hands out addresses, [`ports`]
//! parses and reserves published ports, and [`firewall`] writes the nftables rules.

pub mod bridge;
pub mod firewall;
pub mod leases;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod subnet;

/// A network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A system call or netlink request failed.
    #[error(transparent)]
    Io(#[from] berth_error::IoContext),
    /// The firewall refused.
    #[error(transparent)]
    Firewall(#[from] firewall::FirewallError),
    /// An address could not be leased.
    #[error(transparent)]
    Lease(#[from] leases::LeaseError),
    /// Something is not as it should be.
    #[error("{0}")]
    Invalid(String),
}
