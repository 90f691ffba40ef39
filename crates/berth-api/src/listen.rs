//! Where the service listens: `unix://PATH` (mode 0660, group `berth` when that group
//! exists), `tcp://HOST:PORT` (no authentication: the caller warns), or the socket systemd
//! passed (`LISTEN_FDS`, `LISTEN_PID`).

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The default socket, as Podman's is `/run/podman/podman.sock`.
pub const DEFAULT_URI: &str = "unix:///run/berth/berth.sock";

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: i32 = 3;

/// Where to listen, as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// A TCP address (`host:port`).
    Tcp(String),
}

impl Endpoint {
    /// `unix:///path`, `tcp://host:port`.
    pub fn parse(uri: &str) -> Result<Endpoint, String> {
        if let Some(path) = uri.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("{uri}: the socket path must be absolute"));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if let Some(address) = uri.strip_prefix("tcp://") {
            let address = address.trim_end_matches('/');
            if address
                .rsplit_once(':')
                .is_none_or(|(_, port)| port.parse::<u16>().is_err())
            {
                return Err(format!("{uri}: expected tcp://HOST:PORT"));
            }
            return Ok(Endpoint::Tcp(address.to_owned()));
        }
        Err(format!(
            "{uri}: unsupported address (expected unix:///PATH or tcp://HOST:PORT)"
        ))
    }
}

/// A bound listener, before the runtime takes it.
pub enum Bound {
    /// A unix socket; `path` is removed at the end when this process made it.
    Unix {
        /// The listener.
        listener: std::os::unix::net::UnixListener,
        /// The path to remove at the end (`None` for a socket systemd owns).
        path: Option<PathBuf>,
    },
    /// A TCP socket.
    Tcp(std::net::TcpListener),
}

/// The socket systemd passed this process, if any (`LISTEN_PID` names it, `LISTEN_FDS` >= 1);
/// the variables are removed so that children do not take it for theirs.
pub fn activated() -> io::Result<Option<Bound>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    // SAFETY: the service is still single-threaded here; nothing reads the environment at once.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    let ours = pid.is_some_and(|p| p.parse() == Ok(std::process::id()));
    let count: i32 = fds.and_then(|n| n.parse().ok()).unwrap_or(0);
    if !ours || count < 1 {
        return Ok(None);
    }
    // SAFETY: only borrowed for this check, which fails (EBADF) when nothing is open there.
    let passed = unsafe { BorrowedFd::borrow_raw(SD_LISTEN_FDS_START) };
    rustix::io::fcntl_setfd(passed, rustix::io::FdFlags::CLOEXEC).map_err(|e| {
        io::Error::other(format!(
            "LISTEN_FDS names descriptor {SD_LISTEN_FDS_START}, which is not open: {e}"
        ))
    })?;
    // SAFETY: systemd passed descriptor 3, open (checked above), for this process to own
    // (LISTEN_PID is ours); nothing else in berth takes it.
    let fd = unsafe { OwnedFd::from_raw_fd(SD_LISTEN_FDS_START) };
    let address = rustix::net::getsockname(&fd)?;
    Ok(Some(
        if address.address_family() == rustix::net::AddressFamily::UNIX {
            Bound::Unix {
                listener: std::os::unix::net::UnixListener::from(fd),
                path: None,
            }
        } else {
            Bound::Tcp(std::net::TcpListener::from(fd))
        },
    ))
}

/// Binds `endpoint`. A unix socket's directory is made if missing; a socket file that nobody
/// answers on (what a killed service left) is replaced; one that answers is an error.
pub fn bind(endpoint: &Endpoint) -> io::Result<Bound> {
    match endpoint {
        Endpoint::Tcp(address) => Ok(Bound::Tcp(std::net::TcpListener::bind(address)?)),
        Endpoint::Unix(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another service listens on it", path.display()),
                ));
            }
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let listener = std::os::unix::net::UnixListener::bind(path)?;
            restrict(path)?;
            Ok(Bound::Unix {
                listener,
                path: Some(path.clone()),
            })
        }
    }
}

/// Mode 0660, and group `berth` when `/etc/group` has it (its members may then use the API,
/// as the `docker` group's may use Docker's socket).
fn restrict(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(gid) = group_id("berth") {
        rustix::fs::chown(path, None, Some(rustix::fs::Gid::from_raw(gid)))?;
    }
    Ok(())
}

/// The id of group `name` in `/etc/group`.
fn group_id(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_docker_writes_them() {
        assert_eq!(
            Endpoint::parse("unix:///run/berth/berth.sock"),
            Ok(Endpoint::Unix("/run/berth/berth.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375"),
            Ok(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert!(Endpoint::parse("unix://relative.sock").is_err());
        assert!(Endpoint::parse("tcp://127.0.0.1").is_err());
        assert!(Endpoint::parse("http://x").is_err());
    }

    #[test]
    fn a_socket_is_0660_and_a_live_one_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/api.sock");
        let bound = bind(&Endpoint::Unix(path.clone())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o660);
        let again = bind(&Endpoint::Unix(path.clone())).err().unwrap();
        assert_eq!(again.kind(), io::ErrorKind::AddrInUse);
        drop(bound);
        // A stale file (nobody listens) is replaced.
        assert!(bind(&Endpoint::Unix(path)).is_ok());
    }
}
