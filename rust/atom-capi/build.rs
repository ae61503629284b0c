//! Gives the shared library a SONAME that carries the ABI major version, so that programs linked
//! against one major version never load an incompatible one.

fn main() {
    // Keep in sync with `ATOM_ABI_MAJOR` in src/lib.rs (a test checks the SONAME).
    let major = 0;
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libatom.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
