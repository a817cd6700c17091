//! Manifest, index and image-config JSON (`skiff_oci::documents`) as a
//! registry or an archive may send them: parsing never panics, a parsed
//! document serialises and parses back to itself, and platform selection
//! over any index returns one of its entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_oci::documents::{ImageConfig, Index, Manifest};
use skiff_oci::platform::{self, Platform};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        let out = serde_json::to_vec(&m).expect("serialise manifest");
        let back: Manifest = serde_json::from_slice(&out).expect("reparse manifest");
        assert_eq!(back, m);
    }
    if let Ok(i) = serde_json::from_slice::<Index>(data) {
        let out = serde_json::to_vec(&i).expect("serialise index");
        let back: Index = serde_json::from_slice(&out).expect("reparse index");
        assert_eq!(back, i);
        for p in [
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "windows/amd64",
        ] {
            let p = Platform::parse(p).expect("platform");
            if let Some(d) = platform::select(&i.manifests, &p) {
                assert!(i.manifests.iter().any(|m| std::ptr::eq(m, d)));
            }
        }
        for d in &i.manifests {
            let _ = platform::is_attestation(d);
        }
    }
    if let Ok(c) = serde_json::from_slice::<ImageConfig>(data) {
        let out = serde_json::to_vec(&c).expect("serialise config");
        let _: ImageConfig = serde_json::from_slice(&out).expect("reparse config");
    }
});
