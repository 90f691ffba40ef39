//! The container's terminal (`-t`): a pty of the container's own devpts, so that `tty` and
//! `ttyname(3)` name it (`/dev/pts/N` there), with /dev/console bound to it, for `run -it`,
//! `attach` to `run -dit` and `exec -it`.

mod common;

use common::{Busybox, assert_nothing_leaked};
use std::time::{Duration, Instant};

/// What the shell prints about its terminal: its name, where fd 0 points, and whether
/// /dev/console is the same device.
const REPORT: &str = "echo \"tty=$(tty)\"; echo \"fd0=$(readlink /proc/self/fd/0)\"; \
     [ \"$(stat -c %t:%T /dev/console)\" = \"$(stat -c %t:%T $(tty))\" ] && echo console-is-tty; \
     ls -l /proc/self/fd/0";

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_it_gets_a_pts_of_the_containers_own_devpts() {
    let bb = Busybox::pulled();
    let mut cmd = bb.env.command();
    cmd.args(["run", "--rm", "-it", &bb.image, "sh"]);
    let input = format!("{REPORT}; stty size; exit 3\n");
    let (text, code) = common::run_on_pty(cmd, input.as_bytes(), 33, 111);
    assert!(text.contains("tty=/dev/pts/0"), "{text}");
    assert!(text.contains("fd0=/dev/pts/0"), "{text}");
    assert!(text.contains("console-is-tty"), "{text}");
    assert!(text.contains("-> /dev/pts/0"), "{text}");
    assert!(text.contains("33 111"), "window size not passed on: {text}");
    assert_eq!(code, Some(3), "{text}");
    // The same with a read-only root, as another user.
    let mut cmd = bb.env.command();
    cmd.args([
        "run",
        "--rm",
        "-it",
        "--read-only",
        "-u",
        "1000",
        &bb.image,
        "sh",
    ]);
    // The user can open its terminal again by name (runc gives it the standard streams).
    let input = format!("{REPORT}; id -u; echo by-name > $(tty) && echo re$((1))opened; exit 5\n");
    let (text, code) = common::run_on_pty(cmd, input.as_bytes(), 24, 80);
    assert!(text.contains("tty=/dev/pts/0"), "{text}");
    assert!(text.contains("console-is-tty"), "{text}");
    assert!(text.contains("\n1000\r"), "{text}");
    assert!(text.contains("re1opened"), "{text}");
    assert_eq!(code, Some(5), "{text}");
    assert_nothing_leaked(&bb.env);
}

#[test]
fn attach_and_exec_it_see_the_containers_own_ptys() {
    let bb = Busybox::pulled();
    bb.env
        .berth(&["run", "-dit", "--name", "term", &bb.image, "sh"])
        .ok();
    let out = bb.env.berth(&["inspect", "term"]).ok();
    let id = serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The relay takes attach clients once its socket is there.
    until("the relay", || {
        bb.env.run_root().join(format!("{id}.attach")).exists()
    });
    let settle = Duration::from_millis(500);
    // The container's shell is on the first pty of its devpts...
    let mut cmd = bb.env.command();
    cmd.args(["attach", "term"]);
    let input = format!("{{ {REPORT}; }} > /tmp/report 2>&1\n\x10\x11");
    let (text, code) = common::run_on_pty_after(cmd, input.as_bytes(), 24, 80, settle);
    assert_eq!(code, Some(0), "{text}");
    let mut report = String::new();
    until("the report", || {
        report = bb.env.berth(&["exec", "term", "cat", "/tmp/report"]).stdout;
        report.contains("-> ")
    });
    assert!(report.contains("tty=/dev/pts/0"), "{report}");
    assert!(report.contains("console-is-tty"), "{report}");
    // ...and an exec's terminal is the next one of the same devpts, with the window size of
    // the terminal it came from.
    let mut cmd = bb.env.command();
    cmd.args(["exec", "-it", "term", "sh"]);
    let input = format!("{REPORT}; stty size; exit 4\n");
    let (text, code) = common::run_on_pty(cmd, input.as_bytes(), 30, 90);
    assert!(text.contains("tty=/dev/pts/1"), "{text}");
    assert!(text.contains("fd0=/dev/pts/1"), "{text}");
    assert!(text.contains("30 90"), "{text}");
    assert_eq!(code, Some(4), "{text}");
    bb.env.berth(&["rm", "-f", "term"]).ok();
    assert_nothing_leaked(&bb.env);
}
