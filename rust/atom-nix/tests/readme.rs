//! The README's worked example, run as written: every `sh` block between `<!-- example:begin -->`
//! and `<!-- example:end -->`, in order, in one `bash` in a fresh directory, with the real `atom`
//! CLI on `PATH` and the real plugin in `ATOM_PLUGIN`. Each `# => ` line must be a line of the
//! output, in order, and each file shown (after `<!-- file: PATH -->`) must be what is there.

mod common;

use std::path::Path;
use std::process::Command;

use common::support::{self, repo_root};
use common::{plugin, scratch, stderr};

/// The example section of the README: (script, expected output lines, expected files).
fn example() -> (String, Vec<String>, Vec<(String, String)>) {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- example:begin -->")
        .expect("the README has an example");
    let end = readme.find("<!-- example:end -->").expect("it ends");
    let section = &readme[start..end];
    let mut script = String::new();
    let mut outputs = Vec::new();
    let mut files = Vec::new();
    let mut pending_file: Option<String> = None;
    let mut block: Option<(String, String)> = None;
    for line in section.lines() {
        if let Some((kind, text)) = &mut block {
            if line == "```" {
                match kind.as_str() {
                    "sh" => script.push_str(text),
                    "toml" => {
                        if let Some(path) = pending_file.take() {
                            files.push((path, text.clone()));
                        }
                    }
                    other => panic!("unexpected block kind {other} in the example"),
                }
                block = None;
            } else {
                if kind == "sh" {
                    if let Some(output) = line.strip_prefix("# => ") {
                        outputs.push(output.to_owned());
                    }
                }
                text.push_str(line);
                text.push('\n');
            }
        } else if let Some(kind) = line.strip_prefix("```") {
            block = Some((kind.to_owned(), String::new()));
        } else if let Some(path) = line
            .strip_prefix("<!-- file: ")
            .and_then(|l| l.strip_suffix(" -->"))
        {
            pending_file = Some(path.to_owned());
        }
    }
    (script, outputs, files)
}

#[test]
fn the_readme_example_runs_as_written() {
    let (script, outputs, files) = example();
    assert!(script.contains("atom add") && script.contains("nix-instantiate"));
    assert!(
        outputs.len() >= 3 && files.len() == 3,
        "{outputs:?} {files:?}"
    );
    let atom = support::artifact("atom", &["rust/atom/src", "rust/atom-cli/src"]);
    let bin = atom.parent().unwrap();
    let top = scratch("readme-example");
    let dir = top.join("demo");
    let home = top.join("home");
    std::fs::create_dir_all(&dir).unwrap();
    // The Nix under test first (2.8 or 2.26), as every plugin test runs it.
    let path = format!(
        "{}:{}",
        bin.display(),
        common::search_path().to_string_lossy()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("NIX_CONF_DIR", home.join("etc"))
        .env("NIX_REMOTE", "dummy://")
        .env("GC_INITIAL_HEAP_SIZE", "1000000")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Example")
        .env("GIT_AUTHOR_EMAIL", "example@example.com")
        .env("GIT_COMMITTER_NAME", "Example")
        .env("GIT_COMMITTER_EMAIL", "example@example.com")
        .env("ATOM_PLUGIN", plugin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the example failed:\n{stdout}\n{}",
        stderr(&output)
    );
    // Each expected line, in order.
    let mut lines = stdout.lines();
    for expected in &outputs {
        assert!(
            lines.any(|l| l == expected),
            "expected {expected:?} (in order) in:\n{stdout}"
        );
    }
    for (path, expected) in &files {
        let found = std::fs::read_to_string(dir.join(path)).unwrap();
        assert_eq!(
            found,
            expected.replace("/tmp/demo", &dir.display().to_string()),
            "{path}"
        );
    }
    // The atom store the example set up was used.
    assert!(Path::new(&dir.join("store")).read_dir().unwrap().count() > 0);
}
