//! `ps --filter` and the Engine API's container `filters`: Docker's keys and values checked,
//! and the records they keep. Shared by the CLI and the API service.

use crate::containers::Containers;
use crate::inspect::state;
use crate::networks::Networks;
use crate::paths::Roots;
use crate::record::Record;
use berth_image::store::Store;
use std::collections::BTreeMap;

/// Filters that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A key or value Docker refuses, in Docker's words.
    #[error("{0}")]
    Invalid(String),
    /// `before=` or `since=` names no container.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// The image store could not be read (for `ancestor=`).
    #[error("read the image store: {0}")]
    Store(String),
}

/// Whether `labels` pass a `label=KEY` or `label=KEY=VALUE` filter.
pub fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((key, value)) => labels.get(key).is_some_and(|v| v == value),
        None => labels.contains_key(filter),
    }
}

/// The container's health, as `--filter health=` reads it: `none` without a check.
fn health(containers: &Containers, record: &Record) -> &'static str {
    crate::health::status(containers, record).map_or("none", crate::health::HealthStatus::as_str)
}

/// The networks a container is on, by name (`host` or `none` for those modes).
pub fn network_names(record: &Record) -> Vec<String> {
    if record.networks.is_empty() {
        return vec![record.network_mode.to_string()];
    }
    let mut names: Vec<String> = record.networks.iter().map(|e| e.network.clone()).collect();
    names.sort();
    names
}

/// `ps --filter`: values of one key are alternatives, keys all apply.
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Reads `KEY=VALUE` filters, refusing keys and values Docker refuses.
    pub fn parse(filters: &[String]) -> Result<Filters, FilterError> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for filter in filters {
            let (key, value) = filter.split_once('=').ok_or_else(|| {
                FilterError::Invalid(format!(
                    "bad format of filter (expected name=value): {filter}"
                ))
            })?;
            let valid = [
                "status", "name", "id", "label", "ancestor", "exited", "network", "volume",
                "before", "since", "health",
            ];
            if !valid.contains(&key) {
                return Err(FilterError::Invalid(format!("invalid filter '{key}'")));
            }
            if key == "health" && !["starting", "healthy", "unhealthy", "none"].contains(&value) {
                return Err(FilterError::Invalid(format!(
                    "Unrecognised filter value for health: {value}"
                )));
            }
            if key == "exited" && value.parse::<i32>().is_err() {
                return Err(FilterError::Invalid(format!(
                    "strconv.Atoi: parsing \"{value}\": invalid syntax"
                )));
            }
            map.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
        Ok(Filters(map))
    }

    /// Whether `key` is filtered on.
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether any value of `key` passes `test` (true when the key is not filtered on).
    fn any(&self, key: &str, test: impl Fn(&str) -> bool) -> bool {
        self.0
            .get(key)
            .is_none_or(|values| values.iter().any(|v| test(v)))
    }
}

/// Keeps the records `filters` pass; `records` is every container, newest first.
pub fn keep(
    roots: &Roots,
    records: Vec<Record>,
    filters: &Filters,
) -> Result<Vec<Record>, FilterError> {
    let all = Containers::new(&roots.root);
    // before= and since= name containers: their place in the list, newest first.
    let place = |name: &str| -> Result<usize, FilterError> {
        let id = all
            .find(name)
            .map_err(|_| FilterError::NoSuchContainer(name.to_owned()))?
            .id;
        Ok(records.iter().position(|r| r.id == id).unwrap_or(0))
    };
    let before: Vec<usize> = filters
        .0
        .get("before")
        .into_iter()
        .flatten()
        .map(|n| place(n))
        .collect::<Result<_, _>>()?;
    let since: Vec<usize> = filters
        .0
        .get("since")
        .into_iter()
        .flatten()
        .map(|n| place(n))
        .collect::<Result<_, _>>()?;
    let images = if filters.has("ancestor") {
        Some(
            Store::open(&roots.root)
                .and_then(|store| store.images())
                .map_err(|e| FilterError::Store(e.to_string()))?,
        )
    } else {
        None
    };
    let networks = Networks::new(&roots.root, &roots.run_root);
    let containers = Containers::new(&roots.root);
    let mut kept = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let pass = filters.any("status", |v| state(r) == v)
            && filters.any("name", |v| r.name.contains(v.trim_start_matches('/')))
            && filters.any("id", |v| r.id.starts_with(v))
            && filters.any("label", |v| label_matches(&r.labels, v))
            && filters.any("exited", |v| {
                state(r) == "exited" && v.parse() == Ok(r.exit_code.unwrap_or(0))
            })
            && filters.any("ancestor", |v| {
                r.image == v
                    || images.as_ref().is_some_and(|images| {
                        berth_image::local::resolve(images, v)
                            .is_ok_and(|id| id.to_string() == r.image_id)
                    })
            })
            && filters.any("network", |v| {
                let by_id = networks.find(v).map(|n| n.name).unwrap_or_default();
                network_names(r).iter().any(|n| n == v || *n == by_id)
            })
            && filters.any("volume", |v| {
                r.mounts
                    .iter()
                    .any(|m| m.name == v || m.source == v || m.destination == v)
            })
            && filters.any("health", |v| health(&containers, r) == v)
            && before.iter().all(|&b| i > b)
            && since.iter().all(|&s| i < s);
        if pass {
            kept.push(r.clone());
        }
    }
    Ok(kept)
}
