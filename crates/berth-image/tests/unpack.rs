//! Layer extraction, as root: every kind of entry kept, and no hostile entry escaping.

use berth_image::unpack::{UnpackError, UnpackOptions, unpack};
use berth_testkit::image::{DEFAULT_MTIME, Entry, Layer};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

const ROOT: UnpackOptions = UnpackOptions {
    privileged: true,
    layer: true,
    devices: true,
};

fn raw(name: &str, kind: tar::EntryType, link: &str) -> Entry {
    Entry::Raw {
        name: name.as_bytes().to_vec(),
        kind,
        link: link.as_bytes().to_vec(),
        data: if kind == tar::EntryType::Regular {
            b"pwned".to_vec()
        } else {
            Vec::new()
        },
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(c_path.as_c_str(), name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn keeps_every_kind_of_entry() {
    let dest = tempfile::tempdir().unwrap();
    let cap = vec![
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let layer = Layer::new()
        .entry(Entry::Dir {
            path: "home/user".into(),
            mode: 0o750,
            uid: 1000,
            gid: 1001,
        })
        .entry(Entry::File {
            path: "home/user/setuid".into(),
            data: b"bin".to_vec(),
            mode: 0o4755,
            uid: 1000,
            gid: 1001,
            xattrs: vec![("security.capability".into(), cap.clone())],
        })
        .entry(Entry::Dir {
            path: "tmp".into(),
            mode: 0o1777,
            uid: 0,
            gid: 0,
        })
        .file("etc/conf", b"hello", 0o640)
        .symlink("etc/link", "/etc/conf")
        .hardlink("etc/hard", "etc/conf")
        .entry(Entry::CharDevice {
            path: "dev/null".into(),
            major: 1,
            minor: 3,
            mode: 0o666,
        })
        .entry(Entry::BlockDevice {
            path: "dev/loop9".into(),
            major: 7,
            minor: 9,
            mode: 0o660,
        })
        .entry(Entry::Fifo {
            path: "run/pipe".into(),
            mode: 0o620,
        })
        .whiteout("usr/gone")
        .opaque("var");
    let size = unpack(layer.tar().as_slice(), dest.path(), ROOT).unwrap();
    assert_eq!(size, 3 + 5);
    let d = dest.path();

    let home = fs::metadata(d.join("home/user")).unwrap();
    assert_eq!(
        (home.uid(), home.gid(), home.mode() & 0o7777),
        (1000, 1001, 0o750)
    );
    assert_eq!(home.mtime() as u64, DEFAULT_MTIME);
    let setuid = fs::metadata(d.join("home/user/setuid")).unwrap();
    assert_eq!((setuid.uid(), setuid.mode() & 0o7777), (1000, 0o4755));
    assert_eq!(
        xattr(&d.join("home/user/setuid"), "security.capability").unwrap(),
        cap
    );
    assert_eq!(fs::metadata(d.join("tmp")).unwrap().mode() & 0o7777, 0o1777);

    assert_eq!(fs::read(d.join("etc/conf")).unwrap(), b"hello");
    assert_eq!(
        fs::metadata(d.join("etc/conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        fs::read_link(d.join("etc/link")).unwrap(),
        Path::new("/etc/conf")
    );
    assert_eq!(
        fs::metadata(d.join("etc/hard")).unwrap().ino(),
        fs::metadata(d.join("etc/conf")).unwrap().ino()
    );
    assert_eq!(
        fs::symlink_metadata(d.join("etc/conf")).unwrap().mtime() as u64,
        DEFAULT_MTIME
    );

    let null = fs::metadata(d.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert!(
        fs::metadata(d.join("dev/loop9"))
            .unwrap()
            .file_type()
            .is_block_device()
    );
    let pipe = fs::metadata(d.join("run/pipe")).unwrap();
    assert!(pipe.file_type().is_fifo());
    assert_eq!(pipe.mode() & 0o777, 0o620);

    // Whiteouts and opaque markers are overlayfs' own.
    let gone = fs::symlink_metadata(d.join("usr/gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(!d.join("usr/.wh.gone").exists());
    assert_eq!(
        xattr(&d.join("var"), "trusted.overlay.opaque").unwrap(),
        b"y"
    );
    assert!(!d.join("var/.wh..wh..opq").exists());
}

#[test]
fn later_entries_replace_earlier_ones() {
    let dest = tempfile::tempdir().unwrap();
    let layer = Layer::new()
        .file("a", b"first", 0o644)
        .file("a", b"second", 0o600)
        .dir("b", 0o755)
        .file("b/inner", b"x", 0o644)
        .symlink("b", "a")
        .dir("c", 0o700)
        .dir("c", 0o755);
    unpack(layer.tar().as_slice(), dest.path(), ROOT).unwrap();
    assert_eq!(fs::read(dest.path().join("a")).unwrap(), b"second");
    assert_eq!(
        fs::read_link(dest.path().join("b")).unwrap(),
        Path::new("a")
    );
    assert_eq!(
        fs::metadata(dest.path().join("c")).unwrap().mode() & 0o777,
        0o755
    );
}

/// Unpacks `layer` into `<tmp>/layer`, then checks nothing appeared in `<tmp>` beside it.
fn unpack_hostile(layer: Layer) -> (tempfile::TempDir, Result<u64, UnpackError>) {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("layer");
    fs::create_dir(&dest).unwrap();
    let result = unpack(layer.tar().as_slice(), &dest, ROOT);
    let beside: Vec<_> = fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["layer"], "something landed outside the layer");
    (outer, result)
}

#[test]
fn dot_dot_names_are_refused() {
    for name in ["../escape", "a/../../escape", "./../escape"] {
        let (_dir, result) =
            unpack_hostile(Layer::new().entry(raw(name, tar::EntryType::Regular, "")));
        let err = result.expect_err(name);
        assert!(matches!(err, UnpackError::Escape { .. }), "{name}: {err}");
        assert!(
            err.to_string().contains("points outside the layer"),
            "{err}"
        );
    }
}

#[test]
fn absolute_names_stay_inside() {
    let (outer, result) =
        unpack_hostile(Layer::new().entry(raw("/abs/file", tar::EntryType::Regular, "")));
    result.unwrap();
    assert_eq!(
        fs::read(outer.path().join("layer/abs/file")).unwrap(),
        b"pwned"
    );
}

#[test]
fn symlinked_parents_resolve_inside_the_layer() {
    let outer_target = tempfile::tempdir().unwrap();
    let target = outer_target.path().display().to_string();
    // An absolute symlink to a real host directory, and a relative one climbing out.
    let layer = Layer::new()
        .symlink("abs", &target)
        .entry(raw("abs/pwned", tar::EntryType::Regular, ""))
        .symlink("rel", "../../../../../../..")
        .entry(raw("rel/pwned2", tar::EntryType::Regular, ""));
    let (outer, result) = unpack_hostile(layer);
    result.unwrap();
    assert_eq!(
        fs::read_dir(outer_target.path()).unwrap().count(),
        0,
        "wrote through an absolute symlink"
    );
    let inside = outer.path().join("layer");
    assert!(
        inside
            .join(target.trim_start_matches('/'))
            .join("pwned")
            .exists()
    );
    assert!(inside.join("pwned2").exists());
}

#[test]
fn hardlinks_cannot_reach_out() {
    let (_dir, result) = unpack_hostile(Layer::new().entry(raw(
        "passwd",
        tar::EntryType::Link,
        "../../../../etc/passwd",
    )));
    assert!(matches!(result, Err(UnpackError::Escape { .. })));
    // Through a symlink to / the target resolves inside the layer, where there is no such file.
    let layer = Layer::new().symlink("root", "/").entry(raw(
        "passwd",
        tar::EntryType::Link,
        "root/etc/passwd",
    ));
    let (outer, result) = unpack_hostile(layer);
    assert!(result.is_err(), "linked a host file");
    assert!(!outer.path().join("layer/passwd").exists());
}

#[test]
fn a_truncated_archive_is_an_error() {
    let tar = Layer::new().file("big", &vec![7u8; 10_000], 0o644).tar();
    let dest = tempfile::tempdir().unwrap();
    let err = unpack(&tar[..3000], dest.path(), ROOT).unwrap_err();
    assert!(matches!(err, UnpackError::Archive(_)), "{err}");
}

#[test]
fn a_directory_replaced_by_a_symlink_is_resolved_anew() {
    // "d" is entered (and kept open), replaced by a symlink to "/elsewhere", then written
    // into again: the write must land where the symlink points inside the layer.
    let (outer, result) = unpack_hostile(
        Layer::new()
            .dir("d", 0o755)
            .file("d/first", b"1", 0o644)
            .symlink("d", "/elsewhere")
            .entry(raw("d/second", tar::EntryType::Regular, "")),
    );
    result.unwrap();
    let layer = outer.path().join("layer");
    assert!(layer.join("elsewhere/second").exists());
    assert!(fs::symlink_metadata(layer.join("d")).unwrap().is_symlink());
}

#[test]
fn owners_and_modes_are_exact_without_a_chown_or_chmod_per_entry() {
    let dest = tempfile::tempdir().unwrap();
    let file = |path: &str, mode, uid, gid| Entry::File {
        path: path.into(),
        data: b"x".to_vec(),
        mode,
        uid,
        gid,
        xattrs: Vec::new(),
    };
    let dir = |path: &str, mode, gid| Entry::Dir {
        path: path.into(),
        mode,
        uid: 0,
        gid,
    };
    let layer = Layer::new()
        .entry(dir("shared", 0o2775, 50))
        .entry(file("shared/f", 0o644, 0, 0))
        .entry(dir("shared/sub", 0o755, 0))
        .symlink("shared/link", "f")
        .entry(file("plain", 0o644, 0, 0))
        .entry(file("open", 0o777, 0, 0))
        .entry(file("owned", 0o640, 1000, 1000))
        .entry(file("setuid", 0o4755, 0, 0));
    unpack(layer.tar().as_slice(), dest.path(), ROOT).unwrap();
    let meta = |p: &str| fs::symlink_metadata(dest.path().join(p)).unwrap();
    // A setgid directory would give new entries its group: they still get the tar's.
    assert_eq!(
        (meta("shared").gid(), meta("shared").mode() & 0o7777),
        (50, 0o2775)
    );
    assert_eq!(
        (meta("shared/f").gid(), meta("shared/f").mode() & 0o7777),
        (0, 0o644)
    );
    assert_eq!(
        meta("shared/sub").mode() & 0o7777,
        0o755,
        "no inherited setgid bit"
    );
    assert_eq!(meta("shared/sub").gid(), 0);
    assert_eq!(meta("shared/link").gid(), 0);
    assert_eq!(meta("plain").mode() & 0o7777, 0o644);
    assert_eq!(
        meta("open").mode() & 0o7777,
        0o777,
        "bits of the umask kept"
    );
    assert_eq!((meta("owned").uid(), meta("owned").gid()), (1000, 1000));
    assert_eq!(meta("setuid").mode() & 0o7777, 0o4755);
}
