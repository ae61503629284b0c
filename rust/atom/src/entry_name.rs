//! Which names a tree entry of an atom may have. An atom's tree is written out into directories
//! (the atom store's trees, a materialised pin), so a name is accepted only when it is an
//! ordinary file name on every file system git runs on: UTF-8, not empty, not `.` or `..`,
//! without `/`, `\` or control characters, and not a spelling of `.git` that some file system
//! (or git itself) would take for a repository's own directory. A `.git` directory inside a
//! materialised tree would make `git status` there run whatever its configuration says.

/// Why a tree entry name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeName {
    /// The name is not UTF-8.
    #[error("it is not UTF-8")]
    NotUtf8,
    /// The name is empty, `.` or `..`.
    #[error("it is empty, `.` or `..`")]
    Relative,
    /// The name holds `/` or `\`.
    #[error("it holds a path separator")]
    Separator,
    /// The name holds a control character (which would also rewrite a terminal it is shown on).
    #[error("it holds a control character")]
    Control,
    /// The name is `.git` for some file system: any case, trailing dots or spaces, an NTFS short
    /// name or stream, characters HFS+ ignores.
    #[error("it names git's own directory on some file systems (a `.git` spelling)")]
    GitDir,
}

/// `name` as text, when it is a safe name for a tree entry (see the module documentation).
pub fn check(name: &[u8]) -> Result<&str, UnsafeName> {
    let name = std::str::from_utf8(name).map_err(|_| UnsafeName::NotUtf8)?;
    if name.is_empty() || name == "." || name == ".." {
        return Err(UnsafeName::Relative);
    }
    if name.contains(['/', '\\']) {
        return Err(UnsafeName::Separator);
    }
    if name.chars().any(char::is_control) {
        return Err(UnsafeName::Control);
    }
    if is_git_dir(name) {
        return Err(UnsafeName::GitDir);
    }
    Ok(name)
}

/// Characters HFS+ leaves out when it compares names (zero-width joiners, direction marks and
/// the byte-order mark), so that `.g\u{200c}it` is `.git` there.
fn hfs_ignored(c: char) -> bool {
    matches!(c, '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}')
}

/// Whether a file system could take `name` for `.git`: after dropping the characters HFS+
/// ignores, folding case (and compatibility forms, which no file system needs but costs
/// nothing), dropping an NTFS stream suffix (`.git::$INDEX_ALLOCATION`) and the trailing dots and
/// spaces NTFS drops, it is `.git` or NTFS's short name `git~1`.
fn is_git_dir(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = name
        .chars()
        .filter(|c| !hfs_ignored(*c))
        .nfkc()
        .flat_map(char::to_lowercase)
        .collect();
    let base = folded.split(':').next().unwrap_or_default();
    let base = base.trim_end_matches(['.', ' ']);
    base == ".git" || base == "git~1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "mod.nix",
            ".gitignore",
            ".github",
            "git",
            "gitx",
            ".git-blame-ignore-revs",
            "ünïcödé.nix",
            "a:b",
        ] {
            assert_eq!(check(name.as_bytes()), Ok(name), "{name}");
        }
    }

    #[test]
    fn spellings_of_dot_git_are_refused() {
        for name in [
            ".git",
            ".GIT",
            ".Git",
            ".git.",
            ".git ",
            ".git. . ",
            "git~1",
            "GIT~1",
            ".git::$INDEX_ALLOCATION",
            ".g\u{200c}it",
            "\u{feff}.git",
            ".gi\u{206f}t",
            ".\u{ff47}it",
        ] {
            assert_eq!(check(name.as_bytes()), Err(UnsafeName::GitDir), "{name:?}");
        }
    }

    #[test]
    fn other_unsafe_names_are_refused() {
        assert_eq!(check(b""), Err(UnsafeName::Relative));
        assert_eq!(check(b"."), Err(UnsafeName::Relative));
        assert_eq!(check(b".."), Err(UnsafeName::Relative));
        assert_eq!(check(b"a/b"), Err(UnsafeName::Separator));
        assert_eq!(check(b"a\\b"), Err(UnsafeName::Separator));
        assert_eq!(check(b"a\nb"), Err(UnsafeName::Control));
        assert_eq!(check(b"\x1b[2J"), Err(UnsafeName::Control));
        assert_eq!(check(b"\xff"), Err(UnsafeName::NotUtf8));
    }
}
