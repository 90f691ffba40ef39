//! Container networking, end to end: the bridge with NAT, user networks with names, published
//! TCP and UDP ports, the none/host/container modes, DNS files, bad input, and clean-up after
//! many runs and after `kill -9`. Traffic goes only to 127.0.0.1 and to the addresses of the
//! bridges, containers and namespaces each test makes.

mod common;

use common::{
    Busybox, Env, assert_no_network_leftovers, assert_nothing_leaked, free_ports_below_ephemeral,
    gateway, http_get, inspect, ip_of,
};
use serde_json::Value;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

fn hosts_of(env: &Env, name: &str) -> String {
    env.berth(&["exec", name, "cat", "/etc/hosts"]).ok().stdout
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a detached web server `name` that answers `text`, and waits until it does.
fn web_server(bb: &Busybox, name: &str, flags: &[&str], text: &str) -> Ipv4Addr {
    let script = format!("mkdir -p /www; echo {text} > /www/index.html; httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[&bb.image, "sh", "-c", &script]);
    bb.env.berth(&args).ok();
    let ip = ip_of(&bb.env, name);
    until("the web server", || {
        http_get(SocketAddr::from((ip, 80))).contains(text)
    });
    ip
}

/// What an HTTP GET from a new container on `flags`' network to `host:port` returns.
fn get_from_container(bb: &Busybox, flags: &[&str], host: &str, port: u16) -> String {
    bb.sh(
        flags,
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port}"),
    )
    .stdout
}

#[test]
fn a_container_reaches_a_server_on_the_host_through_the_gateway() {
    let bb = Busybox::pulled();
    let gateway = gateway(&bb.env);
    let server = TcpListener::bind((gateway, 0)).unwrap();
    let port = server.local_addr().unwrap().port();
    let serving = std::thread::spawn(move || {
        let (mut stream, peer) = server.accept().unwrap();
        stream.write_all(b"hello-from-host\n").unwrap();
        peer
    });
    let out = bb
        .sh(
            &[],
            &format!(
                "nc -w 3 {gateway} {port}; ip route; cat /sys/class/net/eth0/mtu; cat /etc/hosts"
            ),
        )
        .ok()
        .stdout;
    assert!(out.contains("hello-from-host"), "{out}");
    let peer = serving.join().unwrap();
    assert_ne!(peer.ip(), std::net::IpAddr::from(gateway));
    assert!(
        out.contains(&format!("default via {gateway} dev eth0")),
        "{out}"
    );
    // The MTU of the interface the host's default route leaves through (1500 without one).
    let host_mtu = std::process::Command::new("sh")
        .args(["-c", "cat /sys/class/net/$(ip route show default | awk '{print $5; exit}')/mtu 2>/dev/null || echo 1500"])
        .output()
        .unwrap();
    let host_mtu = String::from_utf8_lossy(&host_mtu.stdout).trim().to_owned();
    assert!(
        out.lines().any(|l| l.trim() == host_mtu),
        "MTU {host_mtu}: {out}"
    );
    // /etc/hosts names the container at its address.
    let peer_ip = peer.ip().to_string();
    assert!(
        out.lines()
            .any(|l| l.starts_with(&peer_ip) && l.split_whitespace().count() >= 2),
        "{out}"
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn containers_reach_each_other_by_address_and_on_a_user_network_by_name() {
    let bb = Busybox::pulled();
    let web_ip = web_server(&bb, "web", &[], "on-the-bridge");
    let out = get_from_container(&bb, &[], &web_ip.to_string(), 80);
    assert!(out.contains("on-the-bridge"), "{out}");
    // As in Docker, names do not resolve on the default bridge.
    let out = bb.sh(&[], "ping -c1 -W1 web 2>&1; echo rc=$?").stdout;
    assert!(out.contains("rc=1"), "{out}");

    bb.env
        .berth(&["network", "create", "--subnet", "10.231.7.0/24", "appnet"])
        .ok();
    let db_ip = web_server(
        &bb,
        "db",
        &["--network", "appnet", "--network-alias", "database"],
        "on-appnet",
    );
    assert!(
        db_ip.to_string().starts_with("10.231.7."),
        "{db_ip} not in the subnet"
    );
    for name in ["db", "database"] {
        let out = get_from_container(&bb, &["--network", "appnet"], name, 80);
        assert!(out.contains("on-appnet"), "{name}: {out}");
    }
    // A container connected later is known to those already running, and forgotten when it goes.
    bb.env
        .berth(&["run", "-d", "--name", "late", &bb.image, "sleep", "60"])
        .ok();
    bb.env
        .berth(&["network", "connect", "--alias", "tardy", "appnet", "late"])
        .ok();
    let hosts = hosts_of(&bb.env, "db");
    assert!(hosts.lines().any(|l| l.contains("late tardy")), "{hosts}");
    let late = inspect(&bb.env, &["inspect", "late"]);
    assert!(
        late["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("10.231.7."),
        "{late}"
    );
    let out = bb
        .env
        .berth(&[
            "exec",
            "late",
            "sh",
            "-c",
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 db 80",
        ])
        .ok()
        .stdout;
    assert!(out.contains("on-appnet"), "{out}");
    bb.env
        .berth(&["network", "disconnect", "appnet", "late"])
        .ok();
    let hosts = hosts_of(&bb.env, "db");
    assert!(!hosts.contains("late"), "{hosts}");
    let links = bb
        .env
        .berth(&["exec", "late", "ls", "/sys/class/net"])
        .ok()
        .stdout;
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["eth0", "lo"]);

    let network = inspect(&bb.env, &["network", "inspect", "appnet"]);
    assert_eq!(
        network["Containers"].as_object().unwrap().len(),
        1,
        "{network}"
    );
    bb.env
        .berth(&["network", "rm", "appnet"])
        .fails(1, "has active endpoints");
    bb.env.berth(&["rm", "-f", "web", "db", "late"]).ok();
    bb.env.berth(&["network", "rm", "appnet"]).ok();
    assert!(
        !Path::new("/sys/class/net")
            .join(format!("br-{}", &network["Id"].as_str().unwrap()[..12]))
            .exists()
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_published_tcp_port_answers_on_the_hosts_addresses_and_from_another_container() {
    let bb = Busybox::pulled();
    let port = free_ports_below_ephemeral(21000, 1);
    let publish = format!("{port}:80");
    web_server(&bb, "web", &["-p", &publish], "published");
    let gateway = gateway(&bb.env);
    for host in [Ipv4Addr::LOCALHOST, gateway] {
        let response = http_get(SocketAddr::from((host, port)));
        assert!(response.contains("published"), "{host}:{port}: {response}");
    }
    // From another container, through the host (hairpin NAT).
    let out = get_from_container(&bb, &[], &gateway.to_string(), port);
    assert!(out.contains("published"), "{out}");
    // The port is held: nothing else on the host can take it.
    assert!(TcpListener::bind(("0.0.0.0", port)).is_err());
    assert_eq!(
        bb.env.berth(&["port", "web"]).ok().stdout.trim(),
        format!("80/tcp -> 0.0.0.0:{port}")
    );
    assert_eq!(
        bb.env.berth(&["port", "web", "80"]).ok().stdout.trim(),
        format!("0.0.0.0:{port}")
    );
    bb.env
        .berth(&["port", "web", "81"])
        .fails(1, "No public port '81/tcp' published for web");
    let ps = bb.env.berth(&["ps"]).ok().stdout;
    assert!(ps.contains(&format!("0.0.0.0:{port}->80/tcp")), "{ps}");
    let web = inspect(&bb.env, &["inspect", "web"]);
    assert_eq!(
        web["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        port.to_string()
    );
    assert_eq!(web["HostConfig"]["NetworkMode"], "bridge");

    // A second container cannot publish the same port: refused before it starts.
    bb.env
        .berth(&["run", "--rm", "-p", &publish, &bb.image, "true"])
        .fails(125, "port is already allocated");
    // A restart connects it again, its port with it.
    bb.env.berth(&["restart", "-t", "1", "web"]).ok();
    until("the restarted web server", || {
        http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).contains("published")
    });
    bb.env.berth(&["rm", "-f", "web"]).ok();
    // Released with the container.
    TcpListener::bind(("0.0.0.0", port)).unwrap();
    assert_nothing_leaked(&bb.env);
}

/// A DNS-shaped answer to `query`: the same message with "response, NXDOMAIN" flags.
fn nxdomain(query: &[u8]) -> Vec<u8> {
    let mut answer = query.to_vec();
    if answer.len() >= 4 {
        answer[2] = 0x81;
        answer[3] = 0x83;
    }
    answer
}

#[test]
fn a_published_udp_port_answers_from_the_host_and_from_another_container() {
    let bb = Busybox::pulled();
    let gateway = gateway(&bb.env);
    // Host port 53 on the gateway address only (a resolver on the host may hold 127.0.0.53:53).
    let publish = format!("{gateway}:53:5353/udp");
    let out = bb
        .env
        .berth(&[
            "run", "-d", "--name", "dns", "-p", &publish, "-p", "5353/udp", &bb.image, "sleep",
            "60",
        ])
        .ok();
    let id = out.stdout.trim().to_owned();
    // The UDP server is a socket of this test inside the container's network namespace: the
    // packets take the container's path (NAT, bridge, veth) to reach it.
    let netns = bb.env.run_root().join("netns").join(&id);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let namespace = std::fs::File::open(&netns).unwrap();
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&namespace),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        let socket = UdpSocket::bind("0.0.0.0:5353").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let mut sources = Vec::new();
        let mut buffer = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buffer) {
            sources.push(from);
            socket.send_to(&nxdomain(&buffer[..n]), from).unwrap();
            if sources.len() == 3 {
                break;
            }
        }
        sources
    });
    ready_rx.recv().unwrap();
    let random_port: u16 = bb
        .env
        .berth(&["port", "dns", "5353/udp"])
        .ok()
        .stdout
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let query = [0x12u8, 0x34, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for target in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, random_port)),
        SocketAddr::from((gateway, 53)),
    ] {
        let client = match target.ip() {
            std::net::IpAddr::V4(ip) => UdpSocket::bind((ip, 0)).unwrap(),
            std::net::IpAddr::V6(_) => unreachable!(),
        };
        client
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        client.send_to(&query, target).unwrap();
        let mut buffer = [0u8; 64];
        let (n, _) = client
            .recv_from(&mut buffer)
            .unwrap_or_else(|e| panic!("no answer from {target}: {e}"));
        assert_eq!(&buffer[..n], nxdomain(&query), "{target}");
    }
    // Another container asks through the host's port 53 on the gateway.
    let out = bb
        .sh(&[], &format!("nslookup berth.test {gateway} 2>&1"))
        .stdout;
    assert!(out.contains("NXDOMAIN"), "{out}");
    let sources = server.join().unwrap();
    assert_eq!(sources.len(), 3, "{sources:?}");
    bb.env.berth(&["rm", "-f", "dns"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn none_has_only_lo_host_sees_the_hosts_interfaces_and_container_shares_another() {
    let bb = Busybox::pulled();
    let out = bb
        .sh(&["--network", "none"], "ls /sys/class/net")
        .ok()
        .stdout;
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"]);

    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let out = bb
        .sh(&["--network", "host"], "ls /sys/class/net; hostname")
        .ok()
        .stdout;
    let mut seen: Vec<&str> = out.split_whitespace().collect();
    let hostname = seen.pop().unwrap();
    for name in host.iter().filter(|n| !n.starts_with("vb")) {
        assert!(seen.contains(&name.as_str()), "{name} missing: {seen:?}");
    }
    assert_eq!(
        hostname,
        rustix::system::uname().nodename().to_string_lossy()
    );

    let ip = web_server(&bb, "web", &[], "shared");
    let out = bb
        .sh(
            &["--network", "container:web"],
            "ip -4 -o addr show eth0; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 80",
        )
        .ok()
        .stdout;
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    assert!(out.contains("shared"), "{out}");
    bb.env.berth(&["stop", "-t", "1", "web"]).ok();
    bb.env
        .berth(&[
            "run",
            "--rm",
            "--network",
            "container:web",
            &bb.image,
            "true",
        ])
        .fails(125, "cannot join network of a non running container");
    bb.env.berth(&["rm", "web"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn dns_settings_extra_hosts_and_resolv_conf() {
    let bb = Busybox::pulled();
    let gateway = gateway(&bb.env);
    let out = bb
        .sh(
            &[
                "--dns",
                "10.1.2.3",
                "--dns-search",
                "corp.test",
                "--dns-option",
                "ndots:2",
                "--add-host",
                "db.local:10.9.9.9",
                "--add-host",
                "host.berth.internal:host-gateway",
            ],
            "cat /etc/resolv.conf /etc/hosts",
        )
        .ok()
        .stdout;
    for line in [
        "nameserver 10.1.2.3",
        "search corp.test",
        "options ndots:2",
        "10.9.9.9\tdb.local",
        &format!("{gateway}\thost.berth.internal"),
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
    // Without --dns: the host's servers, never a loopback one.
    let out = bb.sh(&[], "cat /etc/resolv.conf").ok().stdout;
    assert!(out.contains("nameserver "), "{out}");
    assert!(!out.contains("nameserver 127."), "{out}");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn publish_all_takes_a_free_port_for_each_exposed_port() {
    let bb = Busybox::pulled();
    let mut spec = berth_testkit::busybox::image().unwrap();
    spec.config["ExposedPorts"] = serde_json::json!({ "80/tcp": {}, "9053/udp": {} });
    bb.registry
        .client(None)
        .push_image("busybox", "exposed", &spec.build())
        .unwrap();
    let image = format!("{}/busybox:exposed", bb.registry.host());
    bb.env
        .berth(&["run", "-d", "--name", "p", "-P", &image, "sleep", "60"])
        .ok();
    let ports = bb.env.berth(&["port", "p"]).ok().stdout;
    let mut lines: Vec<&str> = ports.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{ports}");
    assert!(lines[0].starts_with("80/tcp -> 0.0.0.0:"), "{ports}");
    assert!(lines[1].starts_with("9053/udp -> 0.0.0.0:"), "{ports}");
    bb.env.berth(&["rm", "-f", "p"]).ok();

    // A range publishes port for port.
    let first = free_ports_below_ephemeral(20000, 2);
    let range = format!("127.0.0.1:{first}-{}:80-81", first + 1);
    bb.env
        .berth(&[
            "run", "-d", "--name", "r", "-p", &range, &bb.image, "sleep", "60",
        ])
        .ok();
    let ports = bb.env.berth(&["port", "r"]).ok().stdout;
    assert_eq!(
        ports.lines().collect::<Vec<_>>(),
        [
            format!("80/tcp -> 127.0.0.1:{first}"),
            format!("81/tcp -> 127.0.0.1:{}", first + 1)
        ]
    );
    bb.env.berth(&["rm", "-f", "r"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn fifty_parallel_containers_get_distinct_addresses() {
    let bb = Busybox::pulled();
    gateway(&bb.env);
    let starts: Vec<_> = (0..50)
        .map(|i| {
            let mut cmd = bb.env.command();
            cmd.args([
                "run",
                "-d",
                "--name",
                &format!("c{i}"),
                &bb.image,
                "sleep",
                "60",
            ]);
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    for start in starts {
        let out = start.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut ips: Vec<Ipv4Addr> = (0..50).map(|i| ip_of(&bb.env, &format!("c{i}"))).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 50, "{ips:?}");
    let names: Vec<String> = (0..50).map(|i| format!("c{i}")).collect();
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    bb.env.berth(&args).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn twenty_runs_and_a_kill_9_leave_no_veth_rule_or_lease() {
    let bb = Busybox::pulled();
    for _ in 0..20 {
        bb.sh(&["-p", "80", "-p", "53/udp"], "true").ok();
    }
    assert_no_network_leftovers(&bb.env);

    let (mut child, _) = bb.env.spawn_until_line(&[
        "run",
        "--rm",
        "-p",
        "80",
        &bb.image,
        "sh",
        "-c",
        // A duration no other process on the machine is likely to sleep: pgrep finds it.
        "hostname; sleep 7731",
    ]);
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &bb.env.table])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&rules.stdout).contains("berth container"),
        "no port rule while running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    until("the container to die with berth", || {
        !std::process::Command::new("pgrep")
            .args(["-f", "sleep 7731"])
            .status()
            .is_ok_and(|s| s.success())
    });
    // One more berth command reclaims everything.
    bb.env.berth(&["ps", "-a"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn bad_network_input_is_refused_and_leaves_nothing() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["run", "--rm", "--network", "nope", &bb.image, "true"])
        .fails(125, "network nope not found");
    bb.env
        .berth(&["network", "create", "--subnet", "10.232.0.0/16", "one"])
        .ok();
    bb.env
        .berth(&["network", "create", "--subnet", "10.232.5.0/24", "two"])
        .fails(1, "Pool overlaps with other one on this address space");
    bb.env
        .berth(&["network", "create", "one"])
        .fails(1, "network with name one already exists");
    bb.env
        .berth(&["network", "create", "--subnet", "10.233.0.0", "three"])
        .fails(1, "invalid subnet");
    bb.env
        .berth(&[
            "run",
            "--rm",
            "--network",
            "one",
            "--ip",
            "10.99.0.5",
            &bb.image,
            "true",
        ])
        .fails(125, "does not belong to any of this network's subnets");
    bb.env
        .berth(&["run", "--rm", "--ip", "172.17.0.9", &bb.image, "true"])
        .fails(125, "supported on user defined networks only");
    let out = bb
        .sh(
            &["--network", "one", "--ip", "10.232.9.9"],
            "ip -4 -o addr show eth0",
        )
        .ok()
        .stdout;
    assert!(out.contains("inet 10.232.9.9/16"), "{out}");
    // A port the host already uses.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let publish = format!("127.0.0.1:{}:80", taken.local_addr().unwrap().port());
    bb.env
        .berth(&["run", "--rm", "-p", &publish, &bb.image, "true"])
        .fails(125, "port is already allocated");
    bb.env
        .berth(&["run", "--rm", "-p", "80:80/sctp", &bb.image, "true"])
        .fails(125, "the protocol must be tcp or udp");
    bb.env
        .berth(&["network", "rm", "bridge"])
        .fails(1, "pre-defined network");
    bb.env
        .berth(&["network", "rm", "nope"])
        .fails(1, "network nope not found");
    let ls = bb.env.berth(&["network", "ls"]).ok().stdout;
    for name in ["bridge", "one", "host", "none"] {
        assert!(
            ls.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{ls}"
        );
    }
    bb.env.berth(&["network", "rm", "one"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn published_ports_work_where_dockers_forward_policy_drops() {
    // A network namespace of this test plays a host with Docker's iptables rules: its FORWARD
    // policy drops, with an empty DOCKER-USER chain that berth's accept rules go into.
    let bb = Busybox::pulled();
    let netns = common::TestNetns::new(&format!("berth-fwd-{}", bb.env.bridge));
    netns.nft(common::DOCKER_FORWARD_RULES);
    // berth in that namespace: the environment's command, started through nsenter.
    let berth = |args: &[&str]| netns.berth(&bb.env, args);
    berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        &bb.image,
        "sh",
        "-c",
        "mkdir -p /www; echo behind-docker > /www/index.html; httpd -f -p 80 -h /www",
    ])
    .ok();
    let gateway =
        serde_json::from_str::<Value>(&berth(&["network", "inspect", "bridge"]).ok().stdout)
            .unwrap()[0]["IPAM"]["Config"][0]["Gateway"]
            .as_str()
            .unwrap()
            .to_owned();
    let mut answer = String::new();
    for _ in 0..40 {
        answer = berth(&[
            "run",
            "--rm",
            &bb.image,
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {gateway} 8080"),
        ])
        .stdout;
        if answer.contains("behind-docker") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(answer.contains("behind-docker"), "{answer}");
    let chain = netns
        .command("nft")
        .args(["list", "chain", "ip", "filter", "DOCKER-USER"])
        .output()
        .unwrap();
    let chain = String::from_utf8_lossy(&chain.stdout);
    // Named by network and by table: a berth with another table leaves them alone.
    let comment = format!(
        "accept comment \"berth network bridge table {}\"",
        bb.env.table
    );
    assert_eq!(chain.matches(&comment).count(), 4, "{chain}");
    berth(&["rm", "-f", "web"]).ok();
}
