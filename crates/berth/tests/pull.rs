//! `berth pull` and the image commands end to end, against a real registry in each auth mode.

mod common;

use berth_testkit::image::{self, BuiltImage, Compression, Entry, Format, ImageSpec, Layer};
use berth_testkit::proxy::FaultProxy;
use berth_testkit::registry::Registry;
use common::Env;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn base_layer() -> Layer {
    Layer::new()
        .dir("etc", 0o755)
        .file("etc/os-release", b"NAME=berth-test\n", 0o644)
        .dir("opt", 0o755)
        .file("opt/gone", b"deleted above", 0o644)
        .dir("var/cache", 0o755)
        .file("var/cache/old", b"hidden above", 0o644)
        .symlink("etc/link", "os-release")
        .hardlink("etc/hard", "etc/os-release")
}

fn app_layer(content: &[u8]) -> Layer {
    Layer::new()
        .entry(Entry::File {
            path: "app/run".into(),
            data: content.to_vec(),
            mode: 0o4755,
            uid: 1000,
            gid: 1000,
            xattrs: vec![],
        })
        .whiteout("opt/gone")
        .opaque("var/cache")
}

fn two_layer_image(content: &[u8]) -> BuiltImage {
    ImageSpec::new(vec![base_layer(), app_layer(content)], &["/app/run"]).build()
}

#[test]
fn pulls_unpacks_lists_and_inspects() {
    let registry = Registry::start_open().unwrap();
    let image = two_layer_image(b"v1");
    registry
        .client(None)
        .push_image("team/app", "1.0", &image)
        .unwrap();
    let env = Env::new();
    let name = format!("{}/team/app:1.0", registry.host());

    let out = env.berth(&["pull", &name]).ok();
    assert!(out.stdout.contains("Pull complete"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("Digest: {}", image.manifest.digest)),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("Status: Downloaded newer image for {name}")),
        "{}",
        out.stdout
    );

    // The tree, layer by layer, as overlayfs will stack it.
    let base = env.layer_with("etc/os-release");
    assert_eq!(
        fs::read(base.join("etc/os-release")).unwrap(),
        b"NAME=berth-test\n"
    );
    assert_eq!(
        fs::read_link(base.join("etc/link")).unwrap().to_str(),
        Some("os-release")
    );
    assert_eq!(
        fs::metadata(base.join("etc/hard")).unwrap().ino(),
        fs::metadata(base.join("etc/os-release")).unwrap().ino()
    );
    let top = env.layer_with("app/run");
    let run = fs::metadata(top.join("app/run")).unwrap();
    assert_eq!((run.mode() & 0o7777, run.uid()), (0o4755, 1000));
    let gone = fs::symlink_metadata(top.join("opt/gone")).unwrap();
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "whiteout"
    );
    env.assert_no_leftovers();

    // Pulled again: nothing new.
    let again = env.berth(&["pull", &name]).ok();
    assert!(again.stdout.contains("Already exists"), "{}", again.stdout);
    assert!(
        again.stdout.contains("Image is up to date"),
        "{}",
        again.stdout
    );
    // -q: the digest alone.
    assert_eq!(
        env.berth(&["pull", "-q", &name]).ok().stdout.trim(),
        image.manifest.digest
    );
    // By digest.
    let by_digest = format!("{}/team/app@{}", registry.host(), image.manifest.digest);
    env.berth(&["pull", &by_digest]).ok();

    let images = env.berth(&["images"]).ok().stdout;
    let header = images.lines().next().unwrap();
    for column in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(column), "{images}");
    }
    let id = image.config.digest.trim_start_matches("sha256:");
    assert!(
        images.contains(&format!("{}/team/app", registry.host()))
            && images.contains("1.0")
            && images.contains(&id[..12]),
        "{images}"
    );
    assert_eq!(env.berth(&["images", "-q"]).ok().stdout.trim(), &id[..12]);
    let line = env.berth(&["images", "--format", "json"]).ok().stdout;
    let row: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(row["Tag"], "1.0");

    let inspect: serde_json::Value =
        serde_json::from_str(&env.berth(&["image", "inspect", &name]).ok().stdout).unwrap();
    let inspect = &inspect[0];
    assert_eq!(inspect["Id"], image.config.digest);
    assert_eq!(inspect["RepoTags"], json!([name]));
    assert_eq!(
        inspect["RepoDigests"],
        json!([format!(
            "{}/team/app@{}",
            registry.host(),
            image.manifest.digest
        )])
    );
    assert_eq!(inspect["Config"]["Cmd"], json!(["/app/run"]));
    assert_eq!(inspect["RootFS"]["Layers"], json!(image.diff_ids));
    assert_eq!(inspect["Os"], "linux");
    assert!(inspect["Size"].as_u64().unwrap() > 0);
    env.berth(&["image", "inspect", "nope:1"])
        .fails(1, "No such image: nope:1");
}

#[test]
fn every_manifest_format_and_compression_unpacks_the_same() {
    let registry = Registry::start_open().unwrap();
    let client = registry.client(None);
    let env = Env::new();
    for (i, (compression, format)) in [
        (Compression::Gzip, Format::Docker),
        (Compression::Zstd, Format::Docker),
        (Compression::None, Format::Docker),
        (Compression::Gzip, Format::Oci),
        (Compression::Zstd, Format::Oci),
        (Compression::None, Format::Oci),
    ]
    .into_iter()
    .enumerate()
    {
        let layer = Layer::new().file(
            &format!("file{i}"),
            format!("content {i}").as_bytes(),
            0o644,
        );
        let image = ImageSpec::new(vec![layer], &["x"])
            .compression(compression)
            .format(format)
            .build();
        client
            .push_image("formats", &format!("v{i}"), &image)
            .unwrap();
        env.berth(&["pull", &format!("{}/formats:v{i}", registry.host())])
            .ok();
        let dir = env.layer_with(&format!("file{i}"));
        assert_eq!(
            fs::read(dir.join(format!("file{i}"))).unwrap(),
            format!("content {i}").as_bytes()
        );
    }
}

#[test]
fn multi_platform_indexes_pick_the_platform() {
    let registry = Registry::start_open().unwrap();
    let env = Env::new();
    for format in [Format::Docker, Format::Oci] {
        let images = ["amd64", "arm64", "arm"]
            .iter()
            .map(|arch| {
                let variant = match *arch {
                    "arm64" => Some("v8"),
                    "arm" => Some("v7"),
                    _ => None,
                };
                let layer = Layer::new().file("arch", arch.as_bytes(), 0o644);
                ImageSpec::new(vec![layer], &["x"])
                    .format(format)
                    .platform(arch, variant)
                    .build()
            })
            .collect();
        let index = image::index(images, format);
        registry
            .client(None)
            .push_index("multi", "latest", &index)
            .unwrap();
        let name = format!("{}/multi:latest", registry.host());

        let host = env.berth(&["pull", &name]).ok();
        assert!(
            host.stdout
                .contains(&format!("Digest: {}", index.index.digest)),
            "{}",
            host.stdout
        );
        let arch = |env: &Env| {
            let out = env.berth(&["image", "inspect", &name]).ok().stdout;
            serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["Architecture"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(arch(&env), image::host_architecture());
        env.berth(&["pull", "--platform", "linux/arm64/v8", &name])
            .ok();
        assert_eq!(arch(&env), "arm64");
        env.berth(&["pull", "--platform", "linux/arm64", &name])
            .ok();
        assert_eq!(arch(&env), "arm64");
        env.berth(&["pull", "--platform", "linux/s390x", &name])
            .fails(125, "no image for linux/s390x in the manifest list; it offers: linux/amd64, linux/arm64/v8, linux/arm/v7");
        env.berth(&["pull", "--platform", "bogus", &name])
            .fails(125, "invalid platform");
    }
}

#[test]
fn layers_shared_between_images_are_fetched_and_stored_once() {
    let registry = Registry::start_open().unwrap();
    let client = registry.client(None);
    let first = two_layer_image(b"first");
    let second = two_layer_image(b"second");
    assert_eq!(first.layers[0].digest, second.layers[0].digest);
    client.push_image("shared/one", "latest", &first).unwrap();
    client.push_image("shared/two", "latest", &second).unwrap();
    let proxy = FaultProxy::start(&registry.base_url(), vec![]).unwrap();
    let env = Env::new();
    env.berth(&["pull", &format!("{}/shared/one", proxy.host())])
        .ok();
    let out = env
        .berth(&["pull", &format!("{}/shared/two", proxy.host())])
        .ok();
    assert!(
        out.stdout.contains(&format!(
            "{}: Already exists",
            &first.layers[0].digest[7..19]
        )),
        "{}",
        out.stdout
    );
    assert_eq!(env.layer_dirs().len(), 3);
    let base_gets = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with(&first.layers[0].digest))
        .count();
    assert_eq!(base_gets, 1);
}

#[test]
fn concurrent_pulls_are_safe_and_fetch_each_layer_once() {
    let registry = Registry::start_open().unwrap();
    let client = registry.client(None);
    let big = |tag: &[u8]| {
        let base = Layer::new().file("big", &vec![7u8; 4 << 20], 0o644);
        let top = Layer::new().file("tag", tag, 0o644);
        ImageSpec::new(vec![base, top], &["x"]).build()
    };
    client.push_image("race/a", "latest", &big(b"a")).unwrap();
    client.push_image("race/b", "latest", &big(b"b")).unwrap();
    let proxy = FaultProxy::start(&registry.base_url(), vec![]).unwrap();
    let env = Env::new();
    let spawned: Vec<_> = ["race/a", "race/b", "race/a", "race/b"]
        .iter()
        .map(|repo| {
            env.command()
                .args(["pull", "-q", &format!("{}/{repo}", proxy.host())])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in spawned {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.layer_dirs().len(), 3);
    let base = big(b"a").layers[0].digest.clone();
    let gets = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with(&base))
        .count();
    assert_eq!(gets, 1, "the shared layer was fetched {gets} times");
    assert_eq!(env.tags().len(), 2);
    env.assert_no_leftovers();
}

#[test]
fn a_terminal_gets_progress_bars() {
    let registry = Registry::start_open().unwrap();
    registry
        .client(None)
        .push_image("bars", "latest", &two_layer_image(b"bars"))
        .unwrap();
    let env = Env::new();
    let mut cmd = env.command();
    cmd.args(["pull", &format!("{}/bars", registry.host())]);
    let (text, code) = common::run_on_pty(cmd, b"", 24, 120);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Pull complete") && text.contains("Status: Downloaded newer image"),
        "{text}"
    );
    assert!(text.contains('\u{1b}'), "no terminal drawing: {text}");
}
