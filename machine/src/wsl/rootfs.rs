//! The WSL root filesystem tar that `vm-image/build.sh --wsl-rootfs`
//! writes: which file of an image's `manifest.json` it is, and the first
//! image directory that has one. Platform-neutral (tested on Linux).

use std::path::{Path, PathBuf};

use crate::error::{MachineError, Result};
use crate::image::{self, Manifest};

/// The name vm-image gives the tar; other `.tar` / `.tar.gz` entries of
/// `files` are accepted when it is absent.
pub const ROOTFS_TAR: &str = "rootfs.tar";

/// The manifest's rootfs tar (a `files` key): `rootfs.tar` if listed,
/// else the first listed `.tar` or `.tar.gz` (what `wsl --import` takes).
pub fn tar_name(manifest: &Manifest) -> Option<&str> {
    if manifest.files.contains_key(ROOTFS_TAR) {
        return Some(ROOTFS_TAR);
    }
    manifest
        .files
        .keys()
        .map(String::as_str)
        .find(|name| name.ends_with(".tar") || name.ends_with(".tar.gz"))
}

/// The rootfs tar of the first image directory (see
/// [`image::candidates`]) whose manifest lists one, checked against the
/// manifest's size (and sha256 when `hashes`).
pub fn locate(explicit: Option<&Path>, hashes: bool) -> Result<PathBuf> {
    let dirs = image::candidates(explicit);
    for dir in &dirs {
        if !dir.join("manifest.json").is_file() {
            continue;
        }
        let manifest = Manifest::load(dir)?;
        if let Some(name) = tar_name(&manifest) {
            let path = dir.join(name);
            manifest.files[name].verify(&path, hashes)?;
            return Ok(path);
        }
    }
    let tried: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(MachineError::Image(format!(
        "no manifest listing a WSL rootfs tar in {} (build it with vm-image/build.sh --wsl-rootfs, or pass --image-dir)",
        tried.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn write_image(dir: &Path, files: &[(&str, &[u8])]) {
        std::fs::create_dir_all(dir).expect("mkdir");
        let mut listed = serde_json::Map::new();
        for (name, data) in files {
            std::fs::write(dir.join(name), data).expect("write");
            listed.insert(
                (*name).into(),
                serde_json::json!({"sha256": hex::encode(Sha256::digest(data)), "size": data.len()}),
            );
        }
        let manifest = serde_json::json!({
            "version": "test", "arch": "amd64", "files": listed, "packages": []
        });
        std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("manifest");
    }

    #[test]
    fn picks_the_tar_from_the_manifest() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write_image(
            tmp.path(),
            &[
                ("vmlinuz", b"k"),
                ("skiff-wsl.tar.gz", b"gz"),
                ("rootfs.tar", b"tar"),
            ],
        );
        let manifest = Manifest::load(tmp.path()).expect("manifest");
        assert_eq!(tar_name(&manifest), Some("rootfs.tar"));
        let found = locate(Some(tmp.path()), true).expect("found");
        assert_eq!(found, tmp.path().join("rootfs.tar"));

        let other = tmp.path().join("other");
        write_image(&other, &[("skiff-wsl.tar.gz", b"gz")]);
        let manifest = Manifest::load(&other).expect("manifest");
        assert_eq!(tar_name(&manifest), Some("skiff-wsl.tar.gz"));
    }

    #[test]
    fn a_missing_or_damaged_tar_is_a_clear_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write_image(tmp.path(), &[("vmlinuz", b"k"), ("initramfs.img", b"i")]);
        let err = locate(Some(tmp.path()), false).expect_err("no tar");
        assert!(err.to_string().contains("--wsl-rootfs"), "{err}");

        write_image(tmp.path(), &[("rootfs.tar", b"tar")]);
        std::fs::write(tmp.path().join("rootfs.tar"), b"tax").expect("tamper");
        locate(Some(tmp.path()), false).expect("same size passes the quick check");
        let err = locate(Some(tmp.path()), true).expect_err("hash");
        assert!(err.to_string().contains("rootfs.tar has sha256"), "{err}");
    }
}
