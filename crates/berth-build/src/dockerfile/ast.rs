//! A parsed Dockerfile: stages of instructions, each with the line it came from and its text.
//!
//! Words are kept as written (`$VAR` and `${VAR:-x}` not yet expanded), because which
//! variables are set is only known while building: the builder expands each instruction's
//! words with the stage's `ARG` and `ENV` values just before it runs it, as Docker does.

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dockerfile {
    /// The parser directives at its top.
    pub directives: Directives,
    /// `ARG`s before the first `FROM` (usable in `FROM` lines only, unless redeclared).
    pub global_args: Vec<ArgDecl>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
}

/// Parser directives (`# syntax=`, `# escape=`, `# check=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` or `` ` ``.
    pub escape: char,
    /// `# syntax=...`: recorded, not used (berth has one frontend).
    pub syntax: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
        }
    }
}

/// One `FROM` and the instructions up to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its `FROM` line.
    pub from: Located<From>,
    /// `AS name`, lowercased.
    pub name: Option<String>,
    /// Its instructions after `FROM`.
    pub instructions: Vec<Located<Instruction>>,
}

/// An item and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The line it starts on (1-based).
    pub line: usize,
    /// Its original text, continuation lines joined (what `docker history` shows, before
    /// expansion).
    pub text: String,
    /// The item.
    pub item: T,
}

/// `FROM [--platform=P] IMAGE [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image (or `scratch`, or an earlier stage's name), unexpanded.
    pub image: String,
    /// `--platform`, unexpanded.
    pub platform: Option<String>,
}

/// A command in exec form (`["a", "b"]`) or shell form (`a b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// JSON array form: run as it is.
    Exec(Vec<String>),
    /// Shell form: run with the stage's `SHELL` (`/bin/sh -c`).
    Shell(String),
}

/// A here-document (`<<EOF`, `<<-EOF`, `<<"EOF"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// Its name (`EOF`): the file name for `COPY <<EOF dest`.
    pub name: String,
    /// Its content, up to (not including) the terminator line, each line with its `\n`; for
    /// `<<-` with the leading tabs already stripped (the builder only expands it, when `expand`).
    pub content: String,
    /// Whether variables in it are expanded (not when the name was quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from each line (done by the parser, in `content`).
    pub strip_tabs: bool,
}

/// `ARG NAME[=DEFAULT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// Its default, unexpanded.
    pub default: Option<String>,
}

/// The sources and destination of `COPY` and `ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// Sources, unexpanded (paths or globs in the context, a stage's or image's paths with
    /// `--from`, URLs for `ADD`); heredocs are in `heredocs`.
    pub sources: Vec<String>,
    /// The destination, unexpanded.
    pub dest: String,
    /// `--from=stage|image`.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=MODE`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `COPY <<EOF dest` files.
    pub heredocs: Vec<Heredoc>,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
    /// [--retries=N] CMD command`; durations as written (`30s`).
    Check {
        /// The test.
        test: Command,
        /// `--interval`.
        interval: Option<String>,
        /// `--timeout`.
        timeout: Option<String>,
        /// `--start-period`.
        start_period: Option<String>,
        /// `--start-interval`.
        start_interval: Option<String>,
        /// `--retries`.
        retries: Option<String>,
    },
}

/// One instruction after `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `RUN [--mount=...] [--network=...] command` (heredocs: `RUN <<EOF`).
    Run {
        /// The command.
        command: Command,
        /// `--mount=` options as written, each a list of `key=value` (or bare `key`) items.
        mounts: Vec<Vec<(String, Option<String>)>>,
        /// `--network=`.
        network: Option<String>,
        /// Here-documents of the command (a shell-form `RUN <<EOF` runs the first as its
        /// script).
        heredocs: Vec<Heredoc>,
    },
    /// `COPY`.
    Copy(CopySpec),
    /// `ADD` (`--checksum=` kept in `checksum`).
    Add {
        /// Sources and destination.
        spec: CopySpec,
        /// `--checksum=sha256:...` of a URL source.
        checksum: Option<String>,
        /// `--keep-git-dir`.
        keep_git_dir: bool,
    },
    /// `ENV K=V ...` (or the old `ENV K V`), unexpanded values.
    Env(Vec<(String, String)>),
    /// `ARG`.
    Arg(Vec<ArgDecl>),
    /// `WORKDIR`.
    Workdir(String),
    /// `USER`.
    User(String),
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `EXPOSE 80/tcp ...`.
    Expose(Vec<String>),
    /// `LABEL K=V ...`.
    Label(Vec<(String, String)>),
    /// `VOLUME ["/a"]` or `VOLUME /a /b`.
    Volume(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL ["sh", "-c"]` (JSON form only).
    Shell(Vec<String>),
    /// `ONBUILD INSTRUCTION`: the trigger's text, kept for the image's `OnBuild` and run by
    /// the builds that start `FROM` it.
    Onbuild(String),
    /// `MAINTAINER name` (deprecated: the image's author).
    Maintainer(String),
}
