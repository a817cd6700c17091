//! The layer unpacker (`skiff_store::unpack`), fed hostile layer tars: names
//! with `..`, absolute names, names through symlinks, hard links out of the
//! layer, whiteouts, devices, PAX xattrs — and raw bytes. Whatever the tar,
//! the unpack returns (ok or an error) and **nothing outside the snapshot
//! directory changes**: the target snapshots every file around the snapshot
//! directory (three levels up, and a directory `outside` that absolute
//! names and link targets point at) before the first run and checks it after
//! every run.
#![no_main]

mod tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tree::{assert_unchanged, clear, sandbox_dir, state};

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
        let top = sandbox_dir("unpack");
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
    assert_unchanged(&sb.before, &after, "unpacking");
    clear(&sb.snap);
});
