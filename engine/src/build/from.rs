//! `FROM`: where a stage starts — `scratch`, an earlier stage's result, or
//! an image (pulled when missing, or always with `pull`).

use skiff_oci::Digest;
use skiff_oci::documents::ImageConfig;

use super::error::BuildError;
use super::{BuildService, Progress};
use crate::images::ImageError;
use crate::images::progress::ProgressSink;
use crate::images::pull::PullRequest;

/// A stage's starting point.
#[derive(Debug, Clone, Default)]
pub struct Base {
    /// The image (none for `scratch`).
    pub image: Option<Digest>,
    /// Its config (an empty Linux config for `scratch`).
    pub config: ImageConfig,
}

impl BuildService {
    /// Resolve `name` (already substituted) to a base: an earlier stage
    /// (`stages`: (name, result) of the stages built so far), `scratch`,
    /// or an image, pulled if missing or when `pull`.
    pub async fn base(
        &self,
        name: &str,
        platform: Option<&str>,
        stages: &[(Option<String>, Base)],
        pull: bool,
        progress: &Progress,
    ) -> Result<Base, BuildError> {
        let lower = name.to_lowercase();
        if let Some((_, b)) = stages
            .iter()
            .find(|(n, _)| n.as_deref() == Some(lower.as_str()))
        {
            return Ok(b.clone());
        }
        if lower == "scratch" {
            return Ok(Base {
                image: None,
                config: ImageConfig {
                    architecture: crate::host::oci_arch(std::env::consts::ARCH).into(),
                    os: "linux".into(),
                    ..Default::default()
                },
            });
        }
        let local = if pull {
            None
        } else {
            match self.images.get(name) {
                Ok((record, config)) => Some((record.id, config)),
                Err(ImageError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            }
        };
        if let Some((id, config)) = local {
            return Ok(Base {
                image: Some(id),
                config,
            });
        }
        let (sink, mut events) = ProgressSink::channel();
        let forward = {
            let progress = progress.clone();
            tokio::spawn(async move {
                while let Some(p) = events.recv().await {
                    if p.bytes.is_none() {
                        match p.id {
                            Some(id) => progress.say(format!("{id}: {}\n", p.status)),
                            None => progress.say(format!("{}\n", p.status)),
                        }
                    }
                }
            })
        };
        let outcome = self
            .images
            .pull(
                PullRequest {
                    image: name.to_owned(),
                    tag: None,
                    platform: platform.map(str::to_owned),
                    credentials: None,
                },
                &sink,
            )
            .await;
        drop(sink);
        let _ = forward.await;
        let outcome = outcome?;
        let (record, config) = self.images.get(&outcome.id.to_string())?;
        Ok(Base {
            image: Some(record.id),
            config,
        })
    }
}
