//! The native composer: the reference behaviours (docs/format.md#reference-behaviours), laziness, and the scope boundary.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

use atom_test_support::gen;
use gen::Gen;

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/compose").join(name)
}

/// A module tree written from (path, text) pairs into a fresh directory.
fn tree(name: &str, files: &[(&str, &str)]) -> Scratch {
    let dir = scratch(name).nest("atom");
    for (path, text) in files {
        let file = dir.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }
    dir
}

/// Makes a FIFO at `path` (with the system's `mkfifo`).
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn compose(dir: &Path) -> String {
    format!("builtins.atom.compose {} {{ }}", dir.display())
}

#[test]
fn integrity_spec_6_4() {
    // The reference's expected value, without `next = /nix/store/next`: paths stay inside the
    // atom instead of each file being copied to the store on its own (see README).
    let value = eval_ok(&compose(&fixture("bld")));
    assert_eq!(
        value,
        "{ bar = 3; buzz = { fuzz = { bar = 5; }; }; f = <LAMBDA>; file = \"hello\\n\"; foo = 1; }"
    );
    // `f` is std.set.filterMap.
    let f = eval_ok(&format!(
        "({}).f (n: v: if v > 1 then v else null) {{ a = 1; b = 2; }}",
        compose(&fixture("bld"))
    ));
    assert_eq!(f, "{ b = 2; }");
}

#[test]
fn pre_spec_6_4() {
    let expr = compose(&fixture("pre"));
    assert_eq!(eval_ok(&format!("({expr}).sub.sub.out")), "true");
    let err = eval_err(&format!("({expr}).sub.sub.fails"));
    assert!(err.contains("attribute 'foo' missing"), "{err}");
    assert!(err.contains("pre/sub/sub/mod.nix:1:"), "{err}");
}

#[test]
fn a_directory_without_mod_nix_composes_to_an_empty_set() {
    let dir = tree("no-mod", &[("Foo.nix", "1")]);
    assert_eq!(eval_ok(&compose(&dir)), "{ }");
}

#[test]
fn mod_nix_must_be_an_attribute_set() {
    let dir = tree("not-attrs", &[("mod.nix", "42")]);
    let err = eval_err(&compose(&dir));
    // Nix indents the message's second line further; the words are the reference's.
    assert!(
        err.contains("error: The following module does not evaluate to a valid attribute set:\n"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "       {}/mod.nix\n",
            dir.canonicalize().unwrap().display()
        )),
        "{err}"
    );
}

#[test]
fn members_files_and_visibility() {
    let dir = tree(
        "members",
        &[
            (
                "mod.nix",
                "{ FromMod = mod.helper + 1; Over = \"mod.nix wins\"; }",
            ),
            ("helper.nix", "41"),
            ("Public.nix", "\"public\""),
            ("Over.nix", "\"file\""),
            (".hidden.nix", "\"hidden\""),
            ("two.dots.nix", "throw \"never a member\""),
            ("Sub/mod.nix", "{ Deep = mod.leaf; }"),
            ("Sub/leaf.nix", "\"leaf\""),
            ("data/notes.nix", "throw \"not a module: no mod.nix\""),
        ],
    );
    assert_eq!(
        eval_ok(&compose(&dir)),
        "{ fromMod = 42; over = \"mod.nix wins\"; public = \"public\"; sub = { deep = \"leaf\"; }; }"
    );
    // Private members are reachable through `mod`, lower-cased, including `.hidden`.
    let dir2 = tree(
        "private",
        &[
            ("mod.nix", "{ H = mod.\".hidden\"; P = mod.public; }"),
            (".hidden.nix", "1"),
            ("Public.nix", "2"),
        ],
    );
    assert_eq!(eval_ok(&compose(&dir2)), "{ h = 1; p = 2; public = 2; }");
}

#[test]
fn cfg_and_extern_are_in_scope() {
    let dir = tree(
        "scope",
        &[
            (
                "mod.nix",
                "{ Name = cfg.package.label; Dep = deps.x; Sub = mod.sub; }",
            ),
            ("sub/mod.nix", "{ Same = deps.x; }"),
        ],
    );
    let expr = format!(
        "builtins.atom.compose {} {{ config = {{ package.label = \"demo\"; }}; extern = {{ deps.x = 7; }}; }}",
        dir.display()
    );
    assert_eq!(
        eval_ok(&expr),
        "{ dep = 7; name = \"demo\"; sub = { same = 7; }; }"
    );
    let err = eval_err(&format!(
        "builtins.atom.compose {} {{ extra = 1; }}",
        dir.display()
    ));
    assert!(
        err.contains("builtins.atom.compose: unexpected attribute 'extra'"),
        "{err}"
    );
}

#[test]
fn members_are_lazy() {
    let dir = tree(
        "lazy",
        &[
            (
                "mod.nix",
                "{ Ok = 1; Boom = mod.boom; Broken = mod.broken; }",
            ),
            ("boom.nix", "throw \"forced\""),
            ("broken.nix", "{ this is not nix"),
        ],
    );
    assert_eq!(eval_ok(&format!("({}).ok", compose(&dir))), "1");
    let err = eval_err(&format!("({}).broken", compose(&dir)));
    assert!(err.contains("syntax error"), "{err}");
}

#[test]
fn import_reads_the_manifest_and_composes_from_the_entry() {
    let dir = tree(
        "import",
        &[
            ("atom.toml", "[package]\nlabel = \"hello\"\nversion = \"0.1.0\"\n\n[compose.as]\nnix = \"src\"\n"),
            ("src/mod.nix", "{ Greeting = \"hello from \" + cfg.package.label; }"),
        ],
    );
    assert_eq!(
        eval_ok(&format!("builtins.atom.import {}", dir.display())),
        "{ greeting = \"hello from hello\"; }"
    );
    let example = eval_ok(&format!(
        "builtins.atom.import {}",
        repo_root().join("nix/examples/hello").display()
    ));
    assert_eq!(example, "{ greeting = \"hello from an atom\"; }");
    // A static atom is its manifest.
    let stat = tree("static", &[("atom.toml", "[package]\nlabel = \"cfg\"\nversion = \"1.0.0\"\n\n[compose.as]\nstatic = \"config\"\n")]);
    assert_eq!(
        eval_ok(&format!(
            "(builtins.atom.import {}).package.label",
            stat.display()
        )),
        "\"cfg\""
    );
    let err = eval_err("builtins.atom.import \"/nonexistent\"");
    assert!(
        err.contains("builtins.atom.import: cannot read the atom at /nonexistent"),
        "{err}"
    );
}

/// Each attempt to leave the scope, and the error it must produce.
#[test]
fn impure_names_are_not_in_scope() {
    let attempts: &[(&str, &str)] = &[
        // Names that are simply not in scope: a parse-time error with a position.
        ("import ./x.nix", "undefined variable 'import'"),
        (
            "scopedImport {} ./x.nix",
            "undefined variable 'scopedImport'",
        ),
        (
            "__fetchurl \"https://example.com\"",
            "undefined variable '__fetchurl'",
        ),
        ("fetchGit ./.", "undefined variable 'fetchGit'"),
        (
            "fetchTarball \"https://example.com/x.tgz\"",
            "undefined variable 'fetchTarball'",
        ),
        ("__currentSystem", "undefined variable '__currentSystem'"),
        ("__currentTime", "undefined variable '__currentTime'"),
        (
            "__storePath /nix/store/x",
            "undefined variable '__storePath'",
        ),
        ("__getEnv \"HOME\"", "undefined variable '__getEnv'"),
        ("__getFlake \"nixpkgs\"", "undefined variable '__getFlake'"),
        ("__nixPath", "undefined variable '__nixPath'"),
        ("__exec [ \"ls\" ]", "undefined variable '__exec'"),
        ("<nixpkgs>", "undefined variable '__findFile'"),
        (
            "__findFile __nixPath \"nixpkgs\"",
            "undefined variable '__findFile'",
        ),
        ("dirOf ./.", "undefined variable 'dirOf'"),
        // Not in the curated std.
        ("std.import ./x.nix", "attribute 'import' missing"),
        ("builtins.scopedImport", "attribute 'scopedImport' missing"),
        ("std.fetchGit", "attribute 'fetchGit' missing"),
        ("std.fetchurl", "attribute 'fetchurl' missing"),
        ("std.fetchTree", "attribute 'fetchTree' missing"),
        ("std.fetchMercurial", "attribute 'fetchMercurial' missing"),
        ("std.getEnv \"HOME\"", "attribute 'getEnv' missing"),
        ("std.currentSystem", "attribute 'currentSystem' missing"),
        ("std.currentTime", "attribute 'currentTime' missing"),
        ("std.nixPath", "attribute 'nixPath' missing"),
        ("std.getFlake", "attribute 'getFlake' missing"),
        ("std.storePath", "attribute 'storePath' missing"),
        ("std.exec", "attribute 'exec' missing"),
        ("std.findFile", "attribute 'findFile' missing"),
        ("std.builtins", "attribute 'builtins' missing"),
        ("std.dirOf ./.", "is outside the atom"),
        ("std.dirOf (std.dirOf ./x.nix)", "is outside the atom"),
        ("std.toPath \"/etc\"", "access to '/etc' is forbidden"),
        (
            "std.path { path = \"/etc\"; }",
            "access to '/etc' is forbidden",
        ),
        (
            "std.filterSource (p: t: true) \"/etc\"",
            "access to '/etc' is forbidden",
        ),
        // Path literals outside the atom: refused when the file is parsed.
        (
            "/etc/hostname",
            "the path '/etc/hostname' is outside the atom",
        ),
        ("/.", "the path '/' is outside the atom"),
        ("./..", "is outside the atom"),
        ("[ ../x.nix ]", "is outside the atom"),
        (
            "std.readFile /etc/hostname",
            "the path '/etc/hostname' is outside the atom",
        ),
        (
            "with std; readFile /etc/passwd",
            "the path '/etc/passwd' is outside the atom",
        ),
        (
            "\"${/etc/hostname}\"",
            "the path '/etc/hostname' is outside the atom",
        ),
        ("./link-out", "is outside the atom"),
        ("std.readFile ./link-out", "is outside the atom"),
        // Paths made at run time: checked where they are produced.
        (
            "std.readFile (./. + \"/../outside\")",
            "is outside the atom",
        ),
        ("\"${./. + \"/../outside\"}\"", "is outside the atom"),
        (
            "let p = ./. + \"/../outside\"; in toString p",
            "is outside the atom",
        ),
        ("(x: x + \"/../../etc\") ./.", "is outside the atom"),
        // File primitives given strings: checked when called.
        (
            "std.readFile \"/etc/hostname\"",
            "access to '/etc/hostname' is forbidden",
        ),
        ("std.readDir \"/etc\"", "access to '/etc' is forbidden"),
        (
            "std.pathExists \"/etc/passwd\"",
            "access to '/etc/passwd' is forbidden",
        ),
        (
            "std.hashFile \"sha256\" \"/etc/hostname\"",
            "access to '/etc/hostname' is forbidden",
        ),
        (
            "std.readFile (toString ./. + \"/../outside\")",
            "is forbidden: an atom may only read files inside its own directory",
        ),
        // The plugin itself and the builtins left out of the allow-list.
        ("builtins.atom", "attribute 'atom' missing"),
        ("std.atom.import ./.", "attribute 'atom' missing"),
        (
            "std.unsafeGetAttrPos \"a\" { a = 1; }",
            "attribute 'unsafeGetAttrPos' missing",
        ),
        (
            "std.appendContext \"x\" { }",
            "attribute 'appendContext' missing",
        ),
        (
            "std.derivationStrict { }",
            "attribute 'derivationStrict' missing",
        ),
        ("std.std", "attribute 'std' missing"),
        // Files that are not what the primitive reads: never opened (a FIFO would block).
        ("std.readFile ./fifo", "is a FIFO"),
        ("std.hashFile \"sha256\" ./fifo", "is a FIFO"),
        ("std.readDir ./fifo", "is a FIFO"),
        ("std.readDir ./x.nix", "is not a directory"),
        ("std.readFile ./.", "is a directory"),
        // std.path takes only the attributes it knows, rebuilt from checked parts.
        (
            "std.path { path = ./.; extra = 1; }",
            "unsupported attribute 'extra'",
        ),
        (
            "std.path { path = ./.; name = \"x${./x.nix}\"; }",
            "not allowed to refer to a store path",
        ),
        // Symlinks that leave the atom, resolved when the path is used.
        ("./dangling-out", "is outside the atom"),
        ("std.readFile ./dangling-out", "is outside the atom"),
        ("./loop", "symlink loop"),
        ("std.readFile ./loop", "symlink loop"),
        (
            "std.readFile (./. + \"/relative-out\")",
            "is outside the atom",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (code, expected)) in attempts.iter().enumerate() {
        let dir = tree(
            &format!("escape-{i}"),
            &[("mod.nix", &format!("{{ X = {code}; }}")), ("x.nix", "1")],
        );
        std::os::unix::fs::symlink("/etc/hostname", dir.join("link-out")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", dir.join("dangling-out")).unwrap();
        std::os::unix::fs::symlink("loop2", dir.join("loop")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("loop2")).unwrap();
        std::os::unix::fs::symlink("../outside", dir.join("relative-out")).unwrap();
        mkfifo(&dir.join("fifo"));
        fs::write(dir.parent().unwrap().join("outside"), "secret").unwrap();
        let output = instantiate(&format!("({}).x", compose(&dir)));
        let err = stderr(&output);
        if output.status.code() != Some(1) || !err.contains(expected) {
            failures.push(format!(
                "{code}: expected {expected:?}, got {:?}\n{err}",
                output.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} escapes misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn legitimate_operations_keep_working() {
    let dir = tree(
        "legit",
        &[
            (
                "mod.nix",
                r#"{
  Strings = std.concatStringsSep "," (map toString [ 1 2 3 ]);
  Lists = std.length (std.filter (x: x > 1) [ 1 2 3 ]);
  Arith = (7 - 2) * 3 / 5;
  Compare = 1 < 2 && !(2 <= 1) && 3 > 2 && 3 >= 3;
  Data = std.readFile ./data.txt;
  Listing = std.attrNames (std.readDir ./.);
  Exists = std.pathExists ./data.txt;
  Hash = std.hashString "sha256" "x";
  Drv = (derivation { name = "x"; system = "x86_64-linux"; builder = "/bin/sh"; }).name;
  PathString = toString ./data.txt;
  Json = std.toJSON { a = 1; };
  Null = isNull null;
  Parent = toString (std.dirOf ./sub/data.txt) == toString ./sub;
  DirString = std.dirOf "/a/b";
  Joined = std.readFile (./. + "/data.txt");
}"#,
            ),
            ("data.txt", "data"),
            ("sub/data.txt", "sub data"),
        ],
    );
    let root = dir.canonicalize().unwrap();
    assert_eq!(
        eval_ok(&compose(&dir)),
        format!(
            "{{ arith = 3; compare = true; data = \"data\"; dirString = \"/a\"; drv = \"x\"; exists = true; hash = \"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\"; joined = \"data\"; json = \"{{\\\"a\\\":1}}\"; listing = [ \"data.txt\" \"mod.nix\" \"sub\" ]; lists = 2; null = true; parent = true; pathString = \"{}/data.txt\"; strings = \"1,2,3\"; }}",
            root.display()
        )
    );
}

#[test]
fn std_library_functions() {
    let dir = tree(
        "std",
        &[
            (
                "mod.nix",
                r#"{
  Fix = (std.fix (self: { a = 1; b = self.a + 1; })).b;
  When = [ (std.set.when true { a = 1; }) (std.set.when false { a = 1; }) ];
  FilterMap = std.set.filterMap (n: v: if v > 1 then v * 10 else null) { a = 1; b = 2; c = 3; };
  Merge = std.set.merge [ { a.x = 1; b = 1; } { a.y = 2; b = 2; } ];
  Inject = std.set.inject { a.b = 1; } [ "a" "c" ] 2;
  Path = std.path.make [ "a" "b" "c.nix" ];
  Lower = std.string.toLower "HeLLo-World";
  LowerCase = std.string.toLowerCase "ABC";
  Imap = std.list.imap (i: x: i * x) [ 5 6 7 ];
  Sublist = [ (std.list.sublist 1 2 [ 1 2 3 4 ]) (std.list.sublist 3 5 [ 1 2 3 4 ]) (std.list.sublist 9 1 [ 1 ]) ];
  Parse = [ (std.file.parse ./d.json) (std.file.parse ./d.toml) (std.file.parse ./d.txt) ];
  Same = builtins == std;
  Builtin = std.length [ 1 2 ];
  NoImpure = std.filter (n: std.match "import|scopedImport|builtins|fetch.*|current.*|nixPath|storePath|getEnv|getFlake" n != null) (std.attrNames std);
}"#,
            ),
            ("d.json", "{\"k\": [1, 2]}"),
            ("d.toml", "k = \"v\"\n"),
            ("d.txt", "text"),
        ],
    );
    assert_eq!(
        eval_ok(&compose(&dir)),
        "{ builtin = 2; filterMap = { b = 20; c = 30; }; fix = 2; imap = [ 0 6 14 ]; inject = { a = { b = 1; c = 2; }; }; lower = \"hello-world\"; lowerCase = \"abc\"; merge = { a = { x = 1; y = 2; }; b = 2; }; noImpure = [ ]; parse = [ { k = [ 1 2 ]; } { k = \"v\"; } \"text\" ]; path = \"a/b/c.nix\"; same = true; sublist = [ [ 2 3 ] [ 4 ] [ ] ]; when = [ { a = 1; } { } ]; }"
    );
}

/// A random module tree: public and private members in files and in mod.nix, submodules
/// (public, or private and re-exported), data files, and references through `mod`, `pre`,
/// `pre.pre` and `atom`. References only point at constants, so no tree has a cycle.
fn random_tree(gen: &mut Gen, dir: &Path) {
    // (lowered name, is public) of the root's constants, for `atom` references.
    let mut top_public = Vec::new();
    random_module(gen, dir, 0, &[], &[], &mut top_public);
}

fn random_module(
    gen: &mut Gen,
    dir: &Path,
    depth: usize,
    parent_constants: &[String],
    grand_constants: &[String],
    top_public: &mut Vec<String>,
) {
    fs::create_dir_all(dir).unwrap();
    let mut mod_attrs = Vec::new();
    let mut constants = Vec::new();
    let count = 1 + gen.below(4);
    for i in 0..count {
        let public = gen.chance(60);
        let base = format!("c{depth}x{i}");
        let name = if public {
            format!("C{}", &base[1..])
        } else {
            base.clone()
        };
        let value = gen.below(1000);
        if gen.chance(50) {
            fs::write(dir.join(format!("{name}.nix")), format!("{value}\n")).unwrap();
        } else {
            mod_attrs.push(format!("{name} = {value};"));
        }
        constants.push(name.to_ascii_lowercase());
        if depth == 0 && public {
            top_public.push(name.to_ascii_lowercase());
        }
    }
    // Derived members: sums of references.
    for i in 0..gen.below(3) {
        let mut terms = vec![gen.below(10).to_string()];
        for _ in 0..1 + gen.below(3) {
            let pick = |gen: &mut Gen, from: &[String]| {
                from[gen.below(from.len() as u64) as usize].clone()
            };
            match gen.below(4) {
                0 => terms.push(format!("mod.{}", pick(gen, &constants))),
                1 if !parent_constants.is_empty() => {
                    terms.push(format!("pre.{}", pick(gen, parent_constants)))
                }
                2 if !grand_constants.is_empty() => {
                    terms.push(format!("pre.pre.{}", pick(gen, grand_constants)))
                }
                3 if !top_public.is_empty() => {
                    terms.push(format!("atom.{}", pick(gen, top_public)))
                }
                _ => terms.push(format!("mod.{}", pick(gen, &constants))),
            }
        }
        let name = if gen.chance(50) {
            format!("D{depth}y{i}")
        } else {
            format!("d{depth}y{i}")
        };
        let expr = terms.join(" + ");
        if gen.chance(50) {
            fs::write(dir.join(format!("{name}.nix")), format!("{expr}\n")).unwrap();
        } else {
            mod_attrs.push(format!("{name} = {expr};"));
        }
    }
    // A data file read through `mod`'s outPath, and a file that is not a member.
    if gen.chance(30) {
        fs::write(dir.join("data.txt"), format!("data {}", gen.below(100))).unwrap();
        mod_attrs.push("Data = std.readFile \"${mod}/data.txt\";".to_owned());
    }
    if gen.chance(20) {
        fs::write(dir.join("not.a.member.nix"), "throw \"never read\"\n").unwrap();
    }
    // mod.nix overriding a file member.
    if gen.chance(20) {
        let target = constants[0].clone();
        let written = fs::read_dir(dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .to_ascii_lowercase()
                == format!("{target}.nix")
        });
        if written {
            let original = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .find(|n| n.to_ascii_lowercase() == format!("{target}.nix"))
                .unwrap();
            mod_attrs.push(format!("{} = 4242;", original.trim_end_matches(".nix")));
        }
    }
    if depth < 3 {
        for i in 0..gen.below(3) {
            let public = gen.chance(60);
            let name = if public {
                format!("Sub{depth}n{i}")
            } else {
                format!("sub{depth}n{i}")
            };
            if !public && gen.chance(50) {
                mod_attrs.push(format!("Re{depth}n{i} = mod.{name};"));
            }
            random_module(
                gen,
                &dir.join(&name),
                depth + 1,
                &constants,
                parent_constants,
                top_public,
            );
        }
    }
    fs::write(
        dir.join("mod.nix"),
        format!("{{\n  {}\n}}\n", mod_attrs.join("\n  ")),
    )
    .unwrap();
}

#[test]
fn differential_against_the_pure_nix_composer() {
    let base = scratch("differential");
    let mut dirs = Vec::new();
    for seed in 1..=120u64 {
        let dir = base.join(format!("t{seed}"));
        random_tree(&mut Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1), &dir);
        dirs.push(dir);
    }
    let baseline = repo_root().join("tests/nix/baseline-composer.nix");
    let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let expr = format!(
        "let baseline = import {}; in builtins.concatMap (dir: let p = builtins.atom.compose dir {{ }}; b = baseline dir {{ }}; in if p == b then [ ] else [ {{ inherit dir; plugin = p; baseline = b; }} ]) [ {} ]",
        baseline.display(),
        list.join(" ")
    );
    let home = scratch("differential-home");
    let output = nix_command("nix-instantiate", &home)
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--eval", "--strict", "--json", "--expr", &expr])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "[]",
        "trees where the plugin and the baseline differ"
    );
    // The comparison is not vacuous: the trees export something.
    let sizes = eval_ok(&format!(
        "builtins.length (builtins.concatMap (dir: builtins.attrNames (builtins.atom.compose dir {{ }})) [ {} ])",
        list.join(" ")
    ));
    assert!(sizes.parse::<usize>().unwrap() > 200, "{sizes}");
}

#[test]
fn errors_name_the_atom_and_module_and_show_trace_shows_the_chain() {
    let dir = tree(
        "errors",
        &[
            (
                "atom.toml",
                "[package]\nlabel = \"demo\"\nversion = \"1.2.3\"\n\n[compose.as]\nnix = \".\"\n",
            ),
            ("mod.nix", "{ Parse = mod.bad; }\n"),
            ("Outer.nix", "mod.inner.broken\n"),
            ("Inner/mod.nix", "{ }\n"),
            ("Inner/Broken.nix", "throw \"boom\"\n"),
            ("bad.nix", "import ./x.nix\n"),
        ],
    );
    let import = format!("(builtins.atom.import {})", dir.display());
    // The first lines name the innermost atom file's atom and module, then Nix's position.
    let err = eval_err(&format!("{import}.outer"));
    assert!(
        err.contains(&format!(
            "error: boom\n       (in demo-1.2.3 at Inner.Broken, {}/Inner/Broken.nix)\n",
            dir.display()
        )),
        "{err}"
    );
    let err = eval_err(&format!("{import}.parse"));
    assert!(
        err.contains(&format!(
            "undefined variable 'import'\n       (in demo-1.2.3 at bad, {}/bad.nix)\n",
            dir.display()
        )),
        "{err}"
    );
    assert!(err.contains("bad.nix:1:1"), "{err}");
    // The message is annotated, not replaced: a `throw` is still a `throw` to tryEval.
    assert_eq!(
        eval_ok(&format!("(builtins.tryEval {import}.outer).success")),
        "false"
    );
    // --show-trace shows each atom file on the way.
    let output = instantiate_with_args(&format!("{import}.outer"), &["--show-trace"]);
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "while evaluating {}/Inner/Broken.nix (in demo-1.2.3 at Inner.Broken)",
            dir.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "while evaluating {}/Outer.nix (in demo-1.2.3 at Outer)",
            dir.display()
        )),
        "{err}"
    );
}

/// The builtins `std` may hold: each reviewed (cpp/std.cc). The test keeps its own copy, so
/// that a change to the allow-list is a deliberate change here too.
const ALLOWED_BUILTINS: &[&str] = &[
    "true",
    "false",
    "null",
    "typeOf",
    "isAttrs",
    "isBool",
    "isFloat",
    "isFunction",
    "isInt",
    "isList",
    "isNull",
    "isPath",
    "isString",
    "functionArgs",
    "abort",
    "throw",
    "tryEval",
    "addErrorContext",
    "trace",
    "seq",
    "deepSeq",
    "add",
    "sub",
    "mul",
    "div",
    "lessThan",
    "bitAnd",
    "bitOr",
    "bitXor",
    "ceil",
    "floor",
    "attrNames",
    "attrValues",
    "catAttrs",
    "getAttr",
    "hasAttr",
    "intersectAttrs",
    "listToAttrs",
    "mapAttrs",
    "removeAttrs",
    "zipAttrsWith",
    "groupBy",
    "all",
    "any",
    "concatLists",
    "concatMap",
    "elem",
    "elemAt",
    "filter",
    "foldl'",
    "genList",
    "genericClosure",
    "head",
    "length",
    "map",
    "partition",
    "sort",
    "tail",
    "baseNameOf",
    "compareVersions",
    "concatStringsSep",
    "hashString",
    "match",
    "parseDrvName",
    "replaceStrings",
    "split",
    "splitVersion",
    "stringLength",
    "substring",
    "toString",
    "getContext",
    "hasContext",
    "unsafeDiscardStringContext",
    "unsafeDiscardOutputDependency",
    "fromJSON",
    "toJSON",
    "fromTOML",
    "toXML",
    "derivation",
    "placeholder",
    "toFile",
    "storeDir",
    "nixVersion",
    "langVersion",
    "readFile",
    "readDir",
    "pathExists",
    "toPath",
    "hashFile",
    "filterSource",
    "path",
    "dirOf",
];

/// What nix/std/std.nix adds.
const LIBRARY: &[&str] = &["fix", "file", "set", "path", "string", "list"];

/// The global names a module sees besides its scope (cfg, mod, pre, atom, std, builtins).
const PURE_GLOBALS: &[&str] = &[
    "true",
    "false",
    "null",
    "__sub",
    "__mul",
    "__div",
    "__lessThan",
    "abort",
    "baseNameOf",
    "derivation",
    "isNull",
    "map",
    "placeholder",
    "removeAttrs",
    "throw",
    "toString",
];

#[test]
fn std_is_an_allow_list_and_every_other_builtin_is_refused() {
    let names = |text: String| -> Vec<String> {
        text.trim_matches(|c| c == '[' || c == ']')
            .split_whitespace()
            .map(|n| n.trim_matches('"').to_owned())
            .collect()
    };
    // Every builtin of this Nix (with the plugin loaded, so `atom` is one of them).
    let builtins = names(eval_ok("builtins.attrNames builtins"));
    assert!(builtins.iter().any(|n| n == "atom"), "{builtins:?}");
    let dir = tree(
        "allow-list",
        &[(
            "mod.nix",
            "{ Names = std.attrNames std; Same = std == builtins; }",
        )],
    );
    let std_names = names(eval_ok(&format!("({}).names", compose(&dir))));
    assert_eq!(eval_ok(&format!("({}).same", compose(&dir))), "true");
    // std holds exactly the allowed builtins this Nix has, and the library.
    let mut expected: Vec<String> = builtins
        .iter()
        .filter(|n| ALLOWED_BUILTINS.contains(&n.as_str()))
        .cloned()
        .chain(LIBRARY.iter().map(|n| n.to_string()))
        .collect();
    expected.sort();
    expected.dedup();
    let mut got = std_names.clone();
    got.sort();
    assert_eq!(got, expected, "std is not the allow-list");
    // Every other builtin is refused: absent from std, and not a variable, bare or with `__`.
    let refused: Vec<&String> = builtins
        .iter()
        .filter(|n| !ALLOWED_BUILTINS.contains(&n.as_str()))
        .collect();
    assert!(refused.len() >= 15, "{refused:?}");
    let mut failures = Vec::new();
    for name in refused {
        if std_names.contains(name) {
            failures.push(format!("std.{name} is reachable"));
        }
        for var in [name.clone(), format!("__{name}")] {
            // `atom` and `builtins` are names of the module's own scope (its top-level set,
            // and std).
            if PURE_GLOBALS.contains(&var.as_str()) || var == "atom" || var == "builtins" {
                continue;
            }
            let dir = tree("refused", &[("mod.nix", &format!("{{ X = {var}; }}"))]);
            let output = instantiate(&format!("({}).x", compose(&dir)));
            let err = stderr(&output);
            if output.status.code() != Some(1)
                || !err.contains(&format!("undefined variable '{var}'"))
            {
                failures.push(format!("{var}: {:?} {err}", output.status));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_string_s_context_never_makes_a_confined_primitive_build() {
    // A derivation that cannot be built here (the dummy store builds nothing): had a confined
    // primitive passed the caller's string, with its context, to Nix, Nix would try to build it
    // and fail.
    let dir = tree(
        "context",
        &[
            (
                "mod.nix",
                r#"let
  drv = derivation { name = "evil"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "exit 1" ]; };
  ctx = std.substring 0 0 "${drv}";
  p = toString ./x.nix + ctx;
in {
  HasContext = std.hasContext p;
  Read = std.readFile p;
  Hash = std.hashFile "sha256" p;
  Exists = std.pathExists p;
  Dir = std.attrNames (std.readDir (toString ./. + ctx));
  Path = std.match "/.*-x" (std.path { path = p; name = "x"; }) != null;
  Filtered = std.match "/.*-x.nix" (std.filterSource (p: t: true) p) != null;
  ToPath = std.hasContext (std.toPath p);
}"#,
            ),
            ("x.nix", "1\n"),
        ],
    );
    assert_eq!(
        eval_ok(&compose(&dir)),
        "{ dir = [ \"mod.nix\" \"x.nix\" ]; exists = true; filtered = true; hasContext = true; hash = \"4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865\"; path = true; read = \"1\\n\"; toPath = false; }"
    );
}

/// Runs `nix-instantiate --eval --strict` on a file holding `source` as bytes.
fn eval_file(name: &str, source: &[u8]) -> std::process::Output {
    let dir = scratch(name);
    let file = dir.join("expr.nix");
    fs::write(&file, source).unwrap();
    let home = scratch("instantiate");
    nix_command("nix-instantiate", &home)
        .args(["--store", "dummy://", "--option", "plugin-files"])
        .arg(plugin())
        .args(["--eval", "--strict"])
        .arg(&file)
        .output()
        .unwrap()
}

#[test]
fn text_that_is_not_utf8_is_an_ordinary_error() {
    // Attribute names of modules are any bytes: they never cross into Rust.
    let dir = tree("not-utf8", &[("x.nix", "1")]);
    let mut modnix = b"{ \"".to_vec();
    modnix.extend_from_slice(b"\xffName\" = 1; Y = std.attrNames mod; }");
    fs::write(dir.join("mod.nix"), &modnix).unwrap();
    let output = eval_file(
        "not-utf8-names",
        format!("({}).y", compose(&dir)).as_bytes(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\"outPath\" \"x\""),
        "{}",
        stdout(&output)
    );

    // Arguments of builtins: a Nix error naming the builtin and the argument, at its position.
    let cases: &[(&[u8], &str)] = &[
        (
            b"builtins.atom.id { root = \"\xff\"; label = \"a\"; }",
            "builtins.atom.id: root is not valid UTF-8: \"\\xff\"",
        ),
        (
            b"builtins.atom.id { root = \"68b63bd131acd23bdfd57983fe85ba7c092ce02f\"; label = \"a\xc3\"; }",
            "builtins.atom.id: label is not valid UTF-8",
        ),
        (
            b"builtins.atom.manifest \"/tmp/\xff/atom.toml\"",
            "builtins.atom.manifest: the path is not valid UTF-8",
        ),
        (
            b"builtins.atom.import \"/tmp/\xfe\"",
            "builtins.atom.import: the path is not valid UTF-8",
        ),
        (
            b"builtins.atom.compose \"/tmp/\xfe\" { }",
            "builtins.atom.compose: the path is not valid UTF-8",
        ),
        (
            b"builtins.atom.versions { repo = \"/tmp\"; label = \"\xff\"; }",
            "builtins.atom.versions: label is not valid UTF-8",
        ),
        (
            b"builtins.atom.resolve { repo = \"/tmp\"; label = \"a\"; version = \"\xff\"; }",
            "builtins.atom.resolve: version is not valid UTF-8",
        ),
    ];
    for (source, expected) in cases {
        let output = eval_file("not-utf8-arg", source);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(err.contains(expected), "expected {expected:?}:\n{err}");
        assert!(err.contains("expr.nix:1:"), "no position:\n{err}");
    }
}

#[test]
fn errors_raised_later_in_an_atom_s_code_name_the_atom() {
    let dir = tree(
        "later-errors",
        &[
            (
                "atom.toml",
                "[package]\nlabel = \"demo\"\nversion = \"1.2.3\"\n\n[compose.as]\nnix = \".\"\n",
            ),
            (
                "mod.nix",
                "{ Attr = throw \"in an attribute\"; Nested = { deep = throw \"nested\"; }; F = x: throw \"in a body\"; L = [ (throw \"in a list\") ]; Arg = (x: x) (throw \"an argument\"); }\n",
            ),
            ("Member.nix", "{ a = throw \"in a member's set\"; }\n"),
        ],
    );
    let import = format!("(builtins.atom.import {})", dir.display());
    let modnix = format!("(in demo-1.2.3 at mod.nix, {}/mod.nix)", dir.display());
    for (access, message) in [
        ("attr", "in an attribute"),
        ("nested.deep", "nested"),
        ("f 1", "in a body"),
        ("builtins.head {import}.l", "in a list"),
        ("arg", "an argument"),
    ] {
        let expr = if access.contains("{import}") {
            access.replace("{import}", &import)
        } else {
            format!("{import}.{access}")
        };
        let err = eval_err(&expr);
        assert!(
            err.contains(&format!("{message}\n       {modnix}")),
            "{access}:\n{err}"
        );
    }
    // Builtins that Nix applies on the atom's behalf later (`map`'s elements, a partially
    // applied builtin handed out) name the atom too.
    let dir2 = tree(
        "later-builtins",
        &[
            (
                "atom.toml",
                "[package]\nlabel = \"demo\"\nversion = \"1.2.3\"\n\n[compose.as]\nnix = \".\"\n",
            ),
            (
                "mod.nix",
                "{ Map = std.map std.head [ [ ] ]; Bare = map std.head [ [ ] ]; Gen = std.genList (std.elemAt [ ]) 1; Fold = std.foldl' std.add 0 [ \"x\" ]; Partial = std.mapAttrs (n: std.getAttr n) { a = { }; }; Fine = std.map (x: x + 1) [ 1 2 ]; }\n",
            ),
        ],
    );
    let import2 = format!("(builtins.atom.import {})", dir2.display());
    for access in [
        "builtins.head {i}.map",
        "builtins.head {i}.bare",
        "builtins.head {i}.gen",
        "{i}.fold",
        "{i}.partial.a",
    ] {
        let err = eval_err(&access.replace("{i}", &import2));
        assert!(err.contains("(in demo-1.2.3"), "{access}:\n{err}");
    }
    assert_eq!(eval_ok(&format!("{import2}.fine")), "[ 2 3 ]");

    let err = eval_err(&format!("{import}.member.a"));
    assert!(
        err.contains(&format!(
            "in a member's set\n       (in demo-1.2.3 at Member, {}/Member.nix)",
            dir.display()
        )),
        "{err}"
    );
    // Still a `throw` to tryEval.
    assert_eq!(
        eval_ok(&format!("(builtins.tryEval ({import}.f 1)).success")),
        "false"
    );
}

#[test]
fn shared_subtrees_and_unused_dangling_links_are_fine() {
    let dir = tree(
        "shared",
        &[
            (
                "mod.nix",
                "let f = p: { A = 1; B = std.readFile p; }; in { inherit (f ./data.txt) A B; Unused = if false then ./dangling else 2; Used = ./dangling; }\n",
            ),
            ("data.txt", "data"),
        ],
    );
    std::os::unix::fs::symlink("missing-target", dir.join("dangling")).unwrap();
    assert_eq!(
        eval_ok(&format!(
            "let a = {}; in [ a.a a.b a.unused ]",
            compose(&dir)
        )),
        "[ 1 \"data\" 2 ]"
    );
    // A dangling link inside the atom is a path like any other; Nix says it does not exist when
    // it is read.
    let err = eval_err(&format!("builtins.readFile ({}).used", compose(&dir)));
    // Nix 2.26 names the link's target, 2.8 the link.
    let named = if NIX_VERSION.starts_with("2.26.") {
        "/missing-target'"
    } else {
        "/dangling'"
    };
    assert!(err.contains(named), "{err}");
}

#[test]
fn every_container_of_nix_values_in_the_shim_is_scanned_by_the_collector() {
    // A `Value *` in a std::vector or std::map is invisible to the garbage collector; the shim
    // uses compat::GcVector / GcMap / Attrs instead (see cpp/compat.hh).
    let mut offenders = Vec::new();
    for entry in fs::read_dir(repo_root().join("cpp")).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            if (code.contains("std::vector<") || code.contains("std::map<"))
                && (code.contains("Value *") || code.contains("Value*") || code.contains("Entry"))
                && !code.contains("traceable_allocator")
            {
                offenders.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

#[test]
fn paths_whose_symlinks_cannot_be_checked_or_lead_out_through_a_parent_are_refused() {
    // A symlink chain whose resolved text exceeds PATH_MAX, ending in a link to `/`: the kernel
    // follows it, so a check that gives up on a long name must refuse, not take it as written.
    let dir = tree("long-chain", &[("x.nix", "1")]);
    let long_a = "a".repeat(250);
    let long_b = "b".repeat(250);
    // The tree is deeper than PATH_MAX: make it one directory at a time, relative to the last.
    let script = "import os, sys\nos.chdir(sys.argv[1])\nfor _ in range(16):\n    os.mkdir(sys.argv[2]); os.chdir(sys.argv[2])\nos.mkdir(sys.argv[3]); os.chdir(sys.argv[3]); os.symlink('/', 'root')\n";
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&dir)
        .args([&long_a, &long_b])
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink(vec![long_a.as_str(); 16].join("/"), dir.join("s1")).unwrap();
    fs::write(
        dir.join("mod.nix"),
        format!("{{ Read = std.readFile ./s1/{long_b}/root/etc/hostname; List = std.readDir ./s1/{long_b}/root; }}"),
    )
    .unwrap();
    for member in ["read", "list"] {
        let err = eval_err(&format!("({}).{member}", compose(&dir)));
        assert!(
            err.contains("cannot be resolved at") && err.contains("File name too long"),
            "{member}: {err}"
        );
    }

    // `dirOf` of a path whose text is inside the atom but which goes through a link to `/`:
    // the parent it returns is outside.
    let dir = tree("dirof-link", &[("f", "data")]);
    std::os::unix::fs::symlink("/proc/self/root", dir.join("x")).unwrap();
    fs::write(
        dir.join("mod.nix"),
        "let p = ./. + (\"/x\" + mod.outPath + \"/f\"); in { Inside = std.readFile p; Up = \"${std.dirOf (std.dirOf p)}\"; }",
    )
    .unwrap();
    assert_eq!(eval_ok(&format!("({}).inside", compose(&dir))), "\"data\"");
    let err = eval_err(&format!("({}).up", compose(&dir)));
    assert!(err.contains("is outside the atom"), "{err}");
}

/// The number of attributes in the sets an evaluation of `expr` allocated (`NIX_SHOW_STATS`).
fn set_elements(expr: &str) -> u64 {
    let output = instantiate_with(expr, &[("NIX_SHOW_STATS", "1")]);
    assert!(output.status.success(), "{expr}: {}", stderr(&output));
    let err = stderr(&output);
    let sets = &err[err.find("\"sets\"").expect("the statistics name sets")..];
    let elements = &sets[sets.find("\"elements\":").unwrap() + "\"elements\":".len()..];
    let digits: String = elements
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// Once one atom's std was built in an evaluation, `builtins.<name>` (or `std.<name>`) in another
/// atom whose std is not built yet makes that one builtin on its own, without the whole set. It
/// is the builtin std holds: confined to the same atom, naming the same atom in its errors. The
/// library's names, a shadowed `builtins` and a missing name still select from the set.
#[test]
fn a_builtin_selected_alone_is_the_one_std_holds() {
    let first = tree(
        "std-first",
        &[("mod.nix", "{ Names = builtins.attrNames std; }")],
    );
    let second = tree(
        "std-second",
        &[
            (
                "mod.nix",
                r#"{
                  Read = builtins.readFile ./data.txt;
                  ReadStd = std.readFile ./data.txt;
                  ReadViaLet = let s = std; in s.readFile ./data.txt;
                  Outside = builtins.readFile "/etc/hostname";
                  Up = builtins.readFile "${toString ./.}/../outside.txt";
                  Exists = builtins.pathExists ./data.txt;
                  Mapped = builtins.map builtins.head [ [ 1 ] [ 2 ] ];
                  Failing = builtins.map builtins.head [ [ ] ];
                  Library = std.path.make [ "a" "b" ];
                  Shadowed = let builtins = { readFile = _: "shadowed"; }; in builtins.readFile ./data.txt;
                  Missing = builtins.fetchGit;
                }"#,
            ),
            ("data.txt", "inside\n"),
        ],
    );
    fs::write(second.parent().unwrap().join("outside.txt"), "outside\n").unwrap();
    // The same text either way (errors quote it), `first` forced or not by an argument.
    let expr = |attr: &str| {
        format!(
            "{{ forced }}: let a = {}; b = {}; in builtins.seq (if forced then a.names else 0) b.{attr}",
            compose(&first),
            compose(&second),
        )
    };
    let run =
        |forced: &str, attr: &str| instantiate_with_args(&expr(attr), &["--arg", "forced", forced]);
    let after_first = |attr: &str| {
        format!(
            "let a = {}; b = {}; in builtins.seq a.names b.{attr}",
            compose(&first),
            compose(&second)
        )
    };
    for attr in [
        "read", "readStd", "outside", "up", "exists", "mapped", "failing", "library", "shadowed",
        "missing",
    ] {
        let alone = run("false", attr);
        let after = run("true", attr);
        assert_eq!(
            (after.status.code(), stdout(&after), stderr(&after)),
            (alone.status.code(), stdout(&alone), stderr(&alone)),
            "{attr}"
        );
    }
    assert_eq!(eval_ok(&after_first("read")), r#""inside\n""#);
    assert_eq!(eval_ok(&after_first("shadowed")), r#""shadowed""#);
    assert!(eval_err(&after_first("up")).contains("is forbidden"));
    assert!(eval_err(&after_first("failing")).contains("in <anon>, in a builtin its code applied"));
    // The set was not built for `builtins.readFile` alone; through a variable of another name,
    // it was (std has over a hundred attributes, built twice over).
    let alone = set_elements(&after_first("read"));
    let built = set_elements(&after_first("readViaLet"));
    assert!(
        alone + 100 < built,
        "{alone} set elements, {built} with std built"
    );
}
