//! `tag`, `rmi`, `image prune`, mirrors for docker.io and credential helpers.

mod common;

use berth_testkit::image::{ImageSpec, Layer};
use berth_testkit::registry::{Auth, Options, Registry};
use common::Env;
use serde_json::json;

fn image(top: &[u8]) -> berth_testkit::image::BuiltImage {
    let base = Layer::new().file("base", b"shared base", 0o644);
    ImageSpec::new(vec![base, Layer::new().file("top", top, 0o644)], &["x"]).build()
}

#[test]
fn tag_rmi_and_prune_keep_shared_layers_until_unused() {
    let registry = Registry::start_open().unwrap();
    let client = registry.client(None);
    client.push_image("one", "latest", &image(b"one")).unwrap();
    client.push_image("two", "latest", &image(b"two")).unwrap();
    let env = Env::new();
    let one = format!("{}/one", registry.host());
    let two = format!("{}/two", registry.host());
    env.berth(&["pull", &one]).ok();
    env.berth(&["pull", &two]).ok();
    assert_eq!(env.layer_dirs().len(), 3);
    // Each layer's blob is kept as it was pulled, for push and save.
    for blob in image(b"one").layers.iter().chain(&image(b"two").layers) {
        let path = env.root().join("blobs/sha256").join(&blob.digest[7..]);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            blob.data,
            "{}",
            path.display()
        );
    }

    env.berth(&["tag", &one, "mine/one:v1"]).ok();
    env.berth(&["tag", "nope", "x"])
        .fails(1, "No such image: nope");
    env.berth(&["tag", &one, "Bad/Name"])
        .fails(125, "must be lowercase");
    assert!(env.berth(&["images"]).ok().stdout.contains("mine/one"));
    // Removing by id while two tags point at it needs -f.
    let id = image(b"one").config.digest;
    env.berth(&["rmi", &id[7..19]]).fails(1, "must be forced");
    // Untagging one of two tags deletes nothing.
    let out = env.berth(&["rmi", "mine/one:v1"]).ok();
    assert_eq!(out.stdout.trim(), "Untagged: mine/one:v1");
    assert_eq!(env.layer_dirs().len(), 3);
    // The last tag goes: the image and its own layer go, the shared base stays for `two`.
    let out = env.berth(&["rmi", &one]).ok();
    assert!(
        out.stdout.contains(&format!("Untagged: {one}:latest"))
            && out.stdout.contains(&format!("Deleted: {id}")),
        "{}",
        out.stdout
    );
    assert_eq!(env.layer_dirs().len(), 2);
    env.layer_with("base");
    env.berth(&["rmi", &one]).fails(1, "No such image");
    // Prune -a takes the rest.
    let out = env.berth(&["image", "prune", "-a", "-f"]).ok();
    assert!(
        out.stdout.contains("Total reclaimed: 1 image(s)"),
        "{}",
        out.stdout
    );
    assert!(env.layer_dirs().is_empty());
    assert!(env.tags().is_empty());
    let blobs = std::fs::read_dir(env.root().join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0, "blobs left after every image is gone");
}

#[test]
fn docker_io_images_come_from_the_configured_mirror() {
    let mirror = Registry::start_open().unwrap();
    mirror
        .client(None)
        .push_image("library/mirrored", "latest", &image(b"mirrored"))
        .unwrap();
    let env = Env::new();
    env.write_config(&json!({ "registry-mirrors": [format!("http://{}", mirror.host())] }));
    let out = env.berth(&["pull", "mirrored"]).ok();
    assert!(
        out.stdout
            .contains("Status: Downloaded newer image for mirrored:latest"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .trim_end()
            .ends_with("docker.io/library/mirrored:latest"),
        "{}",
        out.stdout
    );
    let images = env.berth(&["images"]).ok().stdout;
    assert!(
        images.lines().any(|l| l.starts_with("mirrored ")),
        "{images}"
    );
}

#[test]
fn credential_helpers_from_docker_config_are_used() {
    let registry = Registry::start(Options {
        auth: Auth::basic("helen", "from-helper"),
        tls: false,
    })
    .unwrap();
    registry
        .client(Some(("helen", "from-helper")))
        .push_image("helen/app", "latest", &image(b"h"))
        .unwrap();
    let env = Env::new();
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(&helper, "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho '{\"ServerURL\":\"'$server'\",\"Username\":\"helen\",\"Secret\":\"from-helper\"}'\n").unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(env.path().join("docker")).unwrap();
    std::fs::write(
        env.path().join("docker/config.json"),
        json!({ "credHelpers": { registry.host(): "berthtest" } }).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = env
        .command()
        .env("PATH", path)
        .args(["pull", &format!("{}/helen/app", registry.host())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn images_used_by_containers_are_kept_until_forced() {
    let bb = common::Busybox::pulled();
    // A container that stays (no --rm) holds its image.
    bb.env
        .berth(&["run", "--name", "keeper", &bb.image, "true"])
        .ok();
    bb.env.berth(&["rmi", &bb.image]).fails(1, "must force");
    bb.env.berth(&["image", "prune", "-a", "-f"]).ok();
    assert!(
        !bb.env.layer_dirs().is_empty(),
        "prune removed an image a container uses"
    );
    let out = bb.env.berth(&["rmi", "-f", &bb.image]).ok();
    assert!(
        out.stdout.starts_with("Untagged:") && !out.stdout.contains("Deleted"),
        "{}",
        out.stdout
    );
    assert!(
        !bb.env.layer_dirs().is_empty(),
        "the layers of a used image were deleted"
    );
    // Once the container is gone, prune takes the untagged image.
    std::fs::remove_dir_all(bb.env.root().join("containers")).unwrap();
    bb.env.berth(&["image", "prune", "-f"]).ok();
    assert!(bb.env.layer_dirs().is_empty());
}
