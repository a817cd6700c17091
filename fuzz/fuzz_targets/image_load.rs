//! `docker load` (`ImageService::load`) of hostile docker-archive and
//! OCI-archive tars, without a daemon: an image service over a scratch data
//! root. Any archive is loaded or refused with an error; never a panic, and
//! nothing is written outside the data root.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use skiff_engine::events::Events;
use skiff_engine::images::ImageService;

#[derive(Debug, Arbitrary)]
enum Input {
    /// An archive made of these members.
    Members(Vec<(Name, Vec<u8>)>),
    /// Raw bytes.
    Raw(Vec<u8>),
}

/// The member names `docker load` looks for, and some it must not follow.
#[derive(Debug, Arbitrary, Clone, Copy)]
enum Name {
    Manifest,
    Index,
    OciLayout,
    Repositories,
    /// `blobs/sha256/<hex of the member's own content>`.
    Blob,
    /// `<hex>/layer.tar`, a docker-archive layer.
    Layer,
    /// `<hex>.json`, a docker-archive config.
    Config,
    DotDot,
    Absolute,
}

fn service() -> &'static ImageService {
    static SERVICE: OnceLock<ImageService> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let base = std::env::var_os("SKIFF_FUZZ_SANDBOX")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let root = base.join(format!("skiff-fuzz-load-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("data root");
        ImageService::open(&root, Default::default(), Events::new()).expect("image service")
    })
}

fn sha256_hex(data: &[u8]) -> String {
    skiff_oci::Digest::of(data).hex().to_owned()
}

fn archive(members: &[(Name, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members.iter().take(12) {
        let hex = sha256_hex(data);
        let path = match name {
            Name::Manifest => "manifest.json".to_owned(),
            Name::Index => "index.json".to_owned(),
            Name::OciLayout => "oci-layout".to_owned(),
            Name::Repositories => "repositories".to_owned(),
            Name::Blob => format!("blobs/sha256/{hex}"),
            Name::Layer => format!("{hex}/layer.tar"),
            Name::Config => format!("{hex}.json"),
            Name::DotDot => "../escape".to_owned(),
            Name::Absolute => "/tmp/skiff-fuzz-escape".to_owned(),
        };
        let mut h = tar::Header::new_gnu();
        let bytes = path.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, &data[..]).expect("append");
    }
    b.into_inner().expect("finish")
}

fuzz_target!(|input: Input| {
    let tar = match &input {
        Input::Members(m) => archive(m),
        Input::Raw(bytes) => bytes.clone(),
    };
    let _ = service().load(&tar[..]);
    assert!(
        !std::path::Path::new("/tmp/skiff-fuzz-escape").exists(),
        "load wrote an absolute member name"
    );
});
