//! The build context: the request body (a tar, plain or compressed with
//! gzip, bzip2, xz or zstd, as dockerd accepts them) extracted into the
//! build's scratch directory with each entry's checksum
//! ([`super::tarsum`]), the Dockerfile read from it, and sources resolved
//! inside it.
//!
//! `.dockerignore` is applied by the client (the CLI leaves ignored files
//! out of the tar), so the engine does not read it. The extraction is
//! `tar`'s `unpack_in`, which refuses entries that would land outside the
//! directory (`..`, absolute names, through symlinks); every source a
//! `COPY` names is resolved and then checked, after following symlinks, to
//! be inside the context ([`Context::resolve`]).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use std::sync::Mutex;

use skiff_oci::Hasher;

use super::error::BuildError;
use super::spool::{self, Spool, SpoolWriter, Spooling};
use super::tarsum::{self, Slot, Sums, Tee};

/// A received build context: its entries' checksums and Dockerfile at
/// once, its files extracted when a step first needs them.
#[derive(Debug)]
pub struct Context {
    /// Its root directory (canonical; empty until [`Context::materialize`]).
    pub root: PathBuf,
    /// Its entries' checksums, computed while it was received.
    pub sums: Sums,
    /// The Dockerfile candidates found while receiving: (name, text).
    dockerfiles: Vec<(String, String)>,
    /// The tar, until it is extracted.
    spool: Mutex<Option<Spool>>,
    /// Names left out of the context ([`Context::drop_ignored_build_files`]).
    excluded: Vec<String>,
}

/// The ignore file the CLI sends along.
const DOCKERIGNORE: &str = ".dockerignore";

/// The Dockerfile names to look for: `name`, or `Dockerfile` then
/// `dockerfile`.
fn dockerfile_candidates(name: Option<&str>) -> Vec<&str> {
    match name.filter(|n| !n.is_empty()) {
        Some(n) => vec![n],
        None => vec!["Dockerfile", "dockerfile"],
    }
}

/// The largest Dockerfile kept while receiving (a larger one is read from
/// the extracted context).
const DOCKERFILE_LIMIT: u64 = 4 * 1024 * 1024;

impl Context {
    /// Blocking: receive `body` (a tar: plain, gzip, bzip2, xz or zstd)
    /// for a context rooted at `dir` (which must exist): each entry's
    /// checksum ([`Sums`]) and the Dockerfile (`dockerfile`, as
    /// [`Context::dockerfile`] names it) are taken on the way; the tar is
    /// kept ([`super::spool`], spilling to a file in `scratch`) until
    /// [`Context::materialize`] extracts it.
    pub fn receive(
        body: impl Read + Send + 'static,
        dir: &Path,
        scratch: &Path,
        dockerfile: Option<&str>,
    ) -> Result<Self, BuildError> {
        let root = dir
            .canonicalize()
            .map_err(|e| BuildError::io("opening the build context", e))?;
        let wanted: Vec<String> = dockerfile_candidates(dockerfile)
            .into_iter()
            .chain([DOCKERIGNORE])
            .map(|c| tarsum::clean(Path::new(c)))
            .collect();
        let fail = BuildError::context;
        let slot: Slot = Default::default();
        let mut archive = tar::Archive::new(Tee::new(
            Spooling::new(
                Terminated::new(decompressed(body)?),
                SpoolWriter::new(scratch.to_owned(), spool::MEMORY_LIMIT),
            ),
            slot.clone(),
        ));
        let mut sums = Sums::default();
        let mut dockerfiles = Vec::new();
        for entry in archive.entries().map_err(fail)? {
            let mut entry = entry.map_err(fail)?;
            let kind = entry.header().entry_type();
            let name = tarsum::clean(&entry.path().map_err(fail)?);
            let link = entry.link_name_bytes().map(|l| l.into_owned());
            let regular = kind.is_file() || kind == tar::EntryType::Continuous;
            let mut data = None;
            if regular {
                *slot.borrow_mut() = Some(Hasher::new());
                let size = entry.header().size().unwrap_or(0);
                if size <= DOCKERFILE_LIMIT && wanted.contains(&name) {
                    let mut text = String::new();
                    if entry.read_to_string(&mut text).is_ok() {
                        dockerfiles.push((name.clone(), text));
                    }
                }
                std::io::copy(&mut entry, &mut std::io::sink()).map_err(fail)?;
                data = slot.borrow_mut().take().map(Hasher::finish);
            }
            if !name.is_empty() && !kind.is_pax_global_extensions() {
                sums.record(name, entry.header(), link.as_deref(), data);
            }
        }
        let spool = archive
            .into_inner()
            .into_inner()
            .spool
            .finish()
            .map_err(fail)?;
        Ok(Self {
            root,
            sums,
            dockerfiles,
            spool: Mutex::new(Some(spool)),
            excluded: Vec::new(),
        })
    }

    /// Blocking: [`Context::receive`] then [`Context::materialize`].
    pub fn extract(body: impl Read + Send + 'static, dir: &Path) -> Result<Self, BuildError> {
        let ctx = Self::receive(body, dir, dir, None)?;
        ctx.materialize()?;
        Ok(ctx)
    }

    /// Blocking: extract the context's files into its root, once (later
    /// calls return at once).
    pub fn materialize(&self) -> Result<(), BuildError> {
        let mut spool = self.spool.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tar) = spool.take() else {
            return Ok(());
        };
        let fail = |e| BuildError::io("extracting the build context", e);
        let mut archive = tar::Archive::new(Terminated::new(tar.reader()));
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        archive.set_unpack_xattrs(false);
        archive.unpack(&self.root).map_err(fail)?;
        for name in &self.excluded {
            match std::fs::remove_file(self.root.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// As dockerd: the CLI always sends the Dockerfile (`dockerfile`) and
    /// `.dockerignore`, and when `.dockerignore` excludes them they are
    /// taken out of the context once the Dockerfile is read, so `COPY .`
    /// does not copy them.
    pub fn drop_ignored_build_files(&mut self, dockerfile: Option<&str>) {
        let Some((_, rules)) = self.dockerfiles.iter().find(|(n, _)| n == DOCKERIGNORE) else {
            return;
        };
        let mut names: Vec<String> = dockerfile_candidates(dockerfile)
            .into_iter()
            .map(|c| tarsum::clean(Path::new(c)))
            .filter(|n| self.dockerfiles.iter().any(|(d, _)| d == n))
            .take(1)
            .collect();
        names.push(DOCKERIGNORE.into());
        for name in names {
            if ignored(rules, &name) {
                self.sums.remove(&name);
                self.excluded.push(name);
            }
        }
    }

    /// The checksum of a copy of context paths `srcs` (as `COPY`/`ADD`
    /// name them: paths or globs), with `extra` (what else decides the
    /// copy's result), from the entries' sums: no file is read. Paths are
    /// matched on the entries' names, or, in a context with symbolic
    /// links, on the extracted files. As dockerd's history names it:
    /// `file:<hex>`, `dir:<hex>` (one directory) or `multi:<hex>`.
    pub fn checksum(&self, srcs: &[String], extra: &str) -> Result<String, BuildError> {
        let mut sources = Vec::new();
        let sum = if !self.sums.has_links() {
            let names = self.sums.names();
            for s in srcs {
                for rel in self.glob_names(s, &names)? {
                    sources.push((rel.clone(), rel));
                }
            }
            let dir = match sources.as_slice() {
                [(rel, _)] => {
                    rel.is_empty()
                        || names
                            .range(format!("{rel}/")..)
                            .next()
                            .is_some_and(|n| n.starts_with(&format!("{rel}/")))
                }
                _ => false,
            };
            (self.sums.of_sources(&sources, extra), dir)
        } else {
            self.materialize()?;
            self.checksum_on_files(srcs, extra, &mut sources)?
        };
        let kind = match (sources.len(), sum.1) {
            (1, true) => "dir",
            (1, false) => "file",
            _ => "multi",
        };
        Ok(format!("{kind}:{}", sum.0))
    }

    /// [`Context::checksum`] on the extracted files (symbolic links
    /// followed); also whether a single source is a directory.
    fn checksum_on_files(
        &self,
        srcs: &[String],
        extra: &str,
        sources: &mut Vec<(String, String)>,
    ) -> Result<(String, bool), BuildError> {
        for s in srcs {
            for rel in self.glob(s)? {
                let real = self
                    .resolve(&rel)?
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.strip_prefix(&self.root).ok().map(tarsum::clean))
                    .unwrap_or_default();
                sources.push((rel, real));
            }
        }
        let dir = match sources.as_slice() {
            [(rel, _)] => self.resolve(rel)?.is_dir(),
            _ => false,
        };
        Ok((self.sums.of_sources(sources, extra), dir))
    }

    /// As [`Context::glob`], on the entries' `names` (a context without
    /// symbolic links).
    fn glob_names(
        &self,
        pattern: &str,
        names: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>, BuildError> {
        let rel = self.resolve_lexically(pattern)?;
        if rel.is_empty() {
            return Ok(vec![String::new()]);
        }
        if !rel.contains(['*', '?', '[']) {
            return match names.contains(&rel) {
                true => Ok(vec![rel]),
                false => Err(not_found(&rel)),
            };
        }
        let pat = glob::Pattern::new(&rel)
            .map_err(|e| BuildError::InvalidArgument(format!("invalid pattern {rel}: {e}")))?;
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let out: Vec<String> = names
            .iter()
            .filter(|n| pat.matches_with(n, options))
            .cloned()
            .collect();
        if out.is_empty() {
            return Err(no_match(&rel));
        }
        Ok(out)
    }

    /// The Dockerfile at `name` (default `Dockerfile`, then `dockerfile`):
    /// as received, or read from the extracted context (a symbolic link).
    pub fn dockerfile(&self, name: Option<&str>) -> Result<String, BuildError> {
        let candidates = dockerfile_candidates(name);
        for c in &candidates {
            let clean = tarsum::clean(Path::new(c));
            if let Some((_, text)) = self.dockerfiles.iter().rev().find(|(n, _)| *n == clean) {
                return Ok(text.clone());
            }
        }
        self.materialize()?;
        for c in &candidates {
            if let Ok(path) = self.resolve(c) {
                if path.is_file() {
                    return std::fs::read_to_string(&path)
                        .map_err(|e| BuildError::io(format!("reading {c}"), e));
                }
            }
        }
        Err(BuildError::InvalidArgument(format!(
            "Cannot locate specified Dockerfile: {}",
            candidates[0]
        )))
    }

    /// The host path of context path `rel`, refused when it resolves
    /// (symlinks followed) outside the context.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, BuildError> {
        let outside = || {
            BuildError::InvalidArgument(format!(
                "forbidden path outside the build context: {rel} ()"
            ))
        };
        let candidate = self.root.join(self.resolve_lexically(rel)?);
        match candidate.canonicalize() {
            Ok(real) if real.starts_with(&self.root) => Ok(candidate),
            Ok(_) => Err(outside()),
            Err(e) => Err(BuildError::io(
                format!("{rel}: no such file or directory"),
                e,
            )),
        }
    }

    /// `rel` cleaned, refused when it climbs above the root.
    fn resolve_lexically(&self, rel: &str) -> Result<String, BuildError> {
        let mut parts: Vec<&str> = Vec::new();
        for c in rel.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(BuildError::InvalidArgument(format!(
                            "forbidden path outside the build context: {rel} ()"
                        )));
                    }
                }
                c => parts.push(c),
            }
        }
        Ok(parts.join("/"))
    }

    /// The context paths matching `pattern` (a path or a glob), relative
    /// to the root, sorted; an error if nothing matches.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>, BuildError> {
        let resolved = self.resolve_lexically(pattern)?;
        let rel = resolved.as_str();
        if rel.is_empty() {
            return Ok(vec![String::new()]);
        }
        if !rel.contains(['*', '?', '[']) {
            self.resolve(rel).map_err(|e| match e {
                BuildError::Io { .. } => not_found(rel),
                other => other,
            })?;
            return Ok(vec![rel.to_owned()]);
        }
        let full = format!(
            "{}/{rel}",
            glob::Pattern::escape(&self.root.to_string_lossy())
        );
        let mut out = Vec::new();
        for entry in glob::glob(&full)
            .map_err(|e| BuildError::InvalidArgument(format!("invalid pattern {rel}: {e}")))?
        {
            let path = entry.map_err(|e| BuildError::io("listing the build context", e.into()))?;
            if let Ok(r) = path.strip_prefix(&self.root) {
                let r = r.to_string_lossy().into_owned();
                self.resolve(&r)?;
                out.push(r);
            }
        }
        if out.is_empty() {
            return Err(no_match(rel));
        }
        out.sort();
        Ok(out)
    }
}

/// Whether `.dockerignore` `rules` exclude context path `name`: the last
/// matching pattern decides, `!` patterns re-include, a pattern matching a
/// parent directory matches what is under it. Public for the fuzz
/// target (`fuzz/fuzz_targets/build_context.rs`).
pub fn ignored(rules: &str, name: &str) -> bool {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let mut hit = false;
    for line in rules.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keep, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p.trim()),
            None => (false, line),
        };
        let pattern = tarsum::clean(Path::new(pattern));
        let Ok(p) = glob::Pattern::new(&pattern) else {
            continue;
        };
        let mut prefixes = name.match_indices('/').map(|(i, _)| &name[..i]);
        if p.matches_with(name, options) || prefixes.any(|d| p.matches_with(d, options)) {
            hit = !keep;
        }
    }
    hit
}

/// A source that is not in the context, in docker's words.
fn not_found(rel: &str) -> BuildError {
    BuildError::InvalidArgument(format!(
        "COPY failed: file not found in build context or excluded by .dockerignore: stat {rel}: file does not exist"
    ))
}

/// A pattern that matches nothing in the context.
fn no_match(rel: &str) -> BuildError {
    BuildError::InvalidArgument(format!(
        "COPY failed: no source files were specified (pattern {rel} matched nothing)"
    ))
}

/// `body` decompressed as its magic bytes say: bzip2 and xz here (with
/// the `bzip2` and `lzma-rs` crates), gzip, zstd and plain tars by the
/// store's layer decompression.
fn decompressed(body: impl Read + Send + 'static) -> Result<Box<dyn Read>, BuildError> {
    let fail = BuildError::context;
    let mut buffered = BufReader::with_capacity(256 * 1024, body);
    let head = buffered.fill_buf().map_err(fail)?;
    if head.starts_with(b"BZh") {
        return Ok(Box::new(bzip2::bufread::MultiBzDecoder::new(buffered)));
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok(Box::new(XzReader::spawn(buffered).map_err(fail)?));
    }
    let (_, plain) = skiff_store::compression::decompress(buffered).map_err(fail)?;
    Ok(plain)
}

/// An xz stream decoded by `lzma-rs` (which writes its output) on a thread
/// of its own into a pipe this reads; the decoder's error, if any, is the
/// read error at the end, so a corrupt or truncated stream never looks
/// like a complete one.
struct XzReader {
    pipe: std::fs::File,
    decoder: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl XzReader {
    fn spawn(mut input: impl BufRead + Send + 'static) -> std::io::Result<Self> {
        let (pipe, out) = nix::unistd::pipe().map_err(std::io::Error::from)?;
        let (pipe, mut out) = (std::fs::File::from(pipe), std::fs::File::from(out));
        let decoder = std::thread::Builder::new()
            .name("build-xz".into())
            .spawn(move || {
                lzma_rs::xz_decompress(&mut input, &mut out).map_err(|e| match e {
                    lzma_rs::error::Error::IoError(e) => e,
                    other => {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("xz: {other}"))
                    }
                })
            })?;
        Ok(Self {
            pipe,
            decoder: Some(decoder),
        })
    }
}

impl Read for XzReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(decoder) = self.decoder.take() {
                decoder
                    .join()
                    .map_err(|_| std::io::Error::other("the xz decoder panicked"))??;
            }
        }
        Ok(n)
    }
}

/// A tar stream completed at its end: the docker CLI sends a context whose
/// last entry (`.dockerignore` after `-f -`) lacks its padding and the
/// end-of-archive blocks, which Go's reader takes as a clean end; this
/// adds them (zeros to the block boundary, then two zero blocks).
struct Terminated<R> {
    inner: R,
    count: u64,
    tail: Option<u64>,
}

impl<R> Terminated<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            count: 0,
            tail: None,
        }
    }
}

impl<R: Read> Read for Terminated<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.tail.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 {
                self.count += n as u64;
                return Ok(n);
            }
            let pad = (512 - self.count % 512) % 512;
            self.tail = Some(pad + 1024);
        }
        let left = self.tail.unwrap_or(0);
        let n = (left.min(buf.len() as u64)) as usize;
        buf[..n].fill(0);
        self.tail = Some(left - n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Context) {
        let bytes = tar_of(files);
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Context::extract(std::io::Cursor::new(bytes), dir.path()).expect("extract");
        (dir, ctx)
    }

    #[test]
    fn dockerfile_sources_and_globs_stay_inside() {
        let (_d, ctx) = context_with(&[
            ("Dockerfile", "FROM busybox\n"),
            ("src/a.txt", "a"),
            ("src/b.txt", "b"),
            ("src/c.md", "c"),
        ]);
        assert_eq!(ctx.dockerfile(None).expect("df"), "FROM busybox\n");
        assert!(ctx.dockerfile(Some("Nope")).is_err());
        assert_eq!(
            ctx.glob("src/*.txt").expect("glob"),
            vec!["src/a.txt".to_owned(), "src/b.txt".to_owned()]
        );
        assert_eq!(
            ctx.glob("src/../src/c.md").expect("path"),
            vec!["src/c.md".to_owned()]
        );
        assert!(ctx.glob("nope*").is_err());
        std::os::unix::fs::symlink("/etc", ctx.root.join("escape")).expect("symlink");
        assert!(ctx.resolve("escape/passwd").is_err());
        assert!(ctx.glob("../../src/a.txt").is_err());
    }

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_bytes())
                .expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn bzip2_and_xz_contexts_extract_and_a_truncated_one_fails() {
        let plain = tar_of(&[("Dockerfile", "FROM busybox\n"), ("a/b", "bee")]);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut bz, &plain).expect("bzip2");
        let bz = bz.finish().expect("bzip2");
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &plain[..], &mut xz).expect("xz");
        for packed in [bz.clone(), xz.clone()] {
            let dir = tempfile::tempdir().expect("tempdir");
            let ctx = Context::extract(std::io::Cursor::new(packed), dir.path()).expect("extract");
            assert_eq!(ctx.dockerfile(None).expect("df"), "FROM busybox\n");
            assert_eq!(
                std::fs::read_to_string(ctx.root.join("a/b")).expect("read"),
                "bee"
            );
        }
        for mut packed in [bz, xz] {
            packed.truncate(packed.len() / 2);
            let dir = tempfile::tempdir().expect("tempdir");
            assert!(Context::extract(std::io::Cursor::new(packed), dir.path()).is_err());
        }
    }

    #[test]
    fn checksums_come_from_the_extraction() {
        let one = tar_of(&[("d/x", "1"), ("d/y", "2"), ("other", "o")]);
        let two = tar_of(&[("d/x", "1"), ("d/y", "changed"), ("other", "o")]);
        let three = tar_of(&[("d/x", "1"), ("d/y", "2"), ("other", "changed")]);
        let sum = |bytes: Vec<u8>, src: &str| {
            let dir = tempfile::tempdir().expect("tempdir");
            let ctx = Context::extract(std::io::Cursor::new(bytes), dir.path()).expect("extract");
            ctx.checksum(&[src.to_owned()], "").expect("checksum")
        };
        let d = sum(one.clone(), "d");
        assert_ne!(d, sum(two.clone(), "d"), "content under d changed");
        assert_eq!(d, sum(three.clone(), "d"), "only other changed");
        assert_ne!(sum(one.clone(), "."), sum(three, "."));
        assert_eq!(sum(one.clone(), "d/*"), sum(one.clone(), "d/*"));
        assert_ne!(sum(one, "d/*"), sum(two, "d/*"));
    }

    #[test]
    fn a_received_context_is_extracted_only_when_asked() {
        let bytes = tar_of(&[("Dockerfile", "FROM x\n"), ("d/a", "1"), ("d/b.txt", "2")]);
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Context::receive(
            std::io::Cursor::new(bytes.clone()),
            dir.path(),
            dir.path(),
            None,
        )
        .expect("receive");
        assert_eq!(ctx.dockerfile(None).expect("df"), "FROM x\n");
        let lazy = ctx
            .checksum(&["d/*.txt".into(), "d".into()], "")
            .expect("sum");
        assert!(std::fs::read_dir(&ctx.root).expect("ls").next().is_none());
        assert!(ctx.checksum(&["nope".into()], "").is_err());
        assert!(ctx.checksum(&["d/*.md".into()], "").is_err());
        ctx.materialize().expect("materialize");
        assert_eq!(
            std::fs::read_to_string(ctx.root.join("d/a")).expect("read"),
            "1"
        );
        // The same sum as from the files (a context with a symbolic link
        // is matched on them).
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("d/a", "1"), ("d/b.txt", "2")] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_bytes())
                .expect("append");
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_cksum();
        b.append_link(&mut h, "link", "d").expect("link");
        let dir2 = tempfile::tempdir().expect("tempdir");
        let linked = Context::receive(
            std::io::Cursor::new(b.into_inner().expect("tar")),
            dir2.path(),
            dir2.path(),
            None,
        )
        .expect("receive");
        assert_eq!(
            linked
                .checksum(&["d/*.txt".into(), "d".into()], "")
                .expect("sum"),
            lazy
        );
        assert!(
            linked.root.join("link/a").exists(),
            "extracted to follow links"
        );
        assert_ne!(
            linked.checksum(&["link/a".into()], "").expect("sum"),
            linked.checksum(&["d/a".into()], "").expect("sum")
        );
    }

    #[test]
    fn dockerignore_rules_decide_the_build_files() {
        assert!(ignored("Dockerfile\n", "Dockerfile"));
        assert!(ignored("*\n!src\n", ".dockerignore"));
        assert!(!ignored("*\n!Dockerfile\n", "Dockerfile"));
        assert!(ignored("docs/\n", "docs/a.md"));
        assert!(!ignored("# Dockerfile\nsrc\n", "Dockerfile"));
        let bytes = tar_of(&[
            ("Dockerfile", "FROM x\n"),
            (".dockerignore", "Dockerfile\n.dockerignore\n"),
            ("a", "1"),
        ]);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ctx = Context::receive(std::io::Cursor::new(bytes), dir.path(), dir.path(), None)
            .expect("receive");
        assert_eq!(ctx.dockerfile(None).expect("df"), "FROM x\n");
        let before = ctx.checksum(&[".".into()], "").expect("sum");
        ctx.drop_ignored_build_files(None);
        assert_ne!(before, ctx.checksum(&[".".into()], "").expect("sum"));
        assert!(ctx.checksum(&["Dockerfile".into()], "").is_err());
        ctx.materialize().expect("materialize");
        assert!(!ctx.root.join("Dockerfile").exists());
        assert!(!ctx.root.join(".dockerignore").exists());
        assert!(ctx.root.join("a").exists());
    }

    #[test]
    fn a_context_without_its_end_blocks_extracts() {
        // As the CLI sends it with `-f -`: the last entry unpadded, no end.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(14);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, ".dockerignore", &b".dockerignore\n"[..])
            .expect("append");
        let mut bytes = b.into_inner().expect("tar");
        bytes.truncate(512 + 14);
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Context::extract(std::io::Cursor::new(bytes), dir.path()).expect("extract");
        assert_eq!(
            std::fs::read_to_string(ctx.root.join(".dockerignore")).expect("read"),
            ".dockerignore\n"
        );
    }
}
