//! Healthchecks end to end: `--health-*`, the image's Healthcheck, `--no-healthcheck`, the
//! monitor's State.Health in `inspect` and the status in `ps`.

mod common;

use common::{Busybox, assert_nothing_leaked, inspect};
use std::time::{Duration, Instant};

/// Waits (at most 15 s) until the container's State.Health.Status is `status`; returns
/// State.Health.
fn health_becomes(bb: &Busybox, name: &str, status: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health = inspect(&bb.env, &["inspect", name])["State"]["Health"].clone();
        if health["Status"] == status {
            return health;
        }
        assert!(Instant::now() < deadline, "never {status}: {health:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The STATUS column of `ps` for container `name`.
fn ps_status(bb: &Busybox, name: &str) -> String {
    let out = bb
        .env
        .berth(&[
            "ps",
            "--format",
            "json",
            "--filter",
            &format!("name={name}"),
        ])
        .ok()
        .stdout;
    let line: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("a line")).unwrap();
    line["Status"].as_str().unwrap().to_owned()
}

#[test]
fn a_passing_check_makes_the_container_healthy() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "ok",
            "--health-cmd",
            "echo fine",
            "--health-interval",
            "1s",
            &bb.image,
            "sleep",
            "60",
        ])
        .ok();
    let starting = inspect(&bb.env, &["inspect", "ok"])["State"]["Health"].clone();
    assert_eq!(starting["Status"], "starting", "{starting:#}");
    assert!(ps_status(&bb, "ok").ends_with("(health: starting)"));
    let health = health_becomes(&bb, "ok", "healthy");
    assert_eq!(health["FailingStreak"], 0);
    let log = health["Log"].as_array().unwrap();
    let last = log.last().unwrap();
    assert_eq!(last["ExitCode"], 0);
    assert_eq!(last["Output"], "fine\n");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    let config = &inspect(&bb.env, &["inspect", "ok"])["Config"]["Healthcheck"];
    assert_eq!(
        config["Test"],
        serde_json::json!(["CMD-SHELL", "echo fine"])
    );
    assert_eq!(config["Interval"], 1_000_000_000i64);
    assert!(
        ps_status(&bb, "ok").ends_with("(healthy)"),
        "{}",
        ps_status(&bb, "ok")
    );
    // `ps --filter health=` chooses by it.
    let by_health = |value: &str| {
        bb.env
            .berth(&[
                "ps",
                "--format",
                "{{.Names}}",
                "--filter",
                &format!("health={value}"),
            ])
            .ok()
            .stdout
    };
    assert_eq!(by_health("healthy"), "ok\n");
    assert_eq!(by_health("unhealthy"), "");
    bb.env.berth(&["rm", "-f", "ok"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn failing_checks_make_it_unhealthy_after_the_retries_and_the_log_keeps_five() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "bad",
            "--health-cmd",
            "echo no >&2; exit 3",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            &bb.image,
            "sleep",
            "60",
        ])
        .ok();
    let health = health_becomes(&bb, "bad", "unhealthy");
    assert_eq!(health["FailingStreak"], 2);
    let last = health["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["ExitCode"].clone(), last["Output"].clone()),
        (3.into(), "no\n".into())
    );
    assert!(ps_status(&bb, "bad").ends_with("(unhealthy)"));
    // A stopped container's health is unhealthy, as Docker records it.
    bb.env.berth(&["stop", "-t", "1", "bad"]).ok();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = inspect(&bb.env, &["inspect", "bad"])["State"]["Health"].clone();
    assert_eq!(stopped["Status"], "unhealthy");
    assert!(stopped["Log"].as_array().unwrap().len() <= 5);
    bb.env.berth(&["rm", "bad"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_check_that_outlives_its_timeout_is_killed_and_fails() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "slow",
            "--health-cmd",
            "sleep 30",
            "--health-interval",
            "1s",
            "--health-timeout",
            "500ms",
            "--health-retries",
            "1",
            &bb.image,
            "sleep",
            "60",
        ])
        .ok();
    let health = health_becomes(&bb, "slow", "unhealthy");
    let last = health["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], -1);
    assert_eq!(last["Output"], "Health check exceeded timeout (500ms)");
    // The killed check is gone from the container: only its init and the next check, if any.
    let top = bb.env.berth(&["top", "slow"]).ok().stdout;
    assert!(top.matches("sleep 30").count() <= 1, "{top}");
    bb.env.berth(&["rm", "-f", "slow"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn the_images_healthcheck_is_used_and_no_healthcheck_turns_it_off() {
    let registry = berth_testkit::registry::Registry::start_open().expect("registry");
    let mut spec = berth_testkit::busybox::image().expect("busybox");
    spec.config["Healthcheck"] = serde_json::json!({
        "Test": ["CMD", "/bin/sh", "-c", "echo from the image"],
        "Interval": 1_000_000_000i64,
        "Retries": 1,
    });
    registry
        .client(None)
        .push_image("checked", "latest", &spec.build())
        .expect("push");
    let env = common::Env::new();
    let image = format!("{}/checked:latest", registry.host());
    env.berth(&["pull", "-q", &image]).ok();
    env.berth(&["run", "-d", "--name", "img", &image, "sleep", "60"])
        .ok();
    let bb = Busybox {
        registry,
        env,
        image: image.clone(),
    };
    let health = health_becomes(&bb, "img", "healthy");
    assert_eq!(health["Log"][0]["Output"], "from the image\n");
    // Options override the image's fields one by one.
    bb.env
        .berth(&[
            "create",
            "--name",
            "mixed",
            "--health-interval",
            "2s",
            &image,
            "true",
        ])
        .ok();
    let created = inspect(&bb.env, &["inspect", "mixed"]);
    assert!(created["State"].get("Health").is_none(), "{created:#}");
    let mixed = &created["Config"]["Healthcheck"];
    assert_eq!(mixed["Test"][3], "echo from the image");
    assert_eq!(
        (mixed["Interval"].clone(), mixed["Retries"].clone()),
        (2_000_000_000i64.into(), 1.into())
    );
    bb.env
        .berth(&[
            "run",
            "-d",
            "--name",
            "off",
            "--no-healthcheck",
            &image,
            "sleep",
            "60",
        ])
        .ok();
    let off = &inspect(&bb.env, &["inspect", "off"]);
    assert!(off["State"].get("Health").is_none(), "{off:#}");
    assert!(off["Config"].get("Healthcheck").is_none());
    assert!(!ps_status(&bb, "off").contains('('));
    assert!(
        !bb.env
            .root()
            .join("containers")
            .join(off["Id"].as_str().unwrap())
            .join("health.json")
            .exists()
    );
    bb.env
        .berth(&[
            "run",
            "--no-healthcheck",
            "--health-retries",
            "1",
            &image,
            "true",
        ])
        .fails(125, "--no-healthcheck conflicts with --health-* options");
    bb.env.berth(&["rm", "-f", "img", "off", "mixed"]).ok();
    assert_nothing_leaked(&bb.env);
}

#[test]
fn a_foreground_container_is_checked_too() {
    let bb = Busybox::pulled();
    let (mut child, _) = bb.env.spawn_until_line(&[
        "run",
        "--name",
        "fg",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        &bb.image,
        "sh",
        "-c",
        "echo up; sleep 60",
    ]);
    health_becomes(&bb, "fg", "healthy");
    bb.env.berth(&["kill", "fg"]).ok();
    child.wait().unwrap();
    bb.env.berth(&["rm", "fg"]).ok();
    assert_nothing_leaked(&bb.env);
}
