//! The guest's side of [`crate::shell`]: runs the shell (Linux).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::fd_stream::FdStream;
use crate::shell::{self, ShellRequest};

/// The shells tried, in order.
const SHELLS: [&str; 3] = ["/bin/sh", "/usr/bin/sh", "/bin/busybox"];
/// The environment the shell starts with.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Serves one shell stream whose request line (without the newline) is
/// `line`; `stream` carries the frames after it.
pub(crate) async fn serve<S>(line: &[u8], stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut r, mut w) = tokio::io::split(stream);
    let Some(request) = ShellRequest::decode(line) else {
        let _ = shell::write_frame(&mut w, shell::ERROR, b"malformed shell request").await;
        let _ = shell::write_frame(&mut w, shell::EXIT, &2i32.to_be_bytes()).await;
        return;
    };
    let status = match run(&request, &mut r, &mut w).await {
        Ok(status) => status,
        Err(message) => {
            let _ = shell::write_frame(&mut w, shell::ERROR, message.as_bytes()).await;
            127
        }
    };
    let _ = shell::write_frame(&mut w, shell::EXIT, &status.to_be_bytes()).await;
    let _ = w.shutdown().await;
}

fn command(request: &ShellRequest) -> Result<std::process::Command, String> {
    let shell = SHELLS
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| "no shell in the VM image (/bin/sh is missing)".to_string())?;
    let mut cmd = std::process::Command::new(shell);
    if shell.ends_with("busybox") {
        cmd.arg("sh");
    }
    if request.args.is_empty() {
        cmd.arg("-l");
    } else {
        // "$@" keeps the arguments as they are; sh finds the program.
        cmd.args(["-c", "exec \"$@\"", "sh"]).args(&request.args);
    }
    cmd.env_clear()
        .env("PATH", PATH)
        .env("HOME", "/root")
        .env("USER", "root")
        .env(
            "TERM",
            if request.term.is_empty() {
                "dumb"
            } else {
                &request.term
            },
        )
        .current_dir("/");
    Ok(cmd)
}

async fn run<R, W>(request: &ShellRequest, r: &mut R, w: &mut W) -> Result<i32, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut cmd = command(request)?;
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(16);
    let mut stdin: Option<Box<dyn AsyncWrite + Unpin + Send>>;
    let master_fd;
    let mut child;
    if request.tty {
        let (master, slave) = openpty(request.rows, request.cols)?;
        master_fd = Some(master.as_raw_fd());
        let slave_raw = slave.as_raw_fd();
        cmd.stdin(Stdio::from(
            slave.try_clone().map_err(|e| format!("dup: {e}"))?,
        ))
        .stdout(Stdio::from(
            slave.try_clone().map_err(|e| format!("dup: {e}"))?,
        ))
        .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the pty
        // slave once the Command has set up stdio.
        unsafe {
            cmd.pre_exec(move || {
                let _ = slave_raw;
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|e| format!("starting the shell: {e}"))?;
        let master =
            FdStream::device(master).map_err(|e| format!("registering the pty master: {e}"))?;
        let (mut master_r, master_w) = tokio::io::split(master);
        stdin = Some(Box::new(master_w));
        let tx = out_tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            // EIO once the last slave descriptor closes: the end.
            while let Ok(n) = master_r.read(&mut buf).await {
                if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        });
    } else {
        master_fd = None;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|e| format!("starting the shell: {e}"))?;
        stdin = child
            .stdin
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncWrite + Unpin + Send>);
        for out in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = out_tx.clone();
            let mut out = out;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = out.read(&mut buf).await {
                    if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
    drop(out_tx);
    let mut input_open = true;
    let mut exited = None;
    loop {
        tokio::select! {
            chunk = out_rx.recv() => match chunk {
                Some(data) => {
                    if shell::write_frame(w, shell::OUTPUT, &data).await.is_err() {
                        let _ = child.start_kill();
                    }
                }
                None => break,
            },
            frame = shell::read_frame(r), if input_open => match frame {
                Ok(Some((shell::STDIN, data))) => {
                    if let Some(s) = stdin.as_mut() {
                        if s.write_all(&data).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                Ok(Some((shell::STDIN_EOF, _))) => {
                    if request.tty {
                        if let Some(s) = stdin.as_mut() {
                            let _ = s.write_all(&[4]).await; // ^D
                        }
                    } else {
                        stdin = None;
                    }
                }
                Ok(Some((shell::RESIZE, data))) if data.len() == 4 => {
                    if let Some(fd) = master_fd {
                        set_size(fd, u16::from_be_bytes([data[0], data[1]]), u16::from_be_bytes([data[2], data[3]]));
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    // The host went away: end the shell.
                    input_open = false;
                    let _ = child.start_kill();
                }
            },
            status = child.wait(), if exited.is_none() => {
                exited = Some(status.map_err(|e| format!("waiting for the shell: {e}"))?);
                // Output readers end at EOF (pipes) or EIO (pty).
            }
        }
    }
    let status = match exited {
        Some(s) => s,
        None => child
            .wait()
            .await
            .map_err(|e| format!("waiting for the shell: {e}"))?,
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// A pseudo-terminal pair sized `rows` × `cols`.
fn openpty(rows: u16, cols: u16) -> Result<(OwnedFd, OwnedFd), String> {
    let mut master = -1;
    let mut slave = -1;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: the out-pointers are valid for the call; name and termios
    // may be null; winsize points at a live struct.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    if rc != 0 {
        return Err(format!("openpty: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: openpty returned two fresh descriptors that we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on a descriptor we own; no pointers.
        unsafe {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    Ok((master, slave))
}

fn set_size(fd: i32, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a pointer to a live struct.
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, &size);
    }
}
