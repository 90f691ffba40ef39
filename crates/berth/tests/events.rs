//! `berth events` end to end: events recorded by berth commands, followed live by another
//! berth process, replayed with `--since`/`--until`, filtered, as text and JSON.

mod common;

use common::{Busybox, assert_nothing_leaked};
use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

/// Now as Unix seconds with nanoseconds, as `--since` takes it.
fn now() -> String {
    let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

/// The JSON events `berth events ARGS` prints (it must end by itself: `--until`).
fn events(bb: &Busybox, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["events", "--format", "json"];
    all.extend_from_slice(args);
    bb.env
        .berth(&all)
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON event"))
        .collect()
}

fn actions(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["Action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn another_process_sees_a_containers_life_as_it_happens() {
    let bb = Busybox::pulled();
    let since = now();
    let mut follower = bb
        .env
        .command()
        .args(["events", "--since", &since, "--filter", "container=live"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let id = bb
        .env
        .berth(&[
            "run", "-d", "--name", "live", &bb.image, "sh", "-c", "exit 3",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    bb.env.berth(&["wait", "live"]).ok();
    bb.env.berth(&["rm", "live"]).ok();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains(" container destroy ");
        seen.push(line);
        if done {
            break;
        }
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    let words: Vec<Vec<&str>> = seen.iter().map(|l| l.split(' ').collect()).collect();
    let got: Vec<&str> = words.iter().map(|w| w[2]).collect();
    assert_eq!(got, ["create", "start", "die", "destroy"], "{seen:#?}");
    for (line, w) in seen.iter().zip(&words) {
        // 2024-01-01T00:00:00.000000000Z container start ID (image=..., name=live)
        assert_eq!(w[0].len(), 30, "{line}");
        assert!(w[0].ends_with('Z') && w[0].as_bytes()[10] == b'T', "{line}");
        assert_eq!((w[1], w[3]), ("container", id.as_str()), "{line}");
    }
    assert!(
        seen[0].ends_with(&format!("(image={}, name=live)", bb.image)),
        "{}",
        seen[0]
    );
    assert!(
        seen[2].ends_with(&format!("(exitCode=3, image={}, name=live)", bb.image)),
        "{}",
        seen[2]
    );
    assert_nothing_leaked(&bb.env);
}

#[test]
fn since_and_until_replay_and_filters_choose() {
    let bb = Busybox::pulled();
    let before = now();
    bb.env
        .berth(&["run", "--rm", "--name", "one", &bb.image, "true"])
        .ok();
    let between = now();
    bb.env
        .berth(&["run", "-d", "--name", "two", &bb.image, "sleep", "60"])
        .ok();
    bb.env.berth(&["exec", "two", "true"]).ok();
    bb.env.berth(&["pause", "two"]).ok();
    bb.env.berth(&["unpause", "two"]).ok();
    bb.env.berth(&["stop", "-t", "1", "two"]).ok();
    bb.env.berth(&["network", "create", "evnet"]).ok();
    bb.env.berth(&["network", "rm", "evnet"]).ok();
    bb.env.berth(&["tag", &bb.image, "again:1"]).ok();
    bb.env.berth(&["rmi", "-f", "again:1"]).ok();
    let after = now();

    let all = events(&bb, &["--since", &before, "--until", &after]);
    let one = events(&bb, &["--since", &before, "--until", &between]);
    assert_eq!(actions(&one), ["create", "start", "die", "destroy"]);
    let shape = &one[1];
    assert_eq!(shape["Type"], "container");
    assert_eq!(shape["scope"], "local");
    assert_eq!(shape["status"], "start");
    assert_eq!(shape["from"], bb.image.as_str());
    assert_eq!(shape["Actor"]["Attributes"]["name"], "one");
    assert_eq!(
        shape["time"].as_i64().unwrap(),
        shape["timeNano"].as_i64().unwrap() / 1_000_000_000
    );
    assert_eq!(shape["id"], shape["Actor"]["ID"]);
    // Without --since, --until replays from the start: the pull of the set-up first.
    let from_start = events(&bb, &["--until", &after]);
    assert_eq!(from_start.len(), all.len() + 1);
    assert_eq!(
        (
            from_start[0]["Type"].as_str(),
            from_start[0]["Action"].as_str()
        ),
        (Some("image"), Some("pull"))
    );
    assert_eq!(
        from_start[0]["Actor"]["Attributes"]["name"].as_str(),
        bb.image.strip_suffix(":latest")
    );

    let two = events(
        &bb,
        &[
            "--since",
            &between,
            "--until",
            &after,
            "--filter",
            "container=two",
        ],
    );
    assert_eq!(
        actions(&two),
        [
            "create",
            "start",
            "exec_start: true",
            "exec_die",
            "pause",
            "unpause",
            "kill",
            "kill",
            "die",
            "stop"
        ]
    );
    // PID 1 ignores SIGTERM: the stop's SIGKILL follows after its timeout, as with Docker.
    assert_eq!(two[6]["Actor"]["Attributes"]["signal"], "15");
    assert_eq!(two[7]["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(two[3]["Actor"]["Attributes"]["exitCode"], "0");
    assert_eq!(
        two[2]["Actor"]["Attributes"]["execID"],
        two[3]["Actor"]["Attributes"]["execID"]
    );
    let execs = events(
        &bb,
        &[
            "--since",
            &before,
            "--until",
            &after,
            "--filter",
            "event=exec_start",
        ],
    );
    assert_eq!(execs.len(), 1);
    let dies = events(
        &bb,
        &[
            "--since",
            &before,
            "--until",
            &after,
            "--filter",
            "event=die",
        ],
    );
    assert_eq!(dies.len(), 2);
    assert_eq!(
        dies.iter()
            .map(|e| e["Actor"]["Attributes"]["exitCode"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["0", "137"]
    );
    let networks = events(
        &bb,
        &[
            "--since",
            &before,
            "--until",
            &after,
            "--filter",
            "type=network",
        ],
    );
    assert_eq!(actions(&networks), ["create", "destroy"]);
    assert_eq!(networks[0]["Actor"]["Attributes"]["name"], "evnet");
    assert!(networks[0].get("status").is_none());
    let images = events(
        &bb,
        &[
            "--since",
            &before,
            "--until",
            &after,
            "--filter",
            "type=image",
        ],
    );
    assert_eq!(actions(&images), ["tag", "untag"]);
    assert_eq!(images[0]["Actor"]["Attributes"]["name"], "again:1");

    // Volumes and renames are recorded too.
    let start = now();
    bb.env.berth(&["volume", "create", "evvol"]).ok();
    bb.env.berth(&["volume", "rm", "evvol"]).ok();
    bb.env
        .berth(&["create", "--name", "evold", &bb.image, "true"])
        .ok();
    bb.env.berth(&["rename", "evold", "evnew"]).ok();
    bb.env.berth(&["rm", "evnew"]).ok();
    let end = now();
    let volumes = events(
        &bb,
        &[
            "--since",
            &start,
            "--until",
            &end,
            "--filter",
            "type=volume",
        ],
    );
    assert_eq!(actions(&volumes), ["create", "destroy"]);
    assert_eq!(volumes[0]["Actor"]["ID"], "evvol");
    let renamed = events(
        &bb,
        &[
            "--since",
            &start,
            "--until",
            &end,
            "--filter",
            "event=rename",
        ],
    );
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0]["Actor"]["Attributes"]["name"], "evnew");
    assert_eq!(renamed[0]["Actor"]["Attributes"]["oldName"], "/evold");
    let by_image = events(
        &bb,
        &[
            "--since",
            &before,
            "--until",
            &after,
            "--filter",
            &format!("image={}", bb.image),
            "--filter",
            "event=create",
        ],
    );
    assert_eq!(by_image.len(), 2);
    let none = events(&bb, &["--until", &before, "--filter", "container=one"]);
    assert!(none.is_empty());

    bb.env
        .berth(&["events", "--filter", "colour=red"])
        .fails(1, "invalid filter 'colour'");
    bb.env
        .berth(&["events", "--since", "yesterday"])
        .fails(125, "failed to parse value as time or duration");
    bb.env.berth(&["rm", "two"]).ok();
    assert_nothing_leaked(&bb.env);
}
