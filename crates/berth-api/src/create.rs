//! `POST /containers/create?name=`: Docker's `ContainerConfig` with its `HostConfig` and
//! `NetworkingConfig`, put in the engine's `RunOptions` (the terms `berth create` fills in
//! from its flags), then `run::create`.

use crate::containers::Logged;
use crate::reply::{ApiError, Reply, json};
use crate::request::Request;
use crate::service::State;
use berth_engine::options::RunOptions;
use berth_engine::run::{self, RunError};
use hyper::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A list that Docker also takes as one string (`Cmd`, `Entrypoint`).
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Strings {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Strings {
    fn into_vec(self) -> Vec<String> {
        match self {
            Strings::None => Vec::new(),
            Strings::One(s) => vec![s],
            Strings::Many(v) => v,
        }
    }
}

/// The fields of Docker's create body that berth uses; the others are ignored, as an older
/// engine ignores fields of a newer API.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    image: String,
    cmd: Option<Strings>,
    entrypoint: Option<Strings>,
    env: Option<Vec<String>>,
    working_dir: String,
    user: String,
    hostname: String,
    labels: Option<BTreeMap<String, String>>,
    tty: bool,
    open_stdin: bool,
    stop_signal: Option<String>,
    host_config: Option<HostConfig>,
    networking_config: Option<NetworkingConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    binds: Option<Vec<String>>,
    port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    publish_all_ports: bool,
    restart_policy: Option<RestartPolicy>,
    auto_remove: bool,
    network_mode: String,
    memory: i64,
    memory_swap: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    cpuset_cpus: String,
    pids_limit: Option<i64>,
    privileged: bool,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    dns: Option<Vec<String>>,
    dns_search: Option<Vec<String>>,
    dns_options: Option<Vec<String>>,
    extra_hosts: Option<Vec<String>>,
    readonly_rootfs: bool,
    init: Option<bool>,
    security_opt: Option<Vec<String>>,
    tmpfs: Option<BTreeMap<String, String>>,
    volumes_from: Option<Vec<String>>,
    log_config: Option<LogConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PortBinding {
    host_ip: String,
    host_port: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RestartPolicy {
    name: String,
    maximum_retry_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct LogConfig {
    #[serde(rename = "Type")]
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkingConfig {
    endpoints_config: Option<BTreeMap<String, Option<EndpointConfig>>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointConfig {
    aliases: Option<Vec<String>>,
}

/// A `-p` argument for each of Docker's `PortBindings` entries.
fn publish(bindings: BTreeMap<String, Option<Vec<PortBinding>>>) -> Vec<String> {
    let mut out = Vec::new();
    for (port, hosts) in bindings {
        for host in hosts.unwrap_or_default() {
            out.push(match (host.host_ip.as_str(), host.host_port.as_str()) {
                ("", "") => port.clone(),
                ("", host_port) => format!("{host_port}:{port}"),
                (ip, host_port) => format!("{ip}:{host_port}:{port}"),
            });
        }
    }
    out
}

/// The `--restart` value of a `RestartPolicy`.
fn restart(policy: RestartPolicy) -> Option<String> {
    match policy.name.as_str() {
        "" | "no" => None,
        "on-failure" if policy.maximum_retry_count > 0 => {
            Some(format!("on-failure:{}", policy.maximum_retry_count))
        }
        name => Some(name.to_owned()),
    }
}

/// The engine's options for a create body and its `name`.
fn options(body: CreateBody, name: Option<&str>) -> Result<RunOptions, ApiError> {
    if body.image.is_empty() {
        return Err(ApiError::bad(
            "config cannot be empty in order to create a container",
        ));
    }
    let host = body.host_config.unwrap_or_default();
    // Docker's `Entrypoint` is a list: its first word is the program, the rest go before `Cmd`.
    let entrypoint = body.entrypoint.map(Strings::into_vec);
    let mut command = Vec::new();
    let entrypoint = match entrypoint {
        Some(words) if words.is_empty() => Some(String::new()),
        Some(mut words) => {
            let first = words.remove(0);
            command.extend(words);
            Some(first)
        }
        None => None,
    };
    command.extend(body.cmd.map(Strings::into_vec).unwrap_or_default());
    let network = match host.network_mode.as_str() {
        "" | "default" => "bridge".to_owned(),
        mode => mode.to_owned(),
    };
    let aliases = body
        .networking_config
        .and_then(|n| n.endpoints_config)
        .and_then(|endpoints| endpoints.into_values().flatten().next())
        .and_then(|e| e.aliases)
        .unwrap_or_default();
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Ok(RunOptions {
        image: body.image,
        command,
        entrypoint,
        name: name.map(|n| n.strip_prefix('/').unwrap_or(n).to_owned()),
        hostname: non_empty(body.hostname),
        env: body.env.unwrap_or_default(),
        workdir: non_empty(body.working_dir),
        user: non_empty(body.user),
        volumes: host.binds.unwrap_or_default(),
        tmpfs: host
            .tmpfs
            .unwrap_or_default()
            .into_iter()
            .map(|(path, opts)| {
                if opts.is_empty() {
                    path
                } else {
                    format!("{path}:{opts}")
                }
            })
            .collect(),
        volumes_from: host.volumes_from.unwrap_or_default(),
        read_only: host.readonly_rootfs,
        cpus: (host.nano_cpus > 0).then(|| host.nano_cpus as f64 / 1e9),
        cpu_shares: (host.cpu_shares > 0).then_some(host.cpu_shares as u64),
        cpuset_cpus: non_empty(host.cpuset_cpus),
        memory: (host.memory > 0).then(|| host.memory.to_string()),
        memory_swap: (host.memory_swap != 0).then(|| host.memory_swap.to_string()),
        pids_limit: host.pids_limit.filter(|&n| n != 0),
        cap_add: host.cap_add.unwrap_or_default(),
        cap_drop: host.cap_drop.unwrap_or_default(),
        privileged: host.privileged,
        security_opts: host.security_opt.unwrap_or_default(),
        init: host.init.unwrap_or(false),
        stop_signal: body.stop_signal.filter(|s| !s.is_empty()),
        interactive: body.open_stdin,
        tty: body.tty,
        remove: host.auto_remove,
        network,
        publish: publish(host.port_bindings.unwrap_or_default()),
        publish_all: host.publish_all_ports,
        network_aliases: aliases,
        dns: host.dns.unwrap_or_default(),
        dns_search: host.dns_search.unwrap_or_default(),
        dns_options: host.dns_options.unwrap_or_default(),
        add_hosts: host.extra_hosts.unwrap_or_default(),
        restart: host.restart_policy.and_then(restart),
        log_driver: host.log_config.map(|l| l.kind).filter(|k| !k.is_empty()),
        // Nothing attaches through the API yet: every container runs with its output logged.
        detach: true,
        labels: body.labels.unwrap_or_default(),
        ..RunOptions::default()
    })
}

/// A create error as Docker's status: 404 for a missing image, 409 for a name in use, 400
/// for options the engine refuses, 500 otherwise.
pub fn run_error(e: RunError) -> ApiError {
    let message = e.to_string();
    match e {
        RunError::Options(_) if message.starts_with("Conflict.") => ApiError::conflict(message),
        RunError::Options(_) | RunError::User(_) => ApiError::bad(message),
        RunError::Image(berth_image::local::LocalError::NoSuchImage(_)) => {
            ApiError::not_found(message)
        }
        RunError::Pull(_) => ApiError::not_found(format!("No such image: {message}")),
        _ => ApiError::internal(message),
    }
}

/// `POST /containers/create`: 201 with `{"Id": ..., "Warnings": []}`. A missing image is
/// 404, as Docker's (its CLI then pulls and creates again), not pulled here.
pub fn create(state: &State, request: &Request) -> Reply {
    let body: Option<CreateBody> = request.json()?;
    let options = options(body.unwrap_or_default(), request.param("name"))?;
    if !crate::images::exists(state, &options.image)? {
        return Err(ApiError::not_found(format!(
            "No such image: {}",
            options.image
        )));
    }
    let (record, _) =
        run::create(&state.roots, &state.config, &options, &Logged).map_err(run_error)?;
    json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": record.id, "Warnings": [] }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> RunOptions {
        options(serde_json::from_str(body).unwrap(), Some("/web")).unwrap()
    }

    #[test]
    fn docker_create_bodies_become_run_options() {
        let o = parse(
            r#"{"Image":"busybox","Cmd":["sleep","30"],"Entrypoint":["/bin/sh","-c"],
            "Env":["A=1"],"WorkingDir":"/tmp","User":"1000","Labels":{"k":"v"},
            "Tty":false,"OpenStdin":false,"ExposedPorts":{"80/tcp":{}},
            "HostConfig":{"Binds":["/src:/dst:ro"],
              "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}],"81/tcp":[{"HostIp":"","HostPort":""}]},
              "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},
              "AutoRemove":true,"NetworkMode":"default","Memory":67108864,
              "NanoCpus":1500000000,"PidsLimit":64}}"#,
        );
        assert_eq!(o.name.as_deref(), Some("web"));
        assert_eq!(o.entrypoint.as_deref(), Some("/bin/sh"));
        assert_eq!(o.command, ["-c", "sleep", "30"]);
        assert_eq!(o.env, ["A=1"]);
        assert_eq!(o.workdir.as_deref(), Some("/tmp"));
        assert_eq!(o.user.as_deref(), Some("1000"));
        assert_eq!(o.labels["k"], "v");
        assert_eq!(o.volumes, ["/src:/dst:ro"]);
        assert_eq!(o.publish, ["127.0.0.1:8080:80/tcp", "81/tcp"]);
        assert_eq!(o.restart.as_deref(), Some("on-failure:3"));
        assert!(o.remove);
        assert_eq!(o.network, "bridge");
        assert_eq!(o.memory.as_deref(), Some("67108864"));
        assert_eq!(o.cpus, Some(1.5));
        assert_eq!(o.pids_limit, Some(64));
    }

    #[test]
    fn strings_and_empty_entrypoints_read_as_docker_means_them() {
        let o = parse(r#"{"Image":"busybox","Cmd":"true","Entrypoint":[]}"#);
        assert_eq!(o.command, ["true"]);
        assert_eq!(o.entrypoint.as_deref(), Some(""));
        let none = options(CreateBody::default(), None).unwrap_err();
        assert_eq!(none.status, 400);
    }
}
