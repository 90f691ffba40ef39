//! berth's container networks: bridges, veth pairs, IP leases, NAT and published ports.
//!
//! Not built yet (issue 5): until then every container gets a fresh network namespace with only
//! `lo` up, which is what `--network none` means.
