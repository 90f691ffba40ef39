//! A container as Docker's `inspect` and the Engine API show it: the JSON of its record, spec
//! and networks, its state in one word and `ps`'s STATUS text. Shared by the CLI and the API service.

use crate::connect;
use crate::containers::Containers;
use crate::health::HealthStatus;
use crate::networks::{Network, Networks};
use crate::paths::Roots;
use crate::record::{Record, Status};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `created`, `running`, `paused` or `exited`, as the state really is.
pub fn state(record: &Record) -> &'static str {
    if record.is_running() && record.paused {
        "paused"
    } else if record.is_running() {
        "running"
    } else if record.status == Status::Created {
        "created"
    } else {
        "exited"
    }
}

/// How long ago, in Docker's words: `Less than a second`, `About an hour`, `3 days`, ...
pub fn human_duration(seconds: u64) -> String {
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if days < 14 => format!("{days} days"),
        _ if days < 60 => format!("{} weeks", days / 7),
        _ if days < 365 * 2 => format!("{} months", days / 30),
        _ => format!("{} years", days / 365),
    }
}

/// The STATUS column: `Up 5 seconds`, `Up 5 seconds (healthy)` (with its `health`), `Exited
/// (0) 2 minutes ago`, `Created`.
pub fn status_text(record: &Record, health: Option<HealthStatus>, now: i64) -> String {
    let ago = |at: &Option<String>| {
        at.as_deref()
            .and_then(crate::time::parse)
            .map_or(0, |t| now.saturating_sub(t).max(0) as u64)
    };
    if record.is_running() && record.paused {
        format!("Up {} (Paused)", human_duration(ago(&record.started_at)))
    } else if record.is_running() {
        let up = format!("Up {}", human_duration(ago(&record.started_at)));
        match health {
            Some(health) => format!("{up} {}", health.ps_suffix()),
            None => up,
        }
    } else if record.status == Status::Created {
        "Created".into()
    } else {
        format!(
            "Exited ({}) {} ago",
            record.exit_code.unwrap_or(0),
            human_duration(ago(&record.finished_at))
        )
    }
}

/// A container as Docker's `inspect` shows it (`GET /containers/{id}/json`).
pub fn container(roots: &Roots, all: &Containers, record: &Record) -> serde_json::Value {
    let (network_mode, port_bindings, network_settings) = network_fields(roots, record);
    let spec: serde_json::Value = std::fs::read(all.dir(&record.id).join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let running = record.is_running();
    let resources = &spec["linux"]["resources"];
    let mounts: Vec<_> = record.mounts.iter().map(|m| m.inspect()).collect();
    let mut json = serde_json::json!({
        "Id": record.id,
        "Created": record.created,
        "Path": record.command.first(),
        "Args": record.command.get(1..).unwrap_or_default(),
        "State": {
            "Status": state(record),
            "Running": running,
            "Paused": running && record.paused,
            "Restarting": false,
            "OOMKilled": record.oom_killed,
            "Dead": false,
            "Pid": if running { record.init_pid().unwrap_or(0) } else { 0 },
            "ExitCode": record.exit_code.unwrap_or(0),
            "StartedAt": record.started_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "FinishedAt": record.finished_at.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        },
        "Image": record.image_id,
        "Name": format!("/{}", record.name),
        "RestartCount": record.restart_count,
        "Config": {
            "Hostname": spec["hostname"],
            "User": format!("{}:{}", spec["process"]["user"]["uid"], spec["process"]["user"]["gid"]),
            "Tty": record.tty,
            "OpenStdin": record.interactive,
            "Env": spec["process"]["env"],
            "Cmd": record.command,
            "Image": record.image,
            "WorkingDir": spec["process"]["cwd"],
            "StopSignal": record.stop_signal,
            "Labels": record.labels,
        },
        "HostConfig": {
            "AutoRemove": record.auto_remove,
            "RestartPolicy": { "Name": record.restart.name(), "MaximumRetryCount": record.restart.maximum_retry_count() },
            "LogConfig": { "Type": record.log_driver },
            "Memory": resources["memory"]["limit"].as_i64().unwrap_or(0),
            "MemorySwap": resources["memory"]["swap"].as_i64().unwrap_or(0),
            "MemoryReservation": resources["memory"]["reservation"].as_i64().unwrap_or(0),
            "CpuShares": resources["cpu"]["shares"].as_u64().unwrap_or(0),
            "CpusetCpus": resources["cpu"]["cpus"].as_str().unwrap_or(""),
            "CpusetMems": resources["cpu"]["mems"].as_str().unwrap_or(""),
            "NanoCpus": resources["cpu"]["quota"].as_i64().map_or(0, |q| q * 10_000),
            "PidsLimit": resources["pids"]["limit"],
            "ReadonlyRootfs": spec["root"]["readonly"],
            "NetworkMode": network_mode,
            "PortBindings": port_bindings,
            "ExtraHosts": record.extra_hosts,
        },
        "NetworkSettings": network_settings,
        "Mounts": mounts,
    });
    // Docker shows a healthcheck's state and configuration only for a container that has one.
    if let Some(check) = &record.healthcheck {
        json["Config"]["Healthcheck"] = serde_json::json!(check);
    }
    if let Some(health) = crate::health::read(all, record) {
        json["State"]["Health"] = serde_json::json!(health);
    }
    json
}

/// The `HostConfig` network fields and the `NetworkSettings` of `inspect`.
fn network_fields(roots: &Roots, record: &Record) -> (Value, Value, Value) {
    let store = &Networks::new(&roots.root, &roots.run_root);
    let mut port_bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for request in &record.ports {
        let host_port = match request.host_ports {
            (0, 0) => String::new(),
            (first, last) if first == last => first.to_string(),
            (first, last) => format!("{first}-{last}"),
        };
        port_bindings
            .entry(format!("{}/{}", request.container_port, request.protocol))
            .or_default()
            .push(json!({ "HostIp": request.host_ip.map(|ip| ip.to_string()).unwrap_or_default(), "HostPort": host_port }));
    }
    let mut ports: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for b in &record.port_bindings {
        ports
            .entry(format!("{}/{}", b.container_port, b.protocol))
            .or_default()
            .push(json!({ "HostIp": b.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(), "HostPort": b.host_port.to_string() }));
    }
    let mut networks = serde_json::Map::new();
    let mut first = json!({ "IPAddress": "", "Gateway": "", "IPPrefixLen": 0, "MacAddress": "" });
    for (n, endpoint) in record.networks.iter().enumerate() {
        let network = store.find(&endpoint.network).ok();
        let running = endpoint.ip.is_some();
        let gateway = network
            .as_ref()
            .filter(|_| running)
            .map(|n| n.gateway.to_string())
            .unwrap_or_default();
        let prefix = network
            .as_ref()
            .filter(|_| running)
            .map_or(0, |n| n.subnet.prefix());
        let ip = endpoint.ip.map(|ip| ip.to_string()).unwrap_or_default();
        let mac = connect::mac_of(endpoint);
        if n == 0 {
            first = json!({ "IPAddress": ip, "Gateway": gateway, "IPPrefixLen": prefix, "MacAddress": mac });
        }
        networks.insert(
            endpoint.network.clone(),
            json!({
                "Aliases": endpoint.aliases,
                "NetworkID": network.map(|n| n.id).unwrap_or_default(),
                "IPAddress": ip,
                "IPPrefixLen": prefix,
                "Gateway": gateway,
                "MacAddress": mac,
            }),
        );
    }
    if record.networks.is_empty() {
        networks.insert(record.network_mode.to_string(), json!({}));
    }
    let mut settings = json!({
        "Ports": ports,
        "Networks": networks,
        "SandboxKey": if record.networks.is_empty() { String::new() } else { connect::netns_path(&roots.run_root, &record.id).display().to_string() },
    });
    for (key, value) in first.as_object().into_iter().flatten() {
        settings[key] = value.clone();
    }
    (json!(record.network_mode), json!(port_bindings), settings)
}

/// A network as Docker's `network inspect` and `GET /networks/{id}` show it, with the
/// running containers of `records` that are on it.
pub fn network(network: &Network, records: &[Record]) -> Value {
    let mut members = serde_json::Map::new();
    for record in records.iter().filter(|r| r.is_running()) {
        for endpoint in record.networks.iter().filter(|e| e.network == network.name) {
            members.insert(
                record.id.clone(),
                json!({
                    "Name": record.name,
                    "MacAddress": connect::mac_of(endpoint),
                    "IPv4Address": endpoint.ip.map(|ip| format!("{ip}/{}", network.subnet.prefix())).unwrap_or_default(),
                    "IPv6Address": "",
                }),
            );
        }
    }
    json!({
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Config": [{ "Subnet": network.subnet.to_string(), "Gateway": network.gateway.to_string() }] },
        "Internal": false,
        "Containers": members,
        "Options": { "com.docker.network.bridge.name": network.bridge },
    })
}
