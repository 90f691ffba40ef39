//! The engine against Go's behaviour (outputs and messages as Go 1.24's `text/template` gives
//! them, checked with docker 28's CLI) and every `--format` example of Docker's documentation
//! for ps, images and inspect.

use super::*;
use serde_json::json;
use std::collections::BTreeMap;

fn render(template: &str, data: &Value) -> String {
    Template::parse(template, "")
        .unwrap_or_else(|e| panic!("{template}: {e}"))
        .render(data, Missing::Field)
        .unwrap_or_else(|e| panic!("{template}: {e}"))
}

fn parse_error(template: &str) -> String {
    Template::parse(template, "").unwrap_err().to_string()
}

fn exec_error(template: &str, data: &Value, missing: Missing) -> String {
    Template::parse(template, "")
        .unwrap()
        .render(data, missing)
        .unwrap_err()
        .to_string()
}

/// A container's inspect document, trimmed to what the examples read.
fn container() -> Value {
    Value::from_json(
        &json!({
            "Id": "4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2",
            "Name": "/Web-App",
            "Image": "sha256:3ab7a3ac8f1c2c8d6e3bd6e5c7e3a0f1fd4b6e9d3f02f3cf2e6a5a2c5b7a1d0e",
            "Args": ["-c", "sleep 100"],
            "LogPath": "/var/lib/berth/containers/4fa6/4fa6-json.log",
            "State": { "Status": "running", "Running": true, "Pid": 1234, "ExitCode": 0 },
            "Config": {
                "Image": "busybox:latest",
                "Labels": { "com.example.version": "1.0", "maintainer": "me" },
                "Env": ["PATH=/bin", "A=1"],
            },
            "HostConfig": { "LogConfig": { "Type": "json-file", "Config": {} }, "Memory": 0 },
            "NetworkSettings": {
                "IPAddress": "172.17.0.2",
                "Ports": {
                    "80/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "8080" }],
                    "8787/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "32768" }],
                },
                "Networks": {
                    "bridge": { "IPAddress": "172.17.0.2", "MacAddress": "02:42:ac:11:00:02" },
                },
            },
            "Mounts": [{ "Type": "bind", "Source": "/srv", "Destination": "/data", "RW": true }],
        }),
        "types.ContainerJSON",
    )
}

#[test]
fn docker_inspect_examples() {
    let c = container();
    // docs/reference/commandline/inspect.md and container_inspect.md
    assert_eq!(
        render(
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &c
        ),
        "172.17.0.2"
    );
    assert_eq!(
        render(
            "{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}",
            &c
        ),
        "02:42:ac:11:00:02"
    );
    assert_eq!(
        render("{{.LogPath}}", &c),
        "/var/lib/berth/containers/4fa6/4fa6-json.log"
    );
    assert_eq!(render("{{.Config.Image}}", &c), "busybox:latest");
    assert_eq!(
        render(
            "{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}",
            &c
        ),
        " 80/tcp -> 8080  8787/tcp -> 32768 "
    );
    assert_eq!(
        render(
            r#"{{(index (index .NetworkSettings.Ports "8787/tcp") 0).HostPort}}"#,
            &c
        ),
        "32768"
    );
    assert_eq!(
        render("{{json .Config}}", &c),
        r#"{"Env":["PATH=/bin","A=1"],"Image":"busybox:latest","Labels":{"com.example.version":"1.0","maintainer":"me"}}"#
    );
    assert_eq!(render("{{.State.Status}}", &c), "running");
    assert_eq!(render("{{.NetworkSettings.IPAddress}}", &c), "172.17.0.2");
    assert_eq!(
        render("{{range .Mounts}}{{.Source}}:{{.Destination}}{{end}}", &c),
        "/srv:/data"
    );
    assert_eq!(
        render(r#"{{index .Config.Labels "com.example.version"}}"#, &c),
        "1.0"
    );
    // docs/config/formatting.md
    assert_eq!(render(r#"{{join .Args " , "}}"#, &c), "-c , sleep 100");
    assert_eq!(
        render("{{json .Mounts}}", &c),
        r#"[{"Destination":"/data","RW":true,"Source":"/srv","Type":"bind"}]"#
    );
    assert_eq!(render("{{lower .Name}}", &c), "/web-app");
    assert_eq!(
        render(r#"{{split .Image ":"}}"#, &c),
        "[sha256 3ab7a3ac8f1c2c8d6e3bd6e5c7e3a0f1fd4b6e9d3f02f3cf2e6a5a2c5b7a1d0e]"
    );
    assert_eq!(render("{{title .Name}}", &c), "/Web-App");
    assert_eq!(render("{{upper .Name}}", &c), "/WEB-APP");
    assert_eq!(
        render(
            "{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}",
            &c
        ),
        "172.17.0.2\n"
    );
    assert_eq!(render("{{.State.Pid}} {{.State.Running}}", &c), "1234 true");
}

#[test]
fn missing_fields_and_keys_read_as_docker_reads_them() {
    let c = container();
    // A missing map key is Go's invalid value; `index` gives the map's zero value.
    assert_eq!(render("{{.Config.Labels.nope}}", &c), "<no value>");
    assert_eq!(render(r#"[{{index .Config.Labels "nope"}}]"#, &c), "[]");
    // A missing struct field: inspect shows its raw fallback's message.
    assert_eq!(
        exec_error("{{.Foo}}", &c, Missing::NoEntry),
        r#"template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo""#
    );
    assert_eq!(
        exec_error("x{{.State.Nope}}", &c, Missing::Field),
        r#"template: :1:9: executing "" at <.State.Nope>: can't evaluate field Nope in type types.ContainerJSON"#
    );
}

fn ps_row() -> Value {
    let mut labels = BTreeMap::new();
    labels.insert("com.docker.swarm.node".to_owned(), "ubuntu".to_owned());
    labels.insert("com.example".to_owned(), "x".to_owned());
    Value::from(Struct {
        type_name: "*formatter.ContainerContext",
        fields: vec![
            ("Command".into(), Value::from("\"sleep 100\"")),
            ("ID".into(), Value::from("a87ecb4f327c")),
            (
                "Labels".into(),
                Value::from("com.docker.swarm.node=ubuntu,com.example=x"),
            ),
            ("Names".into(), Value::from("web")),
        ],
        labels: Some(labels),
    })
}

fn ps_header() -> Value {
    header(&[
        ("ID", "CONTAINER ID"),
        ("Command", "COMMAND"),
        ("Labels", "LABELS"),
        ("Label", "LABEL"),
        ("Names", "NAMES"),
    ])
}

fn table(format: &str, rows: &[Value], header: &Value) -> String {
    Format::new(format, "{{.ID}}")
        .unwrap()
        .render(rows, header)
        .unwrap()
}

#[test]
fn docker_ps_examples() {
    let rows = [ps_row()];
    let h = ps_header();
    assert_eq!(
        table("{{.ID}}: {{.Command}}", &rows, &h),
        "a87ecb4f327c: \"sleep 100\"\n"
    );
    assert_eq!(
        table("table {{.ID}}\\t{{.Labels}}", &rows, &h),
        "CONTAINER ID   LABELS\na87ecb4f327c   com.docker.swarm.node=ubuntu,com.example=x\n"
    );
    // The header row of a method with arguments stops at it, as Docker's does.
    assert_eq!(
        table(
            r#"table {{.ID}}\t{{(.Label "com.docker.swarm.node")}}"#,
            &rows,
            &h
        ),
        "CONTAINER ID   \na87ecb4f327c   ubuntu\n"
    );
    assert_eq!(
        table("json", &rows, &h),
        "{\"Command\":\"\\\"sleep 100\\\"\",\"ID\":\"a87ecb4f327c\",\"Labels\":\"com.docker.swarm.node=ubuntu,com.example=x\",\"Names\":\"web\"}\n"
    );
    assert_eq!(
        table(
            r#"{{.Label "nope"}}|{{join (split .Labels ",") " "}}"#,
            &rows,
            &h
        ),
        "|com.docker.swarm.node=ubuntu com.example=x\n"
    );
    // Header functions keep the title; pad still pads.
    assert_eq!(
        table(
            r#"table {{lower .Names}}\t{{truncate .ID 3}}\t{{pad .Names 1 1}}"#,
            &rows,
            &h
        ),
        "NAMES     CONTAINER ID    NAMES \nweb       a87             web \n"
    );
    let error = Format::new("{{.Nope}}", "")
        .unwrap()
        .render(&rows, &h)
        .unwrap_err();
    assert_eq!(error.code, 1);
    assert_eq!(
        error.error.to_string(),
        r#"template parsing error: template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"#
    );
}

#[test]
fn docker_images_examples() {
    let row = |id: &str, repo: &str, tag: &str| {
        Value::from(Struct::new(
            "*formatter.ImageContext",
            vec![
                ("ID", Value::from(id)),
                ("Repository", Value::from(repo)),
                ("Tag", Value::from(tag)),
                ("Size", Value::from("4.26MB")),
            ],
        ))
    };
    let rows = [
        row("77af4d6b9913", "<none>", "<none>"),
        row("b6fa739cedf5", "committ", "latest"),
    ];
    let h = header(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Size", "SIZE"),
    ]);
    assert_eq!(
        table("{{.ID}}: {{.Repository}}", &rows, &h),
        "77af4d6b9913: <none>\nb6fa739cedf5: committ\n"
    );
    assert_eq!(
        table("table {{.ID}}\\t{{.Repository}}\\t{{.Tag}}", &rows, &h),
        "IMAGE ID       REPOSITORY   TAG\n77af4d6b9913   <none>       <none>\nb6fa739cedf5   committ      latest\n"
    );
    assert_eq!(
        table(
            "table {{.ID}}\\t{{.Repository}}\\t{{.Tag}}\\t{{.Size}}",
            &rows,
            &h
        ),
        "IMAGE ID       REPOSITORY   TAG       SIZE\n77af4d6b9913   <none>       <none>    4.26MB\nb6fa739cedf5   committ      latest    4.26MB\n"
    );
    assert_eq!(
        table("{{.ID}}{{pad .Repository 5 10}}", &rows[1..], &h),
        "b6fa739cedf5     committ          \n"
    );
    assert_eq!(table("{{truncate .Repository 3}}", &rows[1..], &h), "com\n");
}

#[test]
fn go_semantics() {
    let data = Value::from_json_maps(
        &json!({ "Os": "linux", "N": 3, "F": 1.5, "L": ["a", "b"], "E": [], "M": {"b": 2, "a": 1} }),
    );
    for (template, expected) in [
        (
            r#"{{printf "%5.2f|%-6s|%x|%q|%v|%t|%03d" 3.14159 "ab" 255 "q" .Os true 7}}"#,
            " 3.14|ab    |ff|\"q\"|linux|true|007",
        ),
        (
            r#"{{.Os | printf "%s-%d" 3}}"#,
            "%!s(int=3)-%!d(string=linux)",
        ),
        (
            r#"{{json .Os}} {{split "a:b:c" ":"}} {{join (split "a:b" ":") "-"}} {{title "hello world"}} {{pad "x" 2 3}}| {{truncate "abcdef" 3}} {{println "a" 1 2}}{{print "a" 1 2 "b"}} {{print 1 2}}"#,
            "\"linux\" [a b c] a-b Hello World   x   | abc a 1 2\na1 2b 1 2",
        ),
        (
            r#"{{range $i, $e := split "a,b" ","}}{{$i}}={{$e}};{{end}}"#,
            "0=a;1=b;",
        ),
        (
            r#"{{eq "a" "a" "b"}} {{lt 1 2}} {{and 1 0}} {{or 0 "" "x"}} {{not ""}} {{len "abc"}}"#,
            "true true 0 x true 3",
        ),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{ .Os -}}  x  {{- 3 }}", "linuxx3"),
        (r#"{{if eq .Os "linux"}}L{{else if 1}}O{{end}}"#, "L"),
        (
            r#"{{if eq .Os "mac"}}M{{else if .N}}N{{else}}E{{end}}"#,
            "N",
        ),
        (r#"{{slice "abcdef" 1 3}}"#, "bc"),
        (
            "{{1.5}} {{1e6}} {{0x10}} {{-3}} {{.F}}",
            "1.5 1e+06 16 -3 1.5",
        ),
        (r#"{{printf "%v" nil}} {{print nil}}"#, "<nil> <nil>"),
        (
            "{{range .M}}{{.}}{{end}} {{.M}} {{len .L}} {{index .L 1}}",
            "12 map[a:1 b:2] 2 b",
        ),
        ("{{range .E}}x{{else}}empty{{end}}", "empty"),
        (
            "{{with .Os}}{{.}}{{end}}{{with .Nope}}x{{else}}none{{end}}",
            "linuxnone",
        ),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        (
            "{{range .L}}{{if eq . \"a\"}}{{continue}}{{end}}{{.}}{{break}}{{end}}",
            "b",
        ),
        ("{{/* a comment */}}a {{- /* trimmed */ -}} b", "ab"),
        ("{{`raw\\n`}}", "raw\\n"),
        (
            "{{$}}",
            "map[E:[] F:1.5 L:[a b] M:map[a:1 b:2] N:3 Os:linux]",
        ),
    ] {
        assert_eq!(render(template, &data), expected, "{template}");
    }
}

#[test]
fn go_parse_errors() {
    for (template, expected) in [
        ("{{.Foo", "template: :1: unclosed action"),
        ("{{.Foo}", "template: :1: bad character U+007D '}'"),
        ("{{if .X}}a", "template: :1: unexpected EOF"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{foo}}", "template: :1: function \"foo\" not defined"),
        ("{{}}", "template: :1: missing value for command"),
        ("{{\"abc}}", "template: :1: unterminated quoted string"),
        ("{{else}}", "template: :1: unexpected {{else}}"),
        ("{{range}}", "template: :1: missing value for range"),
        ("{{(.A}}", "template: :1: unclosed left paren"),
        ("{{.A)}}", "template: :1: unexpected right paren"),
        ("{{1x}}", "template: :1: bad number syntax: \"1x\""),
        ("{{$x}}", "template: :1: undefined variable \"$x\""),
        ("{{/* a", "template: :1: unclosed comment"),
        ("{{if}}{{end}}", "template: :1: missing value for if"),
        (
            "{{with .A}}{{else}}{{else}}{{end}}",
            "template: :1: expected end; found {{else}}",
        ),
        ("{{$x := }}", "template: :1: missing value for command"),
        ("{{break}}", "template: :1: {{break}} outside {{range}}"),
        ("a\n{{.X\n}}{{end}}", "template: :3: unexpected {{end}}"),
        ("{{. Foo}}", "template: :1: function \"Foo\" not defined"),
    ] {
        assert_eq!(parse_error(template), expected, "{template:?}");
    }
}

#[test]
fn go_exec_errors() {
    let data = Value::from_json_maps(&json!({ "L": ["a"], "S": "x" }));
    for (template, expected) in [
        (
            "{{index .L 5}}",
            "template: :1:2: executing \"\" at <index .L 5>: error calling index: index out of range: 5",
        ),
        (
            "{{join .S \",\"}}",
            "template: :1:2: executing \"\" at <join .S \",\">: wrong type for value; expected []string; got string",
        ),
        (
            "{{len 3}}",
            "template: :1:2: executing \"\" at <len 3>: error calling len: len of type int",
        ),
        (
            "{{.S.X}}",
            "template: :1:4: executing \"\" at <.S.X>: can't evaluate field X in type string",
        ),
        (
            "{{eq 1 \"a\"}}",
            "template: :1:2: executing \"\" at <eq 1 \"a\">: error calling eq: incompatible types for comparison",
        ),
    ] {
        assert_eq!(
            exec_error(template, &data, Missing::Field),
            expected,
            "{template}"
        );
    }
}
