//! Running the batches: `nft -j` in the caller's network namespace.
//!
//! `nft` runs as a child of the calling thread, so in that thread's network
//! namespace; its stderr is captured into the error (the nftables crate's
//! apply helpers let it go to the daemon's stderr instead, so skiff runs
//! `nft` itself and uses the crate for the JSON schema).

use std::io;
use std::process::{ExitStatus, Stdio};

use nftables::schema::{NfListObject, NfObject, Nftables};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Firewall, delete_batch};

/// `nft` failed, or could not be run.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// `nft` is missing or could not be fed.
    #[error("cannot run nft while {action}")]
    Run {
        /// What skiff was doing (`replacing table ip skiff`).
        action: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `nft` refused; its stderr says why.
    #[error("nft failed while {action}: {stderr}")]
    Failed {
        /// What skiff was doing.
        action: String,
        /// nft's exit status.
        status: ExitStatus,
        /// nft's stderr, trimmed.
        stderr: String,
    },
    /// The JSON in or out of `nft -j` did not fit the schema.
    #[error("nft JSON while {action}")]
    Json {
        /// What skiff was doing.
        action: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Runs `nft -j ARGS`, with `input` on stdin when given; returns stdout.
async fn nft(
    action: &str,
    args: &[&str],
    input: Option<&Nftables<'_>>,
) -> Result<String, NftError> {
    let run_err = |source| NftError::Run {
        action: action.to_string(),
        source,
    };
    let payload = input
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|source| NftError::Json {
            action: action.to_string(),
            source,
        })?;
    let mut child = Command::new("nft")
        .arg("-j")
        .args(args)
        .stdin(if payload.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(run_err)?;
    if let (Some(payload), Some(mut stdin)) = (payload, child.stdin.take()) {
        stdin.write_all(&payload).await.map_err(run_err)?;
    }
    let out = child.wait_with_output().await.map_err(run_err)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NftError::Failed {
            action: action.to_string(),
            status: out.status,
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Replaces skiff's table with `fw`, atomically: on error the previous table
/// (or its absence) stays as it was.
pub async fn apply(fw: &Firewall) -> Result<(), NftError> {
    nft(
        &format!("replacing table ip {}", fw.table),
        &["-f", "-"],
        Some(&fw.replace_batch()),
    )
    .await
    .map(drop)
}

/// Deletes skiff's table `name`; succeeds when it does not exist.
pub async fn delete(name: &str) -> Result<(), NftError> {
    nft(
        &format!("deleting table ip {name}"),
        &["-f", "-"],
        Some(&delete_batch(name)),
    )
    .await
    .map(drop)
}

/// `nft -j list table ip NAME`: the table's chains and rules, or `None` when
/// there is no such table.
pub async fn list_table(name: &str) -> Result<Option<Nftables<'static>>, NftError> {
    let tables = parse(
        "listing tables",
        &nft("listing tables", &["list", "tables", "ip"], None).await?,
    )?;
    let exists = tables
        .objects
        .iter()
        .any(|o| matches!(o, NfObject::ListObject(NfListObject::Table(t)) if t.name == name));
    if !exists {
        return Ok(None);
    }
    let action = format!("listing table ip {name}");
    let out = nft(&action, &["list", "table", "ip", name], None).await?;
    parse(&action, &out).map(Some)
}

fn parse(action: &str, out: &str) -> Result<Nftables<'static>, NftError> {
    serde_json::from_str(out).map_err(|source| NftError::Json {
        action: action.to_string(),
        source,
    })
}
