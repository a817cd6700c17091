//! The foreground half of a supervised machine (QEMU on Linux, VZ on
//! macOS): `start` hands the instance lock to a detached supervisor process
//! (`skiff machine supervise NAME`, see [`crate::qemu::supervisor`]) and
//! follows its progress;
//! `stop` signals it and waits for the lock to be released.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::MachineConfig;
use crate::driver::{BoxFuture, Driver, ProgressFn, StartProgress};
use crate::error::{IoContext, MachineError, Result};
use crate::fsutil;
use crate::image::VmImage;
use crate::lock::{self, InstanceLock};
use crate::paths::MachineDir;
use crate::state::{self, MachineState, Phase, RunRecord};

/// The descriptor number the supervisor finds its lock on.
pub const LOCK_FD: i32 = 3;
/// Default limit for a start (TCG boots are slow); `SKIFF_START_TIMEOUT`
/// (seconds) overrides it.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// How long `stop` waits for the supervisor before killing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Console lines carried by a start failure.
const CONSOLE_LINES: usize = 25;

/// A driver whose VM runs under a detached supervisor process.
#[derive(Debug, Clone)]
pub struct SupervisedDriver {
    name: &'static str,
    skiff_bin: PathBuf,
}

impl SupervisedDriver {
    /// `name` is the backend's; `skiff_bin` is the `skiff` binary that runs
    /// the supervisor.
    pub fn new(name: &'static str, skiff_bin: PathBuf) -> SupervisedDriver {
        SupervisedDriver { name, skiff_bin }
    }

    fn spawn_supervisor(&self, dir: &MachineDir, lock: &InstanceLock) -> Result<u32> {
        let home = dir
            .dir()
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let log_path = dir.supervisor_log();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .ctx(|| format!("opening {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .ctx(|| format!("duplicating {}", log_path.display()))?;
        let lock_fd = lock.raw_fd();
        let mut cmd = Command::new(&self.skiff_bin);
        cmd.args(["machine", "supervise", dir.name()])
            .env("SKIFF_HOME", &home)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // SAFETY: only async-signal-safe calls (setsid, dup2, fcntl) run
        // between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if lock_fd == LOCK_FD {
                    // dup2 onto itself keeps close-on-exec; clear it.
                    if libc::fcntl(LOCK_FD, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(lock_fd, LOCK_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .ctx(|| format!("starting the supervisor {}", self.skiff_bin.display()))?;
        let pid = child.id();
        // Reap it whenever it exits (a long-lived caller, e.g. the app).
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(pid)
    }

    /// Follows a start until the engine answers, the supervisor gives up,
    /// or the timeout passes.
    async fn follow(&self, dir: &MachineDir, progress: ProgressFn<'_>) -> Result<()> {
        let timeout = std::env::var("SKIFF_START_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(START_TIMEOUT);
        let started = Instant::now();
        let mut console = ConsoleFollower::new(dir.console());
        if RunRecord::load(dir).is_some_and(|r| r.phase == Phase::Running) {
            // Up already: its boot is old news.
            let _ = console.new_lines();
        }
        let mut last_phase = None;
        loop {
            for line in console.new_lines() {
                progress(StartProgress::new("booting", line));
            }
            let supervised = lock::is_held(&dir.lock())?;
            let record = RunRecord::load(dir);
            let phase = record.as_ref().map(|r| r.phase);
            if !supervised {
                for line in console.new_lines() {
                    progress(StartProgress::new("booting", line));
                }
                let reason = match record.and_then(|r| r.reason) {
                    Some(reason) => reason,
                    None => {
                        let log = fsutil::tail_lines(&dir.supervisor_log(), 3)?;
                        format!("the supervisor exited: {}", log.join(" | "))
                    }
                };
                return Err(MachineError::StartFailed {
                    name: dir.name().to_string(),
                    reason,
                    lines: fsutil::tail_lines(&dir.console(), CONSOLE_LINES)?,
                });
            }
            if phase != last_phase {
                match phase {
                    Some(Phase::Booting) => progress(StartProgress::new(
                        "booting",
                        format!(
                            "the VM is booting ({})",
                            record
                                .as_ref()
                                .and_then(|r| r.accel.clone())
                                .unwrap_or_default()
                        ),
                    )),
                    Some(Phase::Engine) => {
                        progress(StartProgress::new("engine", "waiting for the engine"))
                    }
                    _ => {}
                }
                last_phase = phase;
            }
            if phase == Some(Phase::Running)
                && crate::ping::ping(&dir.socket(), Duration::from_secs(10))
                    .await
                    .is_ok()
            {
                progress(StartProgress::new(
                    "ready",
                    format!("the engine answers on {}", dir.socket().display()),
                ));
                return Ok(());
            }
            if started.elapsed() > timeout {
                let lines = fsutil::tail_lines(&dir.console(), CONSOLE_LINES)?;
                let _ = self.stop_inner(dir).await;
                return Err(MachineError::StartFailed {
                    name: dir.name().to_string(),
                    reason: format!("the engine did not answer within {} s", timeout.as_secs()),
                    lines,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn start_inner(
        &self,
        dir: &MachineDir,
        config: &MachineConfig,
        progress: ProgressFn<'_>,
    ) -> Result<()> {
        // A transient shared lock of a concurrent `status` can make the
        // exclusive attempt fail: retry briefly before following.
        let mut lock = None;
        for _ in 0..5 {
            lock = InstanceLock::try_acquire(&dir.lock())?;
            if lock.is_some() {
                break;
            }
            let running = RunRecord::load(dir)
                .is_some_and(|r| r.phase != Phase::Stopped && r.phase != Phase::Broken);
            if running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let Some(lock) = lock else {
            // Running, or being started by another process: follow it.
            return self.follow(dir, progress).await;
        };
        // Fail early and clearly on a missing image.
        let image = VmImage::locate(config.image_dir.as_deref())?;
        image.verify(false)?;
        progress(StartProgress::new(
            "launching",
            format!("starting machine {} ({})", dir.name(), self.name),
        ));
        let mut record = RunRecord::new(Phase::Launching);
        record.save(dir)?;
        let pid = self.spawn_supervisor(dir, &lock)?;
        drop(lock); // the supervisor's copy holds it now
        tracing::debug!(pid, "supervisor started");
        self.follow(dir, progress).await
    }

    async fn stop_inner(&self, dir: &MachineDir) -> Result<()> {
        if !lock::is_held(&dir.lock())? {
            return Ok(());
        }
        // The supervisor writes its pid right after it starts.
        let mut pid = None;
        for _ in 0..50 {
            pid = read_pid(&dir.pid());
            if pid.is_some() || !lock::is_held(&dir.lock())? {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(pid) = pid else {
            return if lock::is_held(&dir.lock())? {
                Err(MachineError::StopFailed {
                    name: dir.name().to_string(),
                    reason: format!(
                        "the lock is held but {} names no process",
                        dir.pid().display()
                    ),
                })
            } else {
                Ok(())
            };
        };
        signal(pid, libc::SIGTERM);
        if wait_released(dir, STOP_TIMEOUT).await? {
            return Ok(());
        }
        tracing::warn!(pid, "the supervisor did not stop in time; killing it");
        signal(pid, libc::SIGKILL);
        if wait_released(dir, Duration::from_secs(10)).await? {
            let mut record = RunRecord::new(Phase::Stopped);
            record.reason = Some("killed after the stop timeout".into());
            record.save(dir)?;
            for path in [
                dir.socket(),
                dir.engine_port(),
                dir.control_port(),
                dir.qmp(),
                dir.pid(),
            ] {
                let _ = std::fs::remove_file(path);
            }
            return Ok(());
        }
        Err(MachineError::StopFailed {
            name: dir.name().to_string(),
            reason: format!(
                "the supervisor (pid {pid}) still holds {}",
                dir.lock().display()
            ),
        })
    }
}

/// Waits until nobody holds the machine's lock; `false` on timeout.
async fn wait_released(dir: &MachineDir, timeout: Duration) -> Result<bool> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if !lock::is_held(&dir.lock())? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
}

fn signal(pid: u32, sig: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill takes no pointers; a stale pid at worst gets ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// The pid in a pid file.
pub fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Driver for SupervisedDriver {
    fn name(&self) -> &'static str {
        self.name
    }

    fn create(&self, dir: &MachineDir, config: &MachineConfig) -> Result<()> {
        std::fs::create_dir_all(dir.dir()).ctx(|| format!("creating {}", dir.dir().display()))?;
        fsutil::create_sparse(&dir.disk(), config.disk_gib << 30)?;
        Ok(())
    }

    fn start<'a>(
        &'a self,
        dir: &'a MachineDir,
        config: &'a MachineConfig,
        progress: ProgressFn<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.start_inner(dir, config, progress))
    }

    fn stop<'a>(&'a self, dir: &'a MachineDir) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.stop_inner(dir))
    }

    fn status(&self, dir: &MachineDir) -> Result<(MachineState, Option<String>)> {
        let supervised = lock::is_held(&dir.lock())?;
        Ok(state::determine(supervised, RunRecord::load(dir).as_ref()))
    }

    fn remove(&self, _dir: &MachineDir) -> Result<()> {
        Ok(())
    }
}

/// Reads the console log as it grows, line by line.
#[derive(Debug)]
pub struct ConsoleFollower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl ConsoleFollower {
    /// Follows `path` from its start.
    pub fn new(path: PathBuf) -> ConsoleFollower {
        ConsoleFollower {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Complete, non-empty lines written since the last call (cleaned of
    /// escapes). A file that shrank (a new boot) is read from its start.
    pub fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if file.take(1 << 20).read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = fsutil::clean_console_line(&String::from_utf8_lossy(&line));
            if !text.trim().is_empty() {
                lines.push(text);
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_follower_returns_complete_new_lines() {
        let (_dir, path) = crate::fsutil::temp_path("console.log");
        let mut f = ConsoleFollower::new(path.clone());
        assert!(f.new_lines().is_empty());
        std::fs::write(&path, "one\r\ntw").expect("write");
        assert_eq!(f.new_lines(), ["one"]);
        std::fs::write(&path, "one\r\ntwo\n\nthree\n").expect("write");
        assert_eq!(f.new_lines(), ["two", "three"]);
        std::fs::write(&path, "new boot\n").expect("truncate");
        assert_eq!(f.new_lines(), ["new boot"]);
    }

    #[test]
    fn pid_files() {
        let (_dir, path) = crate::fsutil::temp_path("pid");
        assert_eq!(read_pid(&path), None);
        std::fs::write(&path, "1234\n").expect("write");
        assert_eq!(read_pid(&path), Some(1234));
    }
}
