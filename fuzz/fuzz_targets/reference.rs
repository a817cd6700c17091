//! Image references, platforms and digests (`skiff_oci`): whatever the
//! string, parsing returns a value or an error, and what it returns prints
//! back to a string that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_oci::{Digest, Platform, Reference};

fuzz_target!(|s: &str| {
    if let Ok(r) = Reference::parse(s) {
        let again = Reference::parse(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again, r, "{s:?} -> {r}");
        let _ = (r.familiar(), r.familiar_name(), r.manifest_reference());
        let _ = (r.registry_host(), r.index_name(), r.auth_config_key());
        let _ = r.clone().with_default_tag();
        let _ = r.with_tag(s);
    }
    if let Ok(p) = Platform::parse(s) {
        let printed = p.to_string();
        let again = Platform::parse(&printed).expect("a printed platform parses");
        assert_eq!(again.normalized(), p.normalized(), "{s:?} -> {printed}");
        let _ = p.compatible();
        let _ = p.accepts(&Platform::host());
    }
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.to_string().parse::<Digest>().expect("reparse"), d);
        let _ = d.short();
    }
    let _ = Digest::from_hex(s);
});
