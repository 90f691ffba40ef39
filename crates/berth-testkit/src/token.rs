//! A bearer-token endpoint that works like Docker Hub's `auth.docker.io/token`.
//!
//! `GET /token?service=S&scope=repository:NAME:pull,push` with optional basic credentials answers
//! `{"token": JWT, "access_token": JWT, "expires_in": N}`. Users with the right password get the
//! actions they ask for; anonymous callers get `pull` on the public repositories and nothing
//! else; a wrong password gets a 401. The JWT is ES256-signed with a key whose certificate the
//! registry trusts, and carries that certificate in its `x5c` header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `service` and `iss` values the registry is configured with.
pub(crate) const SERVICE: &str = "berth-test-registry";
pub(crate) const ISSUER: &str = "berth-test-issuer";

/// Who may do what: users with passwords, and repositories anyone may pull.
#[derive(Clone)]
pub(crate) struct Policy {
    pub users: BTreeMap<String, String>,
    pub public_repos: Vec<String>,
    pub lifetime_secs: u64,
}

/// The running token endpoint; stopped when dropped.
pub(crate) struct TokenServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
    pub issued: Arc<AtomicUsize>,
}

#[derive(Serialize)]
struct Access {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize)]
struct Claims {
    iss: &'static str,
    sub: String,
    aud: &'static str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

impl TokenServer {
    /// Starts the endpoint on a free loopback port, signing with `key_pem` (PKCS#8) whose
    /// certificate is `cert_der`.
    pub fn start(policy: Policy, key_pem: &str, cert_der: &[u8]) -> crate::Result<TokenServer> {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string() as String)?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or("token server has no IP address")?;
        let key = EncodingKey::from_ec_pem(key_pem.as_bytes())?;
        let mut header = Header::new(Algorithm::ES256);
        header.x5c = Some(vec![B64.encode(cert_der)]);
        let issued = Arc::new(AtomicUsize::new(0));
        let (srv, count) = (Arc::clone(&server), Arc::clone(&issued));
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let (status, body) = answer(&request, &policy, &key, &header, &count);
                let response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(
                        "Content-Type: application/json"
                            .parse::<tiny_http::Header>()
                            .expect("static header"),
                    );
                let _ = request.respond(response);
            }
        });
        Ok(TokenServer {
            server,
            thread: Some(thread),
            addr,
            issued,
        })
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(
    request: &tiny_http::Request,
    policy: &Policy,
    key: &EncodingKey,
    header: &Header,
    issued: &AtomicUsize,
) -> (u16, String) {
    let subject = match credentials(request) {
        None => String::new(),
        Some((user, password)) if policy.users.get(&user) == Some(&password) => user,
        Some(_) => {
            return (
                401,
                r#"{"details":"incorrect username or password"}"#.into(),
            );
        }
    };
    let query = request.url().split_once('?').map_or("", |(_, q)| q);
    let mut access = Vec::new();
    for (name, value) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        if name != "scope" {
            continue;
        }
        let scope = percent_decode(value);
        // A scope is `repository:NAME:ACTIONS`; NAME may contain ':' only before a port, which
        // repository names never have, so the last ':' splits the actions off.
        let Some((kind_and_name, actions)) = scope.rsplit_once(':') else {
            continue;
        };
        let Some((kind, repo)) = kind_and_name.split_once(':') else {
            continue;
        };
        let granted: Vec<String> = actions
            .split(',')
            .filter(|action| {
                !subject.is_empty()
                    || (*action == "pull" && policy.public_repos.iter().any(|r| r == repo))
            })
            .map(str::to_owned)
            .collect();
        access.push(Access {
            kind: kind.to_owned(),
            name: repo.to_owned(),
            actions: granted,
        });
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let n = issued.fetch_add(1, Ordering::SeqCst);
    let claims = Claims {
        iss: ISSUER,
        sub: subject,
        aud: SERVICE,
        exp: now + policy.lifetime_secs,
        nbf: now.saturating_sub(10),
        iat: now,
        jti: format!("berth-test-{now}-{n}"),
        access,
    };
    match jsonwebtoken::encode(header, &claims, key) {
        Ok(token) => (
            200,
            serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": policy.lifetime_secs,
            })
            .to_string(),
        ),
        Err(e) => (
            500,
            serde_json::json!({ "error": e.to_string() }).to_string(),
        ),
    }
}

fn credentials(request: &tiny_http::Request) -> Option<(String, String)> {
    let header = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))?;
    let encoded = header.value.as_str().strip_prefix("Basic ")?;
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
