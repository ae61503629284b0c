//! `atom.toml` and `ekala.toml` parsing never panics; a parsed manifest converts to JSON, and an
//! error always renders with its position.
#![no_main]

use atom::manifest::set::SetManifest;
use atom::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(text, "atom.toml") {
        Ok(manifest) => {
            let _ = manifest.to_json();
        }
        Err(error) => assert!(error.to_string().starts_with("atom.toml:")),
    }
    if let Err(error) = SetManifest::parse(text, "ekala.toml") {
        assert!(error.to_string().starts_with("ekala.toml:"));
    }
});
