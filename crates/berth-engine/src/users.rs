//! `-u user[:group]` resolved as Docker does, against the image's `/etc/passwd` and `/etc/group`.

/// A resolved user: ids and supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups from `/etc/group`.
    pub groups: Vec<u32>,
    /// The home directory, for `HOME`.
    pub home: String,
}

/// The user cannot be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    /// No such user name in the image.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// No such group name in the image.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

/// Resolves `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`) with the image's files.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<User, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 7)
        .collect();
    let found = entries
        .iter()
        .find(|f| f[0] == user_part || (user_part.parse::<u32>().is_ok() && f[2] == user_part));
    let (uid, mut gid, name, home) = match (found, user_part.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[0].to_owned(),
            f[5].to_owned(),
        ),
        // Not in the image's passwd: group root, as runc's GetExecUser (Docker's) has it.
        (None, Ok(uid)) => (uid, 0, String::new(), "/".to_owned()),
        (None, Err(_)) => return Err(UserError::NoUser(user_part.to_owned())),
    };
    let groups_file: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect())
        .filter(|f: &Vec<&str>| f.len() >= 4)
        .collect();
    if let Some(g) = group_part {
        gid = match groups_file.iter().find(|f| f[0] == g) {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| UserError::NoGroup(g.to_owned()))?,
        };
    }
    // Supplementary groups come with the implicit form only: `name:group` has none (runc).
    let mut groups: Vec<u32> = if name.is_empty() || group_part.is_some() {
        Vec::new()
    } else {
        groups_file
            .iter()
            .filter(|f| f[3].split(',').any(|member| member == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect()
    };
    groups.sort_unstable();
    groups.dedup();
    Ok(User {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:1001:app\nwheel:x:10:root,app\n";

    #[test]
    fn names_ids_and_groups() {
        assert_eq!(
            resolve("", PASSWD, GROUP).unwrap(),
            User {
                uid: 0,
                gid: 0,
                groups: vec![10],
                home: "/root".into()
            }
        );
        assert_eq!(
            resolve("app", PASSWD, GROUP).unwrap(),
            User {
                uid: 1000,
                gid: 1000,
                groups: vec![10, 1001],
                home: "/home/app".into()
            }
        );
        assert_eq!(
            resolve("1000", PASSWD, GROUP).unwrap().groups,
            vec![10, 1001]
        );
        // An explicit group is the only one: no supplementary groups (runc's GetExecUser).
        let explicit = resolve("app:extra", PASSWD, GROUP).unwrap();
        assert_eq!((explicit.gid, explicit.groups), (1001, vec![]));
        assert!(resolve("1000:0", PASSWD, GROUP).unwrap().groups.is_empty());
        // A uid the image does not know is in group root, with `/` for home (Docker's).
        assert_eq!(
            resolve("4242", PASSWD, GROUP).unwrap(),
            User {
                uid: 4242,
                gid: 0,
                groups: vec![],
                home: "/".into()
            }
        );
        assert_eq!(
            resolve("4242:4343", PASSWD, GROUP).unwrap(),
            User {
                uid: 4242,
                gid: 4343,
                groups: vec![],
                home: "/".into()
            }
        );
        assert_eq!(
            resolve("nobody", PASSWD, GROUP).unwrap_err(),
            UserError::NoUser("nobody".into())
        );
        assert_eq!(
            resolve("app:nogroup", PASSWD, GROUP).unwrap_err(),
            UserError::NoGroup("nogroup".into())
        );
    }
}
