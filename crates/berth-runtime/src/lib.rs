//! berth's OCI runtime: it takes a runtime-spec bundle and turns it into a running, isolated
//! process, for `berth run` and for the runc-compatible command line (`oci`).

mod affinity;
pub mod background;
pub mod cgroup;
pub use cgroup::layout as cgroups;
mod child;
pub mod container;
pub mod devices;
mod error;
pub mod exec;
pub mod fdpass;
pub mod hooks;
pub mod host;
pub mod idle;
pub mod init;
pub mod mountattr;
pub mod oci;
pub mod process;
pub mod rootfs;
pub mod sealed_exe;
pub mod seccomp;
pub mod spec;
pub mod time;
pub mod userns;
