//! berth's OCI runtime: it takes a runtime-spec bundle and turns it into a running, isolated
//! process. Today it knows the host: the cgroup layout and what the kernel offers.

pub mod cgroups;
pub mod host;
