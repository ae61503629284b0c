//! Name validation never panics and is idempotent: a validated name validates to itself, within
//! 128 bytes, for every kind; labels are tags, identifiers are labels.
#![no_main]

use atom::id::{Identifier, Label, Tag, MAX_NAME_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = Identifier::new(text) {
        assert!(Label::new(&id).is_ok());
    }
    if let Ok(label) = Label::new(text) {
        assert!(label.len() <= MAX_NAME_BYTES);
        assert_eq!(Label::new(&label).as_ref(), Ok(&label));
        assert!(Tag::new(&label).is_ok());
    }
    if let Ok(tag) = Tag::new(text) {
        assert!(!tag.contains(".."));
        assert_eq!(Tag::new(&tag).as_ref(), Ok(&tag));
    }
});
