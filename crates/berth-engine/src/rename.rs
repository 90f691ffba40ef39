//! `rename`: a container's name changed, running or not, by Docker's rules (moby's
//! `daemon/rename.go`): the name checked as `run --name` checks it and taken under the lock of
//! container names. A running container's hosts files on user networks are written again, so
//! that its peers find it by its new name, as Docker's DNS does.

use crate::connect;
use crate::containers::{Containers, FindError};
use crate::paths::Roots;
use crate::record::Record;

/// A rename refused or failed; the messages are Docker's.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    /// No such container, or an ambiguous prefix.
    #[error(transparent)]
    Find(#[from] FindError),
    /// An empty name.
    #[error("Neither old nor new names may be empty")]
    Empty,
    /// The name it has.
    #[error("Renaming a container with the same name as its current name")]
    Same,
    /// A name Docker refuses.
    #[error("{0}")]
    Invalid(String),
    /// Another container has the name.
    #[error(
        "Conflict. The container name \"/{0}\" is already in use by container \"{1}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    Conflict(String, String),
    /// Its record could not be read or written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Renames container `name` to `new_name` (a leading `/` is Docker's and dropped). Returns
/// its record as renamed.
pub fn rename(roots: &Roots, name: &str, new_name: &str) -> Result<Record, RenameError> {
    let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
    if name.is_empty() || new_name.is_empty() {
        return Err(RenameError::Empty);
    }
    let containers = Containers::new(&roots.root);
    let _names = containers.lock_names()?;
    let record = containers.find(name)?;
    if record.name == new_name {
        return Err(RenameError::Same);
    }
    crate::options::check_name(new_name).map_err(RenameError::Invalid)?;
    if let Some(other) = containers.list().iter().find(|r| r.name == new_name) {
        return Err(RenameError::Conflict(new_name.to_owned(), other.id.clone()));
    }
    let renamed = containers.update(&record.id, |r| {
        r.name = new_name.to_owned();
        r.clone()
    })?;
    if renamed.is_running() {
        connect::refresh_hosts(roots, &renamed, None);
    }
    crate::events::container(
        &roots.root,
        &renamed,
        "rename",
        &[("oldName", &format!("/{}", record.name))],
    );
    Ok(renamed)
}
