//! `docker export`: a tar of a container's root filesystem as its overlay
//! merges it — the image's layers under the container's writable layer,
//! without the container's mounts (`/proc`, binds, `/etc/hostname`), as
//! dockerd exports it. A running container's overlay is read where the host
//! has it mounted; a stopped one's is mounted read-only in a private mount
//! namespace, so an export never changes the container. The walk happens in
//! a container [`view`](super::archive::view): nothing outside the
//! container's filesystem is ever read.

use std::io::{self, Write};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::ContainerService;
use super::archive::tarball::Tarball;
use super::archive::view;
use super::error::ContainerError;
use crate::streams::ChannelWriter;

impl ContainerService {
    /// `GET /containers/{id}/export`: the tar, streamed as it is read.
    pub async fn export(
        &self,
        what: &str,
    ) -> Result<mpsc::Receiver<io::Result<Bytes>>, ContainerError> {
        let record = self.resolve(what)?;
        let root = self.view_root(&record, false, false)?;
        let (mut writer, chunks) = ChannelWriter::new();
        let (ready_tx, ready) = oneshot::channel();
        view::spawn(root, move |entered| {
            let failed = entered.is_err();
            let _ = ready_tx.send(entered);
            if failed {
                return;
            }
            let written = {
                let mut t = Tarball::new(&mut writer);
                t.add_dir("/", "").and_then(|()| t.finish().map(drop))
            };
            match written {
                Ok(()) => {
                    let _ = writer.flush();
                }
                Err(e) => writer.fail(e),
            }
        })?;
        ready.await.map_err(|_| {
            ContainerError::Runtime("the container filesystem thread died".into())
        })??;
        self.record_event("export", &record, &[]);
        Ok(chunks)
    }
}
