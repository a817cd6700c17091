//! The build context: the request body (a tar, plain, gzip or zstd
//! compressed) extracted into the build's scratch directory, the
//! Dockerfile read from it, and sources resolved inside it.
//!
//! `.dockerignore` is applied by the client (the CLI leaves ignored files
//! out of the tar), so the engine does not read it. The extraction is
//! `tar`'s `unpack`, which refuses entries that would land outside the
//! directory (`..`, absolute names, through symlinks); every source a
//! `COPY` names is resolved and then checked, after following symlinks, to
//! be inside the context ([`Context::resolve`]).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::BuildError;

/// An extracted build context.
#[derive(Debug)]
pub struct Context {
    /// Its root directory (canonical).
    pub root: PathBuf,
}

impl Context {
    /// Blocking: extract `body` into `dir` (which must exist).
    pub fn extract(body: impl Read, dir: &Path) -> Result<Self, BuildError> {
        let mut buffered = BufReader::with_capacity(256 * 1024, body);
        let head = buffered
            .fill_buf()
            .map_err(|e| BuildError::io("reading the build context", e))?;
        if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            return Err(BuildError::InvalidArgument(
                "the build context is bzip2 or xz compressed: this engine reads plain, gzip and zstd tars".into(),
            ));
        }
        let (_, plain) = skiff_store::compression::decompress(buffered)
            .map_err(|e| BuildError::io("reading the build context", e))?;
        let mut archive = tar::Archive::new(Terminated {
            inner: plain,
            count: 0,
            tail: None,
        });
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        archive.set_unpack_xattrs(false);
        archive
            .unpack(dir)
            .map_err(|e| BuildError::io("extracting the build context", e))?;
        let root = dir
            .canonicalize()
            .map_err(|e| BuildError::io("opening the build context", e))?;
        Ok(Self { root })
    }

    /// The Dockerfile at `name` (default `Dockerfile`, then `dockerfile`).
    pub fn dockerfile(&self, name: Option<&str>) -> Result<String, BuildError> {
        let candidates: Vec<&str> = match name.filter(|n| !n.is_empty()) {
            Some(n) => vec![n],
            None => vec!["Dockerfile", "dockerfile"],
        };
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
                BuildError::Io { .. } => BuildError::InvalidArgument(format!(
                    "COPY failed: file not found in build context or excluded by .dockerignore: stat {rel}: file does not exist"
                )),
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
            return Err(BuildError::InvalidArgument(format!(
                "COPY failed: no source files were specified (pattern {rel} matched nothing)"
            )));
        }
        out.sort();
        Ok(out)
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
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_bytes())
                .expect("append");
        }
        let bytes = b.into_inner().expect("tar");
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = Context::extract(&bytes[..], dir.path()).expect("extract");
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
        let ctx = Context::extract(&bytes[..], dir.path()).expect("extract");
        assert_eq!(
            std::fs::read_to_string(ctx.root.join(".dockerignore")).expect("read"),
            ".dockerignore\n"
        );
    }
}
