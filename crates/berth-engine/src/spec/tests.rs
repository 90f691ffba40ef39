use super::*;
use crate::options::RunOptions;

fn caps(add: &[&str], drop: &[&str]) -> Vec<String> {
    let options = RunOptions {
        cap_add: add.iter().map(|c| (*c).to_owned()).collect(),
        cap_drop: drop.iter().map(|c| (*c).to_owned()).collect(),
        ..RunOptions::default()
    };
    let host = [
        "CAP_CHOWN",
        "CAP_NET_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_ADMIN",
    ];
    let host: Vec<String> = host.iter().map(|c| (*c).to_owned()).collect();
    capabilities(&options.plan().unwrap(), &host)
}

// Docker (moby's TweakCapabilities): drops first, then adds; `--cap-drop ALL` keeps the
// added ones, `--cap-add ALL` gives the host's all but the dropped ones.
#[test]
fn drops_apply_before_adds_as_in_docker() {
    assert_eq!(
        caps(&["NET_BIND_SERVICE"], &["ALL"]),
        ["CAP_NET_BIND_SERVICE"]
    );
    assert_eq!(caps(&["net_admin"], &["all"]), ["CAP_NET_ADMIN"]);
    assert!(caps(&[], &["ALL"]).is_empty());
    assert_eq!(
        caps(&["ALL"], &["SYS_ADMIN"]),
        ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]
    );
    // A capability both dropped and added is kept: the add comes last.
    assert!(caps(&["CHOWN"], &["CHOWN"]).contains(&"CAP_CHOWN".to_owned()));
    let default = caps(&[], &["CHOWN"]);
    assert_eq!(default.len(), DEFAULT_CAPABILITIES.len() - 1);
    assert!(!default.contains(&"CAP_CHOWN".to_owned()));
    assert_eq!(
        caps(&["SYS_ADMIN"], &[]).len(),
        DEFAULT_CAPABILITIES.len() + 1
    );
}
