//! The layout of a shim's state directory, and Unix sockets whose path may be
//! longer than `sun_path` allows.
//!
//! ```text
//! <state-dir>/
//!   shim.sock            control socket (the protocol)
//!   shim.pid             pid of the shim daemon
//!   shim.log             the shim's own diagnostics (and libcontainer's)
//!   container-json.log   the container's output, docker json-file format
//!                        (unless --log-path / --no-log)
//!   exit.json            the init process's ExitStatus, written atomically
//!   console.sock         receives pty masters from libcontainer (tty only)
//!   exec/                process specs handed to libcontainer for execs
//!   runtime/<id>/        libcontainer's state (state.json, notify socket)
//! ```

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Control socket.
pub const SOCKET: &str = "shim.sock";
/// Pid of the shim daemon.
pub const PID_FILE: &str = "shim.pid";
/// The shim's own log.
pub const SHIM_LOG: &str = "shim.log";
/// Default container log (json-file format).
pub const CONTAINER_LOG: &str = "container-json.log";
/// Exit status of the init process.
pub const EXIT_FILE: &str = "exit.json";
/// Console socket for pty masters.
pub const CONSOLE_SOCKET: &str = "console.sock";
/// Directory of exec process specs.
pub const EXEC_DIR: &str = "exec";
/// libcontainer's root directory.
pub const RUNTIME_DIR: &str = "runtime";

/// `<state-dir>/shim.sock`.
pub fn socket(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// `<state-dir>/exit.json`.
pub fn exit_file(state_dir: &Path) -> PathBuf {
    state_dir.join(EXIT_FILE)
}

/// `<state-dir>/container-json.log`.
pub fn container_log(state_dir: &Path) -> PathBuf {
    state_dir.join(CONTAINER_LOG)
}

/// Longest path `sockaddr_un` takes (108 bytes with the terminating NUL).
const SUN_PATH_MAX: usize = 107;

/// Runs `f` with a path naming `path` that fits in `sun_path`: `path` itself
/// when short enough, else `/proc/self/fd/<dirfd>/<name>` through an
/// `O_PATH` descriptor of the parent directory. Needs no `chdir`, so it is
/// safe in a multi-threaded process.
fn with_short_path<T>(path: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return f(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path {} has no parent", path.display()),
        ));
    };
    let dir: File = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    if short.as_os_str().len() > SUN_PATH_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket name in {} is too long", path.display()),
        ));
    }
    let result = f(&short);
    drop(dir);
    result
}

/// Connects to a Unix stream socket at `path`, however long.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    with_short_path(path, |p| UnixStream::connect(p))
}

/// Binds a Unix stream socket at `path`, however long.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    with_short_path(path, |p| UnixListener::bind(p))
}

/// Writes `data` to `path` atomically: a temporary file in the same
/// directory, renamed over `path`. A reader, or a process started after a
/// crash of the writer (kill -9), sees the old file or the new one, never a
/// torn one. Not fsynced: what is written here (a bundle rewritten at every
/// start, the exit status of a process that a power loss would kill anyway)
/// is worth nothing after the machine goes down, and an fsync under load
/// costs milliseconds on the path of every container exit.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        ));
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    file.write_all(data)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Checks an id the way libcontainer does (and short enough for a file name).
pub fn validate_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("empty");
    }
    if id == "." || id == ".." {
        return Err("not a file name");
    }
    if id.len() > 128 {
        return Err("longer than 128 characters");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
    {
        return Err("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_socket_paths_work() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let deep = tmp.path().join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep)?;
        let path = deep.join(SOCKET);
        assert!(path.as_os_str().len() > SUN_PATH_MAX);
        let listener = bind(&path)?;
        assert!(path.exists());
        let _client = connect(&path)?;
        let _conn = listener.accept()?;
        Ok(())
    }

    #[test]
    fn atomic_write_replaces() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let p = tmp.path().join("exit.json");
        write_atomic(&p, b"1")?;
        write_atomic(&p, b"2")?;
        assert_eq!(std::fs::read(&p)?, b"2");
        assert_eq!(std::fs::read_dir(tmp.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_3").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
    }
}
