//! The variables an instruction's words are expanded with: the stage's `ARG`s and its image's
//! `ENV` (which wins over an `ARG` of the same name, as in Docker).

use crate::builder::error::BuildError;
use crate::dockerfile::expand::{expand_word, expand_words};
use std::collections::BTreeMap;

/// The variables in scope at one instruction.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The Dockerfile's escape character.
    pub escape: char,
    /// `ARG`s declared in the stage, with their values (absent when declared without one and
    /// not given with `--build-arg`).
    pub args: BTreeMap<String, Option<String>>,
    /// The image's `ENV`, in order.
    pub env: Vec<(String, String)>,
}

impl Scope {
    /// An empty scope for a Dockerfile whose escape character is `escape`.
    pub fn new(escape: char) -> Scope {
        Scope {
            escape,
            args: BTreeMap::new(),
            env: Vec::new(),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.args.get(name).and_then(|v| v.as_deref()))
    }

    /// `word` expanded (and unquoted) to one string, as Docker's builder does.
    pub fn expand(&self, word: &str) -> Result<String, BuildError> {
        expand_word(word, &|name| self.get(name).map(str::to_owned), self.escape)
            .map_err(|e| BuildError::Dockerfile(e.to_string()))
    }

    /// `word` expanded and split into words (`EXPOSE $PORTS`).
    pub fn expand_words(&self, word: &str) -> Result<Vec<String>, BuildError> {
        expand_words(word, &|name| self.get(name).map(str::to_owned), self.escape)
            .map_err(|e| BuildError::Dockerfile(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_over_arg_and_only_unhidden_args_reach_run() {
        let scope = Scope {
            escape: '\\',
            args: [
                ("A".to_owned(), Some("arg".to_owned())),
                ("B".to_owned(), Some("b".to_owned())),
                ("C".to_owned(), None),
            ]
            .into(),
            env: vec![("A".into(), "env".into())],
        };
        assert_eq!(
            scope.expand("$A-${B}-${C:-none}-${B:+yes}").unwrap(),
            "env-b-none-yes"
        );
        assert_eq!(scope.run_args(), vec![("B".to_owned(), "b".to_owned())]);
        assert_eq!(scope.expand("\\$A").unwrap(), "$A");
        assert_eq!(scope.expand_words("$B \"x y\"").unwrap(), ["b", "x y"]);
    }
}
