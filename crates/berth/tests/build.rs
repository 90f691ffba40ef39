//! `berth build` end to end, with the harness's busybox image pulled by berth: a multi-stage
//! Dockerfile run afterwards, its history, the cache (a rebuild makes nothing; a changed file
//! rebuilds from its step on), a failing `RUN`, a context on stdin with `--target`, and the
//! built image pushed and run by Docker.

mod common;

use berth_testkit::peers::Dockerd;
use common::{Busybox, Env, Run, assert_nothing_leaked};
use std::io::Write;
use std::path::Path;

fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

const DOCKERFILE: &str = r#"ARG BASE
FROM $BASE AS build
ARG GREETING=hi
ENV OUT=/out
WORKDIR /work
COPY app/*.txt app/*.conf ./
RUN mkdir -p $OUT && cat hello.txt > $OUT/greeting && echo "$GREETING" >> $OUT/greeting \
    && ls -A /work > $OUT/listing

FROM ${BASE}
LABEL org.example.team="berth builds"
EXPOSE 8080
COPY --from=build --chown=1000:1000 /out/ /srv/
WORKDIR /srv
USER 1000
HEALTHCHECK --interval=30s CMD true
ENTRYPOINT ["sh", "-c"]
CMD ["cat /srv/greeting /srv/listing; stat -c %u /srv/greeting; id -u; pwd"]
"#;

/// Writes the context: the Dockerfile, the app's files, and a `.dockerignore` that leaves
/// some out.
fn context(dir: &Path) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("app/hello.txt"), "hello\n").unwrap();
    std::fs::write(dir.join("app/extra.conf"), "x=1\n").unwrap();
    std::fs::write(dir.join("app/ignored.txt"), "no\n").unwrap();
    std::fs::write(dir.join(".dockerignore"), "**/ignored*\n*.md\n").unwrap();
}

fn build(env: &Env, args: &[&str]) -> Run {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    env.berth(&all)
}

#[test]
fn a_multi_stage_build_runs_is_cached_and_rebuilds_from_a_changed_file() {
    if !root() {
        return;
    }
    let bb = Busybox::pulled();
    let env = &bb.env;
    let ctx = env.path().join("ctx");
    context(&ctx);
    let ctx_arg = ctx.display().to_string();
    let base = format!("BASE={}", bb.image);
    let iid = env.path().join("iid");
    let iid_arg = iid.display().to_string();
    let args = [
        "-t",
        "app:1",
        "--build-arg",
        &base,
        "--build-arg",
        "GREETING=hey",
        "--iidfile",
        &iid_arg,
        &ctx_arg,
    ];
    let first = build(env, &args).ok();
    assert!(
        first.stdout.contains("Step 1/15 : FROM $BASE AS build"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("Successfully tagged app:1"),
        "{}",
        first.stdout
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(
        first
            .stdout
            .contains(&format!("Successfully built {}", &id[7..19]))
    );

    let ran = env
        .berth(&["run", "--rm", "--network", "none", "app:1"])
        .ok();
    assert_eq!(
        ran.stdout, "hello\nhey\nextra.conf\nhello.txt\n1000\n1000\n/srv\n",
        "{}",
        ran.stderr
    );
    let config = &common::inspect(env, &["image", "inspect", "app:1"])["Config"];
    assert_eq!(config["User"], "1000");
    assert_eq!(config["WorkingDir"], "/srv");
    assert_eq!(config["Labels"]["org.example.team"], "berth builds");
    assert!(config["ExposedPorts"]["8080/tcp"].is_object(), "{config}");
    assert_eq!(config["Entrypoint"], serde_json::json!(["sh", "-c"]));
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(config["Healthcheck"]["Interval"], 30_000_000_000u64);

    let history = env
        .berth(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "app:1",
        ])
        .ok()
        .stdout;
    let lines: Vec<&str> = history.lines().collect();
    assert!(
        lines[0].starts_with(r#"/bin/sh -c #(nop)  CMD ["cat /srv/greeting"#),
        "{history}"
    );
    assert_eq!(lines[1], r#"/bin/sh -c #(nop)  ENTRYPOINT ["sh" "-c"]"#);
    assert_eq!(lines[4], "/bin/sh -c #(nop) WORKDIR /srv");
    assert!(
        lines[5].starts_with("/bin/sh -c #(nop) COPY dir:") && lines[5].ends_with(" in /srv/ "),
        "{history}"
    );
    assert_eq!(
        lines[7],
        "/bin/sh -c #(nop)  LABEL org.example.team=berth builds"
    );
    // The build stage's RUN, with its build arg, as Docker's classic builder writes it.
    let all = env.berth(&["images", "-a", "-q", "--no-trunc"]).ok().stdout;
    let shown = env.berth(&["images", "-q", "--no-trunc"]).ok().stdout;
    assert_eq!(shown.lines().count(), 2, "only busybox and app:1: {shown}");
    assert!(all.lines().count() > 10, "{all}");
    let runs: Vec<String> = all
        .lines()
        .map(|i| {
            env.berth(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", i])
                .ok()
                .stdout
        })
        .filter(|h| h.contains("|1 GREETING=hey /bin/sh -c mkdir -p $OUT"))
        .collect();
    assert!(!runs.is_empty(), "no RUN with its build arg in any history");

    // Nothing changed: every step from the cache, no new layer.
    let layers = env.layer_dirs().len();
    let started = std::time::Instant::now();
    let again = build(env, &args).ok();
    // The issue asks <= 0.2 s for ten cached steps; a loaded machine gets some slack.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        again.stdout.matches(" ---> Using cache").count(),
        13,
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("Running in"), "{}", again.stdout);
    assert_eq!(env.layer_dirs().len(), layers);
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);

    // One file changed: its COPY and what follows are built again, the rest is cached.
    std::fs::write(ctx.join("app/hello.txt"), "changed\n").unwrap();
    let changed = build(
        env,
        &[
            "--progress",
            "plain",
            "-t",
            "app:2",
            "--build-arg",
            &base,
            "--build-arg",
            "GREETING=hey",
            &ctx_arg,
        ],
    )
    .ok();
    assert_eq!(
        changed.stderr.matches(" CACHED").count(),
        5,
        "{}",
        changed.stderr
    );
    assert!(
        changed
            .stderr
            .contains("[build 5/6] COPY app/*.txt app/*.conf ./"),
        "{}",
        changed.stderr
    );
    let ran = env
        .berth(&["run", "--rm", "--network", "none", "app:2"])
        .ok();
    assert!(ran.stdout.starts_with("changed\nhey\n"), "{}", ran.stdout);
    // A prune removes the intermediate images: the cache's entries are not used then.
    env.berth(&["image", "prune", "-f"]).ok();
    let after = build(env, &args).ok();
    assert!(after.stdout.contains("Running in"), "{}", after.stdout);
    assert!(
        env.berth(&["run", "--rm", "--network", "none", "app:1"])
            .ok()
            .stdout
            .starts_with("changed\n")
    );
    assert_nothing_leaked(env);
}

#[test]
fn a_failing_run_exits_1_with_dockers_message_and_leaves_nothing() {
    if !root() {
        return;
    }
    let bb = Busybox::pulled();
    let env = &bb.env;
    let ctx = env.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo made > /made\nRUN echo failing; exit 3\n",
            bb.image
        ),
    )
    .unwrap();
    let failed = build(env, &["-t", "broken:1", &ctx.display().to_string()]);
    assert!(failed.stdout.contains("failing"), "{}", failed.stdout);
    failed.fails(
        1,
        "The command '/bin/sh -c echo failing; exit 3' returned a non-zero code: 3",
    );
    assert!(
        !env.tags().iter().any(|t| t.contains("broken")),
        "{:?}",
        env.tags()
    );
    assert_nothing_leaked(env);
    let tmp: Vec<_> = std::fs::read_dir(env.root().join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    // A missing source and one outside the context are refused before anything runs.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nCOPY ../x /x\n", bb.image),
    )
    .unwrap();
    build(env, &[&ctx.display().to_string()]).fails(1, "outside the build context");
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nCOPY nothere /x\n", bb.image),
    )
    .unwrap();
    build(env, &[&ctx.display().to_string()]).fails(1, "file not found in build context");
}

#[test]
fn a_context_tar_on_stdin_builds_the_target_stage_and_docker_runs_the_pushed_image() {
    if !root() {
        return;
    }
    let bb = Busybox::pulled();
    let env = &bb.env;
    let dockerfile = format!(
        "FROM {} AS first\nCOPY note /note\nADD files.tar.gz /opt/\nCMD [\"cat\", \"/note\", \"/opt/inner\"]\n\
         FROM first\nRUN false\n",
        bb.image
    );
    let mut inner = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    inner
        .append_data(&mut header, "inner", &b"inner\n"[..])
        .unwrap();
    let inner = inner.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&inner).unwrap();
    let gz = gz.finish().unwrap();
    let mut context = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("Dockerfile", dockerfile.as_bytes()),
        ("note", b"a note\n"),
        ("files.tar.gz", &gz),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        context.append_data(&mut header, name, data).unwrap();
    }
    let context = context.into_inner().unwrap();
    let pushed = format!("{}/built/app:1", bb.registry.host());
    let mut child = env
        .command()
        .args(["build", "-q", "--target", "first", "-t", &pushed, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&context).unwrap();
    let out = Run::from(child.wait_with_output().unwrap()).ok();
    assert!(
        out.stdout.trim().starts_with("sha256:") && out.stdout.lines().count() == 1,
        "{}",
        out.stdout
    );
    let ran = env
        .berth(&["run", "--rm", "--network", "none", &pushed])
        .ok();
    assert_eq!(ran.stdout, "a note\ninner\n");
    env.berth(&["push", &pushed]).ok();
    let docker = Dockerd::start().unwrap();
    let pull = docker.docker(&["pull", &pushed]);
    assert!(
        pull.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&pull.stderr),
        docker.log()
    );
    let ran = docker.docker(&["run", "--rm", "--network", "none", &pushed]);
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "a note\ninner\n",
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_nothing_leaked(env);
}

/// Serves `body` once, for any request, on a loopback port; returns the port.
fn serve_once(body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn onbuild_triggers_run_after_from_add_downloads_a_url_and_heredocs_are_files_and_scripts() {
    if !root() {
        return;
    }
    let bb = Busybox::pulled();
    let env = &bb.env;
    let ctx = env.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nONBUILD RUN echo triggered > /trig\n", bb.image),
    )
    .unwrap();
    let ctx_arg = ctx.display().to_string();
    build(env, &["-t", "base:1", "--network", "none", &ctx_arg]).ok();
    let port = serve_once("downloaded\n");
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM base:1\nADD http://127.0.0.1:{port}/dir/file.txt /dl/\nENV WHO=heredoc\n\
             COPY <<EOF /etc/motd\nfrom $WHO\nEOF\nRUN <<EOF\necho script >> /etc/motd\nEOF\n\
             CMD cat /trig /dl/file.txt /etc/motd && stat -c %a /dl/file.txt\n"
        ),
    )
    .unwrap();
    build(env, &["-t", "child:1", "--network", "none", &ctx_arg]).ok();
    let ran = env
        .berth(&["run", "--rm", "--network", "none", "child:1"])
        .ok();
    assert_eq!(
        ran.stdout,
        "triggered\ndownloaded\nfrom heredoc\nscript\n600\n"
    );
    let config = &common::inspect(env, &["image", "inspect", "child:1"])["Config"];
    assert!(config["OnBuild"].is_null(), "{config}");
    assert_nothing_leaked(env);
}
