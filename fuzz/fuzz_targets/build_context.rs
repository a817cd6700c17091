//! The build context of `docker build`, fed hostile contexts: a tar (or
//! raw bytes: any compression is sniffed) with names that climb out, links
//! out of the context, a Dockerfile behind a symlink, and a
//! `.dockerignore`; then what a build does with it before any image is
//! touched: the Dockerfile is found, `.dockerignore` applied to the build
//! files, `COPY` sources (paths and globs) checksummed and matched, the
//! context extracted.
//!
//! Invariants: **nothing outside the context and scratch directories
//! changes** (the tree around them is compared after every run, as the
//! `unpack` target does); `.dockerignore` matching is prefix-closed (with
//! no `!` rule, what excludes a directory excludes what is under it).
#![no_main]

mod tree;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use skiff_engine::build::context::{Context, ignored};
use tree::{assert_unchanged, clear, sandbox_dir, state};

#[derive(Debug, Arbitrary)]
enum Input {
    Context(Ctx),
    /// Any bytes as the request body (the seeds: real contexts).
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Ctx {
    entries: Vec<Entry>,
    /// `.dockerignore`'s lines.
    rules: Vec<Rule>,
    /// `dockerfile=`.
    dockerfile: Option<Vec<Part>>,
    /// The sources of some `COPY`s.
    copies: Vec<Vec<Vec<Part>>>,
}

#[derive(Debug, Arbitrary)]
struct Entry {
    kind: Kind,
    path: Vec<Part>,
    link: Vec<Part>,
    mode: u16,
    content: Vec<u8>,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
}

#[derive(Debug, Arbitrary)]
enum Rule {
    Pattern { keep: bool, parts: Vec<Part> },
    Text(String),
}

/// Path components and pattern pieces a hostile context would use.
#[derive(Debug, Arbitrary, Clone, Copy)]
enum Part {
    A,
    B,
    Dot,
    DotDot,
    Empty,
    Star,
    DoubleStar,
    Question,
    Class,
    Dockerfile,
    DockerIgnore,
    /// The absolute path of the `outside` directory.
    Outside,
    /// `/`.
    Root,
}

struct Sandbox {
    /// The top of the watched tree.
    top: PathBuf,
    /// `top/l1/ctx`: the context directory.
    ctx: PathBuf,
    /// `top/l1/scratch`: the build's scratch directory.
    scratch: PathBuf,
    /// `top/l1/outside`.
    outside: PathBuf,
    /// The watched tree as it was before any run.
    before: BTreeMap<PathBuf, String>,
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let top = sandbox_dir("context");
        let l1 = top.join("l1");
        let outside = l1.join("outside");
        std::fs::create_dir_all(outside.join("a")).expect("sandbox");
        std::fs::write(outside.join("a/b"), b"outside").expect("sandbox");
        std::fs::write(outside.join("Dockerfile"), b"FROM outside\n").expect("sandbox");
        std::fs::write(top.join("b"), b"one up").expect("sandbox");
        let (ctx, scratch) = (l1.join("ctx"), l1.join("scratch"));
        std::fs::create_dir(&ctx).expect("sandbox");
        std::fs::create_dir(&scratch).expect("sandbox");
        let before = watched(&top, &ctx, &scratch);
        Sandbox {
            top,
            ctx,
            scratch,
            outside,
            before,
        }
    })
}

/// The tree under `top` but the context and scratch directories.
fn watched(top: &Path, ctx: &Path, scratch: &Path) -> BTreeMap<PathBuf, String> {
    let mut s = state(top, ctx);
    s.retain(|p, _| !p.starts_with(scratch));
    s
}

fn join(parts: &[Part], outside: &Path) -> String {
    let words: Vec<String> = parts
        .iter()
        .take(6)
        .map(|p| match p {
            Part::A => "a".into(),
            Part::B => "b".into(),
            Part::Dot => ".".into(),
            Part::DotDot => "..".into(),
            Part::Empty => String::new(),
            Part::Star => "*".into(),
            Part::DoubleStar => "**".into(),
            Part::Question => "?".into(),
            Part::Class => "[a-c]".into(),
            Part::Dockerfile => "Dockerfile".into(),
            Part::DockerIgnore => ".dockerignore".into(),
            Part::Outside => outside.display().to_string(),
            Part::Root => "/".into(),
        })
        .collect();
    let mut s = words.join("/");
    s.truncate(99);
    s
}

fn tar_of(ctx: &Ctx, rules: &str, outside: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut entries: Vec<(tar::EntryType, String, String, u32, &[u8])> = ctx
        .entries
        .iter()
        .take(16)
        .map(|e| {
            let (ty, data): (_, &[u8]) = match e.kind {
                Kind::File => (
                    tar::EntryType::Regular,
                    &e.content[..e.content.len().min(64)],
                ),
                Kind::Dir => (tar::EntryType::Directory, &[]),
                Kind::Symlink => (tar::EntryType::Symlink, &[]),
                Kind::Hardlink => (tar::EntryType::Link, &[]),
                Kind::Fifo => (tar::EntryType::Fifo, &[]),
            };
            let (path, link) = (join(&e.path, outside), join(&e.link, outside));
            (ty, path, link, u32::from(e.mode) & 0o7777, data)
        })
        .collect();
    if !rules.is_empty() {
        entries.push((
            tar::EntryType::Regular,
            ".dockerignore".into(),
            String::new(),
            0o644,
            rules.as_bytes(),
        ));
    }
    for (ty, path, link, mode, data) in entries {
        let mut h = tar::Header::new_ustar();
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        let l = link.as_bytes();
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }
    b.into_inner().expect("finish tar")
}

/// What a build does with a received context, none of which may write
/// outside it.
fn build_steps(tar: Vec<u8>, name: Option<&str>, copies: &[Vec<String>], sb: &Sandbox) {
    let Ok(mut ctx) = Context::receive(Cursor::new(tar), &sb.ctx, &sb.scratch, name) else {
        return;
    };
    let _ = ctx.dockerfile(name);
    ctx.drop_ignored_build_files(name);
    for srcs in copies.iter().take(4) {
        let srcs: Vec<String> = srcs.iter().take(4).cloned().collect();
        let _ = ctx.checksum(&srcs, "");
        for s in &srcs {
            let _ = ctx.glob(s);
        }
    }
    let _ = ctx.materialize();
    for srcs in copies.iter().take(2) {
        for s in srcs.iter().take(4) {
            let _ = ctx.glob(s);
        }
    }
}

fuzz_target!(|input: Input| {
    let sb = sandbox();
    let (tar, rules, name, copies) = match &input {
        Input::Context(c) => {
            let rules: Vec<String> = c
                .rules
                .iter()
                .take(8)
                .map(|r| match r {
                    Rule::Pattern { keep, parts } => {
                        format!(
                            "{}{}",
                            if *keep { "!" } else { "" },
                            join(parts, &sb.outside)
                        )
                    }
                    Rule::Text(t) => t.chars().take(64).collect(),
                })
                .collect();
            let rules = rules.join("\n");
            let copies = c
                .copies
                .iter()
                .map(|srcs| srcs.iter().map(|p| join(p, &sb.outside)).collect())
                .collect();
            let name = c.dockerfile.as_ref().map(|p| join(p, &sb.outside));
            (tar_of(c, &rules, &sb.outside), rules, name, copies)
        }
        Input::Raw(body) => {
            let copies = [".", "*", "a", "src/*.rs"]
                .map(|s| vec![s.to_owned()])
                .to_vec();
            (body.clone(), String::new(), None, copies)
        }
    };
    // `.dockerignore`: prefix-closed without re-includes.
    if !rules.contains('!') {
        for name in ["a", "a/b", "Dockerfile", ".dockerignore", "b/a"] {
            if ignored(&rules, name) {
                assert!(
                    ignored(&rules, &format!("{name}/x")),
                    "{rules:?} ignores {name} but not {name}/x"
                );
            }
        }
    }
    build_steps(tar, name.as_deref(), &copies, sb);
    let after = watched(&sb.top, &sb.ctx, &sb.scratch);
    assert_unchanged(&sb.before, &after, "the build context");
    clear(&sb.ctx);
    clear(&sb.scratch);
});
