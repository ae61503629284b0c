//! The atom commit (docs/format.md#the-atom-commit): its bytes depend only on (tree, origin
//! commit, label, version).

use gix::bstr::BString;
use gix::ObjectId;

use crate::id::Label;
use crate::manifest::Version;

/// The `format` header of the commits this implementation writes.
pub const FORMAT: &str = "pre1";

/// An atom commit, not yet written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomCommit(gix::objs::Commit);

impl AtomCommit {
    /// The atom commit for `label` at `version` whose content is `tree`, published from
    /// `origin`: no parents, empty author and committer at time 0, headers `origin` then
    /// `format pre1`, and the message `publish(<label>): <version>` without a trailing newline.
    pub fn new(tree: ObjectId, origin: ObjectId, label: &Label, version: &Version) -> AtomCommit {
        let nobody = gix::actor::Signature {
            name: BString::default(),
            email: BString::default(),
            time: gix::date::Time {
                seconds: 0,
                offset: 0,
            },
        };
        AtomCommit(gix::objs::Commit {
            tree,
            parents: Default::default(),
            author: nobody.clone(),
            committer: nobody,
            encoding: None,
            message: format!("publish({label}): {version}").into(),
            extra_headers: vec![
                ("origin".into(), origin.to_hex().to_string().into()),
                ("format".into(), FORMAT.into()),
            ],
        })
    }

    /// The id git gives it.
    pub fn id(&self) -> ObjectId {
        use gix::objs::WriteTo;
        let mut bytes = Vec::new();
        self.0
            .write_to(&mut bytes)
            .expect("writing to memory cannot fail");
        gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::object::Kind::Commit, &bytes)
            .expect("SHA-1 hashing of a small buffer cannot fail")
    }

    pub(super) fn object(&self) -> &gix::objs::Commit {
        &self.0
    }
}
