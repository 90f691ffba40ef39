//! Parser tests, after BuildKit's parser and instructions test cases.

use super::*;
use crate::dockerfile::ast::{ArgDecl, Command, CopySpec, From, Healthcheck, Heredoc, Instruction};

fn instructions(text: &str) -> Vec<Instruction> {
    let df = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    df.stages
        .into_iter()
        .flat_map(|s| s.instructions)
        .map(|l| l.item)
        .collect()
}

/// The one instruction after `FROM a`.
fn one(line: &str) -> Instruction {
    let mut all = instructions(&format!("FROM a\n{line}\n"));
    assert_eq!(all.len(), 1, "{line:?}");
    all.remove(0)
}

/// The error of a Dockerfile, as `line: message`.
fn error(text: &str) -> String {
    let e = parse(text).unwrap_err();
    format!("{}: {}", e.line, e.message)
}

fn s(v: &str) -> String {
    v.to_string()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn basic_stage() {
    let df = parse("FROM busybox:1.36 AS Build\nRUN echo hi\nCMD [\"sh\"]\n").unwrap();
    assert_eq!(df.stages.len(), 1);
    let st = &df.stages[0];
    assert_eq!(st.name.as_deref(), Some("build"));
    assert_eq!(st.from.line, 1);
    assert_eq!(st.from.text, "FROM busybox:1.36 AS Build");
    assert_eq!(
        st.from.item,
        From {
            image: s("busybox:1.36"),
            platform: None
        }
    );
    assert_eq!(st.instructions[0].line, 2);
    assert_eq!(st.instructions[0].text, "RUN echo hi");
    assert_eq!(
        st.instructions[1].item,
        Instruction::Cmd(Command::Exec(strs(&["sh"])))
    );
    assert_eq!(df.directives.escape, '\\');
}

#[test]
fn instruction_names_are_case_insensitive() {
    assert_eq!(
        instructions("from a\nrun echo\nWorkDir /x\n"),
        [
            Instruction::Run {
                command: Command::Shell(s("echo")),
                mounts: vec![],
                network: None,
                heredocs: vec![]
            },
            Instruction::Workdir(s("/x"))
        ]
    );
}

#[test]
fn from_forms() {
    let df = parse("ARG V=1\nFROM --platform=$P img:$V as x\nFROM x\nFROM scratch\n").unwrap();
    assert_eq!(
        df.global_args,
        [ArgDecl {
            name: s("V"),
            default: Some(s("1"))
        }]
    );
    assert_eq!(df.stages[0].from.item.platform.as_deref(), Some("$P"));
    assert_eq!(df.stages[0].from.item.image, "img:$V");
    assert_eq!(df.stages[1].from.item.image, "x");
    assert_eq!(df.stages[1].name, None);
    assert_eq!(df.stages[2].from.item.image, "scratch");
    assert_eq!(
        error("FROM a AS 1x\n"),
        "1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        error("FROM a b\n"),
        "1: FROM requires either one or three arguments"
    );
    assert_eq!(
        error("FROM\n"),
        "1: FROM requires either one or three arguments"
    );
    assert_eq!(error("FROM --chown=1 a\n"), "1: unknown flag: --chown");
}

#[test]
fn errors_carry_the_line() {
    assert_eq!(error(""), "0: file with no instructions");
    assert_eq!(
        error("# just a comment\n\n"),
        "2: file with no instructions"
    );
    assert_eq!(
        error("RUN echo\nFROM a\n"),
        "1: no build stage in current context"
    );
    assert_eq!(error("FROM a\n\nFOO bar\n"), "3: unknown instruction: FOO");
    assert_eq!(error("FROM a\nfoo bar\n"), "2: unknown instruction: foo");
    let e = parse("FROM a\nRUN a \\\n  b\nBAD\n").unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:4: unknown instruction: BAD");
}

#[test]
fn comments_only_at_line_start() {
    assert_eq!(
        instructions("FROM a\n  # indented comment\nRUN echo # not a comment\n"),
        [Instruction::Run {
            command: Command::Shell(s("echo # not a comment")),
            mounts: vec![],
            network: None,
            heredocs: vec![]
        }]
    );
}

#[test]
fn line_continuations() {
    let df =
        parse("FROM a\nRUN apt-get update \\\n    && apt-get install -y x \\\n    y\nUSER me\n")
            .unwrap();
    let run = &df.stages[0].instructions[0];
    assert_eq!(run.line, 2);
    assert_eq!(
        run.text,
        "RUN apt-get update     && apt-get install -y x     y"
    );
    assert_eq!(df.stages[0].instructions[1].line, 5);
    // Comment lines and empty lines inside a continuation are skipped.
    assert_eq!(one("RUN a \\\n# comment\n\n   \n  b"), one("RUN a   b"));
    // An escaped escape at the end does not continue.
    assert_eq!(instructions("FROM a\nRUN echo \\\\\nUSER x\n").len(), 2);
    // Blanks after the escape character still continue.
    assert_eq!(one("RUN a \\  \t\nb"), one("RUN a b"));
    // A continuation at the end of the file ends the instruction.
    assert_eq!(one("RUN a \\"), one("RUN a "));
    // Windows line ends.
    assert_eq!(one("RUN a \\\r\nb\r"), one("RUN a b"));
}

#[test]
fn escape_directive() {
    let df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  /s\nCOPY a\\ b c:\\\n").unwrap();
    assert_eq!(df.directives.escape, '`');
    let ins = &df.stages[0].instructions;
    assert_eq!(ins[0].text, "RUN dir c:\\   /s");
    assert_eq!(ins[1].line, 5);
    assert_eq!(
        error("# escape=x\nFROM a\n"),
        "1: invalid escape token 'x' does not match ` or \\"
    );
}

#[test]
fn directives_only_at_the_top() {
    let df =
        parse("# syntax=docker/dockerfile:1\n#check=skip=all\n  # Escape = ` \nFROM a\n").unwrap();
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.directives.escape, '`');
    // After a comment (or an empty line) they are comments.
    let df = parse("# hello\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(df.directives.escape, '\\');
    let df = parse("\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(df.directives.escape, '\\');
    let df = parse("# unknown=x\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(df.directives.escape, '\\');
    assert_eq!(
        error("# escape=`\n# escape=\\\nFROM a\n"),
        "2: only one escape parser directive can be used"
    );
    // A byte-order mark is skipped.
    assert!(
        parse("\u{feff}# escape=`\nFROM a\n")
            .unwrap()
            .directives
            .escape
            == '`'
    );
}

#[test]
fn json_and_shell_forms() {
    assert_eq!(
        one("CMD [\"echo\", \"a b\"]"),
        Instruction::Cmd(Command::Exec(strs(&["echo", "a b"])))
    );
    assert_eq!(
        one("ENTRYPOINT [\"x\"] "),
        Instruction::Entrypoint(Command::Exec(strs(&["x"])))
    );
    assert_eq!(
        one("CMD [echo, hi]"),
        Instruction::Cmd(Command::Shell(s("[echo, hi]")))
    );
    assert_eq!(
        one("ENTRYPOINT []"),
        Instruction::Entrypoint(Command::Exec(vec![]))
    );
    assert_eq!(
        one("CMD [\"a\"\\\n, \"b\"]"),
        Instruction::Cmd(Command::Exec(strs(&["a", "b"])))
    );
    assert_eq!(
        error("FROM a\nCMD [\"a\", 1]\n"),
        "2: when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(
        one("SHELL [\"bash\", \"-c\"]"),
        Instruction::Shell(strs(&["bash", "-c"]))
    );
    assert_eq!(
        error("FROM a\nSHELL bash -c\n"),
        "2: SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(
        error("FROM a\nSHELL []\n"),
        "2: SHELL requires at least one argument"
    );
}

#[test]
fn run_flags() {
    assert_eq!(
        one(
            "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=x,ro --network=none make"
        ),
        Instruction::Run {
            command: Command::Shell(s("make")),
            mounts: vec![
                vec![
                    (s("type"), Some(s("cache"))),
                    (s("target"), Some(s("/root/.cache")))
                ],
                vec![
                    (s("type"), Some(s("bind"))),
                    (s("source"), Some(s("x"))),
                    (s("ro"), None)
                ],
            ],
            network: Some(s("none")),
            heredocs: vec![],
        }
    );
    assert_eq!(
        error("FROM a\nRUN --network=bridge x\n"),
        "2: invalid network mode \"bridge\""
    );
    assert_eq!(error("FROM a\nRUN --foo x\n"), "2: unknown flag: --foo");
    assert_eq!(
        error("FROM a\nRUN --mount x\n"),
        "2: missing a value on flag: --mount"
    );
    // Only leading words starting with -- are flags.
    assert_eq!(
        one("RUN ls --all"),
        Instruction::Run {
            command: Command::Shell(s("ls --all")),
            mounts: vec![],
            network: None,
            heredocs: vec![]
        }
    );
}

#[test]
fn copy_and_add() {
    assert_eq!(
        one("COPY --from=build --chown=1:2 --chmod=755 --link a b* /dst/"),
        Instruction::Copy(CopySpec {
            sources: strs(&["a", "b*"]),
            dest: s("/dst/"),
            from: Some(s("build")),
            chown: Some(s("1:2")),
            chmod: Some(s("755")),
            link: true,
            heredocs: vec![],
        })
    );
    assert_eq!(
        one("COPY [\"a b\", \"/c d/\"]"),
        Instruction::Copy(CopySpec {
            sources: strs(&["a b"]),
            dest: s("/c d/"),
            ..CopySpec::default()
        })
    );
    assert_eq!(
        one("ADD --checksum=sha256:abc --keep-git-dir=true --link=false https://x/y.tgz /y"),
        Instruction::Add {
            spec: CopySpec {
                sources: strs(&["https://x/y.tgz"]),
                dest: s("/y"),
                ..CopySpec::default()
            },
            checksum: Some(s("sha256:abc")),
            keep_git_dir: true,
        }
    );
    assert_eq!(
        error("FROM a\nCOPY a\n"),
        "2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(
        error("FROM a\nADD --from=x a b\n"),
        "2: unknown flag: --from"
    );
    assert_eq!(
        error("FROM a\nCOPY --checksum=x a b\n"),
        "2: unknown flag: --checksum"
    );
    assert_eq!(
        error("FROM a\nCOPY --link --link a b\n"),
        "2: duplicate flag specified: --link"
    );
}

#[test]
fn env_and_label() {
    assert_eq!(
        one("ENV A=1 B=\"two words\" C='x y' D=a\\ b E="),
        Instruction::Env(vec![
            (s("A"), s("1")),
            (s("B"), s("\"two words\"")),
            (s("C"), s("'x y'")),
            (s("D"), s("a\\ b")),
            (s("E"), s("")),
        ])
    );
    assert_eq!(
        one("ENV PATH /usr/local/bin:$PATH  x"),
        Instruction::Env(vec![(s("PATH"), s("/usr/local/bin:$PATH  x"))])
    );
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME\" version=1.0"),
        Instruction::Label(vec![
            (s("\"com.example.vendor\""), s("\"ACME\"")),
            (s("version"), s("1.0"))
        ])
    );
    assert_eq!(
        one("LABEL a b c"),
        Instruction::Label(vec![(s("a"), s("b c"))])
    );
    assert_eq!(error("FROM a\nENV A\n"), "2: ENV must have two arguments");
    assert_eq!(
        error("FROM a\nENV\n"),
        "2: ENV requires at least one argument"
    );
    assert_eq!(error("FROM a\nENV =x\n"), "2: ENV names can not be blank");
    assert_eq!(
        error("FROM a\nENV A=1 B\n"),
        "2: Syntax error - can't find = in \"B\". Must be of the form: name=value"
    );
}

#[test]
fn arg() {
    assert_eq!(
        one("ARG A B=2 C=\"x y\""),
        Instruction::Arg(vec![
            ArgDecl {
                name: s("A"),
                default: None
            },
            ArgDecl {
                name: s("B"),
                default: Some(s("2"))
            },
            ArgDecl {
                name: s("C"),
                default: Some(s("\"x y\""))
            },
        ])
    );
    assert_eq!(
        error("FROM a\nARG\n"),
        "2: ARG requires at least one argument"
    );
    assert_eq!(error("FROM a\nARG =1\n"), "2: ARG names can not be blank");
    // ARG after the first FROM belongs to the stage.
    let df = parse("ARG A\nFROM x\nARG B\n").unwrap();
    assert_eq!(df.global_args.len(), 1);
    assert_eq!(df.stages[0].instructions.len(), 1);
}

#[test]
fn single_argument_instructions() {
    assert_eq!(one("WORKDIR /a b"), Instruction::Workdir(s("/a b")));
    assert_eq!(one("USER 1000:1000"), Instruction::User(s("1000:1000")));
    assert_eq!(
        one("MAINTAINER Me <me@x>"),
        Instruction::Maintainer(s("Me <me@x>"))
    );
    assert_eq!(
        one("STOPSIGNAL SIGTERM"),
        Instruction::StopSignal(s("SIGTERM"))
    );
    assert_eq!(
        error("FROM a\nWORKDIR\n"),
        "2: WORKDIR requires exactly one argument"
    );
    assert_eq!(
        error("FROM a\nUSER\n"),
        "2: USER requires exactly one argument"
    );
    assert_eq!(error("FROM a\nUSER --x u\n"), "2: unknown flag: --x");
}

#[test]
fn expose_and_volume() {
    assert_eq!(
        one("EXPOSE 80/tcp  53/udp $PORT"),
        Instruction::Expose(strs(&["80/tcp", "53/udp", "$PORT"]))
    );
    assert_eq!(
        error("FROM a\nEXPOSE\n"),
        "2: EXPOSE requires at least one argument"
    );
    assert_eq!(
        one("VOLUME /a /b"),
        Instruction::Volume(strs(&["/a", "/b"]))
    );
    assert_eq!(
        one("VOLUME [\"/a b\", \" /c \"]"),
        Instruction::Volume(strs(&["/a b", "/c"]))
    );
    assert_eq!(
        error("FROM a\nVOLUME [\"\"]\n"),
        "2: VOLUME specified can not be an empty string"
    );
    assert_eq!(
        error("FROM a\nVOLUME\n"),
        "2: VOLUME requires at least one argument"
    );
}

#[test]
fn healthcheck() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one(
            "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=1s --retries=3 CMD curl -f http://localhost/"
        ),
        Instruction::Healthcheck(Healthcheck::Check {
            test: Command::Shell(s("curl -f http://localhost/")),
            interval: Some(s("5s")),
            timeout: Some(s("3s")),
            start_period: Some(s("1m")),
            start_interval: Some(s("1s")),
            retries: Some(s("3")),
        })
    );
    assert_eq!(
        one("healthcheck cmd [\"true\"]"),
        Instruction::Healthcheck(Healthcheck::Check {
            test: Command::Exec(strs(&["true"])),
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        })
    );
    let e = |l: &str| error(&format!("FROM a\n{l}\n"));
    assert_eq!(
        e("HEALTHCHECK NONE x"),
        "2: HEALTHCHECK NONE takes no arguments"
    );
    assert_eq!(
        e("HEALTHCHECK CMD"),
        "2: Missing command after HEALTHCHECK CMD"
    );
    assert_eq!(
        e("HEALTHCHECK RUN x"),
        "2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)"
    );
    assert_eq!(
        e("HEALTHCHECK"),
        "2: HEALTHCHECK requires at least one argument"
    );
    assert_eq!(
        e("HEALTHCHECK --retries=-1 CMD x"),
        "2: --retries cannot be negative (-1)"
    );
    assert_eq!(
        e("HEALTHCHECK --interval=1us CMD x"),
        "2: Interval \"interval\" cannot be less than 1ms"
    );
    assert_eq!(
        e("HEALTHCHECK --timeout=3 CMD x"),
        "2: time: missing unit in duration \"3\""
    );
    assert_eq!(e("HEALTHCHECK --foo=1 CMD x"), "2: unknown flag: --foo");
}

#[test]
fn onbuild() {
    assert_eq!(
        one("ONBUILD RUN echo hi"),
        Instruction::Onbuild(s("RUN echo hi"))
    );
    assert_eq!(
        one("onbuild   COPY --from=x a b"),
        Instruction::Onbuild(s("COPY --from=x a b"))
    );
    let e = |l: &str| error(&format!("FROM a\n{l}\n"));
    assert_eq!(
        e("ONBUILD ONBUILD RUN x"),
        "2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        e("ONBUILD from x"),
        "2: FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        e("ONBUILD MAINTAINER x"),
        "2: MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(e("ONBUILD"), "2: ONBUILD requires at least one argument");
}

fn heredoc(name: &str, content: &str, expand: bool, strip_tabs: bool) -> Heredoc {
    Heredoc {
        name: s(name),
        content: s(content),
        expand,
        strip_tabs,
    }
}

fn run_heredocs(text: &str) -> (Command, Vec<Heredoc>) {
    match one(text) {
        Instruction::Run {
            command, heredocs, ..
        } => (command, heredocs),
        other => panic!("{other:?}"),
    }
}

#[test]
fn run_heredocs_forms() {
    assert_eq!(
        run_heredocs("RUN <<EOF\necho a\necho $B\nEOF"),
        (
            Command::Shell(s("<<EOF")),
            vec![heredoc("EOF", "echo a\necho $B\n", true, false)]
        )
    );
    assert_eq!(
        run_heredocs("RUN <<-EOT\n\techo a\n\t\techo b\n\tEOT").1,
        [heredoc("EOT", "echo a\necho b\n", true, true)]
    );
    assert_eq!(
        run_heredocs("RUN <<\"EOF\"\n$X\nEOF").1,
        [heredoc("EOF", "$X\n", false, false)]
    );
    assert_eq!(
        run_heredocs("RUN <<'EOF'\n$X\nEOF").1,
        [heredoc("EOF", "$X\n", false, false)]
    );
    assert_eq!(
        run_heredocs("RUN python3 <<A > out && cat <<B\nprint(1)\nA\nb\nB"),
        (
            Command::Shell(s("python3 <<A > out && cat <<B")),
            vec![
                heredoc("A", "print(1)\n", true, false),
                heredoc("B", "b\n", true, false)
            ]
        )
    );
    // A line after the heredoc is the next instruction.
    let all = instructions("FROM a\nRUN <<EOF\nx\nEOF\nUSER u\n");
    assert_eq!(all[1], Instruction::User(s("u")));
    // JSON form and quoted << are not heredocs.
    assert_eq!(
        run_heredocs("RUN [\"cat\", \"<<EOF\"]"),
        (Command::Exec(strs(&["cat", "<<EOF"])), vec![])
    );
    assert_eq!(run_heredocs("RUN echo '<<EOF'").1, []);
    assert_eq!(
        error("FROM a\nRUN <<EOF\nnever ends\n"),
        "2: unterminated heredoc"
    );
}

#[test]
fn copy_heredocs() {
    assert_eq!(
        one("COPY <<EOF /etc/conf\nkey=$V\nEOF"),
        Instruction::Copy(CopySpec {
            dest: s("/etc/conf"),
            heredocs: vec![heredoc("EOF", "key=$V\n", true, false)],
            ..CopySpec::default()
        })
    );
    assert_eq!(
        one("COPY --chmod=644 <<a <<\"b\" file /dir/\n1\na\n2\nb"),
        Instruction::Copy(CopySpec {
            sources: strs(&["file"]),
            dest: s("/dir/"),
            chmod: Some(s("644")),
            heredocs: vec![
                heredoc("a", "1\n", true, false),
                heredoc("b", "2\n", false, false)
            ],
            ..CopySpec::default()
        })
    );
    assert_eq!(
        error("FROM a\nCOPY x <<EOF\nEOF\n"),
        "2: COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn onbuild_heredocs_are_kept_in_the_trigger() {
    assert_eq!(
        one("ONBUILD RUN <<EOF\necho hi\nEOF"),
        Instruction::Onbuild(s("RUN <<EOF\necho hi\nEOF"))
    );
}

#[test]
fn heredoc_words() {
    assert_eq!(
        heredoc_from_word("<<EOF"),
        Ok(Some(heredoc("EOF", "", true, false)))
    );
    assert_eq!(
        heredoc_from_word("<<-EOF"),
        Ok(Some(heredoc("EOF", "", true, true)))
    );
    assert_eq!(
        heredoc_from_word("3<<EOF"),
        Ok(Some(heredoc("EOF", "", true, false)))
    );
    assert_eq!(
        heredoc_from_word("<< EOF"),
        Ok(Some(heredoc("EOF", "", true, false)))
    );
    assert_eq!(
        heredoc_from_word("<<E\"O\"F"),
        Ok(Some(heredoc("EOF", "", false, false)))
    );
    assert_eq!(heredoc_from_word("<<"), Ok(None));
    assert_eq!(heredoc_from_word("a<<EOF"), Ok(None));
    assert_eq!(heredoc_from_word("<<EOF<"), Ok(None));
    assert_eq!(
        heredoc_from_word("<<\"a b\""),
        Ok(Some(heredoc("a b", "", false, false)))
    );
}

/// The text of each instruction after `FROM a`.
fn texts(body: &str) -> Vec<String> {
    parse(&format!("FROM a\n{body}")).unwrap().stages[0]
        .instructions
        .iter()
        .map(|l| l.text.clone())
        .collect()
}

/// BuildKit's `continueIndent` test file.
#[test]
fn buildkit_continuation_cases() {
    let body = "RUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\n  light\\\nning\n\
RUN echo hello  \\\n  world\n\
RUN echo hello  \\\nworld\n\
RUN echo hello \\\ngoodbye\\\nfrog\n\
RUN echo hello  \\  \nworld\n\
RUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\n\
RUN echo goodbye\\\nfrog\n\
RUN echo good\\\nbye\\\nfrog\n\n\
RUN echo hello \\\n# this is a comment\n\n# this is a comment with a blank line surrounding it\n\nthis is some more useful stuff\n";
    assert_eq!(
        texts(body),
        [
            "RUN echo hello  world  goodnight    moon  lightning",
            "RUN echo hello    world",
            "RUN echo hello  world",
            "RUN echo hello goodbyefrog",
            "RUN echo hello  world",
            "RUN echo hi   world  goodnight",
            "RUN echo goodbyefrog",
            "RUN echo goodbyefrog",
            "RUN echo hello this is some more useful stuff",
        ]
    );
    // BuildKit's `escapes` file: empty lines inside a continuation.
    assert_eq!(texts("RUN foo \\\n\nbar \\\n\nbaz\n"), ["RUN foo bar baz"]);
}

/// BuildKit's `env` test file: values as written, quotes and escapes kept.
#[test]
fn buildkit_env_cases() {
    let env = |line: &str| match one(line) {
        Instruction::Env(pairs) => pairs,
        other => panic!("{other:?}"),
    };
    let p = |k: &str, v: &str| (s(k), s(v));
    assert_eq!(
        env("ENV name=value\\ value2"),
        [p("name", "value\\ value2")]
    );
    assert_eq!(
        env("ENV name=\"value'quote space'value2\""),
        [p("name", "\"value'quote space'value2\"")]
    );
    assert_eq!(
        env("ENV name='value\"double quote\"value2'"),
        [p("name", "'value\"double quote\"value2'")]
    );
    assert_eq!(
        env("ENV name=value\\ value2 name2=value2\\ value3"),
        [p("name", "value\\ value2"), p("name2", "value2\\ value3")]
    );
    assert_eq!(env("ENV name=\"a\\\"b\""), [p("name", "\"a\\\"b\"")]);
    assert_eq!(env("ENV name='a\\'b''"), [p("name", "'a\\'b''")]);
    assert_eq!(env("ENV name=\"''\""), [p("name", "\"''\"")]);
    assert_eq!(
        env(
            "ENV name=value \\\n    name1=value1 \\\n    name2=\"value2a \\\n           value2b\" \\\n    name3=\"value3a\\n\\\"value3b\\\"\" \\\n\tname4=\"value4a\\\\nvalue4b\" \\"
        ),
        [
            p("name", "value"),
            p("name1", "value1"),
            p("name2", "\"value2a            value2b\""),
            p("name3", "\"value3a\\n\\\"value3b\\\"\""),
            p("name4", "\"value4a\\\\nvalue4b\""),
        ]
    );
}

/// BuildKit's `escapes` file: escapes are kept in the arguments as written.
#[test]
fn buildkit_escape_cases() {
    assert_eq!(
        one("LABEL maintainer Erik \\\\Hollensbe <erik@hollensbe.org>\\\""),
        Instruction::Label(vec![(
            s("maintainer"),
            s("Erik \\\\Hollensbe <erik@hollensbe.org>\\\"")
        )])
    );
    assert_eq!(
        one("CMD [ \"\\/usr\\\\\\\"/bin/znc\", \"-f\", \"-r\" ]"),
        Instruction::Cmd(Command::Exec(strs(&["/usr\\\"/bin/znc", "-f", "-r"])))
    );
}

/// BuildKit's heredoc parser cases: each instruction's heredocs (name, content, expand).
#[test]
fn buildkit_heredoc_cases() {
    let body = "RUN ls\n\nRUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\n\
RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\n\
RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\n\
RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\n\
RUN <<COMMENT\n# internal comment\necho foo bar # trailing comment\nCOMMENT\n\n\
RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\n\
COPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n\n\
COPY <<X <<Y /dest\nY\nX\nX\nY\n\n\
RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\n\
COPY <<file.txt /dest\nhello world\nfile.txt\n\n\
RUN <<eo'f'\necho foo\neof\n\n\
RUN <<eo\\'f\necho foo\neo'f\n\n\
RUN <<'e'o\\'f\necho foo\neo'f\n\n\
RUN <<'one two'\necho bar\none two\n\n\
RUN <<$EOF\n$EOF\n\n\
RUN <<  EOF\nEOF\n\n\
RUN <<  EOF  > foo\nEOF\n";
    let docs: Vec<Vec<(String, String, bool)>> = instructions(&format!("FROM a\n{body}"))
        .into_iter()
        .map(|i| {
            let docs = match i {
                Instruction::Run { heredocs, .. } => heredocs,
                Instruction::Copy(spec) => spec.heredocs,
                other => panic!("{other:?}"),
            };
            docs.into_iter()
                .map(|d| (d.name, d.content, d.expand))
                .collect()
        })
        .collect();
    let d = |n: &str, c: &str, e: bool| vec![(s(n), s(c), e)];
    assert_eq!(
        docs,
        [
            vec![],
            d("EMPTY", "", true),
            d("EMPTY2", "", true),
            vec![],
            d("INDENT", "\tfoo\n\tbar\n", true),
            d("UNINDENT2", "baz\nquux\n", true),
            d("NOEXPAND", "don't expand $NAME\n", false),
            d(
                "COMMENT",
                "# internal comment\necho foo bar # trailing comment\n",
                true
            ),
            d("MOUNT", "echo hello\n", true),
            d("EOF", "\"foo\"\n'bar'\n", true),
            vec![(s("X"), s("Y\n"), true), (s("Y"), s("X\n"), true)],
            d("COMPLEX", "print('hello world')\n", true),
            d("file.txt", "hello world\n", true),
            d("eof", "echo foo\n", false),
            d("eo'f", "echo foo\n", true),
            d("eo'f", "echo foo\n", false),
            d("one two", "echo bar\n", false),
            d("$EOF", "", true),
            d("EOF", "", true),
            d("EOF", "", true),
        ]
    );
}
