//! The checker over a data root made by the real image service, then
//! damaged one way at a time.

use std::path::Path;

use skiff_registry::RegistryConfig;

use super::*;
use crate::events::Events;
use crate::images::ImageService;
use crate::images::import::ImportRequest;

/// A data root holding one imported image `app:latest`.
fn data_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let images =
        ImageService::open(dir.path(), RegistryConfig::default(), Events::new()).expect("images");
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "etc/app", &b"hello"[..])
        .expect("tar");
    let layer = tar.into_inner().expect("tar");
    images
        .import(
            &layer[..],
            &ImportRequest {
                repo: Some("app".into()),
                ..ImportRequest::default()
            },
        )
        .expect("import");
    dir
}

/// Every path under `root` with its size, to show nothing changed.
fn listing(root: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for e in fs::read_dir(&dir).expect("read_dir").flatten() {
            let meta = e.metadata().expect("meta");
            out.push((e.path().display().to_string(), meta.len()));
            if meta.is_dir() {
                todo.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn problems(root: &Path) -> Vec<String> {
    check(root)
        .expect("check")
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_fresh_data_root_is_clean_and_checking_changes_nothing() {
    let root = data_root();
    let before = listing(root.path());
    let report = check(root.path()).expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert!(
        report.counts.contains(&("images", 1)),
        "{:?}",
        report.counts
    );
    assert_eq!(listing(root.path()), before);
}

#[test]
fn a_blob_that_does_not_hash_to_its_name_is_found() {
    let root = data_root();
    let index: ImageIndex =
        serde_json::from_slice(&fs::read(root.path().join("images/images.json")).expect("index"))
            .expect("parse");
    let (id, _) = index.images.iter().next().expect("image");
    let config = root.path().join("content/blobs/sha256").join(id.hex());
    fs::write(&config, b"{}").expect("corrupt");
    let found = problems(root.path());
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&format!("content: blob {id}: its content hashes to"))),
        "{found:?}"
    );
    // And the image now misses its (verified) config.
    assert!(
        found.contains(&format!("images: image {id}: its config blob is missing")),
        "{found:?}"
    );
}

#[test]
fn missing_layers_orphans_and_bad_records_are_found_and_temporaries_noted() {
    let root = data_root();
    let r = root.path();
    let snapshot = fs::read_dir(r.join("snapshots"))
        .expect("snapshots")
        .flatten()
        .next()
        .expect("one snapshot")
        .path();
    let layer = snapshot
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_owned();
    fs::remove_file(snapshot.join("layer.json")).expect("rm record");
    let orphan = Digest::of(b"orphan");
    fs::create_dir_all(r.join("snapshots").join(orphan.hex()).join("fs")).expect("orphan");
    fs::write(
        r.join("snapshots").join(orphan.hex()).join("layer.json"),
        "{}",
    )
    .expect("record");
    fs::create_dir_all(r.join("containers/abc")).expect("container dir");
    fs::write(r.join("content/ingest/.tmp-x-1"), b"partial").expect("ingest temp");
    fs::write(r.join("content/ingest/download"), b"partial").expect("ingest");

    let report = check(r).expect("check");
    let found: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    for want in [
        "images: image sha256:".to_owned(),
        format!("layer sha256:{layer} is not unpacked"),
        format!("snapshots: layer sha256:{layer}: its record:"),
        format!("snapshots: layer {orphan}: no image uses it (orphaned)"),
        "containers/abc/container.json".to_owned(),
    ] {
        assert!(
            found.iter().any(|p| p.contains(&want)),
            "{want} in {found:?}"
        );
    }
    assert_eq!(report.notes.len(), 2, "{:?}", report.notes);
}

#[test]
fn a_missing_data_root_is_an_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let e = check(&root.path().join("nope")).expect_err("missing");
    assert!(e.to_string().contains("nope"), "{e}");
}
