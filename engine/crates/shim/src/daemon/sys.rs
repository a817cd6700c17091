//! Small system helpers of the shim daemon: signals, poll(2), pipes, the pty
//! master handed over by libcontainer, `lo` in a new network namespace.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction};

/// Write end of the SIGCHLD self-pipe, for the signal handler.
static SIGCHLD_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = SIGCHLD_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; errno is saved and restored so
        // the interrupted code does not see ours. The pipe is non-blocking: a
        // full pipe already means "a child changed state".
        unsafe {
            let errno = *libc::__errno_location();
            let byte = 0u8;
            libc::write(fd, (&raw const byte).cast(), 1);
            *libc::__errno_location() = errno;
        }
    }
}

extern "C" fn on_sigpipe(_: libc::c_int) {}

/// Installs the shim's signal handling and returns the read end of the
/// SIGCHLD self-pipe.
///
/// Handlers, unlike `SIG_IGN`, are reset to the default by `execve`, so the
/// container gets default dispositions: SIGPIPE has a no-op handler (writes
/// to a closed pipe fail with EPIPE in the shim but still kill `yes | head`
/// in the container), SIGCHLD writes to the self-pipe. Every other signal is
/// reset to its default and the signal mask is cleared, since both are
/// inherited by the container through `clone` + `execve`.
pub fn install_signal_handlers() -> io::Result<OwnedFd> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    SIGCHLD_PIPE.store(write.into_raw_fd(), Ordering::Relaxed);

    for signal in Signal::iterator() {
        if matches!(
            signal,
            Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGCHLD | Signal::SIGPIPE
        ) {
            continue;
        }
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: installing SIG_DFL runs no code of ours in signal context.
        let _ = unsafe { sigaction(signal, &default) };
    }
    let chld = SigAction::new(
        SigHandler::Handler(on_sigchld),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    // SAFETY: on_sigchld only calls write(2) and touches errno.
    unsafe { sigaction(Signal::SIGCHLD, &chld) }.map_err(io::Error::from)?;
    let pipe = SigAction::new(
        SigHandler::Handler(on_sigpipe),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: on_sigpipe does nothing.
    unsafe { sigaction(Signal::SIGPIPE, &pipe) }.map_err(io::Error::from)?;
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(io::Error::from)?;
    Ok(read)
}

/// Empties the SIGCHLD self-pipe.
pub fn drain(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    while let Ok(n) = nix::unistd::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// poll(2) on raw descriptors; EINTR counts as "nothing ready".
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    let len = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, exclusively borrowed slice of `len` pollfd
    // structures for the whole call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), len, timeout_ms) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Makes a descriptor non-blocking.
pub fn set_nonblocking(fd: &impl AsFd) -> io::Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL)?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// Opens /dev/null read-write.
pub fn dev_null() -> io::Result<OwnedFd> {
    Ok(File::options()
        .read(true)
        .write(true)
        .open("/dev/null")?
        .into())
}

/// Waits up to `timeout` for libcontainer's connection on the console socket
/// and receives the pty master it carries.
pub fn receive_master(listener: &UnixListener, timeout: Duration) -> io::Result<OwnedFd> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut pfd = [libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    if poll(&mut pfd, ms)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no pty master received on the console socket",
        ));
    }
    let (conn, _) = listener.accept()?;
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(timeout))?;
    let mut buf = [0u8; 256];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut master = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in our table for us
                // (SCM_RIGHTS); nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if master.is_none() {
                    master = Some(owned);
                }
            }
        }
    }
    master.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "console socket message carried no descriptor",
        )
    })
}

/// Sets a pty's window size.
pub fn set_winsize(master: &OwnedFd, height: u16, width: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which is valid
    // for the call; `master` is an open descriptor.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &raw const ws) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Brings `lo` up in the network namespace of `pid` when it is not the
/// shim's own. The shim is single-threaded, so switching its network
/// namespace for a moment affects nothing else.
pub fn loopback_up(pid: i32) -> io::Result<()> {
    use nix::sched::{CloneFlags, setns};
    let target = File::open(format!("/proc/{pid}/ns/net"))?;
    let own = File::open("/proc/self/ns/net")?;
    let (t, o) = (target.metadata()?, own.metadata()?);
    if t.dev() == o.dev() && t.ino() == o.ino() {
        return Ok(());
    }
    setns(&target, CloneFlags::CLONE_NEWNET)?;
    let result = set_up("lo");
    setns(&own, CloneFlags::CLONE_NEWNET).map_err(|e| {
        io::Error::other(format!(
            "cannot return to the shim's network namespace: {e}"
        ))
    })?;
    result
}

fn set_up(name: &str) -> io::Result<()> {
    // SAFETY: plain socket(2); the result is checked and owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills `ifr`, which lives across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds the flags.
    unsafe {
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads `ifr`, which lives across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &raw const ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The OOM-kill count of a cgroup (v1 `memory.oom_control`, or v2
/// `memory.events`), if readable.
pub fn oom_kills(cgroups_path: &std::path::Path) -> Option<u64> {
    let rel = cgroups_path.strip_prefix("/").unwrap_or(cgroups_path);
    let candidates = [
        (
            std::path::Path::new("/sys/fs/cgroup/memory")
                .join(rel)
                .join("memory.oom_control"),
            "oom_kill ",
        ),
        (
            std::path::Path::new("/sys/fs/cgroup")
                .join(rel)
                .join("memory.events"),
            "oom_kill ",
        ),
    ];
    for (path, key) in candidates {
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                if let Some(v) = line.strip_prefix(key) {
                    return v.trim().parse().ok();
                }
            }
        }
    }
    None
}
