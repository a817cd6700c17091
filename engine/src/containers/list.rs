//! `docker ps`: the containers a [`ListFilter`] lets through, newest first,
//! and their sizes (`docker ps -s`).

use std::sync::Arc;

use skiff_oci::Digest;

use super::ContainerService;
use super::record::{ContainerRecord, Status};

/// `docker ps` filters, with docker's semantics: the values of one key are
/// alternatives, the keys must all match. An empty list does not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Stopped containers too (`-a`); a `status` filter implies it.
    pub all: bool,
    /// `status=`: docker's status words (`running`, `exited`, …).
    pub status: Vec<String>,
    /// `name=`: substrings of the name (a leading `/` is ignored).
    pub name: Vec<String>,
    /// `id=`: id prefixes.
    pub id: Vec<String>,
    /// `label=key` or `label=key=value`: all must match.
    pub label: Vec<String>,
    /// `ancestor=`: the image as the container was created from, or any
    /// name or id of the same image.
    pub ancestor: Vec<String>,
    /// `exited=`: exit codes of exited containers (a value that is not an
    /// integer matches nothing).
    pub exited: Vec<String>,
}

impl ListFilter {
    /// Whether `r` passes; `image_id` resolves an `ancestor` value to an
    /// image id (`None`: no such image).
    fn matches(&self, r: &ContainerRecord, image_id: impl Fn(&str) -> Option<Digest>) -> bool {
        let any = |values: &[String], ok: &dyn Fn(&str) -> bool| {
            values.is_empty() || values.iter().any(|v| ok(v))
        };
        let labels = r.config.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k));
        (self.all || r.state.status.is_live() || !self.status.is_empty())
            && any(&self.status, &|v| v == r.state.status.as_str())
            && any(&self.name, &|v| r.name.contains(v.trim_start_matches('/')))
            && any(&self.id, &|v| r.id.starts_with(v))
            && any(&self.exited, &|v| {
                r.state.status == Status::Exited && v.parse::<i64>().ok() == Some(r.state.exit_code)
            })
            && any(&self.ancestor, &|v| {
                v == r.image || image_id(v).is_some_and(|id| id == r.image_id)
            })
            && self.label.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => label(k).map(String::as_str) == Some(v),
                None => label(l).is_some(),
            })
    }
}

/// The disk use of a container (`docker ps -s`, `/system/df`), in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerSize {
    /// Its writable layer.
    pub rw: u64,
    /// The writable layer and its image's layers.
    pub root_fs: u64,
}

impl ContainerService {
    /// The containers `filter` lets through, newest first. The records are
    /// shared with the store (no copy): cheap for listings.
    pub fn list(&self, filter: &ListFilter) -> Vec<Arc<ContainerRecord>> {
        let mut list: Vec<Arc<ContainerRecord>> = self
            .store
            .snapshot()
            .into_iter()
            .filter(|r| filter.matches(r, |name| self.images.resolve(name).ok()))
            .collect();
        list.sort_by(|a, b| b.created.cmp(&a.created));
        list
    }

    /// The disk use of a container: its writable layer (blocking: walks
    /// it) and its image's size from the image's record (0 if it is gone).
    pub fn size(&self, record: &ContainerRecord) -> ContainerSize {
        let rw = self.size_rw(&record.id);
        let image = self
            .images
            .record(&record.image_id)
            .map(|i| i.size)
            .unwrap_or(0);
        ContainerSize {
            rw,
            root_fs: rw + image,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::containers::record::State;

    /// A container `web` of image `busybox` with label `a=1`, for tests.
    pub(crate) fn record(status: Status, exit_code: i64) -> ContainerRecord {
        ContainerRecord {
            id: "c".repeat(64),
            name: "web".into(),
            created: "2024-05-06T07:08:09.123Z".into(),
            image: "busybox".into(),
            image_id: format!("sha256:{}", "a".repeat(64))
                .parse()
                .expect("digest"),
            path: "sh".into(),
            args: vec![],
            config: bollard_stubs::models::ContainerConfig {
                labels: Some([("a".to_owned(), "1".to_owned())].into()),
                ..Default::default()
            },
            host_config: bollard_stubs::models::HostConfig::default(),
            state: State {
                status,
                exit_code,
                ..Default::default()
            },
            restart_count: 0,
            cgroup_parent: None,
            mounts: Vec::new(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn filters_follow_docker_ps() {
        let exited = record(Status::Exited, 3);
        let running = record(Status::Running, 0);
        let none = |_: &str| None;
        let f = ListFilter::default();
        assert!(f.matches(&running, none));
        assert!(!f.matches(&exited, none), "stopped only with -a");
        let status = ListFilter {
            status: strings(&["exited"]),
            ..Default::default()
        };
        assert!(status.matches(&exited, none), "status implies -a");
        assert!(!status.matches(&running, none));
        let all = |f: ListFilter| ListFilter { all: true, ..f };
        let by = |f: ListFilter| all(f).matches(&exited, none);
        assert!(by(ListFilter {
            name: strings(&["/we", "zz"]),
            ..Default::default()
        }));
        assert!(!by(ListFilter {
            id: strings(&["d"]),
            ..Default::default()
        }));
        assert!(by(ListFilter {
            exited: strings(&["1", "3"]),
            ..Default::default()
        }));
        assert!(!by(ListFilter {
            exited: strings(&["x"]),
            ..Default::default()
        }));
        assert!(by(ListFilter {
            label: strings(&["a", "a=1"]),
            ..Default::default()
        }));
        assert!(!by(ListFilter {
            label: strings(&["a", "b"]),
            ..Default::default()
        }));
        let image = exited.image_id.clone();
        let ancestor = all(ListFilter {
            ancestor: strings(&["other:tag"]),
            ..Default::default()
        });
        assert!(!ancestor.matches(&exited, none));
        assert!(ancestor.matches(&exited, |_| Some(image.clone())));
    }
}
