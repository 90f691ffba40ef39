//! IP address leases: one file per leased address, named by the address and holding the
//! owner's id, created with `O_EXCL`. The file system decides every race, so containers
//! started in parallel never get the same address, and no lock is held.
//!
//! Addresses are handed out in turn from where the last one was taken (as Docker does), so a
//! released address is not reused at once: the interface that had it may still be on the
//! bridge while the kernel frees its namespace.
//!
//! ```text
//! <dir>/172.18.0.2    "<container id>\n"
//! <dir>/next          where the next search starts (a hint)
//! ```

use crate::subnet::Subnet;
use berth_error::{Context, IoContext};
use std::fs;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// An address could not be leased.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The address asked for is someone else's.
    #[error("Address already in use: {0}")]
    Taken(Ipv4Addr),
    /// The address asked for is not a host address of the subnet.
    #[error("Invalid address {0}: It does not belong to any of this network's subnets")]
    OutOfSubnet(Ipv4Addr),
    /// Every address is leased.
    #[error("no available IPv4 addresses on network {0}")]
    Exhausted(Subnet),
    /// The lease directory failed.
    #[error(transparent)]
    Io(#[from] berth_error::IoContext),
}

/// The leases of one network.
#[derive(Debug, Clone)]
pub struct Leases {
    dir: PathBuf,
}

impl Leases {
    /// The leases kept in `dir`.
    pub fn new(dir: &Path) -> Leases {
        Leases {
            dir: dir.to_path_buf(),
        }
    }

    fn what(&self) -> String {
        format!("lease directory {}", self.dir.display())
    }

    /// Leases `wanted`, or else the lowest free host address of `subnet` other than
    /// `gateway`, to `owner`.
    pub fn allocate(
        &self,
        subnet: &Subnet,
        gateway: Ipv4Addr,
        owner: &str,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, LeaseError> {
        fs::create_dir_all(&self.dir).with_context(|| self.what())?;
        if let Some(ip) = wanted {
            if subnet.offset(ip).is_none() {
                return Err(LeaseError::OutOfSubnet(ip));
            }
            if ip == gateway || !self.try_take(ip, owner)? {
                return Err(LeaseError::Taken(ip));
            }
            return Ok(ip);
        }
        let hint = self.dir.join("next");
        let hosts = subnet.size().saturating_sub(2).max(1);
        let start = fs::read_to_string(&hint)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .filter(|n| subnet.host(*n).is_some())
            .unwrap_or(1);
        for step in 0..hosts {
            let n = (start - 1 + step) % hosts + 1;
            let Some(ip) = subnet.host(n) else { continue };
            if ip != gateway && self.try_take(ip, owner)? {
                let _ = fs::write(&hint, (n % hosts + 1).to_string());
                return Ok(ip);
            }
        }
        Err(LeaseError::Exhausted(*subnet))
    }

    /// Creates the lease file of `ip`; false when it exists.
    fn try_take(&self, ip: Ipv4Addr, owner: &str) -> Result<bool, LeaseError> {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.dir.join(ip.to_string()))
        {
            Ok(mut file) => {
                file.write_all(format!("{owner}\n").as_bytes())
                    .with_context(|| self.what())?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(IoContext::new(self.what(), e).into()),
        }
    }

    /// Every lease: the address and its owner.
    pub fn list(&self) -> Vec<(Ipv4Addr, String)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let ip = e.file_name().to_str()?.parse().ok()?;
                let owner = fs::read_to_string(e.path()).ok()?.trim().to_owned();
                Some((ip, owner))
            })
            .collect()
    }

    /// Gives back every lease of `owner`.
    pub fn release_owner(&self, owner: &str) {
        for (ip, who) in self.list() {
            if who == owner {
                self.release(ip);
            }
        }
    }

    /// Gives back the lease of `ip`.
    pub fn release(&self, ip: Ipv4Addr) {
        let path = self.dir.join(ip.to_string());
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %e, "cannot release a lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_never_collide_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases::new(dir.path());
        let subnet: Subnet = "10.9.0.0/29".parse().unwrap();
        let gateway = Ipv4Addr::new(10, 9, 0, 1);
        let taken: Vec<Ipv4Addr> = (0..5)
            .map(|i| {
                leases
                    .allocate(&subnet, gateway, &format!("c{i}"), None)
                    .unwrap()
            })
            .collect();
        assert_eq!(taken[0], Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(taken[4], Ipv4Addr::new(10, 9, 0, 6));
        assert!(matches!(
            leases.allocate(&subnet, gateway, "c5", None),
            Err(LeaseError::Exhausted(_))
        ));
        // Released addresses come back once the others have had their turn.
        leases.release_owner("c2");
        leases.release_owner("c4");
        assert_eq!(
            leases.allocate(&subnet, gateway, "c6", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 4)
        );
        assert_eq!(
            leases.allocate(&subnet, gateway, "c8", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 6)
        );
        leases.release_owner("c0");
        assert_eq!(
            leases.allocate(&subnet, gateway, "c9", None).unwrap(),
            Ipv4Addr::new(10, 9, 0, 2)
        );
        assert!(matches!(
            leases.allocate(&subnet, gateway, "c7", Some(taken[0])),
            Err(LeaseError::Taken(_))
        ));
        assert!(matches!(
            leases.allocate(&subnet, gateway, "c7", Some(Ipv4Addr::new(10, 9, 1, 2))),
            Err(LeaseError::OutOfSubnet(_))
        ));
        assert!(matches!(
            leases.allocate(&subnet, gateway, "c7", Some(gateway)),
            Err(LeaseError::Taken(_))
        ));
    }

    #[test]
    fn parallel_leases_are_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let subnet: Subnet = "10.9.0.0/24".parse().unwrap();
        let gateway = Ipv4Addr::new(10, 9, 0, 1);
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let leases = Leases::new(dir.path());
                std::thread::spawn(move || {
                    leases
                        .allocate(&subnet, gateway, &format!("c{i}"), None)
                        .unwrap()
                })
            })
            .collect();
        let mut ips: Vec<Ipv4Addr> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 50);
    }
}
