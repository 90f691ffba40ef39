//! The command line itself: help, exit codes for bad flags and unbuilt commands, `info`.

use assert_cmd::Command;

fn berth() -> Command {
    Command::cargo_bin("berth").expect("berth binary")
}

#[test]
fn help_lists_every_command() {
    let out = berth()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let help = String::from_utf8(out).unwrap();
    for command in [
        "pull", "images", "rmi", "image", "run", "create", "start", "stop", "kill", "rm", "ps",
        "logs", "exec", "inspect", "network", "login", "logout", "version", "info",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing from help"
        );
    }
}

#[test]
fn an_unknown_flag_is_an_engine_error() {
    berth().arg("--no-such-flag").assert().code(125);
    berth().args(["info", "--no-such-flag"]).assert().code(125);
}

#[test]
fn version_prints_the_version() {
    let out = berth()
        .arg("version")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains(env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn info_reports_the_cgroup_mode_and_roots() {
    let root = tempfile::tempdir().unwrap();
    let out = berth()
        .args(["--root"])
        .arg(root.path())
        .arg("info")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let info = String::from_utf8(out).unwrap();
    // What the host really has, read independently of berth.
    let unified_is_v2 = std::process::Command::new("stat")
        .args(["-f", "-c", "%T", "/sys/fs/cgroup"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "cgroup2fs")
        .unwrap();
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists();
    let expected = match (unified_is_v2, hybrid) {
        (true, _) => "v2",
        (false, true) => "hybrid",
        (false, false) => "v1",
    };
    assert!(
        info.contains(&format!("Cgroup Version: {expected}\n")),
        "{info}"
    );
    assert!(
        info.contains(&format!("Root Dir: {}\n", root.path().display())),
        "{info}"
    );
    assert!(info.contains("Kernel Version: "), "{info}");
    assert!(info.contains("Storage Driver: overlay"), "{info}");
    assert!(
        info.contains("Containers: 0\n") && info.contains("Images: 0\n"),
        "{info}"
    );
}

#[test]
fn a_closed_pipe_ends_berth_quietly() {
    let root = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("berth"))
        .arg("--root")
        .arg(root.path())
        .arg("info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// What `berth __relay ROOT RUN_ROOT 0123 ARGS...` says on stderr, after exiting 125.
fn relay_refusal(args: &[&str]) -> String {
    let out = berth()
        .args(["__relay", "/root", "/run-root", "0123"])
        .args(args)
        .assert()
        .code(125)
        .get_output()
        .stderr
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_relay_given_other_arguments_says_which_and_exits_125() {
    let text = relay_refusal(&["not-a-pid", "json-file", "tty", "5"]);
    assert!(
        text.starts_with(
            "berth: cannot start the relay of a detached container: invalid pid: \"not-a-pid\""
        ),
        "{text}"
    );
    let text = relay_refusal(&["42", "json-file", "pipes", "5"]);
    assert!(text.contains(": missing stderr"), "{text}");
}
