//! Go's `filepath.Match`, which Docker uses for `COPY` and `ADD` sources: `*` (any run of
//! characters but `/`), `?` (one character but `/`), `[...]` classes with ranges and `^`
//! negation, `\` escapes.

/// Whether `pattern` has any of the characters that make it a pattern.
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Whether `name` matches `pattern` whole. A malformed pattern matches nothing.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n).unwrap_or(false)
}

fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    match p.first() {
        None => Some(n.is_empty()),
        Some('*') => {
            // Try every split of the non-`/` run.
            for skip in 0..=n.len() {
                if skip > 0 && n[skip - 1] == '/' {
                    break;
                }
                if match_from(&p[1..], &n[skip..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Some(_) if n.is_empty() => {
            // Still check the rest is well-formed, as Go reports ErrBadPattern.
            Some(false)
        }
        Some('?') => match n[0] {
            '/' => Some(false),
            _ => match_from(&p[1..], &n[1..]),
        },
        Some('[') => {
            let (matched, used) = class(&p[1..], n[0])?;
            match matched && n[0] != '/' {
                true => match_from(&p[1 + used..], &n[1..]),
                false => Some(false),
            }
        }
        Some('\\') => {
            let c = *p.get(1)?;
            match c == n[0] {
                true => match_from(&p[2..], &n[1..]),
                false => Some(false),
            }
        }
        Some(&c) => match c == n[0] {
            true => match_from(&p[1..], &n[1..]),
            false => Some(false),
        },
    }
}

/// Matches `c` against the class after `[`; returns whether it matched and how many pattern
/// characters the class took (with its `]`). `None` for a malformed class.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        let lo = read_char(p, &mut i)?;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1) != Some(&']') {
            i += 1;
            read_char(p, &mut i)?
        } else {
            lo
        };
        if lo <= c && c <= hi {
            matched = true;
        }
    }
}

fn read_char(p: &[char], i: &mut usize) -> Option<char> {
    let c = *p.get(*i)?;
    if c == '\\' {
        *i += 2;
        return p.get(*i - 1).copied();
    }
    *i += 1;
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn go_filepath_match_cases() {
        for (pattern, name, want) in [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a/b", false),
            ("*.txt", "dir/a.txt", false),
            ("[", "a", false),
            ("a[", "a", false),
        ] {
            assert_eq!(matches(pattern, name), want, "{pattern} {name}");
        }
    }
}
