//! The instructions that only change the image's config (`ENV`, `LABEL`, `CMD`, ...): each
//! applied to the config, with the text its `#(nop)` history entry shows.

use crate::builder::error::BuildError;
use crate::builder::vars::Scope;
use crate::dockerfile::ast::{Command, Healthcheck, Instruction};
use crate::dockerfile::parse::parse_duration;
use serde_json::{Map, Value, json};

/// What a stage carries from one instruction to the next besides its image.
#[derive(Debug, Clone)]
pub struct StageState {
    /// `SHELL` (`/bin/sh -c` by default).
    pub shell: Vec<String>,
    /// Whether this stage set `CMD` (an `ENTRYPOINT` resets the base image's otherwise).
    pub cmd_set: bool,
}

/// Docker's `%q` of a list: `["a" "b c"]`.
pub fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).expect("a string serialises"))
        .collect();
    format!("[{}]", quoted.join(" "))
}

/// The command as the config keeps it: exec form as it is, shell form after the shell.
pub fn argv(command: &Command, shell: &[String]) -> Vec<String> {
    match command {
        Command::Exec(args) => args.clone(),
        Command::Shell(line) => shell.iter().cloned().chain([line.clone()]).collect(),
    }
}

fn object<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !config.get(key).is_some_and(Value::is_object) {
        config.insert(key.to_owned(), json!({}));
    }
    config[key].as_object_mut().expect("an object")
}

/// Sets `KEY=value` in the config's `Env`, replacing an earlier value of the key.
pub fn set_env(config: &mut Map<String, Value>, key: &str, value: &str) {
    let mut env: Vec<String> = config
        .get("Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let entry = format!("{key}={value}");
    match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
        Some(old) => *old = entry,
        None => env.push(entry),
    }
    config.insert("Env".into(), json!(env));
}

/// The image's `Env` as pairs.
pub fn env_of(config: &Value) -> Vec<(String, String)> {
    config["config"]["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(|e| {
                    let (k, v) = e.split_once('=').unwrap_or((e, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies the metadata instruction `instruction` to the image config `image`; returns the
/// text after `#(nop)` in its history entry. `None` when it is not a metadata instruction.
pub fn apply(
    image: &mut Value,
    instruction: &Instruction,
    scope: &Scope,
    stage: &mut StageState,
) -> Result<Option<String>, BuildError> {
    if !image["config"].is_object() {
        image["config"] = json!({});
    }
    let top = image.as_object_mut().expect("an image config is an object");
    let config = top
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .expect("made an object");
    let message = match instruction {
        Instruction::Env(pairs) => {
            let mut shown = Vec::new();
            // Every value sees the environment from before the instruction, as in Docker.
            let mut expanded = Vec::new();
            for (key, value) in pairs {
                expanded.push((scope.expand(key)?, scope.expand(value)?));
            }
            for (key, value) in expanded {
                set_env(config, &key, &value);
                shown.push(format!("{key}={value}"));
            }
            format!("ENV {}", shown.join(" "))
        }
        Instruction::Label(pairs) => {
            let mut shown = Vec::new();
            for (key, value) in pairs {
                let (key, value) = (scope.expand(key)?, scope.expand(value)?);
                object(config, "Labels").insert(key.clone(), json!(value));
                shown.push(format!("{key}={value}"));
            }
            format!("LABEL {}", shown.join(" "))
        }
        Instruction::User(user) => {
            let user = scope.expand(user)?;
            config.insert("User".into(), json!(user));
            format!("USER {user}")
        }
        Instruction::Cmd(command) => {
            let args = argv(command, &stage.shell);
            config.insert("Cmd".into(), json!(args));
            stage.cmd_set = true;
            format!("CMD {}", quoted_list(&args))
        }
        Instruction::Entrypoint(command) => {
            let args = argv(command, &stage.shell);
            config.insert("Entrypoint".into(), json!(args));
            if !stage.cmd_set {
                config.insert("Cmd".into(), Value::Null);
            }
            format!("ENTRYPOINT {}", quoted_list(&args))
        }
        Instruction::Expose(ports) => {
            let mut shown = Vec::new();
            let mut expanded = Vec::new();
            for port in ports {
                expanded.extend(scope.expand_words(port)?);
            }
            for port in expanded {
                let (number, protocol) = port.split_once('/').unwrap_or((&port, "tcp"));
                let protocol = protocol.to_ascii_lowercase();
                let (from, to) = number.split_once('-').unwrap_or((number, number));
                let (Ok(from), Ok(to)) = (from.parse::<u16>(), to.parse::<u16>()) else {
                    return Err(BuildError::Dockerfile(format!(
                        "invalid containerPort: {number}"
                    )));
                };
                for p in from..=to {
                    let key = format!("{p}/{protocol}");
                    object(config, "ExposedPorts").insert(key.clone(), json!({}));
                    shown.push(key);
                }
            }
            format!("EXPOSE {}", shown.join(" "))
        }
        Instruction::Volume(paths) => {
            let mut shown = Vec::new();
            for path in paths {
                let path = scope.expand(path)?;
                object(config, "Volumes").insert(path.clone(), json!({}));
                shown.push(path);
            }
            format!("VOLUME [{}]", shown.join(" "))
        }
        Instruction::StopSignal(signal) => {
            let signal = scope.expand(signal)?;
            config.insert("StopSignal".into(), json!(signal));
            format!("STOPSIGNAL {signal}")
        }
        Instruction::Healthcheck(check) => {
            let value = match check {
                Healthcheck::None => json!({"Test": ["NONE"]}),
                Healthcheck::Check {
                    test,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => {
                    let test: Vec<String> = match test {
                        Command::Exec(args) => {
                            ["CMD".to_owned()].into_iter().chain(args.clone()).collect()
                        }
                        Command::Shell(line) => vec!["CMD-SHELL".into(), line.clone()],
                    };
                    let mut value = json!({"Test": test});
                    for (key, given) in [
                        ("Interval", interval),
                        ("Timeout", timeout),
                        ("StartPeriod", start_period),
                        ("StartInterval", start_interval),
                    ] {
                        if let Some(text) = given {
                            let d = parse_duration(text).map_err(BuildError::Dockerfile)?;
                            value[key] = json!(d.as_nanos() as u64);
                        }
                    }
                    if let Some(retries) = retries {
                        let n: i64 = retries.parse().map_err(|_| {
                            BuildError::Dockerfile(format!("invalid --retries: {retries}"))
                        })?;
                        value["Retries"] = json!(n);
                    }
                    value
                }
            };
            let shown = format!("HEALTHCHECK {value}");
            config.insert("Healthcheck".into(), value);
            shown
        }
        Instruction::Shell(shell) => {
            if shell.is_empty() {
                return Err(BuildError::Dockerfile(
                    "SHELL requires at least one argument".into(),
                ));
            }
            config.insert("Shell".into(), json!(shell));
            stage.shell = shell.clone();
            format!("SHELL {}", quoted_list(shell))
        }
        Instruction::Onbuild(trigger) => {
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            list.as_array_mut().expect("an array").push(json!(trigger));
            format!("ONBUILD {trigger}")
        }
        Instruction::Maintainer(name) => {
            let name = scope.expand(name)?;
            top.insert("author".into(), json!(name));
            format!("MAINTAINER {name}")
        }
        _ => return Ok(None),
    };
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage() -> StageState {
        StageState {
            shell: vec!["/bin/sh".into(), "-c".into()],
            cmd_set: false,
        }
    }

    #[test]
    fn metadata_instructions_change_the_config_as_dockers() {
        let mut image = json!({"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}});
        let scope = Scope {
            env: vec![("PATH".into(), "/bin".into())],
            ..Scope::new('\\')
        };
        let mut s = stage();
        let env = Instruction::Env(vec![("PATH".into(), "/app:$PATH".into())]);
        assert_eq!(
            apply(&mut image, &env, &scope, &mut s).unwrap().unwrap(),
            "ENV PATH=/app:/bin"
        );
        assert_eq!(image["config"]["Env"], json!(["PATH=/app:/bin"]));
        // An ENTRYPOINT drops the base image's CMD; a CMD of the stage stays.
        let entrypoint = Instruction::Entrypoint(Command::Exec(vec!["/init".into()]));
        apply(&mut image, &entrypoint, &scope, &mut s).unwrap();
        assert_eq!(image["config"]["Cmd"], Value::Null);
        let cmd = Instruction::Cmd(Command::Shell("echo hi".into()));
        let shown = apply(&mut image, &cmd, &scope, &mut s).unwrap().unwrap();
        assert_eq!(shown, r#"CMD ["/bin/sh" "-c" "echo hi"]"#);
        apply(&mut image, &entrypoint, &scope, &mut s).unwrap();
        assert_eq!(image["config"]["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        let expose = Instruction::Expose(vec!["80".into(), "53/UDP".into(), "7000-7001".into()]);
        apply(&mut image, &expose, &scope, &mut s).unwrap();
        let ports: Vec<&String> = image["config"]["ExposedPorts"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(ports, ["53/udp", "7000/tcp", "7001/tcp", "80/tcp"]);
        let check = Instruction::Healthcheck(Healthcheck::Check {
            test: Command::Shell("true".into()),
            interval: Some("1m30s".into()),
            timeout: None,
            start_period: Some("500ms".into()),
            start_interval: None,
            retries: Some("3".into()),
        });
        apply(&mut image, &check, &scope, &mut s).unwrap();
        assert_eq!(
            image["config"]["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 90_000_000_000i64, "StartPeriod": 500_000_000, "Retries": 3})
        );
        assert!(
            apply(
                &mut image,
                &Instruction::Workdir("/x".into()),
                &scope,
                &mut s
            )
            .unwrap()
            .is_none()
        );
    }
}
