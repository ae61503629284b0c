//! Gives the core `ATOM_BUILD_ID`: its version and a hash of its sources, so that what the atom
//! store remembers from one build (parsed files, loaded graphs) is never read by a build whose
//! code differs, even under the same version.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("the core's sources can be listed");
    for entry in entries {
        let path = entry.expect("the core's sources can be listed").path();
        if path.is_dir() {
            sources(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut found = Vec::new();
    sources(Path::new("src"), &mut found);
    found.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for path in &found {
        path.hash(&mut hasher);
        std::fs::read(path)
            .expect("the core's sources can be read")
            .hash(&mut hasher);
    }
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!(
        "cargo:rustc-env=ATOM_BUILD_ID={version}+{:016x}",
        hasher.finish()
    );
}
