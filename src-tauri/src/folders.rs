//! The build dialog's folder picker: the sub-folders of a folder of this
//! computer and the Dockerfiles in it. Hidden folders are left out; the
//! listing is read-only.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Most sub-folders listed.
const MAX_FOLDERS: usize = 2000;

/// One folder, as the picker shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderListing {
    /// The folder (absolute).
    pub path: String,
    /// Its parent; `null` at `/`.
    pub parent: Option<String>,
    /// Names of its sub-folders, sorted.
    pub folders: Vec<String>,
    /// Names of the Dockerfiles in it (`Dockerfile`, `Dockerfile.*`,
    /// `*.Dockerfile`, `Containerfile`), `Dockerfile` first.
    pub dockerfiles: Vec<String>,
}

/// Whether `name` looks like a Dockerfile.
pub fn is_dockerfile(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "dockerfile"
        || lower == "containerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
}

/// Lists `path`; blank means the home folder.
pub fn list(path: &str, home: Option<PathBuf>) -> Result<FolderListing> {
    let path = match path.trim() {
        "" => home.unwrap_or_else(|| PathBuf::from("/")),
        other => PathBuf::from(other),
    };
    if !path.is_absolute() {
        return Err(Error::InvalidRequest(format!(
            "`{}` is not an absolute path",
            path.display()
        )));
    }
    let entries = std::fs::read_dir(&path).map_err(|err| {
        Error::InvalidRequest(format!("cannot open the folder {}: {err}", path.display()))
    })?;
    let mut folders = Vec::new();
    let mut dockerfiles = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Follow symlinks: a linked folder is a folder to the user.
        let meta = match std::fs::metadata(entry.path()) {
            Ok(meta) => meta,
            Err(_) => continue,
        };
        if meta.is_dir() && !name.starts_with('.') {
            folders.push(name);
        } else if meta.is_file() && is_dockerfile(&name) {
            dockerfiles.push(name);
        }
    }
    folders.sort_by_key(|n| n.to_lowercase());
    folders.truncate(MAX_FOLDERS);
    dockerfiles.sort_by_key(|n| (n != "Dockerfile", n.to_lowercase()));
    Ok(FolderListing {
        parent: path.parent().map(|p| p.display().to_string()),
        path: display(&path),
        folders,
        dockerfiles,
    })
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_folders_and_dockerfiles() {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["web", "api", ".git"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        for file in [
            "Dockerfile.dev",
            "Dockerfile",
            "README.md",
            "prod.dockerfile",
        ] {
            std::fs::write(dir.path().join(file), "").expect("write");
        }
        let listing = list(&dir.path().display().to_string(), None).expect("listing");
        assert_eq!(listing.folders, ["api", "web"]);
        assert_eq!(
            listing.dockerfiles,
            ["Dockerfile", "Dockerfile.dev", "prod.dockerfile"]
        );
        assert_eq!(
            listing.parent.as_deref(),
            dir.path().parent().and_then(|p| p.to_str())
        );
        let home = list("", Some(dir.path().to_path_buf())).expect("home");
        assert_eq!(home.path, dir.path().display().to_string());
        assert_eq!(
            list("relative", None).expect_err("relative").kind(),
            "invalid_request"
        );
        assert!(list("/nonexistent/x", None).is_err());
    }
}
