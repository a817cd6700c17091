//! The layer unpacker (`skiff_store::unpack`), fed hostile layer tars: names
//! with `..`, absolute names, names through symlinks, hard links out of the
//! layer, whiteouts, devices, PAX xattrs — and raw bytes. Whatever the tar,
//! the unpack returns (ok or an error) and **nothing outside the snapshot
//! directory changes**: the target snapshots every file around the snapshot
//! directory (three levels up, and a directory `outside` that absolute
//! names and link targets point at) before the first run and checks it after
//! every run.
#![no_main]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Input {
    Entries(Vec<Entry>),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Entry {
    kind: Kind,
    path: Vec<Part>,
    link: Vec<Part>,
    mode: u16,
    content: Vec<u8>,
    xattr: Option<(Xattr, Vec<u8>)>,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
    CharDev,
    BlockDev,
}

/// Path components a hostile layer would use.
#[derive(Debug, Arbitrary, Clone, Copy)]
enum Part {
    A,
    B,
    Dot,
    DotDot,
    Empty,
    Whiteout,
    Opaque,
    AufsMeta,
    /// The absolute path of the `outside` directory.
    Outside,
    /// `/`.
    Root,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Xattr {
    User,
    Trusted,
    OverlayOpaque,
    Capability,
}

struct Sandbox {
    /// The top of the watched tree.
    top: PathBuf,
    /// `top/l1/l2/snap`: where layers are unpacked.
    snap: PathBuf,
    /// `top/l1/l2/outside`.
    outside: PathBuf,
    /// The watched tree as it was before any unpack.
    before: BTreeMap<PathBuf, String>,
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let base = std::env::var_os("SKIFF_FUZZ_SANDBOX")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let top = base.join(format!("skiff-fuzz-unpack-{}", std::process::id()));
        let l2 = top.join("l1/l2");
        let outside = l2.join("outside");
        std::fs::create_dir_all(outside.join("a")).expect("sandbox");
        std::fs::write(outside.join("a/b"), b"outside").expect("sandbox");
        std::fs::write(top.join("l1/b"), b"two up").expect("sandbox");
        std::os::unix::fs::symlink(&outside, l2.join("a")).expect("sandbox");
        let snap = l2.join("snap");
        std::fs::create_dir(&snap).expect("sandbox");
        let before = state(&top, &snap);
        Sandbox {
            top,
            snap,
            outside,
            before,
        }
    })
}

/// Every path under `dir` but `skip`, with its type, mode, owner, size,
/// mtime, content or link target.
fn state(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let meta = std::fs::symlink_metadata(&d).expect("lstat");
        let mut desc = format!(
            "{:o} {}:{} {} {}.{}",
            meta.mode(),
            meta.uid(),
            meta.gid(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec()
        );
        if meta.file_type().is_symlink() {
            desc.push_str(&format!(
                " -> {:?}",
                std::fs::read_link(&d).expect("readlink")
            ));
        } else if meta.is_file() {
            desc.push_str(&format!(" {:?}", std::fs::read(&d).expect("read")));
        } else if meta.is_dir() {
            for e in std::fs::read_dir(&d).expect("readdir") {
                let p = e.expect("entry").path();
                if p != skip {
                    todo.push(p);
                }
            }
        }
        out.insert(d, desc);
    }
    out
}

fn join(parts: &[Part], outside: &Path) -> Vec<u8> {
    let words: Vec<String> = parts
        .iter()
        .take(6)
        .map(|p| match p {
            Part::A => "a".into(),
            Part::B => "b".into(),
            Part::Dot => ".".into(),
            Part::DotDot => "..".into(),
            Part::Empty => String::new(),
            Part::Whiteout => ".wh.a".into(),
            Part::Opaque => ".wh..wh..opq".into(),
            Part::AufsMeta => ".wh..wh.plnk".into(),
            Part::Outside => outside.display().to_string(),
            Part::Root => "/".into(),
        })
        .collect();
    let mut s = words.join("/").into_bytes();
    s.truncate(99);
    s
}

/// One PAX extended header record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len.to_string().len() + body != len {
        len += 1;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

fn tar_of(entries: &[Entry], outside: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries.iter().take(16) {
        if let Some((x, value)) = &e.xattr {
            let key = match x {
                Xattr::User => "SCHILY.xattr.user.fuzz",
                Xattr::Trusted => "SCHILY.xattr.trusted.fuzz",
                Xattr::OverlayOpaque => "SCHILY.xattr.trusted.overlay.opaque",
                Xattr::Capability => "SCHILY.xattr.security.capability",
            };
            let data = pax_record(key, &value[..value.len().min(64)]);
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append(&h, &data[..]).expect("append pax");
        }
        let mut h = tar::Header::new_ustar();
        let name = join(&e.path, outside);
        h.as_old_mut().name[..name.len()].copy_from_slice(&name);
        let link = join(&e.link, outside);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(&link);
        h.set_mode(u32::from(e.mode) & 0o7777);
        h.set_mtime(1_700_000_000);
        let (ty, data): (_, &[u8]) = match e.kind {
            Kind::File => (
                tar::EntryType::Regular,
                &e.content[..e.content.len().min(64)],
            ),
            Kind::Dir => (tar::EntryType::Directory, &[]),
            Kind::Symlink => (tar::EntryType::Symlink, &[]),
            Kind::Hardlink => (tar::EntryType::Link, &[]),
            Kind::Fifo => (tar::EntryType::Fifo, &[]),
            Kind::CharDev => (tar::EntryType::Char, &[]),
            Kind::BlockDev => (tar::EntryType::Block, &[]),
        };
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("finish tar")
}

fuzz_target!(|input: Input| {
    let sb = sandbox();
    let tar = match &input {
        Input::Entries(entries) => tar_of(entries, &sb.outside),
        Input::Raw(bytes) => bytes.clone(),
    };
    let _ = skiff_store::unpack::unpack(&tar[..], &sb.snap);
    let after = state(&sb.top, &sb.snap);
    if after != sb.before {
        let changed: Vec<_> = after
            .iter()
            .filter(|(p, d)| sb.before.get(*p) != Some(d))
            .map(|(p, _)| p)
            .chain(sb.before.keys().filter(|p| !after.contains_key(*p)))
            .collect();
        panic!("unpacking changed files outside the snapshot: {changed:?}");
    }
    clear(&sb.snap);
});

/// Empty `dir` (kept, so its parent's mtime does not change).
fn clear(dir: &Path) {
    for e in std::fs::read_dir(dir).expect("readdir snapshot") {
        let p = e.expect("entry").path();
        let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
        let removed = if is_dir {
            std::fs::remove_dir_all(&p).or_else(|_| {
                // A directory of mode 0 is removable by root only: open it up.
                let _ = std::process::Command::new("chmod")
                    .arg("-R")
                    .arg("u+rwx")
                    .arg(&p)
                    .status();
                std::fs::remove_dir_all(&p)
            })
        } else {
            std::fs::remove_file(&p)
        };
        removed.expect("clearing the snapshot dir");
    }
}
