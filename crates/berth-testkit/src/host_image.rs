//! A distribution-like image made of this host's own files, for the pull benchmark: shaped like
//! a Debian-based Python image (a base layer, the Python standard library, site packages,
//! documentation and locales with many small files, then `RUN`-style layers with whiteouts, an
//! opaque directory, symlinks and hardlinks), seven layers of about 240 MB unpacked and 8,000
//! entries. Its bytes depend on the host, so it is built fresh by each run.

use crate::image::{ImageSpec, Layer};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// How much of a host tree goes into a layer.
struct Limit {
    files: usize,
    bytes: u64,
}

/// Adds `host` (a directory of this host) under `dest` in the image: directories, regular files
/// and symlinks in sorted order, until `limit` is reached. Returns the image paths of the files.
fn add_tree(mut layer: Layer, host: &Path, dest: &str, limit: &mut Limit) -> (Layer, Vec<String>) {
    let mut files = Vec::new();
    let Ok(read) = fs::read_dir(host) else {
        return (layer, files);
    };
    let mut names: Vec<_> = read.flatten().map(|e| e.file_name()).collect();
    names.sort();
    layer = layer.dir(dest, 0o755);
    for name in names {
        if limit.files == 0 || limit.bytes == 0 {
            break;
        }
        let path = host.join(&name);
        let image_path = format!("{dest}/{}", name.to_string_lossy());
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if let Ok(target) = fs::read_link(&path) {
                layer = layer.symlink(&image_path, &target.to_string_lossy());
                limit.files -= 1;
            }
        } else if meta.is_dir() {
            let (l, more) = add_tree(layer, &path, &image_path, limit);
            layer = l;
            files.extend(more);
        } else if meta.is_file() && meta.len() <= limit.bytes {
            let Ok(data) = fs::read(&path) else { continue };
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            layer = layer.file(&image_path, &data, mode);
            limit.files -= 1;
            limit.bytes -= meta.len();
            files.push(image_path);
        }
    }
    (layer, files)
}

/// A layer of the trees `(host dir, image dir)` within `files` entries and `mb` megabytes.
fn layer_of(trees: &[(&str, &str)], files: usize, mb: u64) -> (Layer, Vec<String>) {
    let mut limit = Limit {
        files,
        bytes: mb << 20,
    };
    let mut layer = Layer::new();
    let mut all = Vec::new();
    for (host, dest) in trees {
        let (l, f) = add_tree(
            layer,
            Path::new(host),
            dest.trim_start_matches('/'),
            &mut limit,
        );
        layer = l;
        all.extend(f);
    }
    (layer, all)
}

/// The Python-like image: seven gzip layers from this host's `/usr`.
pub fn python_image() -> ImageSpec {
    let (base, base_files) = layer_of(
        &[
            ("/usr/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"),
            ("/usr/bin", "/usr/bin"),
            ("/usr/share/perl", "/usr/share/perl"),
        ],
        1800,
        110,
    );
    let base = base
        .dir("etc", 0o755)
        .file("etc/debian_version", b"12.8\n", 0o644)
        .symlink("bin", "usr/bin")
        .symlink("lib", "usr/lib")
        .dir("tmp", 0o1777);
    let (stdlib, _) = layer_of(&[("/usr/lib/python3.11", "/usr/lib/python3.11")], 2000, 70);
    let stdlib = stdlib
        .file("usr/local/bin/python3.11", b"#!/bin/sh\n", 0o755)
        .hardlink("usr/local/bin/python3", "usr/local/bin/python3.11")
        .symlink("usr/local/bin/python", "python3");
    let (site, _) = layer_of(
        &[(
            "/usr/lib/python3/dist-packages",
            "/usr/local/lib/python3.11/site-packages",
        )],
        2400,
        45,
    );
    let (docs, doc_files) = layer_of(&[("/usr/share/doc", "/usr/share/doc")], 1200, 12);
    let (locale, locale_files) = layer_of(&[("/usr/share/locale", "/usr/share/locale")], 600, 12);
    // Hardlinks, as dpkg leaves them for identical files.
    let locale = locale_files
        .iter()
        .take(100)
        .enumerate()
        .fold(locale, |l, (i, f)| {
            l.hardlink(&format!("usr/share/locale-links/{i}.mo"), f)
        });
    // `RUN apt-get purge && rm -rf ...`: whiteouts over earlier layers, an opaque directory
    // rebuilt, and new files.
    let mut cleanup = Layer::new();
    for f in base_files
        .iter()
        .rev()
        .take(40)
        .chain(doc_files.iter().take(60))
    {
        cleanup = cleanup.whiteout(f);
    }
    let mut cleanup = cleanup
        .dir("usr/share/locale", 0o755)
        .opaque("usr/share/locale")
        .dir("usr/share/locale/en", 0o755);
    for i in 0..200 {
        cleanup = cleanup.file(
            &format!("usr/share/locale/en/m{i}.mo"),
            format!("message catalogue {i}\n").repeat(40).as_bytes(),
            0o644,
        );
    }
    // `COPY . /app`: many small source files and links between them.
    let mut app = Layer::new().dir("app", 0o755).dir("app/src", 0o755);
    for i in 0..400 {
        app = app.file(
            &format!("app/src/module_{i}.py"),
            format!("def f{i}(x):\n    return x * {i}\n")
                .repeat(20)
                .as_bytes(),
            0o644,
        );
    }
    for i in 0..100 {
        app = app.symlink(&format!("app/link_{i}.py"), &format!("src/module_{i}.py"));
    }
    ImageSpec::new(
        vec![base, stdlib, site, docs, locale, cleanup, app],
        &["python3"],
    )
}

/// How many of the Python image's layers its base image has.
pub const BASE_LAYERS: usize = 4;

/// An image of the first `BASE_LAYERS` layers of `image`: pulled first, it leaves those layers
/// in the store, as an image built on the same base does.
pub fn base_of(image: &ImageSpec) -> ImageSpec {
    let mut base = image.clone();
    base.layers.truncate(BASE_LAYERS);
    base
}
