//! Atomic file replacement: write to a temporary sibling, fsync, rename over
//! the target, fsync the directory. A reader (or a process restarted after a
//! kill -9) sees either the old file or the new one, never a torn write.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Prefix of temporary files; [`sweep_temporaries`] removes leftovers.
pub const TMP_PREFIX: &str = ".tmp-";

/// A temporary path next to `target`, unique to this call.
pub fn temp_sibling(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix: u64 = rand::random();
    target.with_file_name(format!("{TMP_PREFIX}{name}-{suffix:016x}"))
}

/// Atomically replace `target` with `bytes`.
pub fn write(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_sibling(target);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, target)?;
        sync_parent(target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Atomically replace `target` with the JSON form of `value`.
pub fn write_json<T: serde::Serialize>(target: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write(target, &bytes)
}

/// fsync the directory holding `path`, making a rename in it durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

/// Remove `TMP_PREFIX` leftovers (files or directories) directly inside `dir`:
/// the remains of writes interrupted by a crash.
pub fn sweep_temporaries(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_and_sweep_removes_leftovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("x.json");
        write(&target, b"one").expect("write");
        write(&target, b"two").expect("write");
        assert_eq!(fs::read(&target).expect("read"), b"two");
        fs::write(temp_sibling(&target), b"torn").expect("leftover");
        fs::create_dir(dir.path().join(format!("{TMP_PREFIX}snap"))).expect("leftover dir");
        assert_eq!(sweep_temporaries(dir.path()).expect("sweep"), 2);
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("e").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("x.json")]);
    }
}
