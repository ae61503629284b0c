//! `atom.lock` parsing never panics, and whatever parses renders to text that parses back to the
//! same lock and renders identically.
#![no_main]

use atom::lock::Lockfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Lockfile::parse(text, "atom.lock") {
        Ok(lock) => {
            let rendered = lock.render();
            let again = Lockfile::parse(&rendered, "atom.lock")
                .unwrap_or_else(|e| panic!("a rendered lock does not parse: {e}\n{rendered}"));
            assert_eq!(again.render(), rendered);
        }
        Err(error) => assert!(error.to_string().starts_with("atom.lock:")),
    }
});
