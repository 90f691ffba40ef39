//! `berth login` and `berth logout`, with Docker's config.json as the credential store.

use super::Context;
use crate::cli::{LoginArgs, LogoutArgs};
use crate::exit::Outcome;
use anyhow::{Context as _, anyhow};
use berth_image::reference::{DOCKER_HUB, DOCKER_HUB_API};
use berth_image::registry::client::RegistryClient;
use berth_image::registry::credentials::{Credentials, DockerConfig};
use std::io::{BufRead, IsTerminal, Write};

/// `docker.io` for Docker Hub in any of its spellings, else `host[:port]` of the argument.
fn registry_of(server: Option<&str>) -> String {
    let Some(server) = server else {
        return DOCKER_HUB.to_owned();
    };
    let rest = server.split_once("://").map_or(server, |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" | "" => DOCKER_HUB.to_owned(),
        other => other.to_owned(),
    }
}

/// `berth login [SERVER]`: checks the credentials with the registry, then stores them.
pub fn run_login(ctx: &Context, args: &LoginArgs) -> Outcome {
    let registry = registry_of(args.server.as_deref());
    let stdin = std::io::stdin();
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt("Username: ", false)?,
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => {
            return Err(anyhow!("--password and --password-stdin are mutually exclusive").into());
        }
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => prompt("Password: ", true)?,
    };
    if username.is_empty() || password.is_empty() {
        return Err(anyhow!("username and password are required").into());
    }
    let credentials = Credentials { username, password };
    let host = if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        &registry
    };
    let client = RegistryClient::connect(
        host,
        Some(credentials.clone()),
        &ctx.config.client_options(),
    )
    .map_err(anyhow::Error::from)?;
    client.check_login().map_err(anyhow::Error::from)?;
    let store = DockerConfig::default_location();
    store
        .store(&registry, &credentials)
        .map_err(anyhow::Error::from)?;
    println!("Login Succeeded");
    Ok(0)
}

/// `berth logout [SERVER]`
pub fn run_logout(_ctx: &Context, args: &LogoutArgs) -> Outcome {
    let registry = registry_of(args.server.as_deref());
    if DockerConfig::default_location()
        .erase(&registry)
        .map_err(anyhow::Error::from)?
    {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(0)
}

/// Asks on the terminal; `secret` turns echo off while the answer is typed.
fn prompt(question: &str, secret: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(anyhow!(
            "cannot ask for {} without a terminal: pass it as a flag",
            question.trim_end_matches(": ").to_lowercase()
        ));
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let saved = if secret {
        let saved = rustix::termios::tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet)?;
        Some(saved)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &saved)?;
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_normalise() {
        assert_eq!(registry_of(None), "docker.io");
        assert_eq!(
            registry_of(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
        assert_eq!(registry_of(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(
            registry_of(Some("https://reg.example:443/v2/")),
            "reg.example:443"
        );
    }
}
