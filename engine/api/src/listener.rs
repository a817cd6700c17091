//! The API listeners: an owner/group-only Unix socket by default; TCP only
//! when `-H tcp://…` is given.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Socket creation or permission setting failed.
    #[error("listening on {path}: {source}")]
    Io {
        /// The socket path or address.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another daemon answers on the socket already.
    #[error("{0} is in use by another running daemon")]
    InUse(PathBuf),
    /// The `--group` does not exist.
    #[error("group {0:?} not found")]
    Group(String),
}

/// Bind a Unix socket at `path` with mode 0660, owned by root and `group`.
/// A stale socket file left by a dead daemon is replaced; a live one is an error.
pub fn bind_unix(
    path: &Path,
    group: Option<&str>,
) -> Result<tokio::net::UnixListener, ListenError> {
    let io = |source| ListenError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    // Bind with a restrictive umask so the socket is never world-accessible,
    // not even between bind() and chmod().
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
    let bound = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    if let Some(name) = group {
        let gid = nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid)
            .ok_or_else(|| ListenError::Group(name.to_owned()))?;
        nix::unistd::chown(path, None, Some(gid)).map_err(|e| io(e.into()))?;
    }
    listener.set_nonblocking(true).map_err(io)?;
    tokio::net::UnixListener::from_std(listener).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[tokio::test]
    async fn socket_is_0660_and_stale_files_are_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/docker.sock");
        let l = bind_unix(&path, None).expect("bind");
        let meta = std::fs::metadata(&path).expect("stat");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert!(matches!(bind_unix(&path, None), Err(ListenError::InUse(_))));
        drop(l);
        bind_unix(&path, None).expect("rebind over stale socket");
        assert!(matches!(
            bind_unix(&dir.path().join("x.sock"), Some("no-such-group-zz")),
            Err(ListenError::Group(_))
        ));
    }
}
