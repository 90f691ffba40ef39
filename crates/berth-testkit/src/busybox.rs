//! A busybox image built from Debian's `busybox-static`, for tests that need a shell.

use crate::image::{Entry, ImageSpec, Layer};
use std::process::Command;

/// Where Debian's `busybox-static` installs the binary; `BERTH_TEST_BUSYBOX` overrides it.
const DEFAULT_BUSYBOX: &str = "/bin/busybox";

/// The users the image knows: root, a regular user `app` (1000) with a supplementary group, and
/// nobody.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
app:x:1000:1000:app:/home/app:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:1001:app\nnogroup:x:65534:\n";

/// A one-layer busybox image: `/bin/busybox`, a symlink in `/bin` for every applet, `/etc/passwd`
/// and `/etc/group`, and the usual empty directories. Its command is `sh`.
pub fn image() -> crate::Result<ImageSpec> {
    Ok(ImageSpec::new(vec![layer()?], &["sh"]))
}

/// The busybox layer alone.
pub fn layer() -> crate::Result<Layer> {
    let path = std::env::var("BERTH_TEST_BUSYBOX").unwrap_or_else(|_| DEFAULT_BUSYBOX.into());
    let binary = std::fs::read(&path)
        .map_err(|e| format!("cannot read {path} (apt-get install busybox-static): {e}"))?;
    let list = Command::new(&path).arg("--list").output()?;
    if !list.status.success() {
        return Err(format!("{path} --list failed").into());
    }
    let mut layer = Layer::new();
    for dir in [
        "bin", "dev", "etc", "home", "proc", "root", "sys", "usr", "usr/bin", "var",
    ] {
        layer = layer.dir(dir, 0o755);
    }
    layer = layer
        .entry(Entry::Dir {
            path: "tmp".into(),
            mode: 0o1777,
            uid: 0,
            gid: 0,
        })
        .entry(Entry::Dir {
            path: "home/app".into(),
            mode: 0o755,
            uid: 1000,
            gid: 1000,
        })
        .file("bin/busybox", &binary, 0o755)
        .file("etc/passwd", PASSWD.as_bytes(), 0o644)
        .file("etc/group", GROUP.as_bytes(), 0o644);
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            layer = layer.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    Ok(layer)
}
