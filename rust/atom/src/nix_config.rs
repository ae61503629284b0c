//! Reading one setting from Nix's configuration the way Nix does, so that the `atom` CLI finds
//! the same atom store (`atom-store`) as the plugin inside Nix.
//!
//! Nix reads, in this order, a later value overriding an earlier one:
//! 1. `$NIX_CONF_DIR/nix.conf` (`/etc/nix/nix.conf` when `NIX_CONF_DIR` is unset);
//! 2. the user's files: those listed in `$NIX_USER_CONF_FILES` (`:`-separated, the first one
//!    winning), else `nix/nix.conf` in `$XDG_CONFIG_HOME` (default `~/.config`) and in each
//!    directory of `$XDG_CONFIG_DIRS` (default `/etc/xdg`), `$XDG_CONFIG_HOME` winning;
//! 3. the `NIX_CONFIG` environment variable (the text of a configuration file).
//!
//! A file is lines of `name = value`; `#` starts a comment; `include PATH` and `!include PATH`
//! (the latter ignoring a missing file) read another file, relative to the including one.
//! Missing files are skipped; unreadable ones too (Nix warns about them itself).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The value of the setting `name` in Nix's configuration, read from the files and variables
/// named by `env` (an environment lookup, e.g. `std::env::var_os`); `None` when no file sets it.
/// An empty value counts as set (it is what the configuration says).
pub fn setting(name: &str, env: &dyn Fn(&str) -> Option<OsString>) -> Option<String> {
    let var = |key: &str| env(key).filter(|v| !v.is_empty());
    let mut value = None;
    let conf_dir = var("NIX_CONF_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/nix"));
    read_file(&conf_dir.join("nix.conf"), name, &mut value, 0);
    for file in user_files(&var).iter().rev() {
        read_file(file, name, &mut value, 0);
    }
    if let Some(text) = var("NIX_CONFIG") {
        apply(&text.to_string_lossy(), Path::new("."), name, &mut value, 0);
    }
    value
}

/// [`setting`] with this process's environment.
pub fn setting_from_env(name: &str) -> Option<String> {
    setting(name, &|key| std::env::var_os(key))
}

/// The user's configuration files, highest priority first.
fn user_files(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    if let Some(files) = var("NIX_USER_CONF_FILES") {
        return std::env::split_paths(&files)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    let home = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")));
    let dirs = var("XDG_CONFIG_DIRS").unwrap_or_else(|| OsString::from("/etc/xdg"));
    home.into_iter()
        .chain(std::env::split_paths(&dirs).filter(|p| !p.as_os_str().is_empty()))
        .map(|dir| dir.join("nix/nix.conf"))
        .collect()
}

/// Deep enough for any real configuration; stops include cycles.
const MAX_INCLUDE_DEPTH: usize = 16;

fn read_file(path: &Path, name: &str, value: &mut Option<String>, depth: usize) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    if let Ok(text) = std::fs::read_to_string(path) {
        let dir = path.parent().unwrap_or(Path::new("."));
        apply(&text, dir, name, value, depth);
    }
}

/// Applies the lines of a configuration text (from a file in `dir`).
fn apply(text: &str, dir: &Path, name: &str, value: &mut Option<String>, depth: usize) {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["include" | "!include", file] => {
                read_file(&dir.join(file), name, value, depth + 1);
            }
            [key, "=", rest @ ..] if *key == name => *value = Some(rest.join(" ")),
            _ => {}
        }
    }
}

/// The name of the plugin's setting for the atom store.
pub const ATOM_STORE_SETTING: &str = "atom-store";

/// The atom store, found as the plugin finds it inside Nix: the `atom-store` setting of Nix's
/// configuration when it is set and not empty (`nix.conf`, `NIX_CONFIG`; the plugin also sees
/// `--option atom-store`, which for the CLI is `--store`), else [`crate::store::Store::from_env`]
/// (`$ATOM_STORE`, else `$XDG_CACHE_HOME/atom/store`, else `~/.cache/atom/store`).
pub fn store_from_env() -> Result<crate::store::Store, crate::store::StoreError> {
    match setting_from_env(ATOM_STORE_SETTING).filter(|v| !v.is_empty()) {
        Some(dir) => Ok(crate::store::Store::new(dir)),
        None => crate::store::Store::from_env(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn later_sources_win_and_includes_are_followed() {
        let dir = std::env::temp_dir().join(format!("atom-nix-config-{}", std::process::id()));
        let etc = dir.join("etc");
        let user = dir.join("config/nix");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(&user).unwrap();
        std::fs::write(
            etc.join("nix.conf"),
            "# system\natom-store = /system # comment\nother = 1\n",
        )
        .unwrap();
        let vars: HashMap<&str, OsString> = [
            ("NIX_CONF_DIR", etc.clone().into_os_string()),
            ("XDG_CONFIG_HOME", dir.join("config").into_os_string()),
            ("XDG_CONFIG_DIRS", dir.join("none").into_os_string()),
        ]
        .into_iter()
        .collect();
        let env = |vars: HashMap<&'static str, OsString>| move |key: &str| vars.get(key).cloned();
        assert_eq!(
            setting("atom-store", &env(vars.clone())).as_deref(),
            Some("/system")
        );
        std::fs::write(user.join("nix.conf"), "!include extra.conf\n").unwrap();
        std::fs::write(user.join("extra.conf"), "atom-store = /user\n").unwrap();
        assert_eq!(
            setting("atom-store", &env(vars.clone())).as_deref(),
            Some("/user")
        );
        let mut with_env = vars.clone();
        with_env.insert("NIX_CONFIG", "atom-store = /env\n".into());
        assert_eq!(
            setting("atom-store", &env(with_env)).as_deref(),
            Some("/env")
        );
        assert_eq!(setting("missing", &env(vars)), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
