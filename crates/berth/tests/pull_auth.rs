//! Pulling from registries that want credentials: htpasswd basic auth, Docker Hub-style bearer
//! tokens, TLS with a registry CA in certs.d; `login` and `logout`.

mod common;

use berth_testkit::image::{ImageSpec, Layer};
use berth_testkit::registry::{Auth, Options, Registry};
use common::Env;
use serde_json::json;

/// An image of `layers` one-file layers whose contents start with `seed`.
fn small_image(seed: &str, layers: usize) -> berth_testkit::image::BuiltImage {
    let layers = (0..layers)
        .map(|i| Layer::new().file(&format!("layer{i}"), format!("{seed}{i}").as_bytes(), 0o644))
        .collect();
    ImageSpec::new(layers, &["sh"]).build()
}

#[test]
fn basic_auth_needs_login_and_refuses_a_wrong_password() {
    let registry = Registry::start(Options {
        auth: Auth::basic("alice", "s3cret"),
        tls: false,
    })
    .unwrap();
    registry
        .client(Some(("alice", "s3cret")))
        .push_image("alice/app", "latest", &small_image("a", 2))
        .unwrap();
    let env = Env::new();
    let host = registry.host();
    let name = format!("{host}/alice/app");

    env.berth(&["pull", &name])
        .fails(125, &format!("'berth login {host}'"));
    env.berth(&["login", "-u", "alice", "-p", "wrong", &host])
        .fails(125, "incorrect username or password");
    assert!(
        !env.path().join("docker/config.json").exists(),
        "a refused login stored credentials"
    );

    let mut login = env.command();
    login
        .args(["login", "-u", "alice", "--password-stdin", &host])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = login.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Login Succeeded")
    );
    let stored = std::fs::read_to_string(env.path().join("docker/config.json")).unwrap();
    assert!(stored.contains(&host), "{stored}");

    env.berth(&["pull", &name]).ok();
    assert_eq!(env.layer_dirs().len(), 2);
    assert!(
        env.berth(&["logout", &host])
            .ok()
            .stdout
            .contains(&format!("Removing login credentials for {host}"))
    );
    assert!(
        env.berth(&["logout", &host])
            .ok()
            .stdout
            .contains("Not logged in")
    );
}

#[test]
fn bearer_tokens_work_like_docker_hub() {
    let registry = Registry::start(Options {
        auth: Auth::token("bob", "hunter2", &["library/public"]),
        tls: false,
    })
    .unwrap();
    let owner = registry.client(Some(("bob", "hunter2")));
    owner
        .push_image("library/public", "latest", &small_image("public", 3))
        .unwrap();
    owner
        .push_image("bob/private", "latest", &small_image("private", 4))
        .unwrap();
    let env = Env::new();
    let host = registry.host();

    // Anonymous pull of a public repository: one token for its scope, reused for every blob.
    let before = registry.tokens_issued();
    env.berth(&["pull", &format!("{host}/library/public")]).ok();
    assert_eq!(
        registry.tokens_issued() - before,
        1,
        "tokens are reused within a pull"
    );

    // The private one needs a login.
    env.berth(&["pull", &format!("{host}/bob/private")])
        .fails(125, "access denied for bob/private");
    env.berth(&["login", "-u", "bob", "-p", "nope", &host])
        .fails(125, "incorrect username or password");
    env.berth(&["login", "-u", "bob", "-p", "hunter2", &host])
        .ok();
    env.berth(&["pull", &format!("{host}/bob/private")]).ok();
    assert_eq!(env.layer_dirs().len(), 3 + 4);
}

#[test]
fn tls_registries_use_the_ca_from_certs_d() {
    let registry = Registry::start(Options {
        auth: Auth::token("carol", "pw", &["carol/app"]),
        tls: true,
    })
    .unwrap();
    registry
        .client(Some(("carol", "pw")))
        .push_image("carol/app", "1", &small_image("tls", 1))
        .unwrap();
    let env = Env::new();
    let name = format!("{}/carol/app:1", registry.host());

    // Without the CA, the registry's certificate is not trusted.
    env.write_config(&json!({ "certs-dir": env.path().join("certs.d") }));
    let failed = env.berth(&["pull", &name]);
    assert_eq!(failed.code, 125, "{}", failed.stderr);

    let dir = env.path().join("certs.d").join(registry.host());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(registry.ca_path().unwrap(), dir.join("ca.crt")).unwrap();
    env.berth(&["pull", &name]).ok();
}

#[test]
fn a_token_refused_mid_pull_is_renewed() {
    let registry = Registry::start(Options {
        auth: Auth::token("erin", "pw", &["erin/app"]),
        tls: false,
    })
    .unwrap();
    let image = small_image("renew", 2);
    registry
        .client(Some(("erin", "pw")))
        .push_image("erin/app", "latest", &image)
        .unwrap();
    // The registry refuses the first blob request once, as it does with an expired token.
    let proxy = berth_testkit::proxy::FaultProxy::start(
        &registry.base_url(),
        vec![berth_testkit::proxy::Fault::Status {
            path: "/blobs/".into(),
            status: 401,
            retry_after: None,
            times: 1,
        }],
    )
    .unwrap();
    let env = Env::new();
    let before = registry.tokens_issued();
    env.berth(&["pull", &format!("{}/erin/app", proxy.host())])
        .ok();
    assert_eq!(
        registry.tokens_issued() - before,
        2,
        "one token, then one renewal after the 401"
    );
    assert_eq!(env.layer_dirs().len(), 2);
}
