//! Network attacks from inside containers, each beside what Docker does: raw frames for the
//! host's 127.0.0.1 sent to the gateway (Docker's containers get no answer), and traffic
//! between networks (Docker drops it). Traffic goes only to 127.0.0.1 and to the addresses of
//! the bridges, containers and namespaces each test makes.

mod common;

use common::{Busybox, assert_nothing_leaked, free_ports_below_ephemeral, gateway, ip_of};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// The RFC 1071 checksum of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame from `from` to the hardware address `to`, carrying an IPv4/UDP datagram
/// from `source` (port 40000) to `destination`:`port` with `payload`.
fn udp_frame(
    to: [u8; 6],
    from: [u8; 6],
    source: Ipv4Addr,
    destination: Ipv4Addr,
    port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&source.octets());
    ip.extend_from_slice(&destination.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut frame = to.to_vec();
    frame.extend_from_slice(&from);
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&40000u16.to_be_bytes());
    frame.extend_from_slice(&port.to_be_bytes());
    frame.extend_from_slice(&udp_len.to_be_bytes());
    // No UDP checksum (zero), which IPv4 allows.
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Sends `frames` out of `eth0` of the network namespace `netns` through a packet socket, as
/// a process of the container with CAP_NET_RAW can.
fn send_frames(netns: &Path, frames: Vec<Vec<u8>>) {
    let netns = netns.to_owned();
    std::thread::spawn(move || {
        let namespace = std::fs::File::open(&netns).unwrap();
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&namespace),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        // SAFETY: socket(2) with constant arguments; the descriptor it returns is owned here.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        let index = rustix::net::netdevice::name_to_index(&socket, "eth0").unwrap();
        // SAFETY: sockaddr_ll is plain data, valid when zeroed.
        let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = (libc::ETH_P_IP as u16).to_be();
        address.sll_ifindex = index as i32;
        address.sll_halen = 6;
        for frame in frames {
            address.sll_addr[..6].copy_from_slice(&frame[..6]);
            // SAFETY: the buffer and the address are valid for the lengths given.
            let sent = unsafe {
                libc::sendto(
                    socket.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    std::ptr::from_ref(&address).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(
                sent,
                frame.len() as isize,
                "send: {}",
                std::io::Error::last_os_error()
            );
        }
    })
    .join()
    .unwrap();
}

/// `02:42:ac:11:00:01` as bytes.
fn parse_mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> = text
        .trim()
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

#[test]
fn a_container_cannot_reach_the_hosts_loopback_through_the_gateway() {
    // Docker: its containers get no answer from the host's 127.0.0.1.
    let bb = Busybox::pulled();
    let id = bb
        .env
        .berth(&["run", "-d", &bb.image, "sleep", "60"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let ip = ip_of(&bb.env, &id);
    let gateway = gateway(&bb.env);
    let gateway_mac = parse_mac(
        &std::fs::read_to_string(format!("/sys/class/net/{}/address", bb.env.bridge)).unwrap(),
    );
    let loopback_only = UdpSocket::bind("127.0.0.1:0").unwrap();
    let everywhere = UdpSocket::bind("0.0.0.0:0").unwrap();
    let frame = |destination, socket: &UdpSocket, payload: &[u8]| {
        let port = socket.local_addr().unwrap().port();
        udp_frame(
            gateway_mac,
            berth_net::bridge::mac_for(ip),
            ip,
            destination,
            port,
            payload,
        )
    };
    // The attack first, then the control: once the control has arrived, so would have the
    // attack.
    send_frames(
        &bb.env.run_root().join("netns").join(&id),
        vec![
            frame(Ipv4Addr::LOCALHOST, &loopback_only, b"to-loopback"),
            frame(gateway, &everywhere, b"to-gateway"),
        ],
    );
    everywhere
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = [0u8; 64];
    let (n, from) = everywhere
        .recv_from(&mut buffer)
        .expect("the frame to the gateway's address arrives");
    assert_eq!((&buffer[..n], from.ip()), (&b"to-gateway"[..], ip.into()));
    loopback_only
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    if let Ok((n, from)) = loopback_only.recv_from(&mut buffer) {
        panic!(
            "the container reached the host's 127.0.0.1 from {from}: {:?}",
            String::from_utf8_lossy(&buffer[..n])
        );
    }
    bb.env.berth(&["rm", "-f", &id]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn networks_are_isolated_from_each_other_but_not_within() {
    // Docker: DOCKER-ISOLATION-STAGE-1/2 drop what goes from one bridge network to another.
    let bb = Busybox::pulled();
    let env = &bb.env;
    for (name, subnet) in [("one", "10.234.41.0/24"), ("two", "10.234.42.0/24")] {
        env.berth(&["network", "create", "--subnet", subnet, name])
            .ok();
    }
    let port = free_ports_below_ephemeral(22000, 1);
    let publish = format!("{port}:80");
    let containers: [(&str, &[&str]); 5] = [
        ("a", &[]),
        ("a2", &[]),
        ("b", &["--network", "one", "-p", &publish]),
        ("b2", &["--network", "one"]),
        ("c", &["--network", "two"]),
    ];
    for (name, flags) in containers {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&bb.image, "httpd", "-f", "-p", "80", "-h", "/etc"]);
        env.berth(&args).ok();
    }
    let reaches = |from: &str, to: &str| {
        let to = ip_of(env, to).to_string();
        env.berth(&["exec", from, "ping", "-c", "1", "-W", "1", &to])
            .code
            == 0
    };
    // An HTTP GET of /etc/hostname from `from` to `host:port`: the response, if any.
    let fetch = |from: &str, host: &str, port: u16| {
        let get = format!("printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} {port}");
        env.berth(&["exec", from, "sh", "-c", &get]).stdout
    };
    for (from, to) in [("a", "a2"), ("a2", "a"), ("b", "b2"), ("b2", "b")] {
        assert!(reaches(from, to), "{from} cannot reach {to} on its network");
        let out = fetch(from, &ip_of(env, to).to_string(), 80);
        assert!(out.contains("200 OK"), "{from} to {to}: {out}");
    }
    for (from, to) in [
        ("a", "b"),
        ("b", "a"),
        ("a", "c"),
        ("c", "a"),
        ("b", "c"),
        ("c", "b"),
    ] {
        assert!(!reaches(from, to), "{from} reaches {to} on another network");
        let out = fetch(from, &ip_of(env, to).to_string(), 80);
        assert!(!out.contains("200 OK"), "{from} fetched from {to}: {out}");
    }
    // A published port is reachable from every network, through the host.
    let out = fetch("c", &gateway(env).to_string(), port);
    assert!(out.contains("200 OK"), "{out}");
    // The outbound NAT of each network stays, and its rules go with it.
    let rules = || {
        let out = std::process::Command::new("nft")
            .args(["list", "table", "ip", &env.table])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = rules();
    for subnet in ["10.234.41.0/24", "10.234.42.0/24"] {
        assert!(
            listed
                .lines()
                .any(|l| l.contains(&format!("ip saddr {subnet}")) && l.contains("masquerade")),
            "{listed}"
        );
    }
    env.berth(&["rm", "-f", "a", "a2", "b", "b2", "c"]).ok();
    env.berth(&["network", "rm", "one", "two"]).ok();
    let listed = rules();
    for name in ["one", "two"] {
        assert!(
            !listed.contains(&format!("\"berth network {name}\"")),
            "{listed}"
        );
    }
    assert_nothing_leaked(env);
}

#[test]
fn berths_rules_next_to_dockers_open_no_path_to_another_bridge() {
    // Docker: its isolation chains drop what goes from one of its bridges to another.
    // A network namespace of this test plays a host with Docker's rules (its FORWARD policy
    // drops), a bridge of "Docker's" with a "container" on it, its way out (the default
    // route) through a bridge as many hosts have (`br0`), and a veth to another namespace.
    let bb = Busybox::pulled();
    let tag = &bb.env.bridge;
    let host = common::TestNetns::new(&format!("berth-dkh-{tag}"));
    host.nft(common::DOCKER_FORWARD_RULES);
    let peers = ["dkc", "dko", "dkv"].map(|p| common::TestNetns::new(&format!("berth-{p}-{tag}")));
    for (peer, device, net, bridge) in [
        (&peers[0], "dkp0", "10.234.45", Some("dk0")),
        (&peers[1], "upp0", "10.234.46", Some("upbr0")),
        (&peers[2], "vx0", "10.234.47", None),
    ] {
        host.ip(&[
            "link", "add", device, "type", "veth", "peer", "name", "eth0", "netns", &peer.0,
        ]);
        let on_host = match bridge {
            Some(bridge) => {
                host.ip(&["link", "add", bridge, "type", "bridge"]);
                host.ip(&["link", "set", device, "master", bridge, "up"]);
                bridge
            }
            None => device,
        };
        host.ip(&["addr", "add", &format!("{net}.1/24"), "dev", on_host]);
        host.ip(&["link", "set", on_host, "up"]);
        peer.ip(&["addr", "add", &format!("{net}.2/24"), "dev", "eth0"]);
        peer.ip(&["link", "set", "eth0", "up"]);
    }
    host.ip(&["route", "add", "default", "via", "10.234.46.2"]);
    let ping = |network: &str, address: &str| {
        host.berth(
            &bb.env,
            &[
                "run",
                "--rm",
                "--network",
                network,
                &bb.image,
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                address,
            ],
        )
        .code
    };
    assert_eq!(ping("bridge", "10.234.46.2"), 0, "the way out is closed");
    assert_eq!(ping("bridge", "10.234.47.2"), 0, "the veth is closed");
    assert_ne!(
        ping("bridge", "10.234.45.2"),
        0,
        "a container reached Docker's bridge"
    );
    // The "container" on Docker's bridge answers the host itself.
    assert_eq!(ping("host", "10.234.45.2"), 0, "Docker's bridge is mute");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_bridge_made_by_an_older_berth_gets_the_rules_at_its_next_use() {
    // An older berth left its bridge without the rules that close the host's loopback and
    // isolate the networks (and without their mark, the bridge's alias).
    let bb = Busybox::pulled();
    gateway(&bb.env);
    let run = |program: &str, args: &[&str]| {
        let status = std::process::Command::new(program)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "{program} {args:?}");
    };
    run("nft", &["delete", "table", "ip", &bb.env.table]);
    run("ip", &["link", "set", &bb.env.bridge, "alias", ""]);
    bb.sh(&[], "true").ok();
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &bb.env.table])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    for rule in [
        "ip daddr 127.0.0.0/8 drop comment \"berth network bridge\"",
        "jump isolation comment \"berth network bridge\"",
        "masquerade comment \"berth network bridge\"",
    ] {
        assert!(rules.contains(rule), "{rule} missing:\n{rules}");
    }
    assert_nothing_leaked(&bb.env);
}
