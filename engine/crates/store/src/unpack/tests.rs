//! Tests of the layer unpacker: round trips, overlay whiteouts, a real
//! overlay mount, and every escape attempt.

use super::meta::parse_pax_time;
use super::names::{Reject, clean};
use super::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::Command;
use tar::{EntryType, Header};

const T0: u64 = 1_600_000_000;

/// Tests that mknod, chown and set trusted.* xattrs need root.
fn root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("SKIPPED: this unpack test needs root");
    }
    root
}

fn header(kind: EntryType, mode: u32, uid: u64, gid: u64, mtime: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(mtime);
    h.set_size(0);
    h
}

/// A layer tar built in memory.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.dir_with(path, 0o755, 0, 0, T0)
    }

    fn dir_with(&mut self, path: &str, mode: u32, uid: u64, gid: u64, mtime: u64) -> &mut Self {
        let mut h = header(EntryType::Directory, mode, uid, gid, mtime);
        self.0
            .append_data(&mut h, path, io::empty())
            .expect("append dir");
        self
    }

    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.file_with(path, data, 0o644, 0, 0, T0)
    }

    fn file_with(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = header(EntryType::Regular, mode, uid, gid, mtime);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data).expect("append file");
        self
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.symlink_with(path, target, 0, 0, T0)
    }

    fn symlink_with(
        &mut self,
        path: &str,
        target: &str,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = header(EntryType::Symlink, 0o777, uid, gid, mtime);
        self.0
            .append_link(&mut h, path, target)
            .expect("append symlink");
        self
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, 0o644, 0, 0, T0);
        self.0
            .append_link(&mut h, path, target)
            .expect("append hard link");
        self
    }

    fn special(&mut self, path: &str, kind: EntryType, dev: (u32, u32), mode: u32) -> &mut Self {
        let mut h = header(kind, mode, 0, 0, T0);
        h.set_device_major(dev.0).expect("major");
        h.set_device_minor(dev.1).expect("minor");
        self.0
            .append_data(&mut h, path, io::empty())
            .expect("append special");
        self
    }

    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.0
            .append_pax_extensions(records.iter().copied())
            .expect("append pax");
        self
    }

    /// An entry whose name and link name are written byte for byte,
    /// bypassing tar::Builder's validation (it refuses `..`).
    fn raw(&mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> &mut Self {
        let mut h = header(kind, 0o644, 0, 0, T0);
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        old.linkname = [0; 100];
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).expect("append raw");
        self
    }

    fn build(self) -> Vec<u8> {
        self.0.into_inner().expect("finish tar")
    }
}

fn run(tar: &[u8], dest: &Path) -> Result<UnpackStats, UnpackError> {
    unpack(tar, dest)
}

fn lmeta(p: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()))
}

fn xattr_of(p: &Path, name: &str) -> Option<Vec<u8>> {
    xattr::get(p, name).expect("getxattr")
}

/// A dest directory next to an "outside" tree that must never change.
struct Scene {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

fn scene() -> Scene {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().to_path_buf();
    let dest = base.join("dest");
    let outside = base.join("outside");
    std::fs::create_dir(&dest).expect("mkdir dest");
    std::fs::create_dir_all(outside.join("sub")).expect("mkdir outside");
    std::fs::write(outside.join("keep"), b"original").expect("write sentinel");
    Scene {
        _tmp: tmp,
        base,
        dest,
        outside,
    }
}

/// Everything about the tree at `dir` (minus `skip`), to compare.
fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dirent").path())
        .collect();
    names.sort();
    for p in names {
        if p == skip {
            continue;
        }
        let m = lmeta(&p);
        let mut xattrs: Vec<_> = xattr::list(&p).expect("listxattr").collect();
        xattrs.sort();
        let mut desc = format!(
            "mode={:o} uid={} gid={} size={} mtime={}.{} nlink={} xattrs={xattrs:?}",
            m.mode(),
            m.uid(),
            m.gid(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.nlink()
        );
        if m.file_type().is_file() {
            desc += &format!(" content={:?}", std::fs::read(&p).expect("read"));
        } else if m.file_type().is_symlink() {
            desc += &format!(" target={:?}", std::fs::read_link(&p).expect("readlink"));
        }
        out.insert(p.clone(), desc);
        if m.is_dir() {
            snapshot(&p, skip, out);
        }
    }
}

const ETC_SENTINEL: &str = "/etc/skiff-unpack-escape-test";

/// Unpack `tar` built against a fresh scene, expect a refusal matching
/// `expect`, and check that nothing outside dest changed.
fn refused(
    case: &str,
    build: impl FnOnce(&Scene) -> Vec<u8>,
    expect: impl Fn(&UnpackError) -> bool,
) {
    let s = scene();
    let tar = build(&s);
    let mut before = BTreeMap::new();
    snapshot(&s.base, &s.dest, &mut before);
    let passwd_links = lmeta(Path::new("/etc/passwd")).nlink();
    let err = match run(&tar, &s.dest) {
        Ok(stats) => panic!("{case}: unpacked ({stats:?}) instead of refusing"),
        Err(e) => e,
    };
    assert!(expect(&err), "{case}: unexpected error {err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("layer entry \""), "{case}: message {msg:?}");
    let mut after = BTreeMap::new();
    snapshot(&s.base, &s.dest, &mut after);
    assert_eq!(before, after, "{case}: something outside dest changed");
    assert!(
        !Path::new(ETC_SENTINEL).exists(),
        "{case}: wrote {ETC_SENTINEL}"
    );
    assert_eq!(
        passwd_links,
        lmeta(Path::new("/etc/passwd")).nlink(),
        "{case}: linked /etc/passwd"
    );
    eprintln!("{case}: refused: {msg}");
}

fn outside_str(s: &Scene) -> &str {
    s.outside.to_str().expect("utf-8 tempdir")
}

#[test]
fn unpack_round_trip_keeps_everything() {
    if !root() {
        return;
    }
    let s = scene();
    // security.capability v2: cap_net_raw (13) permitted + effective.
    let mut cap = Vec::new();
    for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        cap.extend_from_slice(&word.to_le_bytes());
    }
    let long_dir = format!("./deep/{}", "d".repeat(120));
    let long_target = format!("/{}", "t".repeat(200));
    let mut t = Tar::new();
    t.dir_with("./", 0o700, 7, 7, T0)
        .dir_with("./etc/", 0o750, 1000, 1001, T0 + 10)
        .pax(&[
            ("SCHILY.xattr.user.comment", b"hello"),
            ("SCHILY.xattr.trusted.skiff", b"\x00\x01bin"),
            ("mtime", b"1600000123.123456789"),
            ("atime", b"1600000100.5"),
        ])
        .file_with("./etc/app.conf", b"key=value\n", 0o640, 1000, 1001, T0 + 20)
        .pax(&[("SCHILY.xattr.security.capability", &cap)])
        .file_with("./usr/bin/ping", b"\x7fELF ping", 0o4755, 0, 0, T0 + 30)
        .file_with("./usr/bin/sg", b"sg", 0o2755, 1000, 50, T0 + 31)
        .dir_with("./tmp/", 0o1777, 0, 0, T0 + 40)
        .pax(&[
            ("SCHILY.xattr.trusted.skiff.link", b"l"),
            ("SCHILY.xattr.user.nope", b"x"),
        ])
        .symlink_with("./etc/localtime", "/usr/share/zoneinfo/UTC", 5, 6, T0 + 50)
        .symlink("./usr/bin/sh", "busybox")
        .hardlink("./usr/bin/ping6", "./usr/bin/ping")
        .hardlink("usr/bin/ping4", "usr/bin/ping")
        .special("./dev/null", EntryType::Char, (1, 3), 0o666)
        .special("./dev/loop0", EntryType::Block, (7, 0), 0o660)
        .special("./run/fifo", EntryType::Fifo, (0, 0), 0o640)
        .file(&format!("{long_dir}/file"), b"long")
        .symlink("./deep/long-link", &long_target)
        // Replacements: later entries win.
        .file("./etc/motd", b"one")
        .file("./etc/motd", b"two")
        .file("./etc/was-file", b"f")
        .symlink("./etc/was-file", "motd")
        .dir("./etc/was-dir/")
        .file("./etc/was-dir/x", b"x")
        .file("./etc/was-dir", b"now a file")
        .file("./etc/to-dir", b"f")
        .dir("./etc/to-dir/")
        // A later directory entry updates metadata, keeps content.
        .dir_with("./etc/", 0o755, 1000, 1001, T0 + 11);
    let stats = run(&t.build(), &s.dest).expect("unpack");
    let d = &s.dest;

    let etc = lmeta(&d.join("etc"));
    assert_eq!(etc.mode() & 0o7777, 0o755);
    assert_eq!((etc.uid(), etc.gid()), (1000, 1001));
    assert_eq!(
        etc.mtime() as u64,
        T0 + 11,
        "dir mtime set after its children"
    );

    let conf = d.join("etc/app.conf");
    let m = lmeta(&conf);
    assert_eq!(std::fs::read(&conf).expect("read"), b"key=value\n");
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_123, 123_456_789));
    assert_eq!((m.atime(), m.atime_nsec()), (1_600_000_100, 500_000_000));
    assert_eq!(
        xattr_of(&conf, "user.comment").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr_of(&conf, "trusted.skiff").as_deref(),
        Some(&b"\x00\x01bin"[..])
    );

    let ping = d.join("usr/bin/ping");
    let m = lmeta(&ping);
    assert_eq!(m.mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(m.nlink(), 3);
    assert_eq!(xattr_of(&ping, "security.capability"), Some(cap));
    let sg = lmeta(&d.join("usr/bin/sg"));
    assert_eq!(sg.mode() & 0o7777, 0o2755, "setgid kept after chown");
    assert_eq!((sg.uid(), sg.gid()), (1000, 50));
    assert_eq!(lmeta(&d.join("usr/bin/ping6")).ino(), m.ino());
    assert_eq!(lmeta(&d.join("usr/bin/ping4")).ino(), m.ino());
    let implicit = lmeta(&d.join("usr"));
    assert_eq!((implicit.mode() & 0o7777, implicit.uid()), (0o755, 0));

    assert_eq!(lmeta(&d.join("tmp")).mode() & 0o7777, 0o1777);

    let lt = d.join("etc/localtime");
    let m = lmeta(&lt);
    assert!(m.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(&lt).expect("readlink"),
        Path::new("/usr/share/zoneinfo/UTC")
    );
    assert_eq!((m.uid(), m.gid(), m.mtime() as u64), (5, 6, T0 + 50));
    assert_eq!(
        xattr_of(&lt, "trusted.skiff.link").as_deref(),
        Some(&b"l"[..])
    );
    assert_eq!(
        xattr_of(&lt, "user.nope"),
        None,
        "user.* is not allowed on symlinks"
    );
    assert_eq!(
        std::fs::read_link(d.join("usr/bin/sh")).expect("readlink"),
        Path::new("busybox")
    );

    let null = lmeta(&d.join("dev/null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let lp = lmeta(&d.join("dev/loop0"));
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), nix::sys::stat::makedev(7, 0));
    assert_eq!(lp.mode() & 0o7777, 0o660);
    let fifo = lmeta(&d.join("run/fifo"));
    assert!(fifo.file_type().is_fifo());
    assert_eq!((fifo.mode() & 0o7777, fifo.mtime() as u64), (0o640, T0));

    assert_eq!(
        std::fs::read(d.join(&long_dir[2..]).join("file")).expect("read"),
        b"long"
    );
    assert_eq!(
        std::fs::read_link(d.join("deep/long-link")).expect("readlink"),
        Path::new(&long_target)
    );

    assert_eq!(std::fs::read(d.join("etc/motd")).expect("read"), b"two");
    assert_eq!(
        std::fs::read_link(d.join("etc/was-file")).expect("readlink"),
        Path::new("motd")
    );
    assert_eq!(
        std::fs::read(d.join("etc/was-dir")).expect("read"),
        b"now a file"
    );
    assert!(lmeta(&d.join("etc/to-dir")).is_dir());

    // The root entry is skiffd's, not the layer's.
    let r = lmeta(d);
    assert_ne!(r.uid(), 7);

    assert_eq!(stats.entries, 25);
    assert_eq!(stats.files, 10);
    assert_eq!(stats.bytes, 10 + 9 + 2 + 4 + 3 + 3 + 1 + 1 + 10 + 1);
    assert_eq!(stats.dirs, 5);
    assert_eq!(stats.symlinks, 4);
    assert_eq!(stats.hardlinks, 2);
    assert_eq!(stats.specials, 3);
    assert_eq!(stats.skipped, 1);
    assert_eq!(stats.xattrs_skipped, 1);
}

#[test]
fn unpack_whiteouts_become_overlay_form() {
    if !root() {
        return;
    }
    let s = scene();
    let mut t = Tar::new();
    t.dir("a/")
        .file("a/.wh.gone", b"")
        .file("a/b/.wh..wh..opq", b"")
        .dir("c/")
        .file("c/kept", b"k")
        .file("c/.wh..wh..opq", b"")
        .dir(".wh..wh.plnk/")
        .file(".wh..wh.plnk/123.456", b"aufs")
        .file(".wh..wh.aufs", b"")
        .file(".wh.top", b"")
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
        .dir("d/");
    let stats = run(&t.build(), &s.dest).expect("unpack");
    let d = &s.dest;
    for w in ["a/gone", "top"] {
        let m = lmeta(&d.join(w));
        assert!(m.file_type().is_char_device(), "{w} is a whiteout");
        assert_eq!(m.rdev(), 0);
        assert_eq!(m.mode() & 0o7777, 0);
    }
    assert!(!d.join("a/.wh.gone").exists());
    for o in ["a/b", "c"] {
        assert!(lmeta(&d.join(o)).is_dir());
        assert_eq!(
            xattr_of(&d.join(o), OPAQUE_XATTR).as_deref(),
            Some(&b"y"[..]),
            "{o}"
        );
    }
    assert!(d.join("c/kept").exists());
    assert!(!d.join("c/.wh..wh..opq").exists());
    assert_eq!(xattr_of(&d.join("a"), OPAQUE_XATTR), None);
    assert!(!d.join(".wh..wh.plnk").exists());
    assert!(!d.join(".wh..wh.aufs").exists());
    assert_eq!(xattr_of(&d.join("d"), "trusted.overlay.redirect"), None);
    assert_eq!((stats.whiteouts, stats.opaques, stats.skipped), (2, 2, 3));
    assert_eq!(stats.xattrs_skipped, 1);
}

/// Unmounts on drop, so a failing assertion still cleans up.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn tree(dir: &Path, prefix: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("dirent");
        let rel = prefix.join(e.file_name());
        let is_dir = e.file_type().expect("file type").is_dir();
        out.push(format!(
            "{}{}",
            rel.display(),
            if is_dir { "/" } else { "" }
        ));
        if is_dir {
            tree(&e.path(), &rel, out);
        }
    }
}

#[test]
fn unpack_layers_stack_in_a_real_overlay() {
    if !root() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let (lower, upper, mnt) = (
        tmp.path().join("lower"),
        tmp.path().join("upper"),
        tmp.path().join("mnt"),
    );
    for d in [&lower, &upper, &mnt] {
        std::fs::create_dir(d).expect("mkdir");
    }
    let mut t = Tar::new();
    t.dir("etc/")
        .file("etc/passwd", b"root:x:0:0")
        .file("etc/hosts", b"127.0.0.1")
        .dir("usr/")
        .dir("usr/share/")
        .dir("usr/share/doc/")
        .file("usr/share/doc/a", b"a")
        .dir("usr/share/doc/b/")
        .file("usr/share/doc/b/c", b"c")
        .dir("bin/")
        .file("bin/sh", b"sh");
    run(&t.build(), &lower).expect("unpack lower");
    let mut t = Tar::new();
    t.dir("etc/")
        .file("etc/.wh.hosts", b"")
        .dir("usr/share/doc/")
        .file("usr/share/doc/.wh..wh..opq", b"")
        .file("usr/share/doc/new", b"new")
        .dir("bin/")
        .file("bin/ls", b"ls");
    run(&t.build(), &upper).expect("unpack upper");

    let opts = format!("ro,lowerdir={}:{}", upper.display(), lower.display());
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(&mnt)
        .status()
        .expect("run mount");
    assert!(status.success(), "mount overlay: {status}");
    let _guard = Mounted(mnt.clone());

    let mut got = Vec::new();
    tree(&mnt, Path::new(""), &mut got);
    got.sort();
    let want = [
        "bin/",
        "bin/ls",
        "bin/sh",
        "etc/",
        "etc/passwd",
        "usr/",
        "usr/share/",
        "usr/share/doc/",
        "usr/share/doc/new",
    ];
    assert_eq!(got, want);
    assert_eq!(std::fs::read(mnt.join("bin/sh")).expect("read"), b"sh");
    assert_eq!(
        std::fs::read(mnt.join("usr/share/doc/new")).expect("read"),
        b"new"
    );
}

#[test]
fn unpack_refuses_every_escape() {
    if !root() {
        return;
    }
    use UnpackError as E;
    let file = EntryType::Regular;
    let sym = EntryType::Symlink;
    let link = EntryType::Link;
    let raw = |name: &[u8], kind, target: &[u8]| {
        let mut t = Tar::new();
        t.raw(name, kind, target, b"pwned");
        t.build()
    };

    for name in [
        &b"../x"[..],
        b"a/../../x",
        b"a/../b",
        b"./../outside/keep",
        b"a/b/../../../x",
    ] {
        refused(
            &String::from_utf8_lossy(name),
            |_| raw(name, file, b""),
            |e| matches!(e, E::PathEscape { path } if path.as_bytes() == name),
        );
    }
    refused(
        "dir ../outside/sub/",
        |_| raw(b"../outside/sub/", EntryType::Directory, b""),
        |e| matches!(e, E::PathEscape { .. }),
    );
    refused(
        "pax path with ..",
        |_| {
            let mut t = Tar::new();
            t.pax(&[("path", b"../pax-escape")])
                .raw(b"innocent", file, b"", b"x");
            t.build()
        },
        |e| matches!(e, E::PathEscape { path } if path == "../pax-escape"),
    );
    refused(
        "nul byte in a gnu long name",
        |_| {
            let mut t = Tar::new();
            t.raw(
                b"././@LongLink",
                EntryType::GNULongName,
                b"",
                b"ok\0/../../x\0",
            )
            .raw(b"ok", file, b"", b"x");
            t.build()
        },
        |e| matches!(e, E::NulByte { .. }),
    );
    refused(
        "symlink to outside, then a file through it",
        |s| {
            let mut t = Tar::new();
            t.symlink("evil", outside_str(s)).file("evil/pwned", b"x");
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "evil"),
    );
    refused(
        "symlink to outside, then overwrite a file through it",
        |s| {
            let mut t = Tar::new();
            t.symlink("evil", outside_str(s)).file("evil/keep", b"x");
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { .. }),
    );
    refused(
        "symlink to .., then a file through it",
        |_| raw_pair(b"evil", sym, b"..", b"evil/outside/keep", file),
        |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "evil"),
    );
    refused(
        "symlink to .., then a directory through it",
        |_| raw_pair(b"evil", sym, b"..", b"evil/x/", EntryType::Directory),
        |e| matches!(e, E::ThroughSymlink { .. }),
    );
    refused(
        "symlink chain",
        |s| {
            let mut t = Tar::new();
            t.symlink("a", "b")
                .symlink("b", outside_str(s))
                .file("a/pwned", b"x");
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "a"),
    );
    refused(
        "nested symlink in a real dir",
        |s| {
            let mut t = Tar::new();
            t.dir("d/")
                .symlink("d/l", outside_str(s))
                .file("d/l/sub/f", b"x");
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "d/l"),
    );
    refused(
        "directory replaced by a symlink, then written through",
        |s| {
            let mut t = Tar::new();
            t.dir("d/")
                .file("d/f", b"f")
                .symlink("d", outside_str(s))
                .file("d/x", b"x");
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { symlink, .. } if symlink == "d"),
    );
    refused(
        "device through a symlink",
        |s| {
            let mut t = Tar::new();
            t.symlink("evil", outside_str(s))
                .special("evil/null", EntryType::Char, (1, 3), 0o666);
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { .. }),
    );
    refused(
        "opaque marker through a symlink",
        |s| {
            let mut t = Tar::new();
            t.symlink("evil", outside_str(s))
                .file("evil/.wh..wh..opq", b"");
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { .. }),
    );
    refused(
        "whiteout through a symlink",
        |s| {
            let mut t = Tar::new();
            t.symlink("evil", outside_str(s)).file("evil/.wh.keep", b"");
            t.build()
        },
        |e| matches!(e, E::ThroughSymlink { .. }),
    );
    refused(
        "hard link to ../outside",
        |_| raw(b"h", link, b"../outside/keep"),
        |e| matches!(e, E::HardLinkEscape { target, .. } if target == "../outside/keep"),
    );
    // Rooted in the layer, where there is no etc/passwd: never the host's.
    refused(
        "hard link to /etc/passwd",
        |_| raw(b"h", link, b"/etc/passwd"),
        |e| matches!(e, E::HardLinkTargetMissing { target, .. } if target == "/etc/passwd"),
    );
    refused(
        "absolute /../ name",
        |_| raw(b"/../outside/keep", file, b""),
        |e| matches!(e, E::PathEscape { .. }),
    );
    refused(
        "hard link through a symlink dir",
        |s| {
            let mut t = Tar::new();
            t.symlink("evil", outside_str(s)).hardlink("h", "evil/keep");
            t.build()
        },
        |e| matches!(e, E::HardLinkThroughSymlink { symlink, .. } if symlink == "evil"),
    );
    refused(
        "hard link through a symlink chain",
        |_| {
            let mut t = Tar::new();
            t.symlink("a", "b")
                .symlink("b", "..")
                .raw(b"h", link, b"a/outside/keep", b"");
            t.build()
        },
        |e| matches!(e, E::HardLinkThroughSymlink { .. }),
    );
    refused(
        "hard link to a missing target",
        |_| raw(b"h", link, b"nope"),
        |e| matches!(e, E::HardLinkTargetMissing { .. }),
    );
    refused(
        "hard link below a regular file",
        |_| {
            let mut t = Tar::new();
            t.file("f", b"f").hardlink("h", "f/x");
            t.build()
        },
        |e| matches!(e, E::HardLinkTargetMissing { .. }),
    );
    refused(
        "hard link to a directory",
        |_| {
            let mut t = Tar::new();
            t.dir("d/").hardlink("h", "d");
            t.build()
        },
        |e| matches!(e, E::HardLinkToDirectory { .. }),
    );
    refused(
        "hard link to the root",
        |_| raw(b"h", link, b"./"),
        |e| matches!(e, E::HardLinkToDirectory { .. }),
    );
    for name in [&b".wh.."[..], b"a/.wh...", b"a/.wh."] {
        refused(
            &String::from_utf8_lossy(name),
            |_| raw(name, file, b""),
            |e| matches!(e, E::InvalidWhiteout { .. }),
        );
    }
    refused(
        "file under a regular file",
        |_| {
            let mut t = Tar::new();
            t.file("f", b"f").raw(b"f/x", file, b"", b"x");
            t.build()
        },
        |e| matches!(e, E::ParentNotDirectory { parent, .. } if parent == "f"),
    );
    refused(
        "root as a file",
        |_| raw(b"./", EntryType::Symlink, b"/"),
        |e| matches!(e, E::RootNotDirectory { .. }),
    );
}

fn raw_pair(a: &[u8], ak: EntryType, alink: &[u8], b: &[u8], bk: EntryType) -> Vec<u8> {
    let mut t = Tar::new();
    t.raw(a, ak, alink, b"").raw(b, bk, b"", b"");
    t.build()
}

/// Entries that replace a symlink must replace it, never follow it, and
/// times of a directory later replaced by a symlink must not be applied
/// through that symlink.
#[test]
fn unpack_replaces_symlinks_without_following_them() {
    if !root() {
        return;
    }
    let s = scene();
    let out = outside_str(&s).to_owned();
    let keep = format!("{out}/keep");
    let mut t = Tar::new();
    t.symlink("f", &keep)
        .file_with("f", b"mine", 0o4755, 1, 1, T0)
        .symlink("d", &out)
        .dir_with("d/", 0o700, 1, 1, T0)
        .symlink("n", &keep)
        .special("n", EntryType::Fifo, (0, 0), 0o600)
        .symlink("h", &keep)
        .file("target", b"t")
        .hardlink("h", "target")
        .symlink("s", &keep)
        .symlink("s", "elsewhere")
        .symlink("ln", &keep)
        .hardlink("ln2", "ln")
        .dir_with("x/", 0o755, 0, 0, 1)
        .dir_with("x/sub/", 0o755, 0, 0, 1)
        .symlink("x", &out)
        .dir_with("y/", 0o755, 0, 0, 1)
        .symlink("y", &keep);
    let mut before = BTreeMap::new();
    snapshot(&s.base, &s.dest, &mut before);
    run(&t.build(), &s.dest).expect("unpack");
    let mut after = BTreeMap::new();
    snapshot(&s.base, &s.dest, &mut after);
    assert_eq!(before, after, "something outside dest changed");
    let d = &s.dest;
    assert_eq!(std::fs::read(d.join("f")).expect("read"), b"mine");
    assert!(lmeta(&d.join("f")).file_type().is_file());
    assert!(lmeta(&d.join("d")).is_dir());
    assert!(lmeta(&d.join("n")).file_type().is_fifo());
    assert_eq!(lmeta(&d.join("h")).ino(), lmeta(&d.join("target")).ino());
    assert_eq!(
        std::fs::read_link(d.join("s")).expect("readlink"),
        Path::new("elsewhere")
    );
    let ln2 = lmeta(&d.join("ln2"));
    assert!(
        ln2.file_type().is_symlink(),
        "a hard link to a symlink links the symlink"
    );
    assert_eq!(ln2.ino(), lmeta(&d.join("ln")).ino());
    assert!(lmeta(&d.join("x")).file_type().is_symlink());
    assert!(lmeta(&d.join("y")).file_type().is_symlink());
}

#[test]
fn unpack_20_mib_file() {
    let s = scene();
    let mut data = vec![0u8; 20 << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut t = Tar::new();
    let uid = u64::from(nix::unistd::geteuid().as_raw());
    let gid = u64::from(nix::unistd::getegid().as_raw());
    t.file_with("big.bin", &data, 0o600, uid, gid, T0)
        .file_with("after", b"ok", 0o600, uid, gid, T0);
    let stats = run(&t.build(), &s.dest).expect("unpack");
    assert_eq!(stats.bytes, (20 << 20) + 2);
    let got = std::fs::read(s.dest.join("big.bin")).expect("read");
    assert_eq!(got.len(), data.len());
    assert_eq!(fnv1a(&got), fnv1a(&data));
    assert!(got == data);
    assert_eq!(std::fs::read(s.dest.join("after")).expect("read"), b"ok");
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn unpack_truncated_tar_is_an_error() {
    let s = scene();
    let mut t = Tar::new();
    t.file("big", &vec![7u8; 1 << 20]);
    let tar = t.build();
    let err = run(&tar[..600 << 10], &s.dest).expect_err("truncated");
    assert!(
        matches!(&err, UnpackError::ArchiveEntry { path, .. } if path == "big"),
        "{err:?}"
    );
    let err = run(&tar[..700], &s.dest).expect_err("truncated header");
    assert!(matches!(
        err,
        UnpackError::ArchiveEntry { .. } | UnpackError::Archive { .. }
    ));
}

#[test]
fn unpack_reads_the_stream_to_eof() {
    struct Counting<'a>(&'a [u8], usize);
    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1 += n;
            Ok(n)
        }
    }
    let s = scene();
    let mut t = Tar::new();
    t.file("a", b"a");
    let mut tar = t.build();
    tar.extend_from_slice(&[0; 20 << 10]);
    let mut reader = Counting(&tar, 0);
    unpack(&mut reader, &s.dest).expect("unpack");
    assert_eq!(reader.1, tar.len());
}

#[test]
fn unpack_cleans_names() {
    let mut out = PathBuf::new();
    for (raw, want) in [
        (&b"./a/b/"[..], "a/b"),
        (b"a//b/./c", "a/b/c"),
        (b"./", ""),
        (b".", ""),
        (b"...", "..."),
        (b"a/..b", "a/..b"),
    ] {
        assert!(clean(raw, &mut out).is_ok(), "{raw:?}");
        assert_eq!(out, Path::new(want));
    }
    assert!(clean(b"/a", &mut out).is_ok());
    assert_eq!(out, Path::new("a"), "rooted in the layer");
    assert!(clean(b"//etc/./x/", &mut out).is_ok());
    assert_eq!(out, Path::new("etc/x"));
    assert!(clean(b"/", &mut out).is_ok());
    assert_eq!(out, Path::new(""));
    assert!(matches!(clean(b"/../a", &mut out), Err(Reject::DotDot)));
    assert!(matches!(clean(b"a/..", &mut out), Err(Reject::DotDot)));
    assert!(matches!(clean(b"a\0b", &mut out), Err(Reject::Nul)));
}

#[test]
fn unpack_parses_pax_times() {
    let t = |v: &[u8]| parse_pax_time(v).map(|t| (t.tv_sec(), t.tv_nsec()));
    assert_eq!(t(b"1600000000"), Some((1_600_000_000, 0)));
    assert_eq!(t(b"1600000000.5"), Some((1_600_000_000, 500_000_000)));
    assert_eq!(t(b"1.1234567891"), Some((1, 123_456_789)));
    assert_eq!(t(b"-1.25"), Some((-2, 750_000_000)));
    assert_eq!(t(b"-3"), Some((-3, 0)));
    assert_eq!(t(b""), None);
    assert_eq!(t(b"1.x"), None);
    assert_eq!(t(b"+1"), None);
}

/// A ~100 MiB layer: `large` = few big files, otherwise image-like
/// (log-uniform 64 B..256 KiB files, a 4 MiB one every 500, 40 files a
/// directory, a symlink every 10 files).
fn bench_tar(large: bool) -> Vec<u8> {
    let blob: Vec<u8> = (0..(8usize << 20)).map(|i| (i * 31 % 251) as u8).collect();
    let big = [
        200usize,
        1 << 10,
        4 << 10,
        16 << 10,
        64 << 10,
        256 << 10,
        1 << 20,
        8 << 20,
    ];
    let mut t = Tar::new();
    let (mut content, mut i, mut x) = (0usize, 0usize, 0x2545_f491_4f6c_dd1du64);
    'dirs: for dir in 0.. {
        t.dir(&format!("usr/d{dir}/"));
        for j in 0..40 {
            if content >= 100 << 20 {
                break 'dirs;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = if large {
                big[i % big.len()]
            } else if i % 500 == 499 {
                4 << 20
            } else {
                // 2^(6 + 12u), u uniform in [0, 1).
                (64.0 * 4096f64.powf((x >> 11) as f64 / (1u64 << 53) as f64)) as usize
            };
            let size = size.min((100 << 20) - content);
            t.file(&format!("usr/d{dir}/f{j}"), &blob[..size]);
            if matches!(j, 0 | 10 | 20 | 30) {
                t.symlink(&format!("usr/d{dir}/l{j}"), &format!("f{j}"));
            }
            content += size;
            i += 1;
        }
    }
    t.build()
}

/// `cargo test --release -p skiff-store unpack_throughput -- --ignored --nocapture`
#[test]
#[ignore = "benchmark"]
fn unpack_throughput() {
    for (name, large) in [("image-like", false), ("large files", true)] {
        let tar = bench_tar(large);
        if let Ok(out) = std::env::var("SKIFF_BENCH_SAVE") {
            std::fs::write(format!("{out}-{large}.tar"), &tar).expect("save tar");
        }
        let base = std::env::var_os("SKIFF_BENCH_DIR").map(PathBuf::from);
        let mut best = f64::MAX;
        let mut stats = UnpackStats::default();
        for _ in 0..7 {
            let tmp = match &base {
                Some(base) => tempfile::tempdir_in(base),
                None => tempfile::tempdir(),
            }
            .expect("tempdir");
            let start = std::time::Instant::now();
            stats = unpack(&tar[..], tmp.path()).expect("unpack");
            best = best.min(start.elapsed().as_secs_f64());
        }
        eprintln!(
            "{name}: {} entries, {} files, {:.1} MiB tar: best {:.3}s = {:.0} MB/s",
            stats.entries,
            stats.files,
            tar.len() as f64 / f64::from(1 << 20),
            best,
            tar.len() as f64 / 1e6 / best
        );
    }
}

#[test]
fn numeric_fields_of_only_nuls_read_as_zero_like_go() {
    if !root() {
        return;
    }
    // What `tar::Header::new_gnu()` leaves when no mode, owner or time is set:
    // NUL-filled numeric fields and a NUL type flag (a regular file).
    let mut h = Header::new_gnu();
    h.set_path("entrypoint.wasm").expect("path");
    h.set_size(4);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"\0asm"[..]).expect("append");
    let tar = b.into_inner().expect("finish");
    let dir = tempfile::tempdir().expect("tempdir");
    run(&tar, dir.path()).expect("a tar with empty numeric fields unpacks");
    let m = lmeta(&dir.path().join("entrypoint.wasm"));
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777, m.len()), (0, 0, 0, 4));
}

/// Absolute names (`umoci insert … /` writes `/` and `/etc/x`) are rooted
/// in the layer, as dockerd and containerd unpack them; a hard link to an
/// absolute name links within the layer.
#[test]
fn unpack_roots_absolute_names_in_the_layer() {
    let s = scene();
    let mut t = Tar::new();
    t.raw(b"/", EntryType::Directory, b"", b"")
        .raw(b"/etc/", EntryType::Directory, b"", b"")
        .raw(ETC_SENTINEL.as_bytes(), EntryType::Regular, b"", b"inside")
        .raw(b"/etc/again", EntryType::Link, ETC_SENTINEL.as_bytes(), b"");
    run(&t.build(), &s.dest).expect("absolute names unpack");
    let inside = s.dest.join(ETC_SENTINEL.trim_start_matches('/'));
    assert_eq!(std::fs::read(&inside).expect("rooted file"), b"inside");
    assert_eq!(
        std::fs::read(s.dest.join("etc/again")).expect("rooted link"),
        b"inside"
    );
    assert!(
        !Path::new(ETC_SENTINEL).exists(),
        "wrote the host's {ETC_SENTINEL}"
    );
}

/// A garbage tar is the input's fault (a 400 for `docker import`, found by
/// tests/tests/hostile_input.rs), a disk error is not.
#[test]
fn garbage_tars_are_bad_input_and_disk_errors_are_not() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let err = run(&garbage, dir.path()).expect_err("garbage is no tar");
    assert!(matches!(err, UnpackError::Archive { .. }), "{err}");
    assert!(err.is_bad_input(), "{err}");
    let disk = UnpackError::Archive {
        source: std::io::Error::from_raw_os_error(libc::ENOSPC),
    };
    assert!(!disk.is_bad_input());
    let missing = run(&[], &dir.path().join("missing")).expect_err("no dest");
    assert!(!missing.is_bad_input(), "{missing}");
}
