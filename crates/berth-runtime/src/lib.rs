//! berth's OCI runtime: it takes a runtime-spec bundle and turns it into a running, isolated
//! process. Today it knows the host: the cgroup layout and what the kernel offers.

pub mod cgroup;
pub mod cgroups;
pub mod container;
pub mod devices;
pub mod exec;
pub mod host;
pub mod init;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
