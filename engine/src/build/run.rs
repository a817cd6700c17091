//! `RUN`: a container made through the container service from the current
//! image with the command (and the build's arguments in its environment),
//! started, its output streamed to the client, waited for; its changes
//! ([`crate::containers::diff_export`]) become the step's layer. The
//! container is removed whatever happens — success, a non-zero exit,
//! or the client going away (then it is killed first).

use std::io::Seek;
use std::sync::Arc;

use bollard_stubs::models::{ContainerConfig, HostConfig};
use skiff_shim::protocol::Frame;

use super::error::BuildError;
use super::{BuildService, Progress};
use crate::containers::ContainerService;
use crate::containers::attach::AttachOptions;
use crate::containers::create::CreateRequest;
use crate::containers::wait::WaitCondition;

/// A `RUN` to execute.
#[derive(Debug, Clone)]
pub struct RunStep {
    /// The image to run on.
    pub image: String,
    /// The command (shell prepended for the shell form).
    pub argv: Vec<String>,
    /// Extra environment (the build arguments in scope).
    pub env: Vec<String>,
    /// The history text, as dockerd prints the failing command.
    pub display: String,
    /// Keep the container after a success (`rm=false`).
    pub keep: bool,
}

/// Removes the container when dropped while armed (the step's future was
/// dropped mid-way, or it failed before its own removal).
struct Cleanup {
    containers: Arc<ContainerService>,
    id: String,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (containers, id) = (self.containers.clone(), self.id.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { remove_logged(&containers, &id).await });
        }
    }
}

/// What a successful `RUN` leaves.
#[derive(Debug)]
pub struct RunOutput {
    /// The layer tar of its changes (a temporary file rewound to its start).
    pub layer: std::fs::File,
    /// The removal of its container, under way while the layer is
    /// recorded (`None` when kept): await it before the step ends.
    pub removal: Option<tokio::task::JoinHandle<()>>,
}

impl BuildService {
    /// Run `step`; returns the layer tar of its changes and the removal of
    /// its container, started (a failed step's container is removed before
    /// this returns).
    pub async fn run(
        &self,
        step: &RunStep,
        progress: &Progress,
        scratch: &std::path::Path,
    ) -> Result<RunOutput, BuildError> {
        let config = ContainerConfig {
            image: Some(step.image.clone()),
            cmd: Some(step.argv.clone()),
            entrypoint: Some(vec![]),
            env: Some(step.env.clone()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            // Removed after the step: a daemon that dies before that
            // removes it at its next start (`sweep_step_containers`).
            labels: (!step.keep).then(|| {
                [(super::STEP_CONTAINER_LABEL.to_owned(), String::new())]
                    .into_iter()
                    .collect()
            }),
            ..Default::default()
        };
        let (id, _) = self.containers.create(CreateRequest {
            name: None,
            config,
            host_config: HostConfig::default(),
            // The default network, as dockerd's legacy builder runs `RUN`.
            networks: Vec::new(),
        })?;
        let mut guard = Cleanup {
            containers: self.containers.clone(),
            id: id.clone(),
            armed: true,
        };
        progress.say(format!(" ---> Running in {}\n", &id[..12]));
        let (_, ticket) = self.containers.prepare_attach(
            &id,
            AttachOptions {
                stdin: false,
                stdout: true,
                stderr: true,
            },
        )?;
        let output = {
            let progress = progress.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = ticket.connect().await else {
                    return;
                };
                let _ = tokio::task::spawn_blocking(move || {
                    while let Ok(Some(frame)) = stream.next_frame() {
                        match frame {
                            Frame::Stdout(b) | Frame::Stderr(b) => {
                                progress.say(String::from_utf8_lossy(&b).into_owned());
                            }
                            Frame::Exit(_) => break,
                        }
                    }
                })
                .await;
            })
        };
        let exit = async {
            self.containers.start(&id).await?;
            let wait = self.containers.wait(&id, WaitCondition::NotRunning)?;
            Ok::<i64, BuildError>(wait.await)
        };
        let code = tokio::select! {
            code = exit => code?,
            () = progress.closed() => {
                guard.armed = false;
                self.remove_container(&id).await;
                return Err(BuildError::Cancelled);
            }
        };
        let _ = output.await;
        if code != 0 {
            guard.armed = false;
            self.remove_container(&id).await;
            return Err(BuildError::RunFailed {
                command: step.display.clone(),
                code,
            });
        }
        skiff_failpoint::point!(skiff_failpoint::BUILD_RUN_EXITED);
        let record = self.containers.resolve(&id)?;
        let (upper, lower) = self.containers.layer_dirs(&record)?;
        let file = tempfile::tempfile_in(scratch)
            .map_err(|e| BuildError::io("creating a layer file", e))?;
        let mut file = tokio::task::spawn_blocking(move || {
            crate::containers::diff_export::write_changes(&upper, &lower, file)
        })
        .await?
        .map_err(|e| BuildError::io("reading the container's changes", e))?;
        file.rewind()
            .map_err(|e| BuildError::io("reading a layer file", e))?;
        guard.armed = false;
        let removal = (!step.keep).then(|| {
            progress.say(format!(
                " ---> Removed intermediate container {}\n",
                &id[..12]
            ));
            let containers = self.containers.clone();
            tokio::spawn(async move { remove_logged(&containers, &id).await })
        });
        Ok(RunOutput {
            layer: file,
            removal,
        })
    }

    /// Remove a build container (killing it if it runs); failures are
    /// logged, as a leftover container must not fail the build.
    pub(crate) async fn remove_container(&self, id: &str) {
        remove_logged(&self.containers, id).await;
    }
}

/// Remove build container `id` (killing it if it runs), logging a failure.
async fn remove_logged(containers: &Arc<ContainerService>, id: &str) {
    if let Err(e) = containers.remove(id, true).await {
        tracing::warn!("removing build container {id}: {e}");
    }
}
