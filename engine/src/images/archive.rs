//! Image archives: `docker load` (docker-archive and OCI-archive tars) and
//! `docker save` (a docker-archive that is also an OCI image layout, as
//! docker ≥ 25 writes it, and that older `docker load` accepts).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use skiff_oci::Digest;
use skiff_oci::documents::{self, Descriptor, ImageConfig, Index, Manifest};
use skiff_oci::platform::{self, Platform};
use skiff_oci::reference::Reference;
use skiff_store::compression;
use skiff_store::images::ImageRecord;

use super::error::ImageError;
use super::layer::{self, Expect};
use super::{ImageService, now_rfc3339};

/// Largest JSON document read from an archive.
const MAX_JSON: u64 = 16 << 20;

/// One image of a docker-archive `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// An archive extracted to scratch: archive path → file on disk.
struct Extracted {
    dir: PathBuf,
    files: HashMap<String, PathBuf>,
}

impl Drop for Extracted {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidArgument(msg.into())
}

/// Normalise an archive member name: relative, no `..`, no leading `./`.
fn clean(name: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

impl Extracted {
    /// Extract regular files of `archive` into a scratch directory; symlinks
    /// (old docker-archives link duplicate layers) become aliases.
    fn new(scratch: &Path, archive: impl Read) -> Result<Self, ImageError> {
        let dir = scratch.join(format!("load-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| ImageError::Store(format!("creating {}: {e}", dir.display())))?;
        let mut me = Self {
            dir,
            files: HashMap::new(),
        };
        let mut links = Vec::new();
        let mut tar = tar::Archive::new(archive);
        let entries = tar
            .entries()
            .map_err(|e| bad(format!("invalid tar archive: {e}")))?;
        for (n, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| bad(format!("invalid tar archive: {e}")))?;
            let raw = entry
                .path()
                .map_err(|e| bad(format!("invalid tar archive: {e}")))?
                .into_owned();
            let name = clean(&raw)
                .ok_or_else(|| bad(format!("invalid archive member name {:?}", raw.display())))?;
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let path = me.dir.join(n.to_string());
                    let mut f = File::create(&path)
                        .map_err(|e| ImageError::Store(format!("{}: {e}", path.display())))?;
                    io::copy(&mut entry, &mut f)
                        .map_err(|e| bad(format!("reading archive member {name}: {e}")))?;
                    me.files.insert(name, path);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .ok()
                        .flatten()
                        .map(|t| t.into_owned())
                        .unwrap_or_default();
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        Path::new(&name)
                            .parent()
                            .map(|p| p.join(&target))
                            .unwrap_or(target)
                    } else {
                        target
                    };
                    links.push((name, base));
                }
                _ => {}
            }
        }
        for (name, target) in links {
            let resolved = resolve_dots(&target)
                .ok_or_else(|| bad(format!("archive link {name} escapes the archive")))?;
            if let Some(path) = me.files.get(&resolved).cloned() {
                me.files.insert(name, path);
            }
        }
        Ok(me)
    }

    fn open(&self, name: &str) -> Result<File, ImageError> {
        let name = clean(Path::new(name))
            .ok_or_else(|| bad(format!("invalid path {name:?} in archive")))?;
        let path = self
            .files
            .get(&name)
            .ok_or_else(|| bad(format!("archive member {name} is missing")))?;
        File::open(path).map_err(|e| ImageError::Store(format!("{}: {e}", path.display())))
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let mut out = Vec::new();
        self.open(name)?
            .take(MAX_JSON)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("reading {name}: {e}")))?;
        Ok(out)
    }

    fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }
}

/// Resolve `a/../b` within the archive namespace; `None` if it escapes.
fn resolve_dots(p: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => parts.push(x.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// A resolved `docker save` request.
#[derive(Debug, Clone)]
pub struct SavePlan {
    images: Vec<(ImageRecord, Vec<String>)>,
}

impl ImageService {
    /// `docker load`: import every image of a docker-archive or OCI-archive.
    /// Returns docker's report lines ("Loaded image: busybox:latest").
    pub fn load(&self, archive: impl Read) -> Result<Vec<String>, ImageError> {
        let _writing = self.gc_lock.blocking_read();
        let x = Extracted::new(&self.stores.scratch, archive)?;
        if x.has("manifest.json") {
            let entries: Vec<ArchiveEntry> = serde_json::from_slice(&x.read("manifest.json")?)
                .map_err(|e| bad(format!("invalid manifest.json in archive: {e}")))?;
            let mut lines = Vec::new();
            for entry in entries {
                let config_bytes = x.read(&entry.config)?;
                let layers: Vec<(String, Option<Descriptor>)> =
                    entry.layers.iter().map(|l| (l.clone(), None)).collect();
                let id = self.load_image(&x, &config_bytes, &layers, None)?;
                lines.extend(
                    self.name_loaded(
                        &id,
                        entry
                            .repo_tags
                            .unwrap_or_default()
                            .iter()
                            .map(String::as_str),
                    )?,
                );
            }
            Ok(lines)
        } else if x.has("index.json") {
            self.load_oci(&x)
        } else {
            Err(bad("invalid archive: no manifest.json or index.json found"))
        }
    }

    fn load_oci(&self, x: &Extracted) -> Result<Vec<String>, ImageError> {
        let index: Index = serde_json::from_slice(&x.read("index.json")?)
            .map_err(|e| bad(format!("invalid index.json in archive: {e}")))?;
        let blob = |d: &Digest| format!("blobs/sha256/{}", d.hex());
        let mut lines = Vec::new();
        for top in &index.manifests {
            let mut desc = top.clone();
            if documents::is_index(&desc.media_type) {
                let nested: Index = serde_json::from_slice(&x.read(&blob(&desc.digest))?)
                    .map_err(|e| bad(format!("invalid index {}: {e}", desc.digest)))?;
                desc = platform::select(&nested.manifests, &Platform::host())
                    .cloned()
                    .ok_or_else(|| {
                        bad(format!(
                            "no matching manifest for {} in index {}",
                            Platform::host(),
                            desc.digest
                        ))
                    })?;
            }
            let manifest_bytes = x.read(&blob(&desc.digest))?;
            if Digest::of(&manifest_bytes) != desc.digest {
                return Err(bad(format!(
                    "manifest {} in archive does not match its digest",
                    desc.digest
                )));
            }
            let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
                .map_err(|e| bad(format!("invalid manifest {}: {e}", desc.digest)))?;
            let config_bytes = x.read(&blob(&manifest.config.digest))?;
            let layers: Vec<(String, Option<Descriptor>)> = manifest
                .layers
                .iter()
                .map(|l| (blob(&l.digest), Some(l.clone())))
                .collect();
            let id = self.load_image(
                x,
                &config_bytes,
                &layers,
                Some((&desc.digest, &manifest_bytes)),
            )?;
            let name = top
                .annotations
                .get("io.containerd.image.name")
                .cloned()
                .or_else(|| {
                    top.annotations
                        .get("org.opencontainers.image.ref.name")
                        .filter(|n| n.contains('/') || n.contains(':'))
                        .cloned()
                });
            lines.extend(self.name_loaded(&id, name.iter().map(String::as_str))?);
        }
        Ok(lines)
    }

    /// Verify and store one image's config and layers; returns its id.
    fn load_image(
        &self,
        x: &Extracted,
        config_bytes: &[u8],
        layers: &[(String, Option<Descriptor>)],
        manifest: Option<(&Digest, &[u8])>,
    ) -> Result<Digest, ImageError> {
        let config: ImageConfig = serde_json::from_slice(config_bytes)
            .map_err(|e| bad(format!("invalid image config in archive: {e}")))?;
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(bad(format!(
                "image config lists {} layers but the archive has {}",
                config.rootfs.diff_ids.len(),
                layers.len()
            )));
        }
        for ((path, desc), diff_id) in layers.iter().zip(&config.rootfs.diff_ids) {
            if self.stores.snapshots.contains(diff_id) {
                continue;
            }
            let expect = Expect {
                blob: desc.as_ref().map(|d| (d.digest.clone(), d.size)),
                diff_id: Some(diff_id.clone()),
            };
            let input = io::BufReader::with_capacity(1 << 20, x.open(path)?);
            layer::unpack_stream(
                &self.stores,
                input,
                Some(self.stores.content.writer()?),
                &expect,
                desc.as_ref().map(|d| d.media_type.as_str()),
            )?;
        }
        let id = self.stores.content.write_blob(config_bytes, None)?;
        let manifest_digest = match manifest {
            Some((d, bytes)) => Some(self.stores.content.write_blob(bytes, Some(d))?),
            None => None,
        };
        let size = self.layers_size(&config.rootfs.diff_ids)?;
        skiff_failpoint::point!(skiff_failpoint::LOAD_BEFORE_RECORD);
        self.stores.images.update(|ix| {
            ix.images.entry(id.clone()).or_insert_with(|| ImageRecord {
                manifest: manifest_digest,
                ..ImageRecord::new(id.clone(), config.rootfs.diff_ids.clone(), size)
            });
        })?;
        Ok(id)
    }

    /// Point `names` at `id`; report lines as docker prints them.
    fn name_loaded<'a>(
        &self,
        id: &Digest,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<String>, ImageError> {
        let refs = names
            .map(|n| Reference::parse(n).map(|r| r.with_default_tag()))
            .collect::<Result<Vec<_>, _>>()?;
        self.event("load", &id.to_string(), &id.to_string());
        if refs.is_empty() {
            return Ok(vec![format!("Loaded image ID: {id}")]);
        }
        skiff_failpoint::point!(skiff_failpoint::LOAD_BEFORE_TAG);
        self.stores.images.update(|ix| {
            for r in &refs {
                ix.tags.insert(r.to_string(), id.clone());
            }
            if let Some(rec) = ix.images.get_mut(id) {
                rec.last_tag_time = Some(now_rfc3339());
            }
        })?;
        Ok(refs
            .iter()
            .map(|r| format!("Loaded image: {}", r.familiar()))
            .collect())
    }

    /// Resolve the images `docker save` names (before any byte is sent).
    pub fn plan_save(&self, names: &[String]) -> Result<SavePlan, ImageError> {
        let mut images: Vec<(ImageRecord, Vec<String>)> = Vec::new();
        for name in names {
            // dockerd's save names the image as given (`No such image:
            // nope`), without the default tag other endpoints add.
            let id = self.resolve(name).map_err(|e| match e {
                ImageError::NotFound(_) => ImageError::NotFound(name.clone()),
                e => e,
            })?;
            let tags: Vec<String> = self.stores.images.read(|ix| {
                match Reference::parse(name) {
                    // A bare repository name saves all of its tags, as docker does.
                    Ok(r)
                        if r.tag().is_none()
                            && r.digest().is_none()
                            && ix
                                .tags
                                .contains_key(&r.clone().with_default_tag().to_string()) =>
                    {
                        ix.tags
                            .keys()
                            .filter(|k| {
                                Reference::parse(k)
                                    .map(|t| t.name() == r.name())
                                    .unwrap_or(false)
                            })
                            .cloned()
                            .collect()
                    }
                    Ok(r)
                        if r.digest().is_none()
                            && ix
                                .tags
                                .contains_key(&r.clone().with_default_tag().to_string()) =>
                    {
                        vec![r.with_default_tag().to_string()]
                    }
                    _ => vec![],
                }
            });
            let record = self
                .stores
                .images
                .read(|ix| ix.images.get(&id).cloned())
                .ok_or_else(|| ImageError::NotFound(name.clone()))?;
            for tag in tags {
                let tag_id = self.stores.images.read(|ix| ix.tags.get(&tag).cloned());
                let Some(tag_id) = tag_id else { continue };
                let rec = self
                    .stores
                    .images
                    .read(|ix| ix.images.get(&tag_id).cloned())
                    .ok_or_else(|| ImageError::NotFound(tag.clone()))?;
                match images.iter_mut().find(|(r, _)| r.id == rec.id) {
                    Some((_, t)) => t.push(tag),
                    None => images.push((rec, vec![tag])),
                }
            }
            if !images.iter().any(|(r, _)| r.id == record.id) {
                images.push((record, vec![]));
            }
        }
        for (_, tags) in &mut images {
            tags.sort();
            tags.dedup();
        }
        Ok(SavePlan { images })
    }

    /// Write the archive for `plan` to `out`.
    pub fn save(&self, plan: &SavePlan, out: impl Write) -> Result<(), ImageError> {
        for (record, _) in &plan.images {
            self.event("save", &record.id.to_string(), &record.id.to_string());
        }
        let io_err = |e: io::Error| ImageError::Store(format!("writing image archive: {e}"));
        let mut tar = tar::Builder::new(out);
        let mut written: BTreeSet<Digest> = BTreeSet::new();
        let mut entries = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (record, tags) in &plan.images {
            let config_bytes = self.stores.content.read(&record.id)?;
            let mut layer_descs = Vec::new();
            for diff_id in &record.layers {
                let info = self
                    .stores
                    .snapshots
                    .info(diff_id)?
                    .ok_or_else(|| ImageError::Store(format!("layer {diff_id} is missing")))?;
                layer_descs.push(Descriptor {
                    media_type: documents::OCI_LAYER_TAR.into(),
                    digest: diff_id.clone(),
                    size: info.tar_size,
                    platform: None,
                    urls: vec![],
                    annotations: BTreeMap::new(),
                });
                if written.insert(diff_id.clone()) {
                    let blob = io::BufReader::with_capacity(
                        1 << 20,
                        self.stores.content.open_blob(&info.blob)?,
                    );
                    let (_, data) = compression::decompress(blob).map_err(io_err)?;
                    append(
                        &mut tar,
                        &format!("blobs/sha256/{}", diff_id.hex()),
                        info.tar_size,
                        data,
                    )
                    .map_err(io_err)?;
                }
            }
            if written.insert(record.id.clone()) {
                append(
                    &mut tar,
                    &format!("blobs/sha256/{}", record.id.hex()),
                    config_bytes.len() as u64,
                    &config_bytes[..],
                )
                .map_err(io_err)?;
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(documents::OCI_MANIFEST.into()),
                config: Descriptor {
                    media_type: documents::OCI_CONFIG.into(),
                    digest: record.id.clone(),
                    size: config_bytes.len() as u64,
                    platform: None,
                    urls: vec![],
                    annotations: BTreeMap::new(),
                },
                layers: layer_descs,
                annotations: BTreeMap::new(),
            };
            let manifest_bytes =
                serde_json::to_vec(&manifest).map_err(|e| ImageError::Store(e.to_string()))?;
            let manifest_digest = Digest::of(&manifest_bytes);
            if written.insert(manifest_digest.clone()) {
                append(
                    &mut tar,
                    &format!("blobs/sha256/{}", manifest_digest.hex()),
                    manifest_bytes.len() as u64,
                    &manifest_bytes[..],
                )
                .map_err(io_err)?;
            }
            let familiar: Vec<String> = tags
                .iter()
                .filter_map(|t| Reference::parse(t).ok())
                .map(|r| r.familiar())
                .collect();
            // The index's entry for this manifest, under one name or none.
            let manifest_desc = |annotations| Descriptor {
                media_type: documents::OCI_MANIFEST.into(),
                digest: manifest_digest.clone(),
                size: manifest_bytes.len() as u64,
                platform: None,
                urls: vec![],
                annotations,
            };
            for t in tags.iter().filter_map(|t| Reference::parse(t).ok()) {
                let mut annotations = BTreeMap::new();
                annotations.insert("io.containerd.image.name".to_owned(), t.to_string());
                annotations.insert(
                    "org.opencontainers.image.ref.name".to_owned(),
                    t.tag().unwrap_or("latest").to_owned(),
                );
                index.push(manifest_desc(annotations));
                if let Some(top) = record.layers.last() {
                    repositories
                        .entry(t.familiar_name())
                        .or_default()
                        .insert(t.tag().unwrap_or("latest").to_owned(), top.hex().to_owned());
                }
            }
            if tags.is_empty() {
                index.push(manifest_desc(BTreeMap::new()));
            }
            entries.push(ArchiveEntry {
                config: format!("blobs/sha256/{}", record.id.hex()),
                repo_tags: Some(familiar),
                layers: record
                    .layers
                    .iter()
                    .map(|d| format!("blobs/sha256/{}", d.hex()))
                    .collect(),
            });
        }
        let enc = |e: serde_json::Error| ImageError::Store(format!("encoding image archive: {e}"));
        let index_doc = Index {
            schema_version: 2,
            media_type: Some(documents::OCI_INDEX.into()),
            manifests: index,
            annotations: BTreeMap::new(),
        };
        for (name, bytes) in [
            ("index.json", serde_json::to_vec(&index_doc).map_err(enc)?),
            ("manifest.json", serde_json::to_vec(&entries).map_err(enc)?),
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            (
                "repositories",
                serde_json::to_vec(&repositories).map_err(enc)?,
            ),
        ] {
            append(&mut tar, name, bytes.len() as u64, &bytes[..]).map_err(io_err)?;
        }
        tar.into_inner().map_err(io_err)?.flush().map_err(io_err)?;
        Ok(())
    }
}

/// Append one regular file of exactly `size` bytes.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let mut counted = Counted {
        inner: data.take(size),
        n: 0,
    };
    tar.append_data(&mut header, path, &mut counted)?;
    if counted.n != size {
        return Err(io::Error::other(format!(
            "{path}: expected {size} bytes, read {}",
            counted.n
        )));
    }
    Ok(())
}

struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_are_confined() {
        assert_eq!(
            clean(Path::new("./blobs/sha256/ab")).as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean(Path::new("../x")), None);
        assert_eq!(clean(Path::new("/etc/passwd")), None);
        assert_eq!(
            resolve_dots(Path::new("abc/../def/layer.tar")).as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(resolve_dots(Path::new("../../x")), None);
    }
}
