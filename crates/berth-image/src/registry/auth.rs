//! Authentication with a registry: its challenge (none, basic or bearer), and bearer tokens
//! fetched per repository scope, cached until they expire.

use super::credentials::Credentials;
use super::error::{RegistryError, error_message};
use super::transport::Transport;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ureq::http::Method;

/// A bearer token and when it stops being used.
pub(super) struct Token {
    value: String,
    expires: Instant,
}

/// What the registry's `/v2/` asked for.
#[derive(Clone, Debug)]
pub(super) enum Challenge {
    None,
    Basic,
    Bearer { realm: String, service: String },
}

/// A client's credentials, the registry's challenge and the tokens it has handed out.
pub(super) struct Auth {
    credentials: Option<Credentials>,
    pub(super) challenge: Mutex<Challenge>,
    pub(super) tokens: Mutex<HashMap<String, Token>>,
}

impl Auth {
    /// No challenge known yet, no tokens.
    pub(super) fn new(credentials: Option<Credentials>) -> Auth {
        Auth {
            credentials,
            challenge: Mutex::new(Challenge::None),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The `Authorization` header for `scope`: a cached or new bearer token, or basic
    /// credentials, or nothing.
    pub(super) fn authorization(
        &self,
        transport: &Transport,
        host: &str,
        scope: &str,
        renew: bool,
    ) -> Result<Option<String>, RegistryError> {
        let challenge = self.challenge.lock().expect("challenge lock").clone();
        match challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(self.credentials.as_ref().map(|c| {
                format!(
                    "Basic {}",
                    B64.encode(format!("{}:{}", c.username, c.password))
                )
            })),
            Challenge::Bearer { .. } => {
                if !renew
                    && let Some(token) = self.tokens.lock().expect("token lock").get(scope)
                    && token.expires > Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", token.value)));
                }
                let token = self.fetch_token(transport, host, scope)?;
                let header = format!("Bearer {}", token.value);
                self.tokens
                    .lock()
                    .expect("token lock")
                    .insert(scope.to_owned(), token);
                Ok(Some(header))
            }
        }
    }

    /// Asks the token endpoint for a token for `scope` ("" for a login check; several scopes
    /// separated by spaces are asked for together).
    pub(super) fn fetch_token(
        &self,
        transport: &Transport,
        host: &str,
        scope: &str,
    ) -> Result<Token, RegistryError> {
        let Challenge::Bearer { realm, service } =
            self.challenge.lock().expect("challenge lock").clone()
        else {
            return Err(RegistryError::Protocol(
                "no bearer challenge to answer".into(),
            ));
        };
        let mut url = format!("{realm}?service={}", encode_query(&service));
        for scope in scope.split(' ').filter(|s| !s.is_empty()) {
            url.push_str(&format!("&scope={}", encode_query(scope)));
        }
        let basic = self.credentials.as_ref().map(|c| {
            format!(
                "Basic {}",
                B64.encode(format!("{}:{}", c.username, c.password))
            )
        });
        let mut response = transport.run_with_retries(Method::GET, &url, &[], basic.as_deref())?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::BadCredentials {
                host: host.to_owned(),
                message: format!(
                    "unauthorized: incorrect username or password ({})",
                    error_message(response)
                ),
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| RegistryError::Protocol(format!("token endpoint {realm}: {e}")))?;
        if status != 200 {
            return Err(RegistryError::Status {
                what: format!("token from {realm}"),
                status,
                message: body,
            });
        }
        let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
            RegistryError::Protocol(format!("token endpoint {realm} answered invalid JSON: {e}"))
        })?;
        let value = json["token"]
            .as_str()
            .or_else(|| json["access_token"].as_str())
            .ok_or_else(|| {
                RegistryError::Protocol(format!("token endpoint {realm} answered without a token"))
            })?;
        // The spec's default lifetime is 60 s; renew a little early.
        let lifetime = json["expires_in"].as_u64().unwrap_or(60).max(1);
        Ok(Token {
            value: value.to_owned(),
            expires: Instant::now()
                + Duration::from_secs(lifetime).saturating_sub(Duration::from_secs(5)),
        })
    }
}

/// The challenge of a `WWW-Authenticate` header.
pub(super) fn parse_challenge(value: &str) -> Challenge {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut params = HashMap::new();
    for part in split_params(rest) {
        if let Some((key, value)) = part.split_once('=') {
            params.insert(
                key.trim().to_ascii_lowercase(),
                value.trim().trim_matches('"').to_owned(),
            );
        }
    }
    Challenge::Bearer {
        realm: params.remove("realm").unwrap_or_default(),
        service: params.remove("service").unwrap_or_default(),
    }
}

/// Splits `a="x,y",b=z` at the commas outside quotes.
fn split_params(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b',')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull,push""#,
        );
        match c {
            Challenge::Bearer { realm, service } => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service, "registry.docker.io");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="x""#),
            Challenge::Basic
        ));
    }
}
