//! `/networks...`: list, inspect, create, remove, connect and disconnect, through the calls
//! of `berth network`.

use crate::containers::find;
use crate::reply::{ApiError, Reply, empty, json, no_content, ok};
use crate::request::Request;
use crate::service::State;
use berth_engine::containers::Containers;
use berth_engine::networks::{DEFAULT, Network, NetworkError, Networks};
use berth_engine::{connect, events, inspect};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

/// A network error as Docker's status.
fn network_error(e: NetworkError) -> ApiError {
    match e {
        NetworkError::NotFound(_) => ApiError::not_found(e.to_string()),
        NetworkError::Exists(_) | NetworkError::InUse(..) | NetworkError::Overlaps(..) => {
            ApiError::conflict(e.to_string())
        }
        NetworkError::Invalid(_) | NetworkError::PoolExhausted => ApiError::bad(e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

/// The networks, with the default one made when it is not yet.
fn networks(state: &State) -> Networks {
    let networks = Networks::new(&state.roots.root, &state.roots.run_root);
    let _ = networks.default_network(&state.config.network_defaults());
    networks
}

/// Docker's pseudo networks, which berth has as modes.
fn pseudo(name: &str) -> Value {
    json!({
        "Name": name, "Id": name, "Created": "0001-01-01T00:00:00Z", "Scope": "local",
        "Driver": if name == "none" { "null" } else { name }, "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Config": [] }, "Internal": false,
        "Containers": {}, "Options": {},
    })
}

/// `GET /networks?filters=`: every network (`name=` and `id=` filters honoured).
pub fn list(state: &State, request: &Request) -> Reply {
    let records = Containers::new(&state.roots.root).list();
    let filters = request.filters()?;
    let wanted = |key: &str, value: &str| {
        let values: Vec<&str> = filters
            .iter()
            .filter_map(|f| f.strip_prefix(key)?.strip_prefix('='))
            .collect();
        values.is_empty() || values.iter().any(|v| value.contains(v))
    };
    let mut rows: Vec<Value> = networks(state)
        .list()
        .iter()
        .filter(|n| wanted("name", &n.name) && wanted("id", &n.id))
        .map(|n| inspect::network(n, &records))
        .collect();
    rows.extend(
        ["host", "none"]
            .into_iter()
            .filter(|n| wanted("name", n) && wanted("id", n))
            .map(pseudo),
    );
    ok(&rows)
}

/// The network `name` names, or 404.
fn find_network(state: &State, name: &str) -> Result<Network, ApiError> {
    networks(state).find(name).map_err(network_error)
}

/// `GET /networks/{id}`
pub fn get(state: &State, name: &str) -> Reply {
    if matches!(name, "host" | "none") {
        return ok(&pseudo(name));
    }
    let records = Containers::new(&state.roots.root).list();
    ok(&inspect::network(&find_network(state, name)?, &records))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    config: Option<Vec<IpamConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: String,
    gateway: String,
}

/// `POST /networks/create`: 201 `{"Id": ..., "Warning": ""}`.
pub fn create(state: &State, request: &Request) -> Reply {
    let body: CreateBody = request.json::<Option<CreateBody>>()?.unwrap_or_default();
    if body.name.is_empty() {
        return Err(ApiError::bad("network name is required"));
    }
    let config = body
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().next())
        .unwrap_or_default();
    let non_empty = |s: &str| (!s.is_empty()).then_some(s.to_owned());
    let (subnet, gateway) = (non_empty(&config.subnet), non_empty(&config.gateway));
    let driver = if body.driver.is_empty() {
        "bridge"
    } else {
        &body.driver
    };
    let network = Networks::new(&state.roots.root, &state.roots.run_root)
        .create_from_text(
            &body.name,
            driver,
            subnet.as_deref(),
            gateway.as_deref(),
            &state.config.network_defaults(),
        )
        .map_err(network_error)?;
    events::network(
        &state.roots.root,
        "create",
        &network.id,
        &network.name,
        None,
    );
    json(
        StatusCode::CREATED,
        &json!({ "Id": network.id, "Warning": "" }),
    )
}

/// `DELETE /networks/{id}`: 204; 409 while running containers are on it.
pub fn remove(state: &State, name: &str) -> Reply {
    if matches!(name, DEFAULT | "host" | "none") {
        return Err(ApiError::with(
            StatusCode::FORBIDDEN,
            format!("{name} is a pre-defined network and cannot be removed"),
        ));
    }
    let networks = networks(state);
    let network = networks.find(name).map_err(network_error)?;
    let records = berth_engine::reclaim::reclaimed(&state.roots).1;
    networks
        .remove(&network, &connect::users_of(&records, &network))
        .map_err(network_error)?;
    events::network(
        &state.roots.root,
        "destroy",
        &network.id,
        &network.name,
        None,
    );
    no_content()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<EndpointConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointConfig {
    aliases: Option<Vec<String>>,
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: String,
}

/// `POST /networks/{id}/connect` and `disconnect`: 200.
pub fn connect(state: &State, name: &str, request: &Request, connecting: bool) -> Reply {
    let body: ConnectBody = request.json::<Option<ConnectBody>>()?.unwrap_or_default();
    let all = Containers::new(&state.roots.root);
    let record = find(&all, &body.container)?;
    let network = find_network(state, name)?;
    if connecting {
        let endpoint = body.endpoint_config.unwrap_or_default();
        let aliases = endpoint.aliases.unwrap_or_default();
        for alias in &aliases {
            berth_engine::options::check_alias(alias).map_err(ApiError::bad)?;
        }
        let ip = endpoint
            .ipam_config
            .map(|i| i.ipv4_address)
            .filter(|ip| !ip.is_empty())
            .map(|ip| {
                ip.parse()
                    .map_err(|_| ApiError::bad(format!("invalid IPv4 address: {ip}")))
            })
            .transpose()?;
        connect::connect_network(&state.roots, &record, &network, &aliases, ip)
            .map_err(network_error)?;
    } else {
        connect::disconnect_network(&state.roots, &record, &network).map_err(network_error)?;
    }
    empty(StatusCode::OK)
}
