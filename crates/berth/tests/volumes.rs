//! Volumes end to end: named and anonymous ones, the image's content copied into new ones,
//! `rm -v`, `run --rm`, `--volumes-from`, tmpfs-typed volumes, prune, inspect, and Docker's
//! refusals. Real containers, the harness's busybox image and one with a VOLUME.

mod common;

use berth_testkit::image::{Entry, Layer};
use common::{Busybox, Env, assert_nothing_leaked, inspect};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A registry with busybox and `db`: busybox plus `/var/lib/db` (owned 999:999, mode 0700)
/// holding `seed` (999:999, 0640, an extended attribute) and a link to it, declared a VOLUME
/// as a database image declares its data directory.
struct Images {
    bb: Busybox,
    db: String,
}

fn images() -> Images {
    let bb = Busybox::pulled();
    let mut spec = berth_testkit::busybox::image().expect("busybox");
    spec.layers.push(
        Layer::new()
            .dir("var/lib", 0o755)
            .entry(Entry::Dir {
                path: "var/lib/db".into(),
                mode: 0o700,
                uid: 999,
                gid: 999,
            })
            .entry(Entry::File {
                path: "var/lib/db/seed".into(),
                data: b"seeded by the image\n".to_vec(),
                mode: 0o640,
                uid: 999,
                gid: 999,
                xattrs: vec![("user.origin".into(), b"image".to_vec())],
            })
            .symlink("var/lib/db/link", "seed"),
    );
    spec.config["Volumes"] = serde_json::json!({ "/var/lib/db": {} });
    bb.registry
        .client(None)
        .push_image("db", "latest", &spec.build())
        .expect("push");
    let db = format!("{}/db:latest", bb.registry.host());
    bb.env.berth(&["pull", "-q", &db]).ok();
    Images { bb, db }
}

/// The volumes `volume ls -q` lists.
fn volume_names(env: &Env) -> Vec<String> {
    env.berth(&["volume", "ls", "-q"])
        .ok()
        .stdout
        .lines()
        .map(str::to_owned)
        .collect()
}

/// An extended attribute of a host file.
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut value = [0u8; 64];
    // SAFETY: reads into a buffer of the length given; both strings are NUL-terminated.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    (n >= 0).then(|| value[..n as usize].to_vec())
}

/// Nothing of the test is left: containers, mounts, and under `volumes/` no volume nor any
/// work a berth command left.
fn assert_clean(env: &Env) {
    assert_nothing_leaked(env);
    let left: Vec<_> = std::fs::read_dir(env.root().join("volumes"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in volumes/: {left:?}");
}

// Docker: a named volume outlives its container; a new, empty one is first filled from the
// image's content at its mount point, owners, modes, links and xattrs kept; `volume rm` of
// one a container (even a stopped one) uses fails with "volume is in use - [ID]", exit 1.
#[test]
fn a_named_volume_is_filled_from_the_image_and_outlives_its_container() {
    let Images { bb, db } = images();
    let env = &bb.env;
    let script = "stat -c '%u:%g %a' /var/lib/db /var/lib/db/seed && cat /var/lib/db/link \
                  && echo row1 >> /var/lib/db/table";
    let first = env
        .berth(&[
            "run",
            "--name",
            "writer",
            "-v",
            "data:/var/lib/db",
            &db,
            "sh",
            "-c",
            script,
        ])
        .ok();
    assert_eq!(
        first.stdout,
        "999:999 700\n999:999 640\nseeded by the image\n"
    );
    let data = env.root().join("volumes/data/_data");
    assert_eq!(
        xattr(&data.join("seed"), "user.origin").as_deref(),
        Some(&b"image"[..])
    );
    assert!(
        std::fs::symlink_metadata(data.join("link"))
            .unwrap()
            .is_symlink()
    );
    let writer = inspect(env, &["inspect", "writer"]);
    let id = writer["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        writer["Mounts"],
        serde_json::json!([{ "Type": "volume", "Name": "data", "Source": data.display().to_string(),
            "Destination": "/var/lib/db", "Driver": "local", "Mode": "z", "RW": true, "Propagation": "" }])
    );
    env.berth(&["volume", "rm", "data"])
        .fails(1, &format!("remove data: volume is in use - [{id}]"));
    env.berth(&["rm", "writer"]).ok();
    assert_eq!(volume_names(env), ["data"]);
    // The next container reads what the first wrote, and nothing is copied over it.
    let second = bb.sh(
        &["-v", "data:/d:ro"],
        "cat /d/table; touch /d/x 2>/dev/null || echo ro",
    );
    assert_eq!(second.ok().stdout, "row1\nro\n");
    let volume = inspect(env, &["volume", "inspect", "data"]);
    assert_eq!(volume["Name"], "data");
    assert_eq!(volume["Driver"], "local");
    assert_eq!(volume["Scope"], "local");
    assert_eq!(volume["Mountpoint"], data.display().to_string());
    assert_eq!(volume["Labels"], serde_json::Value::Null);
    assert!(berth_engine::time::parse(volume["CreatedAt"].as_str().unwrap()).is_some());
    let keys: Vec<&String> = volume.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "CreatedAt",
            "Driver",
            "Labels",
            "Mountpoint",
            "Name",
            "Options",
            "Scope"
        ]
    );
    // `nocopy`: an empty volume stays empty.
    bb.sh(
        &[
            "--mount",
            "type=volume,src=bare,dst=/var/lib/db,volume-nocopy",
        ],
        "true",
    )
    .ok();
    let bare = env.root().join("volumes/bare/_data");
    assert_eq!(std::fs::read_dir(&bare).unwrap().count(), 0);
    // One that another container mounts is not new: never filled (its `_data` stays the one
    // that container has).
    env.berth(&[
        "create", "--name", "holder", "-v", "bare:/x", &bb.image, "true",
    ])
    .ok();
    let listed = env.berth(&[
        "run",
        "--rm",
        "-v",
        "bare:/var/lib/db",
        &db,
        "ls",
        "/var/lib/db",
    ]);
    assert_eq!(listed.ok().stdout, "");
    env.berth(&["rm", "holder"]).ok();
    env.berth(&["volume", "rm", "data", "bare"]).ok();
    env.berth(&["volume", "inspect", "data"])
        .fails(1, "No such volume: data");
    assert_clean(env);
}

// Docker: `-v /path` and an image's VOLUME make anonymous volumes (64 hex digits, label
// com.docker.volume.anonymous); `rm -v` and `run --rm` remove them, `rm` alone keeps them;
// `volume prune` removes unused anonymous ones, `-a` every unused one.
#[test]
fn anonymous_volumes_go_with_rm_v_run_rm_and_prune() {
    let Images { bb, db } = images();
    let env = &bb.env;
    let id = env
        .berth(&["create", "-v", "/scratch", &bb.image, "true"])
        .ok()
        .stdout;
    let id = id.trim();
    let names = volume_names(env);
    assert_eq!(names.len(), 1);
    assert!(names[0].len() == 64 && names[0].bytes().all(|b| b.is_ascii_hexdigit()));
    let mounts = inspect(env, &["inspect", id])["Mounts"].clone();
    assert_eq!(mounts[0]["Name"], names[0].as_str());
    assert_eq!(
        (
            mounts[0]["Destination"].as_str(),
            mounts[0]["Mode"].as_str()
        ),
        (Some("/scratch"), Some(""))
    );
    let labels = inspect(env, &["volume", "inspect", &names[0]])["Labels"].clone();
    assert_eq!(
        labels,
        serde_json::json!({ "com.docker.volume.anonymous": "" })
    );
    env.berth(&["rm", "-v", id]).ok();
    assert!(volume_names(env).is_empty());

    // The image's VOLUME, filled from the image; `rm` without -v keeps it.
    env.berth(&["run", "--name", "db1", &db, "cat", "/var/lib/db/seed"])
        .ok();
    let anonymous = volume_names(env);
    assert_eq!(anonymous.len(), 1);
    let seed = env
        .root()
        .join("volumes")
        .join(&anonymous[0])
        .join("_data/seed");
    assert_eq!(std::fs::metadata(&seed).unwrap().uid(), 999);
    env.berth(&["rm", "db1"]).ok();
    assert_eq!(volume_names(env), anonymous);

    // `run --rm` takes its anonymous volumes along, the image's and -v's.
    let out = env
        .berth(&[
            "run",
            "--rm",
            "-v",
            "/extra",
            &db,
            "sh",
            "-c",
            "echo x > /extra/f; cat /var/lib/db/seed",
        ])
        .ok();
    assert_eq!(out.stdout, "seeded by the image\n");
    assert_eq!(volume_names(env), anonymous);

    env.berth(&["volume", "create", "--label", "keep=yes", "named"])
        .ok();
    let pruned = env.berth(&["volume", "prune", "-f"]).ok().stdout;
    assert!(
        pruned.starts_with(&format!(
            "Deleted Volumes:\n{}\n\nTotal reclaimed space: 20B",
            anonymous[0]
        )),
        "{pruned}"
    );
    assert_eq!(volume_names(env), ["named"]);
    let pruned = env.berth(&["volume", "prune", "-a", "-f"]).ok().stdout;
    assert_eq!(
        pruned,
        "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n"
    );
    assert_clean(env);
}

// Docker: `--volumes-from CTR[:ro]` mounts another container's volumes at their places;
// `-o type=tmpfs,device=tmpfs,o=...` volumes are mounted as the local driver mounts them;
// `volume ls` filters and formats; names by the local driver's rule.
#[test]
fn volumes_from_tmpfs_volumes_listing_and_bad_input() {
    let bb = Busybox::pulled();
    let env = &bb.env;
    bb.sh(&["-v", "shared:/s"], "echo hi > /s/f").ok();
    let src = env
        .berth(&[
            "create",
            "--name",
            "src",
            "-v",
            "shared:/s",
            "-v",
            "/anon",
            &bb.image,
            "true",
        ])
        .ok()
        .stdout;
    let out = bb.sh(
        &["--volumes-from", "src:ro"],
        "cat /s/f; touch /s/x 2>/dev/null || echo ro; touch /anon/y 2>/dev/null || echo ro",
    );
    assert_eq!(out.ok().stdout, "hi\nro\nro\n");
    bb.sh(&["--volumes-from", "src"], "touch /s/x /anon/y").ok();
    assert!(env.root().join("volumes/shared/_data/x").exists());
    env.berth(&["volume", "rm", "shared"])
        .fails(1, &format!("volume is in use - [{}]", src.trim()));
    // Its anonymous volume stays while src, which made it, still uses it.
    assert_eq!(volume_names(env).len(), 2);

    env.berth(&["volume", "create", "-o", "type=tmpfs", "tmp1"])
        .fails(1, "missing required option: \"device\"");
    env.berth(&["volume", "create", "-o", "size=1m", "tmp1"])
        .fails(1, "invalid option key: \"size\"");
    let made = env
        .berth(&[
            "volume",
            "create",
            "-d",
            "local",
            "--label",
            "kind=mem",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=1m,uid=1000",
            "--name",
            "tmp1",
        ])
        .ok();
    assert_eq!(made.stdout, "tmp1\n");
    let mounts = bb
        .sh(
            &["-v", "tmp1:/t"],
            "grep ' /t ' /proc/mounts; echo x > /t/f",
        )
        .ok()
        .stdout;
    assert!(mounts.starts_with("tmpfs /t tmpfs rw"), "{mounts}");
    assert!(
        mounts.contains("size=1024k") && mounts.contains("uid=1000"),
        "{mounts}"
    );
    // The data lived in the container's tmpfs, not under the data root.
    assert!(!env.root().join("volumes/tmp1/_data/f").exists());
    let options = inspect(env, &["volume", "inspect", "tmp1"])["Options"].clone();
    assert_eq!(
        options,
        serde_json::json!({ "device": "tmpfs", "o": "size=1m,uid=1000", "type": "tmpfs" })
    );

    let table = env
        .berth(&["volume", "ls", "--filter", "name=tmp"])
        .ok()
        .stdout;
    assert_eq!(table, "DRIVER    VOLUME NAME\nlocal     tmp1\n");
    let labelled = env
        .berth(&["volume", "ls", "-q", "--filter", "label=kind=mem"])
        .ok()
        .stdout;
    assert_eq!(labelled, "tmp1\n");
    let dangling = env
        .berth(&["volume", "ls", "-q", "--filter", "dangling=true"])
        .ok()
        .stdout;
    assert_eq!(dangling, "tmp1\n");
    let json = env
        .berth(&[
            "volume",
            "ls",
            "--format",
            "json",
            "--filter",
            "name=shared",
        ])
        .ok()
        .stdout;
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (
            row["Name"].as_str(),
            row["Driver"].as_str(),
            row["Scope"].as_str()
        ),
        (Some("shared"), Some("local"), Some("local"))
    );
    env.berth(&["volume", "ls", "--filter", "colour=red"])
        .fails(1, "invalid filter 'colour'");

    env.berth(&["volume", "create", "a/b"])
        .fails(1, "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed");
    env.berth(&["volume", "create", "x"]).fails(1, "too short");
    env.berth(&["run", "--rm", "-v", "a/b:/x", &bb.image, "true"])
        .fails(125, "includes invalid characters");
    env.berth(&["run", "--rm", "--volumes-from", "nosuch", &bb.image, "true"])
        .fails(125, "No such container: nosuch");
    env.berth(&["volume", "rm", "nosuch"])
        .fails(1, "get nosuch: no such volume");
    env.berth(&["volume", "rm", "-f", "nosuch"]).ok();

    env.berth(&["rm", "-v", "src"]).ok();
    env.berth(&["volume", "prune", "-a", "-f"]).ok();
    assert_clean(env);
}
