//! The `-c/--change` instructions of `commit` and `import`: Dockerfile lines applied to an
//! image's run config (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`, `ONBUILD`, `STOPSIGNAL`,
//! `USER`, `VOLUME`, `WORKDIR`), as Docker's `BuildFromConfig` applies them. Variables
//! (`$NAME`) are kept as written, not expanded.

use serde_json::{Map, Value, json};

/// The instructions a change may use (Docker's `validCommitCommands`, without HEALTHCHECK).
const VALID: [&str; 10] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies `changes` in order to `config`, the `config` object of an image config (a `null`
/// becomes an object). The message of an error is Docker's.
pub fn apply(config: &mut Value, changes: &[String]) -> Result<(), String> {
    if !config.is_object() {
        *config = json!({});
    }
    let fields = config.as_object_mut().expect("made an object");
    // Set by a CMD of these changes: an ENTRYPOINT after it keeps it (Docker's `cmdSet`).
    let mut cmd_set = false;
    for line in changes.iter().flat_map(|c| c.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line
            .split_once(char::is_whitespace)
            .map_or((line, ""), |(w, r)| (w, r.trim()));
        let instruction = word.to_ascii_uppercase();
        if !VALID.contains(&instruction.as_str()) {
            return Err(format!("{word} is not a valid change command"));
        }
        if rest.is_empty() {
            return Err(format!("{instruction} requires at least one argument"));
        }
        match instruction.as_str() {
            "CMD" => {
                fields.insert("Cmd".into(), json!(command(rest)));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                fields.insert("Entrypoint".into(), json!(command(rest)));
                if !cmd_set {
                    fields.insert("Cmd".into(), Value::Null);
                }
            }
            "ENV" => {
                for (key, value) in pairs(rest, "ENV")? {
                    set_env(fields, &key, &value);
                }
            }
            "LABEL" => {
                let labels = object(fields, "Labels");
                for (key, value) in pairs(rest, "LABEL")? {
                    labels.insert(key, json!(value));
                }
            }
            "EXPOSE" => {
                let ports = object(fields, "ExposedPorts");
                for port in words(rest)? {
                    let port = match port.contains('/') {
                        true => port.to_ascii_lowercase(),
                        false => format!("{port}/tcp"),
                    };
                    let number = port.split('/').next().unwrap_or("");
                    let valid = number.split('-').all(|p| p.parse::<u16>().is_ok());
                    if !valid {
                        return Err(format!("invalid containerPort: {number}"));
                    }
                    ports.insert(port, json!({}));
                }
            }
            "VOLUME" => {
                let volumes = match json_array(rest) {
                    Some(list) => list,
                    None => words(rest)?,
                };
                let map = object(fields, "Volumes");
                for volume in volumes {
                    if volume.trim().is_empty() {
                        return Err("VOLUME specified can not be an empty string".into());
                    }
                    map.insert(volume, json!({}));
                }
            }
            "USER" => {
                fields.insert("User".into(), json!(rest));
            }
            "WORKDIR" => {
                let current = fields
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let dir = match rest.starts_with('/') {
                    true => rest.to_owned(),
                    false => format!("{}/{rest}", current.trim_end_matches('/')),
                };
                fields.insert("WorkingDir".into(), json!(clean_path(&dir)));
            }
            "STOPSIGNAL" => {
                fields.insert("StopSignal".into(), json!(rest));
            }
            "ONBUILD" => {
                let trigger = rest.split_whitespace().next().unwrap_or("");
                if ["ONBUILD", "FROM", "MAINTAINER"]
                    .contains(&trigger.to_ascii_uppercase().as_str())
                {
                    return Err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        trigger.to_ascii_uppercase()
                    ));
                }
                let list = fields.entry("OnBuild").or_insert_with(|| json!([]));
                if !list.is_array() {
                    *list = json!([]);
                }
                list.as_array_mut().expect("an array").push(json!(rest));
            }
            _ => unreachable!("checked against VALID"),
        }
    }
    Ok(())
}

/// The JSON (exec) form, else the shell form run by `/bin/sh -c`.
fn command(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_owned()])
}

/// `rest` as a JSON array of strings, if it is one.
fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

/// The object `fields[name]`, made when missing or null.
fn object<'a>(fields: &'a mut Map<String, Value>, name: &str) -> &'a mut Map<String, Value> {
    let value = fields.entry(name).or_insert_with(|| json!({}));
    if !value.is_object() {
        *value = json!({});
    }
    value.as_object_mut().expect("an object")
}

/// Sets `key=value` in `Env`, replacing an entry of the same key where it was.
fn set_env(fields: &mut Map<String, Value>, key: &str, value: &str) {
    let env = fields.entry("Env").or_insert_with(|| json!([]));
    if !env.is_array() {
        *env = json!([]);
    }
    let list = env.as_array_mut().expect("an array");
    let entry = json!(format!("{key}={value}"));
    let prefix = format!("{key}=");
    match list
        .iter_mut()
        .find(|e| e.as_str().is_some_and(|s| s.starts_with(&prefix)))
    {
        Some(existing) => *existing = entry,
        None => list.push(entry),
    }
}

/// `KEY=VALUE ...` pairs (quotes and backslashes as a shell reads them), or the old form
/// `KEY VALUE` (one pair, the rest of the line its value).
fn pairs(rest: &str, instruction: &str) -> Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (key, value) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{instruction} must have two arguments"))?;
        return Ok(vec![(key.to_owned(), value.trim().to_owned())]);
    }
    words(rest)?
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(format!("{instruction} names can not be blank")),
            Some((key, value)) => Ok((key.to_owned(), value.to_owned())),
            None => Err(format!(
                "Syntax error - can't find = in \"{word}\". Must be of the form: name=value"
            )),
        })
        .collect()
}

/// Splits on unquoted whitespace, removing quotes; a backslash escapes the next character
/// (outside single quotes).
fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!(
            "unexpected end of statement while looking for matching {q}"
        ));
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// `/a//b/./c/` as `/a/b/c`.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Result<Value, String> {
        let mut config = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "WorkingDir": "/srv"});
        let changes: Vec<String> = changes.iter().map(|c| (*c).to_owned()).collect();
        apply(&mut config, &changes).map(|()| config)
    }

    #[test]
    fn each_instruction_sets_its_field() {
        let c = applied(&[
            r#"CMD ["echo","hi"]"#,
            "ENV A=2 B=\"two words\"",
            "env C c value",
            "EXPOSE 80 53/UDP",
            "LABEL com.x=y 'k 2'=v",
            "USER nobody:nogroup",
            "WORKDIR app/../web",
            "VOLUME /data /cache",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN make",
        ])
        .unwrap();
        assert_eq!(c["Cmd"], json!(["echo", "hi"]));
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=2", "B=two words", "C=c value"])
        );
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"com.x": "y", "k 2": "v"}));
        assert_eq!(c["User"], "nobody:nogroup");
        assert_eq!(c["WorkingDir"], "/srv/web");
        assert_eq!(c["Volumes"], json!({"/data": {}, "/cache": {}}));
        assert_eq!(c["StopSignal"], "SIGINT");
        assert_eq!(c["OnBuild"], json!(["RUN make"]));
    }

    #[test]
    fn shell_forms_run_under_sh_and_entrypoint_resets_cmd() {
        let c = applied(&["ENTRYPOINT top -b"]).unwrap();
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "top -b"]));
        assert_eq!(c["Cmd"], Value::Null, "an ENTRYPOINT drops the image's CMD");
        let c = applied(&["CMD echo $HOME", r#"ENTRYPOINT ["/bin/x"]"#]).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/x"]));
    }

    #[test]
    fn other_instructions_and_bad_arguments_are_refused_with_dockers_words() {
        assert_eq!(
            applied(&["RUN make"]).unwrap_err(),
            "RUN is not a valid change command"
        );
        assert_eq!(
            applied(&["from x"]).unwrap_err(),
            "from is not a valid change command"
        );
        assert_eq!(
            applied(&["CMD"]).unwrap_err(),
            "CMD requires at least one argument"
        );
        assert_eq!(
            applied(&["EXPOSE http"]).unwrap_err(),
            "invalid containerPort: http"
        );
        assert!(applied(&["ENV A=\"open"]).is_err());
        assert!(applied(&["LABEL a=1 novalue"]).is_err());
    }
}
