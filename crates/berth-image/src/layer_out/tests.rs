use super::*;
use crate::unpack::{UnpackOptions, unpack};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};

fn root() -> bool {
    rustix::process::geteuid().is_root()
}

fn names(tar: &[u8]) -> Vec<String> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

fn mknod(dir: &Path, name: &str, kind: FileType, dev: u64) {
    fs::mknodat(
        fs::CWD,
        dir.join(name).as_path(),
        kind,
        Mode::from_raw_mode(0o640),
        dev,
    )
    .unwrap();
}

/// An upper directory with one of everything an overlay upper can hold.
fn scratch_upper(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc/empty")).unwrap();
    std::fs::write(dir.join("etc/new"), "new\n").unwrap();
    std::os::unix::fs::lchown(dir.join("etc/new"), Some(1000), Some(100)).unwrap();
    std::fs::set_permissions(dir.join("etc/new"), PermissionsExt::from_mode(0o4755)).unwrap();
    std::fs::hard_link(dir.join("etc/new"), dir.join("etc/new-link")).unwrap();
    symlink("../etc/new", dir.join("etc/sym")).unwrap();
    mknod(dir, "etc/gone", FileType::CharacterDevice, 0);
    mknod(dir, "fifo", FileType::Fifo, 0);
    mknod(dir, "tty", FileType::CharacterDevice, fs::makedev(5, 0));
    fs::setxattr(
        dir.join("etc/empty").as_path(),
        OPAQUE_XATTR,
        b"y",
        fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::setxattr(
        dir.join("etc/new").as_path(),
        "user.note",
        b"kept",
        fs::XattrFlags::empty(),
    )
    .unwrap();
    // A sparse file: a hole, then a byte.
    let sparse = std::fs::File::create(dir.join("sparse")).unwrap();
    sparse.set_len(1 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"x", (1 << 20) - 1).unwrap();
    let when = fs::Timestamps {
        last_access: fs::Timespec {
            tv_sec: 1_000_000,
            tv_nsec: 0,
        },
        last_modification: fs::Timespec {
            tv_sec: 1_000_000,
            tv_nsec: 0,
        },
    };
    fs::utimensat(
        fs::CWD,
        dir.join("etc/new").as_path(),
        &when,
        AtFlags::empty(),
    )
    .unwrap();
}

#[test]
fn an_upper_dir_round_trips_through_unpack() {
    if !root() {
        eprintln!("skipped: needs root (whiteouts, owners, trusted xattrs)");
        return;
    }
    let upper = tempfile::tempdir().unwrap();
    scratch_upper(upper.path());
    let tar = write_layer(upper.path(), Vec::new()).unwrap();
    assert_eq!(
        names(&tar),
        [
            "etc/",
            "etc/empty/",
            "etc/empty/.wh..wh..opq",
            "etc/.wh.gone",
            "etc/new",
            "etc/new-link",
            "etc/sym",
            "fifo",
            "sparse",
            "tty",
        ]
    );
    assert_eq!(
        tar,
        write_layer(upper.path(), Vec::new()).unwrap(),
        "deterministic"
    );

    let out = tempfile::tempdir().unwrap();
    unpack(&tar[..], out.path(), UnpackOptions::for_current_user()).unwrap();
    let o = out.path();
    let meta = |p: &str| std::fs::symlink_metadata(o.join(p)).unwrap();
    let new = meta("etc/new");
    assert_eq!(new.mode() & 0o7777, 0o4755);
    assert_eq!((new.uid(), new.gid(), new.mtime()), (1000, 100, 1_000_000));
    assert_eq!(
        new.ino(),
        meta("etc/new-link").ino(),
        "a hardlink stays one"
    );
    assert_eq!(std::fs::read(o.join("etc/new")).unwrap(), b"new\n");
    let mut note = [0u8; 8];
    let n = fs::getxattr(o.join("etc/new").as_path(), "user.note", &mut note[..]).unwrap();
    assert_eq!(&note[..n], b"kept");
    assert_eq!(
        std::fs::read_link(o.join("etc/sym")).unwrap(),
        Path::new("../etc/new")
    );
    let gone = meta("etc/gone");
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "a whiteout again"
    );
    let dir = open_root(&o.join("etc/empty")).unwrap();
    assert!(is_opaque(&dir), "opaque again");
    assert!(meta("fifo").file_type().is_fifo());
    assert_eq!(meta("tty").rdev(), fs::makedev(5, 0));
    let sparse = std::fs::read(o.join("sparse")).unwrap();
    assert_eq!(sparse.len(), 1 << 20);
    assert!(sparse[..(1 << 20) - 1].iter().all(|b| *b == 0) && sparse[(1 << 20) - 1] == b'x');
}

#[test]
fn a_merged_tree_applies_whiteouts_and_opaque_dirs() {
    if !root() {
        eprintln!("skipped: needs root (whiteouts, trusted xattrs)");
        return;
    }
    let (top, bottom) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = bottom.path();
    std::fs::create_dir_all(b.join("keep")).unwrap();
    std::fs::create_dir_all(b.join("emptied")).unwrap();
    std::fs::write(b.join("keep/a"), "old").unwrap();
    std::fs::write(b.join("keep/b"), "b").unwrap();
    std::fs::write(b.join("emptied/x"), "x").unwrap();
    std::fs::write(b.join("deleted"), "d").unwrap();
    std::fs::write(b.join("replaced"), "file").unwrap();
    let t = top.path();
    std::fs::create_dir_all(t.join("keep")).unwrap();
    std::fs::create_dir_all(t.join("emptied")).unwrap();
    std::fs::create_dir_all(t.join("replaced")).unwrap();
    std::fs::write(t.join("keep/a"), "new").unwrap();
    std::fs::write(t.join("replaced/in"), "").unwrap();
    mknod(t, "deleted", FileType::CharacterDevice, 0);
    fs::setxattr(
        t.join("emptied").as_path(),
        OPAQUE_XATTR,
        b"y",
        fs::XattrFlags::empty(),
    )
    .unwrap();
    let tar = write_merged(&[t, b], Vec::new()).unwrap();
    assert_eq!(
        names(&tar),
        [
            "emptied/",
            "keep/",
            "keep/a",
            "keep/b",
            "replaced/",
            "replaced/in"
        ]
    );
    let mut archive = tar::Archive::new(&tar[..]);
    let mut a = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap() == Path::new("keep/a"))
        .unwrap();
    let mut text = String::new();
    a.read_to_string(&mut text).unwrap();
    assert_eq!(text, "new", "the top layer wins");
}

#[test]
fn pax_records_count_their_own_length() {
    let record = pax_record("SCHILY.xattr.user.a", b"b");
    assert_eq!(record, b"25 SCHILY.xattr.user.a=b\n");
    let long = pax_record("k", &[b'v'; 95]);
    assert_eq!(long.len(), 102);
    assert!(long.starts_with(b"102 k="));
}
