//! `--format` templates, `ps` and `images` filters and labels, on real containers and images.

mod common;

use berth_testkit::registry::Registry;
use common::{Env, assert_nothing_leaked};
use serde_json::json;

/// Busybox with two labels, as `busybox:latest` in a registry, pulled; and the same image
/// without labels pushed under `other:latest` twice over (the first pull left dangling).
struct Images {
    _registry: Registry,
    env: Env,
    image: String,
    dangling: String,
}

fn images() -> Images {
    let registry = Registry::start_open().unwrap();
    let client = registry.client(None);
    let mut spec = berth_testkit::busybox::image().unwrap();
    let plain = spec.build();
    spec.config["Labels"] = json!({ "org.image": "base", "shared": "image" });
    let labelled = spec.build();
    client.push_image("busybox", "latest", &labelled).unwrap();
    client.push_image("other", "latest", &plain).unwrap();
    let env = Env::new();
    let image = format!("{}/busybox:latest", registry.host());
    let other = format!("{}/other:latest", registry.host());
    env.berth(&["pull", "-q", &image]).ok();
    env.berth(&["pull", "-q", &other]).ok();
    // `other:latest` moves to a new image: the old one is left with no tag.
    spec.config["Labels"] = json!({ "org.image": "next" });
    client.push_image("other", "latest", &spec.build()).unwrap();
    env.berth(&["pull", "-q", &other]).ok();
    Images {
        _registry: registry,
        env,
        image,
        dangling: plain.config.digest[7..19].to_owned(),
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn ps_inspect_and_labels_through_templates_and_filters() {
    let Images { env, image, .. } = &images();
    let labels = env.path().join("labels");
    std::fs::write(&labels, "# mine\nfrom.file=yes\nshared=file\n").unwrap();
    let label_file = labels.display().to_string();
    env.berth(&[
        "create",
        "--name",
        "c1",
        "--label",
        "a=1",
        "-l",
        "shared=run",
        "--label-file",
        &label_file,
        "-v",
        "data:/data",
        image,
        "true",
    ])
    .ok();
    env.berth(&["run", "--name", "c2", image, "true"]).ok();
    env.berth(&["run", "--name", "c3", image, "sh", "-c", "exit 3"])
        .fails(3, "");
    let up = env
        .berth(&["run", "-d", "--name", "up", image, "sleep", "100"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let names = |args: &[&str]| {
        let mut all = vec!["ps", "--format", "{{.Names}}"];
        all.extend_from_slice(args);
        env.berth(&all).ok().stdout
    };
    assert_eq!(lines(&names(&["-a"])), ["up", "c3", "c2", "c1"]);
    assert_eq!(lines(&names(&[])), ["up"]);

    // Labels: the image's, then the file's, then the flags'.
    assert_eq!(
        env.berth(&[
            "inspect",
            "--format",
            r#"{{index .Config.Labels "shared"}} {{.Config.Labels.a}} {{index .Config.Labels "from.file"}} {{.Config.Labels.nope}}"#,
            "c1",
        ])
        .ok()
        .stdout,
        "run 1 yes <no value>\n"
    );
    assert_eq!(
        env.berth(&[
            "ps",
            "-a",
            "--filter",
            "label=a=1",
            "--format",
            r#"{{.Label "shared"}}|{{.Labels}}"#
        ])
        .ok()
        .stdout,
        "run|a=1,from.file=yes,org.image=base,shared=run\n"
    );
    assert_eq!(
        lines(&names(&["-a", "--filter", "label=org.image"])).len(),
        4
    );
    assert_eq!(
        lines(&names(&["-a", "--filter", "label=shared=image"])),
        ["up", "c3", "c2"]
    );
    env.berth(&["run", "--label", "=x", image, "true"])
        .fails(125, "invalid label '=x': empty name");

    // Filters: values of one key are alternatives, keys all apply.
    assert_eq!(lines(&names(&["-a", "--filter", "exited=3"])), ["c3"]);
    assert_eq!(
        lines(&names(&[
            "-a", "--filter", "exited=3", "--filter", "exited=0"
        ])),
        ["c3", "c2"]
    );
    assert_eq!(
        lines(&names(&[
            "-a", "--filter", "exited=0", "--filter", "name=c3"
        ])),
        Vec::<&str>::new()
    );
    assert_eq!(
        lines(&names(&["-a", "--filter", &format!("ancestor={image}")])).len(),
        4
    );
    assert_eq!(lines(&names(&["-a", "--filter", "before=c2"])), ["c1"]);
    assert_eq!(lines(&names(&["-a", "--filter", "since=c2"])), ["up", "c3"]);
    assert_eq!(lines(&names(&["--filter", "network=bridge"])), ["up"]);
    assert_eq!(lines(&names(&["-a", "--filter", "volume=data"])), ["c1"]);
    assert_eq!(lines(&names(&["-a", "--filter", "volume=/data"])), ["c1"]);
    assert_eq!(
        env.berth(&[
            "ps",
            "-a",
            "--filter",
            "name=c1",
            "--format",
            "{{.Mounts}} {{.LocalVolumes}}"
        ])
        .ok()
        .stdout,
        "data 1\n"
    );
    assert_eq!(
        env.berth(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Links}}"
        ])
        .ok()
        .stdout,
        "data local N/A\n"
    );
    assert_eq!(
        env.berth(&[
            "volume",
            "inspect",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}",
            "data"
        ])
        .ok()
        .stdout,
        "data local local\n"
    );
    assert_eq!(lines(&names(&["-a", "--filter", "health=none"])).len(), 4);
    assert_eq!(names(&["-a", "--filter", "health=healthy"]), "");
    env.berth(&["ps", "--filter", "health=bogus"])
        .fails(125, "Unrecognised filter value for health: bogus");
    env.berth(&["ps", "--filter", "before=nope"])
        .fails(1, "No such container: nope");
    assert_eq!(lines(&names(&["-n", "2"])), ["up", "c3"]);
    assert_eq!(lines(&names(&["-l"])), ["up"]);
    assert_eq!(lines(&names(&["-n", "-1"])), ["up"]);

    // Sizes: the writable layer, and with the image's.
    let sized = env
        .berth(&["ps", "-s", "--format", "{{.Size}}"])
        .ok()
        .stdout;
    assert!(
        sized.starts_with("0B (virtual ") && sized.ends_with("MB)\n"),
        "{sized}"
    );
    let table = env.berth(&["ps", "-s"]).ok().stdout;
    assert!(
        lines(&table)[0].starts_with("CONTAINER ID   IMAGE")
            && lines(&table)[0].ends_with("NAMES     SIZE"),
        "{table:?}"
    );

    // Tables, JSON and Docker's fields.
    assert_eq!(
        env.berth(&["ps", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.State}}"])
            .ok()
            .stdout,
        format!(
            "CONTAINER ID   NAMES     STATE\n{}   up        running\n",
            &up[..12]
        )
    );
    let row: serde_json::Value =
        serde_json::from_str(&env.berth(&["ps", "--format", "json"]).ok().stdout).unwrap();
    assert_eq!(row["Names"], "up");
    assert_eq!(row["Command"], "\"sleep 100\"");
    assert_eq!(row["Networks"], "bridge");
    assert!(
        row["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"),
        "{row}"
    );

    // inspect: the document by its keys.
    let ip = common::ip_of(env, "up").to_string();
    assert_eq!(
        env.berth(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.NetworkSettings.IPAddress}} {{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}}{{end}} {{json .Config.Cmd}} {{len .Mounts}}",
            "up",
            "c3",
        ])
        .ok()
        .stdout,
        format!("running {ip} bridge={ip} [\"sleep\",\"100\"] 0\nexited  bridge= [\"sh\",\"-c\",\"exit 3\"] 0\n")
    );

    // Bad templates, with Docker's messages and exit codes.
    env.berth(&["ps", "--format", "{{.Foo}}"]).fails(
        1,
        "template parsing error: template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type *formatter.ContainerContext",
    );
    env.berth(&["ps", "--format", "{{.ID"])
        .fails(1, "template parsing error: template: :1: unclosed action");
    env.berth(&["inspect", "--format", "{{.Nope}}", "up"]).fails(
        1,
        "template parsing error: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"",
    );
    env.berth(&["inspect", "--format", "{{if}}", "up"]).fails(
        64,
        "template parsing error: template: :1: missing value for if",
    );

    let stats = env
        .berth(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "up",
        ])
        .ok()
        .stdout;
    assert_eq!(stats, "up 1\n");
    assert_eq!(
        env.berth(&["info", "--format", "{{.Containers}} {{.ContainersRunning}}"])
            .ok()
            .stdout,
        "4 1\n"
    );
    env.berth(&["rm", "-f", "c1", "c2", "c3", "up"]).ok();
    env.berth(&["volume", "rm", "data"]).ok();
    assert_nothing_leaked(env);
}

#[test]
fn images_networks_and_version_through_templates_and_filters() {
    let Images {
        env,
        image,
        dangling,
        ..
    } = &images();
    let host = image.split('/').next().unwrap();
    let listed = env
        .berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .stdout;
    let mut listed = lines(&listed);
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("{host}/busybox:latest"),
            format!("{host}/other:latest"),
            "<none>:<none>".to_owned(),
        ]
    );
    assert_eq!(
        env.berth(&["images", "-q", "--filter", "dangling=true"])
            .ok()
            .stdout,
        format!("{dangling}\n")
    );
    assert_eq!(
        lines(
            &env.berth(&["images", "-q", "--filter", "dangling=false"])
                .ok()
                .stdout
        )
        .len(),
        2
    );
    assert_eq!(
        env.berth(&[
            "images",
            "--filter",
            "label=org.image=base",
            "--format",
            "{{.Repository}}"
        ])
        .ok()
        .stdout,
        format!("{host}/busybox\n")
    );
    assert_eq!(
        env.berth(&[
            "images",
            "--filter",
            "reference=*/oth*:lat*",
            "--format",
            "{{.Tag}}"
        ])
        .ok()
        .stdout,
        "latest\n"
    );
    env.berth(&["images", "--filter", "dangling=maybe"])
        .fails(125, "Invalid filter 'dangling=[maybe]'");
    let table = env
        .berth(&[
            "images",
            "--filter",
            "label=org.image=base",
            "--format",
            "table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}",
        ])
        .ok()
        .stdout;
    let header = format!(
        "{:<w$}TAG       SIZE",
        "REPOSITORY",
        w = host.len() + "/busybox".len() + 3
    );
    assert_eq!(lines(&table)[0], header, "{table}");
    let row: serde_json::Value = serde_json::from_str(
        &env.berth(&["images", "--filter", "dangling=true", "--format", "json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        (row["Repository"].as_str(), row["Digest"].as_str()),
        (Some("<none>"), Some("<none>"))
    );

    let id = env
        .berth(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{json .Config.Labels}}",
            image,
        ])
        .ok()
        .stdout;
    assert!(
        id.ends_with(" {\"org.image\":\"base\",\"shared\":\"image\"}\n"),
        "{id}"
    );
    assert_eq!(
        env.berth(&[
            "network",
            "inspect",
            "--format",
            "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
            "bridge"
        ])
        .ok()
        .stdout
        .split(' ')
        .take(2)
        .collect::<Vec<_>>(),
        ["bridge", "bridge"]
    );
    assert_eq!(
        env.berth(&["network", "ls", "--format", "{{.Name}} {{.Scope}}"])
            .ok()
            .stdout,
        "bridge local\nhost local\nnone local\n"
    );
    assert_eq!(
        env.berth(&[
            "version",
            "--format",
            "{{.Client.Version}}/{{.Server.Version}}"
        ])
        .ok()
        .stdout,
        format!("{0}/{0}\n", env!("CARGO_PKG_VERSION"))
    );
    env.berth(&["version", "--format", "{{.Client.Nope}}"]).fails(
        1,
        "template: version:1:9: executing \"version\" at <.Client.Nope>: can't evaluate field Nope in type system.versionInfo",
    );
    assert_nothing_leaked(env);
}

/// Where docker's CLI is installed, its parse errors for the same templates are berth's
/// (`version` parses its template before it looks for a daemon).
#[test]
fn bad_templates_fail_as_dockers_cli_fails() {
    let env = Env::new();
    let docker = std::process::Command::new("docker")
        .arg("--version")
        .output();
    for template in [
        "{{.Foo",
        "{{if .X}}a",
        "{{end}}",
        "{{nope}}",
        "{{$x}}",
        "{{.A}",
        "{{(.A}}",
        "{{\"a}}",
    ] {
        let berth = env
            .berth(&["version", "--format", template])
            .fails(64, "template parsing error: template: version:1: ");
        if docker.as_ref().is_ok_and(|o| o.status.success()) {
            let out = std::process::Command::new("docker")
                .args(["version", "--format", template])
                .env("DOCKER_HOST", "unix:///nonexistent.sock")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(64), "{template}");
            let theirs = String::from_utf8_lossy(&out.stderr);
            let ours = berth.stderr.trim().trim_start_matches("berth: ");
            assert!(
                theirs.contains(ours),
                "{template}: docker {theirs} berth {ours}"
            );
        }
    }
}
