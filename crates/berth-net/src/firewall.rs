//! Firewall rules through `nft` (the one program berth runs, as Podman's netavark does), in
//! berth's own table:
//!
//! ```text
//! table ip <table> {
//!   chain prerouting  { type nat hook prerouting priority dstnat; fib daddr type local jump ports }
//!   chain output      { type nat hook output priority -100;     fib daddr type local jump ports }
//!   chain ports       { tcp dport 8080 dnat to 172.17.0.2:80 comment "berth container <id>" ... }
//!   chain postrouting { type nat hook postrouting priority srcnat;
//!                       ip saddr 172.17.0.0/16 oifname != "berth0" masquerade comment "berth network bridge"
//!                       ip daddr 172.17.0.2 ct status dnat ip saddr { 127.0.0.0/8, 172.17.0.0/16 }
//!                         masquerade comment "berth container <id>" }
//!   chain input       { type filter hook input priority filter;
//!                       iifname "berth0" ip daddr 127.0.0.0/8 ct status dnat accept comment "berth network bridge"
//!                       iifname "berth0" ip daddr 127.0.0.0/8 drop comment "berth network bridge" }
//!   chain forward     { type filter hook forward priority filter;
//!                       iifname "berth0" oifname != "berth0" ct status dnat accept comment "berth network bridge"
//!                       iifname "berth0" oifname != "berth0" jump isolation comment "berth network bridge" }
//!   chain isolation   { oifname "berth0" drop comment "berth network bridge" }
//! }
//! ```
//!
//! Every rule names its network or container in its comment, which is how rules are found
//! again to be removed. The `input` rules keep the host's loopback closed to containers: a
//! bridge has `route_localnet` (so that ports published on 127.0.0.1 reach containers), and
//! without them a container could send packets for 127.0.0.1 to the gateway and reach the
//! host's loopback-only services; only the replies of berth's own DNATed connections pass.
//! The `forward` and `isolation` rules isolate networks from each other, as Docker's
//! `DOCKER-ISOLATION-STAGE-1/2` chains do: what leaves a bridge for another network's bridge
//! is dropped, unless it goes to a published port (DNAT).
//!
//! Where Docker's iptables rules are present (its FORWARD policy drops), a network also gets
//! accept rules for its bridge in `ip filter`'s `DOCKER-USER` chain (or `FORWARD` when there
//! is no such chain), whose comment also names berth's table: within the bridge, to the
//! bridge for replies and DNATed connections, from it to the default route's interface, back
//! to Docker's rules (`return`) for what goes from it to another bridge, and then everything
//! else from it (the ways out: an interface without a kind, a physical NIC, matches no
//! `oifkind`), so that they open no path between the bridge and Docker's. Removal looks only at berth's table and at those `ip filter` rules,
//! so that berths with other tables (other roots, parallel tests) never touch each other's
//! rules.

use crate::ports::PortBinding;
use crate::subnet::Subnet;
use berth_error::Context;
use serde_json::Value;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// `nft` failed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// It could not be run.
    #[error(transparent)]
    Spawn(#[from] berth_error::IoContext),
    /// It refused the rules.
    #[error("nft: {0}")]
    Refused(String),
}

/// What failed when `nft` cannot be run.
const NO_NFT: &str = "cannot run nft (install the nftables package)";

/// berth's nftables table.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
}

/// A rule as `nft -j -a` lists it.
struct ListedRule {
    family: String,
    table: String,
    chain: String,
    handle: u64,
    comment: String,
}

/// The comment that names a container's rules.
fn container_tag(id: &str) -> String {
    format!("berth container {id}")
}

/// The comment that names a network's rules.
fn network_tag(name: &str) -> String {
    format!("berth network {name}")
}

/// The comment that names a network's rules in Docker's `ip filter` table, which berths with
/// other tables share.
fn filter_tag(table: &str, name: &str) -> String {
    format!("berth network {name} table {table}")
}

impl Firewall {
    /// The table named `table` in the `ip` family.
    pub fn new(table: &str) -> Firewall {
        Firewall {
            table: table.to_owned(),
        }
    }

    fn nft(args: &[&str], script: Option<&str>) -> Result<String, FirewallError> {
        let mut child = Command::new("nft")
            .args(args)
            .stdin(if script.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context(NO_NFT)?;
        if let (Some(script), Some(mut stdin)) = (script, child.stdin.take()) {
            stdin.write_all(script.as_bytes()).context(NO_NFT)?;
        }
        let output = child.wait_with_output().context(NO_NFT)?;
        if !output.status.success() {
            return Err(FirewallError::Refused(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn apply(script: &str) -> Result<(), FirewallError> {
        tracing::debug!(script, "nft");
        Self::nft(&["-f", "-"], Some(script)).map(drop)
    }

    /// The rules of table `ip <table>` that carry a comment.
    fn rules(table: &str) -> Result<Vec<ListedRule>, FirewallError> {
        let text = match Self::nft(&["-j", "-a", "list", "table", "ip", table], None) {
            Ok(text) => text,
            // A table that does not exist has no rules.
            Err(FirewallError::Refused(e)) if e.contains("No such file") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| FirewallError::Refused(format!("unreadable listing: {e}")))?;
        let items = json["nftables"].as_array().cloned().unwrap_or_default();
        Ok(items
            .iter()
            .filter_map(|item| {
                let rule = item.get("rule")?;
                Some(ListedRule {
                    family: rule["family"].as_str()?.to_owned(),
                    table: rule["table"].as_str()?.to_owned(),
                    chain: rule["chain"].as_str()?.to_owned(),
                    handle: rule["handle"].as_u64()?,
                    comment: rule["comment"].as_str()?.to_owned(),
                })
            })
            .collect())
    }

    /// The chains of `ip filter` (where iptables-nft keeps Docker's rules).
    fn ip_filter_chains() -> Vec<String> {
        let Ok(text) = Self::nft(&["-j", "list", "table", "ip", "filter"], None) else {
            return Vec::new();
        };
        let json: Value = serde_json::from_str(&text).unwrap_or_default();
        json["nftables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| Some(item.get("chain")?["name"].as_str()?.to_owned()))
            .collect()
    }

    fn delete_script(rules: &[ListedRule], tag: &str) -> String {
        rules
            .iter()
            .filter(|r| r.comment == tag)
            .map(|r| {
                format!(
                    "delete rule {} {} {} handle {}\n",
                    r.family, r.table, r.chain, r.handle
                )
            })
            .collect()
    }

    /// Installs the table (when missing) and the rules of a bridge network: masquerade for
    /// traffic that leaves its subnet, the host's loopback closed to it, its isolation from
    /// the other networks, and accept rules next to Docker's, if present, which also let it
    /// out through `uplink` (the default route's interface), even when that is a bridge.
    pub fn add_network(
        &self,
        name: &str,
        bridge: &str,
        subnet: &Subnet,
        uplink: Option<&str>,
    ) -> Result<(), FirewallError> {
        let t = &self.table;
        let tag = network_tag(name);
        let mut script = self.network_delete_script(name)?;
        script.push_str(&format!(
            "add table ip {t}\n\
             add chain ip {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
             add chain ip {t} output {{ type nat hook output priority -100; policy accept; }}\n\
             add chain ip {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
             add chain ip {t} ports\n\
             add chain ip {t} input {{ type filter hook input priority filter; policy accept; }}\n\
             add chain ip {t} forward {{ type filter hook forward priority filter; policy accept; }}\n\
             add chain ip {t} isolation\n\
             flush chain ip {t} prerouting\n\
             flush chain ip {t} output\n\
             add rule ip {t} prerouting fib daddr type local jump ports\n\
             add rule ip {t} output fib daddr type local jump ports\n\
             add rule ip {t} postrouting ip saddr {subnet} oifname != \"{bridge}\" masquerade comment \"{tag}\"\n"
        ));
        // An untracked packet matches no `ct status` and so meets the drop rules.
        for rule in [
            format!("input iifname \"{bridge}\" ip daddr 127.0.0.0/8 ct status dnat accept"),
            format!("input iifname \"{bridge}\" ip daddr 127.0.0.0/8 drop"),
            format!("forward iifname \"{bridge}\" oifname != \"{bridge}\" ct status dnat accept"),
            format!("forward iifname \"{bridge}\" oifname != \"{bridge}\" jump isolation"),
            format!("isolation oifname \"{bridge}\" drop"),
        ] {
            script.push_str(&format!("add rule ip {t} {rule} comment \"{tag}\"\n"));
        }
        let chains = Self::ip_filter_chains();
        let docker_chain = ["DOCKER-USER", "FORWARD"]
            .into_iter()
            .find(|c| chains.iter().any(|have| have == c));
        if let Some(chain) = docker_chain {
            let filter_tag = filter_tag(t, name);
            // In this order: within the bridge, replies and published ports to it, the way out
            // when it is a bridge itself (a host's `br0`); other bridges (Docker's) are left to
            // Docker's own rules, which drop; everything else is the way out. (An interface
            // without a kind, a physical NIC, matches no `oifkind`.)
            let out = uplink
                .filter(|uplink| *uplink != bridge)
                .map(|uplink| format!("iifname \"{bridge}\" oifname \"{uplink}\" accept"));
            let rules = [
                format!("iifname \"{bridge}\" oifname \"{bridge}\" accept"),
                format!("oifname \"{bridge}\" ct state established,related accept"),
                format!("oifname \"{bridge}\" ct status dnat accept"),
            ]
            .into_iter()
            .chain(out)
            .chain([
                format!("iifname \"{bridge}\" meta oifkind \"bridge\" return"),
                format!("iifname \"{bridge}\" accept"),
            ]);
            // Each rule is inserted at the top: the last one first.
            for rule in rules.collect::<Vec<_>>().into_iter().rev() {
                script.push_str(&format!(
                    "insert rule ip filter {chain} {rule} comment \"{filter_tag}\"\n"
                ));
            }
        }
        Self::apply(&script)
    }

    /// Removes a network's rules.
    pub fn remove_network(&self, name: &str) -> Result<(), FirewallError> {
        let script = self.network_delete_script(name)?;
        if script.is_empty() {
            return Ok(());
        }
        Self::apply(&script)
    }

    /// The `nft` lines that delete network `name`'s rules: those in berth's table and those
    /// it added to Docker's `ip filter`.
    fn network_delete_script(&self, name: &str) -> Result<String, FirewallError> {
        let own = Self::rules(&self.table)?;
        let docker = Self::rules("filter")?;
        Ok(Self::delete_script(&own, &network_tag(name))
            + &Self::delete_script(&docker, &filter_tag(&self.table, name)))
    }

    /// Publishes a container's ports: DNAT from the host's addresses to `ip`, and masquerade
    /// for the connections that come from the host itself or from the container's own
    /// subnet (so that replies come back the way they went).
    pub fn add_ports(
        &self,
        id: &str,
        ip: Ipv4Addr,
        subnet: &Subnet,
        ports: &[PortBinding],
    ) -> Result<(), FirewallError> {
        if ports.is_empty() {
            return Ok(());
        }
        let t = &self.table;
        let tag = container_tag(id);
        let mut script = String::new();
        for port in ports {
            let only = port
                .host_ip
                .map(|host| format!("ip daddr {host} "))
                .unwrap_or_default();
            script.push_str(&format!(
                "add rule ip {t} ports {only}{proto} dport {host_port} dnat to {ip}:{port} comment \"{tag}\"\n",
                proto = port.protocol,
                host_port = port.host_port,
                port = port.container_port,
            ));
        }
        script.push_str(&format!(
            "add rule ip {t} postrouting ip daddr {ip} ct status dnat ip saddr {{ 127.0.0.0/8, {subnet} }} masquerade comment \"{tag}\"\n"
        ));
        Self::apply(&script)
    }

    /// Removes every rule of container `id`.
    pub fn remove_container(&self, id: &str) -> Result<(), FirewallError> {
        let rules = Self::rules(&self.table)?;
        let script = Self::delete_script(&rules, &container_tag(id));
        if script.is_empty() {
            return Ok(());
        }
        Self::apply(&script)
    }

    /// The ids of the containers that have rules in the table.
    pub fn containers(&self) -> Result<Vec<String>, FirewallError> {
        let mut ids: Vec<String> = Self::rules(&self.table)?
            .into_iter()
            .filter_map(|r| {
                r.comment
                    .strip_prefix("berth container ")
                    .map(str::to_owned)
            })
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deletes the test's tables, whatever the test did.
    struct Tables(Vec<String>);

    impl Drop for Tables {
        fn drop(&mut self) {
            for table in &self.0 {
                let _ = Firewall::new(table).remove_network("bridge");
                let _ = Firewall::apply(&format!("delete table ip {table}\n"));
            }
        }
    }

    #[test]
    fn removing_a_network_leaves_other_tables_rules_alone() {
        let tables: Vec<String> = ["a", "b"]
            .iter()
            .map(|t| format!("berth_unit_{}_{t}", std::process::id()))
            .collect();
        let _guard = Tables(tables.clone());
        let subnet: Subnet = "10.213.0.0/24".parse().unwrap();
        let [a, b] = [&tables[0], &tables[1]].map(|t| Firewall::new(t));
        let own = |t: &str| {
            Firewall::rules(t)
                .unwrap()
                .iter()
                .filter(|r| r.comment == network_tag("bridge"))
                .count()
        };
        a.add_network("bridge", "berthunita0", &subnet, None)
            .unwrap();
        let rules = own(&tables[0]);
        assert!(rules > 0);
        b.add_network("bridge", "berthunitb0", &subnet, None)
            .unwrap();
        // Adding a network again (as each start does) replaces its rules in its own table only.
        a.add_network("bridge", "berthunita0", &subnet, None)
            .unwrap();
        assert_eq!((own(&tables[0]), own(&tables[1])), (rules, rules));
        let docker_rules = |t: &str| {
            Firewall::rules("filter")
                .unwrap()
                .iter()
                .filter(|r| r.comment == filter_tag(t, "bridge"))
                .count()
        };
        let docker_b = docker_rules(&tables[1]);
        a.remove_network("bridge").unwrap();
        assert_eq!(own(&tables[0]), 0);
        assert_eq!(docker_rules(&tables[0]), 0);
        assert_eq!(own(&tables[1]), rules, "another table's rule was removed");
        assert_eq!(docker_rules(&tables[1]), docker_b);
        b.remove_network("bridge").unwrap();
        assert_eq!((own(&tables[1]), docker_rules(&tables[1])), (0, 0));
    }
}
