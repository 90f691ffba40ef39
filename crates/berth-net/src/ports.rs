//! Published ports: `-p [hostIP:][hostPort:]containerPort[/tcp|udp]` with ranges, and the
//! reservation of host ports.
//!
//! A host port is reserved by binding a socket to it (never listening on it) and holding
//! that socket for as long as the container runs: a port in use is refused before the
//! container starts, nothing else on the host can take it meanwhile, and the reservation
//! ends by itself when its holder dies, `kill -9` included.

use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, SocketAddrV4, SocketType};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::Ipv4Addr;

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP
    Tcp,
    /// UDP
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

impl Protocol {
    /// `tcp` or `udp`.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// A port to publish, as asked for: the host port is one of a range (`0..=0`: any free one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    /// The host address it answers on (every address when unset).
    pub host_ip: Option<Ipv4Addr>,
    /// The first and last host port that may serve.
    pub host_ports: (u16, u16),
    /// The container's port.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// A published port: host address and port to container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// The host address it answers on (every address when unset).
    pub host_ip: Option<Ipv4Addr>,
    /// The host port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl fmt::Display for PortBinding {
    /// Docker's `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} -> {}:{}",
            self.container_port,
            self.protocol,
            self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            self.host_port
        )
    }
}

fn range(text: &str) -> Option<(u16, u16)> {
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let port = text.parse().ok()?;
            (port, port)
        }
    };
    (first > 0 && first <= last).then_some((first, last))
}

/// Parses one `-p` value into the ports it publishes.
pub fn parse_publish(text: &str) -> Result<Vec<PortRequest>, String> {
    let bad = |why: &str| format!("invalid publish spec \"{text}\": {why}");
    let (rest, protocol) = match text.rsplit_once('/') {
        Some((rest, proto)) => (
            rest,
            Protocol::parse(proto).ok_or_else(|| bad("the protocol must be tcp or udp"))?,
        ),
        None => (text, Protocol::Tcp),
    };
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let (host_ip, host, container) = match parts.as_slice() {
        [container] => (None, "", *container),
        [container, host] => (None, *host, *container),
        [container, host, ip] => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            let ip: Ipv4Addr = ip
                .parse()
                .map_err(|_| bad("the host address must be IPv4"))?;
            ((!ip.is_unspecified()).then_some(ip), *host, *container)
        }
        _ => return Err(bad("too many colons")),
    };
    let container = range(container).ok_or_else(|| bad("bad container port"))?;
    let host = if host.is_empty() {
        None
    } else {
        Some(range(host).ok_or_else(|| bad("bad host port"))?)
    };
    let count = container.1 - container.0;
    let request = |container_port, host_ports| PortRequest {
        host_ip,
        host_ports,
        container_port,
        protocol,
    };
    match host {
        None => Ok((container.0..=container.1)
            .map(|p| request(p, (0, 0)))
            .collect()),
        Some(h) if count == 0 => Ok(vec![request(container.0, h)]),
        Some(h) if h.1 - h.0 == count => Ok((0..=count)
            .map(|i| request(container.0 + i, (h.0 + i, h.0 + i)))
            .collect()),
        Some(_) => Err(bad("the host and container port ranges differ in size")),
    }
}

/// Reserves a host port for each request (see the module's doc): the bindings, and the
/// sockets that hold them.
pub fn reserve(requests: &[PortRequest]) -> Result<(Vec<PortBinding>, Vec<OwnedFd>), String> {
    let mut bindings = Vec::new();
    let mut held = Vec::new();
    for request in requests {
        let ip = request.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let kind = match request.protocol {
            Protocol::Tcp => SocketType::STREAM,
            Protocol::Udp => SocketType::DGRAM,
        };
        let mut last_error = None;
        let mut found = None;
        for port in request.host_ports.0..=request.host_ports.1 {
            let socket = rustix::net::socket_with(
                AddressFamily::INET,
                kind,
                rustix::net::SocketFlags::CLOEXEC,
                None,
            )
            .map_err(|e| format!("socket: {e}"))?;
            match rustix::net::bind(&socket, &SocketAddrV4::new(ip, port)) {
                Ok(()) => {
                    found = Some((socket, port));
                    break;
                }
                Err(e) => last_error = Some((port, e)),
            }
        }
        let Some((socket, mut port)) = found else {
            let (port, e) = last_error.expect("a range has at least one port");
            return Err(if e == rustix::io::Errno::ADDRINUSE {
                format!("Bind for {ip}:{port} failed: port is already allocated")
            } else {
                format!("Bind for {ip}:{port} failed: {e}")
            });
        };
        if port == 0 {
            port = rustix::net::getsockname(&socket)
                .ok()
                .and_then(|addr| SocketAddrV4::try_from(addr).ok())
                .map(|addr| addr.port())
                .ok_or("cannot read the port the kernel chose")?;
        }
        bindings.push(PortBinding {
            host_ip: request.host_ip,
            host_port: port,
            container_port: request.container_port,
            protocol: request.protocol,
        });
        held.push(socket);
    }
    Ok((bindings, held))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(host_ip: Option<Ipv4Addr>, host: (u16, u16), port: u16, p: Protocol) -> PortRequest {
        PortRequest {
            host_ip,
            host_ports: host,
            container_port: port,
            protocol: p,
        }
    }

    #[test]
    fn publish_forms() {
        use Protocol::*;
        assert_eq!(parse_publish("80").unwrap(), [one(None, (0, 0), 80, Tcp)]);
        assert_eq!(
            parse_publish("8080:80/udp").unwrap(),
            [one(None, (8080, 8080), 80, Udp)]
        );
        let lo = Some(Ipv4Addr::LOCALHOST);
        assert_eq!(
            parse_publish("127.0.0.1:8080:80").unwrap(),
            [one(lo, (8080, 8080), 80, Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            [one(lo, (0, 0), 80, Tcp)]
        );
        assert_eq!(
            parse_publish("0.0.0.0:8080:80").unwrap(),
            [one(None, (8080, 8080), 80, Tcp)]
        );
        assert_eq!(
            parse_publish("9000-9001:80-81").unwrap(),
            [
                one(None, (9000, 9000), 80, Tcp),
                one(None, (9001, 9001), 81, Tcp)
            ]
        );
        assert_eq!(
            parse_publish("9000-9009:80").unwrap(),
            [one(None, (9000, 9009), 80, Tcp)]
        );
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
        for bad in [
            "",
            "x",
            "80/sctp",
            "0",
            "9000-9001:80-82",
            "a:80:80",
            "1:2:3:4",
            "90-80",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reservation_holds_the_port() {
        let again = |port: u16| reserve(&parse_publish(&format!("127.0.0.1:{port}:80")).unwrap());
        // Any free port: the kernel's choice, held.
        let (bindings, _held) = reserve(&parse_publish("127.0.0.1::80").unwrap()).unwrap();
        assert_ne!(bindings[0].host_port, 0);
        let error = again(bindings[0].host_port).unwrap_err();
        assert!(error.contains("port is already allocated"), "{error}");
        // Released with its socket. The port is below the kernel's ephemeral range, so that no
        // socket bound to port 0 meanwhile (by another test) can be given it.
        let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let first_ephemeral: u16 = ephemeral
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let (bindings, held) =
            reserve(&parse_publish("127.0.0.1:10213-10312:80").unwrap()).unwrap();
        let port = bindings[0].host_port;
        assert!(
            port < first_ephemeral,
            "{port} is in the ephemeral range {ephemeral}"
        );
        let error = again(port).unwrap_err();
        assert!(error.contains("port is already allocated"), "{error}");
        drop(held);
        assert!(again(port).is_ok());
    }
}
