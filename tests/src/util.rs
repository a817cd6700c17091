//! Small helpers shared by the harness: paths, ports, child processes,
//! log tails and a minimal HTTP/1.1 GET over TCP or a Unix socket.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{HarnessError, IoContext, Result};

/// The Cargo workspace root (the parent of the `tests/` crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The Cargo target directory: `$CARGO_TARGET_DIR` when set, else
/// `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Where per-test temporary directories go: `$SKIFF_TEST_TMPDIR`, else the
/// system temp dir. Keep it short: skiffd's socket lives there (108-byte
/// limit on Unix socket paths).
pub fn temp_base() -> PathBuf {
    match std::env::var_os("SKIFF_TEST_TMPDIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir(),
    }
}

/// A fresh temporary directory under [`temp_base`], removed on drop unless
/// `SKIFF_KEEP_TMP=1` (then [`keep_tmp`] says so and callers keep it).
pub fn tempdir(prefix: &str) -> Result<tempfile::TempDir> {
    let base = temp_base();
    fs::create_dir_all(&base).io_context(|| format!("creating {}", base.display()))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .io_context(|| format!("creating a temp dir in {}", base.display()))
}

/// True when `SKIFF_KEEP_TMP=1`: test directories (data roots, logs,
/// registry storage) are left behind for inspection.
pub fn keep_tmp() -> bool {
    std::env::var_os("SKIFF_KEEP_TMP").is_some_and(|v| v == OsStr::new("1"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Callers must cope
/// with losing the race for it (retry with another port).
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Looks a program up: `$env_var` if set, else the first existing candidate
/// path, else `name` on `PATH`.
pub fn find_program(env_var: &str, candidates: &[&str], name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    for candidate in candidates {
        let path = Path::new(candidate);
        if path.is_file() {
            return Some(path.to_path_buf());
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The last `lines` lines of a text file (lossy UTF-8); a note when the
/// file cannot be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(err) => format!("(cannot read {}: {err})", path.display()),
    }
}

/// Prints the tail of a log file to stderr under a banner (what a failing
/// test shows of skiffd or a registry).
pub fn print_tail(label: &str, path: &Path, lines: usize) {
    eprintln!(
        "----- last {lines} lines of {label} ({}) -----\n{}\n----- end of {label} -----",
        path.display(),
        tail(path, lines)
    );
}

/// Sends `signal` to a child that has not been reaped yet.
pub fn signal_child(child: &Child, signal: Signal) -> io::Result<()> {
    let pid = i32::try_from(child.id()).map_err(io::Error::other)?;
    kill(Pid::from_raw(pid), signal).map_err(io::Error::from)
}

/// Waits up to `timeout` for a child to exit.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a child: SIGTERM, up to `grace` to exit, then SIGKILL. Returns
/// its exit status.
pub fn stop_child(child: &mut Child, grace: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    // The child may exit between try_wait and kill (ESRCH is fine).
    let _ = signal_child(child, Signal::SIGTERM);
    if let Some(status) = wait_timeout(child, grace)? {
        return Ok(status);
    }
    child.kill()?;
    child.wait()
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header (name in lower case, value) pairs, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` on `host:port` with extra headers (HTTP/1.1, one connection).
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
    let stream = TcpStream::connect(addr).io_context(|| format!("connecting to {addr}"))?;
    let timeout = Some(Duration::from_secs(10));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .io_context(|| format!("setting timeouts on the connection to {addr}"))?;
    http_exchange(stream, addr, addr, path, headers)
}

/// `GET path` on a Unix socket (HTTP/1.1, one connection).
pub fn unix_http_get(socket: &Path, path: &str) -> Result<HttpResponse> {
    let peer = socket.display().to_string();
    let stream = UnixStream::connect(socket).io_context(|| format!("connecting to {peer}"))?;
    let timeout = Some(Duration::from_secs(10));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .io_context(|| format!("setting timeouts on the connection to {peer}"))?;
    http_exchange(stream, &peer, "docker", path, &[])
}

/// Any request on a Unix socket (HTTP/1.1, one connection), with a body.
pub fn unix_http(socket: &Path, method: &str, path: &str, body: &[u8]) -> Result<HttpResponse> {
    let peer = socket.display().to_string();
    let mut stream = UnixStream::connect(socket).io_context(|| format!("connecting to {peer}"))?;
    let timeout = Some(Duration::from_secs(30));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .io_context(|| format!("setting timeouts on the connection to {peer}"))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .io_context(|| format!("sending {method} {path} to {peer}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .io_context(|| format!("reading the response to {method} {path} from {peer}"))?;
    parse_response(&raw, &peer)
}

/// `GET path` on a connected stream; `peer` (address or socket path) is
/// for error messages, `host` for the `Host` header.
fn http_exchange<S: Read + Write>(
    mut stream: S,
    peer: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .io_context(|| format!("sending GET {path} to {peer}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .io_context(|| format!("reading the response to GET {path} from {peer}"))?;
    parse_response(&raw, peer)
}

/// Parses a whole response read from `peer` (for error messages): status,
/// headers (names in lower case) and the body (de-chunked).
pub fn parse_response(raw: &[u8], peer: &str) -> Result<HttpResponse> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(HarnessError::http(
            peer,
            format!("no end of headers in {} bytes", raw.len()),
        ));
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HarnessError::http(peer, format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body).map_err(|detail| HarnessError::http(peer, detail))?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Decodes a chunked body; the error says what is wrong with it.
fn dechunk(mut data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Err("truncated chunked body".to_string());
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|err| format!("bad chunk size {size_hex:?}: {err}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err(format!(
                "truncated chunk (size {size}, {} bytes left)",
                data.len()
            ));
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

/// The mount points at or under `root`, as this process's mount namespace
/// sees them (skiffd shares the tests'): what a test checks it left none of.
pub fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|m| m.starts_with(&root))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nApi-Version: 1.47\r\n\r\n2\r\nOK\r\n3\r\n!!!\r\n0\r\n\r\n";
        let resp = parse_response(raw, "test").expect("parse");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "OK!!!");
        assert_eq!(resp.header("API-Version"), Some("1.47"));
    }

    #[test]
    fn parses_content_length_responses() {
        let raw = b"HTTP/1.0 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";
        let resp = parse_response(raw, "test").expect("parse");
        assert_eq!(resp.status, 401);
        assert_eq!(resp.body, b"{}");
    }
}
