//! The internal commands (supervise, connect-tcp, probe-kvm) and `shell`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use skiff_machine::Manager;

/// `skiff machine connect-tcp HOST:PORT`: stdin/stdout ↔ TCP.
pub fn connect_tcp(addr: &str) -> Result<ExitCode> {
    skiff_machine::qemu::tcp_proxy::relay(addr, std::io::stdin(), std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// `skiff machine probe-kvm`: exit 0 when a KVM vCPU runs `hlt`.
pub fn probe_kvm() -> Result<ExitCode> {
    match skiff_machine::qemu::kvm::probe_in_process() {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(reason) => {
            eprintln!("{reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `skiff machine supervise NAME`: runs the machine until it stops, with
/// the instance lock inherited on descriptor 3.
#[cfg(target_os = "linux")]
pub fn supervise(name: &str) -> Result<ExitCode> {
    use std::os::fd::{FromRawFd, OwnedFd};

    use skiff_machine::lock::InstanceLock;
    use skiff_machine::supervised::LOCK_FD;

    let manager = Manager::from_env()?;
    let dir = manager.dir(name)?;
    // SAFETY: the parent placed the lock's descriptor on LOCK_FD for us and
    // nothing else in this process owns it; `adopt` checks it is the lock.
    let fd = unsafe { OwnedFd::from_raw_fd(LOCK_FD) };
    let lock = InstanceLock::adopt(fd, &dir.lock())?;
    // QEMU must not inherit the lock.
    // SAFETY: fcntl on a descriptor we own; no pointers.
    if unsafe { libc::fcntl(lock.raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        bail!(
            "fcntl on the lock descriptor: {}",
            std::io::Error::last_os_error()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(skiff_machine::qemu::supervisor::run(
        dir,
        lock,
        manager.skiff_bin().to_path_buf(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The supervisor runs on Linux only in this build.
#[cfg(not(target_os = "linux"))]
pub fn supervise(name: &str) -> Result<ExitCode> {
    bail!(
        "machine {name}: the supervisor is not available on {}",
        std::env::consts::OS
    )
}

/// `skiff machine shell NAME [-- COMMAND…]`: a root shell in the guest
/// through the relay (see `skiff_relay::shell`), with a pty when stdin is a
/// terminal; exits with the shell's status.
#[cfg(unix)]
pub async fn shell(manager: &Manager, name: &str, command: &[String]) -> Result<ExitCode> {
    use std::io::IsTerminal;

    use skiff_machine::MachineState;
    use skiff_relay::shell::{ShellRequest, client};

    let info = manager.info(name)?;
    if info.state != MachineState::Running {
        bail!("machine {name} is {}: start it first", info.state.as_str());
    }
    let conn = tokio::net::UnixStream::connect(&info.socket)
        .await
        .with_context(|| format!("connecting to {}", info.socket.display()))?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (rows, cols) = terminal_size().unwrap_or((24, 80));
    let request = ShellRequest {
        tty,
        rows,
        cols,
        term: std::env::var("TERM").unwrap_or_default(),
        args: command.to_vec(),
    };
    let (resize_tx, resize_rx) = tokio::sync::mpsc::channel(4);
    let raw = if tty { RawMode::enable() } else { None };
    if tty {
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
                .context("handling SIGWINCH")?;
        tokio::spawn(async move {
            while winch.recv().await.is_some() {
                if let Some(size) = terminal_size() {
                    if resize_tx.send(size).await.is_err() {
                        break;
                    }
                }
            }
        });
    } else {
        drop(resize_tx);
    }
    let status = client(
        conn,
        &request,
        tokio::io::stdin(),
        tokio::io::stdout(),
        resize_rx,
    )
    .await;
    drop(raw);
    let status = status?;
    Ok(ExitCode::from(u8::try_from(status & 0xff).unwrap_or(1)))
}

/// The shell needs a Unix socket in this build.
#[cfg(not(unix))]
pub async fn shell(manager: &Manager, name: &str, _command: &[String]) -> Result<ExitCode> {
    manager.info(name)?;
    bail!(
        "machine {name}: shell is not available on {}",
        std::env::consts::OS
    )
}

/// The terminal's rows and columns.
#[cfg(unix)]
fn terminal_size() -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into a live struct.
    let rc = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

/// The terminal in raw mode until dropped.
#[cfg(unix)]
struct RawMode {
    saved: libc::termios,
}

#[cfg(unix)]
impl RawMode {
    fn enable() -> Option<RawMode> {
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a pointer to a live termios.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: a pointer to a live termios.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawMode { saved })
    }
}

#[cfg(unix)]
impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings saved in `enable`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.saved);
        }
    }
}
