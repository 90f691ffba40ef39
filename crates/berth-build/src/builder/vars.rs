//! The variables an instruction's words are expanded with: the stage's `ARG`s and its image's
//! `ENV` (which wins over an `ARG` of the same name, as in Docker).

use crate::builder::error::BuildError;
use std::collections::BTreeMap;

/// The variables in scope at one instruction.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `ARG`s declared in the stage, with their values (absent when declared without one and
    /// not given with `--build-arg`).
    pub args: BTreeMap<String, Option<String>>,
    /// The image's `ENV`, in order.
    pub env: Vec<(String, String)>,
}

impl Scope {
    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.args.get(name).and_then(|v| v.as_deref()))
    }

    /// Expands `$VAR`, `${VAR}`, `${VAR:-word}` and `${VAR:+word}` in `word`.
    pub fn expand(&self, word: &str) -> Result<String, BuildError> {
        expand(word, &|name| self.get(name).map(str::to_owned))
    }

    /// The `ARG`s with a value that `ENV` does not hide: what a `RUN` gets in its environment
    /// (and what its history line and cache key show as `|N K=V ...`).
    pub fn run_args(&self) -> Vec<(String, String)> {
        self.args
            .iter()
            .filter(|(k, _)| !self.env.iter().any(|(e, _)| e == *k))
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect()
    }
}

/// Docker's word expansion, with `lookup` for the variables; `\$` is a literal `$`.
pub fn expand(word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, BuildError> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == '}')
                    .map(|p| i + p)
                    .ok_or_else(|| {
                        BuildError::Dockerfile(format!("missing '}}' in \"{word}\""))
                    })?;
                let inner: String = chars[i + 2..close].iter().collect();
                let (name, op) = match inner.find(':') {
                    Some(p) => (&inner[..p], Some(&inner[p..])),
                    None => (inner.as_str(), None),
                };
                let value = lookup(name).unwrap_or_default();
                match op {
                    None => out.push_str(&value),
                    Some(op) if op.starts_with(":-") => match value.is_empty() {
                        true => out.push_str(&expand(&op[2..], lookup)?),
                        false => out.push_str(&value),
                    },
                    Some(op) if op.starts_with(":+") => {
                        if !value.is_empty() {
                            out.push_str(&expand(&op[2..], lookup)?);
                        }
                    }
                    Some(op) => {
                        return Err(BuildError::Dockerfile(format!(
                            "unsupported modifier ({op}) in substitution \"{word}\""
                        )));
                    }
                }
                i = close + 1;
            }
            '$' if chars.get(i + 1).is_some_and(|&c| name_char(c)) => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| !name_char(c))
                    .map_or(chars.len(), |p| i + 1 + p);
                let name: String = chars[i + 1..end].iter().collect();
                out.push_str(&lookup(&name).unwrap_or_default());
                i = end;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_over_arg_and_only_unhidden_args_reach_run() {
        let scope = Scope {
            args: [
                ("A".to_owned(), Some("arg".to_owned())),
                ("B".to_owned(), Some("b".to_owned())),
                ("C".to_owned(), None),
            ]
            .into(),
            env: vec![("A".into(), "env".into())],
        };
        assert_eq!(scope.expand("$A-${B}-${C:-none}-${B:+yes}").unwrap(), "env-b-none-yes");
        assert_eq!(scope.run_args(), vec![("B".to_owned(), "b".to_owned())]);
        assert_eq!(scope.expand("\\$A").unwrap(), "$A");
    }
}
