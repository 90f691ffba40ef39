//! Registry credentials in Docker's own `~/.docker/config.json`, so `docker login` carries over:
//! `auths` entries (base64 `user:password`), and `credHelpers` / `credsStore` helpers
//! (`docker-credential-NAME get`) when the file names them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use berth_error::{Context, IoContext};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key Docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or token) for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or personal access token.
    pub password: String,
}

/// Reading or writing the credentials file failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file cannot be read or written: what is the file's path.
    #[error(transparent)]
    Io(#[from] IoContext),
    /// The file is not JSON as Docker writes it.
    #[error("{path}: not a valid Docker config file: {why}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{helper}: {why}")]
    Helper {
        /// The helper's name.
        helper: String,
        /// Why.
        why: String,
    },
}

/// Docker's config file, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
}

impl DockerConfig {
    /// The file Docker itself would use.
    pub fn default_location() -> DockerConfig {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from("/root/.docker"));
        DockerConfig {
            path: dir.join("config.json"),
        }
    }

    /// The config file at `path`.
    pub fn at(path: PathBuf) -> DockerConfig {
        DockerConfig { path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Map<String, Value>, CredentialsError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(self.malformed("the top level is not an object")),
                Err(e) => Err(self.malformed(&e.to_string())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
            Err(e) => Err(IoContext::new(self.path.display(), e).into()),
        }
    }

    fn malformed(&self, why: &str) -> CredentialsError {
        CredentialsError::Malformed {
            path: self.path.clone(),
            why: why.to_owned(),
        }
    }

    /// The credentials stored for `registry` (`docker.io` or `host:port`), if any.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
        let config = self.read()?;
        if let Some(helper) = helper_for(&config, registry) {
            return helper_get(&helper, &server_key(registry));
        }
        let Some(auths) = config.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        for key in candidate_keys(registry) {
            let Some(entry) = auths.get(&key) else {
                continue;
            };
            if let Some(encoded) = entry
                .get("auth")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                let decoded = B64
                    .decode(encoded)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        self.malformed(&format!("auths.{key}.auth is not base64 of user:password"))
                    })?;
                let (username, password) = decoded.split_once(':').ok_or_else(|| {
                    self.malformed(&format!("auths.{key}.auth is not user:password"))
                })?;
                return Ok(Some(Credentials {
                    username: username.into(),
                    password: password.into(),
                }));
            }
            if let (Some(u), Some(p)) = (
                entry.get("username").and_then(Value::as_str),
                entry.get("password").and_then(Value::as_str),
            ) {
                return Ok(Some(Credentials {
                    username: u.into(),
                    password: p.into(),
                }));
            }
        }
        Ok(None)
    }

    /// Stores credentials for `registry`, through its helper when one is configured.
    pub fn store(&self, registry: &str, credentials: &Credentials) -> Result<(), CredentialsError> {
        let mut config = self.read()?;
        let key = server_key(registry);
        if let Some(helper) = helper_for(&config, registry) {
            let input = json!({ "ServerURL": key, "Username": credentials.username, "Secret": credentials.password });
            return run_helper(&helper, "store", &input.to_string()).map(|_| ());
        }
        let auths = config.entry("auths").or_insert_with(|| json!({}));
        let Some(auths) = auths.as_object_mut() else {
            return Err(self.malformed("auths is not an object"));
        };
        let encoded = B64.encode(format!("{}:{}", credentials.username, credentials.password));
        auths.insert(key, json!({ "auth": encoded }));
        self.write(&config)
    }

    /// Removes the credentials of `registry`; `false` when there were none.
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialsError> {
        let mut config = self.read()?;
        if let Some(helper) = helper_for(&config, registry) {
            return run_helper(&helper, "erase", &server_key(registry)).map(|_| true);
        }
        let mut removed = false;
        if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
            for key in candidate_keys(registry) {
                removed |= auths.remove(&key).is_some();
            }
        }
        if removed {
            self.write(&config)?;
        }
        Ok(removed)
    }

    /// Writes the file atomically, readable by its owner only.
    fn write(&self, config: &Map<String, Value>) -> Result<(), CredentialsError> {
        let io = || self.path.display().to_string();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(io)?;
        let text = serde_json::to_vec_pretty(config).expect("a JSON map serialises");
        tmp.write_all(&text).with_context(io)?;
        tmp.persist(&self.path)
            .map_err(|e| e.error)
            .with_context(io)?;
        Ok(())
    }
}

/// The key a registry has in `auths`: Docker Hub's historic URL, else the host itself.
fn server_key(registry: &str) -> String {
    if registry == crate::reference::DOCKER_HUB || registry == crate::reference::DOCKER_HUB_API {
        DOCKER_HUB_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// The keys under which Docker may have stored a registry's entry.
fn candidate_keys(registry: &str) -> Vec<String> {
    let key = server_key(registry);
    if key == DOCKER_HUB_KEY {
        return vec![
            key,
            "docker.io".into(),
            "index.docker.io".into(),
            "registry-1.docker.io".into(),
        ];
    }
    vec![
        key.clone(),
        format!("https://{key}"),
        format!("http://{key}"),
        format!("https://{key}/v1/"),
        format!("https://{key}/v2/"),
    ]
}

fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let key = server_key(registry);
    config
        .get("credHelpers")
        .and_then(|h| h.get(&key).or_else(|| h.get(registry)))
        .and_then(Value::as_str)
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>, CredentialsError> {
    let out = match run_helper(helper, "get", server) {
        Ok(out) => out,
        // Helpers say "credentials not found in native keychain" when they have nothing.
        Err(CredentialsError::Helper { why, .. }) if why.contains("not found") => return Ok(None),
        Err(e) => return Err(e),
    };
    let value: Value = serde_json::from_str(&out).map_err(|e| CredentialsError::Helper {
        helper: helper.into(),
        why: format!("answered with invalid JSON: {e}"),
    })?;
    let field = |name| {
        value
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Ok(Some(Credentials {
        username: field("Username"),
        password: field("Secret"),
    }))
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<String, CredentialsError> {
    let program = format!("docker-credential-{helper}");
    let failed = |why: String| CredentialsError::Helper {
        helper: helper.into(),
        why,
    };
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(failed(if stdout.is_empty() { stderr } else { stdout }));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_reads_and_erases_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let config = DockerConfig::at(dir.path().join("config.json"));
        assert_eq!(config.get("docker.io").unwrap(), None);
        let creds = Credentials {
            username: "me".into(),
            password: "p:w".into(),
        };
        config.store("docker.io", &creds).unwrap();
        config.store("127.0.0.1:5000", &creds).unwrap();
        let text = std::fs::read_to_string(config.path()).unwrap();
        assert!(text.contains(DOCKER_HUB_KEY), "{text}");
        assert!(text.contains(&B64.encode("me:p:w")), "{text}");
        assert_eq!(config.get("docker.io").unwrap(), Some(creds.clone()));
        assert_eq!(config.get("127.0.0.1:5000").unwrap(), Some(creds));
        assert!(config.erase("docker.io").unwrap());
        assert!(!config.erase("docker.io").unwrap());
        assert_eq!(config.get("docker.io").unwrap(), None);
    }

    #[test]
    fn keeps_other_keys_and_reads_url_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let auth = B64.encode("u:p");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://reg.example:5000":{{"auth":"{auth}"}}}},"psFormat":"x"}}"#
            ),
        )
        .unwrap();
        let config = DockerConfig::at(path.clone());
        assert_eq!(
            config.get("reg.example:5000").unwrap().unwrap().username,
            "u"
        );
        config
            .store(
                "other:1",
                &Credentials {
                    username: "a".into(),
                    password: "b".into(),
                },
            )
            .unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("psFormat"));
        std::fs::write(&path, "{oops").unwrap();
        assert!(matches!(
            config.get("x"),
            Err(CredentialsError::Malformed { .. })
        ));
    }
}
