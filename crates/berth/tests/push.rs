//! `berth push`: images berth pulled go out as the same blobs and digests, and Docker, Podman
//! and skopeo take them; blobs the registry has are skipped or mounted; large blobs go in
//! chunks; cut uploads start again; refusals are clear errors with exit 1.

mod common;

use berth_testkit::image::{BuiltImage, Compression, ImageSpec, Layer};
use berth_testkit::peers::{Dockerd, Podman, skopeo};
use berth_testkit::proxy::{Fault, FaultProxy};
use berth_testkit::registry::{Auth, Options, Registry};
use common::Env;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// busybox and four small layers over it: five layers.
fn five_layer_image() -> BuiltImage {
    let mut layers = vec![berth_testkit::busybox::layer().expect("busybox")];
    for i in 1..5 {
        layers.push(Layer::new().file(&format!("layer{i}"), format!("data {i}").as_bytes(), 0o644));
    }
    ImageSpec::new(layers, &["sh"]).build()
}

/// An image with one uncompressed layer of `mib` MiB: its blob is that large.
fn big_image(mib: usize) -> BuiltImage {
    let data: Vec<u8> = (0..mib << 20).map(|i| (i * 7 % 251) as u8).collect();
    ImageSpec::new(vec![Layer::new().file("big", &data, 0o644)], &["sh"])
        .compression(Compression::None)
        .build()
}

/// A registry with `image` as `repo:tag`, and an environment that pulled it from `host`
/// (the registry's, or a proxy's in front of it).
fn pulled(registry: &Registry, host: &str, repo: &str, image: &BuiltImage) -> (Env, String) {
    registry
        .client(None)
        .push_image(repo, "1", image)
        .expect("push");
    let env = Env::new();
    let name = format!("{host}/{repo}:1");
    env.berth(&["pull", "-q", &name]).ok();
    (env, name)
}

/// The `digest: sha256:... size: N` line's digest.
fn pushed_digest(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split(": digest: ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no digest line in {stdout}"))
        .to_owned()
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Uploads (`PATCH`, `PUT` of blobs) that `proxy` has seen.
fn uploads(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .seen()
        .into_iter()
        .filter(|s| (s.method == "PATCH" || s.method == "PUT") && s.path.contains("/blobs/"))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

#[test]
fn a_pushed_image_runs_in_docker_and_has_the_same_digests_in_podman_and_skopeo() {
    let source = Registry::start_open().unwrap();
    let target = Registry::start_open().unwrap();
    let image = five_layer_image();
    let (env, name) = pulled(&source, &source.host(), "src/app", &image);
    let dest = format!("{}/dst/app:v1", target.host());
    env.berth(&["tag", &name, &dest]).ok();

    let out = env.berth(&["push", &dest]).ok().stdout;
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/dst/app]",
            target.host()
        )),
        "{out}"
    );
    for layer in &image.layers {
        let short = &layer.digest["sha256:".len()..][..12];
        assert!(out.contains(&format!("{short}: Pushed")), "{out}");
    }
    let digest = pushed_digest(&out);
    // The very manifest pulled went out: same digest, same size.
    assert_eq!(digest, image.manifest.digest, "{out}");
    assert!(
        out.contains(&format!(
            "v1: digest: {digest} size: {}",
            image.manifest.data.len()
        )),
        "{out}"
    );
    let inspect = common::inspect(&env, &["image", "inspect", &dest]);
    let repo_digests = inspect["RepoDigests"].to_string();
    assert!(
        repo_digests.contains(&format!("{}/dst/app@{digest}", target.host())),
        "{repo_digests}"
    );

    // Pushed again: every layer is there already; the digest is the same.
    let again = env.berth(&["image", "push", &dest]).ok().stdout;
    assert_eq!(
        again.matches(": Layer already exists").count(),
        5,
        "{again}"
    );
    assert_eq!(pushed_digest(&again), digest);

    // An image berth made: a container's change, committed, goes out as the gzip blob kept.
    env.berth(&[
        "run",
        "--name",
        "maker",
        "--network",
        "none",
        &dest,
        "sh",
        "-c",
        "echo made > /made",
    ])
    .ok();
    let made = format!("{}/dst/made:1", target.host());
    env.berth(&["commit", "maker", &made]).ok();
    // And one whose new layer is zstd-compressed, as the config file can ask.
    env.write_config(&serde_json::json!({ "layer-compression": "zstd" }));
    let made_zstd = format!("{}/dst/made-zstd:1", target.host());
    env.berth(&["commit", "maker", &made_zstd]).ok();
    env.write_config(&serde_json::json!({}));
    env.berth(&["rm", "maker"]).ok();
    env.berth(&["push", &made_zstd]).ok();
    let out = env.berth(&["push", &made]).ok().stdout;
    assert_eq!(
        out.matches(": Layer already exists").count() + out.matches(": Mounted from").count(),
        5,
        "{out}"
    );
    assert_eq!(out.matches(": Pushed").count(), 1, "{out}");

    let docker = Dockerd::start().unwrap();
    let pull = docker.docker(&["pull", &dest]);
    assert!(pull.status.success(), "{}\n{}", text(&pull), docker.log());
    let ran = docker.docker(&["run", "--rm", "--network", "none", &dest, "echo", "ok"]);
    assert!(ran.status.success(), "{}", text(&ran));
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "ok");
    let pull = docker.docker(&["pull", &made]);
    assert!(pull.status.success(), "{}\n{}", text(&pull), docker.log());
    let ran = docker.docker(&["run", "--rm", "--network", "none", &made, "cat", "/made"]);
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "made",
        "{}",
        text(&ran)
    );
    let manifest = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{made_zstd}"),
    ]);
    assert!(
        String::from_utf8_lossy(&manifest.stdout).contains("tar+zstd"),
        "{}",
        text(&manifest)
    );
    let docker_digests = docker.docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &dest,
    ]);
    assert!(
        text(&docker_digests).contains(&digest),
        "{}",
        text(&docker_digests)
    );

    let podman = Podman::new().unwrap();
    let pull = podman.podman(&["pull", "-q", "--tls-verify=false", &dest]);
    assert!(pull.status.success(), "{}", text(&pull));
    let podman_digest = podman.podman(&["image", "inspect", "--format", "{{.Digest}}", &dest]);
    assert_eq!(
        String::from_utf8_lossy(&podman_digest.stdout).trim(),
        digest
    );

    // zstd layers: Debian's dockerd (20.10) predates them; Podman runs the image.
    let pull = podman.podman(&["pull", "-q", "--tls-verify=false", &made_zstd]);
    assert!(pull.status.success(), "{}", text(&pull));
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(&Podman::RUN_LIMITS);
    args.extend_from_slice(&[made_zstd.as_str(), "cat", "/made"]);
    let ran = podman.podman(&args);
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "made",
        "{}",
        text(&ran)
    );
    let skopeo_out = skopeo(&["inspect", "--tls-verify=false", &format!("docker://{dest}")]);
    assert!(skopeo_out.status.success(), "{}", text(&skopeo_out));
    let inspected: serde_json::Value = serde_json::from_slice(&skopeo_out.stdout).unwrap();
    assert_eq!(inspected["Digest"], digest);
    let layers: Vec<String> = image.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(inspected["Layers"], serde_json::json!(layers));
}

#[test]
fn blobs_are_mounted_from_the_repository_they_were_pulled_from() {
    let registry = Registry::start_open().unwrap();
    let proxy = FaultProxy::start(&registry.base_url(), Vec::new()).unwrap();
    let image = five_layer_image();
    let (env, name) = pulled(&registry, &proxy.host(), "src/app", &image);
    let dest = format!("{}/other/app:2", proxy.host());
    env.berth(&["tag", &name, &dest]).ok();
    let out = env.berth(&["push", &dest]).ok().stdout;
    assert_eq!(out.matches(": Mounted from src/app").count(), 5, "{out}");
    assert!(uploads(&proxy).is_empty(), "{:?}", uploads(&proxy));
    let mounts = proxy
        .seen()
        .iter()
        .filter(|s| {
            s.method == "POST" && s.path.contains("mount=") && s.path.contains("from=src/app")
        })
        .count();
    assert_eq!(mounts, 6, "five layers and the config");
    assert_eq!(pushed_digest(&out), image.manifest.digest);
    let manifest = registry
        .client(None)
        .get_manifest("other/app", "2")
        .unwrap();
    assert_eq!(manifest.body, image.manifest.data);

    // -a pushes every tag of the repository; -q prints the name alone.
    let second = format!("{}/other/app:3", proxy.host());
    env.berth(&["tag", &name, &second]).ok();
    let all = env
        .berth(&["push", "-a", &format!("{}/other/app", proxy.host())])
        .ok()
        .stdout;
    assert!(
        all.contains("2: digest: ") && all.contains("3: digest: "),
        "{all}"
    );
    let quiet = env.berth(&["push", "-q", &second]).ok().stdout;
    assert_eq!(quiet.trim(), second);
}

#[test]
fn large_blobs_go_in_chunks_and_a_cut_upload_starts_again() {
    let registry = Registry::start_open().unwrap();
    let proxy = FaultProxy::start(&registry.base_url(), Vec::new()).unwrap();
    let image = big_image(20);
    let (env, name) = pulled(&registry, &registry.host(), "src/big", &image);

    // Through the proxy (another host name: nothing to mount): two PATCHes, then one PUT.
    let via_proxy = format!("{}/chunked/big:1", proxy.host());
    env.berth(&["tag", &name, &via_proxy]).ok();
    env.berth(&["push", &via_proxy]).ok();
    let big = &image.layers[0].digest;
    let seen = uploads(&proxy);
    let patches = seen.iter().filter(|s| s.starts_with("PATCH")).count();
    assert_eq!(patches, 2, "{seen:?}");
    assert!(
        seen.iter()
            .any(|s| s.starts_with("PUT") && s.contains(&format!("digest={big}"))),
        "{seen:?}"
    );

    // The first connection that carries 4 MiB is cut: the upload starts again and succeeds.
    let cutter = Cutter::start(&registry.host(), 4 << 20, 1);
    let via_cutter = format!("{}/cut/big:1", cutter.host());
    env.berth(&["tag", &name, &via_cutter]).ok();
    let out = env.berth(&["push", &via_cutter]).ok().stdout;
    assert!(out.contains(&format!("{}: Pushed", &big[7..19])), "{out}");
    assert_eq!(cutter.cuts(), 1);
    let fresh = Env::new();
    fresh
        .berth(&["pull", "-q", &format!("{}/cut/big:1", registry.host())])
        .ok();

    // Cut every time: a clear error after a few attempts.
    let always = Cutter::start(&registry.host(), 4 << 20, usize::MAX);
    let doomed = format!("{}/cut/again:1", always.host());
    env.berth(&["tag", &name, &doomed]).ok();
    env.berth(&["push", &doomed]).fails(
        1,
        &format!(
            "upload of blob {big} to {}/cut/again failed 5 times",
            always.host()
        ),
    );
}

#[test]
fn push_needs_credentials_that_may_push() {
    let registry = Registry::start(Options {
        auth: Auth::token("bob", "hunter2", &[]),
        tls: false,
    })
    .unwrap();
    registry
        .client(Some(("bob", "hunter2")))
        .push_image("bob/src", "1", &five_layer_image())
        .unwrap();
    let env = Env::new();
    let host = registry.host();
    let name = format!("{host}/bob/src:1");
    let dest = format!("{host}/bob/dst:1");
    env.berth(&["login", "-u", "bob", "-p", "hunter2", &host])
        .ok();
    env.berth(&["pull", "-q", &name]).ok();
    env.berth(&["tag", &name, &dest]).ok();
    env.berth(&["logout", &host]).ok();
    env.berth(&["push", &dest])
        .fails(1, &format!("push access denied for bob/dst on {host}"));
    env.berth(&["push", &dest]).fails(
        1,
        "scope \"repository:bob/dst:push,pull repository:bob/src:pull\"",
    );
    env.berth(&["login", "-u", "bob", "-p", "hunter2", &host])
        .ok();
    let out = env.berth(&["push", &dest]).ok().stdout;
    assert_eq!(out.matches(": Mounted from bob/src").count(), 5, "{out}");

    // Basic auth: the stored credentials are sent.
    let basic = Registry::start(Options {
        auth: Auth::basic("alice", "s3cret"),
        tls: false,
    })
    .unwrap();
    let to_basic = format!("{}/alice/app:1", basic.host());
    env.berth(&["tag", &name, &to_basic]).ok();
    env.berth(&["push", &to_basic]).fails(
        1,
        &format!("push access denied for alice/app on {}", basic.host()),
    );
    env.berth(&["login", "-u", "alice", "-p", "s3cret", &basic.host()])
        .ok();
    env.berth(&["push", &to_basic]).ok();
    assert!(
        basic
            .client(Some(("alice", "s3cret")))
            .get_manifest("alice/app", "1")
            .is_ok()
    );
}

#[test]
fn refused_and_impossible_pushes_exit_1_with_a_clear_error() {
    let registry = Registry::start_open().unwrap();
    let image = five_layer_image();
    let (env, name) = pulled(&registry, &registry.host(), "src/app", &image);
    let host = registry.host();

    env.berth(&["push", &format!("{host}/nothing:1")]).fails(
        1,
        &format!("An image does not exist locally with the tag: {host}/nothing"),
    );
    env.berth(&["push", "-a", &name])
        .fails(1, "tag can't be used with --all-tags/-a");

    // The registry answers 404 to uploads; then 503, which is retried until it gives up.
    let not_found = FaultProxy::start(
        &registry.base_url(),
        vec![Fault::Status {
            path: "/blobs/uploads/".into(),
            status: 404,
            retry_after: None,
            times: usize::MAX,
        }],
    )
    .unwrap();
    let dest = format!("{}/dst/app:1", not_found.host());
    env.berth(&["tag", &name, &dest]).ok();
    env.berth(&["push", &dest])
        .fails(1, &format!("to {}/dst/app not found", not_found.host()));
    let busy = FaultProxy::start(
        &registry.base_url(),
        vec![Fault::Status {
            path: "/blobs/uploads/".into(),
            status: 503,
            retry_after: None,
            times: usize::MAX,
        }],
    )
    .unwrap();
    let dest = format!("{}/dst/app:1", busy.host());
    env.berth(&["tag", &name, &dest]).ok();
    env.berth(&["push", &dest]).fails(1, "HTTP 503");

    // A PUT answered 429 with Retry-After, once: the upload starts again and succeeds.
    let once = FaultProxy::start(
        &registry.base_url(),
        vec![Fault::Status {
            path: "digest=sha256".into(),
            status: 429,
            retry_after: Some(1),
            times: 1,
        }],
    )
    .unwrap();
    let dest = format!("{}/dst/app:1", once.host());
    env.berth(&["tag", &name, &dest]).ok();
    let started = std::time::Instant::now();
    env.berth(&["push", &dest]).ok();
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    let starts = once
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && s.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(starts, 7, "six blobs, one of them twice");

    // Nobody listens.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dest = format!("{closed}/dst/app:1");
    env.berth(&["tag", &name, &dest]).ok();
    env.berth(&["push", &dest])
        .fails(1, "cannot reach registry");

    // A layer without its blob (as an older berth stored it): pull again.
    let blobs = env.root().join("blobs/sha256");
    let layer = &image.layers[1].digest;
    std::fs::remove_file(blobs.join(&layer[7..])).unwrap();
    let dest = format!("{host}/dst/app:1");
    env.berth(&["tag", &name, &dest]).ok();
    env.berth(&["push", &dest])
        .fails(1, &format!("blob {layer} is not in the store"));
    env.berth(&["push", &dest]).fails(1, "pull the image again");
}

/// A TCP forwarder to a registry that cuts (both ways) the first `times` connections on which
/// the client has sent more than `after` bytes: an upload dropped midway.
struct Cutter {
    port: u16,
    cuts: Arc<AtomicUsize>,
}

impl Cutter {
    fn start(upstream: &str, after: usize, times: usize) -> Cutter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cuts = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_owned();
        let counter = Arc::clone(&cuts);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(&upstream) else {
                    return;
                };
                let (mut back_from, mut back_to) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut back_from, &mut back_to);
                    let _ = back_to.shutdown(Shutdown::Both);
                });
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 << 10];
                    let mut total = 0;
                    loop {
                        let n = match client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        total += n;
                        if total > after
                            && counter
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                                    (c < times).then_some(c + 1)
                                })
                                .is_ok()
                        {
                            let _ = client.shutdown(Shutdown::Both);
                            let _ = server.shutdown(Shutdown::Both);
                            return;
                        }
                        if server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = server.shutdown(Shutdown::Write);
                });
            }
        });
        Cutter { port, cuts }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// An image Docker pushed: berth pulls it and pushes it to another repository of the same
/// registry, mounting every blob from Docker's repository (no upload), with Docker's digest.
#[test]
fn an_image_docker_pushed_is_pulled_and_pushed_on_by_berth() {
    let registry = Registry::start_open().unwrap();
    let proxy = FaultProxy::start(&registry.base_url(), Vec::new()).unwrap();
    registry
        .client(None)
        .push_image("seed/app", "1", &five_layer_image())
        .unwrap();
    let docker = Dockerd::start().unwrap();
    let seed = format!("{}/seed/app:1", registry.host());
    let from_docker = format!("{}/fromdocker/app:1", registry.host());
    for args in [
        vec!["pull", seed.as_str()],
        vec!["tag", seed.as_str(), from_docker.as_str()],
        vec!["push", from_docker.as_str()],
    ] {
        let out = docker.docker(&args);
        assert!(out.status.success(), "docker {args:?}: {}", text(&out));
    }
    let docker_digest = text(&docker.docker(&[
        "image",
        "inspect",
        "--format",
        "{{join .RepoDigests \"\\n\"}}",
        &from_docker,
    ]));
    let docker_digest = docker_digest
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{}/fromdocker/app@", registry.host())))
        .unwrap_or_else(|| panic!("{docker_digest}"))
        .to_owned();

    let env = Env::new();
    let pulled = format!("{}/fromdocker/app:1", proxy.host());
    env.berth(&["pull", "-q", &pulled]).ok();
    let dest = format!("{}/onward/app:1", proxy.host());
    env.berth(&["tag", &pulled, &dest]).ok();
    let out = env.berth(&["push", &dest]).ok().stdout;
    assert_eq!(
        out.matches(": Mounted from fromdocker/app").count(),
        5,
        "{out}"
    );
    assert!(uploads(&proxy).is_empty(), "{:?}", uploads(&proxy));
    assert_eq!(pushed_digest(&out), docker_digest, "{out}");
}
