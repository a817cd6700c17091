//! The WSL2 driver (Windows only). The foreground `start` spawns a detached
//! `skiff machine supervise NAME`, which runs `wsl.exe` (see the module
//! docs) and serves the named pipe with the relay's host half.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::MachineConfig;
use crate::driver::{BoxFuture, Driver, ProgressFn, StartProgress};
use crate::error::{IoContext, MachineError, Result};
use crate::paths::MachineDir;
use crate::state::{self, MachineState, Phase, RunRecord};

/// Drives WSL2 distributions through `wsl.exe`.
#[derive(Debug, Clone)]
pub struct WslDriver {
    skiff_bin: PathBuf,
}

impl WslDriver {
    /// `skiff_bin` runs the supervisor.
    pub fn new(skiff_bin: PathBuf) -> WslDriver {
        WslDriver { skiff_bin }
    }

    fn wsl(args: &[String]) -> Result<std::process::Output> {
        std::process::Command::new("wsl.exe")
            .args(args)
            .output()
            .ctx(|| format!("running wsl.exe {}", args.join(" ")))
    }

    fn pipe_path(dir: &MachineDir) -> String {
        super::pipe_path(dir.name())
    }

    fn engine_answers(dir: &MachineDir) -> bool {
        std::fs::metadata(Self::pipe_path(dir)).is_ok()
    }

    async fn start_inner(&self, dir: &MachineDir, progress: ProgressFn<'_>) -> Result<()> {
        if Self::engine_answers(dir) {
            return Ok(());
        }
        progress(StartProgress::new(
            "launching",
            format!("starting {}", super::distro_name(dir.name())),
        ));
        RunRecord::new(Phase::Launching).save(dir)?;
        let log = std::fs::File::create(dir.supervisor_log())
            .ctx(|| format!("creating {}", dir.supervisor_log().display()))?;
        let log_err = log
            .try_clone()
            .ctx(|| "duplicating the log handle".to_string())?;
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        std::process::Command::new(&self.skiff_bin)
            .args(["machine", "supervise", dir.name()])
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP)
            .spawn()
            .ctx(|| format!("starting {}", self.skiff_bin.display()))?;
        progress(StartProgress::new(
            "booting",
            "waiting for the distribution",
        ));
        let started = Instant::now();
        loop {
            if let Some(record) = RunRecord::load(dir) {
                if record.phase == Phase::Running {
                    progress(StartProgress::new("ready", Self::pipe_path(dir)));
                    return Ok(());
                }
                if record.phase == Phase::Broken {
                    return Err(MachineError::StartFailed {
                        name: dir.name().to_string(),
                        reason: record.reason.unwrap_or_default(),
                        lines: crate::fsutil::tail_lines(&dir.supervisor_log(), 20)?,
                    });
                }
            }
            if started.elapsed() > Duration::from_secs(300) {
                return Err(MachineError::StartFailed {
                    name: dir.name().to_string(),
                    reason: "the engine did not answer within 300 s".into(),
                    lines: crate::fsutil::tail_lines(&dir.supervisor_log(), 20)?,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Driver for WslDriver {
    fn name(&self) -> &'static str {
        "wsl2"
    }

    fn create(&self, dir: &MachineDir, config: &MachineConfig) -> Result<()> {
        let listed = Self::wsl(&["-l".into(), "-q".into()])?;
        if super::list_has(&listed.stdout, dir.name()) {
            return Ok(());
        }
        let image = super::rootfs::locate(config.image_dir.as_deref(), true)?;
        let install = dir.dir().join("wsl");
        std::fs::create_dir_all(&install).ctx(|| format!("creating {}", install.display()))?;
        let out = Self::wsl(&super::import_args(dir.name(), &install, &image))?;
        if !out.status.success() {
            return Err(MachineError::Unsupported {
                backend: "wsl2".into(),
                reason: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    }

    fn start<'a>(
        &'a self,
        dir: &'a MachineDir,
        _config: &'a MachineConfig,
        progress: ProgressFn<'a>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.start_inner(dir, progress))
    }

    fn stop<'a>(&'a self, dir: &'a MachineDir) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // Gracefully first: init's WSL mode stops skiffd on SIGTERM and
            // exits, which ends the supervisor (and its pipe).
            if Self::engine_answers(dir) {
                let _ = Self::wsl(&super::graceful_stop_args(dir.name()));
                let deadline = Instant::now() + super::STOP_TIMEOUT;
                while Self::engine_answers(dir) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            let _ = Self::wsl(&super::terminate_args(dir.name()))?;
            let mut record = RunRecord::new(Phase::Stopped);
            record.save(dir)
        })
    }

    fn status(&self, dir: &MachineDir) -> Result<(MachineState, Option<String>)> {
        let record = RunRecord::load(dir);
        Ok(state::determine(Self::engine_answers(dir), record.as_ref()))
    }

    fn remove(&self, dir: &MachineDir) -> Result<()> {
        let _ = Self::wsl(&super::unregister_args(dir.name()))?;
        Ok(())
    }
}
