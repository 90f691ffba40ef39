//! `container prune` and `network prune` (also the first steps of `system prune`): stopped
//! containers removed as `rm` removes them, and user networks no running container is on, as
//! Docker's prunes do (a stopped container holds no endpoint, so it keeps no network).

use crate::connect;
use crate::containers::Containers;
use crate::disk_usage::container_size;
use crate::lifecycle;
use crate::networks::{DEFAULT, Networks};
use crate::paths::Roots;
use crate::record::Record;

/// Which stopped containers a prune takes (`--filter`), as Docker's prune filters select.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilter {
    /// `until=`: only those created before this time (seconds since the epoch).
    pub until: Option<i64>,
    /// `label=KEY[=VALUE]` (true) and `label!=KEY[=VALUE]` (false): each must hold.
    pub labels: Vec<(bool, String, Option<String>)>,
}

impl PruneFilter {
    /// Whether `record` is selected.
    pub fn selects(&self, record: &Record) -> bool {
        let created = crate::time::parse(&record.created).unwrap_or(0);
        if self.until.is_some_and(|until| created >= until) {
            return false;
        }
        self.labels.iter().all(|(wanted, key, value)| {
            let has = record
                .labels
                .get(key)
                .is_some_and(|v| value.as_deref().is_none_or(|want| v == want));
            has == *wanted
        })
    }
}

/// Removes every stopped container `filter` selects; returns the ids removed with the size of
/// each one's writable layer. One that cannot be removed (started meanwhile) is skipped.
pub fn prune_containers(roots: &Roots, filter: &PruneFilter) -> Vec<(String, u64)> {
    let containers = Containers::new(&roots.root);
    let mut removed = Vec::new();
    for record in containers.list() {
        if record.is_running() || !filter.selects(&record) {
            continue;
        }
        let size = container_size(&containers, &record.id);
        match lifecycle::remove(&containers, &roots.run_root, &record.id, false) {
            Ok(_) => removed.push((record.id, size)),
            Err(e) => tracing::warn!(id = record.id, %e, "cannot prune the container"),
        }
    }
    removed.sort();
    removed
}

/// Removes every user network that no running container is on (the default one stays);
/// returns their names.
pub fn prune_networks(roots: &Roots) -> Vec<String> {
    let networks = Networks::new(&roots.root, &roots.run_root);
    let records = Containers::new(&roots.root).list();
    let mut removed = Vec::new();
    for network in networks.list() {
        if network.name == DEFAULT || !connect::users_of(&records, &network).is_empty() {
            continue;
        }
        match networks.remove(&network, &[]) {
            Ok(()) => removed.push(network.name),
            Err(e) => tracing::warn!(network = network.name, %e, "cannot prune the network"),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_select_by_creation_time_and_labels() {
        let record = Record {
            created: "2026-01-01T00:00:00Z".into(),
            ..Record::default()
        };
        let at = crate::time::parse(&record.created).unwrap();
        assert!(PruneFilter::default().selects(&record));
        let until = |until| PruneFilter {
            until: Some(until),
            ..PruneFilter::default()
        };
        assert!(until(at + 1).selects(&record));
        assert!(!until(at).selects(&record));
        // A record without labels has none.
        let label = |wanted, key: &str| PruneFilter {
            labels: vec![(wanted, key.to_owned(), None)],
            ..PruneFilter::default()
        };
        assert!(!label(true, "a").selects(&record));
        assert!(label(false, "a").selects(&record));
    }
}
