//! The VM image artefacts (`vmlinuz`, `initramfs.img`, `system.img`,
//! `manifest.json` written by `vm-image/build.sh`) and where the host finds
//! them.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{IoContext, MachineError, Result};

/// The files a VM boots from, which every manifest lists.
const BOOT_FILES: [&str; 2] = ["vmlinuz", "initramfs.img"];
/// The read-only system disk (the guest's `/usr`): a VM boots from it too
/// when the manifest lists it (images before it held everything in the
/// initramfs).
const SYSTEM_DISK: &str = "system.img";

/// One file's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileEntry {
    /// Hex sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    /// Image version.
    pub version: String,
    /// `amd64` or `arm64`.
    pub arch: String,
    /// The kernel's version.
    #[serde(default)]
    pub kernel_version: String,
    /// The files, by name.
    pub files: BTreeMap<String, FileEntry>,
}

/// A located image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmImage {
    /// The directory holding it.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// The host's architecture in the image's words (`amd64`, `arm64`).
pub fn host_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    }
}

/// Where an image is looked for, in order: `explicit` (`--image-dir`),
/// `$SKIFF_IMAGE_DIR`, `target/vm-image/<arch>` of the checkout (found
/// from the running binary, then from where this crate was built), then
/// `/usr/share/skiff/vm-image/<arch>`.
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let arch = host_arch();
    let mut dirs = Vec::new();
    if let Some(dir) = explicit {
        dirs.push(dir.to_path_buf());
        return dirs;
    }
    if let Some(dir) = std::env::var_os("SKIFF_IMAGE_DIR").filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(dir));
        return dirs;
    }
    if let Ok(exe) = std::env::current_exe() {
        for ancestor in exe.ancestors().skip(1) {
            if ancestor.join("vm-image").is_dir() || ancestor.join("Cargo.toml").is_file() {
                dirs.push(ancestor.join("target/vm-image").join(arch));
                break;
            }
        }
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    dirs.push(checkout.join("target/vm-image").join(arch));
    dirs.push(Path::new("/usr/share/skiff/vm-image").join(arch));
    dirs
}

impl VmImage {
    /// The first candidate directory holding a manifest.
    pub fn locate(explicit: Option<&Path>) -> Result<VmImage> {
        let dirs = candidates(explicit);
        for dir in &dirs {
            if dir.join("manifest.json").is_file() {
                return VmImage::open(dir);
            }
        }
        let tried: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        Err(MachineError::Image(format!(
            "no manifest.json in {} (build it with vm-image/build.sh, or pass --image-dir / set SKIFF_IMAGE_DIR)",
            tried.join(", ")
        )))
    }

    /// The image in `dir`.
    pub fn open(dir: &Path) -> Result<VmImage> {
        let manifest = Manifest::load(dir)?;
        for name in BOOT_FILES {
            if !manifest.files.contains_key(name) {
                return Err(MachineError::Image(format!(
                    "{} lists no {name}",
                    dir.join("manifest.json").display()
                )));
            }
        }
        Ok(VmImage {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The kernel.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }

    /// The initramfs.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initramfs.img")
    }

    /// The read-only system disk to attach (as a second virtio-blk disk,
    /// after the data disk), when the image has one (docs/vm.md).
    pub fn system_disk(&self) -> Option<PathBuf> {
        self.manifest
            .files
            .contains_key(SYSTEM_DISK)
            .then(|| self.dir.join(SYSTEM_DISK))
    }

    /// Checks the size of the files a VM boots (`vmlinuz`,
    /// `initramfs.img`, `system.img` when listed), and their sha256 when
    /// `hashes`. Other listed files (the WSL `rootfs.tar`) are not needed
    /// here and not checked.
    pub fn verify(&self, hashes: bool) -> Result<()> {
        for (name, entry) in &self.manifest.files {
            if BOOT_FILES.contains(&name.as_str()) || name == SYSTEM_DISK {
                entry.verify(&self.dir.join(name), hashes)?;
            }
        }
        Ok(())
    }
}

impl Manifest {
    /// `dir/manifest.json`, whatever files it lists.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join("manifest.json");
        let data = std::fs::read(&path).ctx(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&data).map_err(|source| MachineError::Json { path, source })
    }
}

impl FileEntry {
    /// Checks that `path` has this entry's size, and its sha256 when
    /// `hashes`.
    pub fn verify(&self, path: &Path, hashes: bool) -> Result<()> {
        let meta = std::fs::metadata(path).ctx(|| format!("reading {}", path.display()))?;
        if meta.len() != self.size {
            return Err(MachineError::Image(format!(
                "{} is {} bytes, the manifest says {}",
                path.display(),
                meta.len(),
                self.size
            )));
        }
        if hashes {
            let got = sha256_file(path)?;
            if !got.eq_ignore_ascii_case(&self.sha256) {
                return Err(MachineError::Image(format!(
                    "{} has sha256 {got}, the manifest says {}",
                    path.display(),
                    self.sha256
                )));
            }
        }
        Ok(())
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .ctx(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fake image (two small files and their manifest) in `dir`.
    pub(crate) fn fake_image(dir: &Path) -> VmImage {
        std::fs::create_dir_all(dir).expect("mkdir");
        let mut files = serde_json::Map::new();
        for (name, data) in [
            ("vmlinuz", &b"kernel"[..]),
            ("initramfs.img", &b"initrd!"[..]),
        ] {
            std::fs::write(dir.join(name), data).expect("write");
            files.insert(
                name.into(),
                serde_json::json!({"sha256": hex::encode(Sha256::digest(data)), "size": data.len()}),
            );
        }
        let manifest = serde_json::json!({
            "version": "test", "arch": "amd64", "kernel_version": "6.1.0",
            "kernel_package": "linux-image-amd64", "files": files, "packages": []
        });
        std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("manifest");
        VmImage::open(dir).expect("open")
    }

    #[test]
    fn verifies_sizes_and_hashes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = fake_image(dir.path());
        assert_eq!(image.manifest.kernel_version, "6.1.0");
        image.verify(true).expect("valid");
        std::fs::write(dir.path().join("vmlinuz"), b"kernex").expect("tamper");
        image
            .verify(false)
            .expect("same size passes the quick check");
        let err = image.verify(true).expect_err("hash mismatch");
        assert!(err.to_string().contains("vmlinuz has sha256"), "{err}");
        std::fs::write(dir.path().join("vmlinuz"), b"k").expect("tamper");
        assert!(image.verify(false).is_err());
    }

    #[test]
    fn booting_needs_only_the_boot_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut image = fake_image(dir.path());
        image.manifest.files.insert(
            "rootfs.tar".into(),
            FileEntry {
                sha256: "00".into(),
                size: 1,
            },
        );
        image
            .verify(true)
            .expect("rootfs.tar is not needed to boot");
        std::fs::remove_file(dir.path().join("initramfs.img")).expect("rm");
        let err = image.verify(false).expect_err("no initramfs");
        assert!(err.to_string().contains("initramfs.img"), "{err}");
    }

    #[test]
    fn the_system_disk_is_booted_from_when_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut image = fake_image(dir.path());
        assert_eq!(image.system_disk(), None);
        let data = b"ext4!";
        std::fs::write(dir.path().join("system.img"), data).expect("write");
        image.manifest.files.insert(
            "system.img".into(),
            FileEntry {
                sha256: hex::encode(Sha256::digest(data)),
                size: data.len() as u64,
            },
        );
        assert_eq!(image.system_disk(), Some(dir.path().join("system.img")));
        image.verify(true).expect("valid");
        std::fs::write(dir.path().join("system.img"), b"ext3!").expect("tamper");
        let err = image.verify(true).expect_err("hash mismatch");
        assert!(err.to_string().contains("system.img has sha256"), "{err}");
    }

    #[test]
    fn an_explicit_directory_is_the_only_candidate() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(candidates(Some(dir.path())), vec![dir.path().to_path_buf()]);
        let err = VmImage::locate(Some(dir.path())).expect_err("empty");
        assert!(err.to_string().contains("no manifest.json"), "{err}");
        fake_image(dir.path());
        assert_eq!(
            VmImage::locate(Some(dir.path())).expect("found").dir,
            dir.path()
        );
    }
}
