//! A disk that fills while berth makes an image (commit, load, import): a clear error, exit 1
//! as the docker CLI exits, nothing half-made in the store, and the same command works once
//! there is room again.

mod common;

use common::Busybox;
use rustix::mount::{MountFlags, UnmountFlags, mount, unmount};
use std::path::Path;

/// A 1 MiB tmpfs on the store's `tmp/`, where every layer is unpacked before it is renamed
/// into place: a layer of a few MiB fills it. Unmounted when dropped.
struct FullTmp<'a>(&'a Path);

impl<'a> FullTmp<'a> {
    fn over(tmp: &'a Path) -> FullTmp<'a> {
        std::fs::create_dir_all(tmp).unwrap();
        mount(
            "tmpfs",
            tmp,
            "tmpfs",
            MountFlags::empty(),
            c"size=1m,mode=0700",
        )
        .unwrap();
        FullTmp(tmp)
    }
}

impl Drop for FullTmp<'_> {
    fn drop(&mut self) {
        let _ = unmount(self.0, UnmountFlags::DETACH);
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_full_disk_fails_commit_load_and_import_and_loses_nothing() {
    let bb = Busybox::pulled();
    let env = &bb.env;
    env.berth(&[
        "run",
        "--name",
        "big",
        "--network",
        "none",
        &bb.image,
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /big",
    ])
    .ok();
    let archive = env.path().join("busybox.tar");
    let big_tar = env.path().join("big.tar");
    env.berth(&["save", "-o", archive.to_str().unwrap(), &bb.image])
        .ok();
    env.berth(&["export", "-o", big_tar.to_str().unwrap(), "big"])
        .ok();
    env.berth(&["rmi", &bb.image])
        .fails(1, "container is using");
    let layers = entries(&env.root().join("layers"));
    let blobs = entries(&env.root().join("blobs/sha256"));
    let images = std::fs::read(env.root().join("images.json")).unwrap();

    let tmp = env.root().join("tmp");
    {
        let _full = FullTmp::over(&tmp);
        env.berth(&["commit", "big", "made:1"])
            .fails(1, "No space left on device");
        env.berth(&["import", big_tar.to_str().unwrap(), "imported:1"])
            .fails(1, "No space left on device");
        // A fresh store for the load: the pulled layers must not be found there.
        let other = common::Env::new();
        let other_tmp = other.root().join("tmp");
        let _other_full = FullTmp::over(&other_tmp);
        other
            .berth(&["load", "-i", archive.to_str().unwrap()])
            .fails(1, "No space left on device");
        assert!(other.tags().is_empty());
        assert_eq!(entries(&other_tmp), Vec::<String>::new(), "load left work");
        assert_eq!(
            entries(&tmp),
            Vec::<String>::new(),
            "commit or import left work"
        );
    }
    // Nothing of the failed commands is in the store.
    assert_eq!(entries(&env.root().join("layers")), layers);
    assert_eq!(entries(&env.root().join("blobs/sha256")), blobs);
    assert_eq!(
        std::fs::read(env.root().join("images.json")).unwrap(),
        images
    );
    // With room again, the same commit works and its image runs.
    env.berth(&["commit", "big", "made:1"]).ok();
    let out = env
        .berth(&[
            "run",
            "--rm",
            "--network",
            "none",
            "made:1",
            "wc",
            "-c",
            "/big",
        ])
        .ok();
    assert!(out.stdout.contains("3000000"), "{}", out.stdout);
    env.berth(&["rm", "big"]).ok();
    common::assert_nothing_leaked(env);
}
