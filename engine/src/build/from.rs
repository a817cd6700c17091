//! `FROM`: where a stage starts — `scratch`, an earlier stage's result, or
//! an image (pulled when missing, or always with `pull`).

use std::collections::BTreeMap;

use skiff_oci::Digest;
use skiff_oci::documents::ImageConfig;
use skiff_registry::Credentials;

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
        auth: &BTreeMap<String, Credentials>,
        progress: &Progress,
    ) -> Result<Base, BuildError> {
        let lower = name.to_lowercase();
        // An earlier stage by number (`COPY --from=0`).
        if let Some((_, b)) = lower.parse::<usize>().ok().and_then(|i| stages.get(i)) {
            return Ok(b.clone());
        }
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
                    credentials: credentials_for(name, auth),
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

/// The credentials `auth` holds for the registry of image `name`: keys are
/// registry hosts, with or without a scheme and path (Docker Hub's is
/// `https://index.docker.io/v1/`).
pub fn credentials_for(name: &str, auth: &BTreeMap<String, Credentials>) -> Option<Credentials> {
    let domain = skiff_oci::reference::Reference::parse(name)
        .ok()?
        .domain()
        .to_owned();
    auth.iter().find_map(|(key, c)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let host = match host {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            h => h,
        };
        (host == domain).then(|| c.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_image_registry() {
        let auth = BTreeMap::from([
            (
                "127.0.0.1:5000".to_owned(),
                Credentials::basic("local", "p"),
            ),
            (
                "https://index.docker.io/v1/".to_owned(),
                Credentials::basic("hub", "p"),
            ),
        ]);
        let user = |n: &str| credentials_for(n, &auth).map(|c| c.username);
        assert_eq!(user("127.0.0.1:5000/x/y:1").as_deref(), Some("local"));
        assert_eq!(user("busybox").as_deref(), Some("hub"));
        assert_eq!(user("quay.io/x"), None);
    }
}
