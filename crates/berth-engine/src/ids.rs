//! Ids and names: new random ids, and Docker's way of finding a container or network by
//! name, id or id prefix. Shared by containers and networks, below both.

/// 64 random hex digits.
pub(crate) fn new_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The one item whose id or name is `name`, or whose id alone starts with it (Docker's way of
/// naming containers and networks); else how many ids start with it (0, or more than 1).
pub fn lookup<T>(
    all: Vec<T>,
    name: &str,
    id_and_name: impl Fn(&T) -> (&str, &str),
) -> Result<T, usize> {
    let exact = all.iter().position(|item| {
        let (id, item_name) = id_and_name(item);
        id == name || item_name == name
    });
    let mut matches: Vec<T> = match exact {
        Some(i) => return Ok(all.into_iter().nth(i).expect("a found index")),
        None => all
            .into_iter()
            .filter(|item| !name.is_empty() && id_and_name(item).0.starts_with(name))
            .collect(),
    };
    match matches.len() {
        1 => Ok(matches.remove(0)),
        n => Err(n),
    }
}
