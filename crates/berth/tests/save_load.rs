//! `berth save` and `berth load` against the real Docker and Podman: their archives load into
//! berth and run, berth's load into them and run, berth's own round trip, a compressed
//! archive, and archives cut short or changed, which fail and leave nothing behind.

mod common;

use berth_testkit::peers::{Dockerd, Podman};
use common::{Busybox, Env, Run};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Panics unless `out` succeeded, showing what it said; returns its standard output.
fn output_of(what: &str, out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `output_of`, as text.
fn succeeded(what: &str, out: Output) -> String {
    String::from_utf8_lossy(&output_of(what, out)).into_owned()
}

/// The standard output of `program ARGS FILE` (a compressor).
fn piped(program: &str, args: &[&str], file: &Path) -> Vec<u8> {
    let out = Command::new(program).args(args).arg(file).output();
    output_of(program, out.expect(program))
}

/// `berth load -i FILE` in `env`, then runs the image `image` there.
fn load_and_run(env: &Env, archive: &Path, image: &str) {
    let out = env.berth(&["load", "-i", archive.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, format!("Loaded image: {image}\n"));
    let ran = env
        .berth(&["run", "--rm", "--network", "none", image, "echo", "ok"])
        .ok();
    assert_eq!(ran.stdout, "ok\n");
    assert_tmp_empty(env);
}

/// Panics if the store's `tmp/` holds anything.
fn assert_tmp_empty(env: &Env) {
    let left: Vec<_> = std::fs::read_dir(env.root().join("tmp"))
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in tmp/: {left:?}");
}

/// Panics unless the store has no image, layer or work left.
fn assert_store_empty(env: &Env) {
    assert!(env.tags().is_empty(), "{:?}", env.tags());
    assert!(env.layer_dirs().is_empty(), "{:?}", env.layer_dirs());
    assert_tmp_empty(env);
    let images = std::fs::read(env.root().join("images.json")).unwrap_or_default();
    let images: serde_json::Value = serde_json::from_slice(&images).unwrap_or_default();
    assert!(
        images["images"].as_object().is_none_or(|m| m.is_empty()),
        "{images}"
    );
}

/// `berth load` with `archive` on its standard input.
fn load_from_stdin(env: &Env, archive: &[u8]) -> Run {
    use std::io::Write;
    let mut child = env
        .command()
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth");
    let mut stdin = child.stdin.take().expect("stdin");
    // berth may refuse the archive before reading all of it.
    let _ = stdin.write_all(archive);
    drop(stdin);
    Run::from(child.wait_with_output().expect("berth load"))
}

#[test]
fn archives_go_between_docker_and_berth() {
    let bb = Busybox::pulled();
    let docker = Dockerd::start().expect("dockerd");
    succeeded("docker pull", docker.docker(&["pull", "-q", &bb.image]));
    let dir = docker.dir();
    let from_docker = dir.join("docker.tar");
    let saved = docker.docker(&["save", "-o", from_docker.to_str().unwrap(), &bb.image]);
    succeeded("docker save", saved);

    // docker save -> berth load -> run, as a file and gzip'd on standard input.
    let env = Env::new();
    load_and_run(&env, &from_docker, &bb.image);
    let env = Env::new();
    let out = load_from_stdin(&env, &piped("gzip", &["-c"], &from_docker)).ok();
    assert_eq!(out.stdout, format!("Loaded image: {}\n", bb.image));

    // berth save -> docker load -> docker run, under a name docker has not seen.
    let name = format!("{}/saved-by-berth:1", bb.image.split('/').next().unwrap());
    bb.env.berth(&["tag", &bb.image, &name]).ok();
    let from_berth = dir.join("berth.tar");
    bb.env
        .berth(&["save", "-o", from_berth.to_str().unwrap(), &name])
        .ok();
    let loaded = docker.docker(&["load", "-i", from_berth.to_str().unwrap()]);
    assert!(
        succeeded("docker load", loaded).contains(&format!("Loaded image: {name}")),
        "{}",
        docker.log()
    );
    let ran = docker.docker(&["run", "--rm", "--network", "none", &name, "echo", "ok"]);
    assert_eq!(succeeded("docker run", ran), "ok\n");
}

#[test]
fn archives_go_between_podman_and_berth() {
    let bb = Busybox::pulled();
    let podman = Podman::new().expect("podman");
    let pulled = podman.podman(&["pull", "-q", "--tls-verify=false", &bb.image]);
    succeeded("podman pull", pulled);
    let dir = podman.dir();

    // podman save, both formats -> berth load -> run (the OCI one zstd'd as a whole).
    let docker_archive = dir.join("docker-archive.tar");
    let oci_archive = dir.join("oci-archive.tar");
    for (format, path) in [
        ("docker-archive", &docker_archive),
        ("oci-archive", &oci_archive),
    ] {
        let out = podman.podman(&[
            "save",
            "--format",
            format,
            "-o",
            path.to_str().unwrap(),
            &bb.image,
        ]);
        succeeded("podman save", out);
    }
    load_and_run(&Env::new(), &docker_archive, &bb.image);
    let zstd = dir.join("oci-archive.tar.zst");
    std::fs::write(&zstd, piped("zstd", &["-q", "-c"], &oci_archive)).unwrap();
    load_and_run(&Env::new(), &zstd, &bb.image);

    // berth save -> podman load -> podman run.
    let name = format!("{}/saved-by-berth:1", bb.image.split('/').next().unwrap());
    bb.env.berth(&["tag", &bb.image, &name]).ok();
    let from_berth = dir.join("berth.tar");
    bb.env
        .berth(&["save", "-o", from_berth.to_str().unwrap(), &name])
        .ok();
    let loaded = podman.podman(&["load", "-i", from_berth.to_str().unwrap()]);
    assert!(succeeded("podman load", loaded).contains(&name));
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(&Podman::RUN_LIMITS);
    args.extend_from_slice(&[&name, "echo", "ok"]);
    assert_eq!(succeeded("podman run", podman.podman(&args)), "ok\n");
}

#[test]
fn berth_save_loads_into_a_fresh_berth() {
    let bb = Busybox::pulled();
    let second = format!("{}/second:2", bb.image.split('/').next().unwrap());
    bb.env.berth(&["tag", &bb.image, &second]).ok();
    // To standard output, two names of one image: one image in the archive, both names.
    let out = bb
        .env
        .command()
        .args(["save", &bb.image, &second])
        .output()
        .expect("berth save");
    let archive = output_of("berth save", out);
    let env = Env::new();
    let loaded = load_from_stdin(&env, &archive).ok();
    assert_eq!(
        loaded.stdout,
        format!("Loaded image: {}\nLoaded image: {second}\n", bb.image)
    );
    let ran = env.berth(&["run", "--rm", "--network", "none", &second, "echo", "ok"]);
    assert_eq!(ran.ok().stdout, "ok\n");
    let ids = |env: &Env| env.berth(&["images", "-q", "--no-trunc"]).ok().stdout;
    assert_eq!(
        ids(&env),
        ids(&bb.env).lines().next().unwrap().to_owned() + "\n"
    );
    // `image save` / `image load`, by id: loaded without a name.
    let id = ids(&bb.env).trim().to_owned();
    let file = env.path().join("by-id.tar");
    bb.env
        .berth(&["image", "save", "-o", file.to_str().unwrap(), &id])
        .ok();
    let fresh = Env::new();
    let out = fresh
        .berth(&["image", "load", "-q", "-i", file.to_str().unwrap()])
        .ok();
    assert_eq!(out.stdout, format!("Loaded image ID: {id}\n"));
    // A terminal is refused, as Docker does; a missing image fails with Docker's code.
    let mut cmd = bb.env.command();
    cmd.args(["save", &bb.image]);
    let (said, code) = common::run_on_pty(cmd, b"", 24, 80);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("cowardly refusing to save to a terminal"),
        "{said}"
    );
    let missing = file.with_extension("none");
    bb.env
        .berth(&["save", "-o", missing.to_str().unwrap(), "nosuch:1"])
        .fails(1, "No such image");
    assert!(!missing.exists());
    let dir_entries = std::fs::read_dir(env.path()).unwrap().count();
    assert_eq!(dir_entries, std::fs::read_dir(env.path()).unwrap().count());
}

/// Rewrites the tar `archive` entry by entry: `change` gets each name and its bytes and
/// returns the entry to write instead (`None`: leave it out).
fn rewrite(
    archive: &[u8],
    mut change: impl FnMut(&str, Vec<u8>) -> Option<(String, Vec<u8>)>,
) -> Vec<u8> {
    use std::io::Read;
    let mut out = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(archive).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let mut header = entry.header().clone();
        if let Some((name, bytes)) = change(&name, bytes) {
            header.set_size(bytes.len() as u64);
            out.append_data(&mut header, name, &bytes[..]).unwrap();
        }
    }
    out.into_inner().unwrap()
}

#[test]
fn a_truncated_or_tampered_archive_fails_and_leaves_nothing() {
    let bb = Busybox::pulled();
    let out = bb.env.command().args(["save", &bb.image]).output().unwrap();
    let archive = output_of("berth save", out);
    let manifest: serde_json::Value = {
        let mut found = None;
        rewrite(&archive, |name, bytes| {
            if name == "manifest.json" {
                found = Some(serde_json::from_slice(&bytes).unwrap());
            }
            None
        });
        found.expect("manifest.json")
    };
    let layer = manifest[0]["Layers"][0].as_str().unwrap().to_owned();
    let flipped = rewrite(&archive, |name, mut bytes| {
        if name == layer {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x55;
        }
        Some((name.to_owned(), bytes))
    });
    let without_layer = rewrite(&archive, |name, bytes| {
        (name != layer).then(|| (name.to_owned(), bytes))
    });
    // The config names another diff id: changed as it is, it does not match its name; renamed
    // (and manifest.json with it), its layer does not match it.
    let config_name = manifest[0]["Config"].as_str().unwrap().to_owned();
    let mut config = Vec::new();
    rewrite(&archive, |name, bytes| {
        if name == config_name {
            config = bytes;
        }
        None
    });
    let mut parsed: serde_json::Value = serde_json::from_slice(&config).unwrap();
    let other = format!("sha256:{}", "0".repeat(64));
    parsed["rootfs"]["diff_ids"][0] = other.clone().into();
    let other_config = serde_json::to_vec(&parsed).unwrap();
    let changed_config = rewrite(&archive, |name, bytes| match name == config_name {
        true => Some((name.to_owned(), other_config.clone())),
        false => Some((name.to_owned(), bytes)),
    });
    let renamed = format!(
        "blobs/sha256/{}",
        berth_testkit::image::sha256_digest(&other_config).trim_start_matches("sha256:")
    );
    let other_diff_id = rewrite(&archive, |name, bytes| {
        if name == config_name {
            return Some((renamed.clone(), other_config.clone()));
        }
        if name == "manifest.json" {
            let text = String::from_utf8(bytes).unwrap();
            return Some((
                name.to_owned(),
                text.replace(&config_name, &renamed).into_bytes(),
            ));
        }
        Some((name.to_owned(), bytes))
    });
    // An extra entry named ../escape (the tar crate refuses to write one: patched in).
    let mut escaping = rewrite(&archive, |name, bytes| Some((name.to_owned(), bytes)));
    let name_field = b"../escape\0";
    escaping[..name_field.len()].copy_from_slice(name_field);
    let mut header = tar::Header::from_byte_slice(&escaping[..512]).clone();
    header.set_cksum();
    escaping[..512].copy_from_slice(header.as_bytes());

    for (what, bytes, needle) in [
        (
            "truncated",
            archive[..archive.len() / 2].to_vec(),
            "truncated",
        ),
        ("a flipped byte", flipped, &format!("layer {layer}: ")),
        ("a missing layer", without_layer, "which the archive lacks"),
        (
            "a changed config",
            changed_config,
            "does not match its digest",
        ),
        ("another diff id", other_diff_id, "the archive was changed"),
        ("a name with ..", escaping, "refused"),
    ] {
        let env = Env::new();
        let run = load_from_stdin(&env, &bytes);
        assert_eq!(run.code, 1, "{what}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("berth: cannot load the archive: ")
                && run.stderr.contains(needle),
            "{what}: {}",
            run.stderr
        );
        assert_store_empty(&env);
    }
}
