//! Bad input and bad networks: each a clear error and exit code, and a store that stays
//! consistent (nothing half-written, no work left in tmp/).

mod common;

use berth_testkit::busybox;
use berth_testkit::image::{Entry, ImageSpec, Layer};
use berth_testkit::proxy::{Fault, FaultProxy};
use berth_testkit::registry::{Auth, Options, Registry};
use common::{Env, registry_blob_path};

fn image() -> berth_testkit::image::BuiltImage {
    let base = Layer::new().file(
        "data",
        &(0..200_000u32)
            .flat_map(|i| i.to_le_bytes())
            .collect::<Vec<_>>(),
        0o644,
    );
    let top = Layer::new().file("top", b"top", 0o644);
    ImageSpec::new(vec![base, top], &["x"]).build()
}

fn assert_nothing_stored(env: &Env) {
    assert!(
        env.tags().is_empty(),
        "an image was recorded: {:?}",
        env.tags()
    );
    env.assert_no_leftovers();
}

#[test]
fn bad_references_are_explained() {
    let env = Env::new();
    env.berth(&["pull", "UPPER/case"])
        .fails(125, "must be lowercase");
    env.berth(&["pull", "x@sha256:123"])
        .fails(125, "invalid reference format");
    env.berth(&["pull", "a:b:c"])
        .fails(125, "invalid reference format");
    env.berth(&["pull", "--no-such-flag", "x"])
        .fails(125, "unexpected argument");
}

#[test]
fn unknown_repositories_and_tags_show_the_registry_error() {
    let registry = Registry::start_open().unwrap();
    registry
        .client(None)
        .push_image("known", "latest", &image())
        .unwrap();
    let env = Env::new();
    env.berth(&["pull", &format!("{}/known:nope", registry.host())])
        .fails(125, "manifest unknown");
    env.berth(&["pull", &format!("{}/unknown", registry.host())])
        .fails(125, "not found");
    assert_nothing_stored(&env);
}

#[test]
fn a_corrupt_blob_is_named_and_nothing_is_stored() {
    let registry = Registry::start_open().unwrap();
    let image = image();
    registry
        .client(None)
        .push_image("corrupt", "latest", &image)
        .unwrap();
    let path = registry_blob_path(&registry, &image.layers[0].digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let env = Env::new();
    let out = env.berth(&["pull", &format!("{}/corrupt", registry.host())]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains(&image.layers[0].digest),
        "the digest is not named: {}",
        out.stderr
    );
    assert!(
        !env.layer_dirs().iter().any(|d| d.join("data").exists()),
        "the corrupt layer was stored"
    );
    assert_nothing_stored(&env);
}

#[test]
fn a_truncated_blob_is_refused() {
    let registry = Registry::start_open().unwrap();
    let image = image();
    registry
        .client(None)
        .push_image("truncated", "latest", &image)
        .unwrap();
    let path = registry_blob_path(&registry, &image.layers[0].digest);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let env = Env::new();
    let out = env.berth(&["pull", &format!("{}/truncated", registry.host())]);
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(
        out.stderr.contains(&image.layers[0].digest),
        "{}",
        out.stderr
    );
    assert_nothing_stored(&env);
}

#[test]
fn malformed_configs_are_refused() {
    let registry = Registry::start_open().unwrap();
    let client = registry.client(None);
    client
        .push_image(
            "badconfig",
            "latest",
            &image().with_config_bytes(b"{\"rootfs\": 42".to_vec()),
        )
        .unwrap();
    let env = Env::new();
    env.berth(&["pull", &format!("{}/badconfig", registry.host())])
        .fails(125, "malformed image config");
    // A config whose diff ids do not fit the layers.
    let mut config: serde_json::Value = serde_json::from_slice(&image().config.data).unwrap();
    config["rootfs"]["diff_ids"].as_array_mut().unwrap().pop();
    client
        .push_image(
            "fewer",
            "latest",
            &image().with_config_bytes(serde_json::to_vec(&config).unwrap()),
        )
        .unwrap();
    env.berth(&["pull", &format!("{}/fewer", registry.host())])
        .fails(125, "1 diff ids for 2 layers");
    assert_nothing_stored(&env);
}

#[test]
fn malformed_and_schema1_manifests_are_refused() {
    let registry = Registry::start_open().unwrap();
    registry
        .client(None)
        .push_image("served", "latest", &image())
        .unwrap();
    let docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
    let proxy = FaultProxy::start(
        &registry.base_url(),
        vec![
            Fault::Body {
                path: "/manifests/broken".into(),
                content_type: docker_manifest.into(),
                body: b"{ not json".to_vec(),
                times: 10,
            },
            Fault::Body {
                path: "/manifests/nolayers".into(),
                content_type: docker_manifest.into(),
                body: br#"{"schemaVersion":2,"config":{}}"#.to_vec(),
                times: 10,
            },
            Fault::Body {
                path: "/manifests/old".into(),
                content_type: "application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
                body: br#"{"schemaVersion":1,"name":"served","tag":"old","fsLayers":[]}"#.to_vec(),
                times: 10,
            },
            Fault::Body {
                path: "/manifests/weird".into(),
                content_type: "application/x-weird".into(),
                body: b"{}".to_vec(),
                times: 10,
            },
        ],
    )
    .unwrap();
    let env = Env::new();
    env.berth(&["pull", &format!("{}/served:broken", proxy.host())])
        .fails(125, "malformed image manifest");
    env.berth(&["pull", &format!("{}/served:nolayers", proxy.host())])
        .fails(125, "malformed image manifest");
    env.berth(&["pull", &format!("{}/served:old", proxy.host())])
        .fails(125, "schema 1 manifest");
    env.berth(&["pull", &format!("{}/served:weird", proxy.host())])
        .fails(
            125,
            "unsupported manifest media type \"application/x-weird\"",
        );
    assert_nothing_stored(&env);
    // A manifest asked for by digest must hash to it.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let digest_proxy = FaultProxy::start(
        &registry.base_url(),
        vec![Fault::Body {
            path: format!("/manifests/{wrong}"),
            content_type: docker_manifest.into(),
            body: image().manifest.data,
            times: 10,
        }],
    )
    .unwrap();
    env.berth(&["pull", &format!("{}/served@{wrong}", digest_proxy.host())])
        .fails(125, "content does not match its digest");
    assert_nothing_stored(&env);
}

#[test]
fn a_layer_with_an_escaping_path_is_refused() {
    let registry = Registry::start_open().unwrap();
    let evil = Layer::new().file("fine", b"ok", 0o644).entry(Entry::Raw {
        name: b"../../../../escaped-by-berth-test".to_vec(),
        kind: tar::EntryType::Regular,
        link: Vec::new(),
        data: b"pwned".to_vec(),
    });
    registry
        .client(None)
        .push_image(
            "evil",
            "latest",
            &ImageSpec::new(vec![evil], &["x"]).build(),
        )
        .unwrap();
    let env = Env::new();
    env.berth(&["pull", &format!("{}/evil", registry.host())])
        .fails(125, "points outside the layer");
    assert!(env.layer_dirs().is_empty());
    assert_nothing_stored(&env);
    for dir in [
        env.path().to_path_buf(),
        env.root(),
        std::path::PathBuf::from("/"),
    ] {
        assert!(!dir.join("escaped-by-berth-test").exists());
    }
}

#[test]
fn retries_5xx_and_429_and_resumes_cut_downloads() {
    let registry = Registry::start_open().unwrap();
    let image = image();
    registry
        .client(None)
        .push_image("flaky", "latest", &image)
        .unwrap();
    let layer = image.layers[0].digest.clone();
    let proxy = FaultProxy::start(
        &registry.base_url(),
        vec![
            Fault::Status {
                path: "/manifests/".into(),
                status: 503,
                retry_after: None,
                times: 2,
            },
            Fault::Status {
                path: format!("/blobs/{layer}"),
                status: 429,
                retry_after: Some(1),
                times: 1,
            },
            Fault::Cut {
                path: format!("/blobs/{layer}"),
                after: 20_000,
                times: 2,
            },
        ],
    )
    .unwrap();
    let env = Env::new();
    env.berth(&["pull", &format!("{}/flaky", proxy.host())])
        .ok();
    let ranges: Vec<String> = proxy
        .seen()
        .iter()
        .filter(|s| s.path.ends_with(&layer))
        .filter_map(|s| s.range.clone())
        .collect();
    assert!(
        ranges
            .iter()
            .any(|r| r.starts_with("bytes=") && r != "bytes=0-"),
        "no resumed download: {ranges:?}"
    );
    let data = std::fs::read(env.layer_with("data").join("data")).unwrap();
    assert_eq!(data.len(), 800_000);
    env.assert_no_leftovers();
}

#[test]
fn a_registry_that_stays_down_is_an_error() {
    let proxy_target = Registry::start_open().unwrap();
    let proxy = FaultProxy::start(
        &proxy_target.base_url(),
        vec![Fault::Status {
            path: "/v2/".into(),
            status: 503,
            retry_after: None,
            times: 100,
        }],
    )
    .unwrap();
    let env = Env::new();
    env.berth(&["pull", &format!("{}/down", proxy.host())])
        .fails(125, "503");
}

#[test]
fn redirects_to_blob_storage_carry_no_credentials() {
    let registry = Registry::start(Options {
        auth: Auth::basic("dave", "pw"),
        tls: false,
    })
    .unwrap();
    registry
        .client(Some(("dave", "pw")))
        .push_image("dave/app", "latest", &image())
        .unwrap();
    let proxy = FaultProxy::start(
        &registry.base_url(),
        vec![Fault::RedirectBlobs {
            upstream_basic: Some(("dave".into(), "pw".into())),
        }],
    )
    .unwrap();
    let env = Env::new();
    env.berth(&["login", "-u", "dave", "-p", "pw", &proxy.host()])
        .ok();
    env.berth(&["pull", &format!("{}/dave/app", proxy.host())])
        .ok();
    let seen = proxy.seen();
    let at_storage: Vec<_> = seen
        .iter()
        .filter(|s| s.host.starts_with("localhost"))
        .collect();
    assert!(!at_storage.is_empty(), "no redirect was followed");
    assert!(
        at_storage.iter().all(|s| s.authorization.is_none()),
        "credentials went to another host"
    );
    assert!(
        seen.iter()
            .any(|s| s.host.starts_with("127.0.0.1") && s.authorization.is_some()),
        "credentials never sent to the registry"
    );
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing() {
    let registry = Registry::start_open().unwrap();
    registry
        .client(None)
        .push_image("busybox", "latest", &busybox::image().unwrap().build())
        .unwrap();
    let env = Env::new();
    std::fs::create_dir_all(env.root()).unwrap();
    // A 1 MiB tmpfs cannot hold busybox (about 2 MB).
    rustix::mount::mount(
        "tmpfs",
        env.root(),
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        Some(c"size=1m"),
    )
    .expect("mount tmpfs (needs root)");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }
    let _unmount = Unmount(env.root());
    env.berth(&["pull", &format!("{}/busybox", registry.host())])
        .fails(125, "No space left on device");
    assert_nothing_stored(&env);
    assert!(env.layer_dirs().is_empty());
}

#[test]
fn pull_works_without_root_into_a_user_owned_store() {
    let registry = Registry::start_open().unwrap();
    registry
        .client(None)
        .push_image("rootless", "latest", &image())
        .unwrap();
    let env = Env::new();
    let home = env.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    for dir in [env.path(), home.as_path()] {
        std::os::unix::fs::chown(dir, Some(65534), Some(65534)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(assert_cmd::cargo::cargo_bin("berth"))
        .args(["pull", &format!("{}/rootless", registry.host())])
        .env_clear()
        .env("HOME", &home)
        .env("BERTH_ROOT", env.root())
        .env("BERTH_RUN_ROOT", env.path().join("run"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = env.layer_with("data").join("data");
    assert_eq!(
        std::fs::metadata(&data)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap(),
        65534
    );
}
