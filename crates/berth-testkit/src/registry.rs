//! A real registry (Debian's `docker-registry`, the CNCF distribution registry) on loopback.

use crate::certs;
use crate::client::RegistryClient;
use crate::token::{self, Policy, TokenServer};
use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The registry program; `BERTH_TEST_REGISTRY` overrides it.
const DEFAULT_REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How the registry checks who is asking.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// Anyone may pull and push.
    #[default]
    Open,
    /// htpasswd basic auth: only these users, for everything.
    Basic {
        /// user name -> password
        users: Vec<(String, String)>,
    },
    /// Bearer tokens from a token endpoint, the way Docker Hub does it.
    Token {
        /// user name -> password; users may pull and push everything.
        users: Vec<(String, String)>,
        /// Repositories that anonymous callers may pull.
        public_repos: Vec<String>,
        /// How long a token lives, in seconds.
        lifetime_secs: u64,
    },
}

impl Auth {
    /// Basic auth with one user.
    pub fn basic(user: &str, password: &str) -> Auth {
        Auth::Basic {
            users: vec![(user.to_owned(), password.to_owned())],
        }
    }

    /// Token auth with one user and the given public repositories; tokens live five minutes.
    pub fn token(user: &str, password: &str, public_repos: &[&str]) -> Auth {
        Auth::Token {
            users: vec![(user.to_owned(), password.to_owned())],
            public_repos: public_repos.iter().map(|r| (*r).to_owned()).collect(),
            lifetime_secs: 300,
        }
    }
}

/// What registry to start.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Who may do what.
    pub auth: Auth,
    /// Serve HTTPS with a CA made on the spot, instead of plain HTTP.
    pub tls: bool,
}

/// A running registry; it is stopped and its data removed when dropped.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    ca_pem: Option<String>,
    token_server: Option<TokenServer>,
}

impl Registry {
    /// Starts an open registry over plain HTTP.
    pub fn start_open() -> crate::Result<Registry> {
        Registry::start(Options::default())
    }

    /// Starts a registry as `options` say, and waits until it answers.
    pub fn start(options: Options) -> crate::Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()?;
        let mut auth_yaml = String::new();
        let mut token_server = None;
        match &options.auth {
            Auth::Open => {}
            Auth::Basic { users } => {
                let mut htpasswd = String::new();
                for (user, password) in users {
                    // Cost 4 is bcrypt's minimum: the registry checks it on every request.
                    let hash = bcrypt::hash(password, 4)?;
                    htpasswd.push_str(&format!("{user}:{hash}\n"));
                }
                let path = dir.path().join("htpasswd");
                fs::write(&path, htpasswd)?;
                auth_yaml = format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    path.display()
                );
            }
            Auth::Token {
                users,
                public_repos,
                lifetime_secs,
            } => {
                let (signer, cert_der) = certs::token_signer()?;
                let bundle = dir.path().join("token-signer.pem");
                fs::write(&bundle, &signer.cert_pem)?;
                let policy = Policy {
                    users: users.iter().cloned().collect::<BTreeMap<_, _>>(),
                    public_repos: public_repos.clone(),
                    lifetime_secs: *lifetime_secs,
                };
                let server = TokenServer::start(policy, &signer.key_pem, &cert_der)?;
                auth_yaml = format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.addr,
                    token::SERVICE,
                    token::ISSUER,
                    bundle.display()
                );
                token_server = Some(server);
            }
        }
        let mut tls_yaml = String::new();
        let mut ca_pem = None;
        if options.tls {
            let material = certs::tls_material()?;
            let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            fs::write(&cert, &material.server.cert_pem)?;
            fs::write(&key, &material.server.key_pem)?;
            fs::write(dir.path().join("ca.crt"), &material.ca.cert_pem)?;
            tls_yaml = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            ca_pem = Some(material.ca.cert_pem);
        }

        let scheme = if ca_pem.is_some() { "https" } else { "http" };
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_yaml}{auth_yaml}",
                data = dir.path().join("data").display(),
            );
            let config_path = dir.path().join("config.yml");
            fs::write(&config_path, config)?;
            let log_path = dir.path().join("registry.log");
            let log = fs::File::create(&log_path)?;
            let bin = std::env::var("BERTH_TEST_REGISTRY")
                .unwrap_or_else(|_| DEFAULT_REGISTRY_BIN.to_owned());
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .map_err(|e| {
                    format!("cannot start {bin} (apt-get install docker-registry): {e}")
                })?;
            let client = RegistryClient::new(
                &format!("{scheme}://127.0.0.1:{port}"),
                ca_pem.as_deref(),
                None,
            );
            match wait_until_ready(&mut child, port, &client) {
                Ok(()) => {
                    return Ok(Registry {
                        child,
                        dir,
                        port,
                        ca_pem,
                        token_server,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = fs::read_to_string(&log_path).unwrap_or_default();
                    last_error = format!("{e}; log: {log}");
                }
            }
        }
        Err(format!("registry did not start: {last_error}").into())
    }

    /// `127.0.0.1:PORT`, the registry part of an image reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` or `https://…`.
    pub fn base_url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host())
    }

    /// The CA certificate (PEM) that a client must trust, when the registry serves TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Where the CA certificate is written, when the registry serves TLS.
    pub fn ca_path(&self) -> Option<PathBuf> {
        self.ca_pem.as_ref().map(|_| self.dir.path().join("ca.crt"))
    }

    /// How many tokens the token endpoint has issued (0 without token auth).
    pub fn tokens_issued(&self) -> usize {
        self.token_server
            .as_ref()
            .map_or(0, |t| t.issued.load(Ordering::SeqCst))
    }

    /// A client for this registry, with these credentials.
    pub fn client(&self, credentials: Option<(&str, &str)>) -> RegistryClient {
        RegistryClient::new(&self.base_url(), self.ca_pem(), credentials)
    }

    /// The registry's own log, for a failing test's message.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The directory that holds the registry's config and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the registry at `client` answers from its process `child`, listening on
/// 127.0.0.1:`port`, or `child` exits.
fn wait_until_ready(child: &mut Child, port: u16, client: &RegistryClient) -> crate::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Err(format!("registry exited with {status}").into());
        }
        if listens(child, port) && client.ping().is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("registry did not answer within 20 s".into())
}

/// Whether `child` itself listens on 127.0.0.1:`port`: the port `free_port` found free may
/// have been taken meanwhile by another process (another test's registry), whose answers
/// must not pass for this registry's.
fn listens(child: &Child, port: u16) -> bool {
    let sockets: Vec<String> = fs::read_dir(format!("/proc/{}/fd", child.id()))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| {
            let target = fs::read_link(fd.path()).ok()?;
            let inode = target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    let local = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ... inode (the tenth field); 0A is LISTEN.
            fields.len() > 9
                && fields[1] == local
                && fields[3] == "0A"
                && sockets.iter().any(|s| s == fields[9])
        })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
