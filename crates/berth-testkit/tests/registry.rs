//! The harness's own tests: images pushed in each auth mode read back byte for byte, and the
//! registry answers auth the way berth's client will meet it.

use berth_testkit::busybox;
use berth_testkit::client::{RegistryClient, parse_challenge};
use berth_testkit::image::{self, BuiltImage, Compression, Entry, Format, ImageSpec, Layer};
use berth_testkit::registry::{Auth, Options, Registry};
use ureq::http::Method;

/// A two-layer image with every kind of entry the builder knows.
fn rich_image(compression: Compression, format: Format) -> BuiltImage {
    let base = Layer::new()
        .dir("etc", 0o755)
        .file("etc/os-release", b"NAME=test\n", 0o644)
        .dir("opt", 0o755)
        .file("opt/old", b"old", 0o644)
        .file("opt/gone", b"gone", 0o644)
        .entry(Entry::File {
            path: "usr-ping".into(),
            data: b"\x7fELF".to_vec(),
            mode: 0o4755,
            uid: 0,
            gid: 0,
            xattrs: vec![(
                "security.capability".into(),
                vec![1, 0, 0, 2, 0, 0x20, 0, 0],
            )],
        })
        .symlink("link", "etc/os-release")
        .hardlink("hard", "etc/os-release")
        .entry(Entry::CharDevice {
            path: "null".into(),
            major: 1,
            minor: 3,
            mode: 0o666,
        })
        .entry(Entry::Fifo {
            path: "pipe".into(),
            mode: 0o600,
        });
    let top = Layer::new()
        .whiteout("opt/gone")
        .opaque("etc")
        .file("etc/new", b"new", 0o600);
    ImageSpec::new(vec![base, top], &["/bin/sh"])
        .compression(compression)
        .format(format)
        .build()
}

fn assert_reads_back(client: &RegistryClient, repo: &str, tag: &str, image: &BuiltImage) {
    let manifest = client.get_manifest(repo, tag).expect("manifest");
    assert_eq!(manifest.body, image.manifest.data, "manifest bytes");
    assert_eq!(manifest.header("content-type"), image.manifest.media_type);
    assert_eq!(
        manifest.header("docker-content-digest"),
        image.manifest.digest
    );
    assert_eq!(
        client.get_blob(repo, &image.config.digest).expect("config"),
        image.config.data
    );
    for layer in &image.layers {
        assert_eq!(
            client.get_blob(repo, &layer.digest).expect("layer"),
            layer.data,
            "layer {}",
            layer.digest
        );
    }
}

#[test]
fn open_registry_round_trips_every_format_and_compression() {
    let registry = Registry::start_open().expect("registry");
    let client = registry.client(None);
    for (i, (compression, format)) in [
        (Compression::Gzip, Format::Docker),
        (Compression::Zstd, Format::Oci),
        (Compression::None, Format::Oci),
        (Compression::None, Format::Docker),
    ]
    .into_iter()
    .enumerate()
    {
        let image = rich_image(compression, format);
        let tag = format!("v{i}");
        client.push_image("team/rich", &tag, &image).expect("push");
        assert_reads_back(&client, "team/rich", &tag, &image);
    }
}

#[test]
fn basic_auth_round_trips_and_refuses_a_wrong_password() {
    let registry = Registry::start(Options {
        auth: Auth::basic("alice", "s3cret"),
        tls: false,
    })
    .expect("registry");
    let image = rich_image(Compression::Gzip, Format::Docker);
    let client = registry.client(Some(("alice", "s3cret")));
    client
        .push_image("private/app", "1.0", &image)
        .expect("push");
    assert_reads_back(&client, "private/app", "1.0", &image);

    let wrong = registry.client(Some(("alice", "nope")));
    let answer = wrong
        .request(
            Method::GET,
            "/v2/private/app/manifests/1.0",
            &[],
            Vec::new(),
            "",
        )
        .expect("request");
    assert_eq!(answer.status, 401);
    assert!(
        answer.header("www-authenticate").starts_with("Basic "),
        "{}",
        answer.header("www-authenticate")
    );
}

#[test]
fn token_auth_works_like_docker_hub() {
    let registry = Registry::start(Options {
        auth: Auth::token("bob", "hunter2", &["library/public"]),
        tls: false,
    })
    .expect("registry");
    let image = rich_image(Compression::Zstd, Format::Oci);
    let bob = registry.client(Some(("bob", "hunter2")));
    bob.push_image("library/public", "latest", &image)
        .expect("push public");
    bob.push_image("bob/private", "latest", &image)
        .expect("push private");
    assert_reads_back(&bob, "bob/private", "latest", &image);
    assert!(registry.tokens_issued() > 0);

    // Anonymous: the public repository reads back, the private one is a Bearer challenge.
    let anonymous = registry.client(None);
    assert_reads_back(&anonymous, "library/public", "latest", &image);
    let answer = anonymous
        .raw(
            Method::GET,
            "/v2/bob/private/manifests/latest",
            &[],
            Vec::new(),
            None,
        )
        .expect("request");
    assert_eq!(answer.status, 401);
    let challenge = answer.header("www-authenticate");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    let params = parse_challenge(challenge);
    assert!(
        params["realm"].starts_with("http://127.0.0.1:"),
        "{challenge}"
    );
    assert_eq!(params["service"], "berth-test-registry");
    assert_eq!(params["scope"], "repository:bob/private:pull");
    // With an anonymous token the private repository stays closed.
    let still = anonymous.get_manifest("bob/private", "latest");
    assert!(still.unwrap_err().to_string().contains("401"));
    // Anonymous push to the public repository is refused too.
    assert!(
        anonymous
            .push_image("library/public", "evil", &image)
            .is_err()
    );

    // A wrong password is refused by the token endpoint.
    let wrong = registry.client(Some(("bob", "wrong")));
    let err = wrong
        .get_manifest("bob/private", "latest")
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
}

#[test]
fn tls_registry_with_token_auth_round_trips() {
    let registry = Registry::start(Options {
        auth: Auth::token("carol", "pw", &[]),
        tls: true,
    })
    .expect("registry");
    assert!(registry.base_url().starts_with("https://"));
    let image = rich_image(Compression::Gzip, Format::Oci);
    let client = registry.client(Some(("carol", "pw")));
    client.push_image("carol/app", "1", &image).expect("push");
    assert_reads_back(&client, "carol/app", "1", &image);
    // A client that does not trust the CA cannot talk to it.
    let untrusting = RegistryClient::new(&registry.base_url(), None, None);
    assert!(untrusting.ping().is_err());
}

#[test]
fn multi_platform_index_round_trips() {
    let registry = Registry::start_open().expect("registry");
    let client = registry.client(None);
    for format in [Format::Docker, Format::Oci] {
        let layer = Layer::new().file("arch", b"x", 0o644);
        let images = vec![
            ImageSpec::new(vec![layer.clone()], &["a"])
                .format(format)
                .platform("amd64", None)
                .build(),
            ImageSpec::new(vec![layer.clone()], &["b"])
                .format(format)
                .platform("arm64", Some("v8"))
                .build(),
            ImageSpec::new(vec![layer], &["c"])
                .format(format)
                .platform("arm", Some("v7"))
                .build(),
        ];
        let index = image::index(images, format);
        client
            .push_index("multi", "latest", &index)
            .expect("push index");
        let answer = client.get_manifest("multi", "latest").expect("index");
        assert_eq!(answer.body, index.index.data);
        assert_eq!(answer.header("content-type"), index.index.media_type);
        for image in &index.images {
            assert_reads_back(&client, "multi", &image.manifest.digest, image);
        }
    }
}

#[test]
fn layers_hold_the_entries_described() {
    let image = rich_image(Compression::None, Format::Oci);
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(image.layers[0].data.as_slice());
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        if path == "usr-ping" {
            assert_eq!(entry.header().mode().unwrap(), 0o4755);
            let xattrs: Vec<String> = entry
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|e| e.unwrap().key().unwrap().to_owned())
                .collect();
            assert_eq!(xattrs, ["SCHILY.xattr.security.capability"]);
        }
        names.push((path, entry.header().entry_type()));
    }
    assert!(names.contains(&("null".into(), tar::EntryType::Char)));
    assert!(names.contains(&("hard".into(), tar::EntryType::Link)));
    assert!(names.contains(&("pipe".into(), tar::EntryType::Fifo)));
    let top: Vec<String> = tar::Archive::new(image.layers[1].data.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, ["opt/.wh.gone", "etc/.wh..wh..opq", "etc/new"]);
    // Hostile names are written exactly as given.
    let evil = Layer::new().entry(Entry::Raw {
        name: b"../../escape".to_vec(),
        kind: tar::EntryType::Regular,
        link: Vec::new(),
        data: b"x".to_vec(),
    });
    let tar_bytes = evil.tar();
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(&*entry.path_bytes(), b"../../escape");
}

#[test]
fn busybox_image_pushes_and_has_a_shell() {
    let registry = Registry::start_open().expect("registry");
    let image = busybox::image().expect("busybox").build();
    let client = registry.client(None);
    client
        .push_image("busybox", "latest", &image)
        .expect("push");
    assert_reads_back(&client, "busybox", "latest", &image);
    let tar = flate2::read::GzDecoder::new(image.layers[0].data.as_slice());
    let names: Vec<String> = tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for needed in ["bin/busybox", "bin/sh", "etc/passwd", "tmp"] {
        assert!(names.iter().any(|n| n == needed), "{needed} missing");
    }
}
