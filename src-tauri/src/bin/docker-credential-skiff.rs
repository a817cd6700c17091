//! `docker-credential-skiff`: the docker credential helper over the OS
//! keychain entries Skiff Desktop signs in with. Skiff names it in
//! `~/.docker/config.json` (`credHelpers`) for each registry it signs in
//! to when no other helper is configured, so `docker push` / `docker pull`
//! from the CLI use the same credentials. Protocol: docker's
//! credential-helpers (`store` / `get` / `erase` / `list`; JSON or the
//! server URL on stdin, errors on stdout with exit status 1).

use std::io::{Read, Write};
use std::process::ExitCode;

use skiff_desktop::registries::helper::{HelperCredentials, NOT_FOUND};
use skiff_desktop::registries::keychain::Keychain;

fn run(verb: &str, input: &str) -> Result<String, String> {
    let chain = Keychain::os();
    match verb {
        "store" => {
            let creds: HelperCredentials =
                serde_json::from_str(input).map_err(|e| format!("invalid credentials: {e}"))?;
            chain.store(&creds).map_err(|e| e.sentence())?;
            Ok(String::new())
        }
        "get" => match chain.get(input.trim()).map_err(|e| e.sentence())? {
            Some(creds) => serde_json::to_string(&creds).map_err(|e| e.to_string()),
            None => Err(NOT_FOUND.to_string()),
        },
        "erase" => {
            chain.erase(input.trim()).map_err(|e| e.sentence())?;
            Ok(String::new())
        }
        "list" => {
            let list = chain.list().map_err(|e| e.sentence())?;
            serde_json::to_string(&list).map_err(|e| e.to_string())
        }
        "version" => Ok(format!(
            "docker-credential-skiff {}",
            env!("CARGO_PKG_VERSION")
        )),
        other => Err(format!("unknown credential action `{other}`")),
    }
}

fn main() -> ExitCode {
    let verb = std::env::args().nth(1).unwrap_or_default();
    let mut input = String::new();
    if verb != "list" && verb != "version" {
        if let Err(err) = std::io::stdin().read_to_string(&mut input) {
            println!("reading stdin: {err}");
            return ExitCode::FAILURE;
        }
    }
    let mut out = std::io::stdout();
    match run(&verb, &input) {
        Ok(text) => {
            let _ = writeln!(out, "{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            let _ = writeln!(out, "{message}");
            ExitCode::FAILURE
        }
    }
}
