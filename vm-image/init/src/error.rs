//! The error of a failed system step (a mount, an ioctl, a file write).

use std::path::{Path, PathBuf};

/// A system call or file operation that failed, with what it was about.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// An operation on a path.
    #[error("{op} {path}: {source}")]
    Path {
        /// What was attempted (`mount`, `mkdir`, …).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An operation without a path.
    #[error("{op}: {source}")]
    Op {
        /// What was attempted.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl SysError {
    /// An error about `path`.
    pub fn path(op: &'static str, path: &Path, source: impl Into<std::io::Error>) -> Self {
        SysError::Path {
            op,
            path: path.to_path_buf(),
            source: source.into(),
        }
    }

    /// An error about no path in particular.
    pub fn op(op: &'static str, source: impl Into<std::io::Error>) -> Self {
        SysError::Op {
            op,
            source: source.into(),
        }
    }
}

/// Adds a path and an operation name to a `Result`'s error.
pub trait Context<T> {
    /// Maps the error to [`SysError::Path`].
    fn at(self, op: &'static str, path: &Path) -> Result<T, SysError>;
    /// Maps the error to [`SysError::Op`].
    fn during(self, op: &'static str) -> Result<T, SysError>;
}

impl<T, E: Into<std::io::Error>> Context<T> for Result<T, E> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, SysError> {
        self.map_err(|e| SysError::path(op, path, e))
    }

    fn during(self, op: &'static str) -> Result<T, SysError> {
        self.map_err(|e| SysError::op(op, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path() {
        let r: Result<(), nix::Error> = Err(nix::Error::ENOENT);
        let e = r
            .at("mount", Path::new("/sys/fs/cgroup"))
            .expect_err("error");
        assert!(e.to_string().starts_with("mount /sys/fs/cgroup: "), "{e}");
        let r: Result<(), std::io::Error> = Err(std::io::Error::other("boom"));
        assert_eq!(
            r.during("sync").expect_err("error").to_string(),
            "sync: boom"
        );
    }
}
