//! A request as the handlers see it: the API version taken off the path, the path's segments
//! and the query decoded, the body read whole (up to a limit).

use crate::reply::ApiError;
use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::de::DeserializeOwned;

/// The newest API version the service speaks.
pub const API_VERSION: &str = "1.43";
/// The oldest API version a client may ask for.
pub const MIN_API_VERSION: &str = "1.24";

/// A request, parsed.
pub struct Request {
    /// GET, POST, ...
    pub method: Method,
    /// The path's segments after the version, decoded (`/v1.41/containers/x/json` ->
    /// `["containers", "x", "json"]`).
    pub segments: Vec<String>,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// `major.minor` as a pair that compares as versions do.
fn version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The path without its `/vX.Y` prefix, refusing versions the service does not speak (with
/// Docker's words).
pub fn strip_version(path: &str) -> Result<&str, ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (asked, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(asked_pair) = version(asked) else {
        return Ok(path);
    };
    let min = version(MIN_API_VERSION).unwrap_or_default();
    let max = version(API_VERSION).unwrap_or_default();
    if asked_pair < min {
        return Err(ApiError::bad(format!(
            "client version {asked} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if asked_pair > max {
        return Err(ApiError::bad(format!(
            "client version {asked} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(if tail.is_empty() { "/" } else { tail })
}

/// The value of a hex digit.
fn hex(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|d| d as u8)
}

/// `%XX` and `+` decoded; invalid escapes kept as they are.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of a query string.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

impl Request {
    /// The first value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter as Docker reads one: absent, empty, `0`, `false` or `no` is false.
    pub fn flag(&self, key: &str) -> bool {
        self.param(key)
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"))
    }

    /// An integer parameter; a malformed one is a 400.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.param(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad(format!("invalid value for {key}: {v:?}")))
            })
            .transpose()
    }

    /// The body as JSON of type `T` (an empty body as `null`); malformed JSON is a 400.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body: &[u8] = if self.body.is_empty() {
            b"null"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `filters` parameter as `KEY=VALUE` strings: Docker's JSON `{"key": ["v", ...]}` or
    /// the older `{"key": {"v": true}}`.
    pub fn filters(&self) -> Result<Vec<String>, ApiError> {
        let Some(text) = self.param("filters").filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ApiError::bad(format!("invalid filter: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::bad("invalid filter: not a JSON object"))?;
        let mut out = Vec::new();
        for (key, values) in object {
            let list: Vec<String> = match values {
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                serde_json::Value::Object(map) => map
                    .iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect(),
                _ => return Err(ApiError::bad(format!("invalid filter '{key}'"))),
            };
            out.extend(list.into_iter().map(|v| format!("{key}={v}")));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_off_the_path_and_old_ones_are_refused() {
        assert_eq!(
            strip_version("/v1.41/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(
            strip_version("/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.43/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
        let old = strip_version("/v1.12/info").unwrap_err();
        assert_eq!(old.status, 400);
        assert!(old.message.contains("too old"), "{}", old.message);
        assert!(
            strip_version("/v1.99/info")
                .unwrap_err()
                .message
                .contains("too new")
        );
    }

    #[test]
    fn queries_decode_and_filters_read_both_shapes() {
        let query = parse_query("fromImage=127.0.0.1%3A5000%2Fbusybox&tag=latest&x");
        assert_eq!(query[0].1, "127.0.0.1:5000/busybox");
        assert_eq!(query[2], ("x".into(), "".into()));
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        let request = |filters: &str| Request {
            method: Method::GET,
            segments: Vec::new(),
            query: vec![("filters".into(), filters.into())],
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        let new = request(r#"{"name":["web"],"status":["running","exited"]}"#);
        assert_eq!(
            new.filters().unwrap(),
            ["name=web", "status=running", "status=exited"]
        );
        let old = request(r#"{"label":{"a=b":true,"c":false}}"#);
        assert_eq!(old.filters().unwrap(), ["label=a=b"]);
        assert_eq!(request("[1]").filters().unwrap_err().status, 400);
    }
}
