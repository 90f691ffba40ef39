//! The builder: a parsed Dockerfile and a context directory into an image, step by step as
//! Docker's classic builder does it.
//!
//! Each stage starts from its `FROM` image (from the store, pulled when missing or with
//! `--pull`; `scratch`; or an earlier stage's result); each instruction then makes a new
//! untagged image in the store: a `RUN` from its container's upper directory ([`run`]), a
//! `COPY`/`ADD` from the files themselves ([`copy`]), a metadata instruction by changing the
//! config alone ([`meta`]), with an `empty_layer` history entry. Each step's result is cached
//! ([`cache`]) under its parent image and its instruction as expanded (and for `COPY`/`ADD` a
//! hash of the files). Only the stages the target needs are built; the final image is tagged
//! only once every step has succeeded.

pub mod cache;
mod copy;
mod error;
mod glob;
mod image;
mod layer;
mod meta;
mod output;
mod run;
pub mod tree;
mod vars;

pub use error::BuildError;
pub use output::Progress;

use crate::dockerfile::ast::{ArgDecl, CopySpec, Dockerfile, Instruction, Located};
use berth_engine::config::EngineConfig;
use berth_engine::notices::Notices;
use berth_engine::paths::Roots;
use berth_image::digest::Digest;
use berth_image::local::{self, LocalError};
use berth_image::manifest::Platform;
use berth_image::new_image::{ManifestFormat, record_image};
use berth_image::reference::Reference;
use berth_image::store::Store;
use cache::Cache;
use copy::{Attributes, Plan, Root};
use image::Image;
use meta::{StageState, env_of};
use output::Output;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tree::{ContextTree, Excluded, LayerTree, Node, Tree};
use vars::Scope;

/// The build args Docker passes to `RUN` without an `ARG` (and keeps out of the history).
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What to build and how.
pub struct BuildOptions<'a> {
    /// The Dockerfile, parsed.
    pub dockerfile: &'a Dockerfile,
    /// The context directory.
    pub context: &'a Path,
    /// `.dockerignore`'s verdict on a context path.
    pub excluded: &'a Excluded<'a>,
    /// `-t`
    pub tags: Vec<Reference>,
    /// `--build-arg`s with values.
    pub build_args: BTreeMap<String, String>,
    /// `--target`
    pub target: Option<String>,
    /// `--no-cache`
    pub no_cache: bool,
    /// `--pull`
    pub pull: bool,
    /// `--label`s, set on the final image.
    pub labels: BTreeMap<String, String>,
    /// `--network` for `RUN`: `bridge`, `none` or `host`.
    pub network: String,
    /// How progress is shown.
    pub progress: Progress,
}

/// Builds the image; returns its id.
pub fn build(
    roots: &Roots,
    config: &EngineConfig,
    options: &BuildOptions<'_>,
    notices: &dyn Notices,
) -> Result<Digest, BuildError> {
    let store =
        Store::open(&roots.root).map_err(|e| BuildError::failed("open the image store", e))?;
    let dockerfile = options.dockerfile;
    if dockerfile.stages.is_empty() {
        return Err(BuildError::Dockerfile(
            "the Dockerfile has no FROM instruction".into(),
        ));
    }
    let mut builder = Builder {
        roots,
        config,
        options,
        notices,
        store,
        cache: Cache::new(&roots.root),
        out: Output::new(options.progress, 0),
        stages: vec![None; dockerfile.stages.len()],
        consumed: BTreeSet::new(),
        global: Scope::new(dockerfile.directives.escape),
    };
    for decl in &dockerfile.global_args {
        let value = builder.arg_value(decl, &builder.global.clone(), None)?;
        builder.global.args.insert(decl.name.clone(), value);
    }
    let target = match &options.target {
        Some(name) => builder
            .stage_named(name, dockerfile.stages.len())
            .ok_or_else(|| {
                BuildError::Dockerfile(format!("failed to reach build target {name} in Dockerfile"))
            })?,
        None => dockerfile.stages.len() - 1,
    };
    let mut needed = BTreeSet::new();
    builder.needs(target, &mut needed)?;
    builder.out.total = needed
        .iter()
        .map(|&i| 1 + dockerfile.stages[i].instructions.len())
        .sum::<usize>()
        + usize::from(!options.labels.is_empty());
    for &i in &needed {
        let image = builder.stage(i)?;
        builder.stages[i] = Some(image);
    }
    let mut image = builder.stages[target].take().expect("the target was built");
    if !options.labels.is_empty() {
        let pairs: Vec<(String, String)> = options
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        builder
            .out
            .step("[labels]", &format!("LABEL {}", text.join(" ")));
        let mut state = StageState {
            shell: default_shell(&image.config),
            cmd_set: true,
        };
        builder.instruction(
            &mut image,
            &mut Scope::new(dockerfile.directives.escape),
            &mut state,
            &Instruction::Label(pairs),
            target,
        )?;
    }
    let unused: Vec<&String> = options
        .build_args
        .keys()
        .filter(|k| !builder.consumed.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        builder.out.warning(&format!(
            "One or more build-args [{}] were not consumed",
            names.join(" ")
        ));
    }
    let id = builder.recorded(&mut image)?;
    for tag in &options.tags {
        local::tag(&builder.store, &id.to_string(), &tag.to_string())
            .map_err(|e| BuildError::failed(&format!("tag {tag}"), e))?;
    }
    let shown: Vec<String> = options
        .tags
        .iter()
        .map(|t| match options.progress {
            Progress::Plain => t.to_string(),
            _ => format!(
                "{}:{}",
                t.familiar_name(),
                t.tag.as_deref().unwrap_or("latest")
            ),
        })
        .collect();
    builder.out.finished(&id, &shown);
    Ok(id)
}

/// The image config's `SHELL`, or `/bin/sh -c`.
fn default_shell(config: &Value) -> Vec<String> {
    config["config"]["Shell"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .filter(|s: &Vec<String>| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// What a step does once its cache entry is missed.
enum Work {
    /// Only the config changes.
    Config(Value),
    /// A layer of files (and, for `WORKDIR`, a config change).
    Layer(Box<Plan>, Option<Value>),
    /// A command in a container.
    Run(Vec<String>, Vec<String>, String),
}

struct Builder<'a> {
    roots: &'a Roots,
    config: &'a EngineConfig,
    options: &'a BuildOptions<'a>,
    notices: &'a dyn Notices,
    store: Store,
    cache: Cache,
    out: Output,
    /// The stages built so far.
    stages: Vec<Option<Image>>,
    /// The build args some `ARG` took.
    consumed: BTreeSet<String>,
    /// The `ARG`s before the first `FROM`.
    global: Scope,
}

impl Builder<'_> {
    /// The stage called `name` (its `AS` name or its index) among the first `before`.
    fn stage_named(&self, name: &str, before: usize) -> Option<usize> {
        let stages = &self.options.dockerfile.stages;
        let lower = name.to_ascii_lowercase();
        stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().filter(|&i| i < before))
    }

    /// Adds stage `i` and the stages it needs (its `FROM`, its `COPY --from`s) to `needed`.
    fn needs(&self, i: usize, needed: &mut BTreeSet<usize>) -> Result<(), BuildError> {
        if !needed.insert(i) {
            return Ok(());
        }
        let stage = &self.options.dockerfile.stages[i];
        let mut names = vec![self.global.expand(&stage.from.item.image)?];
        for instruction in &stage.instructions {
            if let Instruction::Copy(CopySpec {
                from: Some(from), ..
            })
            | Instruction::Add {
                spec: CopySpec {
                    from: Some(from), ..
                },
                ..
            } = &instruction.item
            {
                names.push(self.global.expand(from)?);
            }
        }
        for name in names {
            if let Some(j) = self.stage_named(&name, i) {
                self.needs(j, needed)?;
            }
        }
        Ok(())
    }

    /// The value an `ARG` gets: the build arg, else its default, else the global one.
    fn arg_value(
        &mut self,
        decl: &ArgDecl,
        scope: &Scope,
        global: Option<&Scope>,
    ) -> Result<Option<String>, BuildError> {
        if let Some(value) = self.options.build_args.get(&decl.name) {
            self.consumed.insert(decl.name.clone());
            return Ok(Some(value.clone()));
        }
        if let Some(default) = &decl.default {
            return Ok(Some(scope.expand(default)?));
        }
        Ok(global.and_then(|g| g.args.get(&decl.name).cloned().flatten()))
    }

    /// The image `name` from the store, pulled when missing or with `--pull`.
    fn base_image(&self, name: &str, platform: Option<&str>) -> Result<Image, BuildError> {
        let images = self
            .store
            .images()
            .map_err(|e| BuildError::failed("read images", e))?;
        let local = local::resolve(&images, name);
        let reference = Reference::parse(name);
        let id = match (local, reference) {
            (Ok(id), _) if !self.options.pull => id,
            (Ok(id), Err(_)) => id,
            (Err(e @ LocalError::Ambiguous(_)), _) => {
                return Err(BuildError::failed(&format!("find image {name}"), e));
            }
            (_, Err(e)) => return Err(BuildError::failed(&format!("pull {name}"), e)),
            (_, Ok(reference)) => {
                let wanted = match platform {
                    Some(p) => Some(Platform::parse(p).ok_or_else(|| {
                        BuildError::Dockerfile(format!("invalid platform \"{p}\""))
                    })?),
                    None => None,
                };
                berth_image::pull::pull(
                    &self.store,
                    &reference,
                    &self.config.pull_options(wanted),
                    self.notices,
                )
                .map_err(|e| BuildError::failed(&format!("pull {name}"), e))?
                .id
            }
        };
        Image::stored(&self.store, &id)
    }

    /// The image recorded in the store (a `scratch` stage with no step yet is not).
    fn recorded(&self, image: &mut Image) -> Result<Digest, BuildError> {
        if let Some(id) = &image.id {
            return Ok(id.clone());
        }
        let bytes = serde_json::to_vec(&image.config).expect("a config serialises");
        let id = record_image(
            &self.store,
            &bytes,
            &image.layers,
            ManifestFormat::Docker,
            &[],
        )
        .map_err(|e| BuildError::failed("record the image", e))?;
        image.id = Some(id.clone());
        Ok(id)
    }

    /// Builds stage `i`.
    fn stage(&mut self, i: usize) -> Result<Image, BuildError> {
        let stage = &self.options.dockerfile.stages[i];
        let steps = 1 + stage.instructions.len();
        let label = |k: usize| match &stage.name {
            Some(name) => format!("[{name} {k}/{steps}]"),
            None => format!("[{k}/{steps}]"),
        };
        self.out.step(&label(1), &stage.from.text);
        let name = self.global.expand(&stage.from.item.image)?;
        let platform = match &stage.from.item.platform {
            Some(p) => Some(self.global.expand(p)?),
            None => None,
        };
        let mut image = match self.stage_named(&name, i) {
            Some(j) => self.stages[j]
                .clone()
                .expect("the stages a stage needs are built first"),
            None if name.eq_ignore_ascii_case("scratch") => Image::scratch(
                &platform
                    .as_deref()
                    .and_then(Platform::parse)
                    .unwrap_or_else(Platform::host),
            ),
            None => self.base_image(&name, platform.as_deref())?,
        };
        if let Some(id) = &image.id {
            self.out.done(id);
        }
        let mut scope = Scope {
            env: env_of(&image.config),
            ..Scope::new(self.options.dockerfile.directives.escape)
        };
        let mut state = StageState {
            shell: default_shell(&image.config),
            cmd_set: false,
        };
        self.triggers(&mut image, &mut scope, &mut state, i)?;
        for (k, located) in stage.instructions.iter().enumerate() {
            self.out.step(&label(k + 2), &located.text);
            self.located(&mut image, &mut scope, &mut state, located, i)?;
        }
        Ok(image)
    }

    /// Runs the `ONBUILD` triggers of the stage's base image, which its config then loses.
    fn triggers(
        &mut self,
        image: &mut Image,
        scope: &mut Scope,
        state: &mut StageState,
        stage: usize,
    ) -> Result<(), BuildError> {
        let triggers: Vec<String> = image.config["config"]["OnBuild"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if triggers.is_empty() {
            return Ok(());
        }
        image.config["config"]["OnBuild"] = Value::Null;
        for trigger in triggers {
            let parsed = crate::dockerfile::parse::parse(&format!("FROM scratch\n{trigger}"))
                .map_err(|e| BuildError::Dockerfile(format!("ONBUILD {trigger}: {}", e.message)))?;
            for located in parsed.stages.iter().flat_map(|s| &s.instructions) {
                self.out.step("[onbuild]", &located.text);
                self.located(image, scope, state, located, stage)?;
            }
        }
        Ok(())
    }

    /// Runs one instruction, its line named when it fails for a reason of the Dockerfile's.
    fn located(
        &mut self,
        image: &mut Image,
        scope: &mut Scope,
        state: &mut StageState,
        located: &Located<Instruction>,
        stage: usize,
    ) -> Result<(), BuildError> {
        self.instruction(image, scope, state, &located.item, stage)
            .map_err(|e| match e {
                BuildError::Dockerfile(why) => BuildError::Dockerfile(format!(
                    "Dockerfile:{}: {}: {why}",
                    located.line, located.text
                )),
                other => other,
            })
    }

    fn instruction(
        &mut self,
        image: &mut Image,
        scope: &mut Scope,
        state: &mut StageState,
        instruction: &Instruction,
        stage: usize,
    ) -> Result<(), BuildError> {
        let shell = state.shell.join(" ");
        match instruction {
            Instruction::Arg(decls) => {
                let mut shown = Vec::new();
                for decl in decls {
                    let global = self.global.clone();
                    let value = self.arg_value(decl, scope, Some(&global))?;
                    scope.args.insert(decl.name.clone(), value);
                    shown.push(match &decl.default {
                        Some(default) => format!("{}={default}", decl.name),
                        None => decl.name.clone(),
                    });
                }
                let created_by = format!("{shell} #(nop)  ARG {}", shown.join(" "));
                self.commit(
                    image,
                    &created_by,
                    "",
                    Work::Config(image.config.clone()),
                    &[],
                )?;
            }
            Instruction::Run {
                command,
                mounts,
                network,
                heredocs,
            } => {
                if !mounts.is_empty() {
                    return Err(BuildError::Dockerfile(
                        "RUN --mount is not supported by berth's builder".into(),
                    ));
                }
                let argv = match command {
                    crate::dockerfile::ast::Command::Exec(args) => args.clone(),
                    crate::dockerfile::ast::Command::Shell(line) => {
                        let bare = line.trim().starts_with("<<")
                            && !line.trim().contains(char::is_whitespace);
                        let script = match heredocs.first() {
                            Some(doc) if bare => doc.content.clone(),
                            _ => with_heredocs(line, heredocs),
                        };
                        state.shell.iter().cloned().chain([script]).collect()
                    }
                };
                let shown = argv.join(" ");
                let args = scope.run_args();
                let created_by = match args.is_empty() {
                    true => shown.clone(),
                    false => {
                        let pairs: Vec<String> =
                            args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("|{} {} {shown}", args.len(), pairs.join(" "))
                    }
                };
                let mut env: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                for (k, v) in &self.options.build_args {
                    if PROXY_ARGS.contains(&k.as_str()) && !scope.args.contains_key(k) {
                        env.push(format!("{k}={v}"));
                    }
                }
                let network = match network {
                    Some(n) => n.clone(),
                    None => self.options.network.clone(),
                };
                self.commit(
                    image,
                    &created_by,
                    &network,
                    Work::Run(argv, env, network.clone()),
                    &[],
                )?;
            }
            Instruction::Copy(spec) => {
                self.copy(image, scope, &shell, spec, stage, false, None)?;
            }
            Instruction::Add { spec, checksum, .. } => {
                self.copy(image, scope, &shell, spec, stage, true, checksum.as_deref())?;
            }
            Instruction::Workdir(dir) => {
                let dir = scope.expand(dir)?;
                let current = image.config["config"]["WorkingDir"]
                    .as_str()
                    .unwrap_or("/")
                    .to_owned();
                let rel = tree::clean(&match dir.starts_with('/') {
                    true => dir,
                    false => format!("{current}/{dir}"),
                })
                .unwrap_or_default();
                let absolute = format!("/{rel}");
                let mut config = image.config.clone();
                image_run_config(&mut config).insert("WorkingDir".into(), json!(absolute));
                let created_by = format!("{shell} #(nop) WORKDIR {absolute}");
                let layers = LayerTree {
                    layers: image.layer_dirs(&self.store),
                };
                let exists = rel.is_empty() || layers.lookup(&rel, true)?.is_some();
                let work = match exists {
                    true => Work::Config(config),
                    false => {
                        let mut plan = Plan::default();
                        plan.dir(&rel, (0, 0), None, None);
                        plan.parents(&layers, (0, 0))?;
                        Work::Layer(Box::new(plan), Some(config))
                    }
                };
                self.commit(image, &created_by, "", work, &[])?;
            }
            other => {
                let mut config = image.config.clone();
                let message = meta::apply(&mut config, other, scope, state)?
                    .expect("every other instruction only changes the config");
                let created_by = format!("{shell} #(nop)  {message}");
                self.commit(image, &created_by, "", Work::Config(config), &[])?;
            }
        }
        scope.env = env_of(&image.config);
        Ok(())
    }

    /// `COPY` and `ADD`.
    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        image: &mut Image,
        scope: &Scope,
        shell: &str,
        spec: &CopySpec,
        stage: usize,
        add: bool,
        checksum: Option<&str>,
    ) -> Result<(), BuildError> {
        let keyword = if add { "ADD" } else { "COPY" };
        let mut sources = Vec::new();
        for source in &spec.sources {
            sources.push(scope.expand(source)?);
        }
        let dest = scope.expand(&spec.dest)?;
        let dest = match dest.starts_with('/') {
            true => dest,
            false => {
                let dir = image.config["config"]["WorkingDir"].as_str().unwrap_or("/");
                format!("{}/{dest}", dir.trim_end_matches('/'))
            }
        };
        let dest_tree = LayerTree {
            layers: image.layer_dirs(&self.store),
        };
        let owner = match &spec.chown {
            Some(chown) => {
                let chown = scope.expand(chown)?;
                let user = berth_engine::users::resolve(
                    &chown,
                    &tree::read_text(&dest_tree, "etc/passwd"),
                    &tree::read_text(&dest_tree, "etc/group"),
                )
                .map_err(|e| BuildError::Dockerfile(format!("--chown={chown}: {e}")))?;
                Some((u64::from(user.uid), u64::from(user.gid)))
            }
            None => None,
        };
        let mode = match &spec.chmod {
            Some(text) => Some(u32::from_str_radix(text, 8).map_err(|_| {
                BuildError::Dockerfile(format!("invalid --chmod={text}: not an octal mode"))
            })?),
            None => None,
        };
        let attributes = Attributes {
            owner: owner.or(Some((0, 0))),
            mode,
        };
        let excluded = self.options.excluded;
        let context = ContextTree {
            root: self.options.context.to_owned(),
            excluded,
        };
        let mut downloads = Vec::new();
        let mut stage_sources = Vec::new();
        let (mut plan, roots, from_id) = match &spec.from {
            Some(from) => {
                let from = scope.expand(from)?;
                let source = match self.stage_named(&from, stage) {
                    Some(j) => {
                        let source = self.stages[j]
                            .clone()
                            .expect("needed stages are built first");
                        stage_sources.push(source.parent_key());
                        source
                    }
                    None => self.base_image(&from, None)?,
                };
                let tree = LayerTree {
                    layers: source.layer_dirs(&self.store),
                };
                let roots = copy::find(&tree, &sources)?;
                let plan = copy::plan(&tree, &roots, &dest, &dest_tree, attributes, false)?;
                (plan, roots, source.parent_key())
            }
            None => {
                let mut roots = Vec::new();
                let (urls, local): (Vec<String>, Vec<String>) = sources
                    .into_iter()
                    .partition(|s| add && (s.starts_with("http://") || s.starts_with("https://")));
                roots.extend(copy::find(&context, &local)?);
                for url in urls {
                    let (root, file) = self.download(&url, checksum)?;
                    downloads.push(file);
                    roots.push(root);
                }
                let plan = copy::plan(&context, &roots, &dest, &dest_tree, attributes, add)?;
                (plan, roots, String::new())
            }
        };
        for doc in &spec.heredocs {
            let content = match doc.expand {
                true => scope.expand(&doc.content)?,
                false => doc.content.clone(),
            };
            let rel = tree::clean(&dest)?;
            let path =
                match spec.sources.is_empty() && spec.heredocs.len() == 1 && !dest.ends_with('/') {
                    true => rel,
                    false => format!("{rel}/{}", doc.name),
                };
            plan.bytes(
                path.trim_start_matches('/'),
                content.into_bytes(),
                attributes,
            );
        }
        plan.parents(&dest_tree, attributes.owner.unwrap_or((0, 0)))?;
        let hash = plan.digest(spec.from.is_none())?;
        let kind = match roots.as_slice() {
            [one] if one.node.meta.is_dir() => "dir",
            [_] => "file",
            _ => "multi",
        };
        let created_by = format!("{shell} #(nop) {keyword} {kind}:{hash} in {dest} ");
        let extra = format!("{from_id}\0{:?}\0{:?}", spec.chown, spec.chmod);
        let work = Work::Layer(Box::new(plan), None);
        let result = self.commit(image, &created_by, &extra, work, &stage_sources);
        drop(downloads);
        result
    }

    /// Downloads `url` (for `ADD`) into a temporary file of the store; its root is named after
    /// the URL's last path part, with mode 0600 as Docker's.
    fn download(
        &self,
        url: &str,
        checksum: Option<&str>,
    ) -> Result<(Root, tempfile::NamedTempFile), BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let failed = |e: &dyn std::fmt::Display| BuildError::Source(format!("ADD {url}: {e}"));
        let _ = std::fs::create_dir_all(self.store.tmp_dir());
        let mut file =
            tempfile::NamedTempFile::new_in(self.store.tmp_dir()).map_err(|e| failed(&e))?;
        let mut body = berth_image::import::fetch(url).map_err(|e| failed(&e))?;
        std::io::copy(&mut body, file.as_file_mut()).map_err(|e| failed(&e))?;
        if let Some(want) = checksum {
            let bytes = std::fs::read(file.path()).map_err(|e| failed(&e))?;
            let got = Digest::of(&bytes).to_string();
            if got != want {
                return Err(failed(&format!(
                    "checksum mismatch: {want} wanted, {got} got"
                )));
            }
        }
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| failed(&e))?;
        let meta = std::fs::symlink_metadata(file.path()).map_err(|e| failed(&e))?;
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let name = path
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && !path.ends_with("//"))
            .unwrap_or("download")
            .to_owned();
        let root = Root {
            rel: None,
            name,
            node: Node {
                host: file.path().to_owned(),
                meta,
            },
        };
        Ok((root, file))
    }

    /// A step: its cached image when the cache has one (and `--no-cache` was not given), else
    /// `work` done and its image recorded and cached.
    fn commit(
        &mut self,
        image: &mut Image,
        created_by: &str,
        extra: &str,
        work: Work,
        sources: &[String],
    ) -> Result<(), BuildError> {
        let parent = image.parent_key();
        let key = cache::key(&parent, &format!("{created_by}\0{extra}"));
        if !self.options.no_cache
            && let Some(id) = self.cache.get(&self.store, &key)
        {
            *image = Image::stored(&self.store, &id)?;
            self.out.cached(&id);
            return Ok(());
        }
        let made = self.config.made_layers();
        let id = match work {
            Work::Config(config) => {
                image.config = config;
                image.commit(&self.store, None, created_by)?
            }
            Work::Layer(plan, config) => {
                let layer = layer::store_tar(&self.store, image.layers.last(), made, |out| {
                    plan.write(out)
                })?;
                if let Some(config) = config {
                    image.config = config;
                }
                image.commit(&self.store, Some(layer), created_by)?
            }
            Work::Run(argv, env, network) => {
                let id = self.recorded(image)?;
                let shown = argv.join(" ");
                let step = run::RunStep {
                    shown: &shown,
                    image: &id,
                    argv: argv.clone(),
                    env,
                    network: &network,
                    quiet: self.options.progress == Progress::Quiet,
                };
                let out = &self.out;
                let layer = run::run(
                    self.roots,
                    self.config,
                    &self.store,
                    &step,
                    image.layers.last(),
                    self.notices,
                    &mut |short| out.running_in(short),
                )?;
                image.commit(&self.store, Some(layer), created_by)?
            }
        };
        self.cache.put(&key, &parent, &id, sources);
        self.out.done(&id);
        Ok(())
    }
}

/// The run config of an image config, made an object when it is not.
fn image_run_config(config: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    config["config"].as_object_mut().expect("an object")
}

/// A shell-form `RUN` line with its here-documents after it, for the shell to read.
fn with_heredocs(line: &str, heredocs: &[crate::dockerfile::ast::Heredoc]) -> String {
    let mut script = line.to_owned();
    for doc in heredocs {
        script.push('\n');
        script.push_str(&doc.content);
        if !doc.content.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(&doc.name);
    }
    script
}
