//! The offline test images, built once per checkout.
//!
//! [`seed()`] runs `tests/fixtures/build-images.sh` into
//! `<target>/skiff-fixtures/<hash of tests/fixtures/*>/` the first time any
//! test asks for it, under an exclusive `flock` so that the many test
//! binaries and threads starting at once build it only once. Later calls
//! (in any process) reuse the finished directory.
//!
//! Set `SKIFF_FIXTURES_CACHE` to use another cache directory.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use nix::fcntl::{Flock, FlockArg};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{HarnessError, IoContext, Result};
use crate::util;

/// Marker written last into a finished fixture directory.
const COMPLETE: &str = ".complete";

/// Paths of a finished fixture build.
#[derive(Debug, Clone)]
pub struct Fixtures {
    /// The build directory (`<target>/skiff-fixtures/<hash>`).
    pub dir: PathBuf,
    /// The seed registry storage (docker-registry `rootdirectory`).
    pub registry_dir: PathBuf,
    /// `images.json`: every `name:tag` with its manifest digest and type.
    pub images_json: PathBuf,
    /// `multiarch.json`: digests of `library/multiarch`'s index and manifests.
    pub multiarch_json: PathBuf,
    /// `whiteout.expected`: sorted paths under `/data` and `/etc` of
    /// `library/whiteout`'s merged root filesystem.
    pub whiteout_expected: PathBuf,
}

/// One entry of `images.json`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ImageInfo {
    /// `repository:tag`, e.g. `library/busybox:latest`.
    pub name: String,
    /// The repository, e.g. `library/busybox`.
    pub repository: String,
    /// The tag, e.g. `latest`.
    pub tag: String,
    /// The manifest (or index) digest, `sha256:…`.
    pub digest: String,
    /// The manifest media type as the registry serves it.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The manifest size in bytes.
    pub size: u64,
}

#[derive(Deserialize)]
struct ImagesFile {
    images: Vec<ImageInfo>,
}

/// `multiarch.json`: the digests of `library/multiarch:latest`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct MultiarchDigests {
    /// `library/multiarch:latest`.
    pub name: String,
    /// The OCI index.
    pub index: String,
    /// The linux/amd64 manifest (config env `SKIFF_ARCH=amd64`).
    pub amd64: String,
    /// The linux/arm64/v8 manifest (config env `SKIFF_ARCH=arm64`).
    pub arm64: String,
    /// The attestation manifest (platform unknown/unknown) a pull must skip.
    pub attestation: String,
}

impl Fixtures {
    fn at(dir: PathBuf) -> Fixtures {
        Fixtures {
            registry_dir: dir.join("registry"),
            images_json: dir.join("images.json"),
            multiarch_json: dir.join("multiarch.json"),
            whiteout_expected: dir.join("whiteout.expected"),
            dir,
        }
    }

    /// Every image of `images.json`.
    pub fn images(&self) -> Vec<ImageInfo> {
        let text = read(&self.images_json);
        match serde_json::from_str::<ImagesFile>(&text) {
            Ok(file) => file.images,
            Err(err) => panic!("parsing {}: {err}", self.images_json.display()),
        }
    }

    /// The entry of `images.json` for `name` (`repository:tag`).
    pub fn image(&self, name: &str) -> ImageInfo {
        match self.images().into_iter().find(|i| i.name == name) {
            Some(image) => image,
            None => panic!("no fixture image {name} in {}", self.images_json.display()),
        }
    }

    /// The digests of `multiarch.json`.
    pub fn multiarch(&self) -> MultiarchDigests {
        let text = read(&self.multiarch_json);
        match serde_json::from_str(&text) {
            Ok(digests) => digests,
            Err(err) => panic!("parsing {}: {err}", self.multiarch_json.display()),
        }
    }

    /// The lines of `whiteout.expected`: `/data`, `/data/new`, `/etc`,
    /// `/etc/group`, `/etc/keep`, `/etc/passwd`. In a running container
    /// dockerd also shows `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`
    /// (bind mounts) and `/etc/mtab` (its init layer).
    pub fn whiteout_expected(&self) -> Vec<String> {
        read(&self.whiteout_expected)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn read(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => panic!("reading {}: {err}", path.display()),
    }
}

/// The fixture images, built on first use (see the module docs). Panics
/// with the build script's output when the build fails.
pub fn seed() -> &'static Fixtures {
    match try_seed() {
        Ok(fixtures) => fixtures,
        Err(err) => panic!("building the fixture images failed: {err}"),
    }
}

/// Like [`seed()`], returning the error (the outcome is cached for the
/// whole process: a failed build is not retried).
pub fn try_seed() -> Result<&'static Fixtures> {
    static SEED: OnceLock<Result<Fixtures, Arc<HarnessError>>> = OnceLock::new();
    match SEED.get_or_init(|| prepare().map_err(Arc::new)) {
        Ok(fixtures) => Ok(fixtures),
        Err(err) => Err(HarnessError::Fixtures(Arc::clone(err))),
    }
}

/// Reuses the cached build for this checkout's fixture sources, or builds.
fn prepare() -> Result<Fixtures> {
    let source = util::workspace_root().join("tests/fixtures");
    let key = source_hash(&source)?;
    let cache = match std::env::var_os("SKIFF_FIXTURES_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => util::target_dir().join("skiff-fixtures"),
    };
    let dir = cache.join(&key);
    if dir.join(COMPLETE).exists() {
        return Ok(Fixtures::at(dir));
    }
    fs::create_dir_all(&cache).io_context(|| format!("creating {}", cache.display()))?;
    let lock_path = cache.join(format!("{key}.lock"));
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .io_context(|| format!("opening {}", lock_path.display()))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| std::io::Error::from(errno))
        .io_context(|| format!("locking {}", lock_path.display()))?;
    if dir.join(COMPLETE).exists() {
        return Ok(Fixtures::at(dir));
    }
    // Holding the lock: staging dirs of this key are leftovers of killed
    // builds.
    remove_stale_staging(&cache, &key);
    build(&source, &cache, &key, &dir)?;
    Ok(Fixtures::at(dir))
}

fn remove_stale_staging(cache: &Path, key: &str) {
    let prefix = format!("{key}.tmp-");
    let Ok(entries) = fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Builds into a staging directory, then renames it into place.
fn build(source: &Path, cache: &Path, key: &str, dir: &Path) -> Result<()> {
    let staging = cache.join(format!("{key}.tmp-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging).io_context(|| format!("removing {}", staging.display()))?;
    }
    let script = source.join("build-images.sh");
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(&script)
        .arg(&staging)
        .output()
        .io_context(|| format!("running bash {}", script.display()))?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(HarnessError::Command {
            command: format!("{} {}", script.display(), staging.display()),
            status: output.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    let complete = staging.join(COMPLETE);
    File::create(&complete).io_context(|| format!("creating {}", complete.display()))?;
    if dir.exists() {
        fs::remove_dir_all(dir).io_context(|| format!("removing stale {}", dir.display()))?;
    }
    fs::rename(&staging, dir)
        .io_context(|| format!("renaming {} to {}", staging.display(), dir.display()))?;
    eprintln!(
        "skiff-e2e: built fixture images in {:.1}s into {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

/// A short hash of every file in `tests/fixtures` but `*.md` (names and
/// contents).
fn source_hash(source: &Path) -> Result<String> {
    let mut names: Vec<PathBuf> = fs::read_dir(source)
        .io_context(|| format!("listing {}", source.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && path.extension().is_none_or(|ext| ext != "md"))
        .collect();
    names.sort();
    let mut hasher = Sha256::new();
    for path in names {
        let data = fs::read(&path).io_context(|| format!("reading {}", path.display()))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(&data);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}
