//! The /etc files berth writes for a container: hosts (with `--add-host`) and resolv.conf.

use crate::connect;
use crate::options::NetworkPlan;
use std::fs;

/// /etc/hosts before the container has an address: localhost and the `--add-host` entries
/// with a literal address.
pub(super) fn etc_hosts(extra_hosts: &[String]) -> String {
    with_extra_hosts(connect::HOSTS.to_owned(), extra_hosts)
}

/// `hosts` with the `--add-host` entries that have a literal address appended.
pub(super) fn with_extra_hosts(mut text: String, extra_hosts: &[String]) -> String {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for (name, ip) in extra_hosts.iter().filter_map(|e| e.split_once(':')) {
        if ip != "host-gateway" {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    text
}

/// The container's resolv.conf: `--dns`, `--dns-search` and `--dns-option` where given, else
/// the host's. A loopback nameserver (systemd-resolved's 127.0.0.53, say) means nothing in
/// another network namespace: as Docker does, it gives way to the upstream servers that
/// systemd-resolved lists, else to public ones.
pub(super) fn resolv_conf(plan: &NetworkPlan) -> String {
    let host = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let upstream = fs::read_to_string("/run/systemd/resolve/resolv.conf").unwrap_or_default();
    compose_resolv_conf(plan, &host, &upstream)
}

fn compose_resolv_conf(plan: &NetworkPlan, host: &str, upstream: &str) -> String {
    let entries = |text: &str, key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(key)).then(|| words.collect::<Vec<_>>().join(" "))
            })
            .collect()
    };
    let loopback = |ip: &String| ip.starts_with("127.") || ip == "::1";
    let mut servers: Vec<String> = plan.dns.iter().map(|ip| ip.to_string()).collect();
    if servers.is_empty() {
        servers = entries(host, "nameserver");
        servers.retain(|ip| !loopback(ip));
        if servers.is_empty() {
            servers = entries(upstream, "nameserver");
            servers.retain(|ip| !loopback(ip));
        }
        if servers.is_empty() {
            servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
        }
    }
    let search = match plan.dns_search.as_slice() {
        [] => entries(host, "search"),
        given => vec![given.join(" ")],
    };
    let options = match plan.dns_options.as_slice() {
        [] => entries(host, "options"),
        given => vec![given.join(" ")],
    };
    let mut text = String::new();
    for (key, values) in [("search", search), ("options", options)] {
        for value in values.iter().filter(|v| !v.is_empty()) {
            text.push_str(&format!("{key} {value}\n"));
        }
    }
    for server in servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_servers_for_upstream_ones() {
        let plan = NetworkPlan::default();
        let resolved = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n";
        let upstream = "nameserver 10.0.0.1\nnameserver 10.0.0.2\n";
        assert_eq!(
            compose_resolv_conf(&plan, resolved, upstream),
            "search lan\noptions edns0 trust-ad\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n"
        );
        assert_eq!(
            compose_resolv_conf(&plan, "nameserver 127.0.0.1\n", ""),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            compose_resolv_conf(&plan, "nameserver 192.0.2.53\n", upstream),
            "nameserver 192.0.2.53\n"
        );
        let given = NetworkPlan {
            dns: vec![std::net::Ipv4Addr::new(10, 1, 1, 1)],
            dns_search: vec!["a.test".into(), "b.test".into()],
            dns_options: vec!["ndots:2".into()],
            ..NetworkPlan::default()
        };
        assert_eq!(
            compose_resolv_conf(&given, resolved, upstream),
            "search a.test b.test\noptions ndots:2\nnameserver 10.1.1.1\n"
        );
    }
}
