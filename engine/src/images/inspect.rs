//! Reading images: list (with docker's filters), inspect, history.

use std::collections::HashMap;

use skiff_oci::documents::ImageConfig;
use skiff_oci::reference::Reference;
use skiff_store::images::{ImageIndex, ImageRecord};

use super::ImageService;
use super::error::ImageError;

/// An image with its config and its names in familiar form.
#[derive(Debug, Clone)]
pub struct ImageView {
    /// The record.
    pub record: ImageRecord,
    /// The parsed config.
    pub config: ImageConfig,
    /// `busybox:latest`-style names.
    pub repo_tags: Vec<String>,
    /// `busybox@sha256:…`-style names.
    pub repo_digests: Vec<String>,
}

impl ImageView {
    /// The image's labels (its config's `Labels`; a value that is not a
    /// string counts as empty).
    pub fn labels(&self) -> HashMap<String, String> {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.get("Labels"))
            .and_then(|l| l.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `docker images` filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `reference=` glob patterns (any may match).
    pub references: Vec<String>,
    /// `dangling=true|false`.
    pub dangling: Option<bool>,
    /// `label=key` or `label=key=value` (all must match).
    pub labels: Vec<String>,
    /// `all`: also the intermediate images (untagged parents of another
    /// image, as builds leave them), which are hidden otherwise.
    pub all: bool,
}

/// One `docker history` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryItem {
    /// The image id on the top row, `<missing>` below.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The build step.
    pub created_by: String,
    /// Names, on the top row.
    pub tags: Vec<String>,
    /// Bytes the step added.
    pub size: u64,
    /// Comment.
    pub comment: String,
}

fn familiar(key: &str) -> String {
    Reference::parse(key)
        .map(|r| r.familiar())
        .unwrap_or_else(|_| key.to_owned())
}

/// Go's `path.Match` for the patterns docker filters use: `*` and `?` do not
/// cross `/`; `[...]` classes with ranges and `^`/`!` negation.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && t[0] != '/' && go(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return false;
                };
                let Some(&c) = t.first() else { return false };
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &t[1..])
            }
            Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && go(&p[2..], &t[1..]),
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Whether a familiar `name:tag` or `name@digest` matches a `reference=`
/// pattern: against the whole reference or the name alone, as docker's
/// `FamiliarMatch` does.
fn reference_matches(pattern: &str, familiar: &str) -> bool {
    let name = match familiar.split_once('@') {
        Some((n, _)) => n,
        None => match familiar.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => n,
            _ => familiar,
        },
    };
    glob_match(pattern, familiar) || glob_match(pattern, name)
}

impl ImageService {
    pub(super) fn view(
        &self,
        ix: &ImageIndex,
        record: &ImageRecord,
    ) -> Result<ImageView, ImageError> {
        Ok(ImageView {
            record: record.clone(),
            config: self.config_of(&record.id)?,
            repo_tags: ix.tags_of(&record.id).iter().map(|k| familiar(k)).collect(),
            repo_digests: ix
                .digests_of(&record.id)
                .iter()
                .map(|k| familiar(k))
                .collect(),
        })
    }

    /// List images matching `filter`, newest first.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<ImageView>, ImageError> {
        let ix = self.stores.images.read(Clone::clone);
        let parents: std::collections::BTreeSet<&skiff_oci::Digest> = ix
            .images
            .values()
            .filter_map(|r| r.parent.as_ref())
            .collect();
        let mut out = Vec::new();
        for record in ix.images.values() {
            let mut view = self.view(&ix, record)?;
            if !filter.all && view.repo_tags.is_empty() && parents.contains(&record.id) {
                continue;
            }
            if let Some(dangling) = filter.dangling {
                if view.repo_tags.is_empty() != dangling {
                    continue;
                }
            }
            if !filter.references.is_empty() {
                view.repo_tags
                    .retain(|t| filter.references.iter().any(|p| reference_matches(p, t)));
                view.repo_digests
                    .retain(|t| filter.references.iter().any(|p| reference_matches(p, t)));
                if view.repo_tags.is_empty() && view.repo_digests.is_empty() {
                    continue;
                }
            }
            let labels = view.labels();
            let labels_ok = filter.labels.iter().all(|want| match want.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|lv| lv == v),
                None => labels.contains_key(want.as_str()),
            });
            if labels_ok {
                out.push(view);
            }
        }
        out.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        Ok(out)
    }

    /// Every image with the bytes it shares with other images, and the
    /// total size of all layers (`docker system df`).
    pub fn disk_usage(&self) -> Result<(Vec<(ImageView, u64)>, u64), ImageError> {
        let views = self.list(&ListFilter::default())?;
        let mut users: std::collections::BTreeMap<&skiff_oci::Digest, usize> = Default::default();
        for v in &views {
            for l in &v.record.layers {
                *users.entry(l).or_default() += 1;
            }
        }
        let mut sizes = std::collections::BTreeMap::new();
        for l in users.keys() {
            sizes.insert(
                (*l).clone(),
                self.stores
                    .snapshots
                    .info(l)?
                    .map(|i| i.unpacked_size)
                    .unwrap_or(0),
            );
        }
        let layers_size = sizes.values().sum();
        let out = views
            .iter()
            .map(|v| {
                let shared = v
                    .record
                    .layers
                    .iter()
                    .filter(|l| users.get(l).copied().unwrap_or(0) > 1)
                    .map(|l| sizes.get(l).copied().unwrap_or(0))
                    .sum();
                (v.clone(), shared)
            })
            .collect();
        Ok((out, layers_size))
    }

    /// One image by name or id.
    pub fn inspect(&self, name: &str) -> Result<ImageView, ImageError> {
        let id = self.resolve(name)?;
        let ix = self.stores.images.read(Clone::clone);
        let record = ix
            .images
            .get(&id)
            .ok_or_else(|| ImageError::NotFound(name.to_owned()))?;
        self.view(&ix, record)
    }

    /// The history of an image, newest step first.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryItem>, ImageError> {
        let view = self.inspect(name)?;
        let mut layers = view.record.layers.iter();
        let mut rows = Vec::new();
        let entries = if view.config.history.is_empty() {
            view.record
                .layers
                .iter()
                .map(|_| skiff_oci::documents::History::default())
                .collect()
        } else {
            view.config.history.clone()
        };
        for h in &entries {
            let size = if h.empty_layer {
                0
            } else {
                match layers.next() {
                    Some(d) => self
                        .stores
                        .snapshots
                        .info(d)?
                        .map(|i| i.unpacked_size)
                        .unwrap_or(0),
                    None => 0,
                }
            };
            rows.push(HistoryItem {
                id: "<missing>".into(),
                created: h.created.as_deref().map(unix_seconds).unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: vec![],
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = view.record.id.to_string();
            top.tags = view.repo_tags.clone();
        }
        // Images made here (commits, build steps) name their parents: the
        // row where a parent's history ends is that parent, as dockerd shows.
        let total = rows.len();
        let mut parent = view.record.parent.clone();
        while let Some(id) = parent {
            let Some(record) = self.record(&id) else {
                break;
            };
            let len = self.config_of(&id)?.history.len();
            if len == 0 || len > total {
                break;
            }
            let row = &mut rows[total - len];
            row.id = id.to_string();
            row.tags = self
                .stores
                .images
                .read(|ix| ix.tags_of(&id).iter().map(|k| familiar(k)).collect());
            parent = record.parent;
        }
        Ok(rows)
    }
}

/// Seconds since the epoch of an RFC 3339 time (0 when unparsable).
pub fn unix_seconds(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("busybox:*", "busybox:latest"));
        assert!(!glob_match("*", "a/b"));
        assert!(glob_match("*/*", "a/b"));
        assert!(glob_match("b?sybox", "busybox"));
        assert!(glob_match("[a-c]usybox", "busybox"));
        assert!(!glob_match("[^b]usybox", "busybox"));
        assert!(!glob_match("alpine", "busybox"));
    }

    #[test]
    fn reference_filter_matches_name_or_full() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("busybox:1", "busybox:latest"));
        assert!(reference_matches("127.0.0.1:5000/*", "127.0.0.1:5000/x:1"));
        assert!(reference_matches("busybox", "busybox@sha256:abcd"));
        assert!(!reference_matches("mine/*", "busybox@sha256:abcd"));
    }

    #[test]
    fn times_parse() {
        assert_eq!(unix_seconds("1970-01-01T00:01:00Z"), 60);
        assert_eq!(unix_seconds("garbage"), 0);
    }
}
