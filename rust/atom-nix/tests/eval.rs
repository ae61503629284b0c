//! The real plugin loaded into the real Nix 2.8 (`nix-instantiate` and `nix`), evaluating with
//! `--store dummy://` and a scratch HOME, so nothing outside the test's directory is touched.

mod common;

use std::fs;
use std::process::Command;

use common::*;

const ROOT: &str = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";

/// The plugin's dynamic section, as `readelf -d` prints it.
fn dynamic_section() -> String {
    let output = Command::new("readelf")
        .arg("-d")
        .arg(plugin())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn plugin_links_nix_so_its_registration_was_kept() {
    let dynamic = dynamic_section();
    assert!(
        dynamic.contains("Shared library: [libnixexpr.so]"),
        "{dynamic}"
    );
}

/// The plugin never touches the network, so it is built without the HTTP transport: linking
/// curl would start libcurl and OpenSSL in every evaluation that loads it.
#[test]
fn plugin_links_no_http_client() {
    let dynamic = dynamic_section();
    assert!(dynamic.contains("(NEEDED)"), "{dynamic}");
    for library in ["libcurl", "libssl", "libcrypto"] {
        assert!(
            !dynamic.contains(&format!("Shared library: [{library}")),
            "the plugin links {library} (build it alone: `cargo build -p atom-nix`):\n{dynamic}"
        );
    }
}

#[test]
fn builtins_has_atom_under_nix_instantiate() {
    assert_eq!(eval_ok("builtins ? atom"), "true");
    assert_eq!(eval_ok("builtins.typeOf builtins.atom"), "\"set\"");
}

#[test]
fn builtins_has_atom_under_nix_eval() {
    let home = scratch("nix-eval");
    let output = nix_command("nix", &home)
        // The plugin option must come before the subcommand.
        .args(["--option", "plugin-files"])
        .arg(plugin())
        .args([
            "--extra-experimental-features",
            "nix-command",
            "eval",
            "--store",
            "dummy://",
            "--expr",
            "builtins ? atom && builtins.atom.version != \"\"",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "true");
}

#[test]
fn version_is_the_crate_version() {
    assert_eq!(
        eval_ok("builtins.atom.version"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn id_computes_the_published_vectors() {
    assert_eq!(
        eval_ok(&format!(
            "builtins.atom.id {{ root = \"{ROOT}\"; label = \"atom-nix\"; }}"
        )),
        "\"r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0\""
    );
    assert_eq!(
        eval_ok(
            "builtins.atom.id { root = \"4abbd2644bc3585e9be95deb277ccf48f6ed26ac\"; label = \"nix-lock\"; }"
        ),
        "\"r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0\""
    );
}

#[test]
fn id_errors_name_the_builtin_the_problem_and_the_callers_position() {
    let err =
        eval_err("let x = 1; in\n  builtins.atom.id { root = \"68b6\"; label = \"atom-nix\"; }");
    assert!(
        err.contains(
            "error: builtins.atom.id: invalid root \"68b6\": a root commit id has 40 hexadecimal digits, this one has 4 characters"
        ),
        "{err}"
    );
    assert!(err.contains("at «string»:2:3:"), "{err}");

    let err = eval_err(&format!(
        "builtins.atom.id {{ root = \"{ROOT}\"; label = \"9atom\"; }}"
    ));
    assert!(
        err.contains("builtins.atom.id: invalid label \"9atom\": cannot start with: '9'"),
        "{err}"
    );

    let err = eval_err(&format!("builtins.atom.id {{ root = \"{ROOT}\"; }}"));
    assert!(
        err.contains("builtins.atom.id: missing attribute 'label' (expected { root = \"<40-hex root commit>\"; label = \"<label>\"; })"),
        "{err}"
    );

    let err = eval_err(&format!(
        "builtins.atom.id {{ root = \"{ROOT}\"; label = \"a\"; lable = \"b\"; }}"
    ));
    assert!(
        err.contains("builtins.atom.id: unexpected attribute 'lable'"),
        "{err}"
    );

    let err = eval_err("builtins.atom.id \"atom-nix\"");
    // Nix's own type error, worded by the version.
    let expected = if NIX_VERSION.starts_with("2.26.") {
        "expected a set but found a string: \"atom-nix\""
    } else {
        "value is a string while a set was expected"
    };
    assert!(err.contains(expected), "{err}");
}

#[test]
fn a_panic_in_rust_is_an_evaluation_error_not_an_abort() {
    let expr = format!("builtins.atom.id {{ root = \"{ROOT}\"; label = \"atom-nix\"; }}");
    let output = instantiate_with(&expr, &[("ATOM_NIX_FAULT", "panic")]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: builtins.atom.id: internal error in the atom plugin (please report it): fault injected by ATOM_NIX_FAULT=panic"),
        "{err}"
    );
    assert!(err.contains("at «string»:1:1:"), "{err}");
    // Evaluation goes on after the failed call: the error is an ordinary one, the process is intact.
    let output = instantiate_with(
        &format!("builtins.seq (builtins.atom.id {{ root = \"{ROOT}\"; label = \"x\"; }}) 1"),
        &[("ATOM_NIX_FAULT", "panic")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!stderr(&output).contains("Aborted"), "{}", stderr(&output));
}

/// The output (stdout and stderr) of `nix repl` fed `input`.
fn repl(input: &[u8]) -> String {
    let home = scratch("repl");
    let mut child = nix_command("nix", &home)
        .args(["--option", "plugin-files"])
        .arg(plugin())
        .args([
            "--extra-experimental-features",
            "nix-command",
            "repl",
            "--store",
            "dummy://",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    format!("{}{}", stdout(&output), stderr(&output))
}

#[test]
fn a_repl_session_survives_text_that_is_not_utf8() {
    let text = repl(b"builtins.atom.id { root = \"\xff\"; label = \"a\"; }\n6 * 7\n");
    assert!(
        text.contains("builtins.atom.id: root is not valid UTF-8"),
        "{text}"
    );
    assert!(text.contains("42"), "the session ended early:\n{text}");
}

#[test]
fn repl_doc_shows_the_documentation() {
    let text = repl(b":doc builtins.atom.id\n");
    assert!(
        text.contains("Synopsis: builtins.atom.id { root, label }"),
        "{text}"
    );
    assert!(text.contains("Return the AtomId of the atom"), "{text}");
}

#[test]
fn flake_parses() {
    let home = scratch("flake");
    let output = nix_command("nix-instantiate", &home)
        .arg("--parse")
        .arg(repo_root().join("flake.nix"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn example_prints_the_bundled_atoms_id() {
    // The main job of the README evaluates nix/examples/main.nix; check it with a known root.
    let home = scratch("example");
    let output = nix_command("nix-instantiate", &home)
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--eval", "--strict", "--argstr", "root", ROOT])
        .arg(repo_root().join("nix/examples/main.nix"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = fs::read_to_string(repo_root().join("nix/examples/hello/atom.toml")).unwrap();
    assert!(manifest.contains("label = \"hello\""), "{manifest}");
    // Computed independently by the core library.
    let id = atom::id::AtomId::new(
        atom::id::Root::from_hex(ROOT).unwrap(),
        atom::id::Label::new("hello").unwrap(),
    );
    assert!(
        stdout(&output).contains(&format!("id = \"{id}\";")),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("atom = { greeting = \"hello from an atom\"; };"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn manifest_returns_the_parsed_manifest() {
    let example = repo_root().join("nix/examples/hello");
    let expr = format!(
        "let m = builtins.atom.manifest {}; in [ m.package.label m.package.version m.compose.as.nix (m.package.meta.tags == []) ]",
        example.display()
    );
    assert_eq!(eval_ok(&expr), "[ \"hello\" \"0.1.0\" \".\" true ]");
    // The file itself, given as a string, works too.
    let expr = format!(
        "(builtins.atom.manifest \"{}/atom.toml\").package.label",
        example.display()
    );
    assert_eq!(eval_ok(&expr), "\"hello\"");
}

#[test]
fn manifest_shape_follows_the_file() {
    let dir = scratch("manifest-shape");
    fs::write(
        dir.join("atom.toml"),
        "[package]\nlabel = \"build\"\nversion = \"0.3.0\"\n\n[package.sets]\natom = \"https://github.com/ekala-project/atom\"\neka = [\"::\", \"https://github.com/ekala-project/eka.git\"]\n\n[compose.with.atom-nix]\nentry = \"eka\"\nfrom = \"atom\"\n\n[deps.from.eka]\ndev = \"0.1.0\"\n",
    )
    .unwrap();
    let expr = format!("builtins.atom.manifest {}", dir.display());
    // Nix 2.26 quotes an attribute named like a keyword when it prints a set.
    let with = if NIX_VERSION.starts_with("2.26.") {
        "\"with\""
    } else {
        "with"
    };
    let expected = "{ compose = { with = { atom-nix = { entry = \"eka\"; from = \"atom\"; }; }; }; deps = { from = { eka = { dev = \"^0.1.0\"; }; }; }; package = { label = \"build\"; sets = { atom = \"https://github.com/ekala-project/atom\"; eka = [ \"::\" \"https://github.com/ekala-project/eka.git\" ]; }; version = \"0.3.0\"; }; }"
        .replacen("{ compose = { with = ", &format!("{{ compose = {{ {with} = "), 1);
    assert_eq!(eval_ok(&expr), expected);
}

#[test]
fn an_invalid_manifest_is_an_error_pointing_into_the_file() {
    let corpus = repo_root().join("tests/corpus/manifest");
    for case in [
        "07-label-invalid-start",
        "17-compose-with-undeclared-set",
        "28-direct-two-sources",
    ] {
        let file = corpus.join(format!("{case}.toml"));
        let err = eval_err(&format!("builtins.atom.manifest {}", file.display()));
        let expected = fs::read_to_string(corpus.join(format!("{case}.err"))).unwrap();
        // Nix indents the lines after the first; compare line by line.
        let headline = expected.lines().next().unwrap().replace(
            &format!("manifest/{case}.toml"),
            &file.display().to_string(),
        );
        assert!(
            err.contains(&format!("error: builtins.atom.manifest: {headline}")),
            "{err}"
        );
        for line in expected.lines().skip(1) {
            assert!(
                err.contains(line.trim_start()),
                "missing {line:?} in\n{err}"
            );
        }
        assert!(err.contains("at «string»:1:1:"), "{err}");
    }
    let err = eval_err("builtins.atom.manifest /nonexistent/atom");
    assert!(
        err.contains(
            "builtins.atom.manifest: cannot read /nonexistent/atom: No such file or directory"
        ),
        "{err}"
    );
}

#[test]
fn manifest_respects_restricted_evaluation() {
    let example = repo_root().join("nix/examples/hello");
    let home = scratch("restricted");
    let output = nix_command("nix-instantiate", &home)
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--option", "restrict-eval", "true", "--eval", "--expr"])
        .arg(format!(
            "(builtins.atom.manifest \"{}\").package.label",
            example.display()
        ))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is forbidden in restricted mode"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_tests_run_the_nix_the_plugin_was_built_for() {
    let home = scratch("nix-version");
    let output = nix_command("nix-instantiate", &home)
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(&format!(" {NIX_VERSION}")),
        "the plugin was built for Nix {NIX_VERSION}, the tests ran {}",
        stdout(&output)
    );
}

/// The binaries of the other supported Nix version: `ATOM_TEST_OTHER_NIX_BIN`, else where
/// `scripts/setup.sh` puts each (Debian's 2.8 in /usr/bin, 2.26.3 in the cache of
/// `scripts/build-nix-2.26.sh`).
fn other_nix_bin() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("ATOM_TEST_OTHER_NIX_BIN") {
        return dir.into();
    }
    if NIX_VERSION.starts_with("2.26.") {
        return "/usr/bin".into();
    }
    let mut caches: Vec<std::path::PathBuf> = std::env::var_os("ATOM_DEV_CACHE")
        .map(Into::into)
        .into_iter()
        .collect();
    caches.push("/var/cache/atom-dev".into());
    if let Some(home) = std::env::var_os("HOME") {
        caches.push(std::path::PathBuf::from(home).join(".cache/atom-dev"));
    }
    let bins: Vec<_> = caches.iter().map(|c| c.join("nix-2.26.3/bin")).collect();
    bins.iter()
        .find(|bin| bin.join("nix-instantiate").exists())
        .unwrap_or(&bins[0])
        .clone()
}

#[test]
fn loaded_into_another_nix_version_the_plugin_registers_nothing_and_says_why() {
    let bin = other_nix_bin();
    let program = bin.join("nix-instantiate");
    assert!(
        program.exists(),
        "{} is missing: this test loads the plugin into the other supported Nix version (run scripts/setup.sh, or set ATOM_TEST_OTHER_NIX_BIN)",
        program.display()
    );
    let home = scratch("mismatch");
    let version = nix_command(program.to_str().unwrap(), &home)
        .arg("--version")
        .output()
        .unwrap();
    let other = stdout(&version).rsplit(' ').next().unwrap().to_owned();
    assert_ne!(other, NIX_VERSION, "{}", stdout(&version));
    let output = nix_command(program.to_str().unwrap(), &home)
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--eval", "--expr", "builtins ? atom"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert_eq!(stdout(&output), "false", "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "warning: the atom plugin (libatom_nix.so) was built for Nix {NIX_VERSION} but is loaded into Nix {other}; builtins.atom is not available (rebuild the plugin against this Nix)"
        ),
    );
}
