//! `berth events --filter`: Docker's event filters. Values of one key match when any does
//! (`label` values must all match); different keys must all match.

use super::Event;
use std::collections::BTreeMap;

/// The keys `--filter` takes.
const KEYS: [&str; 8] = [
    "container",
    "event",
    "image",
    "label",
    "network",
    "scope",
    "type",
    "volume",
];

/// A `--filter` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Not `key=value`.
    #[error("bad format of filter (expected name=value): {0}")]
    Format(String),
    /// A key berth does not filter on.
    #[error("invalid filter '{0}'")]
    Key(String),
}

/// The filters of one `berth events`, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    values: BTreeMap<String, Vec<String>>,
}

impl EventFilter {
    /// The filters `key=value` of the command line.
    pub fn parse(filters: &[String]) -> Result<EventFilter, FilterError> {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for filter in filters {
            let (key, value) = filter
                .split_once('=')
                .ok_or_else(|| FilterError::Format(filter.clone()))?;
            if !KEYS.contains(&key) {
                return Err(FilterError::Key(key.to_owned()));
            }
            values
                .entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
        Ok(EventFilter { values })
    }

    /// Whether `event` passes every filter.
    pub fn matches(&self, event: &Event) -> bool {
        let attribute = |name: &str| event.actor.attributes.get(name).map_or("", String::as_str);
        let by_name =
            |key: &str| self.fuzzy(key, &event.actor.id) || self.fuzzy(key, attribute("name"));
        // `event=health_status` matches `health_status: healthy`.
        let action = self.any("event", |v| {
            v == event.action
                || event
                    .action
                    .strip_prefix(v)
                    .is_some_and(|rest| rest.starts_with(':'))
        });
        let image_name = match event.kind.as_str() {
            "image" => attribute("name"),
            _ => attribute("image"),
        };
        let image = self.any("image", |v| {
            [event.actor.id.as_str(), image_name]
                .iter()
                .any(|name| *name == v || strip_tag(name) == v)
        });
        action
            && self.any("type", |v| v == event.kind)
            && self.any("scope", |v| v == event.scope)
            && by_name("container")
            && by_name("network")
            && by_name("volume")
            && image
            && self.labels(&event.actor.attributes)
    }

    /// No values for `key`, or one for which `test` holds.
    fn any(&self, key: &str, test: impl Fn(&str) -> bool) -> bool {
        self.values
            .get(key)
            .is_none_or(|values| values.iter().any(|v| test(v)))
    }

    /// Docker's fuzzy match: no values for `key`, or one that `source` starts with.
    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.any(key, |v| !source.is_empty() && source.starts_with(v))
    }

    /// Every `label=KEY` or `label=KEY=VALUE` among the attributes.
    fn labels(&self, attributes: &BTreeMap<String, String>) -> bool {
        self.values.get("label").is_none_or(|labels| {
            labels.iter().all(|label| match label.split_once('=') {
                Some((key, value)) => attributes.get(key).is_some_and(|v| v == value),
                None => attributes.contains_key(label),
            })
        })
    }
}

/// An image reference without its tag (`busybox:1` -> `busybox`; a registry's port stays).
fn strip_tag(name: &str) -> &str {
    match name.rfind(':') {
        Some(colon) if !name[colon..].contains('/') => &name[..colon],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn filter(filters: &[&str]) -> EventFilter {
        EventFilter::parse(&filters.iter().map(|f| f.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn filters_match_as_dockers_do() {
        let start = Event::new(
            Kind::Container,
            "start",
            "abcdef",
            &[
                ("image", "127.0.0.1:5000/busybox:1"),
                ("name", "web"),
                ("tier", "front"),
            ],
        );
        let health = Event::new(Kind::Container, "health_status: healthy", "abcdef", &[]);
        let network = Event::new(Kind::Network, "create", "0123", &[("name", "net")]);
        assert!(filter(&[]).matches(&start));
        assert!(filter(&["type=container"]).matches(&start));
        assert!(!filter(&["type=container"]).matches(&network));
        assert!(filter(&["type=image", "type=network"]).matches(&network));
        assert!(filter(&["event=start"]).matches(&start));
        assert!(!filter(&["event=star"]).matches(&start));
        assert!(filter(&["event=health_status"]).matches(&health));
        assert!(filter(&["container=abc"]).matches(&start));
        assert!(filter(&["container=web"]).matches(&start));
        assert!(!filter(&["container=web"]).matches(&network));
        assert!(filter(&["network=net"]).matches(&network));
        assert!(filter(&["image=127.0.0.1:5000/busybox"]).matches(&start));
        assert!(filter(&["image=127.0.0.1:5000/busybox:1"]).matches(&start));
        assert!(!filter(&["image=busybox"]).matches(&start));
        assert!(filter(&["label=tier", "label=tier=front"]).matches(&start));
        assert!(!filter(&["label=tier=back"]).matches(&start));
        assert!(!filter(&["label=tier", "label=other"]).matches(&start));
        assert_eq!(
            EventFilter::parse(&["nope".into()]),
            Err(FilterError::Format("nope".into()))
        );
        assert_eq!(
            EventFilter::parse(&["colour=red".into()]),
            Err(FilterError::Key("colour".into()))
        );
    }
}
