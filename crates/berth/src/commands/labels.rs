//! `--label` and `--label-file`, read as Docker's CLI reads them: the files' lines first, then
//! the flags, later ones overriding earlier ones; `KEY` alone is an empty value.

use crate::exit::Failure;
use anyhow::anyhow;
use std::collections::BTreeMap;

/// The labels of `--label-file FILE...` then `--label KEY=VALUE...`.
pub fn read(labels: &[String], files: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut entries = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| anyhow!("open {file}: {e}"))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line.split_once('=').map_or(line, |(k, _)| k);
            if key.contains(char::is_whitespace) {
                return Err(anyhow!("variable '{key}' contains whitespaces").into());
            }
            entries.push(line.to_owned());
        }
    }
    for label in labels {
        let key = label.split_once('=').map_or(label.as_str(), |(k, _)| k);
        if key.trim().is_empty() {
            return Err(anyhow!(
                "invalid argument \"{label}\" for \"-l, --label\" flag: invalid label '{label}': empty name"
            )
            .into());
        }
        entries.push(label.clone());
    }
    Ok(entries
        .into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (entry, String::new()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::container_filter::label_matches as matches;

    #[test]
    fn files_come_first_and_flags_override_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labels");
        std::fs::write(&file, "# a comment\n\n  a=file\nb=file\nflag\n").unwrap();
        let labels = read(
            &["a=flag".into(), "c=x=y".into()],
            &[file.display().to_string()],
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("a", "flag"), ("b", "file"), ("c", "x=y"), ("flag", "")]
        );
        assert!(matches(&labels, "a") && matches(&labels, "a=flag"));
        assert!(!matches(&labels, "a=file") && !matches(&labels, "z"));
        let error = read(&["=x".into()], &[]).unwrap_err();
        assert_eq!(
            error.error.to_string(),
            "invalid argument \"=x\" for \"-l, --label\" flag: invalid label '=x': empty name"
        );
        assert_eq!(error.code, crate::exit::ENGINE);
        assert!(read(&[], &["/nonexistent/labels".into()]).is_err());
    }
}
