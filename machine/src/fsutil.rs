//! Small file helpers: atomic replacement, sparse files, tails.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{IoContext, Result};

/// Replaces `path` with `data` atomically: a temporary file in the same
/// directory, fsynced, then renamed over `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        file.write_all(data)
            .ctx(|| format!("writing {}", tmp.display()))?;
        file.sync_all()
            .ctx(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, path).ctx(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` as a sparse file of `size` bytes unless it exists.
/// Returns whether it was created.
pub fn create_sparse(path: &Path, size: u64) -> Result<bool> {
    match File::options().write(true).create_new(true).open(path) {
        Ok(file) => {
            file.set_len(size)
                .ctx(|| format!("sizing {}", path.display()))?;
            file.sync_all()
                .ctx(|| format!("syncing {}", path.display()))?;
            Ok(true)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(crate::error::MachineError::io(
            format!("creating {}", path.display()),
            err,
        )),
    }
}

/// The last `lines` lines of the text file at `path` (empty if missing).
/// Only the file's last 256 KiB are read.
pub fn tail_lines(path: &Path, lines: usize) -> Result<Vec<String>> {
    const WINDOW: u64 = 256 * 1024;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(crate::error::MachineError::io(
                format!("opening {}", path.display()),
                err,
            ));
        }
    };
    let len = file
        .metadata()
        .ctx(|| format!("reading {}", path.display()))?
        .len();
    let start = len.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(start))
        .ctx(|| format!("seeking {}", path.display()))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .ctx(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&buf);
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && !all.is_empty() {
        all.remove(0); // a partial first line
    }
    let skip = all.len().saturating_sub(lines);
    Ok(all[skip..].iter().map(|l| clean_console_line(l)).collect())
}

/// A console line without carriage returns and terminal escapes.
pub fn clean_console_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI sequences: ESC [ ... final byte in @..~; otherwise a
                // two-character escape (ESC c resets the terminal).
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A fresh temporary directory and the path `name` in it (not created),
/// for tests; the directory lives as long as the returned guard.
#[cfg(test)]
pub(crate) fn temp_path(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    (dir, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_the_whole_file() {
        let (dir, path) = crate::fsutil::temp_path("config.json");
        write_atomic(&path, b"first version, long").expect("write");
        write_atomic(&path, b"second").expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).expect("ls").flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }

    #[test]
    fn sparse_files_take_no_space_and_are_created_once() {
        let (_dir, path) = crate::fsutil::temp_path("disk.img");
        assert!(create_sparse(&path, 8 << 30).expect("create"));
        let meta = fs::metadata(&path).expect("stat");
        assert_eq!(meta.len(), 8 << 30);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            assert!(meta.blocks() < 1024, "allocated {} blocks", meta.blocks());
        }
        assert!(!create_sparse(&path, 1).expect("exists"));
        assert_eq!(fs::metadata(&path).expect("stat").len(), 8 << 30);
    }

    #[test]
    fn tail_returns_the_last_clean_lines() {
        let (_dir, path) = crate::fsutil::temp_path("console.log");
        assert!(tail_lines(&path, 5).expect("missing is empty").is_empty());
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str(&format!("line {i}\r\n"));
        }
        text.push_str("\u{1b}c\u{1b}[1;32mskiff-init: engine ready after 900 ms\u{1b}[0m\n");
        fs::write(&path, text).expect("write");
        let tail = tail_lines(&path, 3).expect("tail");
        assert_eq!(
            tail,
            [
                "line 9998",
                "line 9999",
                "skiff-init: engine ready after 900 ms"
            ]
        );
    }
}
