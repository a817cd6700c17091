//! The docker credential-helper protocol (`docker-credential-<name>
//! store|get|erase|list`, JSON on stdin/stdout), as the docker CLI speaks
//! it — so the app stores and reads credentials through the same helper
//! the CLI uses.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a helper stores for one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelperCredentials {
    /// The server's key (`https://index.docker.io/v1/`, `host:port`).
    #[serde(rename = "ServerURL")]
    pub server_url: String,
    /// The user name; `<token>` when `secret` is an identity token.
    #[serde(rename = "Username")]
    pub username: String,
    /// The password or identity token.
    #[serde(rename = "Secret")]
    pub secret: String,
}

/// The answer of a helper that does not know the server (the words of
/// docker-credential-helpers' `credentials.NewErrCredentialsNotFound`).
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// A `docker-credential-<name>` program.
#[derive(Debug, Clone)]
pub struct Helper {
    name: String,
    program: String,
}

impl Helper {
    /// The helper named `name` in `config.json` (found on `PATH`).
    pub fn named(name: &str) -> Helper {
        Helper {
            name: name.to_string(),
            program: format!("docker-credential-{name}"),
        }
    }

    /// The helper named `name`, in folder `dir`.
    pub fn at(dir: &std::path::Path, name: &str) -> Helper {
        Helper {
            name: name.to_string(),
            program: dir
                .join(format!("docker-credential-{name}"))
                .display()
                .to_string(),
        }
    }

    /// Its name in `config.json`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, verb: &str, input: &[u8]) -> Result<Vec<u8>> {
        let mut child = Command::new(&self.program)
            .arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| {
                Error::InvalidRequest(format!(
                    "the credential helper {} named in the docker config cannot run: {err}",
                    self.program
                ))
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is judged by its status.
            let _ = stdin.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|err| Error::Internal(format!("waiting for {}: {err}", self.program)))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let said = String::from_utf8_lossy(if out.stdout.is_empty() {
            &out.stderr
        } else {
            &out.stdout
        })
        .trim()
        .to_string();
        if said == NOT_FOUND {
            return Err(Error::NotFound(said));
        }
        Err(Error::Internal(format!(
            "{} {verb} failed: {said}",
            self.program
        )))
    }

    /// Stores `creds`.
    pub fn store(&self, creds: &HelperCredentials) -> Result<()> {
        let body = serde_json::to_vec(creds)
            .map_err(|e| Error::Internal(format!("credentials as JSON: {e}")))?;
        self.run("store", &body).map(|_| ())
    }

    /// The credentials of `server`; `None` when the helper has none.
    pub fn get(&self, server: &str) -> Result<Option<HelperCredentials>> {
        match self.run("get", server.as_bytes()) {
            Ok(out) => serde_json::from_slice(&out).map(Some).map_err(|err| {
                Error::Internal(format!(
                    "{} get answered no credentials: {err}",
                    self.program
                ))
            }),
            Err(Error::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Forgets `server` (nothing stored is not an error).
    pub fn erase(&self, server: &str) -> Result<()> {
        match self.run("erase", server.as_bytes()) {
            Ok(_) | Err(Error::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Every server the helper holds, with its user name.
    pub fn list(&self) -> Result<BTreeMap<String, String>> {
        let out = self.run("list", b"")?;
        serde_json::from_slice(&out)
            .map_err(|err| Error::Internal(format!("{} list: {err}", self.program)))
    }
}
