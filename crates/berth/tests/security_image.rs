//! Hostile registries and hostile layers (issue 18, items 8 and 9): each attack is performed
//! against the real registry, or the testkit's misbehaving proxy in front of it, and must end
//! in a clear error with nothing half-written in the store; a good image pulls afterwards.

mod common;

use berth_testkit::image::{BuiltImage, Entry, ImageSpec, Layer};
use berth_testkit::proxy::{Fault, FaultProxy};
use berth_testkit::registry::Registry;
use common::{Env, Run};
use std::path::Path;
use std::time::{Duration, Instant};

/// A small good image, pushed as `good`.
fn good() -> BuiltImage {
    ImageSpec::new(vec![Layer::new().file("good", b"good", 0o644)], &["x"]).build()
}

/// `n` bytes that do not compress.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A registry with `image` as `name` and the good image as `good`.
fn registry_with(name: &str, image: &BuiltImage) -> Registry {
    let registry = Registry::start_open().unwrap();
    let client = registry.client(None);
    client.push_image(name, "latest", image).unwrap();
    client.push_image("good", "latest", &good()).unwrap();
    registry
}

/// Nothing recorded, nothing in tmp/ (not even a lock file), no layer stored.
fn assert_nothing_stored(env: &Env) {
    assert!(env.tags().is_empty(), "recorded: {:?}", env.tags());
    assert_eq!(tmp_entries(env), Vec::<String>::new(), "left in tmp/");
    assert!(env.layer_dirs().is_empty(), "{:?}", env.layer_dirs());
}

fn tmp_entries(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.root().join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The good image still pulls, and leaves nothing in tmp/.
fn assert_good_pull_works(env: &Env, registry: &Registry) {
    env.berth(&["pull", "-q", &format!("{}/good", registry.host())])
        .ok();
    assert!(env.layer_with("good").join("good").is_file());
    assert_eq!(tmp_entries(env), Vec::<String>::new(), "left in tmp/");
}

/// Runs berth with `args`, killing it (and failing) if it runs past `limit`.
fn berth_within(env: &Env, args: &[&str], limit: Duration) -> Run {
    let mut child = env
        .command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "berth {args:?} still runs after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Run::from(child.wait_with_output().unwrap())
}

/// Waits until tmp/ holds a `.unpack` directory (a pull is unpacking a layer).
fn wait_for_unpack(env: &Env) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tmp_entries(env).iter().any(|n| n.ends_with(".unpack")) {
        assert!(Instant::now() < deadline, "no layer is being unpacked");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Item 8: a blob body longer than its descriptor is cut at the declared size, with and
/// without `Content-Length`; berth read the whole body before (an endless one forever).
#[test]
fn a_body_longer_than_its_descriptor_stops_at_the_declared_size() {
    let image = ImageSpec::new(
        vec![Layer::new().file("data", &noise(100_000), 0o644)],
        &["x"],
    )
    .build();
    let registry = registry_with("longer", &image);
    let layer = image.layers[0].digest.clone();
    for chunked in [true, false] {
        let proxy = FaultProxy::start(
            &registry.base_url(),
            vec![Fault::Longer {
                path: format!("/blobs/{layer}"),
                extra: 1 << 30,
                chunked,
                times: 100,
            }],
        )
        .unwrap();
        let env = Env::new();
        let out = env
            .berth(&["pull", &format!("{}/longer", proxy.host())])
            .fails(125, "the registry sends more of blob");
        assert!(out.stderr.contains(&layer), "{}", out.stderr);
        assert!(
            proxy.extra_bytes_sent() < 64 << 20,
            "berth read {} bytes past the blob (chunked: {chunked})",
            proxy.extra_bytes_sent()
        );
        assert_nothing_stored(&env);
        assert_good_pull_works(&env, &registry);
    }
}

/// Item 8: a GNU sparse file (tar type 'S') is refused, as Docker and containerd refuse it
/// ("unhandled tar header type 83"); berth expanded its holes before (here 256 MiB of zeros
/// from a few hundred bytes of layer).
#[test]
fn a_gnu_sparse_file_is_refused_as_docker_refuses_it() {
    let sparse = Layer::new()
        .file("before", b"x", 0o644)
        .entry(Entry::Sparse {
            path: "zeros".into(),
            real_size: 256 << 20,
            data: vec![1; 512],
        });
    let image = ImageSpec::new(vec![sparse], &["x"]).build();
    assert!(image.layers[0].data.len() < 10_000);
    let registry = registry_with("sparse", &image);
    let env = Env::new();
    let out = env
        .berth(&["pull", &format!("{}/sparse", registry.host())])
        .fails(125, "\"zeros\" is a GNU sparse file");
    assert!(
        out.stderr.contains(&image.layers[0].digest),
        "{}",
        out.stderr
    );
    assert_nothing_stored(&env);
    assert_good_pull_works(&env, &registry);
}

/// Item 8: an unpacked layer larger than `max-layer-size` is refused, with the layer and the
/// limit named; a small layer of zeros that unpacks to 64 MiB is the attack. (Docker has no
/// such limit.)
#[test]
fn a_layer_over_max_layer_size_is_refused() {
    let bomb = Layer::new().file("zeros", &vec![0; 64 << 20], 0o644);
    let image = ImageSpec::new(vec![bomb], &["x"]).build();
    assert!(image.layers[0].data.len() < 1 << 20);
    let registry = registry_with("bomb", &image);
    let env = Env::new();
    env.write_config(&serde_json::json!({ "max-layer-size": 1 << 20 }));
    let out = env
        .berth(&["pull", &format!("{}/bomb", registry.host())])
        .fails(
            125,
            "larger than 1048576 bytes, the limit of max-layer-size",
        );
    assert!(
        out.stderr.contains(&image.layers[0].digest),
        "{}",
        out.stderr
    );
    assert_nothing_stored(&env);
    assert_good_pull_works(&env, &registry);
}

/// Item 9: a blob body that stalls mid-way fails after the configured idle timeout (each
/// resume stalls again) instead of hanging for ever. Docker has no such timeout.
#[test]
fn a_stalled_blob_body_times_out() {
    let image = ImageSpec::new(
        vec![Layer::new().file("data", &noise(300_000), 0o644)],
        &["x"],
    )
    .build();
    let registry = registry_with("stall", &image);
    let layer = image.layers[0].digest.clone();
    let proxy = FaultProxy::start(
        &registry.base_url(),
        vec![Fault::Stall {
            path: format!("/blobs/{layer}"),
            after: 50_000,
            stall: Duration::from_secs(3600),
            times: 100,
        }],
    )
    .unwrap();
    let env = Env::new();
    env.write_config(&serde_json::json!({ "registry-idle-timeout": 1 }));
    let out = berth_within(
        &env,
        &["pull", &format!("{}/stall", proxy.host())],
        Duration::from_secs(120),
    )
    .fails(125, "sent nothing for 1s");
    assert!(out.stderr.contains(&layer), "{}", out.stderr);
    assert_nothing_stored(&env);
    assert_good_pull_works(&env, &registry);
}

/// A registry with a one-layer image `name` (and the good one), behind a proxy that stalls
/// the layer's download once for `stall`, 50 kB in: a pull is then mid-unpack.
fn stalling_once(name: &str, stall: Duration) -> (Registry, FaultProxy) {
    let image = ImageSpec::new(
        vec![Layer::new().file("data", &noise(300_000), 0o644)],
        &["x"],
    )
    .build();
    let registry = registry_with(name, &image);
    let proxy = FaultProxy::start(
        &registry.base_url(),
        vec![Fault::Stall {
            path: format!("/blobs/{}", image.layers[0].digest),
            after: 50_000,
            stall,
            times: 1,
        }],
    )
    .unwrap();
    (registry, proxy)
}

/// Item 9: what a SIGKILLed pull leaves in tmp/ (its layer's lock file and half-unpacked
/// directory) is removed by the next pull, even one of another image.
#[test]
fn a_killed_pull_leaves_nothing_the_next_pull_keeps() {
    let (registry, proxy) = stalling_once("killed", Duration::from_secs(3600));
    let env = Env::new();
    let mut pull = env
        .command()
        .args(["pull", "-q", &format!("{}/killed", proxy.host())])
        .spawn()
        .unwrap();
    wait_for_unpack(&env);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&pull),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    pull.wait().unwrap();
    let left = tmp_entries(&env);
    assert!(left.iter().any(|n| n.ends_with(".lock")), "{left:?}");
    assert!(left.iter().any(|n| n.ends_with(".unpack")), "{left:?}");
    assert_good_pull_works(&env, &registry);
    env.berth(&["pull", "-q", &format!("{}/killed", registry.host())])
        .ok();
    assert_eq!(tmp_entries(&env), Vec::<String>::new());
}

/// Item 9: the sweep of tmp/ leaves a live concurrent pull's work alone.
#[test]
fn a_live_pull_keeps_its_work_while_another_pull_sweeps() {
    let (registry, proxy) = stalling_once("slow", Duration::from_secs(4));
    let env = Env::new();
    let slow = env
        .command()
        .args(["pull", "-q", &format!("{}/slow", proxy.host())])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_unpack(&env);
    let before = tmp_entries(&env);
    env.berth(&["pull", "-q", &format!("{}/good", registry.host())])
        .ok();
    for name in before
        .iter()
        .filter(|n| n.ends_with(".unpack") || n.ends_with(".lock"))
    {
        assert!(
            tmp_entries(&env).contains(name),
            "the live pull's {name} was removed"
        );
    }
    let out = slow.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(env.layer_with("data").join("data")).unwrap(),
        noise(300_000)
    );
    assert_eq!(tmp_entries(&env), Vec::<String>::new());
}

/// Item 9: a full disk while unpacking says so and names the file, instead of calling the
/// archive corrupt.
#[test]
fn a_full_disk_while_unpacking_is_named() {
    let image = ImageSpec::new(
        vec![Layer::new().file("big", &noise(3 << 20), 0o644)],
        &["x"],
    )
    .build();
    let registry = registry_with("big", &image);
    let env = Env::new();
    std::fs::create_dir_all(env.root()).unwrap();
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
    let out = env
        .berth(&["pull", &format!("{}/big", registry.host())])
        .fails(125, "No space left on device");
    assert!(!out.stderr.contains("corrupt"), "{}", out.stderr);
    // The disk fills up under the unpacked file or under the kept blob, whichever is written
    // first (the blob is written on the decompressing thread, ahead of the unpacker).
    assert!(
        out.stderr
            .contains(&format!("{}/tmp/", env.root().display()))
            && (out.stderr.contains("/diff/big") || out.stderr.contains(".unpack/blob")),
        "the file is not named: {}",
        out.stderr
    );
    assert_nothing_stored(&env);
    assert_good_pull_works(&env, &registry);
}

/// Item 9: a tar header with control characters in a numeric field is reported in words,
/// not echoed to the terminal.
#[test]
fn a_corrupt_tar_header_is_told_cleanly() {
    let mut header = tar::Header::new_gnu();
    header.set_path("evil").unwrap();
    header.set_size(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.as_old_mut().mode = *b"\x1b]0;pw\x07\0";
    let layer = Layer::new().entry(Entry::Header {
        header: Box::new(header),
        data: Vec::new(),
    });
    let registry = registry_with("header", &ImageSpec::new(vec![layer], &["x"]).build());
    let env = Env::new();
    let out = env
        .berth(&["pull", &format!("{}/header", registry.host())])
        .fails(
            125,
            "the layer archive is corrupt: the tar header of \"evil\" has a malformed mode field",
        );
    assert!(
        !out.stderr.bytes().any(|b| b < 0x20 && b != b'\n'),
        "control bytes on stderr: {:?}",
        out.stderr
    );
    assert_nothing_stored(&env);
    assert_good_pull_works(&env, &registry);
}

/// Item 9: a registry that closes every connection, and one that accepts and never answers,
/// are told as such (not "unexpected end of file").
#[test]
fn a_registry_that_does_not_answer_is_named() {
    let closing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closing_host = closing.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in closing.incoming() {
            drop(stream);
        }
    });
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_host = silent.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let env = Env::new();
    env.write_config(&serde_json::json!({ "registry-idle-timeout": 1 }));
    let closed = berth_within(
        &env,
        &["pull", &format!("{closing_host}/x")],
        Duration::from_secs(60),
    )
    .fails(125, "closed the connection without answering");
    assert!(closed.stderr.contains(&closing_host), "{}", closed.stderr);
    let silent = berth_within(
        &env,
        &["pull", &format!("{silent_host}/x")],
        Duration::from_secs(60),
    )
    .fails(125, "sent nothing for 1s");
    assert!(silent.stderr.contains(&silent_host), "{}", silent.stderr);
    for out in [closed, silent] {
        assert!(
            !out.stderr.contains("unexpected end of file"),
            "{}",
            out.stderr
        );
    }
    assert_nothing_stored(&env);
}

/// The extended attributes of `path` (not following a symlink).
fn xattr_names(path: &Path) -> Vec<String> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(path, &mut buf).unwrap();
    buf[..n]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Item 9: overlayfs's own attributes in a layer (`trusted.overlay.redirect`, `metacopy`,
/// `opaque`, and their `user.overlay.*` forms) are not applied; the opaque marker berth
/// writes for `.wh..wh..opq` is, and other attributes are kept.
#[test]
fn overlay_xattrs_in_a_layer_are_stripped() {
    let pax = |names: &[(&str, &[u8])]| Entry::Pax {
        records: names
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.to_vec()))
            .collect(),
    };
    let layer = Layer::new()
        .entry(pax(&[
            ("trusted.overlay.redirect", b"/etc"),
            ("trusted.overlay.opaque", b"y"),
            ("user.overlay.redirect", b"/etc"),
            ("user.kept", b"1"),
        ]))
        .dir("redirected", 0o755)
        .entry(Entry::File {
            path: "redirected/meta".into(),
            data: b"x".to_vec(),
            mode: 0o644,
            uid: 0,
            gid: 0,
            xattrs: vec![
                ("trusted.overlay.metacopy".into(), Vec::new()),
                ("trusted.overlay.origin".into(), b"x".to_vec()),
            ],
        })
        .dir("opaque", 0o755)
        .opaque("opaque");
    let registry = registry_with("xattrs", &ImageSpec::new(vec![layer], &["x"]).build());
    let env = Env::new();
    env.berth(&["pull", "-q", &format!("{}/xattrs", registry.host())])
        .ok();
    let diff = env.layer_with("redirected");
    assert_eq!(xattr_names(&diff.join("redirected")), ["user.kept"]);
    assert_eq!(
        xattr_names(&diff.join("redirected/meta")),
        Vec::<String>::new()
    );
    assert_eq!(
        xattr_names(&diff.join("opaque")),
        ["trusted.overlay.opaque"]
    );
    assert_eq!(tmp_entries(&env), Vec::<String>::new());
    assert_good_pull_works(&env, &registry);
}
