//! Writing a tar of part of a container's filesystem (`docker cp` out of a
//! container, `docker export`), in a container [`view`](super::view).
//!
//! The walk is descriptor-based so the archive is self-consistent even while
//! the container changes the tree: a directory's children are listed and
//! opened through the very descriptor whose `fstat` gave the directory's
//! header, each file's header comes from `fstat` of the descriptor its
//! content is read from (`O_NOFOLLOW`), and an entry that changes kind
//! between the listing and the open is left out. So an archive never holds
//! a symlink *and* entries below it (the producer half of CVE-2026-17106).
//! Special files are never opened; sockets are skipped, as docker skips
//! them; hard links within the archive become link entries; names are
//! sorted as Go's `filepath.WalkDir` sorts them. Entry names and link
//! targets of any length are written with GNU long-name records, and may be
//! absolute (docker names the entries of a copy of `/` `/bin/…`).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use tar::{EntryType, Header};

/// Length of the name and link fields of a tar header.
const NAME_FIELD: usize = 100;

/// A tar writer over a container view.
pub struct Tarball<W: Write> {
    builder: tar::Builder<W>,
    /// (dev, ino) of files with several links → the name first written.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> std::fmt::Debug for Tarball<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tarball").finish_non_exhaustive()
    }
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

fn open_dir_at(parent: impl AsFd, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

impl<W: Write> Tarball<W> {
    /// A tarball written to `out`.
    pub fn new(out: W) -> Self {
        Self {
            builder: tar::Builder::new(out),
            links: HashMap::new(),
        }
    }

    /// Ends the archive and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }

    /// Adds the directory `path` (followed if it is a symlink, as a path
    /// given to `tar -C` is) as the entry `top` (`etc`, `.`, `/`; empty: no
    /// entry for it) and everything below it as `top/…`.
    pub fn add_dir(&mut self, path: &str, top: &str) -> io::Result<()> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        let prefix = if top.is_empty() {
            Vec::new()
        } else {
            let mut name = top.trim_end_matches('/').as_bytes().to_vec();
            name.push(b'/');
            self.header_only(&st, &name, EntryType::Directory)?;
            name
        };
        self.contents(fd, &prefix)
    }

    /// Adds the entry `name` of directory `dir` as the entry `as_name`
    /// (whatever it is; a directory with everything below it).
    pub fn add_entry(&mut self, dir: &str, name: &str, as_name: &str) -> io::Result<()> {
        let parent = nix::fcntl::open(
            if dir.is_empty() { "." } else { dir },
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = fstatat(&parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        self.child(&parent, OsStr::new(name), &st, as_name.as_bytes().to_vec())
    }

    /// Every entry of the open directory `dir`, named `prefix` + name.
    fn contents(&mut self, dir: OwnedFd, prefix: &[u8]) -> io::Result<()> {
        let mut listing = Dir::from_fd(dir)?;
        let mut names: Vec<OsString> = listing
            .iter()
            .filter_map(Result::ok)
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
            .filter(|n| n != "." && n != "..")
            .collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let Ok(st) = fstatat(&listing, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else {
                continue; // gone meanwhile
            };
            let mut tar_name = prefix.to_vec();
            tar_name.extend_from_slice(name.as_bytes());
            self.child(&listing, &name, &st, tar_name)?;
        }
        Ok(())
    }

    /// One entry `name` of `parent`, first seen as `seen`.
    fn child(
        &mut self,
        parent: &impl AsFd,
        name: &OsStr,
        seen: &FileStat,
        tar_name: Vec<u8>,
    ) -> io::Result<()> {
        match kind(seen) {
            SFlag::S_IFDIR => {
                let Ok(fd) = open_dir_at(parent, name) else {
                    return Ok(()); // no longer a directory
                };
                let st = fstat(&fd)?;
                let mut dir_name = tar_name;
                dir_name.push(b'/');
                self.header_only(&st, &dir_name, EntryType::Directory)?;
                self.contents(fd, &dir_name)
            }
            SFlag::S_IFREG => {
                let Ok(fd) = openat(
                    parent,
                    name,
                    OFlag::O_RDONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_NONBLOCK
                        | OFlag::O_NOCTTY
                        | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) else {
                    return Ok(());
                };
                let st = fstat(&fd)?;
                if kind(&st) != SFlag::S_IFREG {
                    return Ok(()); // swapped for something else
                }
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let mut h = header(&st, EntryType::Link);
                        h.set_size(0);
                        return self.append(h, &tar_name, Some(&first), io::empty());
                    }
                    self.links.insert(key, tar_name.clone());
                }
                let size = st.st_size.max(0) as u64;
                let mut h = header(&st, EntryType::Regular);
                h.set_size(size);
                // Exactly `size` bytes, whatever the file does meanwhile.
                let content = std::fs::File::from(fd)
                    .take(size)
                    .chain(io::repeat(0))
                    .take(size);
                self.append(h, &tar_name, None, content)
            }
            SFlag::S_IFLNK => {
                let Ok(target) = readlinkat(parent, name) else {
                    return Ok(());
                };
                let mut h = header(seen, EntryType::Symlink);
                h.set_size(0);
                self.append(h, &tar_name, Some(target.as_bytes()), io::empty())
            }
            SFlag::S_IFCHR => self.device(seen, &tar_name, EntryType::Char),
            SFlag::S_IFBLK => self.device(seen, &tar_name, EntryType::Block),
            SFlag::S_IFIFO => self.header_only(seen, &tar_name, EntryType::Fifo),
            _ => Ok(()), // sockets
        }
    }

    fn device(&mut self, st: &FileStat, name: &[u8], kind: EntryType) -> io::Result<()> {
        let mut h = header(st, kind);
        h.set_size(0);
        h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32)?;
        h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32)?;
        self.append(h, name, None, io::empty())
    }

    fn header_only(&mut self, st: &FileStat, name: &[u8], kind: EntryType) -> io::Result<()> {
        let mut h = header(st, kind);
        h.set_size(0);
        self.append(h, name, None, io::empty())
    }

    fn append(
        &mut self,
        mut h: Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        self.long_field(&mut h, name, b'L')?;
        if let Some(link) = link {
            self.long_field(&mut h, link, b'K')?;
        }
        h.set_cksum();
        self.builder.append(&h, data)
    }

    /// Puts `value` in the name (`L`) or link (`K`) field of `h`, preceded
    /// by a GNU long-name record when it does not fit.
    fn long_field(&mut self, h: &mut Header, value: &[u8], record: u8) -> io::Result<()> {
        if value.len() > NAME_FIELD {
            let mut long = Header::new_gnu();
            long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            long.set_mode(0o644);
            long.set_uid(0);
            long.set_gid(0);
            long.set_mtime(0);
            long.set_size(value.len() as u64 + 1);
            long.set_entry_type(EntryType::new(record));
            long.set_cksum();
            self.builder.append(&long, value.chain(&[0u8][..]))?;
        }
        let old = h.as_old_mut();
        let field = if record == b'L' {
            &mut old.name
        } else {
            &mut old.linkname
        };
        let n = value.len().min(NAME_FIELD);
        field.fill(0);
        field[..n].copy_from_slice(&value[..n]);
        Ok(())
    }
}

/// A GNU header with the metadata docker's archives carry: permission bits,
/// numeric owner (no names), modification time in seconds.
fn header(st: &FileStat, kind: EntryType) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn entries(tar: &[u8]) -> Vec<(String, EntryType, String, Vec<u8>)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .expect("entries")
            .map(|e| {
                let mut e = e.expect("entry");
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let link = e
                    .link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default();
                let kind = e.header().entry_type();
                let mut data = Vec::new();
                e.read_to_end(&mut data).expect("read");
                (name, kind, link, data)
            })
            .collect()
    }

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("etc/deep")).expect("mkdir");
        std::fs::write(root.join("etc/hostname"), "box\n").expect("write");
        std::fs::write(root.join("etc/deep/b"), "b").expect("write");
        std::fs::hard_link(root.join("etc/hostname"), root.join("etc/z-link")).expect("link");
        std::os::unix::fs::symlink("/etc/hostname", root.join("etc/a-sym")).expect("symlink");
        nix::unistd::mkfifo(&root.join("etc/fifo"), Mode::from_bits_truncate(0o600)).expect("fifo");
        let _sock = std::os::unix::net::UnixListener::bind(root.join("etc/sock")).expect("sock");
    }

    #[test]
    fn a_directory_with_every_kind_of_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        tree(dir.path());
        let mut t = Tarball::new(Vec::new());
        t.add_dir(&dir.path().join("etc").display().to_string(), "etc")
            .expect("add");
        let got = entries(&t.finish().expect("finish"));
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/a-sym",
                "etc/deep/",
                "etc/deep/b",
                "etc/fifo",
                "etc/hostname",
                "etc/z-link"
            ],
            "sorted, the socket skipped"
        );
        assert_eq!(got[1].1, EntryType::Symlink);
        assert_eq!(got[1].2, "/etc/hostname");
        assert_eq!(got[4].1, EntryType::Fifo);
        assert_eq!(got[5].3, b"box\n");
        assert_eq!(
            (got[6].1, got[6].2.as_str()),
            (EntryType::Link, "etc/hostname")
        );
    }

    #[test]
    fn single_entries_long_names_and_absolute_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let long = "n".repeat(150);
        std::fs::write(dir.path().join(&long), "x").expect("write");
        std::os::unix::fs::symlink("/".to_owned() + &"t".repeat(120), dir.path().join("l"))
            .expect("symlink");
        let mut t = Tarball::new(Vec::new());
        let d = dir.path().display().to_string();
        t.add_entry(&d, &long, &long).expect("file");
        t.add_entry(&d, "l", "renamed").expect("link");
        t.add_dir(&d, "/").expect("root");
        let got = entries(&t.finish().expect("finish"));
        assert_eq!(got[0].0, long);
        assert_eq!(got[0].3, b"x");
        assert_eq!(
            (got[1].0.as_str(), got[1].1),
            ("renamed", EntryType::Symlink)
        );
        assert_eq!(got[1].2.len(), 121);
        assert_eq!(got[2].0, "/");
        assert!(got.iter().any(|e| e.0 == format!("/{long}")));
    }

    #[test]
    fn contents_without_a_top_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        tree(dir.path());
        let mut t = Tarball::new(Vec::new());
        t.add_dir(&dir.path().display().to_string(), "")
            .expect("add");
        let got = entries(&t.finish().expect("finish"));
        assert_eq!(got[0].0, "etc/");
        assert!(
            got.iter()
                .all(|e| !e.0.starts_with('/') && !e.0.starts_with("./"))
        );
    }
}
