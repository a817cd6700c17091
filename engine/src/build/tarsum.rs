//! Checksums of the build context's entries, computed while the context is
//! extracted (as dockerd's legacy builder computes its tarsums), so that a
//! `COPY`/`ADD` from the context knows its cache key without reading or
//! copying its sources: a fully cached rebuild never touches the files
//! again.
//!
//! An entry's sum covers what a copy of it carries into a layer: its type,
//! permission bits, size, link target and content — not its owner (a copy
//! is owned by root or `--chown`) and not its times (as dockerd's tarsum,
//! so touching a file does not invalidate the cache).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::rc::Rc;

use skiff_oci::{Digest, Hasher};
use tar::Header;

/// The hasher a [`Tee`] feeds, armed around one entry's data.
pub type Slot = Rc<RefCell<Option<Hasher>>>;

/// A reader that feeds the bytes it passes into the hasher in its slot
/// (when one is armed): the archive reader wraps it, and the hasher is
/// armed exactly while an entry's data is read.
pub struct Tee<R> {
    inner: R,
    slot: Slot,
}

impl<R> Tee<R> {
    /// Wrap `inner`; arm `slot` to hash what is read.
    pub fn new(inner: R, slot: Slot) -> Self {
        Self { inner, slot }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.slot.borrow_mut().as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// The sums of a context's entries, by cleaned relative path.
#[derive(Debug, Clone, Default)]
pub struct Sums {
    entries: BTreeMap<String, String>,
    links: usize,
}

/// `path` as a context-relative name: its normal components joined by `/`
/// (`./a/b/` → `a/b`).
pub fn clean(path: &std::path::Path) -> String {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Sums {
    /// Record entry `path` (relative) with header `h`, link target `link`
    /// and the digest of its data (regular files). A later entry of the
    /// same name replaces an earlier one, as extraction does.
    pub fn record(&mut self, path: String, h: &Header, link: Option<&[u8]>, data: Option<Digest>) {
        if h.entry_type() == tar::EntryType::Symlink {
            self.links += 1;
        }
        let mut hash = Hasher::new();
        hash.update(
            format!(
                "{:?}:{:o}:{}:",
                h.entry_type(),
                h.mode().unwrap_or(0) & 0o7777,
                h.size().unwrap_or(0)
            )
            .as_bytes(),
        );
        if let Some(l) = link {
            hash.update(l);
        }
        hash.update(b"\0");
        if let Some(d) = data {
            hash.update(d.hex().as_bytes());
        }
        self.entries.insert(path, hash.finish().hex().to_owned());
    }

    /// Forget entry `path` (taken out of the context).
    pub fn remove(&mut self, path: &str) {
        self.entries.remove(path);
    }

    /// Whether the context has symbolic links (then paths are resolved on
    /// the extracted files, not on these names).
    pub fn has_links(&self) -> bool {
        self.links > 0
    }

    /// Every name in the context: the entries' and their parents'.
    pub fn names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for p in self.entries.keys() {
            let mut cur = p.as_str();
            while out.insert(cur.to_owned()) {
                match cur.rsplit_once('/') {
                    Some((parent, _)) => cur = parent,
                    None => break,
                }
            }
        }
        out
    }

    /// The checksum of copying the context paths `sources` (each a pair of
    /// its name as matched and the name it resolves to, symlinks followed;
    /// `""` is the whole context), every entry at or under them, with
    /// `extra` (what else decides the result: owner, mode, `ADD`).
    pub fn of_sources(&self, sources: &[(String, String)], extra: &str) -> String {
        let mut hash = Hasher::new();
        hash.update(extra.as_bytes());
        for (matched, real) in sources {
            hash.update(b"\0source\0");
            hash.update(matched.as_bytes());
            for root in [matched, real] {
                hash.update(b"\0");
                for (path, sum) in self.under(root) {
                    hash.update(path.as_bytes());
                    hash.update(b"=");
                    hash.update(sum.as_bytes());
                    hash.update(b"\n");
                }
            }
        }
        hash.finish().hex().to_owned()
    }

    /// The entries at or under `root`.
    fn under<'a>(&'a self, root: &'a str) -> impl Iterator<Item = (&'a String, &'a String)> + 'a {
        self.entries
            .range::<str, _>((std::ops::Bound::Included(root), std::ops::Bound::Unbounded))
            // Names that sort between `root` and `root/…` (`root-x`,
            // `root.x`) share its prefix: walk past them, keep only `root`
            // and what is under it.
            .take_while(move |(p, _)| {
                root.is_empty()
                    || (p.starts_with(root)
                        && p.as_bytes().get(root.len()).is_none_or(|b| *b <= b'/'))
            })
            .filter(move |(p, _)| {
                root.is_empty()
                    || p.len() == root.len()
                    || p.as_bytes().get(root.len()) == Some(&b'/')
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(mode: u32, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_mode(mode);
        h.set_size(size);
        h
    }

    #[test]
    fn sums_follow_content_and_mode_but_not_time() {
        let mut a = Sums::default();
        let mut h = header(0o644, 1);
        a.record("d/f".into(), &h, None, Some(Digest::of(b"x")));
        let before = a.of_sources(&[("d".into(), "d".into())], "");
        h.set_mtime(12345);
        a.record("d/f".into(), &h, None, Some(Digest::of(b"x")));
        assert_eq!(before, a.of_sources(&[("d".into(), "d".into())], ""));
        a.record("d/f".into(), &h, None, Some(Digest::of(b"y")));
        assert_ne!(before, a.of_sources(&[("d".into(), "d".into())], ""));
        let mut b = Sums::default();
        b.record(
            "d/f".into(),
            &header(0o755, 1),
            None,
            Some(Digest::of(b"x")),
        );
        assert_ne!(before, b.of_sources(&[("d".into(), "d".into())], ""));
        assert_ne!(
            before,
            a.of_sources(&[("d".into(), "d".into())], "chown 1:1")
        );
    }

    #[test]
    fn sources_cover_what_is_under_them_only() {
        let mut s = Sums::default();
        let h = header(0o644, 1);
        for p in ["a", "a-b", "a.c", "a/x", "a/y/z", "ab", "b"] {
            s.record(p.into(), &h, None, Some(Digest::of(p.as_bytes())));
        }
        let under: Vec<&str> = s.under("a").map(|(p, _)| p.as_str()).collect();
        assert_eq!(under, ["a", "a/x", "a/y/z"]);
        assert_eq!(s.under("").count(), 7);
        assert_eq!(s.under("nope").count(), 0);
        let a = s.of_sources(&[("a".into(), "a".into())], "");
        s.record("b".into(), &h, None, Some(Digest::of(b"changed")));
        assert_eq!(a, s.of_sources(&[("a".into(), "a".into())], ""));
        s.record("a/y/z".into(), &h, None, Some(Digest::of(b"changed")));
        assert_ne!(a, s.of_sources(&[("a".into(), "a".into())], ""));
    }
}
