//! `commit`, `export`, `import`, `history` and `diff` with real containers of the harness's
//! busybox image.

mod common;

use common::{Busybox, Env, Run, assert_nothing_leaked};
use std::io::{Read, Write};

fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: needs root");
    false
}

/// `berth run --rm IMAGE sh -c SCRIPT`.
fn sh(env: &Env, image: &str, script: &str) -> Run {
    env.berth(&["run", "--rm", image, "sh", "-c", script])
}

#[test]
fn commit_keeps_what_a_container_created_changed_deleted_and_emptied() {
    if !root() {
        return;
    }
    let bb = Busybox::pulled();
    let env = &bb.env;
    // A base with a full directory, to be emptied on top of it.
    env.berth(&[
        "run",
        "--name",
        "base",
        &bb.image,
        "sh",
        "-c",
        "mkdir -p /srv/full && echo 1 > /srv/full/a && echo 2 > /srv/full/b",
    ])
    .ok();
    let base = env.berth(&["commit", "base", "base:1"]).ok().stdout;
    assert!(
        base.trim().starts_with("sha256:") && base.trim().len() == 71,
        "{base}"
    );
    env.berth(&[
        "run", "--name", "work", "base:1", "sh", "-c",
        "echo hi > /home/new && ln /home/new /home/link && echo 'x:x:9:9::/:/bin/sh' >> /etc/passwd \
         && rm /etc/group && rm -r /srv/full && mkdir /srv/full && echo z > /srv/full/z",
    ])
    .ok();
    let diff = env.berth(&["diff", "work"]).ok().stdout;
    assert_eq!(
        diff,
        "C /etc\nD /etc/group\nC /etc/passwd\nC /home\nA /home/link\nA /home/new\nC /srv\nC /srv/full\nA /srv/full/z\n"
    );
    // An extended attribute set in the container's upper directory goes into the layer.
    let id = common::inspect(env, &["inspect", "work"])["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let upper_file = env
        .root()
        .join("containers")
        .join(&id)
        .join("upper/home/new");
    rustix::fs::setxattr(
        &upper_file,
        "user.note",
        b"kept",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();

    env.berth(&[
        "commit",
        "-a",
        "Ann <ann@example.com>",
        "-m",
        "emptied full",
        "-c",
        r#"CMD ["echo","hi"]"#,
        "work",
        "new:1",
    ])
    .ok();
    let seen = sh(
        env,
        "new:1",
        "cat /home/new; tail -n1 /etc/passwd; [ -e /etc/group ] || echo no-group; ls /srv/full; \
         [ \"$(ls -i /home/new | cut -d' ' -f1)\" = \"$(ls -i /home/link | cut -d' ' -f1)\" ] && echo linked",
    )
    .ok()
    .stdout;
    assert_eq!(seen, "hi\nx:x:9:9::/:/bin/sh\nno-group\nz\nlinked\n");
    let layer = env.layer_with("srv/full/z");
    let mut value = [0u8; 8];
    let n = rustix::fs::getxattr(layer.join("home/new"), "user.note", &mut value[..]).unwrap();
    assert_eq!(&value[..n], b"kept");
    // The CMD change: run without a command.
    assert_eq!(env.berth(&["run", "--rm", "new:1"]).ok().stdout, "hi\n");

    // history: Docker's columns, the newest entry first with its author's comment.
    let history = env.berth(&["history", "new:1"]).ok().stdout;
    let lines: Vec<&str> = history.lines().collect();
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        "{history}"
    );
    let new_id = common::inspect(env, &["image", "inspect", "new:1"])["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(lines[1].starts_with(&new_id[7..19]), "{history}");
    assert!(
        lines[1].contains(" ago ") && lines[1].trim_end().ends_with("emptied full"),
        "{history}"
    );
    assert!(
        lines[2..].iter().all(|l| l.starts_with("<missing>")),
        "{history}"
    );
    let quiet = env.berth(&["history", "-q", "new:1"]).ok().stdout;
    assert_eq!(quiet.lines().count(), lines.len() - 1);
    let json = env
        .berth(&["history", "--format", "json", "--no-trunc", "new:1"])
        .ok()
        .stdout;
    let top: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(top["ID"], new_id);
    assert_eq!(top["Comment"], "emptied full");
    // A Go template, as `docker history --format` takes one.
    let templated = env
        .berth(&[
            "history",
            "--format",
            "{{.ID}}|{{.Comment}}",
            "--no-trunc",
            "new:1",
        ])
        .ok()
        .stdout;
    assert_eq!(
        templated.lines().next().unwrap(),
        format!("{new_id}|emptied full")
    );
    let table = env
        .berth(&[
            "history",
            "--format",
            "table {{.ID}}\t{{.Comment}}",
            "new:1",
        ])
        .ok()
        .stdout;
    assert!(table.starts_with("IMAGE"), "{table}");
    assert!(table.contains("COMMENT"), "{table}");
    let config = common::inspect(env, &["image", "inspect", "new:1"]);
    assert_eq!(config["Config"]["Cmd"], serde_json::json!(["echo", "hi"]));

    env.berth(&["rm", "base", "work"]).ok();
    env.berth(&["commit", "work"])
        .fails(1, "No such container: work");
    assert_nothing_leaked(env);
}

#[test]
fn a_running_container_is_paused_for_its_commit_and_runs_on() {
    if !root() {
        return;
    }
    let bb = Busybox::pulled();
    let env = &bb.env;
    let id = env
        .berth(&[
            "run",
            "-d",
            "--name",
            "live",
            &bb.image,
            "sh",
            "-c",
            "echo up > /up; exec sleep 100",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    // Until the file is there.
    let upper = env.root().join("containers").join(&id).join("upper/up");
    for _ in 0..100 {
        if upper.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    env.berth(&["commit", "live", "live:1"]).ok();
    env.berth(&["commit", "-p=false", "live", "live:2"]).ok();
    let state = &common::inspect(env, &["inspect", "live"])["State"];
    assert_eq!(
        (state["Running"].as_bool(), state["Paused"].as_bool()),
        (Some(true), Some(false))
    );
    for tag in ["live:1", "live:2"] {
        assert_eq!(sh(env, tag, "cat /up").ok().stdout, "up\n");
    }
    env.berth(&["rm", "-f", "live"]).ok();
    assert_nothing_leaked(env);
}

/// Serves `body` once over HTTP on a loopback port; returns the URL.
fn serve_once(body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/rootfs.tar", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
    });
    (url, server)
}

#[test]
fn export_then_import_from_a_file_stdin_and_a_url_runs() {
    if !root() {
        return;
    }
    let bb = Busybox::pulled();
    let env = &bb.env;
    env.berth(&[
        "run",
        "--name",
        "src",
        &bb.image,
        "sh",
        "-c",
        "echo exported > /mark && rm /etc/group",
    ])
    .ok();
    let tar = env.path().join("fs.tar");
    env.berth(&["export", "-o", tar.to_str().unwrap(), "src"])
        .ok();
    let bytes = std::fs::read(&tar).unwrap();
    let names: Vec<String> = tar::Archive::new(&bytes[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names.contains(&"mark".to_owned()) && names.contains(&"bin/busybox".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains(".wh.") || n == "etc/group"),
        "{names:?}"
    );

    env.berth(&[
        "import",
        "-c",
        r#"CMD ["cat","/mark"]"#,
        tar.to_str().unwrap(),
        "imp:file",
    ])
    .ok();
    assert_eq!(
        env.berth(&["run", "--rm", "imp:file"]).ok().stdout,
        "exported\n"
    );
    let history = env.berth(&["history", "imp:file"]).ok().stdout;
    assert!(
        history
            .lines()
            .nth(1)
            .unwrap()
            .trim_end()
            .ends_with("Imported from -"),
        "{history}"
    );

    let mut child = env
        .command()
        .args(["import", "-m", "from stdin", "-", "imp:stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));
    assert_eq!(sh(env, "imp:stdin", "cat /mark").ok().stdout, "exported\n");

    let (url, server) = serve_once(bytes);
    env.berth(&["import", &url, "imp:url"]).ok();
    server.join().unwrap();
    assert_eq!(sh(env, "imp:url", "cat /mark").ok().stdout, "exported\n");

    env.berth(&["import", "ftp://127.0.0.1/x.tar"])
        .fails(1, "http or https");
    env.berth(&["import", "-c", "RUN make", tar.to_str().unwrap()])
        .fails(1, "RUN is not a valid change command");
    env.berth(&["rm", "src"]).ok();
    assert_nothing_leaked(env);
}
