//! `daemon.json`: any file parses to a configuration or an error (never a
//! panic), and merging it with no flags either succeeds or names the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff_engine::config::{Config, FileConfig, Flags};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = serde_json::from_slice::<FileConfig>(data) else {
        return;
    };
    let _ = Config::merge(
        Flags::default(),
        file,
        std::path::Path::new("/etc/skiff/daemon.json"),
    );
});
