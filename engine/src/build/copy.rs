//! `COPY` and `ADD`: a layer tar written directly from the sources, with
//! docker's rules:
//!
//! - a directory source copies its contents (not itself) into the
//!   destination; a file source lands at the destination, or inside it
//!   when it ends with `/` (required with several sources);
//! - a relative destination is relative to `WORKDIR`;
//! - owner root (or `--chown`, names resolved in the image's
//!   `/etc/passwd`/`/etc/group`), permissions kept (or `--chmod`),
//!   modification times kept;
//! - `ADD` of a local tar (plain, gzip, zstd) extracts it into the
//!   destination; `ADD <url>` is refused;
//! - the destination's parent directories are written with the metadata
//!   the image has for them (so `/tmp` keeps its sticky bit).
//!
//! The layer is unpacked by the store's layer pipeline, which never writes
//! outside the new snapshot; sources are resolved inside the context
//! ([`Context::resolve`]) or read from an earlier stage through a
//! container's archive. A checksum of what is copied (names, modes,
//! owners, contents — not times) is returned for the cache.

use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use skiff_oci::Hasher;
use tar::{EntryType, Header};

use super::context::Context;
use super::error::BuildError;

/// How the copied entries are owned and moded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner {
    /// uid, gid (root unless `--chown`).
    pub ids: (u32, u32),
    /// `--chmod`.
    pub chmod: Option<u32>,
}

/// Writes the layer tar and its checksum.
pub struct LayerWriter<W: Write> {
    tar: tar::Builder<W>,
    hash: Hasher,
    owner: Owner,
    written_dirs: std::collections::BTreeSet<String>,
}

impl<W: Write> std::fmt::Debug for LayerWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerWriter").finish_non_exhaustive()
    }
}

fn io_err(context: &str) -> impl Fn(io::Error) -> BuildError + '_ {
    move |e| BuildError::io(context.to_owned(), e)
}

impl<W: Write> LayerWriter<W> {
    /// A writer to `out`.
    pub fn new(out: W, owner: Owner) -> Self {
        Self {
            tar: tar::Builder::new(out),
            hash: Hasher::new(),
            owner,
            written_dirs: Default::default(),
        }
    }

    /// Ends the tar; returns the output and the content checksum's hex.
    pub fn finish(self) -> Result<(W, String), BuildError> {
        let out = self.tar.into_inner().map_err(io_err("writing a layer"))?;
        Ok((out, self.hash.finish().hex().to_owned()))
    }

    /// A writer for a `COPY`/`ADD` of `sources` sources to `dest`, its
    /// parent directories written first as the image has them (and `dest`
    /// itself when it ends with `/`); whether `dest` is a directory.
    /// Several sources need a directory destination, as docker says.
    pub fn for_dest(
        out: W,
        owner: Owner,
        dest: &str,
        sources: usize,
        lower: &[PathBuf],
    ) -> Result<(Self, bool), BuildError> {
        let dest_is_dir = dest.ends_with('/');
        if sources > 1 && !dest_is_dir {
            return Err(BuildError::InvalidArgument(
                "When using COPY with more than one source file, the destination must be a directory and end with a /".into(),
            ));
        }
        let mut w = LayerWriter::new(out, owner);
        w.parents(dest.trim_end_matches('/'), lower)?;
        if dest_is_dir {
            // The destination directory itself, as the image has it.
            w.parents(&format!("{dest}_"), lower)?;
        }
        Ok((w, dest_is_dir))
    }

    /// The parent directories of `path` (absolute), with the metadata the
    /// image's layers (`lower`, top first) have for them; those the image
    /// lacks are created 0755, owned by the copy's owner.
    pub fn parents(&mut self, path: &str, lower: &[PathBuf]) -> Result<(), BuildError> {
        let mut cur = String::new();
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            cur = if cur.is_empty() {
                (*c).to_owned()
            } else {
                format!("{cur}/{c}")
            };
            if self.written_dirs.contains(&cur) {
                continue;
            }
            let found = lower
                .iter()
                .find_map(|l| std::fs::symlink_metadata(l.join(&cur)).ok());
            let mut h = Header::new_gnu();
            h.set_entry_type(EntryType::Directory);
            h.set_size(0);
            h.set_uid(0);
            h.set_gid(0);
            match found {
                Some(md) if md.is_dir() => {
                    h.set_mode(md.mode() & 0o7777);
                    h.set_uid(md.uid().into());
                    h.set_gid(md.gid().into());
                    h.set_mtime(md.mtime().max(0) as u64);
                }
                // A symlink or file there: leave it to the image.
                Some(_) => return Ok(()),
                // Created, as dockerd creates it: owned by `--chown`'s
                // user (root without it).
                None => {
                    h.set_mode(0o755);
                    h.set_uid(self.owner.ids.0.into());
                    h.set_gid(self.owner.ids.1.into());
                    h.set_mtime(0);
                }
            }
            self.tar
                .append_data(&mut h, format!("{cur}/"), io::empty())
                .map_err(io_err("writing a layer"))?;
            self.written_dirs.insert(cur.clone());
        }
        Ok(())
    }

    /// One entry named `name` (absolute) from header `src` and `data`.
    fn entry(
        &mut self,
        name: &str,
        src: &Header,
        link: Option<&Path>,
        data: impl Read,
    ) -> Result<(), BuildError> {
        let name = name.trim_start_matches('/');
        let kind = src.entry_type();
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        let mut mode = src.mode().unwrap_or(0o644) & 0o7777;
        if let Some(m) = self.owner.chmod {
            if kind != EntryType::Symlink {
                mode = m;
            }
        }
        h.set_mode(mode);
        h.set_uid(self.owner.ids.0.into());
        h.set_gid(self.owner.ids.1.into());
        h.set_mtime(src.mtime().unwrap_or(0));
        h.set_size(if kind == EntryType::Regular {
            src.size().unwrap_or(0)
        } else {
            0
        });
        if let (Ok(Some(major)), Ok(Some(minor))) = (src.device_major(), src.device_minor()) {
            let _ = h.set_device_major(major);
            let _ = h.set_device_minor(minor);
        }
        self.hash.update(name.as_bytes());
        self.hash.update(&[0]);
        self.hash
            .update(format!("{:?}:{mode:o}:{:?}", kind, self.owner.ids).as_bytes());
        if kind == EntryType::Directory {
            self.written_dirs
                .insert(name.trim_end_matches('/').to_owned());
        }
        let name = if kind == EntryType::Directory {
            format!("{}/", name.trim_end_matches('/'))
        } else {
            name.to_owned()
        };
        match link {
            Some(target) => {
                self.hash.update(target.as_os_str().as_encoded_bytes());
                self.tar
                    .append_link(&mut h, &name, target)
                    .map_err(io_err("writing a layer"))
            }
            None => {
                let hashing = HashingReader {
                    inner: data,
                    hash: &mut self.hash,
                };
                self.tar
                    .append_data(&mut h, &name, hashing)
                    .map_err(io_err("writing a layer"))
            }
        }
    }

    /// A regular file `dest` with `body`, mode 0644 (or `--chmod`), as
    /// BuildKit writes a heredoc source.
    pub fn add_inline(&mut self, dest: &str, body: &[u8]) -> Result<(), BuildError> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        self.entry(dest, &h, None, body)
    }

    /// Copy context path `src` (host path `path`) as `dest`: a directory's
    /// contents into `dest`, anything else to `dest` itself.
    pub fn add_path(&mut self, path: &Path, dest: &str) -> Result<(), BuildError> {
        let md = std::fs::symlink_metadata(path).map_err(io_err("reading the build context"))?;
        if md.is_dir() {
            let mut h = Header::new_gnu();
            h.set_metadata(&md);
            h.set_entry_type(EntryType::Directory);
            let key = dest.trim_matches('/');
            if key.is_empty() || self.written_dirs.contains(key) {
                // The root, or a directory already written: only its contents.
            } else {
                self.entry(dest, &h, None, io::empty())?;
            }
            let mut names: Vec<_> = std::fs::read_dir(path)
                .map_err(io_err("reading the build context"))?
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for n in names {
                let child = format!("{}/{}", dest.trim_end_matches('/'), n.to_string_lossy());
                self.add_path(&path.join(&n), &child)?;
            }
            return Ok(());
        }
        let mut h = Header::new_gnu();
        h.set_metadata(&md);
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(path).map_err(io_err("reading the build context"))?;
            h.set_entry_type(EntryType::Symlink);
            return self.entry(dest, &h, Some(&target), io::empty());
        }
        if !md.is_file() {
            return Ok(()); // sockets, devices, fifos in a context: skipped
        }
        let file = std::fs::File::open(path).map_err(io_err("reading the build context"))?;
        h.set_entry_type(EntryType::Regular);
        h.set_size(md.len());
        self.entry(dest, &h, None, file.take(md.len()))
    }

    /// Copy the entries of tar `archive` under `dest`: each entry's name
    /// with its first `strip` components removed (the tar of a directory
    /// from a container's archive starts with the directory's name).
    pub fn add_tar(
        &mut self,
        archive: impl Read,
        dest: &str,
        strip: usize,
        single_file: Option<&str>,
    ) -> Result<(), BuildError> {
        let mut archive = tar::Archive::new(archive);
        let entries = archive.entries().map_err(io_err("reading an archive"))?;
        for entry in entries {
            let entry = entry.map_err(io_err("reading an archive"))?;
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            let raw = entry
                .path()
                .map_err(io_err("reading an archive"))?
                .into_owned();
            let rel: Vec<String> = raw
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                    _ => None,
                })
                .skip(strip)
                .collect();
            let name = match single_file {
                Some(target) => target.to_owned(),
                None if rel.is_empty() => continue,
                None => format!("{}/{}", dest.trim_end_matches('/'), rel.join("/")),
            };
            let header = entry.header().clone();
            let link = entry
                .link_name()
                .map_err(io_err("reading an archive"))?
                .map(|l| l.into_owned());
            match kind {
                EntryType::Symlink => self.entry(&name, &header, link.as_deref(), io::empty())?,
                EntryType::Link => {
                    // Hard links: the target's name moves the same way.
                    let Some(target) = link else { continue };
                    let t: Vec<String> = target
                        .components()
                        .filter_map(|c| match c {
                            std::path::Component::Normal(n) => {
                                Some(n.to_string_lossy().into_owned())
                            }
                            _ => None,
                        })
                        .skip(strip)
                        .collect();
                    let t = format!("{}/{}", dest.trim_matches('/'), t.join("/"));
                    self.entry(&name, &header, Some(Path::new(&t)), io::empty())?
                }
                EntryType::Regular
                | EntryType::Continuous
                | EntryType::Directory
                | EntryType::Char
                | EntryType::Block
                | EntryType::Fifo => {
                    let mut h = header;
                    if kind == EntryType::Continuous {
                        h.set_entry_type(EntryType::Regular);
                    }
                    self.entry(&name, &h, None, entry)?
                }
                _ => {}
            }
        }
        Ok(())
    }
}

struct HashingReader<'h, R> {
    inner: R,
    hash: &'h mut Hasher,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Whether the file at `path` is a tar archive (plain, gzip or zstd), as
/// `ADD` extracts them.
pub fn is_archive(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok((_, mut plain)) = skiff_store::compression::decompress(file) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match plain.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got == 512 && (&head[257..262] == b"ustar")
}

/// The destination path of a copy: `dest` (expanded) made absolute
/// against `workdir`, keeping a trailing `/`.
pub fn absolute_dest(dest: &str, workdir: &str) -> String {
    let trailing = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    let joined = if dest.starts_with('/') {
        dest.to_owned()
    } else {
        format!("{}/{dest}", if workdir.is_empty() { "/" } else { workdir })
    };
    let mut cleaned = super::metadata::clean(&joined);
    if trailing && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// `ADD <url>` (or a git address) is refused: remote sources are not
/// fetched by this engine.
pub fn refuse_remote(srcs: &[String], add: bool) -> Result<(), BuildError> {
    match srcs.iter().find(|s| {
        add && (s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@"))
    }) {
        Some(s) => Err(BuildError::InvalidArgument(format!(
            "ADD {s}: remote sources are not fetched by this engine; download the file into the build context and ADD or COPY it"
        ))),
        None => Ok(()),
    }
}

/// Blocking: the layer of `COPY`/`ADD` `srcs` from `ctx`, then the
/// heredoc files `inline` (name, expanded body), to `dest` (absolute);
/// returns the output and the checksum's hex.
#[allow(clippy::too_many_arguments)]
pub fn from_context<W: Write>(
    ctx: &Context,
    srcs: &[String],
    inline: &[(String, String)],
    dest: &str,
    add: bool,
    owner: Owner,
    lower: &[PathBuf],
    out: W,
) -> Result<(W, String), BuildError> {
    refuse_remote(srcs, add)?;
    let mut matched = Vec::new();
    for s in srcs {
        matched.extend(ctx.glob(s)?);
    }
    let count = matched.len() + inline.len();
    let (mut w, dest_is_dir) = LayerWriter::for_dest(out, owner, dest, count, lower)?;
    for rel in matched {
        let path = ctx.resolve(&rel)?;
        let md = std::fs::metadata(&path).map_err(io_err("reading the build context"))?;
        if md.is_dir() {
            w.add_path(&path, dest.trim_end_matches('/'))?;
            continue;
        }
        if add && is_archive(&path) {
            let file = std::fs::File::open(&path).map_err(io_err("reading the build context"))?;
            let (_, plain) =
                skiff_store::compression::decompress(file).map_err(io_err("reading an archive"))?;
            w.add_tar(plain, dest.trim_end_matches('/'), 0, None)?;
            continue;
        }
        let target = if dest_is_dir {
            let base = rel.rsplit('/').next().unwrap_or(&rel);
            format!("{dest}{base}")
        } else {
            dest.to_owned()
        };
        w.add_path(&path, &target)?;
    }
    for (name, body) in inline {
        let target = if dest_is_dir {
            format!("{dest}{name}")
        } else {
            dest.to_owned()
        };
        w.add_inline(&target, body.as_bytes())?;
    }
    w.finish()
}

impl super::BuildService {
    /// `COPY --from=<stage|image>`: each source read from the stage's (or
    /// image's) filesystem through a container's archive (created, never
    /// started, removed after), written under `dest`; the checksum comes
    /// back as dockerd's history names it (`file:…`, `dir:…`, `multi:…`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn copy_from_stage<W: Write + Send + 'static>(
        &self,
        from: &str,
        srcs: &[String],
        dest: &str,
        owner: Owner,
        lower: &[PathBuf],
        built: &[(Option<String>, super::from::Base)],
        auth: &std::collections::BTreeMap<String, skiff_registry::Credentials>,
        progress: &super::Progress,
        out: W,
    ) -> Result<(W, String), BuildError> {
        let base = self.base(from, None, built, false, auth, progress).await?;
        let Some(image) = base.image else {
            return Err(BuildError::InvalidArgument(format!(
                "COPY --from={from}: the stage has no files"
            )));
        };
        let (cid, _) = self
            .containers
            .create(crate::containers::create::CreateRequest {
                name: None,
                config: bollard_stubs::models::ContainerConfig {
                    image: Some(image.to_string()),
                    cmd: Some(vec!["/copy-source".into()]),
                    entrypoint: Some(vec![]),
                    ..Default::default()
                },
                host_config: Default::default(),
                networks: Vec::new(),
            })?;
        let result = self
            .copy_from_container(&cid, srcs, dest, owner, lower, out)
            .await;
        self.remove_container(&cid).await;
        result
    }

    async fn copy_from_container<W: Write + Send + 'static>(
        &self,
        cid: &str,
        srcs: &[String],
        dest: &str,
        owner: Owner,
        lower: &[PathBuf],
        out: W,
    ) -> Result<(W, String), BuildError> {
        let (mut w, dest_is_dir) = LayerWriter::for_dest(out, owner, dest, srcs.len(), lower)?;
        let mut kind = if srcs.len() > 1 { "multi" } else { "file" };
        for src in srcs {
            let (stat, rx) = self.containers.archive_get(cid, src).await?;
            let reader = crate::streams::ChannelReader::from_receiver(rx);
            let is_dir = crate::containers::archive::pathstat::is_dir(stat.mode);
            if is_dir && srcs.len() == 1 {
                kind = "dir";
            }
            let target = if is_dir {
                dest.trim_end_matches('/').to_owned()
            } else if dest_is_dir {
                format!("{dest}{}", stat.name)
            } else {
                dest.to_owned()
            };
            w = tokio::task::spawn_blocking(move || {
                let single = (!is_dir).then_some(target.as_str());
                w.add_tar(reader, &target, 1, single).map(|()| w)
            })
            .await??;
        }
        let (w, sum) = w.finish()?;
        Ok((w, format!("{kind}:{sum}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<(String, u32, u64)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path()
                        .expect("path")
                        .display()
                        .to_string()
                        .trim_end_matches('/')
                        .to_owned(),
                    e.header().mode().expect("mode"),
                    e.header().uid().expect("uid"),
                )
            })
            .collect()
    }

    #[test]
    fn copy_semantics_are_dockers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("a.txt", "a"), ("d/x", "x"), ("d/sub/y", "y")] {
            let mut h = Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_bytes())
                .expect("append");
        }
        let ctx = Context::extract(
            std::io::Cursor::new(b.into_inner().expect("tar")),
            dir.path(),
        )
        .expect("ctx");
        let lower = tempfile::tempdir().expect("lower");
        std::fs::create_dir(lower.path().join("tmp")).expect("tmp");
        std::fs::set_permissions(
            lower.path().join("tmp"),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .expect("chmod");
        let lowers = [lower.path().to_owned()];

        // A file to a file name; owner root; mode kept.
        let (out, sum1) = from_context(
            &ctx,
            &["a.txt".into()],
            &[],
            "/tmp/b.txt",
            false,
            Owner::default(),
            &lowers,
            Vec::new(),
        )
        .expect("copy");
        let n = names(&out);
        assert_eq!(
            n[0],
            ("tmp".to_owned(), 0o1777, 0),
            "parent keeps the image's mode"
        );
        assert_eq!(n[1], ("tmp/b.txt".to_owned(), 0o600, 0));
        // A directory's contents into the destination, with --chown/--chmod.
        let owner = Owner {
            ids: (1000, 1000),
            chmod: Some(0o755),
        };
        let (out, sum2) = from_context(
            &ctx,
            &["d".into()],
            &[],
            "/app/",
            false,
            owner,
            &lowers,
            Vec::new(),
        )
        .expect("copy dir");
        let n: Vec<String> = names(&out).into_iter().map(|e| e.0).collect();
        assert_eq!(n, ["app", "app/sub", "app/sub/y", "app/x"]);
        assert!(
            names(&out)
                .iter()
                .skip(1)
                .all(|e| e.2 == 1000 && e.1 == 0o755)
        );
        assert_ne!(sum1, sum2);
        // Several sources need a directory destination.
        assert!(
            from_context(
                &ctx,
                &["a.txt".into(), "d".into()],
                &[],
                "/x",
                false,
                Owner::default(),
                &lowers,
                Vec::new()
            )
            .is_err()
        );
        // ADD of a URL is refused.
        assert!(
            from_context(
                &ctx,
                &["https://example.com/x".into()],
                &[],
                "/x",
                true,
                Owner::default(),
                &lowers,
                Vec::new()
            )
            .is_err()
        );
        // The same content: the same checksum.
        let (_, again) = from_context(
            &ctx,
            &["a.txt".into()],
            &[],
            "/tmp/b.txt",
            false,
            Owner::default(),
            &lowers,
            Vec::new(),
        )
        .expect("copy");
        assert_eq!(sum1, again);
        // Heredoc files after the context's, named for their delimiter.
        let inline = [("EOF".to_owned(), "hi\n".to_owned())];
        let (out, _) = from_context(
            &ctx,
            &["a.txt".into()],
            &inline,
            "/etc/",
            false,
            Owner::default(),
            &lowers,
            Vec::new(),
        )
        .expect("copy heredoc");
        let n = names(&out);
        assert_eq!(n[n.len() - 1], ("etc/EOF".to_owned(), 0o644, 0));
        assert_eq!(n[n.len() - 2].0, "etc/a.txt");
    }

    #[test]
    fn destinations_are_relative_to_workdir() {
        assert_eq!(absolute_dest("x", "/w"), "/w/x");
        assert_eq!(absolute_dest(".", "/w"), "/w/");
        assert_eq!(absolute_dest("sub/", "/w"), "/w/sub/");
        assert_eq!(absolute_dest("/abs", "/w"), "/abs");
        assert_eq!(absolute_dest("x", ""), "/x");
    }
}
